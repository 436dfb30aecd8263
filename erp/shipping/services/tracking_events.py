"""Tracking after dispatch: one ingest for every source of carrier events.

Three sources report a dispatched parcel's journey: the polling task (``source="poll"``), the
carriers' webhook (``"webhook"``) and the carriers' tracking files (``"import"``). All of them
go through :func:`ingest` (or, for a large file, :func:`import_csv`, its bulk twin), which

1. matches each tracking number to a dispatched parcel (unknown numbers are counted and
   reported, never fatal: a carrier's file holds other shippers' parcels too);
2. stores the new events once: ``(parcel, occurred_at, code)`` is unique, and the insert skips
   what is there already, so the same event polled, pushed and imported is one row;
3. moves each touched parcel to the status of its **latest** event by the carrier's time (an
   old event arriving late is stored but moves nothing back; delivered and returned are final),
   keeping ``last_tracking_at`` and ``delivered_at``, with one audit event per change;
4. writes a ``parcel.exception`` outbox event when a parcel enters exception, and marks an order
   delivered once every parcel of it that was not voided is delivered
   (:func:`erp.orders.services.mark_delivered_many`: the audit event and ``order.delivered``
   outbox event :func:`~erp.orders.services.mark_delivered` writes, in bulk).

Parcels are locked (ids ascending) before their status is read and changed, so a poll and a
webhook reporting the same parcel at once apply one after the other. Nothing here commits.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import bindparam, case, func, select, update

from erp.core import audit, events
from erp.core.i18n import _
from erp.core.models import utcnow
from erp.core.types import UtcDateTime
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, OrderState
from erp.orders.services import mark_delivered_many
from erp.shipping.carriers.base import TrackingEvent, TrackingStatus
from erp.shipping.models import (
    FINAL_TRACKING,
    TRACKING_STATES,
    Parcel,
    ParcelState,
    ParcelTrackingEvent,
)

SOURCES = ("poll", "webhook", "import")
#: how many tracking numbers or parcel ids go in one IN (...) list
CHUNK = 5000
#: the audit action of a tracking status change
ACTION = "parcel.tracking"
#: the unknown tracking numbers kept in a summary (the count is always exact)
KEEP_UNKNOWN = 100


@dataclass
class IngestSummary:
    """What one ingest did: events received, stored, already there; parcels and orders moved."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    unknown_numbers: list[str] = field(default_factory=list)
    parcels_changed: int = 0
    exceptions: int = 0
    orders_delivered: int = 0

    def note_unknown(self, number: str) -> None:
        """Count an event of an unknown tracking number (keep the first numbers seen)."""
        self.unknown += 1
        if len(self.unknown_numbers) < KEEP_UNKNOWN and number not in self.unknown_numbers:
            self.unknown_numbers.append(number)

    def as_dict(self) -> dict[str, Any]:
        """Return the counts as JSON (the webhook's answer, the CLI's and the bench's output)."""
        return {"received": self.received, "stored": self.stored,
                "duplicates": self.duplicates, "unknown": self.unknown,
                "unknown_numbers": self.unknown_numbers,
                "parcels_changed": self.parcels_changed, "exceptions": self.exceptions,
                "orders_delivered": self.orders_delivered}


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"Unknown tracking source {source!r}; one of {', '.join(SOURCES)}.")


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Tracking event times must be timezone-aware (UTC).")
    return moment.astimezone(UTC).replace(tzinfo=None)


# --------------------------------------------------------------------------- matching


def resolve(numbers: Iterable[str]) -> dict[str, int]:
    """Return ``{tracking number: parcel id}`` of the dispatched parcels with these numbers."""
    numbers = sorted(set(numbers))
    found: dict[str, int] = {}
    for start in range(0, len(numbers), CHUNK):
        chunk = numbers[start:start + CHUNK]
        found.update(db.session.execute(
            select(Parcel.tracking_number, Parcel.id)
            .where(Parcel.tracking_number.in_(chunk), Parcel.state == ParcelState.dispatched)
        ).all())
    return found


# --------------------------------------------------------------------------- storing


#: a stored event row: (parcel_id, occurred_at, status, code, description, location, source,
#: received_at), times naive UTC
Row = tuple


def _store(rows: list[Row]) -> int:
    """Insert ``rows`` skipping events stored already; return how many were new."""
    if not rows:
        return 0
    if db.session.get_bind().dialect.name == "postgresql":
        return _store_postgresql(rows)
    # one executemany of INSERT OR IGNORE straight to the driver, with the times written as
    # SQLAlchemy writes them on SQLite (so equal times compare equal in the unique key)
    result = db.session.connection().exec_driver_sql(
        f"INSERT OR IGNORE INTO tracking_event ({', '.join(_COLUMNS)}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(pid, at.isoformat(" ", "microseconds"), status, code, description, location, source,
          received.isoformat(" ", "microseconds"))
         for pid, at, status, code, description, location, source, received in rows])
    return result.rowcount


_PG_TEMP = ("CREATE TEMP TABLE IF NOT EXISTS tmp_tracking_event (parcel_id integer, "
            "occurred_at timestamp, status varchar(24), code varchar(40), "
            "description varchar(300), location varchar(120), source varchar(10), "
            "received_at timestamp) ON COMMIT DELETE ROWS")
_COLUMNS = ("parcel_id", "occurred_at", "status", "code", "description", "location", "source",
            "received_at")


def _store_postgresql(rows: list[Row]) -> int:
    """COPY the rows into a temporary table, then INSERT ... SELECT ... ON CONFLICT DO NOTHING."""
    connection = db.session.connection()
    connection.exec_driver_sql(_PG_TEMP)
    connection.exec_driver_sql("TRUNCATE tmp_tracking_event")
    raw = connection.connection.driver_connection
    columns = ", ".join(_COLUMNS)
    with raw.cursor() as cursor:
        with cursor.copy(f"COPY tmp_tracking_event ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    result = connection.exec_driver_sql(
        f"INSERT INTO tracking_event ({columns}) SELECT {columns} FROM tmp_tracking_event "
        "ON CONFLICT DO NOTHING")
    return result.rowcount


# --------------------------------------------------------------------------- applying


@dataclass
class _Change:
    parcel_id: int
    number: str
    order_id: int
    old: TrackingStatus | None
    new: TrackingStatus
    occurred_at: datetime
    code: str
    description: str
    location: str | None


def _latest(parcel_ids: list[int]) -> dict[int, tuple]:
    """Return the latest stored event of each parcel, by the carrier's time.

    ``{parcel id: (status, occurred_at, code, description, location)}``; on a tie of times the
    event stored last wins.
    """
    ranked = (select(ParcelTrackingEvent.parcel_id, ParcelTrackingEvent.status,
                     ParcelTrackingEvent.occurred_at, ParcelTrackingEvent.code,
                     ParcelTrackingEvent.description, ParcelTrackingEvent.location,
                     func.row_number().over(
                         partition_by=ParcelTrackingEvent.parcel_id,
                         order_by=(ParcelTrackingEvent.occurred_at.desc(),
                                   ParcelTrackingEvent.id.desc())).label("rank"))
              .where(ParcelTrackingEvent.parcel_id.in_(parcel_ids)).subquery())
    rows = db.session.execute(
        select(ranked.c.parcel_id, ranked.c.status, ranked.c.occurred_at, ranked.c.code,
               ranked.c.description, ranked.c.location).where(ranked.c.rank == 1))
    return {row[0]: tuple(row[1:]) for row in rows}


_UPDATE = (update(Parcel.__table__).where(Parcel.__table__.c.id == bindparam("pid"))
           .values(tracking_status=bindparam("status"),
                   last_tracking_at=bindparam("last_at"),
                   delivered_at=bindparam("delivered")))


def _update(updates: list[dict]) -> None:
    """Write the parcels' new tracking columns: one statement on PostgreSQL, else executemany."""
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(_UPDATE, updates)
        return
    naive = UtcDateTime().process_bind_param
    db.session.connection().exec_driver_sql(
        "UPDATE parcel SET tracking_status = v.status, last_tracking_at = v.last_at, "
        "delivered_at = v.delivered FROM unnest(%s::integer[], %s::varchar[], "
        "%s::timestamp[], %s::timestamp[]) AS v(id, status, last_at, delivered) "
        "WHERE parcel.id = v.id",
        ([u["pid"] for u in updates], [TrackingStatus(u["status"]).value for u in updates],
         [naive(u["last_at"], None) for u in updates],
         [naive(u["delivered"], None) for u in updates]))


def _apply(parcel_ids: Iterable[int], summary: IngestSummary, *, actor,
           known_latest: dict[int, tuple] | None = None) -> None:
    """Move the parcels to the status of their latest event; audit, outbox, orders delivered.

    :param known_latest: the latest event of each parcel among those just stored, as
        :func:`_latest` gives them (a file's import knows them): an event stored before is
        no later than the parcel's ``last_tracking_at``, so it would not move it anyway.
    """
    ids = sorted(set(parcel_ids))
    changes: list[_Change] = []
    delivered_orders: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        parcels = db.session.execute(
            select(Parcel.id, Parcel.number, Parcel.order_id, Parcel.tracking_status,
                   Parcel.last_tracking_at, Parcel.delivered_at)
            .where(Parcel.id.in_(chunk)).order_by(Parcel.id).with_for_update()).all()
        latest = _latest(chunk) if known_latest is None else known_latest
        updates = []
        for pid, number, order_id, status, last_at, delivered_at in parcels:
            event = latest.get(pid)
            if event is None:
                continue
            new, occurred_at, code, description, location = event
            if last_at is not None and occurred_at <= last_at:
                continue  # nothing newer than what the parcel shows
            if status in FINAL_TRACKING:
                moved = status  # final: the event is kept, the status stays
            elif status is None or TRACKING_STATES.can(status, new):
                moved = TrackingStatus(new)
            else:
                moved = status
            if moved == TrackingStatus.delivered and status != TrackingStatus.delivered:
                delivered_at = occurred_at
                delivered_orders.add(order_id)
            updates.append({"pid": pid, "status": moved, "last_at": occurred_at,
                            "delivered": delivered_at})
            if moved != status:
                changes.append(_Change(pid, number, order_id, status, moved, occurred_at, code,
                                       description, location))
        if updates:
            _update(updates)
    _expire_parcels({c.parcel_id for c in changes} | set(ids))
    summary.parcels_changed += len(changes)
    if changes:
        audit.record_many("parcel", ACTION, (
            (c.parcel_id, c.number,
             {"tracking_status": [c.old.value if c.old else None, c.new.value],
              "event": c.code, "occurred_at": c.occurred_at.replace(tzinfo=UTC)})
            for c in changes), actor=actor)
    _emit_exceptions([c for c in changes if c.new == TrackingStatus.exception], summary)
    summary.orders_delivered += _deliver_orders(delivered_orders, actor=actor)


def _expire_parcels(ids: set[int]) -> None:
    """Have Parcels loaded in the session read their new tracking columns on next access."""
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Parcel) and obj.id in ids:
            db.session.expire(obj, ["tracking_status", "last_tracking_at", "delivered_at"])


def _emit_exceptions(changes: list[_Change], summary: IngestSummary) -> None:
    if not changes:
        return
    numbers = dict(db.session.execute(
        select(CustomerOrder.id, CustomerOrder.number)
        .where(CustomerOrder.id.in_({c.order_id for c in changes}))).all())
    tracking = dict(db.session.execute(
        select(Parcel.id, Parcel.tracking_number)
        .where(Parcel.id.in_([c.parcel_id for c in changes]))).all())
    events.emit_many("parcel.exception", (
        (events.order_key(numbers[c.order_id]),
         {"order": numbers[c.order_id], "parcel": c.number,
          "tracking_number": tracking[c.parcel_id],
          "occurred_at": c.occurred_at.replace(tzinfo=UTC), "code": c.code,
          "description": c.description, "location": c.location})
        for c in changes))
    summary.exceptions += len(changes)


def _deliver_orders(order_ids: set[int], *, actor) -> int:
    """Mark delivered the shipped orders whose parcels (not voided) are all delivered."""
    done = 0
    ids = sorted(order_ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        complete = db.session.scalars(
            select(Parcel.order_id).where(Parcel.order_id.in_(chunk),
                                          Parcel.state != ParcelState.voided)
            .group_by(Parcel.order_id)
            .having(func.count() == func.sum(
                case((Parcel.tracking_status == TrackingStatus.delivered, 1), else_=0)))).all()
        if not complete:
            continue
        orders = db.session.scalars(
            select(CustomerOrder).where(CustomerOrder.id.in_(complete))
            .order_by(CustomerOrder.id).with_for_update()).all()
        # one UPDATE, audit insert and order.delivered insert for the lot: what mark_delivered
        # writes order by order (a carrier's file delivers thousands at once)
        done += len(mark_delivered_many(
            [o for o in orders if ORDER_STATES.can(o.state, OrderState.delivered)], actor=actor))
    return done


# --------------------------------------------------------------------------- the ingest


def _row(parcel_id: int, event: TrackingEvent, source: str, now: datetime) -> Row:
    return (parcel_id, _naive_utc(event.occurred_at), TrackingStatus(event.status).value,
            event.code[:40], (event.description or "")[:300],
            event.location[:120] if event.location else None, source, now)


def _new_rows(items: Iterable[tuple[str, Row]], parcels: dict[str, int],
              summary: IngestSummary) -> list[Row]:
    """Return the rows of known numbers, each (parcel, time, code) once; count the unknown."""
    rows, seen = [], set()
    for number, row in items:
        pid = parcels.get(number)
        if pid is None:
            summary.note_unknown(number)
            continue
        key = (pid, row[1], row[3])
        if key not in seen:
            seen.add(key)
            rows.append((pid, *row[1:]))
    return rows


def ingest(tracking_events: Iterable[TrackingEvent], *, source: str,
           actor=None) -> IngestSummary:
    """Store carrier events and move their parcels (see the module's documentation).

    :param source: ``"poll"``, ``"webhook"`` or ``"import"``.
    :param actor: the user (an import from a screen) or None (the system).
    """
    _check_source(source)
    received = list(tracking_events)
    summary = IngestSummary(received=len(received))
    parcels = resolve(e.tracking_number for e in received)
    now = utcnow().replace(tzinfo=None)
    rows = _new_rows(((e.tracking_number, _row(0, e, source, now)) for e in received), parcels,
                     summary)
    summary.stored = _store(rows)
    summary.duplicates = summary.received - summary.unknown - summary.stored
    _apply({r[0] for r in rows}, summary, actor=actor)
    return summary


# --------------------------------------------------------------------------- CSV files

#: the columns of a carrier's tracking file (the header row names them, in any order)
CSV_COLUMNS = ("tracking_number", "occurred_at", "status", "code", "description", "location")
REQUIRED = ("tracking_number", "occurred_at", "status", "code")
#: rows checked and stored together by :func:`import_csv`
BATCH = 20_000
#: errors kept before a file is given up on (the count goes on)
MAX_ERRORS = 500


@dataclass(frozen=True)
class RowProblem:
    """A bad cell of a tracking file: row number (the header is row 1), column, reason."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        return _("Row %(row)s, %(column)s: %(message)s", row=self.row, column=self.column,
                 message=self.message)


@dataclass
class FileOutcome:
    """What :func:`import_csv` found and did; nothing was written when ``errors`` is set."""

    summary: IngestSummary
    errors: list[RowProblem] = field(default_factory=list)
    error_count: int = 0
    rows: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        """Return whether the file had no errors."""
        return not self.error_count


def parse_time(value: str) -> datetime:
    """Return an ISO 8601 time as aware UTC (a time without an offset is taken as UTC).

    :raises ValueError: with a message a user can read.
    """
    text_value = (value or "").strip()
    try:
        moment = datetime.fromisoformat(text_value)
    except ValueError:
        raise ValueError(_('"%(value)s" is not a date and time; write it as ISO 8601, e.g. '
                           "2026-12-01T14:30:00Z", value=text_value)) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


_STATUSES = {s.value for s in TrackingStatus}


def check_row(number: int, cells: dict[str, str], problems: list[RowProblem]
              ) -> TrackingEvent | None:
    """Return the event of one file row (``{column: text}``), or None after adding problems."""
    checked = _check(number, tuple(cells.get(c) or "" for c in CSV_COLUMNS), problems)
    if checked is None:
        return None
    tracking_number, occurred_at, status, code, description, location = checked
    return TrackingEvent(tracking_number, occurred_at.replace(tzinfo=UTC),
                         TrackingStatus(status), code, description, location)


def _check(number: int, cells: tuple[str, ...], problems: list[RowProblem]) -> tuple | None:
    """Return ``(tracking number, naive UTC time, status, code, description, location)``.

    ``cells`` are the texts of :data:`CSV_COLUMNS`, in that order.
    """
    tracking_number, when, status, code, description, location = cells
    tracking_number, when, code = tracking_number.strip(), when.strip(), code.strip()
    status = status.strip().lower()
    try:  # the fast path: the usual row is good
        moment = datetime.fromisoformat(when)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC).replace(tzinfo=None)
        if tracking_number and code and len(code) <= 40 and status in _STATUSES:
            return (tracking_number, moment, status, code, description.strip()[:300],
                    location.strip()[:120] or None)
    except ValueError:
        pass
    bad = len(problems)
    for column, value in zip(CSV_COLUMNS, (tracking_number, when, status, code), strict=False):
        if column in REQUIRED and not value:
            problems.append(RowProblem(number, column, _("is required")))
    if len(problems) > bad:
        return None
    try:
        parse_time(when)
    except ValueError as err:
        problems.append(RowProblem(number, "occurred_at", str(err)))
    if status not in _STATUSES:
        problems.append(RowProblem(number, "status", _(
            '"%(value)s" is not a tracking status; use one of %(choices)s',
            value=cells[2].strip(), choices=", ".join(sorted(_STATUSES)))))
    if len(code) > 40:
        problems.append(RowProblem(number, "code", _("is longer than 40 characters")))
    return None


def _csv_rows(stream: io.TextIOBase, problems: list[RowProblem]
              ) -> Iterator[tuple[int, tuple[str, ...]]]:
    """Yield ``(row number, the texts of CSV_COLUMNS)`` of each row that is not blank."""
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        problems.append(RowProblem(1, "tracking_number", _("the file is empty")))
        return
    names = [h.strip().lower().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in names]
    for column in missing:
        problems.append(RowProblem(1, column, _("the header row has no such column")))
    if missing:
        return
    # an optional column the file lacks reads from an empty cell appended to each row
    width = len(names)
    index = [names.index(c) if c in names else width for c in CSV_COLUMNS]
    pick = itemgetter(*index)
    for number, cells in enumerate(reader, start=2):
        if len(cells) != width:
            if not any(cell.strip() for cell in cells):
                continue
            cells = (cells + [""] * width)[:width]
        cells.append("")
        picked = pick(cells)
        if not picked[0] and not any(cell.strip() for cell in cells):
            continue
        yield number, picked


def import_csv(stream: io.TextIOBase, *, dry_run: bool, actor=None) -> FileOutcome:
    """Check a carrier's tracking file (CSV) and, unless ``dry_run``, ingest it in bulk.

    The file is streamed in batches of :data:`BATCH` rows: each batch is checked, its tracking
    numbers looked up, and (no error so far, not a dry run) its events stored. After the last
    batch every touched parcel moves to its latest event at once. All or nothing: with any
    error the caller rolls back (the events stored before it was found go with the rollback).
    Never commits.
    """
    outcome = FileOutcome(summary=IngestSummary(), dry_run=dry_run)
    summary = outcome.summary
    problems: list[RowProblem] = []
    latest: dict[int, tuple] = {}  # parcel id -> its latest event in the file
    known: dict[str, int] = {}
    now = utcnow().replace(tzinfo=None)

    def flush(batch: list[tuple]) -> None:
        known.update(resolve({item[0] for item in batch} - known.keys()))
        rows = _new_rows(((item[0], (0, item[1], item[2], item[3], item[4], item[5], "import",
                                     now)) for item in batch), known, summary)
        if problems or dry_run:
            summary.stored += len(rows)  # what an import would at most store
            return
        summary.stored += _store(rows)
        for pid, at, status, code, description, location, _source, _received in rows:
            seen = latest.get(pid)
            if seen is None or at >= seen[1]:
                latest[pid] = (status, at, code, description, location)

    batch: list[tuple] = []
    for number, cells in _csv_rows(stream, problems):
        outcome.rows += 1
        checked = _check(number, cells, problems)
        if checked is None:
            outcome.error_count += 1
            del problems[MAX_ERRORS:]
            continue
        batch.append(checked)
        if len(batch) >= BATCH:
            flush(batch)
            batch = []
    if problems and not outcome.error_count:
        outcome.error_count = len(problems)  # header problems
    if batch:
        flush(batch)
    summary.received = outcome.rows
    outcome.errors = problems
    if outcome.error_count:
        return outcome
    summary.duplicates = summary.received - summary.unknown - summary.stored
    if not dry_run:
        aware = {pid: (TrackingStatus(status), at.replace(tzinfo=UTC), code, description,
                       location) for pid, (status, at, code, description, location)
                 in latest.items()}
        _apply(aware, summary, actor=actor, known_latest=aware)
    return outcome


def import_csv_bytes(data: bytes, *, dry_run: bool, actor=None) -> FileOutcome:
    """Run :func:`import_csv` on an uploaded file's bytes (UTF-8, with or without a BOM)."""
    return import_csv(io.StringIO(data.decode("utf-8-sig"), newline=""), dry_run=dry_run,
                      actor=actor)


def events_of(parcel_ids: Iterable[int]) -> list[ParcelTrackingEvent]:
    """Return the tracking events of the parcels, newest first."""
    ids = list(parcel_ids)
    if not ids:
        return []
    return list(db.session.scalars(
        select(ParcelTrackingEvent).where(ParcelTrackingEvent.parcel_id.in_(ids))
        .order_by(ParcelTrackingEvent.occurred_at.desc(), ParcelTrackingEvent.id.desc())))


__all__ = ["ACTION", "CSV_COLUMNS", "FileOutcome", "IngestSummary", "RowProblem", "SOURCES",
           "events_of", "import_csv", "import_csv_bytes", "ingest", "resolve"]


# --------------------------------------------------------------------------- back at the sender


def find_returned_parcel(text: str) -> Parcel | None:
    """Return the dispatched parcel with this tracking (or parcel) number, or None."""
    from erp.shipping import s10

    value = (text or "").strip()
    if not value:
        return None
    return db.session.scalar(select(Parcel).where(
        Parcel.state == ParcelState.dispatched,
        (Parcel.tracking_number == s10.normalise(value)) | (Parcel.number == value.upper())))


def mark_returned(parcel: Parcel, *, actor) -> bool:
    """Record that the parcel came back to the warehouse (returned to sender), once.

    The parcel's tracking status becomes ``returned`` whatever the carrier last said, and
    ``returned_at`` is set. The caller locked the parcel's order.

    :returns: False when it was received back already (nothing changes).
    """
    lock_parcel = db.session.scalars(select(Parcel).where(Parcel.id == parcel.id)
                                     .with_for_update()
                                     .execution_options(populate_existing=True)).one()
    if lock_parcel.returned_at is not None:
        return False
    old = lock_parcel.tracking_status
    lock_parcel.tracking_status = TrackingStatus.returned
    lock_parcel.returned_at = utcnow()
    audit.record(lock_parcel, ACTION, actor=actor, changes={
        "tracking_status": [old.value if old else None, TrackingStatus.returned.value],
        "received_back": True})
    db.session.flush()
    return True
