"""After-sales limits under concurrency, on PostgreSQL: 8 identical calls at once, one case.

The case owns what may still be refunded, its one replacement and what may still come back;
the order owns what its cases may still claim. Each guarded service locks the owner before it
reads the figures, so of 8 simultaneous calls exactly the allowed number win and the others
are told why. (Demo finding: three refund requests at once were all approved.)
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.aftersales.exports import mark_exported
from erp.aftersales.models import AfterSalesCase, CaseState, CaseType, Refund, RefundState
from erp.aftersales.services import cases, resolution, returns
from erp.core import services as core_services
from erp.core.models import AuditEvent, User
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_config():
    return POOL_CONFIG



@pytest.fixture
def shipped(ship_order, customs_stock, reasons, returns_bins):
    """Return an order shipped with 2 x TEE-1 at 15.00 (EUR): 30.00 refundable."""
    return ship_order([(customs_stock("TEE-1"), 2, "15.00")])


def _open(order, reasons, case_type, *, actor=None) -> AfterSalesCase:
    case = cases.open_case(order, case_type=case_type, reason=reasons["DEFECTIVE"],
                           lines={line.id: line.quantity for line in order.lines}, actor=actor)
    db.session.commit()
    return case


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _audits(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action))


def _on_hand(location_id: int) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(StockLevel.on_hand), 0))
                             .where(StockLevel.location_id == location_id))


def test_eight_requests_to_refund_the_whole_case_refund_it_once(app, shipped, reasons, people):
    case_id = _open(shipped, reasons, CaseType.refund_only).id

    def prepare(n):
        case, agent = db.session.get(AfterSalesCase, case_id), _user(people["customer_service"][n])
        _ = case.refunds, case.state  # what the refund screen showed
        return lambda: resolution.request_refund(case, amount="30.00", actor=agent)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("is above what may still be refunded (0.00 EUR" in message
               for message in outcomes.messages()), outcomes.messages()
    refunds = db.session.scalars(select(Refund).where(Refund.case_id == case_id)).all()
    assert [(r.amount, r.state) for r in refunds] == [(Decimal("30.00"), RefundState.approved)]
    case = db.session.get(AfterSalesCase, case_id)
    assert case.state == CaseState.resolved
    assert resolution.refundable_amount(case) == Decimal("0.00")
    assert _audits("aftersales_case.resolved") == 1
    assert ledger_problems(db.session) == []


def test_eight_approvals_of_one_pending_refund_approve_it_once(app, shipped, reasons, people):
    core_services.update_settings({"refund_approval_threshold": "0"}, actor=None)
    case = _open(shipped, reasons, CaseType.refund_only)
    refund = resolution.request_refund(case, amount="30.00",
                                       actor=_user(people["customer_service"][0]))
    db.session.commit()
    assert refund.state == RefundState.pending
    refund_id, case_id = refund.id, case.id

    def prepare(n):
        pending, manager = db.session.get(Refund, refund_id), _user(people["manager"][n])
        _ = pending.state, pending.case.state
        return lambda: resolution.approve_refund(pending, actor=manager)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all(isinstance(err, InvalidTransition) for err in outcomes.refusals)
    assert all('it is "approved"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert db.session.get(Refund, refund_id).state == RefundState.approved
    assert db.session.get(AfterSalesCase, case_id).state == CaseState.resolved
    assert _audits("refund.approved") == 1
    assert _audits("aftersales_case.resolved") == 1
    assert ledger_problems(db.session) == []


def test_eight_replacements_of_one_case_make_one_order(app, shipped, reasons, people):
    case_id = _open(shipped, reasons, CaseType.replacement_only).id
    orders_before = db.session.scalar(select(func.count()).select_from(CustomerOrder))

    def prepare(n):
        case, agent = db.session.get(AfterSalesCase, case_id), _user(people["customer_service"][n])
        _ = case.replacement_order_id, case.state, case.lines
        return lambda: resolution.create_replacement(case, actor=agent).number

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    [number] = outcomes.results
    assert all(f"already has its replacement order {number}" in message
               for message in outcomes.messages()), outcomes.messages()
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == orders_before + 1
    case = db.session.get(AfterSalesCase, case_id)
    assert case.replacement_order.number == number
    assert case.state == CaseState.resolved
    assert ledger_problems(db.session) == []


def test_eight_receipts_of_one_return_post_it_once(app, shipped, reasons, people, returns_bins):
    case = _open(shipped, reasons, CaseType.return_refund)
    cases.authorise_return(case, actor=None)
    db.session.commit()
    case_id, line_id, returns_id = case.id, case.lines[0].id, returns_bins["returns"].id

    def prepare(n):
        case, user = db.session.get(AfterSalesCase, case_id), _user(people["warehouse"][n])
        _ = case.state, case.items
        return lambda: returns.receive_return(case, [(line_id, None, None, 2)], actor=user)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("a return is received once" in message for message in outcomes.messages()), \
        outcomes.messages()
    case = db.session.get(AfterSalesCase, case_id)
    assert case.state == CaseState.received
    assert [(item.quantity, item.unexpected) for item in case.items] == [(2, False)]
    assert _on_hand(returns_id) == 2
    assert ledger_problems(db.session) == []


def test_eight_inspections_of_one_item_grade_it_once(app, ship_order, customs_stock, reasons,
                                                     people, returns_bins):
    order = ship_order([(customs_stock("TEE-1"), 2, "15.00"), (customs_stock("TEE-2"), 1, "9")])
    case = _open(order, reasons, CaseType.return_refund)
    cases.authorise_return(case, actor=None)
    first, _second = returns.receive_return(
        case, [(line.id, None, None, line.quantity) for line in case.lines], actor=None)
    db.session.commit()
    # Only the first item is graded: the case stays "received", so its state alone cannot stop
    # a second grading; the item's grade, read under the case's lock, must.
    case_id, item_id = case.id, first.id
    quarantine_id, returns_id = returns_bins["quarantine"].id, returns_bins["returns"].id

    def prepare(n):
        case, user = db.session.get(AfterSalesCase, case_id), _user(people["warehouse"][n])
        _ = [item.grade for item in case.items]
        return lambda: returns.inspect_return(case, {item_id: [("B", 2, None)]}, actor=user)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("is already graded B" in message for message in outcomes.messages()), \
        outcomes.messages()
    assert db.session.get(AfterSalesCase, case_id).state == CaseState.received
    assert _on_hand(quarantine_id) == 2
    assert _on_hand(returns_id) == 1
    assert ledger_problems(db.session) == []


def test_eight_cases_for_the_whole_order_open_one(app, shipped, reasons, people):
    order_id = shipped.id
    line_id = shipped.lines[0].id

    def prepare(n):
        order, agent = db.session.get(CustomerOrder, order_id), _user(people["customer_service"][n])
        _ = order.lines
        return lambda: cases.open_case(order, case_type=CaseType.return_refund,
                                       reason="DEFECTIVE", lines={line_id: 2}, actor=agent)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("is more than order" in message and "2 already in earlier cases; at most 0" in
               message for message in outcomes.messages()), outcomes.messages()
    assert db.session.scalar(select(func.count()).select_from(AfterSalesCase)) == 1
    assert ledger_problems(db.session) == []


def test_eight_authorisations_of_one_case_authorise_it_once(app, shipped, reasons, people):
    case_id = _open(shipped, reasons, CaseType.return_refund).id

    def prepare(n):
        case, agent = db.session.get(AfterSalesCase, case_id), _user(people["customer_service"][n])
        _ = case.state
        return lambda: cases.authorise_return(case, actor=agent)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all('it is "awaiting return"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert _audits("aftersales_case.awaiting_return") == 1


def test_eight_confirmations_of_one_export_stamp_each_refund_once(app, shipped, reasons, people):
    case = _open(shipped, reasons, CaseType.refund_only)
    refund = resolution.request_refund(case, amount="30.00", actor=None)
    db.session.commit()
    refund_id = refund.id

    def prepare(n):
        agent = _user(people["customer_service"][n])
        return lambda: mark_exported([refund_id], actor=agent)

    outcomes = race(app, prepare)
    assert sorted(outcomes.results) == [0] * (CALLS - 1) + [1]
    assert db.session.get(Refund, refund_id).exported_at is not None
    assert _audits("refund.exported") == 1
