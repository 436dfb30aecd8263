"""Landed cost screens: draft by purchasing, preview, post by a manager, list, export, links."""

from __future__ import annotations

import html
import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import LandedCost, LandedCostState


@pytest.fixture
def received(create_purchase_order, create_sku, receiving_bin):
    """Two receipts of one order: 10 x LCV-A at 4.00 and 30 x LCV-B at 2.00."""
    a, b = create_sku("LCV-A", weight_g=100), create_sku("LCV-B", weight_g=0)
    po = create_purchase_order(lines=[(a, 10, "4.00"), (b, 30, "2.00")], state="ordered")
    r1 = services.receive_purchase_order(po, {po.lines[0].id: 10}, location=receiving_bin,
                                         actor=None)
    r2 = services.receive_purchase_order(po, {po.lines[1].id: 30}, location=receiving_bin,
                                         actor=None)
    db.session.commit()
    return po, r1, r2


def _form(receipts: str, method: str = "value", **charges) -> dict:
    data = {"receipts": receipts, "method": method, "note": "Sea freight SZX-HAM"}
    rows = charges or {"0": ("freight", "50.00", "USD", "Kerry")}
    for n, (kind, amount, currency, vendor) in rows.items():
        data.update({f"charges-{n}-kind": kind, f"charges-{n}-amount": amount,
                     f"charges-{n}-currency": currency, f"charges-{n}-vendor": vendor})
    return data


def test_purchasing_drafts_by_purchase_order_and_sees_the_preview(client, login_as, received):
    po, r1, r2 = received
    login_as("purchasing")
    page = client.get(f"/procurement/landed-costs/new?receipts={po.number}")
    assert page.status_code == 200
    assert po.number in page.get_data(as_text=True)
    response = client.post("/procurement/landed-costs/new", data=_form(po.number))
    assert response.status_code == 302, response.get_data(as_text=True)
    lc = db.session.scalar(select(LandedCost))
    assert [r.number for r in lc.receipts] == [r1.number, r2.number]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Allocation preview" in page
    # 40 : 60 of 50.00 by value
    assert "20.00 USD" in page
    assert "30.00 USD" in page
    assert "Post landed cost" not in page  # a manager posts
    assert client.post(f"/procurement/landed-costs/{lc.id}/post").status_code == 403


def test_weight_preview_names_the_sku_without_weight(client, login_as, received):
    po, r1, r2 = received
    login_as("purchasing")
    response = client.post("/procurement/landed-costs/new", data=_form(po.number, "weight"))
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "every SKU needs a weight; LCV-B has none" in page


def test_unknown_receipt_is_shown_on_the_field(client, login_as, received):
    login_as("purchasing")
    response = client.post("/procurement/landed-costs/new", data=_form("RCV-NOPE"))
    assert response.status_code == 422
    assert "is neither a receipt nor a purchase order number" in response.get_data(as_text=True)
    assert db.session.scalar(select(LandedCost)) is None


def test_manager_posts_and_the_page_shows_the_adjustments(client, login_as, received):
    po, r1, r2 = received
    lc = services.create_landed_cost(receipts=[r1, r2], method="quantity", actor=None,
                                     charges=[services.ChargeSpec("duty", "8.00", "USD")])
    db.session.commit()
    login_as("manager")
    response = client.post(f"/procurement/landed-costs/{lc.id}/post")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(LandedCost, lc.id).state == LandedCostState.posted
    page = client.get(f"/procurement/landed-costs/{lc.id}").get_data(as_text=True)
    assert "Value adjustments posted" in page
    assert "revaluation" in page
    assert "Reverse landed cost" in page
    # the receipt and the order link to it
    assert lc.number in client.get(f"/procurement/receipts/{r1.id}").get_data(as_text=True)
    assert lc.number in client.get(
        f"/procurement/purchase-orders/{po.id}").get_data(as_text=True)
    response = client.post(f"/procurement/landed-costs/{lc.id}/reverse",
                           data={"reason": "wrong shipment"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(LandedCost, lc.id).state == LandedCostState.reversed


def test_list_search_and_export(client, login_as, received):
    po, r1, r2 = received
    lc = services.create_landed_cost(receipts=[r1], method="value", actor=None,
                                     charges=[services.ChargeSpec("freight", "12.00", "EUR",
                                                                  "DHL Global")])
    services.create_landed_cost(receipts=[r2], method="value", actor=None,
                                charges=[services.ChargeSpec("other", "1.00", "USD")])
    db.session.commit()
    login_as("purchasing")
    page = client.get("/procurement/landed-costs?q=dhl").get_data(as_text=True)
    assert lc.number in page
    assert page.count("LC-") == 1
    page = client.get(f"/procurement/landed-costs?q={r2.number}&state=draft")
    assert lc.number not in page.get_data(as_text=True)
    response = client.get("/procurement/landed-costs/export.xlsx?q=dhl")
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0] == lc.number
    assert "DHL Global" in rows[1][5]
    assert "12.00 EUR" in rows[1][5]
    assert len(rows) == 2


def test_draft_is_edited_until_posted(client, login_as, received):
    po, r1, r2 = received
    lc = services.create_landed_cost(receipts=[r1], method="value", actor=None,
                                     charges=[services.ChargeSpec("freight", "12.00", "USD")])
    db.session.commit()
    login_as("purchasing")
    page = client.get(f"/procurement/landed-costs/{lc.id}/edit")
    assert page.status_code == 200
    assert "12.00" in page.get_data(as_text=True)
    response = client.post(f"/procurement/landed-costs/{lc.id}/edit",
                           data=_form(f"{r1.number}\n{r2.number}", "quantity",
                                      **{"0": ("insurance", "3.50", "USD", "")}))
    assert response.status_code == 302
    db.session.expire_all()
    lc = db.session.get(LandedCost, lc.id)
    assert [(c.kind, c.amount) for c in lc.charges] == [("insurance", Decimal("3.5000"))]
    assert len(lc.receipts) == 2


def test_header_search_opens_a_landed_cost_by_number(client, login_as, received):
    po, r1, r2 = received
    lc = services.create_landed_cost(receipts=[r1], method="value", actor=None,
                                     charges=[services.ChargeSpec("freight", "1.00", "USD")])
    db.session.commit()
    login_as("manager")
    response = client.get("/search", query_string={"find": lc.number.lower()})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/procurement/landed-costs/{lc.id}")
    client.post("/logout")
    login_as("customer_service")  # may not view purchasing: the kind is not searched
    response = client.get("/search", query_string={"find": lc.number})
    assert response.status_code == 200, response.headers.get("Location")
    assert f"/procurement/landed-costs/{lc.id}" not in response.get_data(as_text=True)


def _sheet(rows) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Kind", "Amount", "Currency", "Forwarder or vendor"])
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_charges_import_from_excel_is_all_or_nothing(client, login_as, received):
    po, r1, r2 = received
    lc = services.create_landed_cost(receipts=[r1, r2], method="value", actor=None,
                                     charges=[services.ChargeSpec("freight", "12.00", "USD")])
    db.session.commit()
    login_as("purchasing")
    template = client.get("/procurement/landed-costs/charges-template.xlsx")
    assert template.status_code == 200
    url = f"/procurement/landed-costs/{lc.id}/charges/import"

    # a bad row: nothing changes, and the message names the row, the column and the reason
    bad = _sheet([("freight", "80.00", "CNY", "Kerry"), ("duty", "-5", "USD", ""),
                  ("tax", "1", "USD", "")])
    response = client.post(url, data={"file": (io.BytesIO(bad), "charges.xlsx")},
                           follow_redirects=True)
    page = html.unescape(response.get_data(as_text=True))
    assert 'Row 3, column "Amount": must be above zero' in page
    assert 'Row 4, column "Kind"' in page
    db.session.expire_all()
    assert [(c.kind, c.amount) for c in db.session.get(LandedCost, lc.id).charges] == [
        ("freight", Decimal("12.0000"))]

    # a good file, checked first (dry run), then applied
    good = _sheet([("freight", "80.00", "cny", "Kerry"), ("insurance", "3.25", "USD", "")])
    page = client.post(url, data={"file": (io.BytesIO(good), "charges.xlsx"), "dry_run": "yes"},
                       follow_redirects=True).get_data(as_text=True)
    assert "2 rows checked, no errors found." in page
    db.session.expire_all()
    assert len(db.session.get(LandedCost, lc.id).charges) == 1
    response = client.post(url, data={"file": (io.BytesIO(good), "charges.xlsx")})
    assert response.status_code == 302
    db.session.expire_all()
    assert [(c.kind, c.amount, c.currency, c.vendor)
            for c in db.session.get(LandedCost, lc.id).charges] == [
        ("freight", Decimal("80.0000"), "CNY", "Kerry"),
        ("insurance", Decimal("3.2500"), "USD", None)]
