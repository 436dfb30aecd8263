"""Carrier screens: list with running-low warning, service page, forms, boxes, imports."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
from sqlalchemy import select

from erp.extensions import db
from erp.shipping.models import Box, Carrier, ServiceRate, ShippingService, TrackingRange


def _page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_list_shows_services_and_running_low(client, login_as, shipping_setup):
    post = shipping_setup["post"]
    rng = db.session.scalars(select(TrackingRange).where(
        TrackingRange.service_id == post.id)).one()
    rng.warn_below = 20000
    db.session.commit()
    login_as("customer_service")
    page = _page(client.get("/shipping/carriers"))
    assert "POST-REG" in page
    assert "EXPRESS" in page
    assert "Tracking numbers running low" in page
    assert "style=" not in page
    assert "New carrier" not in page  # view only
    detail = _page(client.get(f"/shipping/services/{post.id}"))
    assert "running low" in detail
    assert "10,000" in detail
    assert 'name="first_serial"' not in detail
    assert client.post(f"/shipping/services/{post.id}/ranges", data={}).status_code == 403
    assert "Tracking ranges running low" not in _page(client.get("/"))  # not theirs to fix
    client.post("/logout")
    login_as("warehouse")
    assert "Tracking ranges running low" in _page(client.get("/"))


def test_manage_service_zones_rates_and_ranges(client, login_as, shipping_setup):
    ems_id = shipping_setup["ems"].id
    db.session.commit()
    login_as("warehouse")
    page = _page(client.get(f"/shipping/services/{ems_id}"))
    assert 'name="first_serial"' in page
    response = client.post(f"/shipping/services/{ems_id}/ranges", data={
        "prefix": "EE", "first_serial": "20000000", "last_serial": "20000999", "suffix": "CN",
        "warn_below": "100"})
    assert response.status_code == 302
    assert db.session.scalar(select(TrackingRange).where(
        TrackingRange.first_serial == 20000000)).remaining == 1000
    bad = client.post(f"/shipping/services/{ems_id}/ranges", data={
        "prefix": "SA", "first_serial": "1", "last_serial": "5", "suffix": "CN",
        "warn_below": "1"})
    assert bad.status_code == 422
    assert "reserved" in bad.get_data(as_text=True)
    assert "autofocus" in bad.get_data(as_text=True)

    response = client.post(f"/shipping/services/{ems_id}/zones",
                           data={"zones": "DE EU\nBR ROW"})
    assert response.status_code == 302
    service = db.session.get(ShippingService, ems_id)
    db.session.refresh(service)
    assert [z.country for z in service.zones] == ["BR", "DE"]
    bad = client.post(f"/shipping/services/{ems_id}/zones", data={"zones": "Atlantis EU"})
    assert bad.status_code == 422
    assert "not a country" in bad.get_data(as_text=True)

    response = client.post(f"/shipping/services/{ems_id}/rates", data={
        "zone": "EU", "max_weight_g": "750", "price": "6.5", "currency": "USD"})
    assert response.status_code == 302
    rate = db.session.scalar(select(ServiceRate).where(ServiceRate.max_weight_g == 750))
    assert rate.price == Decimal("6.5")
    assert client.post(f"/shipping/rates/{rate.id}/delete").status_code == 302
    assert db.session.get(ServiceRate, rate.id) is None


def test_create_carrier_service_and_edit(client, login_as, app):
    login_as("admin")
    assert "autofocus" in _page(client.get("/shipping/carriers/new"))
    response = client.post("/shipping/carriers/new", data={
        "code": "sfx", "name": "SF Express", "kind": "express"})
    assert response.status_code == 302
    carrier = db.session.scalar(select(Carrier).where(Carrier.code == "SFX"))
    response = client.post(f"/shipping/carriers/{carrier.id}/services/new", data={
        "code": "SF-INTL", "name": "SF International", "tracking_kind": "free",
        "customs_docs": "commercial_invoice", "max_weight_g": "30000", "max_longest_mm": "0",
        "max_sum_mm": "0", "volumetric_divisor": "5000", "cutoff": "16:00"})
    assert response.status_code == 302
    service = db.session.scalar(select(ShippingService).where(ShippingService.code == "SF-INTL"))
    bad = client.post(f"/shipping/services/{service.id}/edit", data={
        "code": "SF-INTL", "name": "SF International", "tracking_kind": "free",
        "customs_docs": "commercial_invoice", "max_weight_g": "-5", "max_longest_mm": "0",
        "max_sum_mm": "0", "volumetric_divisor": "5000", "cutoff": "16:00", "active": "y"})
    assert bad.status_code == 200
    assert "maximum weight" in bad.get_data(as_text=True)
    edit = _page(client.get(f"/shipping/services/{service.id}/edit"))
    assert 'value="16:00"' in edit


def test_boxes_screens(client, login_as, shipping_setup):
    db.session.commit()
    login_as("warehouse")
    assert "Medium box" in _page(client.get("/shipping/boxes"))
    response = client.post("/shipping/boxes/new", data={
        "code": "xl", "name": "Extra large", "length_mm": "600", "width_mm": "500",
        "height_mm": "400", "tare_g": "700"})
    assert response.status_code == 302
    box = db.session.scalar(select(Box).where(Box.code == "XL"))
    bad = client.post(f"/shipping/boxes/{box.id}/edit", data={
        "code": "XL", "name": "Extra large", "length_mm": "0", "width_mm": "500",
        "height_mm": "400", "tare_g": "700", "active": "y"})
    assert "The length (mm) must be" in _page(bad)


def test_rate_import_screen_and_exports(client, login_as, shipping_setup):
    db.session.commit()
    login_as("warehouse")
    assert _page(client.get("/shipping/rates/import"))
    template = client.get("/shipping/rates/import/template.xlsx")
    assert template.status_code == 200
    export = client.get("/shipping/rates/export.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    assert [c.value for c in sheet[1]] == ["Service code", "Zone", "Max weight (g)", "Price",
                                           "Currency"]
    assert client.get("/shipping/zones/export.xlsx").status_code == 200
    response = client.post("/shipping/rates/import", data={
        "file": (io.BytesIO(export.data), "rates.xlsx"), "action": "import"},
        content_type="multipart/form-data")
    assert response.status_code == 302

