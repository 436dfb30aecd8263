"""Scenario: stock in bins -> open a count -> scan -> review -> recount -> accept -> check.

Written as numbered steps, like Tryton's ``scenario_*.rst``; it calls services only, and commits
where a screen would (one unit of work per step).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import (
    CycleCountState,
    LocationKind,
    MoveKind,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import frozen_keys, ledger_problems
from erp.warehouse.services import StockError


def on_hand(sku, location) -> int:
    db.session.expire_all()
    return db.session.get(StockLevel, (sku.id, location.id)).on_hand


def test_cycle_count_scenario(create_user, create_sku, create_bin, receive_stock):
    # 1. Users: a warehouse clerk counts, a manager decides.
    clerk = create_user("clerk", roles=("warehouse",))
    manager = create_user("manager", roles=("manager",))

    # 2. Stock in bins: a tee (cost 2.00) in two bins, a cap (cost 5.00) in the first.
    tee = create_sku("TEE-BLK-M", barcode="4006381333931")
    cap = create_sku("CAP-NAVY")
    mug = create_sku("MUG-WHITE")
    bin_1, bin_2, bin_3 = create_bin("A-01-01-01"), create_bin("A-01-01-02"), create_bin("B-01")
    receive_stock(tee, bin_1, 12, "2.00")
    receive_stock(cap, bin_1, 5, "5.00")
    receive_stock(tee, bin_2, 8, "2.00")
    receive_stock(mug, bin_3, 3, "1.00")
    services.reserve(tee, bin_2, 2, ref_type="order_line", ref_id=77, actor=None)
    db.session.commit()

    # 3. Open a count over zone A (bins by a code range): three lines, their stock frozen.
    warehouse = bin_1.warehouse
    bins = services.bins_from_text(warehouse, "A-01-01-01..A-01-01-99")
    count = services.open_cycle_count(warehouse, location_ids=[b.id for b in bins],
                                      note="zone A weekly", actor=clerk)
    db.session.commit()
    assert count.state == CycleCountState.open
    expected = {(ln.sku.code, ln.location.code): ln.expected_qty for ln in count.lines}
    assert expected == {("TEE-BLK-M", "A-01-01-01"): 12, ("CAP-NAVY", "A-01-01-01"): 5,
                        ("TEE-BLK-M", "A-01-01-02"): 8}
    assert set(frozen_keys()) == {(tee.id, bin_1.id), (cap.id, bin_1.id), (tee.id, bin_2.id)}

    # 4. While counting, the frozen stock cannot move; stock outside the count can.
    with pytest.raises(StockError, match=f"frozen by cycle count {count.number}"):
        services.transfer(tee, bin_1, bin_3, 1, actor=clerk)
    db.session.rollback()
    services.transfer(mug, bin_3, bin_2, 1, actor=clerk)  # the mug is not being counted
    db.session.commit()

    # 5. Scan: bin 1 holds 11 tees (10 scans + a typed 1) and 5 caps; bin 2 holds 8 tees, plus
    #    the mug moved in step 4 (not listed: the count opened before it arrived) found there.
    for _ in range(10):
        services.record_scan(count, "A-01-01-01", "4006381333931", actor=clerk)
    services.record_scan(count, "A-01-01-01", "TEE-BLK-M", 1, actor=clerk)
    services.record_scan(count, "A-01-01-01", "CAP-NAVY", 5, actor=clerk)
    services.record_scan(count, "A-01-01-02", "TEE-BLK-M", 8, actor=clerk)
    found = services.record_scan(count, "A-01-01-02", "MUG-WHITE", actor=clerk)
    db.session.commit()
    assert (found.expected_qty, found.counted_qty) == (1, 1)  # on hand when it was added

    # 6. Submit for review: the tee in bin 1 is one short.
    services.submit_for_review(count, actor=clerk)
    db.session.commit()
    assert count.state == CycleCountState.review
    assert {ln.sku.code: ln.variance for ln in count.lines if ln.variance} == {"TEE-BLK-M": -1}

    # 7. The manager asks for a recount of that line; it goes back to the clerk, cleared.
    short = next(ln for ln in count.lines if ln.variance)
    services.recount(count, [short.id], actor=manager, note="check behind the divider")
    db.session.commit()
    assert count.state == CycleCountState.open
    assert short.counted_qty is None

    # 8. The recount finds 10, not 11: two missing. Submit again.
    services.record_count(short, 10, actor=clerk)
    services.submit_for_review(count, actor=clerk)
    db.session.commit()
    assert services.count_variance(count) == (-2, Decimal("-4.00"))

    # 9. The manager accepts: one count move of 2 tees from bin 1 to inventory adjustment.
    services.accept_cycle_count(count, actor=manager)
    db.session.commit()
    assert count.state == CycleCountState.accepted
    adjustment = services.virtual_location(LocationKind.adjustment)
    moves = db.session.scalars(select(StockMove).where(StockMove.ref_type == "cycle_count",
                                                       StockMove.ref_id == count.id)).all()
    assert [(m.sku_id, m.from_location_id, m.to_location_id, m.quantity, m.kind)
            for m in moves] == [(tee.id, bin_1.id, adjustment.id, 2, MoveKind.count)]
    assert moves[0].unit_cost == Decimal("2.0000")  # valued at the average cost

    # 10. Levels: bin 1 holds what was counted; the reservation in bin 2 is untouched.
    assert on_hand(tee, bin_1) == 10
    assert on_hand(cap, bin_1) == 5
    assert on_hand(tee, bin_2) == 8
    assert db.session.get(StockLevel, (tee.id, bin_2.id)).reserved == 2
    assert ledger_problems(db.session) == []

    # 11. Nothing is frozen any more: the tee moves again.
    assert frozen_keys() == {}
    services.transfer(tee, bin_1, bin_3, 1, actor=clerk)
    db.session.commit()

    # 12. The audit trail tells the whole story of the count, each step by its actor.
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.actor_id)
        .where(AuditEvent.entity_type == "cycle_count", AuditEvent.entity_id == str(count.id))
        .order_by(AuditEvent.id)).all()
    actions = [e.action for e in events]
    assert actions == (["cycle_count.opened"] + ["cycle_count.scanned"] * 13
                       + ["cycle_count.line_added", "cycle_count.review", "cycle_count.open",
                          "cycle_count.line_counted", "cycle_count.review",
                          "cycle_count.accepted"])
    assert events[-1].actor_id == manager.id
    assert events[0].actor_id == clerk.id
    posted = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "stock_move.posted", AuditEvent.entity_id == str(moves[0].id))).one()
    assert posted.changes["ref"] == f"cycle_count:{count.id}"
