"""A pick wave takes the orders of one warehouse, and their goods go to its packing bench."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.extensions import db
from erp.orders.services import allocate_orders
from erp.shipping.errors import ShippingError
from erp.shipping.models import PickTask, PickWave
from erp.shipping.services import waves
from erp.shipping.services.waves import WaveFilters
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import Location
from erp.warehouse.services.routes import create_route


@pytest.fixture
def two_floors(app, create_bin, create_sku, receive_stock, packing_bin, create_order):
    """WH1 and US-LAX, each stocked and with a packing bench; a DE and a US order allocated."""
    lax = warehouse_services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                              actor=None)
    lax_bin = warehouse_services.create_location(lax, code="L-01", kind="storage",
                                                 pick_sequence=10, actor=None)
    lax_pack = warehouse_services.create_location(lax, code="L-PACK", kind="packing",
                                                  pick_sequence=0, actor=None)
    sku = create_sku("TS-RED-M")
    main_bin = create_bin("A-01-01-01")
    receive_stock(sku, main_bin, 10)
    receive_stock(sku, lax_bin, 10)
    create_route(country="US", area="*", warehouses="US-LAX", actor=None)
    de = create_order([(sku, 1)], country="DE")
    us = create_order([(sku, 1)], country="US", city="Austin", postal_code="73301")
    assert len(allocate_orders(actor=None).allocated) == 2
    db.session.commit()
    return {"lax": lax, "lax_pack": lax_pack, "main_pack": packing_bin, "de": de, "us": us,
            "lax_bin": lax_bin, "main_bin": main_bin}


def warehouses_of_tasks(wave) -> set[int]:
    return set(db.session.scalars(select(Location.warehouse_id).join(
        PickTask, PickTask.location_id == Location.id).where(PickTask.wave_id == wave.id)))


def test_wave_takes_orders_of_one_warehouse_only(two_floors, dummy_warehouse):
    wave = waves.build_wave(WaveFilters(), actor=None)
    assert [o.order_id for o in wave.orders] == [two_floors["de"].id]
    assert wave.packing_location_id == two_floors["main_pack"].id
    assert warehouses_of_tasks(wave) == {dummy_warehouse.id}

    second = waves.build_wave(WaveFilters(), actor=None)
    assert [o.order_id for o in second.orders] == [two_floors["us"].id]
    assert second.packing_location_id == two_floors["lax_pack"].id
    assert warehouses_of_tasks(second) == {two_floors["lax"].id}


def test_wave_for_a_chosen_warehouse(two_floors):
    filters = WaveFilters(warehouse_id=two_floors["lax"].id)
    assert waves.count_candidates(filters) == 1
    wave = waves.build_wave(filters, actor=None)
    assert [o.order_id for o in wave.orders] == [two_floors["us"].id]
    assert "warehouse US-LAX" in filters.describe()
    assert waves.filters_from_json(wave.filters).warehouse_id == two_floors["lax"].id


def test_warehouse_without_packing_bench_is_refused(two_floors):
    two_floors["lax_pack"].active = False
    db.session.flush()
    with pytest.raises(ShippingError, match="in warehouse US-LAX"):
        waves.build_wave(WaveFilters(warehouse_id=two_floors["lax"].id), actor=None)


def test_wave_screen_offers_the_warehouse(client, login_as, two_floors):
    login_as("warehouse")
    page = client.get("/shipping/waves/new").get_data(as_text=True)
    assert 'name="warehouse_id"' in page
    assert "US-LAX" in page
    response = client.post("/shipping/waves/new", data={
        "warehouse_id": str(two_floors["lax"].id), "max_orders": "50"})
    assert response.status_code == 302
    db.session.expire_all()
    wave = db.session.scalar(select(PickWave).order_by(PickWave.id.desc()))
    assert [o.order_id for o in wave.orders] == [two_floors["us"].id]
