"""Supplier screens: list, create/edit, detail with price list, performance, CSRF and roles."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
    Supplier,
    SupplierItem,
)
from tests.fixtures.core import PASSWORD

NEW_SUPPLIER = {"code": "ningbo", "name": "Ningbo Knits", "contact_name": "Chen Jing",
                "email": "chen@ningbo.example.com", "phone": "+86 574 8888 0000",
                "address": "1 Harbour Road\nNingbo", "country": "China", "currency": "cny",
                "payment_terms": "Net 30", "lead_time_days": "28"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def autofocused(page: str, name: str) -> bool:
    """Return whether the form control named ``name`` carries ``autofocus``."""
    match = re.search(rf'<(?:input|textarea|select)[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


@pytest.fixture
def purchasing(login_as):
    return login_as("purchasing")


# --------------------------------------------------------------------------- list


@pytest.mark.parametrize("role", ["purchasing", "manager", "warehouse", "admin"])
def test_supplier_list_shows_suppliers_to_allowed_roles(client, login_as, dummy_supplier, role):
    login_as(role)
    response = client.get("/procurement/suppliers")
    assert response.status_code == 200
    body = text(response)
    assert "Shenzhen Textiles Co." in body
    assert ("New supplier" in body) == (role in ("purchasing", "admin"))
    assert ("Import prices" in body) == (role in ("purchasing", "admin"))
    assert 'href="/procurement/suppliers"' in body  # the navigation entry
    assert autofocused(body, "q")


def test_supplier_screens_are_refused_to_customer_service(client, login_as, dummy_supplier):
    login_as("customer_service")
    assert client.get("/procurement/suppliers").status_code == 403
    assert client.get(f"/procurement/suppliers/{dummy_supplier.id}").status_code == 403
    assert client.get("/procurement/suppliers/performance").status_code == 403
    assert 'href="/procurement/suppliers"' not in text(client.get("/"))


def test_supplier_list_searches_filters_and_pages(app, client, purchasing, create_supplier):
    create_supplier("SZTEX", "Shenzhen Textiles", contact_name="Li Wei")
    create_supplier("HANOI", "Hanoi Garments", country="VN", currency="USD")
    create_supplier("OLD", "Old Supplier", active=False)
    body = text(client.get("/procurement/suppliers?q=li wei"))
    assert "SZTEX" in body
    assert "HANOI" not in body
    body = text(client.get("/procurement/suppliers?country=vn"))
    assert "HANOI" in body
    assert "SZTEX" not in body
    body = text(client.get("/procurement/suppliers?active=no"))
    assert "OLD" in body
    assert "SZTEX" not in body
    assert client.get("/procurement/suppliers?active=maybe&country=xyz&page=-3").status_code == 200
    app.config["ERP_PAGE_SIZE"] = 2
    assert "Page 1 of 2" in text(client.get("/procurement/suppliers"))


def test_supplier_list_export_applies_the_filters(client, purchasing, create_supplier):
    create_supplier("SZTEX", "Shenzhen Textiles")
    create_supplier("HANOI", "Hanoi Garments", country="VN", currency="USD")
    response = client.get("/procurement/suppliers/export.xlsx?country=VN")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert [r[:2] for r in sheet.iter_rows(min_row=2, values_only=True)] == [
        ("HANOI", "Hanoi Garments")]


# --------------------------------------------------------------------------- create / edit


def test_create_supplier_through_the_form(client, purchasing):
    page = text(client.get("/procurement/suppliers/new"))
    assert autofocused(page, "code")
    response = client.post("/procurement/suppliers/new", data=NEW_SUPPLIER)
    assert response.status_code == 302
    supplier = db.session.scalar(select(Supplier).where(Supplier.code == "NINGBO"))
    assert response.headers["Location"].endswith(f"/procurement/suppliers/{supplier.id}")
    assert (supplier.country, supplier.currency, supplier.lead_time_days) == ("CN", "CNY", 28)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "supplier.created"))
    assert event.actor_id == purchasing.id


@pytest.mark.parametrize(("field", "value", "message"), [
    ("country", "Atlantis", "is not a country"),
    ("email", "nope", "is not an email address"),
    ("lead_time_days", "-2", "from 0 to 999"),
    ("code", "a b", "is not a supplier code"),
])
def test_create_supplier_form_shows_the_service_error_on_its_field(client, purchasing, field,
                                                                   value, message):
    response = client.post("/procurement/suppliers/new", data={**NEW_SUPPLIER, field: value})
    assert response.status_code == 200
    body = text(response)
    # the message sits in the "field has-error" block of that input, not in a flash
    block = re.search(rf'<div class="field has-error[^"]*">(?:(?!<div class="field).)*?'
                      rf'name="{field}"(?:(?!<div class="field).)*?<div class="error">([^<]*)',
                      body, re.S)
    assert block is not None, body
    assert message in block.group(1)
    assert db.session.scalar(select(Supplier.id)) is None


def test_create_supplier_with_a_taken_code_shows_the_error(client, purchasing, dummy_supplier):
    response = client.post("/procurement/suppliers/new", data={**NEW_SUPPLIER, "code": "sztex"})
    assert response.status_code == 200
    assert "you must choose another code" in text(response)


def test_edit_supplier_saves_and_audits(client, purchasing, dummy_supplier):
    page = text(client.get(f"/procurement/suppliers/{dummy_supplier.id}/edit"))
    assert 'value="Li Wei"' in page
    data = {**NEW_SUPPLIER, "code": "SZTEX", "name": "Shenzhen Textiles Group"}
    response = client.post(f"/procurement/suppliers/{dummy_supplier.id}/edit", data=data)
    assert response.status_code == 302
    db.session.expire_all()
    assert dummy_supplier.name == "Shenzhen Textiles Group"
    assert dummy_supplier.contact_name == "Chen Jing"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "supplier.updated"))
    assert event.changes["name"] == ["Shenzhen Textiles Co.", "Shenzhen Textiles Group"]


def test_toggle_supplier_active(client, purchasing, dummy_supplier):
    response = client.post(f"/procurement/suppliers/{dummy_supplier.id}/active")
    assert response.status_code == 302
    db.session.expire_all()
    assert dummy_supplier.active is False
    assert "Reactivate" in text(client.get(f"/procurement/suppliers/{dummy_supplier.id}"))
    client.post(f"/procurement/suppliers/{dummy_supplier.id}/active")
    db.session.expire_all()
    assert dummy_supplier.active is True


@pytest.mark.parametrize("role", ["manager", "warehouse"])
def test_readers_cannot_change_suppliers(client, login_as, dummy_supplier, role):
    login_as(role)
    page = text(client.get(f"/procurement/suppliers/{dummy_supplier.id}"))
    assert "Edit" not in page
    assert "Add or update a SKU" not in page
    assert client.get("/procurement/suppliers/new").status_code == 403
    assert client.post(f"/procurement/suppliers/{dummy_supplier.id}/active").status_code == 403
    assert client.post(f"/procurement/suppliers/{dummy_supplier.id}/items",
                       data={"sku": "X", "unit_price": "1"}).status_code == 403
    db.session.expire_all()
    assert dummy_supplier.active is True


# --------------------------------------------------------------------------- detail and items


def test_supplier_detail_shows_contact_items_figures_and_recent_orders(client, purchasing,
                                                                       dummy_supplier,
                                                                       create_supplier_item,
                                                                       dummy_sku):
    create_supplier_item(dummy_supplier, dummy_sku, unit_price="12.3456", supplier_code="ST-9",
                         moq=100, pack_multiple=10, preferred=True)
    po = PurchaseOrder(number="PO-2026-000042", supplier_id=dummy_supplier.id,
                       state=PurchaseOrderState.ordered, currency="CNY",
                       ordered_on=date(2026, 1, 5), expected_date=date(2026, 1, 26))
    db.session.add(po)
    db.session.commit()
    body = text(client.get(f"/procurement/suppliers/{dummy_supplier.id}"))
    for expected in ("Li Wei", "sales@sztex.example.com", "30% deposit", "21 days", "ST-9",
                     "12.3456 CNY", "TS-RED-M", "PO-2026-000042", "ordered", "On-time rate",
                     "Fill rate"):
        assert expected in body, expected
    assert f'href="/procurement/purchase-orders/{po.id}"' in body
    assert not autofocused(body, "sku")  # the page is read first; the form gets focus on error


def test_supplier_detail_figures_follow_the_date_range(client, purchasing, dummy_supplier,
                                                       dummy_sku, create_bin):
    po = PurchaseOrder(number="PO-2026-000001", supplier_id=dummy_supplier.id,
                       state=PurchaseOrderState.received, currency="CNY",
                       ordered_on=date(2026, 1, 1), expected_date=date(2026, 1, 10))
    po.lines.append(PurchaseOrderLine(sku_id=dummy_sku.id, quantity=10, received_qty=10,
                                      cancelled_qty=0, unit_price=Decimal("1")))
    db.session.add(po)
    db.session.flush()
    receipt = Receipt(number="RC-2026-000001", order_id=po.id, location_id=create_bin().id,
                      received_at=datetime(2026, 1, 8, 9, tzinfo=UTC))
    receipt.lines.append(ReceiptLine(order_line_id=po.lines[0].id, sku_id=dummy_sku.id,
                                     quantity=10, unit_cost_base=Decimal("0.14")))
    db.session.add(receipt)
    db.session.commit()
    url = f"/procurement/suppliers/{dummy_supplier.id}"
    body = text(client.get(f"{url}?date_from=2026-01-01&date_to=2026-01-31"))
    assert "100.0 %" in body
    assert "7.0 days" in body
    assert "10 of 10 units" in body
    body = text(client.get(f"{url}?date_from=2026-02-01&date_to=2026-01-01"))
    assert "must be on or before the end date" in body

    body = text(client.get("/procurement/suppliers/performance?date_from=2026-01-01"
                           "&date_to=2026-01-31"))
    assert "SZTEX" in body
    assert "100.0 %" in body
    assert autofocused(body, "date_from")
    response = client.get("/procurement/suppliers/performance/export.xlsx?date_from=2026-01-01"
                          "&date_to=2026-01-31")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["SZTEX"]
    assert "2026-01-01-2026-01-31" in response.headers["Content-Disposition"]


def test_performance_page_without_activity(client, purchasing):
    body = text(client.get("/procurement/suppliers/performance"))
    assert "No receipt and no completed order in this range" in body
    body = text(client.get("/procurement/suppliers/performance?date_from=garbage"))
    assert "No receipt" in body


def test_add_supplier_item_by_sku_code_or_barcode(client, purchasing, dummy_supplier,
                                                  dummy_sku):
    url = f"/procurement/suppliers/{dummy_supplier.id}/items"
    response = client.post(url, data={"sku": "ts-red-m", "unit_price": "8.5", "moq": "60",
                                      "pack_multiple": "12", "supplier_code": "A-1"})
    assert response.status_code == 302
    item = db.session.scalar(select(SupplierItem))
    assert (item.unit_price, item.currency, item.moq, item.pack_multiple) == (
        Decimal("8.5000"), "CNY", 60, 12)
    # the same SKU again (scanned by barcode) updates its item
    response = client.post(url, data={"sku": "4006381333931", "unit_price": "8.2", "moq": "60",
                                      "pack_multiple": "12", "preferred": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (item.unit_price, item.preferred, item.supplier_code) == (Decimal("8.2000"), True,
                                                                    None)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"sku": "NOPE", "unit_price": "1"}, "sku", 'No SKU has the code or barcode "NOPE"'),
    ({"sku": "TS-RED-M", "unit_price": "-1"}, "unit_price", "must be zero or more"),
    ({"sku": "TS-RED-M", "unit_price": "1", "moq": "0"}, "moq", "from 1"),
    ({"sku": "TS-RED-M", "unit_price": "1", "pack_multiple": "0"}, "pack_multiple", "from 1"),
    ({"sku": "TS-RED-M", "unit_price": "1", "currency": "ZZZ"}, "currency", "not an ISO 4217"),
])
def test_add_supplier_item_shows_errors_on_the_form(client, purchasing, dummy_supplier,
                                                    dummy_sku, data, field, message):
    data = {"moq": "1", "pack_multiple": "1", **data}
    response = client.post(f"/procurement/suppliers/{dummy_supplier.id}/items", data=data)
    assert response.status_code == 422
    body = text(response)
    assert message in body
    assert autofocused(body, "sku")
    assert db.session.scalar(select(SupplierItem.id)) is None


def test_edit_and_remove_supplier_item(client, purchasing, create_supplier_item, dummy_supplier,
                                       dummy_sku):
    item = create_supplier_item(dummy_supplier, dummy_sku, unit_price="5.00", moq=10)
    page = text(client.get(f"/procurement/supplier-items/{item.id}/edit"))
    assert autofocused(page, "unit_price")
    assert 'value="TS-RED-M"' in page
    bad = client.post(f"/procurement/supplier-items/{item.id}/edit",
                      data={"sku": "TS-RED-M", "unit_price": "1.123456", "moq": "10",
                            "pack_multiple": "1"})
    assert bad.status_code == 200
    assert "at most 4 decimal places" in text(bad)
    response = client.post(f"/procurement/supplier-items/{item.id}/edit",
                           data={"sku": "IGNORED", "unit_price": "4.75", "moq": "20",
                                 "pack_multiple": "5", "lead_time_days": "9"})
    assert response.status_code == 302
    db.session.expire_all()
    assert (item.unit_price, item.moq, item.pack_multiple, item.lead_time_days,
            item.sku_id) == (Decimal("4.7500"), 20, 5, 9, dummy_sku.id)

    response = client.post(f"/procurement/supplier-items/{item.id}/delete")
    assert response.status_code == 302
    assert db.session.scalar(select(SupplierItem.id)) is None
    assert "removed from the price list" in text(client.get(response.headers["Location"]))
    assert client.post(f"/procurement/supplier-items/{item.id}/delete").status_code == 404


def test_marking_preferred_on_an_inactive_supplier_shows_the_rule(client, purchasing,
                                                                  create_supplier, dummy_sku):
    supplier = create_supplier("OLD", active=False)
    response = client.post(f"/procurement/suppliers/{supplier.id}/items",
                           data={"sku": "TS-RED-M", "unit_price": "1", "moq": "1",
                                 "pack_multiple": "1", "preferred": "y"})
    assert response.status_code == 422
    assert "you must reactivate the supplier first" in text(response)
    assert services.preferred_supplier_item(dummy_sku.id) is None


# --------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}], ids=["csrf"])
def test_supplier_posts_need_the_csrf_token(client, create_user, dummy_supplier,
                                            create_supplier_item, dummy_sku):
    item = create_supplier_item(dummy_supplier, dummy_sku, unit_price="1.00")
    create_user("buyer", roles=("purchasing",))
    login_page = text(client.get("/login"))
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1)
    assert client.post("/login", data={"username": "buyer", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    for url in (f"/procurement/suppliers/{dummy_supplier.id}/active",
                f"/procurement/supplier-items/{item.id}/delete"):
        assert client.post(url).status_code == 400, url
    response = client.post("/procurement/suppliers/new", data=NEW_SUPPLIER)
    assert response.status_code == 400
    db.session.expire_all()
    assert dummy_supplier.active is True
    assert db.session.get(SupplierItem, item.id) is not None
    assert db.session.scalar(select(Supplier.id).where(Supplier.code == "NINGBO")) is None
    # with the token of the page, the same button works
    page = text(client.get(f"/procurement/suppliers/{dummy_supplier.id}"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/procurement/suppliers/{dummy_supplier.id}/active",
                           data={"csrf_token": token})
    assert response.status_code == 302


def test_supplier_list_queries_do_not_grow_with_the_page(client, purchasing, create_supplier,
                                                         create_supplier_item, count_queries):
    create_supplier_item(create_supplier("FIRST"), None)
    client.get("/procurement/suppliers")  # warm up the template cache
    db.session.expire_all()  # as after the commits below: the signed-in user is read again
    with count_queries() as few:
        assert client.get("/procurement/suppliers").status_code == 200
    for _ in range(5):
        create_supplier_item(create_supplier(), None)
    with count_queries() as many:
        body = text(client.get("/procurement/suppliers"))
    assert many.count == few.count
    assert body.count('<td class="num">1</td>') == 6  # each supplier sells one SKU
