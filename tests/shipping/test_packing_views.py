"""Packing station and parcel screens: scan, refusals, close, label, list, detail, void, roles."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import hold_order
from erp.shipping.models import Parcel, ParcelState
from erp.shipping.services import packing, parcels
from tests.shipping import test_packing as _packing

# the packing tests' fixtures, shared
customs_sku = _packing.customs_sku
picked_order = _packing.picked_order
shipping_rates = _packing.shipping_rates


@pytest.fixture
def bench_order(picked_order, customs_sku):
    """An order of 2 x TS-1 and 1 x CAP-1, picked, committed."""
    order = picked_order([(customs_sku("TS-1", barcode="4006381333931"), 2, "12.50"),
                          (customs_sku("CAP-1"), 1, "8.00")], number="WEB-77")
    customs_sku("OTHER-1")
    db.session.commit()
    return order


def test_customer_service_cannot_pack(client, login_as, bench_order):
    login_as("customer_service")
    assert client.get("/shipping/packing").status_code == 403
    assert client.get(f"/shipping/packing/{bench_order.id}").status_code == 403
    assert client.post(f"/shipping/packing/{bench_order.id}/scan",
                       data={"code": "TS-1"}).status_code == 403
    assert client.get("/shipping/parcels").status_code == 200  # but may look


def test_station_finds_the_order_and_refuses_a_held_one(client, login_as, bench_order):
    login_as("warehouse")
    page = client.get("/shipping/packing")
    assert page.status_code == 200
    assert b"autofocus" in page.data
    found = client.get("/shipping/packing", query_string={"q": "web-77"})
    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/shipping/packing/{bench_order.id}")
    tote = client.get("/shipping/packing", query_string={"q": f"{bench_order.wave.number}/1"})
    assert tote.status_code == 302
    hold_order(bench_order, reason="Address check", actor=None)
    db.session.commit()
    refused = client.get("/shipping/packing", query_string={"q": "WEB-77"})
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert 'role="alert"' in text
    assert "Refused" in text
    assert "WEB-77 is on hold (Address check): do not pack it; put the goods aside" in text
    assert 'name="code"' not in text  # no scan field for a held order


def test_scan_refusals_close_split_and_label(client, login_as, bench_order, shipping_setup):
    login_as("warehouse")
    base = f"/shipping/packing/{bench_order.id}"
    page = client.get(base)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "TS-1" in text
    assert "CAP-1" in text
    assert "Close parcel" in text
    wrong = client.post(f"{base}/scan", data={"code": "OTHER-1"})
    assert wrong.status_code == 422
    assert "SKU OTHER-1 is not in order WEB-77" in wrong.get_data(as_text=True)
    assert client.post(f"{base}/scan", data={"code": "4006381333931"}).status_code == 302
    assert client.post(f"{base}/scan", data={"code": "TS-1"}).status_code == 302
    extra = client.post(f"{base}/scan", data={"code": "TS-1"})
    assert extra.status_code == 422
    assert "this one is extra" in extra.get_data(as_text=True)
    # a parcel over the limit is refused with the limit named
    heavy = client.post(f"{base}/close", data={"box": "S", "weight_g": "2500"})
    assert heavy.status_code == 422
    assert "at most 2,000 g" in heavy.get_data(as_text=True)
    closed = client.post(f"{base}/close", data={"box": "S", "weight_g": "420"})
    assert closed.status_code == 302
    assert client.post(f"{base}/scan", data={"code": "CAP-1"}).status_code == 302
    second = client.post(f"{base}/close", data={
        "box": "", "weight_g": "150", "length_mm": "200", "width_mm": "150", "height_mm": "40"})
    assert second.status_code == 302
    db.session.expire_all()
    order_parcels = packing.order_parcels(bench_order)
    assert [(p.sequence, p.box.code if p.box else None) for p in order_parcels] == \
        [(1, "S"), (2, None)]
    assert bench_order.state == OrderState.packed
    labelled = client.post(f"{base}/label")
    assert labelled.status_code == 302
    db.session.expire_all()
    assert all(p.state == ParcelState.labelled for p in packing.order_parcels(bench_order))
    text = client.get(base).get_data(as_text=True)
    assert order_parcels[0].tracking_number in text
    if "shipping.parcel_label_pdf" in client.application.view_functions:
        assert f"/shipping/parcels/{order_parcels[0].id}/label.pdf" in text


def test_unscan_and_clear(client, login_as, bench_order):
    login_as("warehouse")
    base = f"/shipping/packing/{bench_order.id}"
    client.post(f"{base}/scan", data={"code": "TS-1", "quantity": "2"})
    assert client.post(f"{base}/unscan", data={"unscan-code": "TS-1"}).status_code == 302
    db.session.expire_all()
    assert packing.packing_status(bench_order)[0]["scanned"] == 1
    assert client.post(f"{base}/clear").status_code == 302
    db.session.expire_all()
    assert packing.packing_status(bench_order)[0]["scanned"] == 0
    none_left = client.post(f"{base}/unscan", data={"unscan-code": "TS-1"})
    assert none_left.status_code == 422


def test_parcel_list_detail_and_void(client, login_as, bench_order, shipping_setup):
    parcel = packing.pack_order(bench_order, weight_g=600, box=shipping_setup["boxes"][1],
                                actor=None)
    parcels.label_parcel(parcel, actor=None)
    db.session.commit()
    number = parcel.tracking_number
    login_as("warehouse")
    listed = client.get("/shipping/parcels", query_string={"state": "labelled"})
    assert listed.status_code == 200
    assert parcel.number in listed.get_data(as_text=True)
    spaced = f"{number[:2]} {number[2:6]} {number[6:11]} {number[11:].lower()}"
    found = client.get("/shipping/parcels", query_string={"q": spaced})
    assert found.status_code == 302
    assert found.headers["Location"].endswith(f"/shipping/parcels/{parcel.id}")
    by_order = client.get("/shipping/parcels", query_string={"q": "WEB-77"})
    assert by_order.status_code == 200
    assert parcel.number in by_order.get_data(as_text=True)
    none = client.get("/shipping/parcels", query_string={"service": "EMS"})
    assert parcel.number not in none.get_data(as_text=True)
    export = client.get("/shipping/parcels/export.xlsx")
    assert export.status_code == 200
    assert export.data[:2] == b"PK"
    detail = client.get(f"/shipping/parcels/{parcel.id}")
    text = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert "610910" in text
    assert "parcel.labelled" in text
    assert "Void" in text
    no_reason = client.post(f"/shipping/parcels/{parcel.id}/void", data={"reason": ""},
                            follow_redirects=True)
    assert "Give a reason." in no_reason.get_data(as_text=True)
    voided = client.post(f"/shipping/parcels/{parcel.id}/void",
                         data={"reason": "Label smudged"})
    assert voided.status_code == 302
    db.session.expire_all()
    parcel = db.session.scalar(select(Parcel).where(Parcel.id == parcel.id))
    assert parcel.state == ParcelState.voided
    assert parcel.tracking_number == number
    assert parcel.order.state == OrderState.picking
    assert "Label smudged" in client.get(f"/shipping/parcels/{parcel.id}").get_data(
        as_text=True)


def test_customer_service_cannot_void_or_label(client, login_as, bench_order,
                                               shipping_setup):
    parcel = packing.pack_order(bench_order, weight_g=600, box=shipping_setup["boxes"][1],
                                actor=None)
    db.session.commit()
    login_as("customer_service")
    detail = client.get(f"/shipping/parcels/{parcel.id}")
    assert detail.status_code == 200
    assert "Why void?" not in detail.get_data(as_text=True)
    assert client.post(f"/shipping/parcels/{parcel.id}/void",
                       data={"reason": "x"}).status_code == 403
    assert client.post(f"/shipping/parcels/{parcel.id}/label").status_code == 403
