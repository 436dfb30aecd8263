"""The outbox: an event exists exactly when its change committed, and is numbered after commit.

See :mod:`erp.core.events`. Each emission point is driven through its service (or the API, or
the order sheet) and the outbox is read after the commit, or after the rollback or refusal.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from erp.aftersales.models import CaseType
from erp.aftersales.services import cases, resolution
from erp.core import events
from erp.core.models import Setting, utcnow
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.excel import import_orders
from erp.orders.models import OrderState
from erp.orders.services import CancelAfterShipping
from tests.orders.intake_data import payload, row, sheet

Event = events.OutboxEvent


def outbox(type_: str | None = None) -> list[Event]:
    stmt = select(Event).order_by(Event.id)
    if type_:
        stmt = stmt.where(Event.type == type_)
    return list(db.session.scalars(stmt))


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Event))


@pytest.fixture
def order(create_order, stocked_sku):
    """An order WEB-1 of 2 units of a SKU with 10 in stock, new. Committed."""
    sku = stocked_sku("TS-RED-M", 10)
    placed = create_order([(sku, 2)], number="WEB-1")
    db.session.commit()
    return placed


# --------------------------------------------------------------------------- commit or not

def test_a_committed_change_has_its_event(order):
    order_services.hold_order(order, reason="Address check", actor=None)
    db.session.commit()
    [event] = outbox()
    assert (event.type, event.key, event.seq) == ("order.held", "order:WEB-1", None)
    assert event.payload == {"order": "WEB-1", "channel": order.channel, "state": "on_hold",
                             "previous_state": "new", "reason": "Address check"}
    assert event.event_id.startswith("evt_")
    assert len(event.event_id) == 36


def test_a_rolled_back_change_leaves_no_event(order):
    order_services.hold_order(order, reason="Address check", actor=None)
    db.session.flush()
    assert count() == 1  # written in the transaction of the change...
    db.session.rollback()
    assert count() == 0  # ... and gone with it
    assert OrderState(order.state) == OrderState.new


def test_a_refused_change_writes_no_event(order, create_order):
    shipped = create_order([(order.lines[0].sku, 1)], number="WEB-2",
                           state=OrderState.shipped)
    db.session.commit()
    with pytest.raises(CancelAfterShipping):
        order_services.cancel_order(shipped, reason="Too late", actor=None)
    assert count() == 0
    db.session.rollback()
    order_services.cancel_order(order, reason="Changed mind", actor=None)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        order_services.hold_order(order, reason="Check", actor=None)
    db.session.rollback()
    assert [e.type for e in outbox()] == ["order.cancelled"]


def test_the_after_commit_listeners_run_only_after_a_commit_that_wrote_events(order):
    calls = []
    events.AFTER_COMMIT.append(lambda: calls.append(1))
    try:
        order_services.hold_order(order, reason="Check", actor=None)
        db.session.rollback()
        db.session.commit()
        assert calls == []
        order_services.hold_order(order, reason="Check", actor=None)
        db.session.commit()
        assert calls == [1]
        db.session.commit()
        assert calls == [1]
    finally:
        events.AFTER_COMMIT.pop()


# --------------------------------------------------------------------------- emission points

def test_bulk_allocation_writes_one_event_per_order(create_order, stocked_sku):
    sku = stocked_sku("TS-RED-M", 3)
    first = create_order([(sku, 2)], number="WEB-1")
    second = create_order([(sku, 2)], number="WEB-2")
    db.session.commit()
    order_services.allocate_orders(actor=None)
    db.session.commit()
    got = {(e.type, e.payload["order"], e.payload["previous_state"]) for e in outbox()}
    assert got == {("order.allocated", "WEB-1", "new"), ("order.backordered", "WEB-2", "new")}
    # nothing more could be reserved for the backorder: no news, no event
    order_services.allocate_orders(actor=None)
    db.session.commit()
    assert count() == 2
    assert (first.number, second.number) == ("WEB-1", "WEB-2")


def test_api_intake_writes_order_accepted_once(client, dummy_admin, dummy_sku):
    _, token = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/orders", json=payload(), headers=headers).status_code == 201
    assert client.post("/api/v1/orders", json=payload(), headers=headers).status_code == 200
    [event] = outbox()
    assert event.type == "order.accepted"
    assert event.payload == {"order": "WEB-1001", "channel": "webshop", "state": "new",
                             "previous_state": None, "lines": 2}


def test_order_sheet_import_writes_order_accepted_per_order(app, dummy_sku):
    data = sheet([row("WEB-1", "TS-RED-M", 2), row("WEB-1", "TS-RED-M", 1),
                  row("WEB-2", "TS-RED-M", 3)])
    assert import_orders(data, filename="o.xlsx", dry_run=True, actor=None).ok
    db.session.rollback()
    assert count() == 0  # a dry run writes nothing
    assert import_orders(data, filename="o.xlsx", dry_run=False, actor=None).ok
    db.session.commit()
    assert sorted((e.type, e.payload["order"], e.payload["lines"]) for e in outbox()) == [
        ("order.accepted", "WEB-1", 2), ("order.accepted", "WEB-2", 1)]


@pytest.fixture
def shipped(ship_order, customs_stock, reasons, returns_bins):
    """An order shipped with 2 x TEE-1 at 15.00 (EUR)."""
    return ship_order([(customs_stock("TEE-1"), 2, "15.00")])


def test_dispatch_writes_order_shipped_with_parcels_and_tracking(shipped):
    [event] = outbox("order.shipped")
    parcel = shipped.parcel
    assert event.payload["order"] == shipped.number
    assert event.payload["previous_state"] == "packed"
    assert event.payload["state"] == "shipped"
    [sent] = event.payload["parcels"]
    assert sent["parcel"] == parcel.number
    assert sent["tracking_number"] == parcel.tracking_number
    assert sent["tracking_number"]
    assert [e.type for e in outbox()][-1] == "order.shipped"


def test_refund_approval_writes_refund_approved(shipped, reasons, create_user):
    agent = create_user("agent", roles=("customer_service",))
    case = cases.open_case(shipped, case_type=CaseType.refund_only, reason=reasons["DEFECTIVE"],
                           lines={shipped.lines[0].id: 1}, actor=agent)
    db.session.commit()
    before = count()
    resolution.request_refund(case, amount="10.50", actor=agent)  # small: approved at once
    db.session.commit()
    [event] = outbox("refund.approved")
    assert count() == before + 1
    assert event.payload["order"] == shipped.number
    assert event.payload["case"] == case.number
    assert Decimal(event.payload["amount"]) == Decimal("10.50")
    assert event.payload["currency"] == "EUR"


def test_replacement_writes_replacement_created(shipped, reasons, create_user):
    agent = create_user("agent", roles=("customer_service",))
    case = cases.open_case(shipped, case_type=CaseType.replacement_only,
                           reason=reasons["DEFECTIVE"], lines={shipped.lines[0].id: 1},
                           actor=agent)
    db.session.commit()
    replacement = resolution.create_replacement(case, actor=agent)
    db.session.commit()
    [event] = outbox("replacement.created")
    assert event.payload["replacement_order"] == replacement.number
    assert event.payload["lines"] == [{"sku": "TEE-1", "quantity": 1}]
    assert event.key == events.order_key(shipped.number)
    # the replacement is an order of its own: accepted, then allocated
    assert {e.type for e in outbox() if e.payload.get("order") == replacement.number} == {
        "order.accepted", "order.allocated"}


# --------------------------------------------------------------------------- stock.changed

def test_stock_changes_of_a_sku_coalesce_into_one_event(create_sku, create_bin, receive_stock):
    sku = create_sku("MUG-1")
    location = create_bin()
    marked = utcnow()
    for quantity in (3, 4, 5):
        receive_stock(sku, location, quantity)
    db.session.commit()
    assert count() == 0  # marked, not yet written
    # the default interval is 60 seconds: not yet due
    assert events.flush_coalesced(now=marked + timedelta(seconds=30)) == 0
    db.session.commit()
    assert events.flush_coalesced(now=marked + timedelta(seconds=61)) == 1
    db.session.commit()
    [event] = outbox("stock.changed")
    assert event.key == "sku:MUG-1"
    assert event.payload == {"sku": "MUG-1", "available": 12, "inbound": 0, "blocked": 0}
    # nothing waits any more
    assert events.flush_coalesced(now=marked + timedelta(seconds=600)) == 0


def test_the_stock_event_interval_setting_is_respected(create_sku, create_bin, receive_stock):
    db.session.add(Setting(key="stock_event_interval", value="5"))
    sku = create_sku("MUG-1")
    marked = utcnow()
    receive_stock(sku, create_bin(), 2)
    db.session.commit()
    assert events.flush_coalesced(now=marked - timedelta(seconds=1)) == 0
    assert events.flush_coalesced(now=marked + timedelta(seconds=6)) == 1
    db.session.commit()
    # a later move marks the SKU again: one more event, once its own interval has passed
    again = utcnow()
    receive_stock(sku, create_bin(), 1)
    db.session.commit()
    assert events.flush_coalesced(now=again + timedelta(seconds=1)) == 0
    assert events.flush_coalesced(now=again + timedelta(seconds=6)) == 1
    db.session.commit()
    assert [e.payload["available"] for e in outbox("stock.changed")] == [2, 3]


def test_a_rolled_back_move_marks_nothing(create_sku, create_bin, receive_stock):
    sku = create_sku("MUG-1")
    location = create_bin()
    db.session.commit()
    receive_stock(sku, location, 2)
    db.session.rollback()
    assert events.flush_coalesced(force=True) == 0


@pytest.mark.postgres
def test_a_flush_waits_for_a_move_not_yet_committed(app, create_sku, create_bin, receive_stock):
    """The last stock.changed of a SKU has the figures after its last committed move.

    A move that marks an already-marked SKU and has not committed yet holds the mark: the
    flush waits for it, so its event counts the move (the mark is never deleted under it).
    """
    from erp.catalog.models import Sku
    from erp.warehouse.models import Location

    sku = create_sku("MUG-1")
    location = create_bin()
    receive_stock(sku, location, 2)  # marks MUG-1
    db.session.commit()
    ids = (sku.id, location.id)
    moved, go, flushed = threading.Event(), threading.Event(), threading.Event()
    errors, pids = [], []

    def mover():
        with app.app_context():
            try:
                receive_stock(db.session.get(Sku, ids[0]), db.session.get(Location, ids[1]), 5)
                db.session.flush()
                moved.set()
                go.wait(20)
                db.session.commit()
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()

    def flusher():
        with app.app_context():
            try:
                pids.append(db.session.scalar(text("SELECT pg_backend_pid()")))
                events.flush_coalesced(now=utcnow() + timedelta(hours=1))
                db.session.commit()
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()
                flushed.set()

    threads = [threading.Thread(target=mover), threading.Thread(target=flusher)]
    threads[0].start()
    assert moved.wait(20)
    threads[1].start()
    # go on once the flush has finished or waits for a lock (the mover's)
    waiting = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
    while not flushed.is_set() and not (pids and db.session.scalar(waiting, {"pid": pids[0]})):
        flushed.wait(0.01)
        db.session.rollback()
    go.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    events.flush_coalesced(force=True)
    db.session.commit()
    assert outbox("stock.changed")[-1].payload["available"] == 7


# --------------------------------------------------------------------------- the sequencer

def emit(name: str) -> None:
    events.emit("order.held", {"order": name}, key=events.order_key(name))


def test_sequencing_numbers_committed_events_in_increasing_order(app):
    for name in ("A", "B", "C"):
        emit(name)
    db.session.commit()
    emit("rolled back")
    db.session.rollback()
    assert events.sequence_all() == 3
    first = [(e.payload["order"], e.seq) for e in outbox()]
    assert [name for name, _ in first] == ["A", "B", "C"]
    numbers = [seq for _, seq in first]
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 3
    assert events.sequence_all() == 0  # nothing waits: nothing renumbered
    assert [e.seq for e in outbox()] == numbers
    emit("D")
    db.session.commit()
    assert events.sequence_all() == 1
    assert outbox()[-1].seq > max(numbers)  # never a number given before


def test_a_sequencer_that_rolls_back_leaves_its_events_for_the_next(app):
    emit("A")
    db.session.commit()
    assert events.sequence_pending() == 1
    db.session.rollback()
    assert outbox()[0].seq is None
    assert events.sequence_all() == 1
    assert outbox()[0].seq is not None


def test_sequencing_in_batches(app, monkeypatch):
    monkeypatch.setattr(events, "SEQUENCE_BATCH", 2)
    for n in range(5):
        emit(str(n))
    db.session.commit()
    assert events.sequence_all() == 5
    numbers = [e.seq for e in outbox()]
    assert numbers == sorted(numbers)
    assert numbers[-1] - numbers[0] == 4


def test_page_reads_after_the_cursor_in_feed_order(app):
    for name in ("A", "B", "C"):
        emit(name)
    events.emit("order.cancelled", {"order": "X"})
    db.session.commit()
    events.sequence_all()
    feed = events.page(after=0, limit=10)
    assert [e.payload["order"] for e in feed] == ["A", "B", "C", "X"]
    assert [e.payload["order"] for e in events.page(after=feed[1].seq, limit=1)] == ["C"]
    assert [e.payload["order"] for e in events.page(types=["order.cancelled"])] == ["X"]
    envelope = events.envelope(feed[0])
    assert envelope["sequence"] == feed[0].seq
    assert envelope["data"] == {"order": "A"}


@pytest.mark.postgres
def test_an_event_committed_later_is_numbered_later_whatever_its_id(app):
    """Sequence order is commit order: an event drawn first but committed last comes last.

    Transaction 1 writes event A and waits, uncommitted; meanwhile B is written and
    committed and the sequencer runs: it numbers B and never waits for, or skips a number
    for, A. When A commits, the next run gives it a number after B's, so a reader who paged
    past B still sees A next.
    """
    written, go = threading.Event(), threading.Event()
    errors = []

    def slow_writer():
        with app.app_context():
            try:
                emit("A")
                db.session.flush()  # its id is drawn now, before B's
                written.set()
                go.wait(20)
                db.session.commit()
            except BaseException as err:  # pragma: no cover - reported below
                errors.append(err)
            finally:
                db.session.remove()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert written.wait(20)
    emit("B")
    db.session.commit()
    assert events.sequence_all() == 1  # B only: A is not committed
    [b] = events.page(after=0)
    assert b.payload == {"order": "B"}
    go.set()
    thread.join(20)
    assert not errors, errors
    assert events.sequence_all() == 1
    [a] = events.page(after=b.seq)
    assert a.payload == {"order": "A"}
    assert a.id < b.id  # drawn first...
    assert a.seq > b.seq  # ... numbered after: a reader past B still sees it


@pytest.mark.postgres
def test_sequencers_side_by_side_never_give_a_number_twice(app):
    """Several sequencers at once (the ticker and pulls) while events are written."""
    stop = threading.Event()
    errors = []

    def writer():
        with app.app_context():
            try:
                for n in range(60):
                    emit(f"W{n}")
                    db.session.commit()
            except BaseException as err:  # pragma: no cover
                errors.append(err)
            finally:
                db.session.remove()
                stop.set()

    def sequencer():
        with app.app_context():
            try:
                while not stop.is_set():
                    events.sequence_all()
            except BaseException as err:  # pragma: no cover
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=sequencer)
                                                   for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    events.sequence_all()
    numbers = [e.seq for e in outbox()]
    assert None not in numbers
    assert len(set(numbers)) == 60
