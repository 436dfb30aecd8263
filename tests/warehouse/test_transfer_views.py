"""Transfer screens: list, new, the transfer page's actions, scanner receipt, labels, Excel."""

from __future__ import annotations

import html as htmllib
import io

import openpyxl
import pypdf
import pytest

from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.models import TransferOrder, TransferState
from erp.warehouse.services import TransferLineSpec
from tests.pdfcheck import check_layout


def html_of(response) -> str:
    return htmllib.unescape(response.get_data(as_text=True))


@pytest.fixture
def lax(app):
    warehouse = services.create_warehouse(code="US-LAX", name="Los Angeles returns",
                                          country="US", address="1 Dock St\nLos Angeles CA",
                                          actor=None)
    services.create_location(warehouse, code="RCV-01", kind="receiving", pick_sequence=1,
                             actor=None)
    return warehouse


@pytest.fixture
def stock(create_sku, create_bin, receive_stock, lax):
    sku = create_sku("TR-A", barcode="4006381333931")
    other = create_sku("TR-B")
    bin_ = create_bin("A-01-01-01")
    receive_stock(sku, bin_, 10, "2.00")
    receive_stock(other, bin_, 3, "4.00")
    db.session.commit()
    return {"sku": sku, "other": other, "bin": bin_, "lax": lax}


def make(stock, state=TransferState.draft, cartons=2):
    transfer = services.create_transfer(
        stock["bin"].warehouse, stock["lax"],
        [TransferLineSpec(stock["sku"].id, stock["bin"].id, 4),
         TransferLineSpec(stock["other"].id, stock["bin"].id, 1)],
        actor=None, cartons=cartons, carrier="DHL")
    if state != TransferState.draft:
        services.pick_transfer(transfer, actor=None)
    if state in (TransferState.shipped, TransferState.received):
        services.ship_transfer(transfer, cartons=cartons, actor=None)
    db.session.commit()
    return transfer


@pytest.mark.parametrize("role", ["warehouse", "manager", "customer_service", "purchasing"])
def test_every_role_reads_list_and_page_but_only_warehouse_staff_act(client, login_as, stock,
                                                                    role):
    transfer = make(stock)
    login_as(role)
    listing = client.get("/warehouse/transfers")
    assert listing.status_code == 200
    assert transfer.number in html_of(listing)
    page = client.get(f"/warehouse/transfers/{transfer.id}")
    assert page.status_code == 200
    acts = role == "warehouse"
    assert ('name="pick-' in html_of(page)) is acts
    assert (client.get("/warehouse/transfers/new").status_code == 200) is acts
    answer = client.post(f"/warehouse/transfers/{transfer.id}/cancel", data={"reason": "x"})
    assert answer.status_code == (302 if acts else 403)


def test_new_transfer_form_drafts_and_refuses_bad_lines(client, login_as, stock):
    login_as("warehouse")
    source, target = stock["bin"].warehouse, stock["lax"]
    answer = client.post("/warehouse/transfers/new", data={
        "from_warehouse_id": source.id, "to_warehouse_id": target.id,
        "lines": "TR-A 3\nTR-B 1 A-01-01-01", "cartons": "1", "carrier": "SF"})
    assert answer.status_code == 302
    transfer = db.session.scalar(db.select(TransferOrder))
    assert [(ln.sku.code, ln.quantity) for ln in transfer.lines] == [("TR-A", 3), ("TR-B", 1)]
    refused = client.post("/warehouse/transfers/new", data={
        "from_warehouse_id": source.id, "to_warehouse_id": target.id, "lines": "TR-A 3\nTR-B 9"})
    assert refused.status_code == 422
    assert "Line 2 (SKU TR-B): warehouse WH1 has 3 available" in html_of(refused)
    same = client.post("/warehouse/transfers/new", data={
        "from_warehouse_id": source.id, "to_warehouse_id": source.id, "lines": "TR-A 1"})
    assert same.status_code == 422
    assert "one warehouse to another" in html_of(same)


def test_pick_ship_receive_through_the_page(client, login_as, stock):
    transfer = make(stock)
    login_as("warehouse")
    lines = {ln.sku.code: ln.id for ln in transfer.lines}
    assert client.post(f"/warehouse/transfers/{transfer.id}/pick",
                       data={f"pick-{lines['TR-A']}": "4"}).status_code == 302
    shipped = client.post(f"/warehouse/transfers/{transfer.id}/ship",
                          data={"cartons": "3", "carrier": "DHL", "reference": "JD1"})
    assert shipped.status_code == 302
    page = html_of(client.get(f"/warehouse/transfers/{transfer.id}"))
    assert "Receive by scanning" in page
    assert "US-LAX/IN-TRANSIT" in page
    stock_page = html_of(client.get(f"/warehouse/stock/sku/{stock['sku'].id}"))
    assert "In transit" in stock_page
    short = client.post(f"/warehouse/transfers/{transfer.id}/receive",
                        data={f"qty-{lines['TR-A']}": "3", "bin": "RCV-01"},
                        follow_redirects=True)
    assert "give the reason" in html_of(short)
    done = client.post(f"/warehouse/transfers/{transfer.id}/receive",
                       data={f"qty-{lines['TR-A']}": "3", "bin": "RCV-01",
                             f"reason-{lines['TR-A']}": "crushed carton"},
                       follow_redirects=True)
    assert "1 unit short" in html_of(done)
    db.session.expire_all()
    assert transfer.state == TransferState.received
    assert "crushed carton" in html_of(client.get(f"/warehouse/transfers/{transfer.id}"))
    assert queries.ledger_problems(db.session) == []


def test_a_repeated_pick_acts_once(client, login_as, stock):
    transfer = make(stock)
    login_as("warehouse")
    for _ in range(2):
        client.post(f"/warehouse/transfers/{transfer.id}/pick", data={})
    db.session.expire_all()
    assert transfer.state == TransferState.picked
    assert transfer.picked_qty == 5
    assert queries.ledger_problems(db.session) == []


def test_scanner_receipt_counts_scans_then_receives(client, login_as, stock):
    transfer = make(stock, TransferState.shipped)
    login_as("warehouse")
    url = f"/warehouse/transfers/{transfer.id}/receive/scan"
    screen = client.get(url)
    assert screen.status_code == 200
    assert "autofocus" in html_of(screen)
    answer = client.get(url, query_string={"scan": "4006381333931", "qty": "4"})
    assert answer.status_code == 302
    tally = answer.headers["Location"].split("tally=")[1].split("&")[0]
    answer = client.get(url, query_string={"scan": "TR-B", "tally": tally.replace("%3A", ":")
                                           .replace("%2C", ",")})
    assert answer.status_code == 302
    over = client.get(url, query_string={"scan": "TR-B", "tally": f"{transfer.lines[1].id}:1"})
    assert over.status_code == 422
    assert "would make more" in html_of(over)
    unknown = client.get(url, query_string={"scan": "NOPE"})
    assert unknown.status_code == 422
    form = {f"qty-{ln.id}": str(ln.picked_qty) for ln in transfer.lines}
    received = client.post(f"/warehouse/transfers/{transfer.id}/receive",
                           data={**form, "from_scan": "1"}, follow_redirects=True)
    assert "received in full" in html_of(received)


def test_carton_labels_one_page_per_carton(client, login_as, stock):
    transfer = make(stock, TransferState.picked, cartons=3)
    login_as("manager")
    answer = client.get(f"/warehouse/transfers/{transfer.id}/labels.pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(answer.data))
    assert len(reader.pages) == 3
    text = reader.pages[1].extract_text()
    assert transfer.number in text
    assert "Carton 2 of 3" in text
    assert "US-LAX" in text
    check_layout(answer.data)


def test_list_filters_paginates_and_exports(client, login_as, stock):
    draft = make(stock)
    shipped = make(stock, TransferState.shipped)
    login_as("manager")
    only = html_of(client.get("/warehouse/transfers", query_string={"state": "shipped"}))
    assert shipped.number in only
    assert draft.number not in only
    found = html_of(client.get("/warehouse/transfers", query_string={"q": draft.number}))
    assert draft.number in found
    assert shipped.number not in found
    by_sku = html_of(client.get("/warehouse/transfers", query_string={"q": "4006381333931"}))
    assert draft.number in by_sku
    export = client.get("/warehouse/transfers/export.xlsx", query_string={"state": "shipped"})
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    numbers = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert shipped.number in numbers
    assert draft.number not in numbers


def test_valuation_page_shows_in_transit_apart(client, login_as, stock):
    make(stock, TransferState.shipped)
    login_as("manager")
    page = html_of(client.get("/warehouse/valuation"))
    assert "Of which in transit between warehouses" in page
    export = client.get("/warehouse/valuation/export.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    headers = [c.value for c in next(sheet.iter_rows(min_row=1, max_row=1))]
    assert "In transit" in headers


def test_header_search_finds_a_transfer_by_number_or_reference(client, login_as, stock):
    transfer, second = make(stock), make(stock)
    login_as("customer_service")
    answer = client.get("/search", query_string={"find": transfer.number})
    assert answer.status_code == 302
    assert answer.headers["Location"].endswith(f"/warehouse/transfers/{transfer.id}")
    partial = html_of(client.get("/search", query_string={"find": transfer.number[:6]}))
    assert transfer.number in partial
    assert second.number in partial
