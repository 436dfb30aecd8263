"""Purchase order and receiving screens: thin views over the services."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import PurchaseOrder, PurchaseOrderState, Receipt, ReceiptState
from erp.warehouse.models import StockLevel
from tests.fixtures.core import PASSWORD
from tests.procurement.helpers import set_rate, set_setting, snapshot

S = PurchaseOrderState


def text(response) -> str:
    """Return the page with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def autofocused(page: str, name: str) -> bool:
    match = re.search(rf'<(?:input|textarea|select)[^>]*\bname="{name}"[^>]*>', page)
    return bool(match) and "autofocus" in match.group(0)


def refreshed(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


@pytest.fixture
def switch_to(client, create_user, login):
    """Return ``switch_to(role)``: sign in as a (new or known) user of ``role``."""
    users = {}

    def do_switch(role: str):
        client.post("/logout")
        if role not in users:
            users[role] = create_user(f"v-{role}", roles=(role,))
        assert login(users[role].username, PASSWORD).status_code == 302
        return users[role]

    return do_switch


@pytest.fixture
def supplier(create_supplier_row):
    return create_supplier_row("ACME", name="Acme Textiles", lead_time_days=10)


@pytest.fixture
def tee(create_sku, supplier, create_supplier_item_row):
    sku = create_sku("TEE-BLK-M", barcode="4006381333931")
    create_supplier_item_row(supplier, sku, "5.00", moq=12, pack_multiple=12,
                             supplier_code="AC-778")
    db.session.commit()
    return sku


# --------------------------------------------------------------------------- list


def test_list_filters_by_state_supplier_search_and_overdue(client, switch_to, supplier, tee,
                                                           create_supplier_row,
                                                           create_purchase_order):
    other = create_supplier_row("BETA", name="Beta Ceramics")
    late = create_purchase_order(supplier, lines=[(tee, 24)], state="ordered",
                                 expected_date=date.today() - timedelta(days=3))
    on_time = create_purchase_order(supplier, lines=[(tee, 12)], state="ordered",
                                    expected_date=date.today() + timedelta(days=3))
    drafted = create_purchase_order(other, lines=[(tee, 5, "4.00")])
    switch_to("purchasing")

    page = text(client.get("/procurement/purchase-orders"))
    assert all(ref in page for ref in (late.number, on_time.number, f"draft #{drafted.id}"))
    assert autofocused(page, "q")
    assert "120.00 USD" in page  # 24 x 5.00

    page = text(client.get("/procurement/purchase-orders?overdue=yes"))
    assert late.number in page
    assert on_time.number not in page
    assert "overdue" in page

    page = text(client.get(f"/procurement/purchase-orders?supplier={other.id}"))
    assert f"draft #{drafted.id}" in page
    assert late.number not in page

    page = text(client.get("/procurement/purchase-orders?state=draft"))
    assert f"draft #{drafted.id}" in page
    assert late.number not in page

    page = text(client.get("/procurement/purchase-orders?state=receivable&q=acme"))
    assert late.number in page
    assert on_time.number in page
    assert f"draft #{drafted.id}" not in page

    page = text(client.get(f"/procurement/purchase-orders?q={late.number.lower()}"))
    assert late.number in page
    assert on_time.number not in page

    tomorrow = (date.today() + timedelta(days=1)).isoformat()
    page = text(client.get(f"/procurement/purchase-orders?date_field=expected"
                           f"&date_from={tomorrow}"))
    assert on_time.number in page
    assert late.number not in page


def test_list_total_equals_the_order_total(client, switch_to, create_purchase_order, supplier,
                                           create_sku):
    # 0.0125 x 1 = 0.0125 -> 0.01 and 1.2345 x 3 = 3.7035 -> 3.70: 3.71, as the detail shows
    po = create_purchase_order(supplier, lines=[(create_sku(), 1, "0.0125"),
                                                (create_sku(), 3, "1.2345")])
    switch_to("manager")
    assert po.total == Decimal("3.71")
    assert "3.71 USD" in text(client.get("/procurement/purchase-orders"))


def test_list_paginates(client, switch_to, app, create_purchase_order, supplier, tee):
    app.config["ERP_PAGE_SIZE"] = 2
    for _ in range(3):
        create_purchase_order(supplier, lines=[(tee, 12)])
    switch_to("purchasing")
    page = text(client.get("/procurement/purchase-orders"))
    assert "Page 1 of 2" in page
    assert "Page 2 of 2" in text(client.get("/procurement/purchase-orders?page=2"))


def test_awaiting_approval_page_and_dashboard_card(client, switch_to, purchase_order_in):
    waiting = purchase_order_in("awaiting_approval")
    purchase_order_in("draft")
    switch_to("manager")
    home = text(client.get("/"))
    assert "Purchase orders awaiting approval" in home
    page = text(client.get("/procurement/purchase-orders/awaiting-approval"))
    assert waiting.number in page
    assert page.count("/procurement/purchase-orders/") >= 1
    switch_to("purchasing")
    assert "Purchase orders awaiting approval" not in text(client.get("/"))


def test_nav_shows_purchase_orders_and_receiving_by_role(client, switch_to):
    switch_to("purchasing")
    page = text(client.get("/"))
    assert ">Purchase orders</a>" in page
    assert ">Receiving</a>" not in page
    switch_to("warehouse")
    page = text(client.get("/"))
    assert ">Receiving</a>" in page


# --------------------------------------------------------------------------- drafting


def test_create_order_then_add_lines_by_barcode(client, switch_to, supplier, tee):
    user = switch_to("purchasing")
    page = text(client.get("/procurement/purchase-orders/new"))
    assert autofocused(page, "supplier_id")
    response = client.post("/procurement/purchase-orders/new",
                           data={"supplier_id": str(supplier.id), "notes": "spring range"})
    assert response.status_code == 302
    po = db.session.scalar(select(PurchaseOrder))
    assert (po.state, po.currency, po.created_by_id, po.notes) == (S.draft, "USD", user.id,
                                                                   "spring range")
    detail = text(client.get(response.headers["Location"]))
    assert autofocused(detail, "sku")

    response = client.post(f"/procurement/purchase-orders/{po.id}/lines",
                           data={"sku": "4006381333931", "quantity": "24"})
    assert response.status_code == 302
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "AC-778" in page
    assert "120.00 USD" in page
    assert refreshed(po).lines[0].quantity == 24


def test_add_line_breaking_the_pack_shows_the_message_and_adds_nothing(client, switch_to,
                                                                      create_purchase_order,
                                                                      supplier, tee):
    po = create_purchase_order(supplier, lines=[])
    switch_to("purchasing")
    before = snapshot()
    response = client.post(f"/procurement/purchase-orders/{po.id}/lines",
                           data={"sku": "TEE-BLK-M", "quantity": "20"})
    assert response.status_code == 422
    page = text(response)
    assert ('To order SKU "TEE-BLK-M" from supplier "ACME", you must order a multiple of the '
            "pack of 12 (nearest valid quantity: 24; asked for 20).") in page
    assert 'value="20"' in page  # the form keeps what was typed
    assert snapshot() == before


def test_add_line_unknown_sku_is_shown_on_the_field(client, switch_to, create_purchase_order,
                                                    supplier):
    po = create_purchase_order(supplier, lines=[])
    switch_to("purchasing")
    response = client.post(f"/procurement/purchase-orders/{po.id}/lines",
                           data={"sku": "NOPE-1", "quantity": "2"})
    assert response.status_code == 422
    assert 'No SKU has the code or barcode "NOPE-1".' in text(response)


def test_edit_and_remove_a_draft_line(client, switch_to, create_purchase_order, supplier, tee):
    po = create_purchase_order(supplier, lines=[(tee, 12)])
    line = po.lines[0]
    switch_to("purchasing")
    url = f"/procurement/purchase-orders/{po.id}/lines/{line.id}/edit"
    assert autofocused(text(client.get(url)), "quantity")
    response = client.post(url, data={"quantity": "13", "unit_price": "", "expected_date": ""})
    assert response.status_code == 422
    assert "nearest valid quantity: 12" in text(response)
    response = client.post(url, data={"quantity": "36", "unit_price": "4.5",
                                      "expected_date": "2031-02-03"})
    assert response.status_code == 302
    line = refreshed(line)
    assert (line.quantity, line.unit_price, line.expected_date) == (36, Decimal("4.5000"),
                                                                    date(2031, 2, 3))
    response = client.post(f"/procurement/purchase-orders/{po.id}/lines/{line.id}/remove")
    assert response.status_code == 302
    assert refreshed(po).lines == []


def test_after_ordering_a_line_only_takes_a_new_expected_date(client, switch_to,
                                                              create_purchase_order):
    po = create_purchase_order(state="ordered")
    line = po.lines[0]
    switch_to("purchasing")
    url = f"/procurement/purchase-orders/{po.id}/lines/{line.id}/edit"
    page = text(client.get(url))
    assert 'name="quantity"' not in page
    assert autofocused(page, "expected_date")
    assert client.post(url, data={"expected_date": "2031-07-01"}).status_code == 302
    assert refreshed(line).expected_date == date(2031, 7, 1)
    history = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "purchase_order.expected_date_changed" in history


def test_edit_dates_and_notes_after_ordering_is_in_the_history(client, switch_to,
                                                               create_purchase_order):
    po = create_purchase_order(state="ordered")
    switch_to("purchasing")
    response = client.post(f"/procurement/purchase-orders/{po.id}/edit",
                           data={"expected_date": "2031-08-08", "notes": "ship by sea"})
    assert response.status_code == 302
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "purchase_order.updated" in page
    assert "ship by sea" in page


# --------------------------------------------------------------------------- workflow


def test_submit_approve_order_through_the_screens(client, switch_to, create_purchase_order,
                                                  supplier, tee):
    set_setting("approval_threshold", "10")
    buyer = switch_to("purchasing")
    po = create_purchase_order(supplier, lines=[(tee, 12)], creator=buyer)
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "Submit" in page
    assert ">Approve<" not in page
    response = client.post(f"/procurement/purchase-orders/{po.id}/submit")
    assert response.status_code == 302
    assert refreshed(po).state == S.awaiting_approval

    switch_to("manager")
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert ">Approve<" in page
    assert "Send back to draft" in page
    assert client.post(f"/procurement/purchase-orders/{po.id}/approve").status_code == 302
    assert refreshed(po).state == S.approved

    switch_to("purchasing")
    response = client.post(f"/procurement/purchase-orders/{po.id}/order",
                           data={"ordered_on": "2031-01-10"})
    assert response.status_code == 302
    po = refreshed(po)
    assert (po.state, po.ordered_on, po.expected_date) == (S.ordered, date(2031, 1, 10),
                                                           date(2031, 1, 20))
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "purchase_order.approved" in page
    assert "purchase_order.ordered" in page


def test_approve_by_the_creator_is_refused_on_the_screen(client, switch_to, create_user, login,
                                                        create_purchase_order):
    creator = create_user("mgr", roles=("manager", "purchasing"))
    po = create_purchase_order(creator=creator, state="awaiting_approval")
    login(creator.username)
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert ">Approve<" not in page  # the button is not offered
    response = client.post(f"/procurement/purchase-orders/{po.id}/approve",
                           headers={"Referer": f"/procurement/purchase-orders/{po.id}"})
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert (f'To approve purchase order "{po.number}", you must be someone other than its '
            "creator.") in page
    assert refreshed(po).state == S.awaiting_approval


def test_send_back_cancel_and_close_need_reasons(client, switch_to, purchase_order_in):
    waiting = purchase_order_in("awaiting_approval")
    partial = purchase_order_in("partially_received")
    switch_to("manager")
    url = f"/procurement/purchase-orders/{waiting.id}"
    response = client.post(f"{url}/send-back", data={"reason": ""}, headers={"Referer": url})
    assert "you must give a reason" in text(client.get(response.headers["Location"]))
    client.post(f"{url}/send-back", data={"reason": "wrong supplier"})
    assert refreshed(waiting).state == S.draft

    switch_to("purchasing")
    client.post(f"{url}/cancel", data={"reason": "not needed"})
    assert refreshed(waiting).state == S.cancelled

    url = f"/procurement/purchase-orders/{partial.id}"
    page = text(client.get(url))
    assert "Close short" in page
    assert "Cancel order" not in page
    response = client.post(f"{url}/cancel", data={"reason": "x"}, headers={"Referer": url})
    assert "close it short instead" in text(client.get(response.headers["Location"]))
    client.post(f"{url}/close", data={"reason": "rest not coming"})
    partial = refreshed(partial)
    assert (partial.state, partial.lines[0].cancelled_qty) == (S.closed, 6)


def test_detail_shows_base_total_receipts_and_history(client, switch_to, create_supplier_row,
                                                      create_purchase_order, create_sku,
                                                      receiving_bin):
    set_rate("CNY", "0.14")
    po = create_purchase_order(create_supplier_row("SZ", currency="CNY"),
                               lines=[(create_sku("MUG-1"), 100, "10.00")], state="ordered")
    receipt = services.receive_purchase_order(po, {po.lines[0].id: 30}, location=receiving_bin,
                                              actor=None)
    db.session.commit()
    switch_to("warehouse")
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "1,000.00 CNY" in page
    assert "140.00 USD" in page
    assert receipt.number in page
    assert "Reverse" in page
    assert "purchase_order.partially_received" in page
    assert ">Receive</a>" in page


def test_detail_without_a_rate_says_what_to_do(client, switch_to, create_supplier_row,
                                               create_purchase_order, create_sku):
    po = create_purchase_order(create_supplier_row(currency="JPY"),
                               lines=[(create_sku(), 1, "100")])
    switch_to("purchasing")
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    assert "100 JPY" in page  # yen have no minor unit
    assert "100.00 JPY" not in page
    assert "you must first enter an exchange rate for JPY" in page


def test_pdf_download(client, switch_to, create_purchase_order):
    po = create_purchase_order(state="approved")
    switch_to("warehouse")
    response = client.get(f"/procurement/purchase-orders/{po.id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")


# --------------------------------------------------------------------------- receiving


def test_receiving_start_finds_an_order_by_scanned_number(client, switch_to, purchase_order_in):
    po = purchase_order_in("ordered")
    draft = purchase_order_in("approved")
    switch_to("warehouse")
    page = text(client.get("/procurement/receiving"))
    assert autofocused(page, "number")
    assert po.number in page
    assert draft.number not in page  # not yet ordered: not offered
    response = client.get(f"/procurement/receiving?number=+{po.number.lower()}+")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/procurement/receiving/{po.id}")
    page = text(client.get("/procurement/receiving?number=PO-1999-000009"))
    assert 'No purchase order has the number "PO-1999-000009".' in page
    page = text(client.get(f"/procurement/receiving?number={draft.number}"))
    assert f'To receive purchase order "{draft.number}", you must have it ordered' in page


def test_receiving_screen_scans_then_receives(client, switch_to, create_purchase_order,
                                              supplier, tee, create_sku,
                                              create_supplier_item_row, receiving_bin,
                                              create_bin):
    cap = create_sku("CAP-NAVY")
    create_supplier_item_row(supplier, cap, "2.00")
    create_bin("A-01-01-01", kind="storage")
    po = create_purchase_order(supplier, lines=[(tee, 24), (cap, 5)], state="ordered")
    tee_line, cap_line = po.lines
    clerk = switch_to("warehouse")
    url = f"/procurement/receiving/{po.id}"

    page = text(client.get(url))
    assert autofocused(page, "scan")
    assert 'value="WH1/RCV-01"' in page  # the first receiving bin by default
    assert 'data-barcode="4006381333931"' in page

    # Each scan of a barcode adds 1 to its line; typed quantities are kept.
    data = {"action": "scan", "scan": "4006381333931", "bin": "WH1/RCV-01",
            f"qty-{tee_line.id}": "2", f"qty-{cap_line.id}": "3"}
    response = client.post(url, data=data)
    assert response.status_code == 200
    page = text(response)
    assert re.search(rf'name="qty-{tee_line.id}"\s+value="3"', page)
    assert re.search(rf'name="qty-{cap_line.id}"\s+value="3"', page)
    assert autofocused(page, "scan")
    response = client.post(url, data={**data, "scan": "MUG-XX"})
    assert response.status_code == 422
    assert 'No SKU has the code or barcode "MUG-XX".' in text(response)
    other = create_sku("OTHER-1")
    db.session.commit()
    response = client.post(url, data={**data, "scan": other.code})
    assert 'SKU "OTHER-1" is not on this purchase order' in text(response)
    assert snapshot()["receipts"] == []

    response = client.post(url, data={"action": "receive", "bin": "A-01-01-01", "note": "DN 7",
                                      f"qty-{tee_line.id}": "20", f"qty-{cap_line.id}": ""})
    assert response.status_code == 302
    receipt = db.session.scalar(select(Receipt))
    assert response.headers["Location"].endswith(f"/procurement/receipts/{receipt.id}")
    assert (receipt.received_by_id, receipt.note, receipt.location.code) == (clerk.id, "DN 7",
                                                                             "A-01-01-01")
    assert refreshed(po).state == S.partially_received
    page = text(client.get(response.headers["Location"]))
    assert receipt.number in page
    assert "5.00 USD" in page  # the unit cost, trimmed to the currency's minor units
    assert "5.0000" not in page
    assert "Reverse receipt" in page


def test_receiving_refusals_are_shown_where_they_belong(client, switch_to, purchase_order_in,
                                                        create_bin):
    po = purchase_order_in("ordered")
    line = po.lines[0]
    create_bin("PACK-01", kind="packing")
    switch_to("warehouse")
    url = f"/procurement/receiving/{po.id}"
    before = snapshot()

    response = client.post(url, data={"action": "receive", "bin": "PACK-01",
                                      f"qty-{line.id}": "1"})
    assert response.status_code == 422
    page = text(response)
    assert "you must choose a receiving or storage bin; it is a packing location." in page
    assert autofocused(page, "bin")

    response = client.post(url, data={"action": "receive", "bin": "RCV-01",
                                      f"qty-{line.id}": "11"})
    assert response.status_code == 422
    assert "you must stay within what the line may still receive: 10" in text(response)

    response = client.post(url, data={"action": "receive", "bin": "RCV-01",
                                      f"qty-{line.id}": "two"})
    assert response.status_code == 422
    assert '"two" is not a whole number.' in text(response)

    response = client.post(url, data={"action": "receive", "bin": "RCV-01"})
    assert response.status_code == 422
    assert "you must enter a quantity on at least one line" in text(response)
    assert snapshot() == before


def test_receiving_a_closed_order_says_so(client, switch_to, purchase_order_in):
    po = purchase_order_in("closed")
    switch_to("warehouse")
    page = text(client.get(f"/procurement/receiving/{po.id}"))
    assert "goods are received only against ordered or partially received orders" in page
    assert 'name="scan"' not in page


def test_reverse_a_receipt_from_its_page(client, switch_to, purchase_order_in):
    po = purchase_order_in("partially_received")
    [receipt] = po.receipts
    switch_to("warehouse")
    url = f"/procurement/receipts/{receipt.id}"
    response = client.post(f"{url}/reverse", data={"reason": "wrong goods"})
    assert response.status_code == 302
    assert refreshed(receipt).state == ReceiptState.reversed
    assert refreshed(po).state == S.ordered
    page = text(client.get(url))
    assert "reversed" in page
    assert "Reverse receipt" not in page
    assert db.session.scalar(select(func.sum(StockLevel.on_hand))) == 0


def test_reverse_refused_when_the_stock_moved(client, switch_to, purchase_order_in,
                                              create_bin):
    from erp.warehouse import services as warehouse_services

    po = purchase_order_in("partially_received")
    [receipt] = po.receipts
    storage = create_bin("B-01", kind="storage")
    warehouse_services.transfer(po.lines[0].sku, receipt.location, storage, 4, actor=None)
    db.session.commit()
    switch_to("warehouse")
    url = f"/procurement/receipts/{receipt.id}"
    response = client.post(f"{url}/reverse", data={"reason": "wrong goods"},
                           headers={"Referer": url})
    page = text(client.get(response.headers["Location"]))
    assert f'To reverse receipt "{receipt.number}", you must first bring its stock back' in page
    assert refreshed(receipt).state == ReceiptState.posted


@pytest.mark.parametrize("role", ["purchasing", "customer_service"])
def test_roles_without_receive_cannot_receive(client, switch_to, purchase_order_in, role):
    po = purchase_order_in("ordered")
    switch_to(role)
    assert client.get(f"/procurement/receiving/{po.id}").status_code == 403


def test_every_form_carries_a_csrf_token(app, client, switch_to, create_purchase_order,
                                         receiving_bin):
    po = create_purchase_order(state="ordered")
    switch_to("warehouse")
    app.config["WTF_CSRF_ENABLED"] = True
    url = f"/procurement/receiving/{po.id}"
    page = text(client.get(url))
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"action": "receive", "bin": "RCV-01", f"qty-{po.lines[0].id}": "1"}
    assert client.post(url, data=data).status_code == 400
    assert client.post(url, data={**data, "csrf_token": token}).status_code == 302
    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))
    forms = re.findall(r"<form method=\"post\".*?</form>", page, re.S)
    assert forms
    assert all('name="csrf_token"' in form for form in forms)
