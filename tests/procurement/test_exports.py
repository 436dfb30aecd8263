"""Excel exports of purchase orders, their lines and receipts: the list's filters, safe text."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import Receipt

TODAY = date.today()


def sheet_rows(response) -> list[dict]:
    """Return the rows of an exported workbook as dicts by header."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype.endswith("spreadsheetml.sheet")
    header, *rows = load_workbook(io.BytesIO(response.data)).active.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


@pytest.fixture
def orders(create_purchase_order, purchase_order_in, create_supplier_row, create_sku,
           create_supplier_item_row):
    """Orders of two suppliers in several states, with dates set apart.

    - SUP-A: a draft created 40 days ago; an ordered order 20 days late; a received one.
    - SUP-B: an approved order; a partially received one.
    """
    sup_a = create_supplier_row("SUP-A", name="Alpha Mill")
    sup_b = create_supplier_row("SUP-B", name="=HYPERLINK(\"http://evil\",\"Beta\")")

    def lines_of(supplier, code, quantity=10):
        sku = create_sku(code)
        create_supplier_item_row(supplier, sku, "2.5000", supplier_code=f"@{code}")
        return [(sku, quantity)]

    made = {
        "draft": create_purchase_order(sup_a, lines_of(sup_a, "A-DRAFT"), "draft"),
        "late": create_purchase_order(sup_a, lines_of(sup_a, "A-LATE"), "ordered",
                                      expected_date=TODAY - timedelta(days=20)),
        "received": purchase_order_in("received", supplier=sup_a,
                                      lines=lines_of(sup_a, "A-RCVD")),
        "approved": create_purchase_order(sup_b, lines_of(sup_b, "B-APPR"), "approved"),
        "partial": purchase_order_in("partially_received", supplier=sup_b,
                                     lines=lines_of(sup_b, "B-PART")),
    }
    made["draft"].created_at = datetime.now(UTC) - timedelta(days=40)
    db.session.commit()
    return {"sup_a": sup_a, "sup_b": sup_b, **made}


def test_purchase_order_export_applies_the_list_filters(client, login_as, orders):
    login_as("purchasing")
    url = "/procurement/purchase-orders/export.xlsx"
    everything = sheet_rows(client.get(url))
    assert len(everything) == 5
    assert {r["Number"] for r in everything} == {
        po.reference for key, po in orders.items() if key not in ("sup_a", "sup_b")}
    by_supplier = sheet_rows(client.get(f"{url}?supplier={orders['sup_b'].id}"))
    assert {r["Number"] for r in by_supplier} == {orders["approved"].number,
                                                  orders["partial"].number}
    drafts = sheet_rows(client.get(f"{url}?state=draft"))
    assert [r["Number"] for r in drafts] == [f"draft #{orders['draft'].id}"]
    assert drafts[0]["State"] == "draft"
    receivable = sheet_rows(client.get(f"{url}?state=receivable"))
    assert {r["Number"] for r in receivable} == {orders["late"].number, orders["partial"].number}
    overdue = sheet_rows(client.get(f"{url}?overdue=yes"))
    assert [(r["Number"], r["Overdue"]) for r in overdue] == [(orders["late"].number, True)]
    old = (TODAY - timedelta(days=45)).isoformat()
    recent = sheet_rows(client.get(f"{url}?date_from={old}&date_to="
                                   f"{(TODAY - timedelta(days=30)).isoformat()}"))
    assert [r["Number"] for r in recent] == [f"draft #{orders['draft'].id}"]
    ordered_today = sheet_rows(client.get(f"{url}?date_field=ordered&date_from="
                                          f"{TODAY.isoformat()}"))
    assert {r["Number"] for r in ordered_today} == {orders["late"].number,
                                                    orders["received"].number,
                                                    orders["partial"].number}
    row = next(r for r in everything if r["Number"] == orders["late"].number)
    assert (row["Supplier"], row["Lines"], row["Total"], row["Currency"]) == (
        "SUP-A", 1, 25, "USD")
    assert row["Expected"].date() == TODAY - timedelta(days=20)


def test_purchase_order_export_matches_the_list_search(client, login_as, orders):
    login_as("manager")
    rows = sheet_rows(client.get("/procurement/purchase-orders/export.xlsx?q=alpha"))
    assert len(rows) == 3
    assert {r["Supplier"] for r in rows} == {"SUP-A"}


def test_purchase_order_line_export_applies_the_list_filters(client, login_as, orders):
    login_as("warehouse")
    url = "/procurement/purchase-orders/lines-export.xlsx"
    assert len(sheet_rows(client.get(url))) == 5
    rows = sheet_rows(client.get(f"{url}?supplier={orders['sup_b'].id}&state=receivable"))
    assert len(rows) == 1
    [row] = rows
    assert (row["Order"], row["SKU"], row["Ordered"], row["Received"], row["Remaining"]) == (
        orders["partial"].number, "B-PART", 10, 4, 6)
    assert (row["Unit price"], row["Amount"], row["Currency"]) == (2.5, 25, "USD")
    overdue = sheet_rows(client.get(f"{url}?overdue=yes"))
    assert [r["SKU"] for r in overdue] == ["A-LATE"]


def test_receipt_export_applies_filters(client, login_as, orders):
    login_as("purchasing")
    url = "/procurement/receipts/export.xlsx"
    rows = sheet_rows(client.get(url))
    assert {(r["Order"], r["SKU"], r["Quantity"]) for r in rows} == {
        (orders["received"].number, "A-RCVD", 10), (orders["partial"].number, "B-PART", 4)}
    row = next(r for r in rows if r["SKU"] == "B-PART")
    assert (row["Bin"], row["Receipt state"], row["Unit cost (base)"], row["Value (base)"]) == (
        "WH1/RCV-01", "posted", 2.5, 10)
    assert row["Receipt"].startswith("RCV-")
    only_b = sheet_rows(client.get(f"{url}?supplier={orders['sup_b'].id}"))
    assert [r["SKU"] for r in only_b] == ["B-PART"]
    # received on a date range: move one receipt back a week
    receipt = db.session.scalars(db.select(Receipt).where(
        Receipt.order_id == orders["partial"].id)).one()
    receipt.received_at = datetime.now(UTC) - timedelta(days=7)
    db.session.commit()
    # dates from the clock now, not from when the module was imported (a run across midnight)
    today = datetime.now(UTC).date()
    week_ago = (today - timedelta(days=7)).isoformat()
    assert [r["SKU"] for r in sheet_rows(client.get(
        f"{url}?received_from={week_ago}&received_to={week_ago}"))] == ["B-PART"]
    assert [r["SKU"] for r in sheet_rows(client.get(
        f"{url}?received_from={today.isoformat()}"))] == ["A-RCVD"]


def test_reversed_receipts_show_as_reversed(client, login_as, orders):
    login_as("purchasing")
    receipt = orders["partial"].receipts[0]
    services.reverse_receipt(receipt, actor=None, reason="wrong delivery")
    db.session.commit()
    rows = sheet_rows(client.get("/procurement/receipts/export.xlsx?state=ordered"))
    assert [(r["SKU"], r["Receipt state"]) for r in rows] == [("B-PART", "reversed")]


def test_exports_neutralise_formulas(client, login_as, orders):
    login_as("purchasing")
    [po_row] = sheet_rows(client.get(
        f"/procurement/purchase-orders/export.xlsx?supplier={orders['sup_b'].id}"
        "&state=approved"))
    assert po_row["Supplier name"] == "'=HYPERLINK(\"http://evil\",\"Beta\")"
    [line] = sheet_rows(client.get(
        f"/procurement/purchase-orders/lines-export.xlsx?supplier={orders['sup_b'].id}"
        "&state=approved"))
    assert line["Supplier's code"] == "'@B-APPR"
    raw = client.get("/procurement/purchase-orders/export.xlsx").data
    sheet = load_workbook(io.BytesIO(raw)).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_exports_need_procurement_view(client, login_as):
    login_as("customer_service")
    for url in ("/procurement/purchase-orders/export.xlsx",
                "/procurement/purchase-orders/lines-export.xlsx",
                "/procurement/receipts/export.xlsx", "/procurement/replenishment/export.xlsx"):
        assert client.get(url).status_code == 403, url


def test_purchase_order_lists_link_to_the_exports_with_their_filters(client, login_as):
    login_as("manager")
    page = client.get("/procurement/purchase-orders?state=ordered&supplier=7&overdue=yes")
    html = page.get_data(as_text=True)
    for endpoint in ("purchase-orders/export.xlsx", "purchase-orders/lines-export.xlsx",
                     "receipts/export.xlsx"):
        link = html.split(f'href="/procurement/{endpoint}?', 1)[1].split('"', 1)[0]
        assert "state=ordered" in link
        assert "supplier=7" in link
        assert "overdue=yes" in link
    waiting = client.get("/procurement/purchase-orders/awaiting-approval").get_data(as_text=True)
    assert "/procurement/purchase-orders/export.xlsx?state=awaiting_approval" in waiting
