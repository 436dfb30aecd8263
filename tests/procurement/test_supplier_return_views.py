"""Supplier return screens: from quarantine to the claim, payment, statement, PDF and roles."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from erp.extensions import db
from erp.procurement import documents, services
from erp.procurement.return_models import (
    SupplierClaim,
    SupplierClaimState,
    SupplierReturn,
    SupplierReturnState,
)
from erp.warehouse import services as warehouse_services
from tests.pdfcheck import check_layout

TODAY = date.today()


@pytest.fixture
def stock(purchase_order_in, create_bin, receiving_bin, create_sku, create_supplier_row):
    """Supplier RETSUP (USD), SKU RET-1 bought 10 at 5.00; 4 in quarantine bin WH1/Q-01."""
    supplier = create_supplier_row("RETSUP", address="9 Factory Road\nDongguan")
    sku = create_sku("RET-1")
    purchase_order_in("received", supplier=supplier, lines=[(sku, 10, "5.00")])
    quarantine = create_bin("Q-01", kind="quarantine")
    warehouse_services.transfer(sku, receiving_bin, quarantine, 4, actor=None)
    db.session.commit()
    return {"supplier": supplier, "sku": sku, "quarantine": quarantine}


def _post(client, url, data=None):
    return client.post(url, data=data or {}, follow_redirects=False)


def test_purchasing_returns_from_quarantine_and_ships(client, login_as, stock):
    login_as("purchasing")
    supplier, sku, quarantine = stock["supplier"], stock["sku"], stock["quarantine"]
    page = client.get(f"/procurement/suppliers/{supplier.id}/quarantine")
    assert page.status_code == 200
    assert "RET-1" in page.get_data(as_text=True)
    response = _post(client, f"/procurement/suppliers/{supplier.id}/quarantine",
                     {f"qty-{sku.id}-{quarantine.id}": "3", "reason": "open seams"})
    assert response.status_code == 302, response.get_data(as_text=True)
    ret = db.session.scalar(select(SupplierReturn))
    assert ret.lines[0].quantity == 3
    assert (ret.lines[0].ref_type, ret.lines[0].ref_id) == ("quarantine", quarantine.id)
    detail = client.get(f"/procurement/supplier-returns/{ret.id}").get_data(as_text=True)
    assert "15.00" in detail
    assert "Ship to supplier" in detail

    # a line for more than the bin holds is refused on the form, naming the bin
    refused = _post(client, f"/procurement/supplier-returns/{ret.id}/lines",
                    {"sku": "RET-1", "bin": "Q-01", "quantity": "2"})
    assert refused.status_code == 422
    assert "holds 4 available (3 already on this return)" in refused.get_data(as_text=True)

    assert _post(client, f"/procurement/supplier-returns/{ret.id}/ship").status_code == 302
    db.session.expire_all()
    assert ret.state == SupplierReturnState.shipped
    claim = db.session.scalar(select(SupplierClaim))
    assert claim.amount == Decimal("15.00")

    # purchasing may not approve the claim; a manager does
    assert _post(client, f"/procurement/supplier-claims/{claim.id}/approve").status_code == 403
    listing = client.get("/procurement/supplier-returns?q=RETSUP").get_data(as_text=True)
    assert ret.number in listing
    assert claim.number in listing


def test_manager_approves_and_payment_deducts(client, login_as, stock, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    ret = services.create_supplier_return(stock["supplier"], actor=buyer, lines=[
        services.ReturnLineSpec(stock["sku"].id, stock["quarantine"].id, 2)])
    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    login_as("manager")
    claims_page = client.get("/procurement/supplier-claims?state=outstanding")
    assert claim.number in claims_page.get_data(as_text=True)
    assert _post(client, f"/procurement/supplier-claims/{claim.id}/approve").status_code == 302
    db.session.expire_all()
    assert claim.state == SupplierClaimState.approved

    client.post("/logout")
    login_as("purchasing")
    form = client.get(f"/procurement/suppliers/{stock['supplier'].id}/payments/new")
    assert claim.number in form.get_data(as_text=True)
    response = _post(client, f"/procurement/suppliers/{stock['supplier'].id}/payments/new",
                     {"paid_on": TODAY.isoformat(), "amount": "40.00", "reference": "TT-1",
                      "claim": str(claim.id)})
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    assert claim.state == SupplierClaimState.settled

    statement = client.get(f"/procurement/suppliers/{stock['supplier'].id}/statement")
    text = statement.get_data(as_text=True)
    assert statement.status_code == 200
    assert "TT-1" in text
    assert claim.number in text

    # the Excel statement: opening, order, receipt, claim, payment, owed = 50 - 40 - 10 = 0
    xlsx = client.get(f"/procurement/suppliers/{stock['supplier'].id}/statement.xlsx")
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Date", "Entry", "Reference")
    kinds = [r[1] for r in rows[1:]]
    assert kinds == ["opening balance", "purchase order", "receipt", "claim", "payment", "owed"]
    assert [r[7] for r in rows[1:]] == [0, 0, 50, 40, 0, 0]


def test_exports_neutralise_formulas(client, login_as, stock, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    services.create_supplier_return(stock["supplier"], actor=buyer, note="=HYPERLINK(1)")
    stock["supplier"].name = "=cmd|' /C calc'!A0"
    db.session.commit()
    login_as("purchasing")
    data = client.get("/procurement/supplier-returns/export.xlsx").data
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][0].startswith("SR-")
    assert not str(rows[1][3]).startswith("=")
    claims = client.get("/procurement/supplier-claims/export.xlsx")
    assert claims.status_code == 200


def test_supplier_return_pdf_bilingual(app, stock, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    stock["supplier"].language = "zh_Hans_CN"
    ret = services.create_supplier_return(stock["supplier"], actor=buyer, lines=[
        services.ReturnLineSpec(stock["sku"].id, stock["quarantine"].id, 2,
                                reason="seams open")])
    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    pdf = documents.supplier_return_pdf(
        ret, company=documents.Company("Lantern & Loom", "1 Harbour Road\nShenzhen"),
        claim=claim)
    assert pdf.startswith(b"%PDF")
    pages = check_layout(pdf)
    text = " ".join(run.text for page in pages for run in page.runs)
    assert ret.number in text
    assert claim.number in text
    assert "RET-1" in text
    assert "Return to supplier" in text


def test_pdf_route_and_roles(client, login_as, stock, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    ret = services.create_supplier_return(stock["supplier"], actor=buyer)
    db.session.commit()
    login_as("warehouse")
    assert client.get(f"/procurement/supplier-returns/{ret.id}/pdf").status_code == 200
    # warehouse staff read returns but neither ship nor cancel them
    assert _post(client, f"/procurement/supplier-returns/{ret.id}/ship").status_code == 403
    assert _post(client, f"/procurement/supplier-returns/{ret.id}/cancel",
                 {"reason": "x"}).status_code == 403


def test_header_search_finds_a_return_by_its_debit_note(client, login_as, stock, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    ret = services.create_supplier_return(stock["supplier"], actor=buyer, lines=[
        services.ReturnLineSpec(stock["sku"].id, stock["quarantine"].id, 1)])
    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    login_as("purchasing")
    response = client.get(f"/search?find={claim.number}")
    assert response.status_code in (200, 302)
    target = response.headers.get("Location") or response.get_data(as_text=True)
    assert f"/procurement/supplier-returns/{ret.id}" in target


def test_quarantine_lists_a_rejected_inspection_lot_as_its_source(client, login_as, stock,
                                                                  receive_stock):
    # a rejected lot moved into quarantine carries ref_type "inspection" (CONTRACTS B)
    from erp.warehouse.models import LocationKind, MoveKind
    supplier_loc = warehouse_services.virtual_location(LocationKind.supplier)
    warehouse_services.post_move(warehouse_services.MoveSpec(
        stock["sku"].id, supplier_loc.id, stock["quarantine"].id, 5, MoveKind.receipt,
        unit_cost=Decimal("5"), ref_type="inspection", ref_id=42), actor=None)
    db.session.commit()
    login_as("purchasing")
    page = client.get(f"/procurement/suppliers/{stock['supplier'].id}/quarantine")
    assert "inspection lot 42" in page.get_data(as_text=True)
    response = _post(client, f"/procurement/suppliers/{stock['supplier'].id}/quarantine",
                     {f"qty-{stock['sku'].id}-{stock['quarantine'].id}": "9"})
    assert response.status_code == 302
    line = db.session.scalar(select(SupplierReturn)).lines[0]
    assert (line.ref_type, line.ref_id, line.quantity) == ("inspection", 42, 9)


def test_supplier_page_shows_the_account(client, login_as, stock, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    ret = services.create_supplier_return(stock["supplier"], actor=buyer, lines=[
        services.ReturnLineSpec(stock["sku"].id, stock["quarantine"].id, 2)])
    services.ship_supplier_return(ret, actor=buyer)
    services.create_supplier_return(stock["supplier"], actor=buyer)
    db.session.commit()
    login_as("purchasing")
    page = client.get(f"/procurement/suppliers/{stock['supplier'].id}").get_data(as_text=True)
    assert "Owed today" in page
    assert "40.00" in page  # 50.00 received less the 10.00 claim
    assert "1 claim, 10.00" in page
