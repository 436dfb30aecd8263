"""Warehouse and bin screens: forms and their errors, the bin list, Excel, labels, permissions."""

from __future__ import annotations

import html
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import Location, Warehouse
from tests.warehouse.test_documents import page_count
from tests.warehouse.test_excel import HEADERS, xlsx


@pytest.fixture
def app_config():
    return {"ERP_PAGE_SIZE": 5}


@pytest.fixture
def keeper(login_as):
    """Sign in as a warehouse user (moves stock, manages bins)."""
    return login_as("warehouse")


def text(response) -> str:
    """Return the page with HTML entities decoded (quotes in messages are escaped)."""
    return html.unescape(response.get_data(as_text=True))


def autofocused(page: str, name: str) -> bool:
    match = re.search(rf'<(?:input|textarea|select)[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


def listed_bins(page: str) -> list[str]:
    return re.findall(r'/warehouse/stock/bin/\d+">([^<]+)</a>', page)


# --------------------------------------------------------------------------- warehouses


def test_create_warehouse_then_its_bin_list(client, keeper):
    page = text(client.get("/warehouse/warehouses/new"))
    assert autofocused(page, "code")
    response = client.post("/warehouse/warehouses/new", data={
        "code": "sz2", "name": "Shenzhen 2", "country": "China", "address": "1 Road"})
    warehouse = db.session.scalar(select(Warehouse).where(Warehouse.code == "SZ2"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/warehouse/warehouses/{warehouse.id}/bins")
    assert (warehouse.name, warehouse.country, warehouse.address) == ("Shenzhen 2", "CN", "1 Road")
    page = text(client.get("/warehouse/warehouses"))
    assert "SZ2" in page
    assert "Shenzhen 2" in page


def test_create_warehouse_with_a_taken_code_shows_the_error_on_the_field(client, keeper,
                                                                        dummy_warehouse):
    db.session.commit()
    response = client.post("/warehouse/warehouses/new", data={
        "code": "WH1", "name": "Again", "country": "CN"})
    assert response.status_code == 200
    assert 'To create warehouse "WH1", you must choose another code' in text(response)
    assert db.session.scalar(select(Warehouse).where(Warehouse.name == "Again")) is None


def test_edit_warehouse_changes_name_country_and_active_and_audits(client, keeper,
                                                                  dummy_warehouse):
    db.session.commit()
    url = f"/warehouse/warehouses/{dummy_warehouse.id}/edit"
    page = text(client.get(url))
    assert autofocused(page, "name")
    response = client.post(url, data={"code": "HACKED", "name": "Renamed", "country": "DE",
                                      "address": ""})
    assert response.status_code == 302
    db.session.expire_all()
    warehouse = db.session.get(Warehouse, dummy_warehouse.id)
    assert (warehouse.code, warehouse.name, warehouse.country, warehouse.active) == (
        "WH1", "Renamed", "DE", False)  # the code cannot change; an unticked box deactivates
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "warehouse.updated"))
    assert event.changes["name"] == ["Main warehouse", "Renamed"]
    assert event.changes["active"] == [True, False]


def test_deactivating_a_warehouse_with_stock_is_refused(client, keeper, create_bin, dummy_sku,
                                                        receive_stock, dummy_warehouse):
    receive_stock(dummy_sku, create_bin("A-01"), 2)
    db.session.commit()
    response = client.post(f"/warehouse/warehouses/{dummy_warehouse.id}/edit", data={
        "name": "Main warehouse", "country": "CN"})
    assert response.status_code == 200
    assert ('To deactivate warehouse "WH1", you must first move its stock out (bin A-01 holds '
            "some).") in text(response)
    db.session.expire_all()
    assert db.session.get(Warehouse, dummy_warehouse.id).active


def test_update_warehouse_service_validates_name_and_country(dummy_warehouse):
    from erp.core.errors import ValidationError
    with pytest.raises(ValidationError, match="name is required"):
        services.update_warehouse(dummy_warehouse, name=" ", country="CN", actor=None)
    with pytest.raises(ValidationError, match="Country"):
        services.update_warehouse(dummy_warehouse, name="X", country="Atlantis", actor=None)
    services.update_warehouse(dummy_warehouse, name="Main warehouse", country="CN",
                              actor=None)
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "warehouse.updated")) is None  # nothing changed, nothing audited


# --------------------------------------------------------------------------- bins


@pytest.fixture
def twelve_bins(dummy_warehouse, create_bin):
    made = [create_bin(f"A-01-01-{n:02d}", pick_sequence=200 - n * 10) for n in range(1, 11)]
    made.append(create_bin("PACK-01", kind="packing", pick_sequence=5))
    made.append(create_bin("RCV-01", kind="receiving", pick_sequence=1))
    services.update_location(made[0], kind="storage", pick_sequence=190, active=False,
                             actor=None)
    db.session.commit()
    return made


def test_bin_list_is_in_walking_order_and_paginated(client, keeper, twelve_bins,
                                                    dummy_warehouse):
    url = f"/warehouse/warehouses/{dummy_warehouse.id}/bins"
    page = text(client.get(url))
    assert autofocused(page, "q")
    assert listed_bins(page) == ["RCV-01", "PACK-01", "A-01-01-10", "A-01-01-09", "A-01-01-08"]
    assert "Page 1 of 3" in page
    assert listed_bins(text(client.get(url + "?page=3"))) == ["A-01-01-02", "A-01-01-01"]
    assert listed_bins(text(client.get(url + "?sort=code")))[:2] == ["A-01-01-01", "A-01-01-02"]


def test_bin_list_searches_code_and_filters_kind_and_active(client, keeper, twelve_bins,
                                                            dummy_warehouse):
    url = f"/warehouse/warehouses/{dummy_warehouse.id}/bins"
    assert listed_bins(text(client.get(url + "?q=pack"))) == ["PACK-01"]
    assert listed_bins(text(client.get(url + "?kind=receiving"))) == ["RCV-01"]
    assert listed_bins(text(client.get(url + "?active=no"))) == ["A-01-01-01"]
    assert listed_bins(text(client.get(url + "?q=01-1&active=yes"))) == ["A-01-01-10"]
    assert listed_bins(text(client.get(url + "?q=%25"))) == []  # LIKE wildcards are literal


def test_create_bin_and_its_errors(client, keeper, dummy_warehouse, create_bin):
    create_bin("A-01")
    db.session.commit()
    url = f"/warehouse/warehouses/{dummy_warehouse.id}/bins/new"
    assert autofocused(text(client.get(url)), "code")
    response = client.post(url, data={"code": "a-01", "kind": "storage", "pick_sequence": "3"})
    assert response.status_code == 200
    assert 'To create bin "A-01" in WH1, you must choose another code: it exists.' in text(
        response)
    response = client.post(url, data={"code": "A 02", "kind": "storage", "pick_sequence": "3"})
    assert "A bin code must be 1-40 letters, digits or dashes" in text(response)
    response = client.post(url, data={"code": "A-02", "kind": "customer", "pick_sequence": "3"})
    assert "Not a valid choice" in text(response)
    response = client.post(url, data={"code": "A-02", "kind": "storage", "pick_sequence": "-3"})
    assert "The pick sequence must be a whole number, zero or more." in text(response)
    assert db.session.scalar(select(Location).where(Location.code == "A-02")) is None
    response = client.post(url, data={"code": "q-01", "kind": "quarantine",
                                      "pick_sequence": "900"})  # active unticked
    assert response.status_code == 302
    made = db.session.scalar(select(Location).where(Location.code == "Q-01"))
    assert (made.kind.value, made.pick_sequence, made.active) == ("quarantine", 900, False)


def test_edit_bin_changes_kind_sequence_active_but_not_code(client, keeper, create_bin):
    location = create_bin("A-01", pick_sequence=10)
    db.session.commit()
    url = f"/warehouse/bins/{location.id}/edit"
    page = text(client.get(url))
    assert autofocused(page, "kind")
    assert 'value="storage" selected' in page or 'selected value="storage"' in page
    response = client.post(url, data={"code": "Z-99", "kind": "returns", "pick_sequence": "7",
                                      "active": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    location = db.session.get(Location, location.id)
    assert (location.code, location.kind.value, location.pick_sequence, location.active) == (
        "A-01", "returns", 7, True)


def test_deactivating_a_bin_with_stock_shows_the_service_error(client, keeper, create_bin,
                                                               dummy_sku, receive_stock):
    location = create_bin("A-01")
    receive_stock(dummy_sku, location, 1)
    db.session.commit()
    response = client.post(f"/warehouse/bins/{location.id}/edit", data={
        "kind": "storage", "pick_sequence": "10"})
    assert response.status_code == 200
    assert "To deactivate bin WH1/A-01, you must first move its stock out." in text(response)
    db.session.expire_all()
    assert db.session.get(Location, location.id).active


def test_virtual_locations_cannot_be_edited(client, keeper):
    from erp.warehouse.models import LocationKind
    supplier = services.virtual_location(LocationKind.supplier)
    db.session.commit()
    response = client.get(f"/warehouse/bins/{supplier.id}/edit")
    assert response.status_code == 302
    assert client.get(f"/warehouse/stock/bin/{supplier.id}").status_code == 404


# --------------------------------------------------------------------------- labels


def test_labels_for_ticked_bins(client, keeper, twelve_bins, dummy_warehouse):
    ids = [twelve_bins[1].id, twelve_bins[2].id]
    response = client.get("/warehouse/bins/labels.pdf", query_string={
        "warehouse": dummy_warehouse.id, "selected": "1", "ids": ids})
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert page_count(response.data) == 1


def test_labels_for_all_filtered_bins(client, keeper, dummy_warehouse, create_bin):
    for n in range(30):
        create_bin(f"B-{n:02d}")
    create_bin("PACK-01", kind="packing")
    db.session.commit()
    response = client.get("/warehouse/bins/labels.pdf", query_string={
        "warehouse": dummy_warehouse.id, "kind": "storage"})
    assert page_count(response.data) == 2  # 30 storage bins: 24 + 6


def test_labels_with_nothing_ticked_says_so(client, keeper, twelve_bins, dummy_warehouse):
    response = client.get("/warehouse/bins/labels.pdf", query_string={
        "warehouse": dummy_warehouse.id, "selected": "1"}, follow_redirects=True)
    assert "Tick the bins to print labels for." in text(response)


def test_labels_refuse_more_than_the_limit(client, keeper, twelve_bins, dummy_warehouse,
                                          monkeypatch):
    from erp.warehouse.views import locations
    monkeypatch.setattr(locations, "MAX_LABELS", 5)
    response = client.get("/warehouse/bins/labels.pdf", query_string={
        "warehouse": dummy_warehouse.id}, follow_redirects=True)
    assert "At most 5 labels print at once" in text(response)


@pytest.mark.parametrize("role", ["customer_service", "manager", "purchasing"])
def test_only_warehouse_staff_and_admins_manage_bins(client, login_as, role, twelve_bins,
                                                     dummy_warehouse):
    login_as(role)
    assert client.get(f"/warehouse/warehouses/{dummy_warehouse.id}/bins").status_code == 200
    assert client.get("/warehouse/bins/labels.pdf").status_code == 403
    assert client.get("/warehouse/warehouses/new").status_code == 403
    assert client.post(f"/warehouse/bins/{twelve_bins[1].id}/edit", data={
        "kind": "scrap", "pick_sequence": "1", "active": "y"}).status_code == 403
    assert client.get("/warehouse/bins/import").status_code == 403
    db.session.expire_all()
    assert db.session.get(Location, twelve_bins[1].id).kind.value == "storage"


# --------------------------------------------------------------------------- Excel screens


def test_export_bins_of_a_warehouse_with_the_list_filters(client, keeper, twelve_bins,
                                                          dummy_warehouse):
    response = client.get("/warehouse/bins/export.xlsx", query_string={
        "warehouse": dummy_warehouse.id, "kind": "packing"})
    assert response.status_code == 200
    assert "bins-wh1-" in response.headers["Content-Disposition"]
    rows = list(openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows(
        values_only=True))
    assert [list(r) for r in rows] == [HEADERS, ["WH1", "PACK-01", "packing", 5, True]]


def test_import_screen_dry_run_then_import(client, keeper, dummy_warehouse):
    db.session.commit()
    data = xlsx([["WH1", "A-01", "storage", 10, "yes"], ["WH1", "A-02", None, None, None]])
    assert autofocused(text(client.get("/warehouse/bins/import")), "file")
    response = client.post("/warehouse/bins/import", data={
        "file": (io.BytesIO(data), "bins.xlsx"), "action": "dry_run"},
        content_type="multipart/form-data")
    assert response.status_code == 200
    assert "No errors in bins.xlsx" in text(response)
    assert db.session.scalar(select(Location).where(Location.code == "A-01")) is None
    response = client.post("/warehouse/bins/import", data={
        "file": (io.BytesIO(data), "bins.xlsx"), "action": "import"},
        content_type="multipart/form-data", follow_redirects=True)
    assert "Import bins: 2 created, 0 updated." in text(response)
    assert db.session.scalar(select(Location).where(Location.code == "A-02")) is not None


def test_import_screen_lists_errors_and_offers_the_report(client, keeper, dummy_warehouse):
    db.session.commit()
    data = xlsx([["WH1", "A-01", "shelf", 10, "yes"], ["WH7", "A-02", None, None, None]])
    response = client.post("/warehouse/bins/import", data={
        "file": (io.BytesIO(data), "bins.xlsx"), "action": "import"},
        content_type="multipart/form-data")
    page = text(response)
    assert "2 errors in bins.xlsx" in page
    assert 'no warehouse has the code "WH7"; create the warehouse first' in page
    token = re.search(r"/warehouse/bins/import/errors/([\w-]+)\.xlsx", page).group(1)
    report = client.get(f"/warehouse/bins/import/errors/{token}.xlsx")
    assert report.status_code == 200
    assert db.session.scalar(select(Location).where(Location.code == "A-01")) is None
    template = client.get("/warehouse/bins/import/template.xlsx")
    assert [c.value for c in openpyxl.load_workbook(io.BytesIO(template.data)).active[1]] == \
        HEADERS
