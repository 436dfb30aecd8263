"""The lane and station screens: scanning only items, a repeated scan, refusals, stations."""

from __future__ import annotations

import html
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_order
from erp.shipping.models import PackingStation, Parcel, ParcelState, WaveKind
from erp.shipping.services import lane, packing, waves


@pytest.fixture
def lane_wave(outbound_floor, create_order):
    """A picked single-item wave of three T-shirt orders; the T-shirt packs in box S."""
    floor = outbound_floor
    lane.set_sku_packing(floor.tee, floor.setup["boxes"][0], actor=None)
    orders = []
    for hour in (11, 9, 10):
        order = create_order([(floor.tee, 1)], shipping_service="POST-REG",
                             placed_at=datetime(2026, 3, 2, hour, tzinfo=UTC))
        allocate_order(order, actor=None)
        orders.append(order)
    wave = waves.build_wave(waves.WaveFilters(), actor=None, kind=WaveKind.single_item)
    waves.pick_all(wave, actor=None)
    db.session.commit()
    wave.made = orders
    return wave


def parcels() -> int:
    return db.session.scalar(select(func.count()).select_from(Parcel))


def test_scanning_an_item_packs_labels_and_prints(client, login_as, lane_wave):
    login_as("warehouse")
    page = client.get(f"/shipping/waves/{lane_wave.id}/lane")
    assert page.status_code == 200
    assert 'autofocus' in page.get_data(as_text=True)

    done = client.post(f"/shipping/waves/{lane_wave.id}/lane", data={"code": "TEE-BLK-M"})
    assert done.status_code == 302
    text = client.get(done.location).get_data(as_text=True)
    parcel = db.session.scalar(select(Parcel))
    assert parcel.order_id == lane_wave.made[1].id  # placed first
    assert parcel.state == ParcelState.labelled
    assert f"/shipping/packing/parcels/{parcel.id}/label.pdf" in text  # framed to print
    assert "2 orders wait to be packed." in text
    label = client.get(f"/shipping/packing/parcels/{parcel.id}/label.pdf")
    assert label.status_code == 200
    assert label.mimetype == "application/pdf"
    assert label.headers["X-Frame-Options"] == "SAMEORIGIN"
    # printed once: the next page does not print it again
    assert "label.pdf\"></iframe>" not in client.get(done.location).get_data(as_text=True)


def test_a_repeated_scan_acts_once(client, login_as, lane_wave):
    login_as("warehouse")
    data = {"code": "TEE-BLK-M", "_submission": "lane-scan-key-0000000001"}
    first = client.post(f"/shipping/waves/{lane_wave.id}/lane", data=data)
    repeat = client.post(f"/shipping/waves/{lane_wave.id}/lane", data=data)

    assert first.status_code == 302
    assert repeat.status_code == 302
    assert parcels() == 1
    db.session.expire_all()
    assert [o.state for o in lane_wave.made] == [OrderState.picking, OrderState.packed,
                                                 OrderState.picking]


def test_an_unknown_item_is_refused_loudly(client, login_as, lane_wave):
    login_as("warehouse")
    refused = client.post(f"/shipping/waves/{lane_wave.id}/lane", data={"code": "NOPE-9"})
    assert refused.status_code == 422
    assert 'No SKU has the code or barcode "NOPE-9". Put the item aside.' in \
        html.unescape(refused.get_data(as_text=True))
    assert parcels() == 0


def test_a_weight_difference_asks_for_a_recount_then_takes_the_confirmation(client, login_as,
                                                                          lane_wave):
    login_as("warehouse")
    url = f"/shipping/waves/{lane_wave.id}/lane"
    refused = client.post(url, data={"code": "TEE-BLK-M", "weight_g": "600"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "The weight differs by 380 g from the expected 220 g" in text
    assert 'name="confirm_weight"' in text
    assert parcels() == 0
    confirmed = client.post(url, data={"code": "TEE-BLK-M", "weight_g": "600",
                                       "confirm_weight": "y"})
    assert confirmed.status_code == 302
    assert db.session.scalar(select(Parcel.weight_g)) == 600


def test_a_station_closing_on_the_last_item(client, login_as, outbound_floor):
    floor = outbound_floor
    lane.set_sku_packing(floor.tee, floor.setup["boxes"][0], actor=None)
    db.session.commit()
    login_as("admin")
    made = client.post("/shipping/packing/stations/new", data={
        "code": "PACK-1", "name": "Bench one", "warehouse": floor.bench.warehouse_id,
        "close_on_last_item": "y"})
    assert made.status_code == 302
    station = db.session.scalar(select(PackingStation))
    assert client.post("/shipping/packing/stations/choose",
                       data={"station": station.id}).status_code == 302
    assert "Station: PACK-1" in client.get("/shipping/packing").get_data(as_text=True)
    order = floor.picked([(floor.tee, 2)])

    first = client.post(f"/shipping/packing/{order.id}/scan", data={"code": "TEE-BLK-M"})
    assert first.status_code == 302
    assert parcels() == 0
    last = client.post(f"/shipping/packing/{order.id}/scan", data={"code": "TEE-BLK-M"})
    assert last.status_code == 302
    text = client.get(last.location).get_data(as_text=True)
    db.session.expire_all()
    [parcel] = packing.order_parcels(order)
    assert parcel.state == ParcelState.labelled
    assert f"/shipping/packing/parcels/{parcel.id}/label.pdf" in text


def test_build_a_single_item_wave_from_the_form(client, login_as, outbound_floor,
                                                create_order):
    floor = outbound_floor
    for qty in (1, 2):
        allocate_order(create_order([(floor.tee, qty)], shipping_service="POST-REG"), actor=None)
    db.session.commit()
    login_as("warehouse")
    built = client.post("/shipping/waves/new", data={"kind": "single_item",
                                                      "max_orders": "10", "build": "1"})
    assert built.status_code == 302
    wave = db.session.scalar(select(waves.PickWave))
    assert wave.kind == WaveKind.single_item
    assert len(wave.orders) == 1
    assert "single-item lane" in client.get(built.location).get_data(as_text=True)
