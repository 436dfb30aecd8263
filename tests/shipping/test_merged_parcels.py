"""A merge group ships as one parcel: wave, packing, customs lines and documents, dispatch.

And a split order's parts ship in parcels of their own, each with its own lines.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.core.events import OutboxEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_order, cancel_order, merge_orders
from erp.orders.services.splitting import split_order
from erp.shipping.documents.customs import cn23_pdf, commercial_invoice_pdf
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsForm, ParcelState, PickWaveOrder
from erp.shipping.services import customs, dispatch, packing, parcels
from erp.shipping.services.waves import WaveFilters, build_wave, pick_all, slots_by_order
from tests.shipping import test_packing as _packing

customs_sku = _packing.customs_sku
shipping_rates = _packing.shipping_rates
O = OrderState  # noqa: E741
BUYER = {"email": "ana@example.com", "customer_name": "Ana Lima", "ship_name": "Ana Lima",
         "address1": "Calle Mayor 12", "city": "Madrid", "postal_code": "28013",
         "country": "ES", "shipping_service": "EMS", "currency": "EUR"}


@pytest.fixture
def group(create_order, customs_sku, shipping_setup, shipping_rates, packing_bin):
    """Three orders of one buyer (a tee, two caps, a mug), merged under the first: picked."""
    tee = customs_sku("TS-1")
    cap = customs_sku("CAP-1", hs_code="650500", customs_description="Cotton cap",
                      weight_g=60)
    mug = customs_sku("MUG-1", hs_code="691200", customs_description="Ceramic mug",
                      weight_g=350)
    first = create_order([(tee, 1, "12.50")], number="W1", shipping_charge=Decimal("4.00"),
                         **BUYER)
    second = create_order([(cap, 2, "8.00")], number="W2", shipping_charge=Decimal("3.00"),
                          **BUYER)
    third = create_order([(mug, 1, "15.25")], number="W3", **BUYER)
    for order in (first, second, third):
        assert allocate_order(order, actor=None) == O.allocated
    merge_orders(first, [second, third], actor=None)
    wave = build_wave(WaveFilters(), actor=None)
    pick_all(wave, actor=None)
    db.session.flush()
    return {"orders": [first, second, third], "wave": wave, "skus": (tee, cap, mug),
            "box": shipping_setup["boxes"][1]}


def test_the_wave_takes_the_group_into_one_tote(group):
    first, second, third = group["orders"]
    wave = group["wave"]
    assert [o.state for o in group["orders"]] == [O.picking] * 3
    rows = db.session.scalars(select(PickWaveOrder).where(PickWaveOrder.wave_id == wave.id))
    assert [(r.order_id, r.slot) for r in rows] == [(first.id, 1)]
    assert slots_by_order(wave) == {first.id: 1, second.id: 1, third.id: 1}
    assert {t.order_id for t in wave.tasks} == {first.id, second.id, third.id}


def test_packing_scans_the_group_into_one_parcel(group):
    first, second, third = group["orders"]
    # a member, or the tote, leads to the primary
    assert packing.find_order_for_packing("W2") is first
    assert packing.find_order_for_packing(f"{group['wave'].number}/1") is first
    with pytest.raises(ShippingError, match="ships in one parcel with order W1"):
        packing.scan_item(second, "CAP-1", actor=None)
    for code in ("TS-1", "CAP-1", "CAP-1", "MUG-1"):
        packing.scan_item(first, code, actor=None)
    with pytest.raises(ShippingError, match="already scanned or packed"):
        packing.scan_item(first, "MUG-1", actor=None)
    assert [(r["sku"].code, r["order"].number, r["scanned"])
            for r in packing.packing_status(first)] == [
        ("TS-1", "W1", 1), ("CAP-1", "W2", 2), ("MUG-1", "W3", 1)]
    parcel = packing.close_parcel(first, weight_g=900, box=group["box"], actor=None)
    assert parcel.order_id == first.id
    assert [(ln.order_line.order.number, ln.sku.code, ln.quantity, ln.unit_value)
            for ln in parcel.lines] == [
        ("W1", "TS-1", 1, Decimal("12.50")), ("W2", "CAP-1", 2, Decimal("8.00")),
        ("W3", "MUG-1", 1, Decimal("15.25"))]
    # the customs lines add up to the declared value, across the orders
    total = sum((o.goods_total for o in group["orders"]), Decimal(0))
    assert total == Decimal("43.75")
    assert parcel.declared_value == total
    assert customs.declared_value(parcel.lines) == total
    customs.check_customs(parcel)
    assert customs.parcel_orders(parcel) == [first, second, third]
    assert [o.state for o in group["orders"]] == [O.packed] * 3
    assert packing.is_fully_packed(first)


def test_customs_documents_of_a_merged_parcel(group):
    first = group["orders"][0]
    parcel = packing.pack_order(first, weight_g=None, box=group["box"], actor=None)
    assert parcel.customs_form == CustomsForm.cn23
    assert [ln.sku.code for ln in parcel.lines] == ["TS-1", "CAP-1", "MUG-1"]
    assert parcel.declared_value == Decimal("43.75")
    # estimated weight: the group's goods (180 + 2 x 60 + 350) plus the box's tare
    assert parcel.weight_g == 650 + group["box"].tare_g
    assert [o.state for o in group["orders"]] == [O.packed] * 3
    for pdf in (cn23_pdf([parcel]), commercial_invoice_pdf([parcel])):
        assert pdf.startswith(b"%PDF")


def test_cancelling_a_packed_member_voids_the_shared_parcel(group):
    """The cancelled order's goods must not leave in its primary's parcel.

    The parcel is voided and the rest of the group is packed again without them.
    """
    first, second, third = group["orders"]
    parcel = packing.pack_order(first, weight_g=None, box=group["box"], actor=None)
    cancel_order(second, reason="buyer changed mind", actor=None)
    db.session.flush()
    assert parcel.state == ParcelState.voided
    assert second.state == O.cancelled
    assert second.merged_into_id is None
    assert [first.state, third.state] == [O.picking, O.picking]
    again = packing.pack_order(first, weight_g=None, box=group["box"], actor=None)
    assert [ln.sku.code for ln in again.lines] == ["TS-1", "MUG-1"]
    assert again.declared_value == Decimal("27.75")


def test_dispatch_ships_every_order_of_the_group(group, dummy_admin):
    first, second, third = group["orders"]
    parcel = packing.pack_order(first, weight_g=800, box=group["box"], actor=None)
    parcels.label_parcel(parcel, actor=dummy_admin)
    batch = dispatch.open_batch(parcel.service.carrier, actor=dummy_admin)
    dispatch.add_parcels(batch, [parcel], actor=dummy_admin)
    summary = dispatch.close_batch(batch, actor=dummy_admin)
    assert summary.orders_shipped == 3
    assert [o.state for o in group["orders"]] == [O.shipped] * 3
    shipped = {e.payload["order"]: e.payload for e in db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.type == "order.shipped"))}
    assert set(shipped) == {"W1", "W2", "W3"}
    for number in ("W1", "W2", "W3"):
        assert [p["parcel"] for p in shipped[number]["parcels"]] == [parcel.number]
    assert shipped["W2"]["shipped_with"] == "W1"
    assert "shipped_with" not in shipped["W1"]


def test_a_split_orders_parcels_carry_their_own_lines(create_order, customs_sku,
                                                      shipping_setup, shipping_rates,
                                                      packing_bin):
    tee, cap = customs_sku("TS-1"), customs_sku("CAP-1", hs_code="650500",
                                                 customs_description="Cotton cap")
    order = create_order([(tee, 2, "12.50"), (cap, 1, "8.00")], number="W9",
                         **{**BUYER, "shipping_service": "POST-REG"})
    assert allocate_order(order, actor=None) == O.allocated
    tee_line = order.lines[0]
    part = split_order(order, {tee_line.id: 1, order.lines[1].id: 1}, actor=None,
                       service="EMS")
    assert (part.number, part.shipping_service, part.state) == ("W9-2", "EMS", O.allocated)
    wave = build_wave(WaveFilters(), actor=None)
    pick_all(wave, actor=None)
    box = shipping_setup["boxes"][1]
    mine = packing.pack_order(order, weight_g=300, box=box, actor=None)
    theirs = packing.pack_order(part, weight_g=300, box=box, actor=None)
    assert [(ln.sku.code, ln.quantity) for ln in mine.lines] == [("TS-1", 1)]
    assert mine.declared_value == Decimal("12.50")
    assert mine.service.code == "POST-REG"
    assert sorted((ln.sku.code, ln.quantity) for ln in theirs.lines) == [("CAP-1", 1),
                                                                         ("TS-1", 1)]
    assert theirs.declared_value == Decimal("20.50")
    assert theirs.service.code == "EMS"
    assert {ln.order_line.order_id for ln in theirs.lines} == {part.id}
