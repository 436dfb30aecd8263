"""Cycle counts and adjustments under concurrency, on PostgreSQL: 8 identical calls at once.

The count owns its lines and its decision; an adjustment owns its own. Every count service
locks the count (before any stock level), and deciding an adjustment locks it, before reading
state or quantities: of 8 simultaneous calls exactly the allowed number win, and scans add up.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent, User
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import (
    AdjustmentState,
    CycleCount,
    CycleCountLine,
    CycleCountState,
    StockAdjustment,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import ledger_problems
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_config():
    return POOL_CONFIG



@pytest.fixture
def stock(create_sku, create_bin, receive_stock):
    """Bin A-01-01-01 holding 10 RED-M (at 2.00) and 4 BLUE-M (at 5.00). Committed."""
    red, blue = create_sku("RED-M"), create_sku("BLUE-M")
    a1 = create_bin("A-01-01-01")
    receive_stock(red, a1, 10, "2.00")
    receive_stock(blue, a1, 4, "5.00")
    db.session.commit()
    return {"red": red, "blue": blue, "a1": a1}


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _audits(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action))


def _moves(ref_type: str) -> int:
    return db.session.scalar(select(func.count()).select_from(StockMove)
                             .where(StockMove.ref_type == ref_type))


def _on_hand(sku, location) -> int:
    return db.session.get(StockLevel, (sku.id, location.id)).on_hand


def _count(stock, state: str) -> CycleCount:
    """Open a count of bin A1; ``review``: RED-M counted 8 (2 short), BLUE-M as expected."""
    count = services.open_cycle_count(stock["a1"].warehouse, location_ids=[stock["a1"].id],
                                      actor=None)
    if state == "review":
        counted = {stock["red"].id: 8, stock["blue"].id: 4}
        services.record_counts(count, {line.id: counted[line.sku_id] for line in count.lines},
                               actor=None)
        services.submit_for_review(count, actor=None)
    db.session.commit()
    assert count.state == state
    return count


def _deciding(count_id: int, user_ids, decide):
    def prepare(n):
        count, user = db.session.get(CycleCount, count_id), _user(user_ids[n])
        _ = count.state, [line.counted_qty for line in count.lines]  # what the screen showed
        return lambda: decide(count, user)

    return prepare


def test_eight_acceptances_of_one_count_post_it_once(app, stock, people):
    count_id = _count(stock, "review").id

    outcomes = race(app, _deciding(count_id, people["manager"],
                                   lambda count, user: services.accept_cycle_count(
                                       count, actor=user)))
    assert outcomes.wins == 1
    assert all(isinstance(err, InvalidTransition) for err in outcomes.refusals)
    assert all('it is "accepted"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert db.session.get(CycleCount, count_id).state == CycleCountState.accepted
    assert _moves(services.COUNT_REF) == 1  # RED-M's 2 short; BLUE-M matched
    assert (_on_hand(stock["red"], stock["a1"]), _on_hand(stock["blue"], stock["a1"])) == (8, 4)
    assert _audits("cycle_count.accepted") == 1
    assert ledger_problems(db.session) == []


def test_eight_cancels_of_one_count_cancel_it_once(app, stock, people):
    count_id = _count(stock, "review").id

    outcomes = race(app, _deciding(count_id, people["manager"],
                                   lambda count, user: services.cancel_cycle_count(
                                       count, actor=user)))
    assert outcomes.wins == 1
    assert all('it is "cancelled"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert _audits("cycle_count.cancelled") == 1
    assert _moves(services.COUNT_REF) == 0
    assert ledger_problems(db.session) == []


def test_eight_submissions_of_one_count_submit_it_once(app, stock, people):
    count = _count(stock, "open")
    services.record_counts(count, {line.id: line.expected_qty for line in count.lines},
                           actor=None)
    db.session.commit()
    count_id = count.id

    outcomes = race(app, _deciding(count_id, people["warehouse"],
                                   lambda count, user: services.submit_for_review(
                                       count, actor=user)))
    assert outcomes.wins == 1
    assert all('it is "review"' in message
               for message in outcomes.messages()), outcomes.messages()
    assert _audits("cycle_count.review") == 1


def test_eight_scans_at_once_all_count(app, stock, people):
    count_id = _count(stock, "open").id
    bin_code = stock["a1"].code

    def prepare(n):
        count, user = db.session.get(CycleCount, count_id), _user(people["warehouse"][n])
        _ = [line.counted_qty for line in count.lines]
        return lambda: services.record_scan(count, bin_code, "RED-M", actor=user).id

    outcomes = race(app, prepare)
    assert outcomes.wins == CALLS
    line = db.session.scalar(select(CycleCountLine).where(
        CycleCountLine.count_id == count_id, CycleCountLine.sku_id == stock["red"].id))
    assert line.counted_qty == CALLS
    assert _audits("cycle_count.scanned") == CALLS


def test_eight_scans_of_an_unlisted_sku_add_one_line_that_counts_them_all(app, stock, people,
                                                                           create_sku):
    green = create_sku("GREEN-M")  # never in A1: the first scan adds it to the count
    db.session.commit()
    count_id, green_id = _count(stock, "open").id, green.id
    bin_code = stock["a1"].code

    def prepare(n):
        count, user = db.session.get(CycleCount, count_id), _user(people["warehouse"][n])
        _ = count.lines
        return lambda: services.record_scan(count, bin_code, "GREEN-M", actor=user).id

    outcomes = race(app, prepare)
    assert outcomes.wins == CALLS
    lines = db.session.scalars(select(CycleCountLine).where(
        CycleCountLine.count_id == count_id, CycleCountLine.sku_id == green_id)).all()
    assert [(line.expected_qty, line.counted_qty) for line in lines] == [(0, CALLS)]
    assert _audits("cycle_count.line_added") == 1
    assert _audits("cycle_count.scanned") == CALLS - 1
    assert ledger_problems(db.session) == []


def _pending_adjustment(stock) -> int:
    """Request +150 RED-M in A1 (150 x 2.00 = 300.00, above the 200 threshold); return its id."""
    adjustment = services.request_adjustment(stock["red"], stock["a1"], 150, reason="found",
                                             note="pallet behind the rack", actor=None)
    db.session.commit()
    assert adjustment.state == AdjustmentState.pending
    return adjustment.id


def _deciding_adjustment(adjustment_id: int, user_ids, decide):
    def prepare(n):
        pending, user = db.session.get(StockAdjustment, adjustment_id), _user(user_ids[n])
        _ = pending.state  # what the screen showed
        return lambda: decide(pending, user)

    return prepare


def test_eight_approvals_of_one_adjustment_post_it_once(app, stock, people):
    adjustment_id = _pending_adjustment(stock)

    outcomes = race(app, _deciding_adjustment(
        adjustment_id, people["manager"],
        lambda pending, user: services.approve_adjustment(pending, actor=user)))
    assert outcomes.wins == 1
    assert all('it is "approved"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert db.session.get(StockAdjustment, adjustment_id).state == AdjustmentState.approved
    assert _moves("stock_adjustment") == 1
    assert _on_hand(stock["red"], stock["a1"]) == 160
    assert ledger_problems(db.session) == []


def test_eight_rejections_of_one_adjustment_reject_it_once(app, stock, people):
    adjustment_id = _pending_adjustment(stock)

    outcomes = race(app, _deciding_adjustment(
        adjustment_id, people["manager"],
        lambda pending, user: services.reject_adjustment(pending, actor=user, note="no")))
    assert outcomes.wins == 1
    assert all('it is "rejected"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert _audits("stock_adjustment.rejected") == 1
    assert _moves("stock_adjustment") == 0
    assert _on_hand(stock["red"], stock["a1"]) == 10
