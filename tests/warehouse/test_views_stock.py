"""Stock screens: by SKU and bin, the stock list, moves, transfers, adjustments, valuation."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.core.models import Setting
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import (
    AdjustmentState,
    LocationKind,
    MoveKind,
    StockAdjustment,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import ledger_problems
from tests.fixtures.core import PASSWORD


def text(response) -> str:
    """Return the page with HTML entities decoded (quotes in messages are escaped)."""
    return html.unescape(response.get_data(as_text=True))


def autofocused(page: str, name: str) -> bool:
    match = re.search(rf'<(?:input|textarea|select)[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


def field_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    value = re.search(r'value="([^"]*)"', match.group(0)) if match else None
    return value.group(1) if value else None


def level(sku, location) -> tuple[int, int]:
    db.session.expire_all()
    lv = db.session.get(StockLevel, (sku.id, location.id))
    return (lv.on_hand, lv.reserved) if lv else (0, 0)


def move_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StockMove))


@pytest.fixture
def switch_to(client, create_user, login):
    """Return ``switch_to(role)``: sign out, then sign in as a (new or known) user of ``role``."""
    users = {}

    def do_switch(role: str):
        client.post("/logout")
        if role not in users:
            users[role] = create_user(role, roles=(role,))
        assert login(users[role].username, PASSWORD).status_code == 302
        return users[role]

    return do_switch


@pytest.fixture
def stocked(dummy_sku, create_bin, receive_stock):
    """TS-RED-M: 10 in WH1/A-01 (3 of them reserved), 4 in WH2/B-01; an empty bin WH1/A-02."""
    a, empty = create_bin("A-01"), create_bin("A-02")
    wh2 = services.create_warehouse(code="WH2", name="Second", country="DE", actor=None)
    b = services.create_location(wh2, code="B-01", kind="storage", actor=None)
    receive_stock(dummy_sku, a, 10, "2.00")
    receive_stock(dummy_sku, b, 4, "2.00")
    services.reserve(dummy_sku, a, 3, ref_type="order_line", ref_id=42, actor=None)
    db.session.commit()
    return dummy_sku, a, empty, b


# --------------------------------------------------------------------------- stock by SKU, bin


def test_stock_by_sku_shows_each_warehouse_and_bin_and_last_moves(client, login_as, stocked):
    sku, a, _, b = stocked
    login_as("customer_service")
    page = text(client.get(f"/warehouse/stock/sku/{sku.id}"))
    assert autofocused(page, "q")
    rows = re.findall(r"<tr><td>(WH\d)</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d+)"
                      r"</td><td class=\"num\">(\d+)</td><td class=\"num\">(\d*)</td></tr>",
                      page)  # the last column: in transit to the warehouse (empty: none)
    assert rows == [("WH1", "10", "3", "7", ""), ("WH2", "4", "0", "4", "")]
    assert f'/warehouse/stock/bin/{a.id}">A-01</a>' in page
    assert f'/warehouse/stock/bin/{b.id}">B-01</a>' in page
    assert page.count("receipt</td>") == 2  # the last moves
    assert "Transfer</a>" not in page  # customer service cannot move stock


def test_stock_sku_search_opens_an_exact_code_or_barcode_and_lists_name_matches(
        client, login_as, stocked, create_sku, create_product):
    sku = stocked[0]
    create_sku("MUG-01", product=create_product(name="Ceramic mug"))
    db.session.commit()
    login_as("warehouse")
    for q in ("ts-red-m", "4006381333931"):
        response = client.get("/warehouse/stock/sku", query_string={"q": q})
        assert response.headers["Location"].endswith(f"/warehouse/stock/sku/{sku.id}"), q
    page = text(client.get("/warehouse/stock/sku", query_string={"q": "ceramic"}))
    assert "MUG-01" in page
    assert "TS-RED-M" not in page
    page = text(client.get("/warehouse/stock/sku", query_string={"q": "nothing-like-it"}))
    assert 'No SKU matches "nothing-like-it".' in page


def test_stock_by_bin_shows_its_contents_and_moves(client, login_as, stocked):
    sku, a, empty, _ = stocked
    login_as("warehouse")
    response = client.get("/warehouse/stock/bin", query_string={"code": "wh1/a-01"})
    assert response.headers["Location"].endswith(f"/warehouse/stock/bin/{a.id}")
    page = text(client.get(f"/warehouse/stock/bin/{a.id}"))
    assert "TS-RED-M" in page
    assert '<td class="num">10</td>\n      <td class="num">3</td>\n      <td class="num">7</td>' \
        in page
    raw = client.get(f"/warehouse/stock/bin/{a.id}").get_data(as_text=True)
    assert "/warehouse/transfer?from_bin=WH1/A-01&amp;sku=TS-RED-M" in raw
    assert "The bin is empty." in text(client.get(f"/warehouse/stock/bin/{empty.id}"))
    page = text(client.get("/warehouse/stock/bin", query_string={"code": "Z-99"}))
    assert "No active bin has the code 'Z-99'." in page


# --------------------------------------------------------------------------- stock list


def listed(page: str) -> list[tuple[str, str]]:
    return re.findall(r'/warehouse/stock/bin/\d+">([^<]+)</a></td>\s*<td>[^<]*</td>\s*'
                      r'<td><a href="/warehouse/stock/sku/\d+">([^<]+)</a>', page)


def test_stock_list_filters_and_pages(client, login_as, stocked, create_sku, create_bin,
                                      receive_stock, app):
    sku, a, _, b = stocked
    other = create_sku("MUG-01")
    receive_stock(other, create_bin("A-03", kind="packing"), 5)
    db.session.commit()
    login_as("manager")
    page = text(client.get("/warehouse/stock"))
    assert autofocused(page, "q")
    assert listed(page) == [("A-01", "TS-RED-M"), ("A-03", "MUG-01"), ("B-01", "TS-RED-M")]
    assert listed(text(client.get(f"/warehouse/stock?warehouse={b.warehouse_id}"))) == [
        ("B-01", "TS-RED-M")]
    assert listed(text(client.get("/warehouse/stock?kind=packing"))) == [("A-03", "MUG-01")]
    assert listed(text(client.get("/warehouse/stock?q=4006381333931"))) == [
        ("A-01", "TS-RED-M"), ("B-01", "TS-RED-M")]
    assert listed(text(client.get("/warehouse/stock?q=A-03"))) == [("A-03", "MUG-01")]
    assert len(listed(text(client.get(f"/warehouse/stock?warehouse={10**30}")))) == 3  # ignored
    app.config["ERP_PAGE_SIZE"] = 2
    page = text(client.get("/warehouse/stock?page=2"))
    assert listed(page) == [("B-01", "TS-RED-M")]
    assert "Page 2 of 2" in page


def test_stock_list_count_matches_the_rows_for_every_filter(stocked, create_sku, create_bin,
                                                           receive_stock):
    from sqlalchemy import func, select

    from erp.warehouse import queries

    sku, a, _, b = stocked
    other = create_sku("MUG-01")
    receive_stock(other, create_bin("A-03", kind="packing"), 5)
    services.reserve(sku, b, 4, ref_type="order_line", ref_id=43, actor=None)
    db.session.commit()
    for filters in (queries.StockFilters(), queries.StockFilters(kind="packing"),
                    queries.StockFilters(warehouse_id=b.warehouse_id),
                    queries.StockFilters(available_only=True),
                    queries.StockFilters(q="MUG-01"),
                    queries.StockFilters(warehouse_id=a.warehouse_id, kind="storage",
                                         available_only=True)):
        rows = db.session.execute(queries.stock_list_query(filters)).all()
        assert db.session.scalar(queries.stock_list_count_query(filters)) == len(rows), filters
    assert db.session.scalar(queries.stock_list_count_query(queries.StockFilters())) == 3
    assert db.session.scalar(select(func.count()).select_from(
        queries.stock_list_query(queries.StockFilters(available_only=True)).subquery())) == 2


def test_stock_list_available_only_hides_fully_reserved_bins(client, login_as, stocked):
    sku, a, _, b = stocked
    services.reserve(sku, b, 4, ref_type="order_line", ref_id=43, actor=None)
    db.session.commit()
    login_as("warehouse")
    assert listed(text(client.get("/warehouse/stock?available=yes"))) == [("A-01", "TS-RED-M")]


def test_stock_export_uses_the_filters(client, login_as, stocked):
    login_as("customer_service")
    response = client.get(f"/warehouse/stock/export.xlsx?warehouse={stocked[3].warehouse_id}")
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows(
        values_only=True))
    assert [r[:8] for r in rows[1:]] == [("WH2", "B-01", "storage", "TS-RED-M", "Cotton T-shirt",
                                          4, 0, 4)]


# --------------------------------------------------------------------------- move history


def test_move_history_filters_sku_bin_kind_dates_and_reference(client, login_as, stocked,
                                                                create_sku, create_bin):
    sku, a, empty, _ = stocked
    services.transfer(sku, a, empty, 2, actor=None, note="tidy up")
    old_bin = create_bin("OLD-01")
    supplier = services.virtual_location(LocationKind.supplier)
    services.post_move(services.MoveSpec(sku.id, supplier.id, old_bin.id, 1, MoveKind.receipt,
                                         ref_type="purchase_order", ref_id=77),
                       actor=None, at=datetime(2020, 5, 1, 12, tzinfo=UTC))
    db.session.commit()
    login_as("customer_service")

    def kinds(**args) -> list[str]:
        page = text(client.get("/warehouse/moves", query_string=args))
        return re.findall(r'<td class="nowrap">[^<]*</td>\s*<td>([^<]+)</td>', page)

    assert autofocused(text(client.get("/warehouse/moves")), "sku")
    assert kinds() == ["transfer", "receipt", "receipt", "receipt"]
    assert kinds(sku="4006381333931") == ["transfer", "receipt", "receipt", "receipt"]
    assert kinds(bin="WH1/A-02") == ["transfer"]
    assert kinds(kind="transfer") == ["transfer"]
    assert kinds(date_to="2020-12-31") == ["receipt"]
    assert kinds(date_from="2021-01-01", kind="receipt") == ["receipt", "receipt"]
    assert kinds(ref_type="purchase_order", ref_id="77") == ["receipt"]
    assert kinds(ref_type="purchase_order", ref_id="78") == []
    # A bin emptied and deactivated since is still found by its code.
    services.transfer(sku, old_bin, empty, 1, actor=None)
    services.update_location(old_bin, kind="storage", pick_sequence=1, active=False, actor=None)
    db.session.commit()
    assert kinds(bin="OLD-01") == ["transfer", "receipt"]
    assert kinds(bin="WH1/OLD-01") == ["transfer", "receipt"]


def test_move_history_with_an_unknown_sku_or_bin_shows_no_moves_but_the_error(
        client, login_as, stocked):
    login_as("warehouse")
    page = text(client.get("/warehouse/moves", query_string={"sku": "NOPE"}))
    assert 'No SKU has the code or barcode "NOPE".' in page
    assert "Correct the filter above to see moves." in page
    assert "receipt</td>" not in page
    page = text(client.get("/warehouse/moves", query_string={"bin": "Z-99"}))
    assert "No active bin has the code 'Z-99'." in page
    response = client.get("/warehouse/moves/export.xlsx", query_string={"sku": "NOPE"},
                          follow_redirects=True)
    assert 'No SKU has the code or barcode "NOPE".' in text(response)


def test_move_history_ignores_an_unknown_kind_instead_of_failing(client, login_as, stocked):
    login_as("warehouse")
    response = client.get("/warehouse/moves", query_string={"kind": "teleport"})
    assert response.status_code == 200
    assert "Not a valid choice" in text(response)


def test_move_history_export_uses_the_filters(client, login_as, stocked):
    sku, a, empty, _ = stocked
    services.transfer(sku, a, empty, 1, actor=None)
    db.session.commit()
    login_as("customer_service")
    response = client.get("/warehouse/moves/export.xlsx", query_string={"kind": "transfer"})
    rows = list(openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows(
        values_only=True))
    assert [(r[1], r[4], r[5], r[6]) for r in rows[1:]] == [
        ("transfer", 1, "WH1/A-01", "WH1/A-02")]


# --------------------------------------------------------------------------- transfer


def test_transfer_form_is_made_for_a_scanner(client, login_as):
    login_as("warehouse")
    page = text(client.get("/warehouse/transfer"))
    assert autofocused(page, "from_bin")
    assert 'class="scanform"' in page
    screen = page.split("<main", 1)[1]  # the screen, not the header
    names = re.findall(r'<input[^>]*name="(\w+)"', screen)
    assert [n for n in names if n not in ("csrf_token", "_submission")] == [
        "from_bin", "sku", "quantity", "to_bin", "note"]
    assert "<script>" not in page  # CSP: scripts come from static files only
    assert "style=" not in page


def test_transfer_moves_stock_then_resets_the_form(client, login_as, stocked):
    sku, a, empty, _ = stocked
    login_as("warehouse")
    response = client.post("/warehouse/transfer", data={
        "from_bin": "wh1/a-01", "sku": "4006381333931", "quantity": "4", "to_bin": "A-02",
        "note": "replenish"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/warehouse/transfer")
    page = text(client.get(response.headers["Location"]))
    assert "Moved 4 × TS-RED-M from WH1/A-01 to WH1/A-02." in page
    assert autofocused(page, "from_bin")
    assert field_value(page, "from_bin") in (None, "")
    assert level(sku, a) == (6, 3)
    assert level(sku, empty) == (4, 0)
    move = db.session.scalar(select(StockMove).where(StockMove.kind == MoveKind.transfer))
    assert (move.note, move.actor.username) == ("replenish", "warehouse")
    assert ledger_problems(db.session) == []


def test_transfer_of_reserved_stock_is_refused_on_the_page_and_nothing_moves(
        client, login_as, stocked):
    sku, a, empty, _ = stocked
    login_as("warehouse")
    before = move_count()
    response = client.post("/warehouse/transfer", data={
        "from_bin": "A-01", "sku": "TS-RED-M", "quantity": "8", "to_bin": "A-02"})
    assert response.status_code == 422
    page = text(response)
    assert ('SKU "TS-RED-M" in bin WH1/A-01 has 10 on hand of which 3 reserved; only 7 can '
            "move, not 8.") in page
    assert field_value(page, "from_bin") == "A-01"  # the scans are kept to correct
    assert field_value(page, "quantity") == "8"
    assert move_count() == before
    assert level(sku, a) == (10, 3)
    assert level(sku, empty) == (0, 0)


@pytest.mark.parametrize(("data", "field", "message"), [
    ({"from_bin": "Z-99"}, "from_bin", "No active bin has the code 'Z-99'."),
    ({"sku": "NOPE"}, "sku", 'No SKU has the code or barcode "NOPE".'),
    ({"to_bin": "Z-98"}, "to_bin", "No active bin has the code 'Z-98'."),
    ({"quantity": "0"}, "quantity", "the quantity must be a whole number above zero, got 0."),
    ({"quantity": "x"}, "quantity", "Not a valid integer value."),
    ({"quantity": "99999999999"}, "quantity", "Enter a number between -1,000,000,000"),
    ({"to_bin": "A-01"}, None, "cannot move to the bin it is in."),
    ({"from_bin": "A-02", "to_bin": "A-01", "quantity": "1"}, None,
     'SKU "TS-RED-M" in bin WH1/A-02 has 0 on hand; cannot take 1.'),
])
def test_transfer_errors_name_the_field_and_keep_focus_there(client, login_as, stocked, data,
                                                            field, message):
    login_as("warehouse")
    before = move_count()
    form = {"from_bin": "A-01", "sku": "TS-RED-M", "quantity": "2", "to_bin": "A-02", **data}
    response = client.post("/warehouse/transfer", data=form)
    page = text(response)
    assert response.status_code == 422
    assert message in page
    if field:
        assert re.search(rf'name="{field}"[^>]*>\s*<div class="error">', page) or \
            re.search(rf'<div class="field has-error[^"]*">\s*<label for="{field}"', page)
        assert autofocused(page, field)
    assert move_count() == before


def test_an_ambiguous_bare_bin_code_asks_for_the_warehouse(client, login_as, stocked):
    sku, a, _, b = stocked
    wh2 = b.warehouse
    services.create_location(wh2, code="A-01", kind="storage", actor=None)
    db.session.commit()
    login_as("warehouse")
    response = client.post("/warehouse/transfer", data={
        "from_bin": "A-01", "sku": "TS-RED-M", "quantity": "1", "to_bin": "A-02"})
    assert "Bin 'A-01' exists in several warehouses; scan or type it as WAREHOUSE/CODE." in \
        text(response)


@pytest.mark.parametrize("role", ["manager", "customer_service", "purchasing"])
def test_only_warehouse_staff_transfer(client, login_as, stocked, role):
    login_as(role)
    before = move_count()
    assert client.get("/warehouse/transfer").status_code == 403
    assert client.post("/warehouse/transfer", data={
        "from_bin": "A-01", "sku": "TS-RED-M", "quantity": "1", "to_bin": "A-02"}
    ).status_code == 403
    assert move_count() == before


# --------------------------------------------------------------------------- adjustments


def adjust(client, quantity: int, *, reason="damaged", bin="A-01", sku="TS-RED-M", note=""):
    return client.post("/warehouse/adjustments/new", data={
        "bin": bin, "sku": sku, "quantity": str(quantity), "reason": reason, "note": note})


def test_adjustment_form_offers_the_reason_codes(client, login_as):
    login_as("warehouse")
    page = text(client.get("/warehouse/adjustments/new?bin=WH1/A-01&sku=TS-RED-M"))
    assert autofocused(page, "quantity")  # bin and SKU came prefilled from the stock page
    for reason in ("damaged", "lost", "found", "expired", "sample", "data_correction", "other"):
        assert f'value="{reason}"' in page


def test_small_adjustment_posts_at_once(client, login_as, stocked):
    sku, a, _, _ = stocked
    login_as("warehouse")
    response = adjust(client, -2, note="crushed box")
    assert response.status_code == 302
    page = text(client.get("/warehouse/adjustments"))
    assert "posted: -2 × TS-RED-M in WH1/A-01, worth 4.00 USD." in page
    adjustment = db.session.scalar(select(StockAdjustment))
    assert (adjustment.state, adjustment.reason.value, adjustment.note) == (
        AdjustmentState.approved, "damaged", "crushed box")
    assert level(sku, a) == (8, 3)
    assert ledger_problems(db.session) == []


def test_adjustment_above_threshold_waits_for_a_manager_then_posts(client, switch_to, stocked):
    sku, a, _, _ = stocked
    switch_to("warehouse")
    before = move_count()
    response = adjust(client, 150, reason="found", note="pallet behind rack")
    page = text(client.get(response.headers["Location"]))
    assert ("is above the approval threshold and waits for a manager; nothing has moved yet."
            in page)
    adjustment = db.session.scalar(select(StockAdjustment))
    assert adjustment.state == AdjustmentState.pending
    assert adjustment.value == Decimal("300.00")
    assert move_count() == before
    assert level(sku, a) == (10, 3)
    # The warehouse role may not decide.
    assert client.post(f"/warehouse/adjustments/{adjustment.id}/approve").status_code == 403
    assert client.post(f"/warehouse/adjustments/{adjustment.id}/reject").status_code == 403
    assert level(sku, a) == (10, 3)
    # A manager sees it on the home page and in the pending list, and approves it.
    switch_to("manager")
    home = text(client.get("/"))
    assert re.search(r'stat-count">1</span>\s*<span class="stat-title">Adjustments awaiting '
                     r"approval", home)
    page = text(client.get("/warehouse/adjustments/pending"))
    assert adjustment.number in page
    assert "Approve</button>" in page
    response = client.post(f"/warehouse/adjustments/{adjustment.id}/approve",
                           follow_redirects=True)
    assert (f"Adjustment {adjustment.number} approved and posted: +150 × TS-RED-M in WH1/A-01."
            in text(response))
    db.session.expire_all()
    assert db.session.get(StockAdjustment, adjustment.id).state == AdjustmentState.approved
    assert level(sku, a) == (160, 3)
    assert move_count() == before + 1
    assert "No adjustment is pending." in text(client.get("/warehouse/adjustments/pending"))


def test_manager_rejects_a_pending_adjustment_and_nothing_moves(client, switch_to, stocked):
    sku, a, _, _ = stocked
    switch_to("warehouse")
    adjust(client, -150, reason="lost")
    adjustment = db.session.scalar(select(StockAdjustment))
    before = move_count()
    switch_to("manager")
    response = client.post(f"/warehouse/adjustments/{adjustment.id}/reject",
                           data={"note": "recount first"}, follow_redirects=True)
    assert f"Adjustment {adjustment.number} rejected; nothing moved." in text(response)
    db.session.expire_all()
    adjustment = db.session.get(StockAdjustment, adjustment.id)
    assert adjustment.state == AdjustmentState.rejected
    assert adjustment.decided_by.username == "manager"
    assert move_count() == before
    assert level(sku, a) == (10, 3)
    response = client.post(f"/warehouse/adjustments/{adjustment.id}/approve")
    assert 'it is "rejected" (a final state).' in text(response)
    assert response.status_code == 409
    assert level(sku, a) == (10, 3)


def test_approving_when_the_stock_is_gone_is_refused_and_stays_pending(client, switch_to,
                                                                       stocked):
    sku, a, empty, _ = stocked
    db.session.add(Setting(key="adjustment_approval_threshold", value="10"))
    db.session.commit()
    switch_to("warehouse")
    adjust(client, -7, reason="lost")  # 7 x 2.00 = 14.00, above the threshold of 10
    adjustment = db.session.scalar(select(StockAdjustment))
    assert adjustment.state == AdjustmentState.pending
    services.transfer(sku, a, empty, 7, actor=None)  # the 7 available units leave the bin
    db.session.commit()
    before = move_count()
    switch_to("manager")
    response = client.post(f"/warehouse/adjustments/{adjustment.id}/approve")
    assert response.status_code == 409
    assert 'SKU "TS-RED-M" in bin WH1/A-01 has 3 on hand; cannot take 7.' in text(response)
    db.session.expire_all()
    assert db.session.get(StockAdjustment, adjustment.id).state == AdjustmentState.pending
    assert move_count() == before
    assert level(sku, a) == (3, 3)


def test_adjustment_errors_are_shown_on_the_form(client, login_as, stocked):
    sku, a, _, _ = stocked
    login_as("warehouse")
    response = adjust(client, 0)
    assert response.status_code == 422
    assert "An adjustment needs a whole quantity other than zero." in text(response)
    response = adjust(client, -11)
    assert 'SKU "TS-RED-M" in bin WH1/A-01 has 10 on hand; cannot take 11.' in text(response)
    response = adjust(client, 1, bin="Z-99")
    assert "No active bin has the code 'Z-99'." in text(response)
    assert autofocused(text(response), "bin")
    response = adjust(client, 1, reason="magic")
    assert "Not a valid choice" in text(response)
    assert db.session.scalar(select(func.count()).select_from(StockAdjustment)) == 0
    assert level(sku, a) == (10, 3)


def test_adjustment_list_filters_by_state(client, switch_to, stocked):
    switch_to("warehouse")
    adjust(client, -1)
    adjust(client, 150, reason="found")
    small, big = db.session.scalars(select(StockAdjustment).order_by(StockAdjustment.id)).all()
    client.get("/warehouse/adjustments")  # shows (and clears) the flashed outcomes

    def numbers(query: str) -> list[str]:
        return re.findall(r"<td>(ADJ-[\d-]+)</td>", text(client.get("/warehouse/adjustments"
                                                                   + query)))

    assert numbers("?state=pending") == [big.number]
    assert numbers("?state=approved") == [small.number]
    assert numbers("?state=rejected") == []
    assert numbers("") == [big.number, small.number]  # pending first
    assert "Approve</button>" not in text(client.get("/warehouse/adjustments/pending"))


def test_manager_cannot_request_adjustments(client, login_as, stocked):
    login_as("manager")
    assert client.get("/warehouse/adjustments/new").status_code == 403
    assert adjust(client, 1).status_code == 403


# --------------------------------------------------------------------------- valuation


def test_valuation_per_sku_brand_category_in_base_currency(client, login_as, stocked):
    login_as("manager")
    page = text(client.get("/warehouse/valuation"))
    assert autofocused(page, "group")
    assert "<strong>14</strong> units worth <strong>28.00 USD</strong>" in page
    assert '<td class="num">2.00</td>' in page  # unit costs: 4 decimals only where they count
    assert '<td class="num">28.00</td>' in page
    for group, key in (("brand", "TESTBR"), ("category", "GEN")):
        page = text(client.get(f"/warehouse/valuation?group={group}"))
        assert f"<td>{key}</td>" in page
        assert '<td class="num">28.00</td>' in page
    db.session.merge(Setting(key="base_currency", value="EUR"))
    db.session.commit()
    assert "28.00 EUR" in text(client.get("/warehouse/valuation"))
    response = client.get("/warehouse/valuation/export.xlsx?group=brand")
    rows = list(openpyxl.load_workbook(io.BytesIO(response.data)).active.iter_rows(
        values_only=True))
    assert rows == [("Brand", "Name", "On hand", "In transit", "In transit value (EUR)",
                     "Value (EUR)"),
                    ("TESTBR", "Test Brand", 14, 0, 0, 28)]


# --------------------------------------------------------------------------- navigation, home


@pytest.mark.parametrize(("role", "expected"), [
    ("warehouse", ["Stock", "Moves", "Transfer", "Bins"]),
    ("customer_service", ["Stock", "Moves"]),
    ("manager", ["Stock", "Moves"]),
    ("admin", ["Stock", "Moves", "Transfer", "Bins"]),
])
def test_navigation_shows_the_warehouse_entries_each_role_may_open(client, login_as, role,
                                                                   expected):
    login_as(role)
    page = text(client.get("/"))
    nav = re.search(r'<nav class="mainnav".*?</nav>', page, re.S).group(0)
    labels = re.findall(r">([^<>]+)</a>", nav)
    assert [label for label in labels if label in {"Stock", "Moves", "Transfer", "Bins"}] == \
        expected


def test_home_shows_bins_with_stock_in_the_admin_overview(client, login_as, stocked):
    login_as("admin")
    page = text(client.get("/"))
    assert re.search(r'stat-count">2</span>\s*<span class="stat-title">Bins with stock', page)
    client.post("/logout")
    login_as("warehouse")  # their section holds their queues, not this figure nor approvals
    page = text(client.get("/"))
    assert "Bins with stock" not in page
    assert "Adjustments awaiting approval" not in page


@pytest.mark.parametrize("url", ["/warehouse/moves", "/warehouse/adjustments",
                                 "/warehouse/stock", "/warehouse/valuation"])
def test_list_pages_do_not_run_a_query_per_row(client, login_as, stocked, create_sku,
                                               create_bin, receive_stock, count_queries, url):
    login_as("manager" if "valuation" in url else "warehouse")  # values: core.view_costs
    services.request_adjustment(stocked[0], stocked[1], -1, reason="lost", note=None,
                                actor=None)
    db.session.commit()
    with count_queries() as few:
        assert client.get(url).status_code == 200
    for n in range(8):
        sku = create_sku(f"MORE-{n}")
        location = create_bin(f"C-{n:02d}")
        receive_stock(sku, location, 2)
        services.request_adjustment(sku, location, -1, reason="lost", note=None, actor=None)
    db.session.commit()
    with count_queries() as many:
        assert client.get(url).status_code == 200
    assert many.count == few.count


def test_stock_frozen_by_an_open_count_is_visible_on_stock_screens(client, login_as, dummy_sku,
                                                                   create_bin, receive_stock,
                                                                   dummy_warehouse):
    bin_a = create_bin()
    receive_stock(dummy_sku, bin_a, 4)
    count = services.open_cycle_count(dummy_warehouse, location_ids=[bin_a.id], note=None,
                                         actor=None)
    db.session.commit()
    login_as("warehouse")
    for url in ("/warehouse/stock", f"/warehouse/stock/sku/{dummy_sku.id}",
                f"/warehouse/stock/bin/{bin_a.id}"):
        page = client.get(url).get_data(as_text=True)
        assert f"frozen · {count.number}" in page, url
    services.cancel_cycle_count(count, actor=None)
    db.session.commit()
    assert "frozen ·" not in client.get("/warehouse/stock").get_data(as_text=True)
