"""The audit trail as a hash chain: any change, gap or lost tail of it is detected.

Every audit row gets, when its transaction commits, a position in the chain (``seq``: 1, 2, 3,
... with no gap), the hash of the row before (``prev_hash``) and its own hash (``row_hash``):
SHA-256 over its position, the hash before and its content (:func:`row_hash`). The one-row
``audit_chain`` table holds the head (the last position and its hash), so deleting the newest
rows is detected as well as deleting or changing one in the middle.

**Sealing** happens in the session's ``before_commit`` hook, only for transactions that wrote
audit rows: it locks the head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock
is already held by a transaction that wrote), chains the unsealed rows in id order (this
transaction's own, plus any committed row left unsealed), writes the seals with one
executemany (COPY to a temporary table and one ``UPDATE ... FROM`` for big imports on
PostgreSQL) and moves the head. The head lock is the last lock a transaction takes and is held
only for its commit: no deadlock, little waiting.

**Verifying** (:func:`verify`, ``erp check-audit``) reads the head first, then streams the rows
up to it in chain order and recomputes every hash: a changed row, a deleted row (a gap), a
lost tail (head beyond the last row), a broken link and a committed but unsealed row are each
reported. The one sanctioned change, the personal-data anonymisation, scrubs ``changes`` of
sealed rows; its ``privacy.anonymised`` event lists each scrubbed row with the digest of the
changes it was sealed with (:data:`EXCUSE_KEY`), so that row still verifies, all its other
columns included, and nothing else is excused.

On PostgreSQL a trigger (:data:`GUARD_DDL`) also refuses UPDATE, DELETE and TRUNCATE of audit
rows and of the head, except sealing and the sanctioned scrubbing. It stops the application (a
bug, an injected statement) from rewriting history; a table owner or superuser can still
disable it, which the chain then shows. On SQLite, whoever can write the file can rewrite
the whole chain (there is no secret in it); the chain still catches any edit of rows that is
not a complete, deliberate recomputation.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import DDL, event, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, object_session

from erp.core.audit import SEALING_FLAG
from erp.core.models import AuditChain, AuditEvent
from erp.extensions import db

log = logging.getLogger(__name__)

#: the ``prev_hash`` of the first row of the chain
GENESIS = "0" * 64
#: the key of a ``privacy.anonymised`` event's changes listing the rows it scrubbed:
#: ``{"<audit row id>": "<digest of the changes the row was sealed with>"}``
EXCUSE_KEY = "scrubbed_events"
#: the PostgreSQL setting a transaction sets (``SET LOCAL``) to scrub ``changes`` of audit rows
REDACTION_SETTING = "erp.audit_redaction"
#: from this many rows on, PostgreSQL takes the seals with COPY and one UPDATE ... FROM
COPY_ABOVE = 2000
#: rows read at a time while verifying
BATCH = 5000
#: problems listed in full by :func:`verify` (the count stays exact)
MAX_PROBLEMS = 200

_FLAG = SEALING_FLAG
_EVENT = AuditEvent.__table__
_HEAD = AuditChain.__table__
_CONTENT = (_EVENT.c.id, _EVENT.c.at, _EVENT.c.actor_id, _EVENT.c.entity_type,
            _EVENT.c.entity_id, _EVENT.c.entity_ref, _EVENT.c.action, _EVENT.c.changes)


class AuditChainError(RuntimeError):
    """The chain cannot be sealed (its head is gone while sealed rows remain)."""


# --------------------------------------------------------------------------- hashing

def canonical_json(value: Any) -> str:
    """Return ``value`` as canonical JSON: sorted keys, no spaces, ASCII only."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def changes_digest(changes: Any) -> str:
    """Return the hex SHA-256 of the canonical JSON of an audit row's ``changes``."""
    return hashlib.sha256(canonical_json(changes).encode("ascii")).hexdigest()


def _at_text(at: datetime | str | None) -> str | None:
    """Return a timestamp as naive UTC ISO 8601 with microseconds, as both databases keep it."""
    if at is None:
        return None
    if isinstance(at, str):  # a raw SQLite value: "2026-12-07 19:36:52.743132"
        if len(at) == 26 and at[10] == " ":
            return f"{at[:10]}T{at[11:]}"
        at = datetime.fromisoformat(at)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(sep="T", timespec="microseconds")


def row_hash(prev_hash: str, seq: int, row: Any, digest: str | None = None) -> str:
    """Return the hex SHA-256 sealing ``row`` at position ``seq`` after ``prev_hash``.

    :param row: has ``id``, ``at``, ``actor_id``, ``entity_type``, ``entity_id``,
        ``entity_ref``, ``action`` and ``changes`` (a database row or an :class:`AuditEvent`).
    :param digest: the :func:`changes_digest` to use instead of the row's current changes
        (a row an anonymisation scrubbed is checked against the digest it was sealed with).
    """
    if digest is None:
        digest = changes_digest(row.changes)
    content = canonical_json([seq, prev_hash, row.id, _at_text(row.at), row.actor_id,
                              row.entity_type, row.entity_id, row.entity_ref, row.action,
                              digest])
    return hashlib.sha256(content.encode("ascii")).hexdigest()


# --------------------------------------------------------------------------- sealing

def mark_written(session: Session | None = None) -> None:
    """Note that the current transaction wrote audit rows: they are sealed at its commit."""
    (session or db.session).info[_FLAG] = True


class _Row(NamedTuple):
    id: int
    at: Any
    actor_id: int | None
    entity_type: str
    entity_id: str
    entity_ref: str | None
    action: str
    changes: Any


#: sealing runs on every audited commit: plain driver SQL, none of SQLAlchemy's statement
#: compiling (a third of a scan's sealing time at the single-item lane)
_UNSEALED_SQL = ("SELECT id, at, actor_id, entity_type, entity_id, entity_ref, action, changes "
                 "FROM audit_event WHERE row_hash IS NULL ORDER BY id")
_HEAD_SQL = "SELECT last_seq, last_hash FROM audit_chain WHERE id = 1"
#: SQLite: the head beside each unsealed row, in one statement (one fewer for every audited
#: commit). A transaction sealing there holds the write lock (it wrote the rows), and one
#: statement reads one snapshot: the same figures as the two statements read one after the other.
_SQLITE_HEAD_AND_UNSEALED_SQL = (
    "SELECT h.id, h.last_seq, h.last_hash, e.id, e.at, e.actor_id, e.entity_type, e.entity_id, "
    "e.entity_ref, e.action, e.changes FROM audit_event e LEFT JOIN audit_chain h ON h.id = 1 "
    "WHERE e.row_hash IS NULL ORDER BY e.id")


def _param(conn: Connection) -> str:
    return "?" if conn.dialect.name == "sqlite" else "%s"


def _lock_head(conn: Connection) -> tuple[int, str]:
    """Lock the chain head and return ``(last position, last hash)``; make it if missing.

    :raises AuditChainError: if the head row is gone while sealed rows remain.
    """
    # SQLite: a transaction that wrote audit rows already holds the database's write lock
    stmt = _HEAD_SQL + (" FOR UPDATE" if conn.dialect.name == "postgresql" else "")
    head = conn.exec_driver_sql(stmt).first()
    if head is None:
        # made with the table (migration, create_all); gone only from an emptied test database
        if _max_seq(conn):
            raise AuditChainError(
                "The audit chain's head row is missing while sealed audit rows remain, so new "
                "audit rows cannot be chained. Run `erp check-audit` and restore the head from "
                "a backup.")
        conn.exec_driver_sql("INSERT INTO audit_chain (id, last_seq) VALUES (1, 0) "
                             "ON CONFLICT DO NOTHING")
        head = conn.exec_driver_sql(stmt).one()
    return int(head[0] or 0), head[1] or GENESIS


def _unsealed(conn: Connection) -> list[_Row]:
    rows = conn.exec_driver_sql(_UNSEALED_SQL).all()
    if conn.dialect.name == "sqlite":  # JSON comes back as its text there
        return [_Row(*row[:7], json.loads(row[7]) if row[7] is not None else None)
                for row in rows]
    return [_Row(*row) for row in rows]


def chain_rows(conn: Connection, rows: list, seq: int, prev: str) -> tuple[int, str]:
    """Seal ``rows`` (in order) onto the chain after position ``seq`` and hash ``prev``.

    Writes each row's position, previous hash and own hash; returns the new last position and
    hash, for the caller to move the head to.
    """
    seals = []
    for row in rows:
        seq += 1
        prev_hash, prev = prev, row_hash(prev, seq, row)
        seals.append((row.id, seq, prev_hash, prev))
    _write_seals(conn, seals)
    return seq, prev


def seal(session: Session | None = None) -> int:
    """Chain every unsealed audit row visible to the session's transaction; return how many.

    Called at commit by the session hook; call it directly only in maintenance code (a
    migration, a test). Holds the chain head's lock until the transaction ends.
    """
    session = session or db.session
    conn = session.connection()
    found = (conn.exec_driver_sql(_SQLITE_HEAD_AND_UNSEALED_SQL).all()
             if conn.dialect.name == "sqlite" else None)
    if found and found[0][0] is not None:
        seq, prev = int(found[0][1] or 0), found[0][2] or GENESIS
        rows = [_Row(*row[3:10], json.loads(row[10]) if row[10] is not None else None)
                for row in found]
    else:  # PostgreSQL (the head locked first), or nothing to seal, or no head row
        seq, prev = _lock_head(conn)
        rows = _unsealed(conn)
    if not rows:
        return 0
    seq, prev = chain_rows(conn, rows, seq, prev)
    mark = _param(conn)
    conn.exec_driver_sql(f"UPDATE audit_chain SET last_seq = {mark}, last_hash = {mark} "
                         f"WHERE id = 1", (seq, prev))
    return len(rows)


def _write_seals(conn: Connection, seals: list[tuple[int, int, str, str]]) -> None:
    """Write ``(id, seq, prev_hash, row_hash)`` onto the rows, the cheapest way for their number."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        conn.exec_driver_sql(
            "UPDATE audit_event SET seq = ?, prev_hash = ?, row_hash = ? WHERE id = ?",
            [(s, p, h, i) for i, s, p, h in seals])
    elif dialect == "postgresql" and len(seals) >= COPY_ABOVE:
        _copy_seals(conn, seals)
    else:
        conn.exec_driver_sql(
            "UPDATE audit_event SET seq = %s, prev_hash = %s, row_hash = %s WHERE id = %s",
            [(s, p, h, i) for i, s, p, h in seals])


def _copy_seals(conn: Connection, seals: list[tuple[int, int, str, str]]) -> None:
    """PostgreSQL: COPY the seals into a temporary table, then one UPDATE ... FROM."""
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE IF NOT EXISTS tmp_audit_seal (id bigint PRIMARY KEY, "
        "seq bigint NOT NULL, prev_hash varchar(64) NOT NULL, row_hash varchar(64) NOT NULL) "
        "ON COMMIT DELETE ROWS")
    raw = conn.connection.driver_connection
    buffer = io.StringIO()
    for i, s, p, h in seals:
        buffer.write(f"{i}\t{s}\t{p}\t{h}\n")
    with raw.cursor() as cursor, cursor.copy(
            "COPY tmp_audit_seal (id, seq, prev_hash, row_hash) FROM STDIN") as copy:
        copy.write(buffer.getvalue())
    conn.exec_driver_sql(
        "UPDATE audit_event SET seq = t.seq, prev_hash = t.prev_hash, row_hash = t.row_hash "
        "FROM tmp_audit_seal t WHERE audit_event.id = t.id")
    conn.exec_driver_sql("DELETE FROM tmp_audit_seal")


def _before_commit(session: Session) -> None:
    if not (session.info.get(_FLAG) or any(isinstance(o, AuditEvent) for o in session.new)) \
            or session.get_nested_transaction() is not None:
        return
    session.flush()
    seal(session)
    session.info.pop(_FLAG, None)


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_FLAG, None)


def _inserted(mapper, connection, target) -> None:
    session = object_session(target)
    if session is not None:
        session.info[_FLAG] = True


def init_app(app) -> None:
    """Seal the audit rows of every committing transaction that wrote some (once per process)."""
    if getattr(init_app, "done", False):
        return
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
    event.listen(AuditEvent, "before_insert", _inserted)
    init_app.done = True


# --------------------------------------------------------------------------- verifying

@dataclass
class ChainReport:
    """What :func:`verify` found: ``ok`` when the chain is whole and every row matches it.

    ``problems`` names each row (its id and chain position) and what is wrong with it; at most
    :data:`MAX_PROBLEMS` are listed, ``problem_count`` counts them all.
    """

    ok: bool
    rows: int
    problems: list[str] = field(default_factory=list)
    head_seq: int = 0
    excused: int = 0
    problem_count: int = 0

    def summary(self) -> str:
        """Return one line saying what was checked and found."""
        if self.ok:
            excused = (f"; {self.excused} row(s) scrubbed by a recorded anonymisation"
                       if self.excused else "")
            return (f"Audit trail intact: {self.rows} row(s) chained up to position "
                    f"{self.head_seq}{excused}.")
        return (f"Audit trail NOT intact: {self.problem_count} problem(s) in {self.rows} "
                f"row(s) read (chain head at position {self.head_seq}).")


class _Problems:
    def __init__(self):
        self.listed: list[str] = []
        self.count = 0

    def add(self, text_: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_PROBLEMS:
            self.listed.append(text_)


def _excuses(conn: Connection, head_seq: int) -> dict[int, list[tuple[int, str]]]:
    """Return ``{row id: [(excusing event's position, original digest), ...]}``."""
    found: dict[int, list[tuple[int, str]]] = {}
    stmt = (select(_EVENT.c.seq, _EVENT.c.changes)
            .where(_EVENT.c.action == "privacy.anonymised", _EVENT.c.seq.is_not(None),
                   _EVENT.c.seq <= head_seq))
    for seq, changes in conn.execute(stmt):
        listed = changes.get(EXCUSE_KEY) if isinstance(changes, dict) else None
        if not isinstance(listed, dict):
            continue
        for ident, digest in listed.items():
            if str(ident).isdigit() and isinstance(digest, str):
                found.setdefault(int(ident), []).append((seq, digest))
    return found


def _stream(conn: Connection, head_seq: int) -> Iterator[Any]:
    stmt = (select(*_CONTENT, _EVENT.c.seq, _EVENT.c.prev_hash, _EVENT.c.row_hash)
            .where(_EVENT.c.seq.is_not(None), _EVENT.c.seq <= head_seq)
            .order_by(_EVENT.c.seq))
    result = conn.execute(stmt, execution_options={"stream_results": True, "yield_per": BATCH})
    for partition in result.partitions():
        yield from partition


def verify(session: Session | None = None) -> ChainReport:
    """Check the whole audit trail against its hash chain; never writes.

    Reads the chain head first and then the rows up to it in chain order (rows sealed
    meanwhile by other transactions lie beyond the head and are left for the next check).
    Reports a changed row (its hash does not match its content), deleted rows (a gap in the
    positions, or a head beyond the last row), a broken link (``prev_hash`` not the hash of the
    row before) and committed rows left unsealed.
    """
    session = session or db.session
    conn = session.connection()
    problems = _Problems()
    head = conn.execute(select(_HEAD.c.last_seq, _HEAD.c.last_hash)
                        .where(_HEAD.c.id == 1)).first()
    if head is None:
        head_seq, head_hash = _max_seq(conn), None
        if head_seq:
            problems.add("The chain head (table audit_chain) is missing: the newest rows "
                         "cannot be checked for deletion.")
    else:
        head_seq, head_hash = int(head.last_seq or 0), head.last_hash
    excuses = _excuses(conn, head_seq)
    rows = excused = 0
    expected, last_hash, last_seq = 1, GENESIS, 0
    for row in _stream(conn, head_seq):
        rows += 1
        where = f"audit row {row.id} (position {row.seq})"
        if row.seq != expected:
            problems.add(f"Positions {expected}–{row.seq - 1} are missing before {where}: "
                         f"{row.seq - expected} audit row(s) deleted.")
        elif row.prev_hash != last_hash:
            problems.add(f"{where}: its link to the row before is broken (prev_hash does not "
                         f"match the hash of position {row.seq - 1}).")
        if row_hash(row.prev_hash, row.seq, row) != row.row_hash:
            if any(by > row.seq and row_hash(row.prev_hash, row.seq, row, digest) == row.row_hash
                   for by, digest in excuses.get(row.id, ())):
                excused += 1
            else:
                problems.add(f"{where} ({row.action}, {row.entity_type} {row.entity_id}): "
                             f"changed after it was sealed (its hash does not match its "
                             f"content).")
        expected, last_hash, last_seq = row.seq + 1, row.row_hash, row.seq
    if last_seq < head_seq:
        problems.add(f"Positions {last_seq + 1}–{head_seq} are missing at the end of the "
                     f"chain: the newest {head_seq - last_seq} audit row(s) were deleted.")
    elif head is not None and head_seq and last_hash != head_hash:
        problems.add(f"The chain head's hash does not match the row at position {head_seq}.")
    for ident, seq in conn.execute(
            select(_EVENT.c.id, _EVENT.c.seq).where(_EVENT.c.row_hash.is_(None))
            .order_by(_EVENT.c.id)):
        problems.add(f"audit row {ident}: committed without a seal (not in the chain)"
                     + (f", though it claims position {seq}." if seq is not None else "."))
    beyond = conn.execute(select(_EVENT.c.id, _EVENT.c.seq)
                          .where(_EVENT.c.seq > head_seq, _EVENT.c.row_hash.is_not(None))
                          .order_by(_EVENT.c.seq).limit(1)).first()
    if beyond is not None and head is not None and _lagging_head(conn, head_seq):
        problems.add(f"audit row {beyond.id} (position {beyond.seq}) lies beyond the chain "
                     f"head (position {head_seq}): the head was moved back.")
    return ChainReport(ok=problems.count == 0, rows=rows, problems=problems.listed,
                       head_seq=head_seq, excused=excused, problem_count=problems.count)


def _max_seq(conn: Connection) -> int:
    return int(conn.execute(select(_EVENT.c.seq).where(_EVENT.c.seq.is_not(None))
                            .order_by(_EVENT.c.seq.desc()).limit(1)).scalar() or 0)


def _lagging_head(conn: Connection, head_seq: int) -> bool:
    """Return whether the head is still behind sealed rows now (not just moved meanwhile)."""
    now = conn.execute(select(_HEAD.c.last_seq).where(_HEAD.c.id == 1)).scalar()
    return now is not None and int(now) == head_seq


# --------------------------------------------------------------------------- maintenance

def excuse_list(events: Iterable[AuditEvent]) -> dict[str, str]:
    """Return the :data:`EXCUSE_KEY` entry for audit rows about to be scrubbed.

    Each row maps to the digest of the changes it was sealed with: its current changes, or
    for a row an earlier anonymisation already scrubbed, the digest that one recorded.
    Call it before changing the rows.
    """
    events = list(events)
    earlier: dict[int, str] = {}
    ids = {e.id for e in events if e.row_hash is not None}
    if ids:
        for changes in db.session.scalars(select(AuditEvent.changes).where(
                AuditEvent.action == "privacy.anonymised")):
            listed = changes.get(EXCUSE_KEY) if isinstance(changes, dict) else None
            for ident, digest in (listed or {}).items():
                if str(ident).isdigit() and int(ident) in ids:
                    earlier.setdefault(int(ident), digest)
    out = {}
    for e in events:
        if e.row_hash is None:
            continue  # sealed with whatever it holds at commit: nothing to excuse
        current = changes_digest(e.changes)
        sealed_with = row_hash(e.prev_hash, e.seq, e, current) == e.row_hash
        out[str(e.id)] = current if sealed_with else earlier.get(e.id, current)
    return out


def allow_redaction(session: Session | None = None) -> None:
    """Let this transaction scrub ``changes`` of audit rows (PostgreSQL's trigger allows it).

    Only the personal-data anonymisation calls it; it must list the rows it scrubs in its own
    ``privacy.anonymised`` event (:func:`excuse_list`).
    """
    conn = (session or db.session).connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL {REDACTION_SETTING} = 'on'")


# --------------------------------------------------------------------------- PostgreSQL guard

#: the trigger function refusing UPDATE, DELETE and TRUNCATE of audit rows and the chain head,
#: except (a) sealing: an unsealed row given its seal columns, nothing else changed, and the
#: head moved forward; (b) scrubbing ``changes`` only, in a transaction that set
#: :data:`REDACTION_SETTING` (the personal-data anonymisation)
GUARD_FUNCTION = f"""
CREATE OR REPLACE FUNCTION erp_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_event' THEN
    IF NEW.id = OLD.id AND NEW.at IS NOT DISTINCT FROM OLD.at
       AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id
       AND NEW.entity_type IS NOT DISTINCT FROM OLD.entity_type
       AND NEW.entity_id IS NOT DISTINCT FROM OLD.entity_id
       AND NEW.entity_ref IS NOT DISTINCT FROM OLD.entity_ref
       AND NEW.action IS NOT DISTINCT FROM OLD.action THEN
      IF OLD.row_hash IS NULL AND OLD.seq IS NULL AND OLD.prev_hash IS NULL
         AND NEW.changes::text IS NOT DISTINCT FROM OLD.changes::text THEN
        RETURN NEW;  -- sealing
      END IF;
      IF current_setting('{REDACTION_SETTING}', true) = 'on'
         AND NEW.seq IS NOT DISTINCT FROM OLD.seq
         AND NEW.prev_hash IS NOT DISTINCT FROM OLD.prev_hash
         AND NEW.row_hash IS NOT DISTINCT FROM OLD.row_hash THEN
        RETURN NEW;  -- the anonymisation scrubbing changes
      END IF;
    END IF;
  ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'audit_chain' THEN
    IF NEW.id = OLD.id AND NEW.last_seq > OLD.last_seq THEN
      RETURN NEW;  -- sealing moves the head forward
    END IF;
  END IF;
  RAISE EXCEPTION 'The audit trail cannot be rewritten: % on % refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END
$$
"""
#: the triggers calling :data:`GUARD_FUNCTION`, per table
GUARD_TRIGGERS = {
    table: [f"CREATE TRIGGER {table}_guard BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION erp_audit_guard()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION erp_audit_guard()"]
    for table in ("audit_event", "audit_chain")}
#: the head row every database starts with
HEAD_ROW = "INSERT INTO audit_chain (id, last_seq) VALUES (1, 0)"


def _guard_on_create(table_name: str) -> None:
    table = _EVENT if table_name == "audit_event" else _HEAD
    # DDL formats its text with %: the function's own % are doubled
    event.listen(table, "after_create",
                 DDL(GUARD_FUNCTION.replace("%", "%%")).execute_if(dialect="postgresql"))
    for statement in GUARD_TRIGGERS[table_name]:
        event.listen(table, "after_create", DDL(statement).execute_if(dialect="postgresql"))


# schemas built with create_all() (tests, a fresh embedded database) get the guard and the head
# as migrations give them
_guard_on_create("audit_event")
_guard_on_create("audit_chain")
event.listen(_HEAD, "after_create", DDL(HEAD_ROW))
