"""Put-away tasks: opened by arrivals in receiving bins, suggested bins, confirmation, refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.errors import DomainError, ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import (
    PUTAWAY_REF,
    LocationKind,
    MoveKind,
    PutawayState,
    PutawayTask,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import ledger_problems, putaway_waiting


def level(sku, location) -> tuple[int, int]:
    lv = db.session.get(StockLevel, (sku.id, location.id), populate_existing=True)
    return (lv.on_hand, lv.reserved) if lv else (0, 0)


def tasks_of(sku) -> list[PutawayTask]:
    db.session.expire_all()
    return list(db.session.scalars(select(PutawayTask).where(PutawayTask.sku_id == sku.id)
                                   .order_by(PutawayTask.id)))


def open_task(sku) -> PutawayTask:
    (task,) = [t for t in tasks_of(sku) if t.state == PutawayState.open]
    return task


def move_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StockMove))


@pytest.fixture
def dock(create_bin):
    """Return the receiving bin RCV-01 (walked first)."""
    return create_bin("RCV-01", kind="receiving", pick_sequence=1)


@pytest.fixture
def shelves(create_bin):
    """Return storage bins A-01-01-01..03 and B-01-01-01..02, in that walking order."""
    return {code: create_bin(code, pick_sequence=100 + n * 10) for n, code in enumerate(
        ["A-01-01-01", "A-01-01-02", "A-01-01-03", "B-01-01-01", "B-01-01-02"])}


# --------------------------------------------------------------------------- tasks


def test_arrival_in_receiving_bin_opens_task_suggesting_bin_that_holds_sku(
        dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, shelves["B-01-01-02"], 3)
    receive_stock(dummy_sku, shelves["A-01-01-03"], 2)
    assert tasks_of(dummy_sku) == []  # storage arrivals need no put-away
    receive_stock(dummy_sku, dock, 24)
    task = open_task(dummy_sku)
    assert (task.quantity, task.done_qty, task.left) == (24, 0, 24)
    assert task.from_location_id == dock.id
    assert task.suggested_location_id == shelves["A-01-01-03"].id  # first holder in walking order
    assert task.number == f"PA-{task.id:06d}"
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "putaway_task.created", AuditEvent.entity_id == str(task.id)))
    assert event.entity_ref == task.number
    assert event.changes["tasks"] == [{
        "task": task.id, "sku": "TS-RED-M", "from_location_id": dock.id, "quantity": 24,
        "suggested_location_id": shelves["A-01-01-03"].id}]
    assert putaway_waiting() == (1, 24)


def test_second_arrival_adds_to_the_open_task(dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, dock, 10)
    receive_stock(dummy_sku, dock, 5)
    (task,) = tasks_of(dummy_sku)
    assert (task.quantity, task.left, task.state) == (15, 15, PutawayState.open)


def test_arrivals_in_two_receiving_bins_make_two_tasks(dummy_sku, dock, create_bin,
                                                       receive_stock):
    other = create_bin("RCV-02", kind="receiving")
    receive_stock(dummy_sku, dock, 4)
    receive_stock(dummy_sku, other, 6)
    assert sorted(t.quantity for t in tasks_of(dummy_sku)) == [4, 6]
    assert putaway_waiting() == (2, 10)


def test_holders_that_are_inactive_frozen_or_counted_are_not_suggested(
        dummy_sku, dummy_warehouse, dock, shelves, receive_stock):
    receive_stock(dummy_sku, shelves["A-01-01-01"], 2)
    receive_stock(dummy_sku, shelves["A-01-01-02"], 2)
    receive_stock(dummy_sku, shelves["B-01-01-01"], 2)
    services.open_cycle_count(dummy_warehouse, location_ids=[shelves["A-01-01-01"].id],
                              actor=None)
    services.transfer(dummy_sku, shelves["A-01-01-02"], shelves["B-01-01-01"], 2, actor=None)
    services.update_location(shelves["A-01-01-02"], kind="storage", pick_sequence=110,
                             active=False, actor=None)
    receive_stock(dummy_sku, dock, 5)
    assert open_task(dummy_sku).suggested_location_id == shelves["B-01-01-01"].id


def test_without_a_holder_an_empty_bin_of_the_products_zone_is_suggested(
        create_product, create_sku, dock, shelves, receive_stock):
    product = create_product()
    red, blue = create_sku(product=product), create_sku(product=product)
    receive_stock(red, shelves["B-01-01-01"], 5)  # the product is kept in zone B
    receive_stock(blue, dock, 8)
    assert open_task(blue).suggested_location_id == shelves["B-01-01-02"].id


def test_without_holder_or_zone_the_first_empty_bin_is_suggested_once(
        create_sku, create_bin, dock, shelves, receive_stock):
    first, second, third = create_sku(), create_sku(), create_sku()
    receive_stock(first, dock, 1)
    receive_stock(second, dock, 1)
    assert open_task(first).suggested_location_id == shelves["A-01-01-01"].id
    # an empty bin promised to an open task is not offered again
    assert open_task(second).suggested_location_id == shelves["A-01-01-02"].id
    services.post_moves([  # one posting of two SKUs: two different empty bins
        services.MoveSpec(sku.id, services.virtual_location(LocationKind.supplier).id, dock.id,
                          2, MoveKind.receipt, unit_cost=1) for sku in (third, create_sku())],
        actor=None)
    suggested = {t.suggested_location_id for t in db.session.scalars(
        select(PutawayTask).where(PutawayTask.state == PutawayState.open))}
    assert len(suggested) == 4
    # one audit event for the posting's two tasks, as the ledger writes one for its moves
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "putaway_task.created").order_by(AuditEvent.id.desc())).first()
    assert event.entity_ref.endswith(" and 1 more")
    assert len(event.changes["tasks"]) == 2


def test_the_receiving_bins_zone_comes_before_the_rest_of_the_warehouse(
        create_sku, create_bin, shelves, receive_stock):
    dock_b = create_bin("B-00-RCV", kind="receiving", pick_sequence=2)
    sku = create_sku()
    receive_stock(sku, dock_b, 3)
    assert open_task(sku).suggested_location_id == shelves["B-01-01-01"].id


def test_no_storage_bin_at_all_leaves_the_task_without_suggestion(dummy_sku, dock,
                                                                  receive_stock):
    receive_stock(dummy_sku, dock, 3)
    assert open_task(dummy_sku).suggested_location_id is None


def test_goods_leaving_receiving_otherwise_shrink_then_cancel_the_task(
        dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, dock, 10)
    services.transfer(dummy_sku, dock, shelves["A-01-01-01"], 4, actor=None)
    assert open_task(dummy_sku).left == 6
    supplier = services.virtual_location(LocationKind.supplier)
    services.post_move(services.MoveSpec(dummy_sku.id, dock.id, supplier.id, 6,
                                         MoveKind.receipt_reversal), actor=None)
    (task,) = tasks_of(dummy_sku)
    assert task.state == PutawayState.cancelled
    assert putaway_waiting() == (0, 0)


# --------------------------------------------------------------------------- confirming


def test_confirm_moves_all_that_is_left_and_marks_the_task_done(
        dummy_sku, dock, shelves, receive_stock, create_user):
    worker = create_user("wes", roles=("warehouse",))
    receive_stock(dummy_sku, dock, 12)
    task = open_task(dummy_sku)
    target = services.find_putaway_bin("a-01-01-01", task)
    move = services.confirm_putaway(task, target, actor=worker)
    db.session.commit()
    assert (move.kind, move.quantity, move.ref_type, move.ref_id) == (
        MoveKind.transfer, 12, PUTAWAY_REF, task.id)
    assert level(dummy_sku, dock) == (0, 0)
    assert level(dummy_sku, target) == (12, 0)
    (task,) = tasks_of(dummy_sku)
    assert (task.state, task.done_qty, task.done_by_id) == (PutawayState.done, 12, worker.id)
    assert task.done_at is not None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "putaway_task.done"))
    assert event.actor_id == worker.id
    assert event.changes["put_away"] == 12
    assert ledger_problems(db.session) == []


def test_confirm_part_keeps_the_task_open_then_the_rest_into_another_bin(
        dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, dock, 10)
    task = open_task(dummy_sku)
    services.confirm_putaway(task, shelves["A-01-01-02"], 4, actor=None)
    task = open_task(dummy_sku)
    assert (task.done_qty, task.left) == (4, 6)
    assert db.session.scalar(select(AuditEvent.changes).where(
        AuditEvent.action == "putaway_task.put_away"))["left"] == [10, 6]
    services.confirm_putaway(task, shelves["B-01-01-01"], actor=None)
    (task,) = tasks_of(dummy_sku)
    assert (task.state, task.done_qty) == (PutawayState.done, 10)
    assert level(dummy_sku, shelves["A-01-01-02"]) == (4, 0)
    assert level(dummy_sku, shelves["B-01-01-01"]) == (6, 0)


def test_a_new_arrival_after_part_is_put_away_grows_the_same_task(
        dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, dock, 10)
    services.confirm_putaway(open_task(dummy_sku), shelves["A-01-01-01"], 4, actor=None)
    receive_stock(dummy_sku, dock, 5)
    task = open_task(dummy_sku)
    assert (task.quantity, task.done_qty, task.left) == (15, 4, 11)


def test_a_repeated_scan_moves_once(dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, dock, 7)
    task = open_task(dummy_sku)
    services.confirm_putaway(task, shelves["A-01-01-01"], actor=None)
    db.session.commit()
    moves = move_count()
    with pytest.raises(services.PutawayError, match=rf"{task.number} is done; nothing is left"):
        services.confirm_putaway(task, shelves["A-01-01-01"], actor=None)
    db.session.rollback()
    assert move_count() == moves
    assert level(dummy_sku, shelves["A-01-01-01"]) == (7, 0)


@pytest.mark.parametrize(("code", "quantity", "error", "message"), [
    ("RCV-02", None, services.PutawayError, "choose a storage bin; this one is a receiving bin"),
    ("QUA-01", None, services.PutawayError, "this one is a quarantine bin"),
    ("A-01-01-02", 11, services.PutawayError, "stay within what is left: 10"),
    ("A-01-01-02", 0, ValidationError, "whole quantity above zero"),
    ("A-01-01-01", None, services.PutawayError, "frozen by cycle count"),
    ("WH2/A-01-01-01", None, services.PutawayError, "choose a bin of warehouse WH1"),
], ids=["receiving", "quarantine", "too-many", "zero", "frozen", "other-warehouse"])
def test_confirm_refusals_name_the_reason_and_change_nothing(
        dummy_sku, dummy_warehouse, dock, shelves, create_bin, receive_stock, code, quantity,
        error, message):
    create_bin("RCV-02", kind="receiving")
    create_bin("QUA-01", kind="quarantine")
    other = services.create_warehouse(code="WH2", name="Other", country="CN", actor=None)
    services.create_location(other, code="A-01-01-01", kind="storage", actor=None)
    receive_stock(dummy_sku, shelves["A-01-01-01"], 1)
    services.open_cycle_count(dummy_warehouse, location_ids=[shelves["A-01-01-01"].id],
                              actor=None)
    receive_stock(dummy_sku, dock, 10)
    db.session.commit()
    task = open_task(dummy_sku)
    moves, audits = move_count(), db.session.scalar(select(func.count(AuditEvent.id)))
    with pytest.raises(error, match=message):
        services.confirm_putaway(task, services.find_putaway_bin(code, task), quantity,
                                 actor=None)
    db.session.rollback()
    task = open_task(dummy_sku)
    assert (task.left, task.done_qty) == (10, 0)
    assert level(dummy_sku, dock) == (10, 0)
    assert move_count() == moves
    assert db.session.scalar(select(func.count(AuditEvent.id))) == audits


def test_an_inactive_bin_is_named_as_inactive(dummy_sku, dock, shelves, receive_stock):
    services.update_location(shelves["A-01-01-02"], kind="storage", pick_sequence=110,
                             active=False, actor=None)
    receive_stock(dummy_sku, dock, 3)
    task = open_task(dummy_sku)
    with pytest.raises(services.PutawayError, match="A-01-01-02.*this one is inactive"):
        services.find_putaway_bin("A-01-01-02", task)
    with pytest.raises(services.PutawayError, match="this one is inactive"):
        services.confirm_putaway(task, shelves["A-01-01-02"], actor=None)
    with pytest.raises(ValidationError, match="No active bin"):
        services.find_putaway_bin("Z-99", task)
    with pytest.raises(ValidationError, match="Scan the bin"):
        services.find_putaway_bin("  ", task)


def test_goods_reserved_in_receiving_cannot_be_put_away(dummy_sku, dock, shelves,
                                                        receive_stock):
    receive_stock(dummy_sku, dock, 5)
    services.reserve(dummy_sku, dock, 2, ref_type="test", ref_id=1, actor=None)
    receive_stock(dummy_sku, dock, 1)  # the task follows what can move: 6 - 2
    task = open_task(dummy_sku)
    assert task.left == 4
    services.confirm_putaway(task, shelves["A-01-01-01"], actor=None)
    assert level(dummy_sku, dock) == (2, 2)


# --------------------------------------------------------------------------- scanning a task


def test_find_task_by_number_sku_code_or_barcode(dummy_sku, dock, shelves, receive_stock):
    receive_stock(dummy_sku, dock, 3)
    task = open_task(dummy_sku)
    for text in (task.number, task.number.lower(), f"PA{task.id}", "ts-red-m", "4006381333931"):
        assert services.find_putaway_task(text).id == task.id, text
    services.confirm_putaway(task, shelves["A-01-01-01"], actor=None)
    assert services.find_putaway_task(task.number).state == PutawayState.done
    with pytest.raises(services.PutawayError, match='SKU "TS-RED-M" has no open put-away task'):
        services.find_putaway_task("TS-RED-M")
    with pytest.raises(ValidationError, match='No put-away task has the number "PA-999999"'):
        services.find_putaway_task("PA-999999")
    with pytest.raises(ValidationError, match='No SKU has the code or barcode "NOPE"'):
        services.find_putaway_task("NOPE")
    with pytest.raises(ValidationError, match="Scan a put-away task"):
        services.find_putaway_task("")


def test_a_sku_waiting_in_two_receiving_bins_asks_for_the_task_number(
        dummy_sku, dock, create_bin, receive_stock):
    receive_stock(dummy_sku, dock, 3)
    receive_stock(dummy_sku, create_bin("RCV-02", kind="receiving"), 2)
    with pytest.raises(services.PutawayError, match="several receiving bins.*scan the task "
                                                    "number instead"):
        services.find_putaway_task("TS-RED-M")


def test_sync_catches_up_stock_lying_in_receiving_bins(dummy_sku, dock, receive_stock, runner):
    receive_stock(dummy_sku, dock, 9)
    db.session.execute(PutawayTask.__table__.delete())  # as before put-away tasks existed
    db.session.commit()
    result = runner.invoke(args=["putaway-sync"])
    assert result.exit_code == 0, result.output
    assert "1 put-away task(s) open, 9 unit(s) waiting" in result.output
    assert open_task(dummy_sku).left == 9
    assert runner.invoke(args=["putaway-sync"]).exit_code == 0  # again: nothing new
    assert len(tasks_of(dummy_sku)) == 1


def test_confirm_refuses_a_task_done_elsewhere_even_when_read_before(
        dummy_sku, dock, shelves, receive_stock):
    """The task is read again under its lock: a stale 'open' copy moves nothing."""
    receive_stock(dummy_sku, dock, 4)
    task = open_task(dummy_sku)
    db.session.commit()
    assert task.state == PutawayState.open  # loaded now; the update below leaves it stale
    db.session.execute(PutawayTask.__table__.update().where(PutawayTask.id == task.id)
                       .values(state=PutawayState.cancelled))
    with pytest.raises(DomainError, match="cancelled"):
        services.confirm_putaway(task, shelves["A-01-01-01"], actor=None)
