"""The outbox: business events written in the transaction of their change.

A service that changes something the storefront cares about calls :func:`emit` (or
:func:`emit_many`) before its caller commits; the event row is part of that transaction, so an
event exists if and only if its change committed. Nobody in the domains knows who listens: the
webhook delivery (:mod:`erp.core.webhooks`) and the pull feed (``GET /api/v1/events``) read the
outbox.

Every event has

- ``event_id``: a unique id (``evt_`` + 32 hex digits), the ``webhook-id`` of its deliveries;
- ``type``: one of :data:`EVENT_TYPES`, e.g. ``order.allocated``;
- ``key``: what its order is kept within (``order:<number>``), or None;
- ``occurred_at``: when the change was made (UTC);
- ``seq``: its place in the feed, given by :func:`sequence_pending` *after* the commit;
- ``payload``: a JSON object.

**Why the sequence number comes after the commit.** An autoincrement id is drawn at insert,
but transactions commit in another order: a reader paging by id could see id 11 committed,
move its cursor past it, and never see id 10 committed a moment later. So the feed pages by
``seq``, which a single sequencer gives to committed events only, under the lock of one counter
row: every number it gives is greater than every number given before, and a reader can never
see a later number without the earlier ones. Emitting never waits on that lock.

**Coalesced events.** ``stock.changed`` would be written for every stock move; instead the
warehouse marks the SKU with :func:`mark_changed`, and :func:`flush_coalesced` writes one event
per SKU, with the availability of that moment, once the SKU has waited the interval (setting
``stock_event_interval``): at most one event per SKU per interval.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    String,
    Text,
    bindparam,
    cast,
    delete,
    insert,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from erp.core.i18n import _l
from erp.core.models import Sequence, utcnow
from erp.core.settings import SettingDef, _int, declare
from erp.core.types import UtcDateTime
from erp.extensions import core_connection, db

#: the counter row the sequencer locks
SEQUENCE_NAME = "outbox"
#: the most events one sequencer transaction numbers
SEQUENCE_BATCH = 5000

#: every event type, with what it means (the webhook form's choices and the README's table)
EVENT_TYPES: dict[str, Any] = {
    "order.accepted": _l("An order was taken in from the storefront or a file."),
    "order.allocated": _l("All of an order's goods are reserved."),
    "order.backordered": _l("Part of an order waits for stock."),
    "order.held": _l("An order was put on hold."),
    "order.released": _l("An order's hold was released."),
    "order.cancelled": _l("An order was cancelled."),
    "order.shipped": _l("An order's parcels left with the carrier (parcels, tracking numbers)."),
    "order.delivered": _l("An order was delivered."),
    "parcel.exception": _l("A carrier reported a problem with a parcel."),
    "refund.approved": _l("A refund was approved."),
    "replacement.created": _l("A replacement order was created."),
    "stock.changed": _l("A SKU's availability changed (at most once per SKU per interval)."),
}


declare(SettingDef(
    "stock_event_interval", _l("Stock event interval (seconds)"), _int, 60,
    _l("A SKU's stock.changed event is sent at most once in this many seconds; its "
       "availability is the one of the moment it is sent.")))


class OutboxEvent(db.Model):
    """An event of the outbox (see the module's documentation)."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_unsequenced", "seq", "id"),
        Index("ix_outbox_event_type_occurred", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    key: Mapped[str | None] = mapped_column(String(80), index=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON)


class OutboxPending(db.Model):
    """A coalesced event waiting to be written: ``(type, ref)`` changed ``since``."""

    __tablename__ = "outbox_pending"

    type: Mapped[str] = mapped_column(String(40), primary_key=True)
    ref: Mapped[str] = mapped_column(String(80), primary_key=True)
    since: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class UnknownEventType(ValueError):
    """An event type not in :data:`EVENT_TYPES` (a programming error)."""


def new_event_id() -> str:
    """Return a fresh event id, ``evt_`` + 32 hex digits."""
    return f"evt_{uuid.uuid4().hex}"


def jsonable(value: Any) -> Any:
    """Return ``value`` with Decimals as strings, dates as ISO text and enums as their values."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _check_type(type_: str) -> None:
    if type_ not in EVENT_TYPES:
        raise UnknownEventType(f"Unknown event type {type_!r}; add it to EVENT_TYPES.")


#: the INSERT of :func:`emit_many`, on the table (see there)
_INSERT_EVENTS = insert(OutboxEvent.__table__)


def emit(type_: str, payload: Mapping[str, Any], *, key: str | None = None,
         at: datetime | None = None) -> None:
    """Write one event in the current transaction (the caller commits it with its change)."""
    emit_many(type_, [(key, payload)], at=at)


def emit_many(type_: str, items: Iterable[tuple[str | None, Mapping[str, Any]]], *,
              at: datetime | None = None) -> int:
    """Write one event of ``type_`` per ``(key, payload)``, in one insert; return how many."""
    _check_type(type_)
    at = at or utcnow()
    rows = [{"event_id": new_event_id(), "type": type_, "key": key, "occurred_at": at,
             "payload": jsonable(payload)} for key, payload in items]
    if rows:
        # a Core INSERT on the connection: the ORM's bulk-insert set-up cost more than the
        # statement, and nearly every write request emits an event
        core_connection().execute(_INSERT_EVENTS, rows)
        _touched()
    return len(rows)


def order_key(number: str) -> str:
    """Return the ordering key of a customer order's events."""
    return f"order:{number}"


# --------------------------------------------------------------------------- coalesced events

@dataclass(frozen=True)
class Coalesced:
    """How a coalesced type is written: ``build(refs)`` returns ``{ref: (key, payload)}``."""

    type: str
    build: Callable[[list[str]], Mapping[str, tuple[str | None, Mapping[str, Any]]]]
    interval_setting: str


COALESCED: dict[str, Coalesced] = {}


def register_coalesced(type_: str, build: Callable, *, interval_setting: str) -> None:
    """Declare that ``type_`` is written by :func:`flush_coalesced` with ``build``."""
    _check_type(type_)
    COALESCED[type_] = Coalesced(type_, build, interval_setting)


#: the INSERT of :func:`mark_changed`: it keeps the existing row (and its time) on a conflict.
#: Not ``DO NOTHING``: the no-op update of an existing mark takes its row lock, so a
#: :func:`flush_coalesced` that would delete the mark waits for this transaction to commit
#: and builds the payload with its change. ``DO NOTHING`` takes no lock: the flush would delete
#: the mark, read the figures without the uncommitted change, and the change would never be
#: announced. Written as text (both databases say it alike) so it is compiled once: the
#: dialects' upsert constructs are not cached, and every stock posting marks a change.
_MARK = text("INSERT INTO outbox_pending (type, ref, since) VALUES (:type, :ref, :since) "
             "ON CONFLICT (type, ref) DO UPDATE SET since = outbox_pending.since"
             ).bindparams(bindparam("since", type_=UtcDateTime()))


def mark_changed(type_: str, refs: Iterable[Any]) -> None:
    """Note that ``refs`` changed for the coalesced ``type_`` (kept: the earliest time).

    Marks in ref order, as :func:`flush_coalesced` locks them: the two never deadlock.
    """
    _check_type(type_)
    now = utcnow()
    rows = [{"type": type_, "ref": ref, "since": now} for ref in sorted({str(r) for r in refs})]
    if rows:
        # on the connection: a text statement has nothing for the session's ORM execution to do
        db.session.connection().execute(_MARK, rows)


def flush_coalesced(*, now: datetime | None = None, force: bool = False) -> int:
    """Write the coalesced events whose refs waited their interval; return how many.

    ``force`` writes every pending one (tests, and a catch-up after a setting change). Runs in
    the current transaction; the caller commits.
    """
    from erp.core import settings

    if not force:
        sequence_lock()  # two tickers never build the same SKU's event twice
    now = now or utcnow()
    written = 0
    for spec in COALESCED.values():
        wait = timedelta(seconds=0 if force else int(settings.get(spec.interval_setting)))
        # locked: a transaction that marked one of them and has not committed yet is waited
        # for, so the payload built below has its change (see _MARK)
        refs = list(db.session.scalars(
            select(OutboxPending.ref).where(OutboxPending.type == spec.type,
                                            OutboxPending.since <= now - wait)
            .order_by(OutboxPending.ref).with_for_update()))
        for start in range(0, len(refs), 1000):
            chunk = refs[start:start + 1000]
            # removed first: a change made while the payload is built marks the ref again
            db.session.execute(delete(OutboxPending).where(
                OutboxPending.type == spec.type, OutboxPending.ref.in_(chunk)))
            built = spec.build(chunk)
            written += emit_many(spec.type, [built[ref] for ref in chunk if ref in built], at=now)
    return written


# --------------------------------------------------------------------------- the sequencer

# On the table, not the entity: an ORM update() run with a list of parameters is SQLAlchemy's
# "bulk UPDATE by primary key", which wants the key under its own name and refuses the
# WHERE clause's bind parameter; the Core statement is one executemany.
_OUTBOX = OutboxEvent.__table__
_SET_SEQ = update(_OUTBOX).where(_OUTBOX.c.id == bindparam("key_id")).values(
    seq=bindparam("new_seq"))


_LOCK = (update(Sequence).where(Sequence.name == SEQUENCE_NAME)
         .values(last_value=Sequence.last_value).returning(Sequence.last_value))


def sequence_lock() -> int:
    """Lock the outbox counter row until the commit; return the last feed number given."""
    last = db.session.execute(_LOCK).scalar_one_or_none()
    if last is None:
        from erp.core import numbering
        numbering.next_value(SEQUENCE_NAME)  # creates the row at 1: feed numbers start at 2
        last = db.session.execute(_LOCK).scalar_one()
    return last


def sequence_pending(*, limit: int = SEQUENCE_BATCH) -> int:
    """Give feed numbers to committed events that have none, in id order; return how many.

    Takes the outbox counter's row lock (the write lock on SQLite) first, so sequencers run
    one at a time and each number is greater than any given before. Runs in the current
    transaction; the caller commits at once (the lock is held until then).
    """
    last = sequence_lock()
    ids = list(db.session.scalars(
        select(OutboxEvent.id).where(OutboxEvent.seq.is_(None))
        .order_by(OutboxEvent.id).limit(limit)))
    if not ids:
        return 0
    db.session.execute(_SET_SEQ, [{"key_id": ident, "new_seq": last + n}
                                  for n, ident in enumerate(ids, start=1)])
    db.session.execute(update(Sequence).where(Sequence.name == SEQUENCE_NAME)
                       .values(last_value=last + len(ids)))
    return len(ids)


def sequence_all() -> int:
    """Number every committed event that waits, committing after each batch; return how many."""
    total = 0
    while True:
        done = sequence_pending()
        db.session.commit()
        total += done
        if done < SEQUENCE_BATCH:
            return total


def envelope(event: OutboxEvent) -> dict[str, Any]:
    """Return the event (or a row of its columns) as the feed and the webhooks send it."""
    return {"id": event.event_id, "type": event.type, "sequence": event.seq,
            "timestamp": _timestamp(event.occurred_at), "data": event.payload}


def _timestamp(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _page_query(columns, after: int, limit: int, types: Iterable[str] | None):
    stmt = select(*columns).where(OutboxEvent.seq > after)
    wanted = sorted(set(types or ()))
    if wanted:
        stmt = stmt.where(OutboxEvent.type.in_(wanted))
    return stmt.order_by(OutboxEvent.seq).limit(limit)


def page(*, after: int = 0, limit: int = 100, types: Iterable[str] | None = None
         ) -> list[OutboxEvent]:
    """Return up to ``limit`` sequenced events after the cursor ``after``, in feed order."""
    return list(db.session.scalars(_page_query([OutboxEvent], after, limit, types)))


_ENVELOPE_COLUMNS = [OutboxEvent.event_id, OutboxEvent.type, OutboxEvent.seq,
                     OutboxEvent.occurred_at,
                     # the stored JSON text as it is: decoded and encoded again it would
                     # come out the same, at a third of a page's cost
                     type_coerce(cast(OutboxEvent.payload, Text), Text).label("payload_json")]


def page_json(*, after: int = 0, limit: int = 100, types: Iterable[str] | None = None
              ) -> list[tuple[int, str]]:
    """Return :func:`page`'s events as ``(seq, envelope as JSON text)`` (the pull feed).

    Plain rows rather than entities, and the payload's stored text spliced in: building
    500 objects in the identity map, and decoding and encoding their payloads, cost more
    than the query (``events_feed`` benchmark). The text is :func:`envelope`'s, as JSON.
    """
    dumps = json.dumps
    return [(row.seq, f'{{"id":{dumps(row.event_id)},"type":{dumps(row.type)},'
                      f'"sequence":{int(row.seq)},"timestamp":{dumps(_timestamp(row.occurred_at))},'
                      f'"data":{row.payload_json}}}')
            for row in db.session.execute(_page_query(_ENVELOPE_COLUMNS, after, limit, types))]


# --------------------------------------------------------------------------- listeners

#: called after a commit that wrote events (the webhook delivery wakes up)
AFTER_COMMIT: list[Callable[[], None]] = []
_FLAG = "erp.events.touched"


def _touched() -> None:
    db.session.info[_FLAG] = True


def _after_commit(session) -> None:
    if session.info.pop(_FLAG, False):
        for listener in AFTER_COMMIT:
            listener()


def _after_rollback(session) -> None:
    session.info.pop(_FLAG, None)


def init_app(app) -> None:
    """Call the :data:`AFTER_COMMIT` listeners after each commit that wrote events."""
    from sqlalchemy import event as sa_event
    from sqlalchemy.orm import Session

    if not getattr(init_app, "done", False):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_soft_rollback", lambda s, _t: _after_rollback(s))
        init_app.done = True


# --------------------------------------------------------------------------- the periodic task

def _outbox_tick() -> int:
    """Write the coalesced events that are due, then number everything committed."""
    flush_coalesced()
    db.session.commit()
    return sequence_all()


from erp.core import periodic  # noqa: E402 - registers the task below

periodic.task("outbox", every=2)(_outbox_tick)
