"""Parcels: labels with S10 numbers, voiding (goods back, order back to picking), finding."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.shipping import s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import PackScan, ParcelState, TrackingRange
from erp.shipping.services import packing, parcels
from tests.shipping import test_packing as _packing

# the packing tests' fixtures, shared
customs_sku = _packing.customs_sku
picked_order = _packing.picked_order
shipping_rates = _packing.shipping_rates


@pytest.fixture
def packed(picked_order, customs_sku, shipping_setup):
    """Return ``packed(service="POST-REG", n=1)``: parcels of single-item orders, packed."""
    sku = customs_sku("TS-1", qty=100)

    def factory(service: str = "POST-REG", n: int = 1, **values):
        values.setdefault("phone", "+49 30 1234")
        orders = [picked_order([(sku, 1)], service=service, **values) for _ in range(n)]
        return packing.pack_orders(orders, box=shipping_setup["boxes"][0], actor=None)

    return factory


def test_label_draws_s10_numbers_in_one_go(packed, shipping_setup):
    post = packed(n=3)
    express = packed("EXPRESS", n=2)
    labelled = parcels.label_parcels(post + express, actor=None)
    assert all(p.state == ParcelState.labelled and p.labelled_at for p in labelled)
    numbers = [p.tracking_number for p in post]
    assert all(s10.is_valid(n) for n in numbers)
    assert numbers == [s10.make("RR", 10000000 + i, "CN") for i in range(3)]
    assert [p.tracking_number for p in express] == ["EX0010000000", "EX0010000001"]
    rng = db.session.scalar(select(TrackingRange).where(
        TrackingRange.service_id == shipping_setup["post"].id))
    assert rng.next_serial == 10000003
    events = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "parcel.labelled"))
    assert events == 5
    with pytest.raises(ShippingError, match="is labelled; only packed parcels"):
        parcels.label_parcel(post[0], actor=None)


def test_void_returns_scans_and_order_to_picking(packed, shipping_setup):
    parcel = parcels.label_parcel(packed()[0], actor=None)
    order, number = parcel.order, parcel.tracking_number
    assert order.state == OrderState.packed
    with pytest.raises(ShippingError, match="Give a reason"):
        parcels.void_parcel(parcel, reason="  ", actor=None)
    parcels.void_parcel(parcel, reason="Label printed badly", actor=None)
    assert parcel.state == ParcelState.voided
    assert parcel.void_reason == "Label printed badly"
    assert parcel.tracking_number == number
    assert parcel.voided_at
    assert order.state == OrderState.picking
    assert [r["scanned"] for r in packing.packing_status(order)] == [1]
    assert db.session.scalar(select(func.count()).select_from(PackScan).where(
        PackScan.parcel_id == parcel.id)) == 0
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "parcel.voided"))
    assert event.changes["note"] == "Label printed badly"
    assert event.changes["tracking_number"] == number
    with pytest.raises(ShippingError, match="already voided"):
        parcels.void_parcel(parcel, reason="again", actor=None)
    # packed again: a new parcel, a new tracking number (the voided one is never reused)
    again = packing.close_parcel(order, weight_g=250, box=shipping_setup["boxes"][0],
                                 actor=None)
    assert again.sequence == 1
    assert again.number != parcel.number
    parcels.label_parcel(again, actor=None)
    assert again.tracking_number != number
    assert s10.is_valid(again.tracking_number)
    assert order.state == OrderState.packed
    assert parcels.find_parcel(number) is parcel


def test_void_refused_when_dispatched(packed):
    parcel = packed()[0]
    parcel.state = ParcelState.dispatched
    with pytest.raises(ShippingError, match="was dispatched"):
        parcels.void_parcel(parcel, reason="Too late", actor=None)


def test_void_a_packed_parcel_of_a_split_order(picked_order, customs_sku, shipping_setup):
    box = shipping_setup["boxes"][0]
    order = picked_order([(customs_sku("TS-1"), 1), (customs_sku("CAP-1"), 1)])
    packing.scan_item(order, "TS-1", actor=None)
    first = packing.close_parcel(order, weight_g=200, box=box, actor=None)
    parcels.void_parcel(first, reason="Wrong box", actor=None)
    assert order.state == OrderState.picking  # it was not packed yet: stays picking
    assert [r["scanned"] for r in packing.packing_status(order)] == [1, 0]


def test_find_parcel_by_tracking_or_parcel_number(packed):
    parcel = parcels.label_parcel(packed()[0], actor=None)
    spaced = f"{parcel.tracking_number[:2]} {parcel.tracking_number[2:6]} " \
             f"{parcel.tracking_number[6:11]} {parcel.tracking_number[11:].lower()}"
    assert parcels.find_parcel(spaced) is parcel
    assert parcels.find_parcel(parcel.number.lower()) is parcel
    assert parcels.find_parcel("RR999999995CN") is None
    assert parcels.find_parcel("") is None


def test_parcel_list_query_filters(packed):
    post = packed(n=2)
    ems = packed("EMS")
    parcels.label_parcel(post[0], actor=None)

    def numbers(**kw):
        rows = db.session.execute(parcels.parcel_list_query(parcels.ParcelFilters(**kw)))
        return sorted(r.number for r in rows)

    assert len(numbers()) == 3
    assert numbers(q=post[0].tracking_number.lower()) == [post[0].number]
    assert numbers(q=post[1].number) == [post[1].number]
    assert numbers(q=ems[0].order.number) == [ems[0].number]
    assert numbers(state="labelled") == [post[0].number]
    assert numbers(state="open") == sorted(p.number for p in post + ems)
    assert numbers(service="EMS") == [ems[0].number]
    today = date.today()
    assert len(numbers(date_from=today - timedelta(days=1), date_to=today + timedelta(1))) == 3
    assert numbers(date_to=today - timedelta(days=2)) == []
    count = db.session.scalar(parcels.parcel_count_query(parcels.ParcelFilters(service="EMS")))
    assert count == 1
    data = parcels.export_parcels(parcels.ParcelFilters())
    assert data[:2] == b"PK"
