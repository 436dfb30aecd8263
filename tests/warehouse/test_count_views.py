"""Cycle count screens: list, open, detail, line entry, scanner entry, review, PDF and Excel."""

from __future__ import annotations

import base64
import html as htmllib
import io
import re
import zlib

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.count_excel import import_counts
from erp.warehouse.models import CycleCount, CycleCountLine, CycleCountState, StockMove
from erp.warehouse.queries import ledger_problems


@pytest.fixture
def stock(create_sku, create_product, create_bin, receive_stock):
    """RED-M (10) and BLUE-M (4) in A-01-01-01, RED-M (6) in A-01-01-02; A-01-01-03 empty."""
    red = create_sku("RED-M", barcode="4006381333931")
    blue = create_sku("BLUE-M", product=create_product(name="=HYPERLINK(\"http://x\",\"y\")"))
    a1, a2, a3 = (create_bin(f"A-01-01-0{i}") for i in (1, 2, 3))
    receive_stock(red, a1, 10, "2.00")
    receive_stock(blue, a1, 4, "5.00")
    receive_stock(red, a2, 6, "2.00")
    db.session.commit()
    return {"red": red, "blue": blue, "a1": a1, "a2": a2, "a3": a3}


@pytest.fixture
def count(stock):
    """An open count over A-01-01-01 (two lines)."""
    opened = services.open_cycle_count(stock["a1"].warehouse, location_ids=[stock["a1"].id],
                                       note="weekly", actor=None)
    db.session.commit()
    return opened


def html_of(response) -> str:
    """Return the page with entities decoded, so messages read as the user sees them."""
    return htmllib.unescape(response.get_data(as_text=True))


@pytest.fixture
def switch_to(client, login_as):
    """Return ``switch_to(role)``: sign the client out, then in as a new user of ``role``."""

    def do_switch(role: str):
        client.post("/logout")
        return login_as(role)

    return do_switch


def line_of(count, sku_code: str) -> CycleCountLine:
    db.session.expire_all()
    return next(ln for ln in db.session.get(CycleCount, count.id).lines if ln.sku.code == sku_code)


def state_of(count) -> CycleCountState:
    db.session.expire_all()
    return db.session.get(CycleCount, count.id).state


def assert_csp_clean(html: str) -> None:
    """No inline script or style: the CSP allows only files from the app itself."""
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)


def test_count_list_filters_by_state(client, login_as, count):
    login_as("customer_service")  # warehouse.view is enough to read counts
    html = html_of(client.get("/warehouse/counts"))
    assert count.number in html
    assert "frozen" in html
    assert count.number not in html_of(client.get("/warehouse/counts?state=accepted"))
    assert count.number in html_of(client.get("/warehouse/counts?state=open"))
    assert client.get("/warehouse/counts?state=nonsense").status_code == 200
    export = client.get("/warehouse/counts/export.xlsx?state=open")
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    assert sheet["A2"].value == count.number


def test_open_count_form_opens_a_count_over_a_bin_range(client, login_as, stock):
    login_as("warehouse")
    page = client.get("/warehouse/counts/new")
    assert page.status_code == 200
    assert "autofocus" in html_of(page)
    assert 'name="csrf_token"' in html_of(page)
    response = client.post("/warehouse/counts/new", data={
        "warehouse_id": str(stock["a1"].warehouse_id), "bins": "A-01-01-01..A-01-01-02",
        "skus": "", "note": "zone A"})
    assert response.status_code == 302
    opened = db.session.scalars(select(CycleCount)).one()
    assert response.headers["Location"].endswith(f"/warehouse/counts/{opened.id}")
    assert len(opened.lines) == 3
    assert opened.note == "zone A"


def test_open_count_form_shows_errors_and_writes_nothing(client, login_as, stock, count):
    login_as("warehouse")
    response = client.post("/warehouse/counts/new", data={
        "warehouse_id": str(stock["a1"].warehouse_id), "bins": "A-01-01-01", "skus": ""})
    assert response.status_code == 200
    assert f"first finish or cancel cycle count {count.number}" in html_of(response)
    response = client.post("/warehouse/counts/new", data={
        "warehouse_id": str(stock["a1"].warehouse_id), "bins": "Z-*", "skus": ""})
    assert "No active bin of warehouse WH1 matches" in html_of(response)
    assert db.session.scalar(select(func.count()).select_from(CycleCount)) == 1


def test_detail_is_blind_for_counters_and_shows_variance_to_managers(client, login_as, count,
                                                                     switch_to):
    services.record_count(line_of(count, "RED-M"), 7, actor=None)
    db.session.commit()
    login_as("warehouse")
    html = html_of(client.get(f"/warehouse/counts/{count.id}"))
    assert "stock frozen" in html
    assert "Blind count" in html
    assert "Expected" not in html
    assert 'name="counted-' in html
    assert_csp_clean(html)
    switch_to("manager")
    html = html_of(client.get(f"/warehouse/counts/{count.id}"))
    assert "Expected" in html
    assert "-3" in html
    assert "-6.00" in html  # the variance's value at the average cost of 2.00
    assert 'name="counted-' not in html  # managers read; counters count


def test_line_entry_saves_typed_quantities_and_skips_empty_boxes(client, login_as, count):
    login_as("warehouse")
    red, blue = line_of(count, "RED-M"), line_of(count, "BLUE-M")
    response = client.post(f"/warehouse/counts/{count.id}/lines",
                           data={f"counted-{red.id}": "9", f"counted-{blue.id}": ""})
    assert response.status_code == 302
    assert (line_of(count, "RED-M").counted_qty, line_of(count, "BLUE-M").counted_qty) == (9, None)
    client.post(f"/warehouse/counts/{count.id}/lines", data={f"counted-{blue.id}": "x"})
    client.post(f"/warehouse/counts/{count.id}/lines", data={f"counted-{blue.id}": "-2"})
    assert line_of(count, "BLUE-M").counted_qty is None


def test_scanner_entry_keeps_the_bin_and_adds_one_per_scan(client, login_as, count):
    login_as("warehouse")
    page = client.get(f"/warehouse/counts/{count.id}/scan")
    html = html_of(page)
    assert re.search(r'<input[^>]*autofocus[^>]*data-scan="bin_code"', html)
    assert "js/count_scan.js" in html
    assert_csp_clean(html)
    # a bin alone (Enter after scanning it) is remembered and the SKU asked next
    response = client.post(f"/warehouse/counts/{count.id}/scan", data={"bin_code": "a-01-01-01"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("bin=A-01-01-01")
    html = html_of(client.get(response.headers["Location"]))
    assert re.search(r'<input[^>]*autofocus[^>]*data-scan="sku_code"', html)
    for _ in range(2):
        client.post(f"/warehouse/counts/{count.id}/scan",
                    data={"bin_code": "A-01-01-01", "sku_code": "4006381333931"})
    response = client.post(f"/warehouse/counts/{count.id}/scan",
                           data={"bin_code": "A-01-01-01", "sku_code": "RED-M", "qty": "5"},
                           follow_redirects=True)
    assert "RED-M in A-01-01-01: 7 counted." in html_of(response)
    assert line_of(count, "RED-M").counted_qty == 7


def test_scanning_a_bin_label_in_the_sku_field_switches_bins(client, login_as, count, stock):
    login_as("warehouse")
    response = client.post(f"/warehouse/counts/{count.id}/scan",
                           data={"bin_code": "A-01-01-01", "sku_code": "A-01-01-03"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("bin=A-01-01-03")
    assert db.session.scalar(select(func.count()).select_from(CycleCountLine)) == 2


def test_scanner_entry_shows_errors_on_the_field(client, login_as, count):
    login_as("warehouse")
    response = client.post(f"/warehouse/counts/{count.id}/scan",
                           data={"bin_code": "A-01-01-01", "sku_code": "NOPE"})
    assert response.status_code == 200
    assert 'No SKU has the code or barcode "NOPE"' in html_of(response)
    response = client.post(f"/warehouse/counts/{count.id}/scan", data={"bin_code": "Z-9"})
    assert "No active bin" in html_of(response)
    response = client.post(f"/warehouse/counts/{count.id}/scan", data={"bin_code": ""})
    assert "Scan or type a bin code first" in html_of(response)
    assert line_of(count, "RED-M").counted_qty is None


def test_scanning_an_unexpected_sku_adds_a_line(client, login_as, count, stock):
    login_as("warehouse")
    client.post(f"/warehouse/counts/{count.id}/scan",
                data={"bin_code": "A-01-01-03", "sku_code": "BLUE-M"})
    line = db.session.scalar(select(CycleCountLine).where(
        CycleCountLine.location_id == stock["a3"].id))
    assert (line.expected_qty, line.counted_qty) == (0, 1)


def test_add_line_form_adds_a_found_sku(client, login_as, count, stock):
    login_as("warehouse")
    response = client.post(f"/warehouse/counts/{count.id}/lines/add",
                           data={"bin_code": "A-01-01-03", "sku_code": "RED-M", "counted": "2"},
                           follow_redirects=True)
    assert "SKU RED-M in bin A-01-01-03 added" in html_of(response)
    response = client.post(f"/warehouse/counts/{count.id}/lines/add",
                           data={"bin_code": "A-01-01-03", "sku_code": "RED-M"},
                           follow_redirects=True)
    assert "already lists" in html_of(response)


def test_count_review_accept_flow_through_the_screens(client, login_as, switch_to, count):
    login_as("warehouse")
    response = client.post(f"/warehouse/counts/{count.id}/submit", follow_redirects=True,
                           headers={"Referer": f"/warehouse/counts/{count.id}"})
    assert "2 of 2 are not counted yet" in html_of(response)
    assert state_of(count) == CycleCountState.open
    red, blue = line_of(count, "RED-M"), line_of(count, "BLUE-M")
    client.post(f"/warehouse/counts/{count.id}/lines",
                data={f"counted-{red.id}": "8", f"counted-{blue.id}": "4"})
    assert client.post(f"/warehouse/counts/{count.id}/submit").status_code == 302
    assert state_of(count) == CycleCountState.review
    # the counter may not review or accept
    assert client.get(f"/warehouse/counts/{count.id}/review").status_code == 403
    assert client.post(f"/warehouse/counts/{count.id}/accept").status_code == 403

    switch_to("manager")
    html = html_of(client.get(f"/warehouse/counts/{count.id}/review"))
    assert "Accept and post 1 adjustment" in html
    assert 'name="line_ids"' in html
    assert_csp_clean(html)
    # recount the red line, then count and submit it again
    client.post(f"/warehouse/counts/{count.id}/recount",
                data={"line_ids": [str(red.id)], "note": "again"})
    assert state_of(count) == CycleCountState.open
    assert line_of(count, "RED-M").counted_qty is None
    services.record_count(line_of(count, "RED-M"), 9, actor=None)
    services.submit_for_review(db.session.get(CycleCount, count.id), actor=None)
    db.session.commit()
    response = client.post(f"/warehouse/counts/{count.id}/accept", follow_redirects=True)
    assert "accepted" in html_of(response)
    assert state_of(count) == CycleCountState.accepted
    moves = db.session.scalars(select(StockMove).where(StockMove.ref_type == "cycle_count")).all()
    assert [(m.sku.code, m.quantity) for m in moves] == [("RED-M", 1)]
    assert ledger_problems(db.session) == []


def test_cancel_from_the_detail_page(client, login_as, count):
    login_as("warehouse")
    response = client.post(f"/warehouse/counts/{count.id}/cancel", data={"note": "wrong zone"})
    assert response.status_code == 302
    assert state_of(count) == CycleCountState.cancelled
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.cancelled")).one()
    assert event.changes["note"] == "wrong zone"
    # a cancelled count can no longer be cancelled: the error is shown, nothing changes
    response = client.post(f"/warehouse/counts/{count.id}/cancel", follow_redirects=True,
                           headers={"Referer": f"/warehouse/counts/{count.id}"})
    assert 'it is "cancelled"' in html_of(response)


def pdf_texts(data: bytes) -> list[str]:
    """Return the strings a reportlab PDF draws (its page streams are ASCII85 + Flate)."""
    texts = []
    for match in re.finditer(rb"stream\r?\n(.*?)endstream", data, re.S):
        raw = match.group(1).strip().removesuffix(b"~>")
        page = zlib.decompress(base64.a85decode(raw))
        texts += [t.decode("latin-1") for t in re.findall(rb"\((.*?)\) Tj", page)]
    return texts


def test_count_sheet_pdf_is_a_blind_a4_pdf_in_walking_order(client, login_as, count, stock):
    services.record_count(line_of(count, "RED-M"), 7, actor=None)
    db.session.commit()
    login_as("warehouse")
    response = client.get(f"/warehouse/counts/{count.id}/sheet.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in response.data  # A4
    texts = pdf_texts(response.data)
    assert count.number in texts  # under the count's barcode
    # each line: its number, the bin and SKU under their barcodes, in bin then SKU order
    assert texts.index("BLUE-M") < texts.index("RED-M")
    assert texts.count("A-01-01-01") == 2
    # blind: neither the expected (10, 4) nor the counted (7) quantity is printed
    assert not {"10", "4", "7"} & {t.strip() for t in texts}


def test_count_export_is_blind_while_open_and_neutralises_formulas(client, login_as, count):
    login_as("warehouse")
    sheet = openpyxl.load_workbook(io.BytesIO(
        client.get(f"/warehouse/counts/{count.id}/export.xlsx").data)).active
    headers = [c.value for c in sheet[1]]
    assert headers == ["Count number", "Bin", "SKU", "Barcode", "Product", "Variant", "Counted"]
    rows = {r[2]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["BLUE-M"][4] == "'=HYPERLINK(\"http://x\",\"y\")"  # text, never a formula
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    services.record_counts(db.session.get(CycleCount, count.id),
                           {ln.id: 4 for ln in db.session.get(CycleCount, count.id).lines},
                           actor=None)
    services.submit_for_review(db.session.get(CycleCount, count.id), actor=None)
    db.session.commit()
    sheet = openpyxl.load_workbook(io.BytesIO(
        client.get(f"/warehouse/counts/{count.id}/export.xlsx").data)).active
    assert "Expected" in [c.value for c in sheet[1]]


def sheet_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Count lines"
    sheet.append(["Count number", "Bin", "SKU", "Counted"])
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _upload(client, data: bytes, action: str):
    return client.post("/warehouse/counts/import", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(data), "counts.xlsx"), "action": action})


def test_import_dry_run_writes_nothing_then_import_records(client, login_as, count):
    login_as("warehouse")
    assert client.get("/warehouse/counts/import").status_code == 200
    template = client.get("/warehouse/counts/import/template.xlsx")
    assert openpyxl.load_workbook(io.BytesIO(template.data)).active["A1"].value == "Count number"
    data = sheet_bytes([[count.number, "A-01-01-01", "RED-M", 9],
                        [count.number, "A-01-01-01", "BLUE-M", None],
                        [count.number, "A-01-01-03", "4006381333931", 2]])
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = _upload(client, data, "dry_run")
    assert response.status_code == 200
    assert "No errors in counts.xlsx" in html_of(response)
    db.session.expire_all()
    assert line_of(count, "RED-M").counted_qty is None
    assert db.session.scalar(select(func.count()).select_from(CycleCountLine)) == 2
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events

    response = _upload(client, data, "import")
    assert response.status_code == 302
    assert line_of(count, "RED-M").counted_qty == 9
    assert line_of(count, "BLUE-M").counted_qty is None
    found = db.session.scalar(select(CycleCountLine).where(CycleCountLine.expected_qty == 0))
    assert (found.location.code, found.counted_qty) == ("A-01-01-03", 2)


def test_import_with_errors_is_all_or_nothing(client, login_as, count, stock):
    other = services.open_cycle_count(stock["a2"].warehouse, location_ids=[stock["a2"].id],
                                      note=None, actor=None)
    db.session.commit()
    login_as("warehouse")
    data = sheet_bytes([[count.number, "A-01-01-01", "RED-M", 9],
                        [count.number, "A-01-01-02", "RED-M", 1],  # counted by the other count
                        [count.number, "Z-9", "RED-M", 1],
                        ["CC-1999-000001", "A-01-01-01", "RED-M", 1],
                        [count.number, "A-01-01-01", "red-m", 3],
                        [count.number, "A-01-01-01", "BLUE-M", -1]])
    response = _upload(client, data, "import")
    html = html_of(response)
    assert "5 errors in counts.xlsx" in html
    assert other.number in html
    assert "No active bin" in html
    assert "no cycle count has the number" in html
    assert "also in row 2" in html
    assert line_of(count, "RED-M").counted_qty is None


def test_import_refuses_counts_that_are_not_open(app, count):
    services.record_counts(count, {ln.id: 1 for ln in count.lines}, actor=None)
    services.submit_for_review(count, actor=None)
    db.session.commit()
    result = import_counts(sheet_bytes([[count.number, "A-01-01-01", "RED-M", 9]]),
                           dry_run=False, actor=None)
    assert [e.message for e in result.errors] == [
        f"cycle count {count.number} is review; only an open count takes counted quantities"]


def test_export_then_import_round_trip_changes_nothing(client, login_as, count):
    login_as("warehouse")
    services.record_count(line_of(count, "RED-M"), 5, actor=None)
    db.session.commit()
    data = client.get(f"/warehouse/counts/{count.id}/export.xlsx").data
    result = import_counts(data, filename="count.xlsx", dry_run=False, actor=None)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (0, 0, 2)
