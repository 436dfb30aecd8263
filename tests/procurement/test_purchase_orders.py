"""Purchase order services: drafting, totals, the approval workflow, cancel and close."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.catalog.models import SkuStatus
from erp.core.errors import PermissionDenied, ValidationError
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import PurchaseOrder, PurchaseOrderState
from erp.procurement.services import CancelAfterReceiptError, PurchaseOrderError
from tests.procurement.helpers import (
    audit_actions,
    audit_events,
    set_rate,
    set_setting,
    snapshot,
)

S = PurchaseOrderState
YEAR = date.today().year


@pytest.fixture
def buyer(create_user):
    return create_user("buyer", roles=("purchasing",))


@pytest.fixture
def manager(create_user):
    return create_user("boss", roles=("manager",))


@pytest.fixture
def supplier(create_supplier_row):
    return create_supplier_row("ACME", name="Acme Textiles", lead_time_days=21,
                               payment_terms="30 days net")


@pytest.fixture
def tee(create_sku, supplier, create_supplier_item_row):
    """A SKU on ACME's price list at 5.00, MOQ 100, in packs of 12."""
    sku = create_sku("TEE-BLK-M", barcode="4006381333931")
    create_supplier_item_row(supplier, sku, "5.00", moq=100, pack_multiple=12,
                             supplier_code="AC-778")
    return sku


@pytest.fixture
def draft(supplier, buyer):
    po = services.create_purchase_order(supplier, actor=buyer)
    db.session.commit()
    return po


# --------------------------------------------------------------------------- drafting


def test_create_purchase_order_is_a_draft_in_the_supplier_currency(create_supplier_row, buyer):
    supplier = create_supplier_row("CNSUP", currency="CNY")
    po = services.create_purchase_order(supplier, actor=buyer, expected_date=date(2031, 5, 1),
                                        notes="  first order  ")
    db.session.commit()
    assert (po.state, po.currency, po.number, po.created_by_id) == (S.draft, "CNY", None, buyer.id)
    assert po.notes == "first order"
    assert po.reference == f"draft #{po.id}"
    assert audit_actions("purchase_order", po.id) == ["purchase_order.created"]


def test_create_purchase_order_for_inactive_supplier_fails(create_supplier_row, buyer):
    supplier = create_supplier_row("OLD", active=False)
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match='supplier "OLD", you must first reactivate'):
        services.create_purchase_order(supplier, actor=buyer)
    assert snapshot() == before


def test_add_line_takes_price_and_supplier_code_from_the_price_list(draft, tee, buyer):
    line = services.add_purchase_order_line(draft, tee, 120, actor=buyer)
    db.session.commit()
    assert (line.quantity, line.unit_price, line.supplier_code) == (120, Decimal("5.0000"),
                                                                    "AC-778")
    assert (line.received_qty, line.cancelled_qty, line.remaining_qty) == (0, 0, 120)
    assert line.amount == Decimal("600.00")
    [event] = audit_events("purchase_order", draft.id, "purchase_order.line_added")
    assert (event.changes["sku"], event.changes["quantity"]) == ("TEE-BLK-M", 120)


def test_add_line_with_a_price_overrides_the_price_list(draft, tee, buyer):
    line = services.add_purchase_order_line(draft, tee, 120, actor=buyer,
                                            unit_price=Decimal("4.25"),
                                            expected_date=date(2031, 1, 2))
    assert (line.unit_price, line.expected_date) == (Decimal("4.2500"), date(2031, 1, 2))


def test_add_line_converts_a_price_list_in_another_currency(create_supplier_row,
                                                           create_supplier_item_row,
                                                           create_sku, buyer):
    supplier = create_supplier_row("EUSUP", currency="EUR")
    sku = create_sku()
    create_supplier_item_row(supplier, sku, "10.00", currency="USD")
    set_rate("EUR", "1.25")  # 1 EUR = 1.25 USD, so 10 USD = 8 EUR
    po = services.create_purchase_order(supplier, actor=buyer)
    line = services.add_purchase_order_line(po, sku, 5, actor=buyer)
    assert line.unit_price == Decimal("8.0000")


def test_add_line_below_moq_fails_naming_the_moq_and_nearest_quantity(draft, tee, buyer):
    before = snapshot()
    with pytest.raises(PurchaseOrderError) as err:
        services.add_purchase_order_line(draft, tee, 96, actor=buyer)
    assert str(err.value) == (
        'To order SKU "TEE-BLK-M" from supplier "ACME", you must order at least the minimum '
        "order quantity of 100, in packs of 12 (nearest valid quantity: 108; asked for 96).")
    assert err.value.field == "quantity"
    assert snapshot() == before


def test_add_line_off_the_pack_multiple_fails_naming_the_pack(draft, tee, buyer):
    before = snapshot()
    with pytest.raises(PurchaseOrderError) as err:
        services.add_purchase_order_line(draft, tee, 125, actor=buyer)
    assert str(err.value) == (
        'To order SKU "TEE-BLK-M" from supplier "ACME", you must order a multiple of the pack '
        "of 12 (nearest valid quantity: 120; asked for 125).")
    assert snapshot() == before


def test_add_line_below_moq_without_pack_names_only_the_moq(draft, create_sku, supplier,
                                                           create_supplier_item_row, buyer):
    sku = create_sku("CAP-NAVY")
    create_supplier_item_row(supplier, sku, "2.00", moq=50)
    with pytest.raises(PurchaseOrderError, match=r"at least the minimum order quantity of 50 "
                                                 r"\(nearest valid quantity: 50; asked for 7\)"):
        services.add_purchase_order_line(draft, sku, 7, actor=buyer)


@pytest.mark.parametrize(("quantity", "moq", "pack", "nearest"), [
    (1, 1, 1, 1), (96, 100, 12, 108), (125, 100, 12, 120), (126, 100, 12, 132),
    (130, 100, 12, 132), (5, 1, 12, 12), (17, 1, 12, 12), (18, 1, 12, 24), (250, 100, 1, 250),
    (101, 100, 10, 100), (1000, 7, 5, 1000),
])
def test_nearest_valid_quantity_rounds_to_the_closest_pack_ties_up(quantity, moq, pack, nearest):
    assert services.nearest_valid_quantity(quantity, moq, pack) == nearest


def test_add_line_for_a_sku_not_on_the_price_list_needs_a_price(draft, create_sku, buyer):
    sku = create_sku("MUG-WHITE")
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match='enter a unit price or first list the SKU on '
                                                 'supplier "ACME"'):
        services.add_purchase_order_line(draft, sku, 3, actor=buyer)
    assert snapshot() == before
    line = services.add_purchase_order_line(draft, sku, 3, actor=buyer,
                                            unit_price=Decimal("1.5"))
    assert (line.unit_price, line.supplier_code) == (Decimal("1.5000"), None)


def test_add_line_for_a_discontinued_sku_fails(draft, tee, buyer):
    tee.status = SkuStatus.discontinued
    db.session.commit()
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match='To order SKU "TEE-BLK-M", you must first make '
                                                 "it active again"):
        services.add_purchase_order_line(draft, tee, 120, actor=buyer)
    assert snapshot() == before


@pytest.mark.parametrize("quantity", [0, -12, 1.5, "12", True, 2_000_000_000])
def test_add_line_with_a_bad_quantity_fails(draft, tee, buyer, quantity):
    before = snapshot()
    with pytest.raises(ValidationError):
        services.add_purchase_order_line(draft, tee, quantity, actor=buyer)
    assert snapshot() == before


@pytest.mark.parametrize("price", [Decimal("-1"), "abc", Decimal("NaN")])
def test_add_line_with_a_bad_price_fails(draft, tee, buyer, price):
    with pytest.raises(ValidationError):
        services.add_purchase_order_line(draft, tee, 120, actor=buyer, unit_price=price)


@pytest.mark.parametrize("state", ["awaiting_approval", "approved", "ordered", "cancelled"])
def test_lines_change_only_in_draft(purchase_order_in, tee, buyer, state):
    po = purchase_order_in(state)
    line = po.lines[0]
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match="you must have it in draft"):
        services.add_purchase_order_line(po, tee, 120, actor=buyer)
    with pytest.raises(PurchaseOrderError, match="you must have it in draft"):
        services.update_purchase_order_line(line, quantity=20, unit_price=None,
                                            expected_date=None, actor=buyer)
    with pytest.raises(PurchaseOrderError, match="you must have it in draft"):
        services.remove_purchase_order_line(line, actor=buyer)
    assert snapshot() == before


def test_update_line_checks_the_price_list_again_and_audits(draft, tee, buyer):
    line = services.add_purchase_order_line(draft, tee, 120, actor=buyer)
    db.session.commit()
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match="nearest valid quantity: 108"):
        services.update_purchase_order_line(line, quantity=110, unit_price=None,
                                            expected_date=None, actor=buyer)
    assert snapshot() == before
    services.update_purchase_order_line(line, quantity=144, unit_price=Decimal("4.80"),
                                        expected_date=date(2031, 3, 1), actor=buyer)
    db.session.commit()
    assert (line.quantity, line.unit_price, line.expected_date) == (144, Decimal("4.8000"),
                                                                    date(2031, 3, 1))
    [event] = audit_events("purchase_order", draft.id, "purchase_order.line_updated")
    assert event.changes["quantity"] == [120, 144]
    assert event.changes["unit_price"] == ["5.0000", "4.8000"]


def test_remove_line_in_draft(draft, tee, buyer):
    line = services.add_purchase_order_line(draft, tee, 120, actor=buyer)
    db.session.commit()
    services.remove_purchase_order_line(line, actor=buyer)
    db.session.commit()
    assert draft.lines == []
    assert "purchase_order.line_removed" in audit_actions("purchase_order", draft.id)


# --------------------------------------------------------------------------- totals


def test_totals_in_order_and_base_currency(create_supplier_row, create_sku, buyer):
    supplier = create_supplier_row("CNSUP", currency="CNY")
    set_rate("CNY", "0.14")
    po = services.create_purchase_order(supplier, actor=buyer)
    services.add_purchase_order_line(po, create_sku(), 100, actor=buyer,
                                     unit_price=Decimal("12.345"))
    services.add_purchase_order_line(po, create_sku(), 3, actor=buyer,
                                     unit_price=Decimal("0.3333"))
    # 1,234.50 + 1.00 (0.9999 rounded) = 1,235.50 CNY; x 0.14 = 172.97 USD
    assert services.purchase_order_totals(po) == (Decimal("1235.50"), "CNY", Decimal("172.97"))


def test_totals_exclude_cancelled_quantities(purchase_order_in):
    po = purchase_order_in("closed")  # 4 of 10 received at 5.00, the other 6 cancelled
    assert services.purchase_order_totals(po) == (Decimal("20.00"), "USD", Decimal("20.00"))


def test_totals_without_a_rate_fail_with_the_fix(create_supplier_row, create_sku, buyer):
    po = services.create_purchase_order(create_supplier_row(currency="JPY"), actor=buyer)
    services.add_purchase_order_line(po, create_sku(), 1, actor=buyer, unit_price=Decimal(100))
    with pytest.raises(ValidationError, match="you must first enter an exchange rate for JPY"):
        services.purchase_order_totals(po)


# --------------------------------------------------------------------------- submit


def test_submit_within_the_threshold_approves_at_once_and_numbers(draft, tee, buyer):
    services.add_purchase_order_line(draft, tee, 120, actor=buyer)  # 600.00 <= 5000
    services.submit_purchase_order(draft, actor=buyer)
    db.session.commit()
    assert draft.state == S.approved
    assert draft.number == f"PO-{YEAR}-000001"
    assert draft.approved_at is not None
    assert draft.approved_by_id is None
    [event] = audit_events("purchase_order", draft.id, "purchase_order.approved")
    assert event.changes["state"] == ["draft", "approved"]
    assert event.changes["number"] == draft.number
    assert event.actor_id == buyer.id


def test_submit_above_the_threshold_waits_for_approval(draft, tee, buyer):
    set_setting("approval_threshold", "500")
    services.add_purchase_order_line(draft, tee, 120, actor=buyer)  # 600.00 > 500
    services.submit_purchase_order(draft, actor=buyer)
    db.session.commit()
    assert draft.state == S.awaiting_approval
    assert draft.number == f"PO-{YEAR}-000001"


def test_submit_exactly_at_the_threshold_needs_no_approval(draft, tee, buyer):
    set_setting("approval_threshold", "600")
    services.add_purchase_order_line(draft, tee, 120, actor=buyer)
    services.submit_purchase_order(draft, actor=buyer)
    assert draft.state == S.approved


def test_submit_compares_the_base_currency_total(create_supplier_row, create_sku, buyer):
    set_rate("CNY", "0.14")
    set_setting("approval_threshold", "1000")
    po = services.create_purchase_order(create_supplier_row(currency="CNY"), actor=buyer)
    # 7,000 CNY is 980 USD: within a threshold of 1,000 USD although 7,000 > 1,000
    services.add_purchase_order_line(po, create_sku(), 700, actor=buyer, unit_price=Decimal(10))
    services.submit_purchase_order(po, actor=buyer)
    assert po.state == S.approved


def test_submit_without_lines_fails_and_draws_no_number(draft, buyer):
    before = snapshot()
    with pytest.raises(PurchaseOrderError) as err:
        services.submit_purchase_order(draft, actor=buyer)
    assert str(err.value) == (f'To submit purchase order "draft #{draft.id}", you must first '
                              "add at least one line.")
    assert snapshot() == before
    assert draft.number is None


def test_submit_without_an_exchange_rate_fails(create_supplier_row, create_sku, buyer):
    po = services.create_purchase_order(create_supplier_row(currency="JPY"), actor=buyer)
    services.add_purchase_order_line(po, create_sku(), 1, actor=buyer, unit_price=Decimal(100))
    db.session.commit()
    before = snapshot()
    with pytest.raises(ValidationError, match="exchange rate for JPY"):
        services.submit_purchase_order(po, actor=buyer)
    assert snapshot() == before


def test_submit_for_a_supplier_made_inactive_fails(draft, tee, supplier, buyer):
    services.add_purchase_order_line(draft, tee, 120, actor=buyer)
    supplier.active = False
    db.session.commit()
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match='reactivate supplier "ACME"'):
        services.submit_purchase_order(draft, actor=buyer)
    assert snapshot() == before


# --------------------------------------------------------------------------- approval


def test_approve_by_a_manager_records_who_approved(purchase_order_in, manager):
    po = purchase_order_in("awaiting_approval")
    services.approve_purchase_order(po, approver=manager)
    db.session.commit()
    assert (po.state, po.approved_by_id) == (S.approved, manager.id)
    assert po.approved_at is not None
    [event] = audit_events("purchase_order", po.id, "purchase_order.approved")
    assert event.actor_id == manager.id
    assert event.changes["state"] == ["awaiting_approval", "approved"]


def test_approve_by_an_admin_works(purchase_order_in, create_user):
    po = purchase_order_in("awaiting_approval")
    services.approve_purchase_order(po, approver=create_user("root", roles=("admin",)))
    assert po.state == S.approved


def test_approve_by_its_creator_fails(purchase_order_in, create_user):
    creator = create_user("mgr-buyer", roles=("manager", "purchasing"))
    po = purchase_order_in("awaiting_approval", creator=creator)
    before = snapshot()
    with pytest.raises(PermissionDenied) as err:
        services.approve_purchase_order(po, approver=creator)
    assert str(err.value) == (f'To approve purchase order "{po.number}", you must be someone '
                              "other than its creator.")
    assert snapshot() == before
    assert not services.can_approve(po, creator)


@pytest.mark.parametrize("role", ["purchasing", "warehouse", "customer_service"])
def test_approve_without_a_manager_role_fails(purchase_order_in, create_user, role):
    po = purchase_order_in("awaiting_approval")
    user = create_user(f"not-a-manager-{role}", roles=(role,))
    before = snapshot()
    with pytest.raises(PermissionDenied, match="you must be a manager"):
        services.approve_purchase_order(po, approver=user)
    assert snapshot() == before
    assert not services.can_approve(po, user)


def test_send_back_returns_to_draft_and_keeps_the_number(purchase_order_in, manager, tee):
    po = purchase_order_in("awaiting_approval")
    number, creator = po.number, po.created_by
    services.send_back_purchase_order(po, actor=manager, reason="split it in two")
    db.session.commit()
    assert (po.state, po.number) == (S.draft, number)
    [event] = audit_events("purchase_order", po.id, "purchase_order.draft")
    assert event.changes["note"] == "split it in two"
    services.update_purchase_order_line(po.lines[0], quantity=5, unit_price=None,
                                        expected_date=None, actor=creator)
    services.submit_purchase_order(po, actor=creator)
    assert po.number == number  # a resubmitted order keeps its number


def test_send_back_needs_a_reason_and_a_manager(purchase_order_in, manager, create_user):
    po = purchase_order_in("awaiting_approval")
    clerk = create_user("clerk", roles=("purchasing",))
    before = snapshot()
    with pytest.raises(ValidationError, match="you must give a reason"):
        services.send_back_purchase_order(po, actor=manager, reason="  ")
    with pytest.raises(PermissionDenied, match="you must be a manager"):
        services.send_back_purchase_order(po, actor=clerk, reason="no")
    assert snapshot() == before


# --------------------------------------------------------------------------- ordering


def test_mark_ordered_sets_the_order_date_and_expected_date_from_lead_time(
        create_purchase_order, supplier, tee, buyer):
    po = create_purchase_order(supplier, lines=[(tee, 120)], state="approved")
    services.mark_purchase_order_ordered(po, actor=buyer, ordered_on=date(2031, 4, 1))
    db.session.commit()
    assert (po.state, po.ordered_on, po.expected_date) == (S.ordered, date(2031, 4, 1),
                                                           date(2031, 4, 22))
    [event] = audit_events("purchase_order", po.id, "purchase_order.ordered")
    assert event.changes["ordered_on"] == [None, "2031-04-01"]


def test_mark_ordered_keeps_an_expected_date_already_set(create_purchase_order):
    po = create_purchase_order(state="approved", expected_date=date(2031, 9, 9))
    services.mark_purchase_order_ordered(po, actor=None)
    assert (po.ordered_on, po.expected_date) == (date.today(), date(2031, 9, 9))


def test_changes_after_ordering_are_in_the_audit_trail(create_purchase_order, buyer):
    po = create_purchase_order(state="ordered", expected_date=date(2031, 6, 1))
    line = po.lines[0]
    services.update_expected_date(line, date(2031, 6, 15), actor=buyer)
    services.update_expected_date(po, date(2031, 6, 20), actor=buyer)
    services.update_purchase_order(po, expected_date=date(2031, 6, 20), notes="call on Monday",
                                   actor=buyer)
    db.session.commit()
    assert (line.expected_date, po.expected_date, po.notes) == (
        date(2031, 6, 15), date(2031, 6, 20), "call on Monday")
    events = audit_events("purchase_order", po.id, "purchase_order.expected_date_changed")
    assert [e.changes["expected_date"] for e in events] == [
        [None, "2031-06-15"], ["2031-06-01", "2031-06-20"]]
    assert (events[0].changes["sku"], events[0].changes["state"]) == (line.sku.code, "ordered")
    assert all(e.actor_id == buyer.id for e in events)
    [notes] = audit_events("purchase_order", po.id, "purchase_order.updated")
    assert notes.changes["notes"] == [None, "call on Monday"]
    assert "expected_date" not in notes.changes  # unchanged values are not recorded


@pytest.mark.parametrize("state", ["closed", "cancelled"])
def test_finished_orders_no_longer_change(purchase_order_in, buyer, state):
    po = purchase_order_in(state)
    before = snapshot()
    with pytest.raises(PurchaseOrderError, match="you must have it open"):
        services.update_expected_date(po.lines[0], date(2031, 1, 1), actor=buyer)
    with pytest.raises(PurchaseOrderError, match="you must have it open"):
        services.update_purchase_order(po, expected_date=None, notes="x", actor=buyer)
    assert snapshot() == before


# --------------------------------------------------------------------------- cancel, close


@pytest.mark.parametrize("state", ["draft", "awaiting_approval", "approved", "ordered"])
def test_cancel_before_anything_is_received(purchase_order_in, buyer, state):
    po = purchase_order_in(state)
    services.cancel_purchase_order(po, actor=buyer, reason="customer changed the range")
    db.session.commit()
    assert po.state == S.cancelled
    assert po.closed_at is not None
    [event] = audit_events("purchase_order", po.id, "purchase_order.cancelled")
    assert event.changes == {"state": [state, "cancelled"], "note": "customer changed the range"}


def test_cancel_needs_a_reason(purchase_order_in, buyer):
    po = purchase_order_in("ordered")
    before = snapshot()
    with pytest.raises(ValidationError, match="you must give a reason"):
        services.cancel_purchase_order(po, actor=buyer, reason="")
    assert snapshot() == before


@pytest.mark.parametrize("state", ["partially_received", "received"])
def test_cancel_after_receipt_fails_close_it_short_instead(purchase_order_in, buyer, state):
    po = purchase_order_in(state)
    before = snapshot()
    with pytest.raises(CancelAfterReceiptError) as err:
        services.cancel_purchase_order(po, actor=buyer, reason="too late")
    assert isinstance(err.value, InvalidTransition)
    assert str(err.value) == (f'To cancel purchase order "{po.number}", you must close it short '
                              "instead: part of it has been received.")
    assert snapshot() == before
    assert not services.can_cancel(po)


def test_close_short_cancels_what_remains(purchase_order_in, buyer):
    po = purchase_order_in("partially_received")  # 4 of 10
    services.close_purchase_order(po, actor=buyer, reason="supplier out of stock")
    db.session.commit()
    line = po.lines[0]
    assert (po.state, line.received_qty, line.cancelled_qty, line.remaining_qty) == (
        S.closed, 4, 6, 0)
    assert po.closed_at is not None
    [event] = audit_events("purchase_order", po.id, "purchase_order.closed")
    assert event.changes["cancelled"] == [{"line": line.id, "sku": line.sku.code, "quantity": 6}]
    assert event.changes["note"] == "supplier out of stock"


def test_close_short_needs_a_reason(purchase_order_in, buyer):
    po = purchase_order_in("partially_received")
    before = snapshot()
    with pytest.raises(ValidationError, match="you must give a reason"):
        services.close_purchase_order(po, actor=buyer, reason=None)
    assert snapshot() == before


def test_close_a_fully_received_order_needs_no_reason(purchase_order_in, buyer):
    po = purchase_order_in("received")
    services.close_purchase_order(po, actor=buyer, reason="")
    assert (po.state, po.lines[0].cancelled_qty) == (S.closed, 0)


# --------------------------------------------------------------------------- the state table

ACTIONS = {
    "submit": lambda po, user, manager: services.submit_purchase_order(po, actor=user),
    "approve": lambda po, user, manager: services.approve_purchase_order(po, approver=manager),
    "send_back": lambda po, user, manager: services.send_back_purchase_order(
        po, actor=manager, reason="why not"),
    "order": lambda po, user, manager: services.mark_purchase_order_ordered(po, actor=user),
    "cancel": lambda po, user, manager: services.cancel_purchase_order(po, actor=user,
                                                                       reason="why not"),
    "close": lambda po, user, manager: services.close_purchase_order(po, actor=user,
                                                                     reason="why not"),
}
ALLOWED = {
    "submit": {"draft"}, "approve": {"awaiting_approval"}, "send_back": {"awaiting_approval"},
    "order": {"approved"}, "cancel": {"draft", "awaiting_approval", "approved", "ordered"},
    "close": {"partially_received", "received"},
}
STATES = [s.value for s in PurchaseOrderState]
REFUSED = [(state, action) for state in STATES for action in ACTIONS
           if state not in ALLOWED[action]]


@pytest.mark.parametrize(("state", "action"), REFUSED)
def test_every_disallowed_transition_raises_invalid_transition(purchase_order_in, buyer,
                                                               manager, state, action):
    po = purchase_order_in(state)
    before = snapshot()
    with pytest.raises(InvalidTransition) as err:
        ACTIONS[action](po, buyer, manager)
    assert po.state == state
    assert snapshot() == before
    message = str(err.value)
    assert message.startswith("To ")
    if not isinstance(err.value, CancelAfterReceiptError):
        assert f'it is "{state.replace("_", " ")}"' in message


@pytest.mark.parametrize("state", STATES)
def test_predicates_match_the_state_table(purchase_order_in, manager, state):
    po = purchase_order_in(state)
    assert services.can_submit(po) == (state in ALLOWED["submit"])
    assert services.can_approve(po, manager) == (state in ALLOWED["approve"])
    assert services.can_send_back(po, manager) == (state in ALLOWED["send_back"])
    assert services.can_order(po) == (state in ALLOWED["order"])
    assert services.can_cancel(po) == (state in ALLOWED["cancel"])
    assert services.can_close(po) == (state in ALLOWED["close"])
    assert services.can_receive(po) == (state in {"ordered", "partially_received"})
    assert services.can_edit_lines(po) == (state == "draft")


def test_submit_of_a_draft_without_lines_is_not_offered(draft):
    assert not services.can_submit(draft)


def test_document_numbers_are_sequential_across_orders(create_purchase_order):
    first = create_purchase_order(state="approved")
    second = create_purchase_order(state="approved")
    assert (first.number, second.number) == (f"PO-{YEAR}-000001", f"PO-{YEAR}-000002")
    assert db.session.scalar(select(func.count()).select_from(PurchaseOrder)) == 2

