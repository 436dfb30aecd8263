"""Cycle count services: opening, freezing, counting, scanning, review, recount, accept, cancel."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.errors import PermissionDenied, ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import (
    CycleCount,
    CycleCountLine,
    CycleCountState,
    LocationKind,
    MoveKind,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import (
    cycle_count_lines_query,
    frozen_keys,
    frozen_levels_query,
    ledger_problems,
)
from erp.warehouse.services import CountError, StockError


def level(sku, location) -> StockLevel:
    db.session.expire_all()
    return db.session.get(StockLevel, (sku.id, location.id))


def n_moves(**where) -> int:
    stmt = select(func.count()).select_from(StockMove)
    for key, value in where.items():
        stmt = stmt.where(getattr(StockMove, key) == value)
    return db.session.scalar(stmt)


def n_audit(action: str | None = None) -> int:
    stmt = select(func.count()).select_from(AuditEvent)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return db.session.scalar(stmt)


@pytest.fixture
def manager(create_user):
    return create_user("boss", roles=("manager",))


@pytest.fixture
def counter(create_user):
    return create_user("picker", roles=("warehouse",))


@pytest.fixture
def stock(create_sku, create_bin, receive_stock):
    """Two SKUs in three bins: A1 holds 10 red + 4 blue, A2 holds 6 red, A3 is empty."""
    red = create_sku("RED-M", barcode="4006381333931")
    blue = create_sku("BLUE-M")
    a1, a2, a3 = (create_bin(f"A-01-01-0{i}") for i in (1, 2, 3))
    receive_stock(red, a1, 10, "2.00")
    receive_stock(blue, a1, 4, "5.00")
    receive_stock(red, a2, 6, "2.00")
    db.session.commit()
    return {"red": red, "blue": blue, "a1": a1, "a2": a2, "a3": a3}


def open_count(stock, actor, bins=("a1",), skus=()) -> CycleCount:
    count = services.open_cycle_count(
        stock["a1"].warehouse, location_ids=[stock[b].id for b in bins],
        sku_ids=[stock[s].id for s in skus], note="spot check", actor=actor)
    db.session.commit()
    return count


def lines_by_key(count) -> dict:
    return {(ln.sku.code, ln.location.code): ln for ln in count.lines}


def count_all(count, actor, **quantities):
    """Count every line as expected, except those given as ``{"SKU@BIN": quantity}``."""
    for line in count.lines:
        services.record_count(line, quantities.get(f"{line.sku.code}@{line.location.code}",
                                                   line.expected_qty), actor=actor)
    db.session.commit()


# --------------------------------------------------------------------------- opening


def test_open_cycle_count_by_bins_lists_every_level_with_expected_on_hand(stock, counter):
    count = open_count(stock, counter, bins=("a1", "a2"))
    assert count.number.startswith("CC-")
    assert count.state == CycleCountState.open
    assert {k: ln.expected_qty for k, ln in lines_by_key(count).items()} == {
        ("RED-M", "A-01-01-01"): 10, ("BLUE-M", "A-01-01-01"): 4, ("RED-M", "A-01-01-02"): 6}
    assert all(ln.counted_qty is None for ln in count.lines)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.opened")).one()
    assert event.changes["lines"] == 3
    assert event.actor_id == counter.id


def test_open_cycle_count_by_skus_covers_every_bin_of_the_sku(stock, counter):
    count = open_count(stock, counter, bins=(), skus=("red",))
    assert set(lines_by_key(count)) == {("RED-M", "A-01-01-01"), ("RED-M", "A-01-01-02")}


def test_open_cycle_count_with_bins_and_skus_takes_those_skus_in_those_bins(stock, counter):
    count = open_count(stock, counter, bins=("a1",), skus=("red",))
    assert set(lines_by_key(count)) == {("RED-M", "A-01-01-01")}


def test_open_cycle_count_includes_existing_levels_at_zero(stock, counter):
    services.transfer(stock["red"], stock["a2"], stock["a3"], 6, actor=None)
    db.session.commit()
    count = open_count(stock, counter, bins=("a2",))
    assert {k: ln.expected_qty for k, ln in lines_by_key(count).items()} == {
        ("RED-M", "A-01-01-02"): 0}


def test_open_cycle_count_without_bins_or_skus_fails(stock, counter):
    with pytest.raises(ValidationError, match="choose some bins or SKUs"):
        services.open_cycle_count(stock["a1"].warehouse, note=None, actor=counter)


def test_open_cycle_count_with_a_bin_of_another_warehouse_fails(stock, counter):
    other = services.create_warehouse(code="WH2", name="Other", country="CN", actor=None)
    bin_b = services.create_location(other, code="B-01", kind="storage", actor=None)
    with pytest.raises(ValidationError, match="B-01 is not one"):
        services.open_cycle_count(stock["a1"].warehouse, location_ids=[bin_b.id], note=None,
                                  actor=counter)


def test_open_cycle_count_over_bins_without_levels_fails(stock, counter):
    with pytest.raises(CountError, match="none match"):
        services.open_cycle_count(stock["a3"].warehouse, location_ids=[stock["a3"].id],
                                  note=None, actor=counter)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CycleCount)) == 0


def test_open_overlapping_cycle_count_fails_naming_the_other_count(stock, counter):
    first = open_count(stock, counter, bins=("a1",))
    with pytest.raises(CountError, match=f"cycle count {first.number}.*RED-M.*already being"):
        services.open_cycle_count(stock["a1"].warehouse, location_ids=[stock["a1"].id],
                                  sku_ids=[stock["red"].id], note=None, actor=counter)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CycleCount)) == 1
    # a count on other pairs is fine
    assert open_count(stock, counter, bins=("a2",)).number != first.number


def test_a_finished_count_does_not_block_a_new_one(stock, counter):
    first = open_count(stock, counter, bins=("a1",))
    services.cancel_cycle_count(first, actor=counter)
    db.session.commit()
    assert open_count(stock, counter, bins=("a1",)).state == CycleCountState.open


def test_reserved_stock_may_be_counted(stock, counter):
    services.reserve(stock["red"], stock["a1"], 3, ref_type="order_line", ref_id=1, actor=None)
    db.session.commit()
    count = open_count(stock, counter, bins=("a1",))
    assert lines_by_key(count)[("RED-M", "A-01-01-01")].expected_qty == 10


# --------------------------------------------------------------------------- freezing


def test_frozen_stock_refuses_transfers_naming_the_count(stock, counter):
    count = open_count(stock, counter, bins=("a1",))
    with pytest.raises(StockError, match=f'"RED-M" in bin WH1/A-01-01-01 is frozen by cycle '
                                         f"count {count.number}"):
        services.transfer(stock["red"], stock["a1"], stock["a3"], 1, actor=counter)
    db.session.rollback()
    assert level(stock["red"], stock["a1"]).on_hand == 10
    # stock of the same SKU in a bin outside the count still moves
    services.transfer(stock["red"], stock["a2"], stock["a3"], 1, actor=counter)


def test_frozen_stock_refuses_adjustments_and_receipts(stock, counter, receive_stock):
    open_count(stock, counter, bins=("a1",))
    with pytest.raises(StockError, match="frozen by cycle count"):
        services.request_adjustment(stock["blue"], stock["a1"], -1, reason="damaged", note=None,
                                    actor=counter)
    db.session.rollback()
    with pytest.raises(StockError, match="frozen by cycle count"):
        receive_stock(stock["red"], stock["a1"], 1)


def test_frozen_levels_query_lists_pairs_while_the_count_is_open(stock, counter):
    count = open_count(stock, counter, bins=("a2",))
    rows = db.session.execute(frozen_levels_query()).all()
    assert [(r.sku_id, r.location_id, r.count_number) for r in rows] == [
        (stock["red"].id, stock["a2"].id, count.number)]
    assert frozen_keys(location_id=stock["a1"].id) == {}
    assert frozen_keys(sku_id=stock["red"].id) == {(stock["red"].id, stock["a2"].id):
                                                   count.number}
    services.cancel_cycle_count(count, actor=counter)
    db.session.commit()
    assert db.session.execute(frozen_levels_query()).all() == []


# --------------------------------------------------------------------------- counting


def test_record_count_sets_the_quantity_and_audits_it(stock, counter):
    count = open_count(stock, counter)
    line = lines_by_key(count)[("RED-M", "A-01-01-01")]
    services.record_count(line, 9, actor=counter)
    services.record_count(line, 8, actor=counter)
    db.session.commit()
    assert line.counted_qty == 8
    assert line.variance == -2
    assert line.counted_by_id == counter.id
    assert line.counted_at is not None
    changes = [e.changes["counted_qty"] for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "cycle_count.line_counted")
        .order_by(AuditEvent.id))]
    assert changes == [[None, 9], [9, 8]]


@pytest.mark.parametrize("quantity", [-1, 1.5, "3", True, 10_000_000])
def test_record_count_refuses_bad_quantities(stock, counter, quantity):
    line = open_count(stock, counter).lines[0]
    with pytest.raises(ValidationError, match="whole number"):
        services.record_count(line, quantity, actor=counter)


def test_record_counts_is_all_or_nothing(stock, counter):
    count = open_count(stock, counter)
    first, second = count.lines
    with pytest.raises(ValidationError, match="whole number"):
        services.record_counts(count, {first.id: 3, second.id: -4}, actor=counter)
    db.session.rollback()
    assert first.counted_qty is None
    assert services.record_counts(count, {first.id: 3, second.id: 4}, actor=counter) == 2


def test_record_counts_refuses_a_line_of_another_count(stock, counter):
    count = open_count(stock, counter, bins=("a1",))
    other = open_count(stock, counter, bins=("a2",))
    with pytest.raises(ValidationError, match="not part of cycle count"):
        services.record_counts(count, {other.lines[0].id: 1}, actor=counter)


def test_record_count_after_submit_fails(stock, counter):
    count = open_count(stock, counter, bins=("a2",))
    count_all(count, counter)
    services.submit_for_review(count, actor=counter)
    db.session.commit()
    with pytest.raises(CountError, match='it must be open; it is "review"'):
        services.record_count(count.lines[0], 1, actor=counter)


def test_scans_accumulate_one_each_or_the_typed_quantity(stock, counter):
    count = open_count(stock, counter)
    for _ in range(3):
        services.record_scan(count, "a-01-01-01", "RED-M", actor=counter)
    line = services.record_scan(count, "A-01-01-01", "4006381333931", 5, actor=counter)  # barcode
    db.session.commit()
    assert line.sku.code == "RED-M"
    assert line.counted_qty == 8
    assert n_audit("cycle_count.scanned") == 4


def test_scan_of_unknown_bin_or_sku_fails_naming_the_field(stock, counter):
    count = open_count(stock, counter)
    with pytest.raises(ValidationError, match="No active bin") as err:
        services.record_scan(count, "Z-99", "RED-M", actor=counter)
    assert err.value.field == "bin_code"
    with pytest.raises(ValidationError, match="No SKU has") as err:
        services.record_scan(count, "A-01-01-01", "NOPE", actor=counter)
    assert err.value.field == "sku_code"
    with pytest.raises(ValidationError, match="whole number"):
        services.record_scan(count, "A-01-01-01", "RED-M", -1, actor=counter)


def test_scan_of_an_unexpected_sku_adds_a_frozen_line_expecting_zero(stock, counter,
                                                                     receive_stock):
    count = open_count(stock, counter, bins=("a2",))
    line = services.record_scan(count, "A-01-01-02", "BLUE-M", actor=counter)
    line = services.record_scan(count, "A-01-01-02", "BLUE-M", actor=counter)
    db.session.commit()
    assert (line.expected_qty, line.counted_qty, line.variance) == (0, 2, 2)
    assert len(count.lines) == 2
    assert n_audit("cycle_count.line_added") == 1
    with pytest.raises(StockError, match=f"frozen by cycle count {count.number}"):
        receive_stock(stock["blue"], stock["a2"], 1)


def test_add_count_line_refuses_a_listed_pair_and_a_pair_of_another_count(stock, counter):
    first = open_count(stock, counter, bins=("a1",))
    second = open_count(stock, counter, bins=("a2",))
    with pytest.raises(CountError, match="already lists"):
        services.add_count_line(first, stock["a1"], stock["red"], counted_qty=1, actor=counter)
    with pytest.raises(CountError, match=f"cycle count {first.number}, which counts it"):
        services.add_count_line(second, stock["a1"], stock["red"], counted_qty=1, actor=counter)


def test_add_count_line_refuses_a_bin_of_another_warehouse(stock, counter, create_sku):
    other = services.create_warehouse(code="WH2", name="Other", country="CN", actor=None)
    bin_b = services.create_location(other, code="B-01", kind="storage", actor=None)
    count = open_count(stock, counter)
    with pytest.raises(ValidationError, match="not an active bin of warehouse WH1"):
        services.add_count_line(count, bin_b, stock["red"], counted_qty=1, actor=counter)


def test_bins_from_text_takes_codes_ranges_and_prefixes(stock, create_bin):
    create_bin("B-02-01-01")
    warehouse = stock["a1"].warehouse
    codes = lambda text: [b.code for b in services.bins_from_text(warehouse, text)]  # noqa: E731
    assert codes("a-01-01-03, A-01-01-01") == ["A-01-01-01", "A-01-01-03"]
    assert codes("A-01-01-01 .. A-01-01-02") == ["A-01-01-01", "A-01-01-02"]
    assert codes("A-01-01-03..A-01-01-02") == ["A-01-01-02", "A-01-01-03"]
    assert codes("A-*\nB-02-01-01") == ["A-01-01-01", "A-01-01-02", "A-01-01-03", "B-02-01-01"]
    with pytest.raises(ValidationError, match='matches "Z-\\*"'):
        services.bins_from_text(warehouse, "A-01-01-01 Z-*")
    assert services.skus_from_text("red-m 4006381333931 BLUE-M") == [stock["red"],
                                                                       stock["blue"]]
    with pytest.raises(ValidationError, match="NOPE"):
        services.skus_from_text("RED-M NOPE")


# --------------------------------------------------------------------------- review


def test_submit_with_uncounted_lines_fails_naming_how_many(stock, counter):
    count = open_count(stock, counter, bins=("a1", "a2"))
    services.record_count(count.lines[0], 1, actor=counter)
    with pytest.raises(CountError, match="2 of 3 are not counted yet"):
        services.submit_for_review(count, actor=counter)
    assert count.state == CycleCountState.open


def test_submit_for_review_moves_to_review_and_audits(stock, counter):
    count = open_count(stock, counter)
    count_all(count, counter, **{"RED-M@A-01-01-01": 9})
    services.submit_for_review(count, actor=counter)
    db.session.commit()
    assert count.state == CycleCountState.review
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.review")).one()
    assert event.changes["state"] == ["open", "review"]
    assert event.changes["lines_with_variance"] == 1


def reviewed(stock, counter, bins=("a1",), **quantities) -> CycleCount:
    count = open_count(stock, counter, bins=bins)
    count_all(count, counter, **quantities)
    services.submit_for_review(count, actor=counter)
    db.session.commit()
    return count


def test_recount_clears_the_ticked_lines_and_reopens(stock, counter, manager):
    count = reviewed(stock, counter, **{"RED-M@A-01-01-01": 7})
    red = lines_by_key(count)[("RED-M", "A-01-01-01")]
    blue = lines_by_key(count)[("BLUE-M", "A-01-01-01")]
    services.recount(count, [red.id], actor=manager, note="check the top shelf")
    db.session.commit()
    assert count.state == CycleCountState.open
    assert red.counted_qty is None
    assert red.counted_by_id is None
    assert blue.counted_qty == 4
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.open")).one()
    assert event.changes["recount"][0]["counted_qty"] == 7
    assert event.changes["note"] == "check the top shelf"


def test_recount_needs_a_manager_and_ticked_lines(stock, counter, manager):
    count = reviewed(stock, counter)
    with pytest.raises(PermissionDenied, match="manager"):
        services.recount(count, [count.lines[0].id], actor=counter)
    with pytest.raises(ValidationError, match="tick the lines"):
        services.recount(count, [], actor=manager)
    with pytest.raises(ValidationError, match="not part of"):
        services.recount(count, [999_999], actor=manager)
    db.session.rollback()
    assert count.state == CycleCountState.review
    assert all(ln.counted_qty is not None for ln in count.lines)


def test_accept_by_non_manager_is_denied_and_changes_nothing(stock, counter):
    count = reviewed(stock, counter, **{"RED-M@A-01-01-01": 7})
    moves, events = n_moves(), n_audit()
    with pytest.raises(PermissionDenied, match="manager"):
        services.accept_cycle_count(count, actor=counter)
    db.session.rollback()
    assert count.state == CycleCountState.review
    assert (n_moves(), n_audit()) == (moves, events)


def test_accept_posts_exactly_the_variance_moves(stock, counter, manager):
    count = reviewed(stock, counter, bins=("a1", "a2"),
                     **{"RED-M@A-01-01-01": 7, "BLUE-M@A-01-01-01": 6})
    adjustment = services.virtual_location(LocationKind.adjustment)
    services.accept_cycle_count(count, actor=manager)
    db.session.commit()
    assert count.state == CycleCountState.accepted
    assert count.decided_by_id == manager.id
    assert count.decided_at is not None
    moves = db.session.scalars(select(StockMove).where(StockMove.ref_type == "cycle_count")
                               .order_by(StockMove.id)).all()
    got = {(m.sku.code, m.from_location.code, m.to_location.code, m.quantity) for m in moves}
    assert got == {("RED-M", "A-01-01-01", adjustment.code, 3),
                   ("BLUE-M", adjustment.code, "A-01-01-01", 2)}
    assert all(m.kind == MoveKind.count and m.ref_id == count.id for m in moves)
    assert level(stock["red"], stock["a1"]).on_hand == 7
    assert level(stock["blue"], stock["a1"]).on_hand == 6
    assert level(stock["red"], stock["a2"]).on_hand == 6  # counted as expected: no move
    assert ledger_problems(db.session) == []
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.accepted")).one()
    assert event.changes["moves"] == 2
    assert event.changes["variance_units"] == -1
    assert Decimal(event.changes["variance_value"]) == Decimal("4.00")  # -3 x 2.00 + 2 x 5.00
    # the stock is no longer frozen
    services.transfer(stock["red"], stock["a1"], stock["a3"], 7, actor=counter)


def test_accept_without_variance_posts_nothing(stock, counter, manager):
    count = reviewed(stock, counter)
    services.accept_cycle_count(count, actor=manager)
    db.session.commit()
    assert count.state == CycleCountState.accepted
    assert n_moves(ref_type="cycle_count") == 0
    assert ledger_problems(db.session) == []


def test_accept_below_reserved_is_refused_and_changes_nothing(stock, counter, manager):
    services.reserve(stock["red"], stock["a1"], 5, ref_type="order_line", ref_id=1, actor=None)
    db.session.commit()
    count = reviewed(stock, counter, **{"RED-M@A-01-01-01": 3})
    moves = n_moves()
    with pytest.raises(CountError, match=r'"RED-M" in bin WH1/A-01-01-01 needs at least 5 '
                                         r"counted: that many are reserved, but 3 were counted"):
        services.accept_cycle_count(count, actor=manager)
    db.session.rollback()
    assert count.state == CycleCountState.review
    assert n_moves() == moves
    assert level(stock["red"], stock["a1"]).on_hand == 10


def test_accept_sets_the_counted_quantity_even_if_on_hand_changed(stock, counter, manager):
    count = reviewed(stock, counter, bins=("a2",), **{"RED-M@A-01-01-02": 5})
    supplier = services.virtual_location(LocationKind.supplier)
    # a move allowed to touch frozen stock (only services that pass allow_frozen can do this)
    services.post_moves([services.MoveSpec(stock["red"].id, supplier.id, stock["a2"].id, 2,
                                           MoveKind.receipt, unit_cost=Decimal("2"))],
                        actor=None, allow_frozen=True)
    db.session.commit()
    services.accept_cycle_count(count, actor=manager)
    db.session.commit()
    assert level(stock["red"], stock["a2"]).on_hand == 5
    assert ledger_problems(db.session) == []
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.accepted")).one()
    assert event.changes["on_hand_changed"][0]["on_hand"] == 8


def test_cancel_releases_the_freeze_and_moves_nothing(stock, counter):
    count = open_count(stock, counter)
    services.cancel_cycle_count(count, actor=counter, note="wrong bins")
    db.session.commit()
    assert count.state == CycleCountState.cancelled
    assert n_moves(ref_type="cycle_count") == 0
    services.transfer(stock["red"], stock["a1"], stock["a3"], 1, actor=counter)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "cycle_count.cancelled")).one()
    assert event.changes == {"state": ["open", "cancelled"], "note": "wrong bins"}


# --------------------------------------------------------------------------- invalid transitions


def _snapshot(count):
    db.session.expire_all()
    return (count.state, [(ln.id, ln.counted_qty) for ln in count.lines], n_moves(), n_audit())


@pytest.mark.parametrize(("state", "action"), [
    ("open", "accept"), ("open", "recount"),
    ("review", "submit"),
    ("accepted", "accept"), ("accepted", "cancel"), ("accepted", "recount"),
    ("accepted", "submit"), ("cancelled", "cancel"), ("cancelled", "accept"),
])
def test_invalid_transition_leaves_nothing_changed(stock, counter, manager, state, action):
    count = open_count(stock, counter)
    count_all(count, counter, **{"RED-M@A-01-01-01": 9})
    if state != "open":
        services.submit_for_review(count, actor=counter)
    if state == "accepted":
        services.accept_cycle_count(count, actor=manager)
    if state == "cancelled":
        services.cancel_cycle_count(count, actor=counter)
    db.session.commit()
    before = _snapshot(count)
    calls = {
        "accept": lambda: services.accept_cycle_count(count, actor=manager),
        "recount": lambda: services.recount(count, [count.lines[0].id], actor=manager),
        "submit": lambda: services.submit_for_review(count, actor=counter),
        "cancel": lambda: services.cancel_cycle_count(count, actor=counter),
    }
    with pytest.raises(InvalidTransition, match=f'it is "{state}"'):
        calls[action]()
    db.session.rollback()
    assert _snapshot(count) == before


def test_counting_an_accepted_count_fails(stock, counter, manager):
    count = reviewed(stock, counter)
    services.accept_cycle_count(count, actor=manager)
    db.session.commit()
    with pytest.raises(CountError, match="it must be open"):
        services.record_scan(count, "A-01-01-01", "RED-M", actor=counter)
    with pytest.raises(CountError, match="it must be open"):
        services.add_count_line(count, stock["a3"], stock["red"], counted_qty=1, actor=counter)


def test_count_lines_are_unique_per_sku_and_bin(stock, counter):
    count = open_count(stock, counter, bins=("a2",))
    assert db.session.scalar(select(func.count()).select_from(CycleCountLine)) == 1
    assert services.open_count_for(stock["red"].id, stock["a2"].id) == count
    assert services.open_count_for(stock["red"].id, stock["a1"].id) is None


# --------------------------------------------------------------------------- demo


def test_demo_opens_one_cycle_count_once(app):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo as load_catalog
    from erp.warehouse.demo import DEMO_COUNT_NOTE, load_demo

    load_brands()
    load_catalog()
    load_demo()
    db.session.commit()
    load_demo()
    db.session.commit()
    count = db.session.scalars(select(CycleCount)).one()
    assert count.note == DEMO_COUNT_NOTE
    assert count.state == CycleCountState.open
    assert len({ln.location_id for ln in count.lines}) == 4
    assert sum(ln.counted_qty is not None for ln in count.lines) == 1
    assert frozen_keys(warehouse_id=count.warehouse_id)
    assert ledger_problems(db.session) == []


def test_count_lines_come_in_bin_walking_order(create_sku, create_bin, receive_stock, counter):
    sku = create_sku("TEE")
    late = create_bin("A-01-01-01", pick_sequence=300)  # first by code, last on the walk
    early = create_bin("C-09-09-09", pick_sequence=100)
    middle = create_bin("B-05-05-05", pick_sequence=200)
    for location in (late, early, middle):
        receive_stock(sku, location, 1)
    count = services.open_cycle_count(late.warehouse, sku_ids=[sku.id], note=None,
                                      actor=counter)
    rows = db.session.execute(cycle_count_lines_query(count.id)).all()
    assert [r.bin_code for r in rows] == ["C-09-09-09", "B-05-05-05", "A-01-01-01"]
