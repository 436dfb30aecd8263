"""Warehouse operations posted 8 times at once: cycle counts and stock adjustments.

The stock is 5 x CNT-1 in bin A-01-01-01 at 2.00; a count opened over that bin has one line.
"""

from __future__ import annotations

import io

import openpyxl
from sqlalchemy import func, select

from erp.core import services as core_services
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import CycleCount, CycleCountLine, MoveKind, StockAdjustment, StockMove
from tests.concurrency.guarded import (
    Scenario,
    audit_count,
    drawn,
    guarded,
    ledger_balances,
    level,
    successes,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _stock(get, code: str = "CNT-1", bin_code: str = "A-01-01-01", qty: int = 5):
    """Return ``(sku, bin)``: ``qty`` units of a new SKU received into a new bin (committed)."""
    sku, bin_ = get("create_sku")(code), get("create_bin")(bin_code)
    get("receive_stock")(sku, bin_, qty)
    db.session.commit()
    return sku, bin_


def _count(get, *, counted: int | None = None, submit: bool = False):
    """Return ``(count, line, sku, bin)``: an open count over the stock's bin (committed)."""
    sku, bin_ = _stock(get)
    count = services.open_cycle_count(bin_.warehouse, location_ids=[bin_.id], actor=None)
    [line] = count.lines
    if counted is not None:
        services.record_counts(count, {line.id: counted}, actor=None)
    if submit:
        services.submit_for_review(count, actor=None)
    db.session.commit()
    return count, line, sku, bin_


def _path(count, action: str) -> str:
    return f"/warehouse/counts/{count.id}/{action}"


def _lines(count, *where) -> list:
    db.session.expire_all()
    return db.session.scalars(select(CycleCountLine).where(
        CycleCountLine.count_id == count.id, *where).order_by(CycleCountLine.id)).all()


# --------------------------------------------------------------------------- cycle counts


@guarded("warehouse.open_cycle_count")
def open_counts_over_the_same_bin(get) -> Scenario:
    """8 counts opened over one bin: one freezes it, the others are refused."""
    _, bin_ = _stock(get)

    def check(answers):
        assert db.session.scalar(select(func.count()).select_from(CycleCount)) == 1
        assert db.session.scalar(select(func.count()).select_from(CycleCountLine)) == 1
        assert drawn("CC") == 1
        assert audit_count("cycle_count.opened") == 1

    return Scenario("warehouse", "/warehouse/counts/new",
                    {"warehouse_id": str(bin_.warehouse_id), "bins": bin_.code, "skus": "",
                     "note": ""}, check)


def _found_elsewhere(get):
    """Return ``(sku, bin)`` of 3 units of another SKU in another bin, not in the count."""
    return _stock(get, "FOUND-1", "B-01-01-01", 3)


@guarded("warehouse.add_count_line")
def add_the_same_unexpected_find(get) -> Scenario:
    """8 additions of one SKU found in a bin: one line for it."""
    count, *_ = _count(get)
    sku, bin_ = _found_elsewhere(get)

    def check(answers):
        found = _lines(count, CycleCountLine.sku_id == sku.id)
        assert [(ln.location_id, ln.counted_qty) for ln in found] == [(bin_.id, 3)]
        assert audit_count("cycle_count.line_added", of=count) == 1

    return Scenario("warehouse", _path(count, "lines/add"),
                    {"bin_code": bin_.code, "sku_code": sku.code, "counted": "3"}, check)


@guarded("warehouse.import_cycle_counts")
def import_the_same_count_sheet(get) -> Scenario:
    """8 uploads of one count sheet with an unexpected find: one line for it, each count once."""
    count, line, sku, bin_ = _count(get)
    found, where = _found_elsewhere(get)
    workbook = openpyxl.Workbook()
    workbook.active.title = "Count lines"
    for row in (["Count number", "Bin", "SKU", "Counted"], [count.number, bin_.code, sku.code, 4],
                [count.number, where.code, found.code, 3]):
        workbook.active.append(row)
    data = io.BytesIO()
    workbook.save(data)

    def check(answers):
        lines = _lines(count)
        assert [(ln.sku_id, ln.counted_qty) for ln in lines] == [(sku.id, 4), (found.id, 3)]
        assert audit_count("cycle_count.line_added", of=count) == 1
        assert audit_count("cycle_count.line_counted", of=count) == 1

    return Scenario("warehouse", "/warehouse/counts/import", {"action": "import"}, check,
                    files={"file": ("counts.xlsx", data.getvalue(), XLSX)})


@guarded("warehouse.scan_cycle_count")
def scan_units_at_once(get) -> Scenario:
    """8 scans of one unit each (8 units seen): every scan counts, none is lost."""
    count, line, sku, bin_ = _count(get)

    def check(answers):
        [counted] = _lines(count)
        assert counted.counted_qty == successes(answers) == 8
        assert audit_count("cycle_count.scanned", of=count) == 8

    return Scenario("warehouse", _path(count, "scan"),
                    {"bin_code": bin_.code, "sku_code": sku.code, "qty": ""}, check)


@guarded("warehouse.record_counts")
def record_the_same_count(get) -> Scenario:
    """8 identical count entries: the line is counted once, one audit event."""
    count, line, *_ = _count(get)

    def check(answers):
        assert [ln.counted_qty for ln in _lines(count)] == [4]
        assert audit_count("cycle_count.line_counted", of=count) == 1

    return Scenario("warehouse", _path(count, "lines"), {f"counted-{line.id}": "4"}, check)


def _count_moved_once(count, state: str):
    db.session.expire_all()
    assert count.state.value == state
    assert audit_count(f"cycle_count.{state}", of=count) == 1


@guarded("warehouse.submit_cycle_count")
def submit_the_same_count(get) -> Scenario:
    """8 submits of a counted count: in review once."""
    count, *_ = _count(get, counted=4)
    return Scenario("warehouse", _path(count, "submit"), {},
                    lambda answers: _count_moved_once(count, "review"))


@guarded("warehouse.accept_cycle_count")
def accept_the_same_count(get) -> Scenario:
    """8 acceptances of 3 counted where 5 were expected: 2 written off once."""
    count, line, sku, bin_ = _count(get, counted=3, submit=True)

    def check(answers):
        assert level(sku, bin_).on_hand == 3
        assert db.session.scalar(select(func.count()).select_from(StockMove).where(
            StockMove.kind == MoveKind.count)) == 1
        _count_moved_once(count, "accepted")
        ledger_balances()

    return Scenario("manager", _path(count, "accept"), {}, check)


@guarded("warehouse.recount_cycle_count")
def send_the_same_line_back(get) -> Scenario:
    """8 recounts of one line of a count in review: open again once."""
    count, line, *_ = _count(get, counted=3, submit=True)

    def check(answers):
        _count_moved_once(count, "open")
        assert [ln.counted_qty for ln in _lines(count)] == [None]

    return Scenario("manager", _path(count, "recount"),
                    {"line_ids": str(line.id), "note": "Count the back shelf too"}, check)


@guarded("warehouse.cancel_cycle_count")
def cancel_the_same_count(get) -> Scenario:
    """8 cancels of an open count: cancelled once."""
    count, *_ = _count(get)
    return Scenario("warehouse", _path(count, "cancel"), {"note": ""},
                    lambda answers: _count_moved_once(count, "cancelled"))


# --------------------------------------------------------------------------- adjustments


@guarded("warehouse.request_adjustment")
def write_off_the_whole_bin(get) -> Scenario:
    """8 write-offs of all 5 units of a bin: one posts, the bin never goes below zero."""
    sku, bin_ = _stock(get)

    def check(answers):
        assert level(sku, bin_).on_hand == 0
        assert db.session.scalar(select(func.count()).select_from(StockAdjustment)) == 1
        ledger_balances()

    return Scenario("warehouse", "/warehouse/adjustments/new",
                    {"bin": bin_.code, "sku": sku.code, "quantity": "-5", "reason": "lost",
                     "note": ""}, check)


def _pending_adjustment(get):
    """Return ``(adjustment, sku, bin)``: 5 units found, waiting for a manager (committed)."""
    sku, bin_ = _stock(get)
    core_services.update_settings({"adjustment_approval_threshold": "0"}, actor=None)
    adjustment = services.request_adjustment(sku, bin_, 5, reason="found", note=None,
                                             actor=None)
    db.session.commit()
    assert adjustment.state.value == "pending"
    return adjustment, sku, bin_


@guarded("warehouse.approve_adjustment")
def approve_the_same_adjustment(get) -> Scenario:
    """8 approvals of +5 found: 10 on hand, not 15 or more."""
    adjustment, sku, bin_ = _pending_adjustment(get)

    def check(answers):
        assert level(sku, bin_).on_hand == 10
        assert audit_count("stock_adjustment.approved", of=adjustment) == 1
        ledger_balances()

    return Scenario("manager", f"/warehouse/adjustments/{adjustment.id}/approve", {}, check)


@guarded("warehouse.reject_adjustment")
def reject_the_same_adjustment(get) -> Scenario:
    """8 rejections of a pending adjustment: rejected once, nothing moves."""
    adjustment, sku, bin_ = _pending_adjustment(get)

    def check(answers):
        assert level(sku, bin_).on_hand == 5
        assert adjustment.state.value == "rejected"
        assert audit_count("stock_adjustment.rejected", of=adjustment) == 1

    return Scenario("manager", f"/warehouse/adjustments/{adjustment.id}/reject",
                    {"note": "Count the bin first"}, check)


@guarded("warehouse.put_away_stock")
def put_away_one_task(get) -> Scenario:
    """8 put-away scans of one task for all 6 units: the goods move into the bin once."""
    from erp.warehouse.models import PutawayState, PutawayTask
    sku = get("create_sku")("PUT-1")
    rcv, shelf = get("create_bin")("RCV-09", kind="receiving"), get("create_bin")("A-09-01-01")
    get("receive_stock")(sku, rcv, 6)  # a posting into a receiving bin opens the task
    db.session.commit()
    task = db.session.scalar(select(PutawayTask).where(PutawayTask.sku_id == sku.id))

    def check(answers):
        db.session.expire_all()
        assert (task.state, task.done_qty) == (PutawayState.done, 6)
        assert level(sku, rcv).on_hand == 0
        assert level(sku, shelf).on_hand == 6
        assert db.session.scalar(select(func.count()).select_from(StockMove).where(
            StockMove.sku_id == sku.id, StockMove.to_location_id == shelf.id)) == 1
        ledger_balances()

    return Scenario("warehouse", "/warehouse/putaway",
                    {"scan": task.number, "bin": shelf.label}, check)
