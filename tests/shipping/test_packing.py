"""Packing: finding the order, scan checks, closing (split) parcels, limits, pack_orders.

The fixtures here (``customs_sku``, ``shipping_rates``, ``picked_order``) are imported by the
other packing, customs and parcel tests.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core import services as core_services
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_order, hold_order
from erp.shipping.errors import ShippingError
from erp.shipping.models import PackScan, Parcel, ParcelState
from erp.shipping.services import packing
from erp.shipping.services.waves import WaveFilters, build_wave, pick_all
from erp.warehouse.models import StockLevel


@pytest.fixture
def customs_sku(create_sku, create_bin, receive_stock):
    """Return ``customs_sku(code, qty=50, **values)``: a SKU with customs data and stock."""

    def factory(code: str, qty: int = 50, **values):
        values.setdefault("hs_code", "610910")
        values.setdefault("customs_description", "Men's cotton T-shirt")
        values.setdefault("origin_country", "CN")
        values.setdefault("weight_g", 180)
        sku = create_sku(code, **values)
        receive_stock(sku, create_bin(), qty)
        return sku

    return factory


@pytest.fixture
def shipping_rates(app):
    """Rates against USD: EUR 1.10, XDR 1.375 (so 300 SDR = 412.50 USD = 375.00 EUR)."""
    for currency, rate in (("EUR", "1.1000"), ("XDR", "1.3750"), ("GBP", "1.2500")):
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    db.session.flush()


@pytest.fixture
def picked_order(create_order, packing_bin, shipping_setup, shipping_rates):
    """Return ``picked_order(lines, service="POST-REG", **order values)``: allocated, picked.

    The order goes through allocation, a wave of its own and pick-all, so its goods wait at
    the packing bench and it is in picking.
    """

    def factory(lines, service: str = "POST-REG", **values):
        order = create_order(lines, shipping_service=service, **values)
        assert allocate_order(order, actor=None) == OrderState.allocated
        wave = build_wave(WaveFilters(), actor=None)
        pick_all(wave, actor=None)
        db.session.flush()
        assert order.state == OrderState.picking
        order.wave = wave  # for the tests' convenience
        return order

    return factory


def _bench_qty(sku, packing_bin) -> int:
    level = db.session.scalar(select(StockLevel).where(
        StockLevel.sku_id == sku.id, StockLevel.location_id == packing_bin.id))
    return level.on_hand if level else 0


# --------------------------------------------------------------------------- finding the order


def test_find_order_by_number_and_by_tote(picked_order, customs_sku):
    order = picked_order([(customs_sku("TS-1"), 1)])
    assert packing.find_order_for_packing(f"  {order.number} ") is order
    assert packing.find_order_for_packing(order.number.lower()) is order
    assert packing.find_order_for_packing(f"{order.wave.number.lower()}/1") is order
    with pytest.raises(ShippingError, match="Tote 7 of wave"):
        packing.find_order_for_packing(f"{order.wave.number}/7")
    with pytest.raises(ShippingError, match='No order has the number "NOPE"'):
        packing.find_order_for_packing("NOPE")
    with pytest.raises(ShippingError, match="Scan or type"):
        packing.find_order_for_packing(" ")


def test_order_on_hold_or_not_picked_is_refused(picked_order, customs_sku, create_order):
    order = picked_order([(customs_sku("TS-1"), 1)])
    hold_order(order, reason="Customer asked to change the address", actor=None)
    with pytest.raises(ShippingError, match=f"Order {order.number} is on hold .*do not pack "
                                            "it; put the goods aside"):
        packing.find_order_for_packing(order.number)
    with pytest.raises(ShippingError, match="on hold"):
        packing.scan_item(order, "TS-1", actor=None)
    new = create_order([(customs_sku("TS-2"), 1)])
    with pytest.raises(ShippingError, match="has not been picked"):
        packing.find_order_for_packing(new.number)


# --------------------------------------------------------------------------- scanning


def test_scan_status_and_refusals(picked_order, customs_sku, create_sku):
    shirt = customs_sku("TS-1", barcode="4006381333931")
    cap = customs_sku("CAP-1")
    other = customs_sku("OTHER-1")
    order = picked_order([(shirt, 2), (cap, 1)])
    packing.scan_item(order, "4006381333931", actor=None)  # by barcode
    status = {row["sku"].code: row for row in packing.packing_status(order)}
    assert (status["TS-1"]["ordered"], status["TS-1"]["picked"], status["TS-1"]["scanned"],
            status["TS-1"]["packed"], status["TS-1"]["to_scan"]) == (2, 2, 1, 0, 1)
    with pytest.raises(ShippingError, match=f"SKU OTHER-1 is not in order {order.number}"):
        packing.scan_item(order, other.code, actor=None)
    with pytest.raises(ShippingError, match='No SKU has the code or barcode "XYZ"'):
        packing.scan_item(order, "XYZ", actor=None)
    packing.scan_item(order, "ts-1", actor=None)
    with pytest.raises(ShippingError, match="All 2 of SKU TS-1 .* extra"):
        packing.scan_item(order, "TS-1", actor=None)
    # a mistake taken back, then scanned again
    assert packing.unscan_item(order, "TS-1", actor=None) == 1
    packing.scan_item(order, "TS-1", actor=None)
    with pytest.raises(ShippingError, match="Only 0 unit"):
        packing.unscan_item(order, "CAP-1", actor=None)
    assert packing.clear_scans(order, actor=None) == 2
    assert packing.packing_status(order)[0]["scanned"] == 0


def test_item_not_picked_is_refused(create_order, customs_sku, shipping_setup, shipping_rates):
    # picking state without a pick task: the goods are not at the bench
    order = create_order([(customs_sku("TS-1"), 1)], state="picking",
                         shipping_service="POST-REG")
    with pytest.raises(ShippingError, match="Only 0 of 1 of SKU TS-1 were picked"):
        packing.scan_item(order, "TS-1", actor=None)


# --------------------------------------------------------------------------- closing parcels


def test_close_parcel_split_in_two(picked_order, customs_sku, shipping_setup, packing_bin):
    shirt, cap = customs_sku("TS-1"), customs_sku("CAP-1", hs_code="650500",
                                                   customs_description="Cotton cap")
    order = picked_order([(shirt, 2, "12.50"), (cap, 1, "8.00")])
    box_s, box_m = shipping_setup["boxes"][0], shipping_setup["boxes"][1]
    with pytest.raises(ShippingError, match="Scan the items"):
        packing.close_parcel(order, weight_g=300, box=box_s, actor=None)
    packing.scan_item(order, "TS-1", actor=None)
    packing.scan_item(order, "TS-1", actor=None)
    first = packing.close_parcel(order, weight_g=420, box=box_s, actor=None)
    assert first.number.startswith("PCL-")
    assert first.sequence == 1
    assert (first.length_mm, first.width_mm, first.height_mm) == (250, 180, 50)
    assert first.service.code == "POST-REG"
    assert first.state == ParcelState.packed
    assert [(ln.sku.code, ln.quantity, ln.unit_value, ln.net_weight_g, ln.hs_code)
            for ln in first.lines] == [("TS-1", 2, Decimal("12.50"), 360, "610910")]
    assert first.declared_value == Decimal("25.00")
    assert first.currency == "EUR"
    assert order.state == OrderState.picking  # the cap is still to pack
    packing.scan_item(order, "CAP-1", actor=None)
    second = packing.close_parcel(order, weight_g=200, length_mm=300, width_mm=200,
                                  height_mm=120, box=box_m, actor=None)
    assert second.sequence == 2
    assert second.number != first.number
    assert (second.length_mm, second.width_mm, second.height_mm) == (300, 200, 120)
    assert second.declared_value == Decimal("8.00")
    assert order.state == OrderState.packed
    assert all(row["packed"] == row["ordered"] for row in packing.packing_status(order))
    assert db.session.scalar(select(func.count()).select_from(PackScan)
                             .where(PackScan.parcel_id.is_(None))) == 0
    # the goods stay at the packing bench until dispatch
    assert _bench_qty(shirt, packing_bin) == 2
    assert _bench_qty(cap, packing_bin) == 1
    with pytest.raises(ShippingError, match="already packed"):
        packing.scan_item(order, "CAP-1", actor=None)


def test_close_needs_box_or_dimensions_and_weight(picked_order, customs_sku):
    order = picked_order([(customs_sku("TS-1"), 1)])
    packing.scan_item(order, "TS-1", actor=None)
    with pytest.raises(ShippingError, match="Pick a box or enter"):
        packing.close_parcel(order, weight_g=200, actor=None)
    with pytest.raises(ShippingError, match="all three dimensions"):
        packing.close_parcel(order, weight_g=200, length_mm=200, actor=None)
    with pytest.raises(ShippingError, match="weight"):
        packing.close_parcel(order, weight_g=0, length_mm=200, width_mm=100, height_mm=50,
                             actor=None)


@pytest.mark.parametrize(("service", "weight", "dims", "message"), [
    ("POST-REG", 2350, (250, 180, 50), "weighs 2,350 g .*takes at most 2,000 g"),
    ("POST-REG", 500, (650, 100, 100), "longest side is 650 mm.*at most 600 mm"),
    ("POST-REG", 500, (400, 300, 300), r"length \+ width \+ height is 1,000 mm.*at most 900"),
    # 1000 x 600 x 300 mm / 5000 = 36 kg volumetric > 30 kg, though it weighs 3 kg
    ("EXPRESS", 3000, (1000, 600, 300), "36,000 g .*volumetric.*at most 30,000 g"),
])
def test_parcel_over_a_limit_is_refused(picked_order, customs_sku, service, weight, dims,
                                        message):
    order = picked_order([(customs_sku("TS-1"), 1)], service=service, phone="+49 30 1234")
    packing.scan_item(order, "TS-1", actor=None)
    length, width, height = dims
    with pytest.raises(ShippingError, match=message):
        packing.close_parcel(order, weight_g=weight, length_mm=length, width_mm=width,
                             height_mm=height, actor=None)
    assert db.session.scalar(select(func.count()).select_from(Parcel)) == 0


def test_express_needs_a_phone(picked_order, customs_sku, shipping_setup):
    order = picked_order([(customs_sku("TS-1"), 1)], service="EXPRESS")
    packing.scan_item(order, "TS-1", actor=None)
    with pytest.raises(ShippingError, match="needs the addressee's phone"):
        packing.close_parcel(order, weight_g=300, box=shipping_setup["boxes"][0], actor=None)


def test_service_given_overrides_the_order(picked_order, customs_sku, shipping_setup):
    order = picked_order([(customs_sku("TS-1"), 1)])
    packing.scan_item(order, "TS-1", actor=None)
    parcel = packing.close_parcel(order, weight_g=300, box=shipping_setup["boxes"][0],
                                  service=shipping_setup["ems"], actor=None)
    assert parcel.service.code == "EMS"


def test_missing_hs_code_refuses_the_parcel(picked_order, customs_sku, shipping_setup):
    order = picked_order([(customs_sku("TS-1", hs_code=None), 1)])
    packing.scan_item(order, "TS-1", actor=None)
    with pytest.raises(ShippingError, match="SKU TS-1 has no HS code"):
        packing.close_parcel(order, weight_g=300, box=shipping_setup["boxes"][0], actor=None)


# --------------------------------------------------------------------------- bulk packing


def test_pack_orders_in_bulk(picked_order, customs_sku, shipping_setup, count_queries):
    shirt, cap = customs_sku("TS-1", qty=100), customs_sku("CAP-1", qty=100)
    orders = [picked_order([(shirt, 1), (cap, 2)], number=f"BULK-{n}") for n in range(4)]
    packing.scan_item(orders[0], "CAP-1", actor=None)  # an open scan is taken along
    box = shipping_setup["boxes"][1]
    with count_queries() as counter:
        parcels = packing.pack_orders(orders, box=box, actor=None,
                                      weights={orders[1].id: 777})
    assert counter.count < 60
    assert len(parcels) == 4
    assert len({p.number for p in parcels}) == 4
    assert parcels[1].weight_g == 777
    assert parcels[0].weight_g == 180 * 3 + box.tare_g
    assert all(o.state == OrderState.packed for o in orders)
    assert [[(ln.sku.code, ln.quantity) for ln in p.lines] for p in parcels] == \
        [[("TS-1", 1), ("CAP-1", 2)]] * 4
    assert db.session.scalar(select(func.sum(PackScan.quantity))
                             .where(PackScan.parcel_id.isnot(None))) == 12
    assert db.session.scalar(select(func.count()).select_from(PackScan)
                             .where(PackScan.parcel_id.is_(None))) == 0


def test_pack_order_with_nothing_left(picked_order, customs_sku, shipping_setup):
    order = picked_order([(customs_sku("TS-1"), 1)])
    parcel = packing.pack_order(order, weight_g=250, box=shipping_setup["boxes"][0],
                                actor=None)
    assert parcel.weight_g == 250
    assert order.state == OrderState.packed
    with pytest.raises(ShippingError, match="already packed"):
        packing.pack_order(order, weight_g=250, box=shipping_setup["boxes"][0], actor=None)
