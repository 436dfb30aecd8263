"""Undo a benchmark's audit rows: delete them and chain the rest again (benchmarks only).

Kept out of the application on purpose: rewriting the audit chain is what the chain exists to
reveal. It needs a PostgreSQL superuser (the guarding trigger is bypassed with
``session_replication_role = replica``), which the benchmarks' scratch databases have and the
application's database user must not.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from erp.core.auditchain import _CONTENT, _EVENT, _HEAD, GENESIS, _lock_head, chain_rows
from erp.extensions import db


def delete_events(where: Any, session: Session | None = None) -> int:
    """Delete audit rows and chain the rest again (tests and benchmarks only; needs superuser).

    The rows after the first deleted one get new positions and hashes, and the head follows;
    deleting the newest rows (a benchmark undoing its import) rewrites nothing. On PostgreSQL
    the guarding trigger is bypassed with ``session_replication_role = replica``, which only a
    superuser may set. Return how many rows were deleted.
    """
    session = session or db.session
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    first = conn.execute(select(_EVENT.c.seq).where(where, _EVENT.c.seq.is_not(None))
                         .order_by(_EVENT.c.seq).limit(1)).scalar()
    deleted = conn.execute(_EVENT.delete().where(where)).rowcount
    if first is not None:
        rechain_from(int(first), session)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
    return deleted


def rechain_from(first: int, session: Session | None = None) -> None:
    """Give the sealed rows from position ``first`` on new contiguous positions and hashes.

    Maintenance only (:func:`delete_events`); on PostgreSQL the caller has disabled the trigger.
    """
    session = session or db.session
    conn = session.connection()
    seq, prev = _lock_head(conn)
    before = conn.execute(select(_EVENT.c.seq, _EVENT.c.row_hash)
                          .where(_EVENT.c.seq < first, _EVENT.c.seq.is_not(None))
                          .order_by(_EVENT.c.seq.desc()).limit(1)).first()
    seq, prev = (int(before.seq), before.row_hash) if before is not None else (0, GENESIS)
    rows = conn.execute(select(*_CONTENT).where(_EVENT.c.seq >= first)
                        .order_by(_EVENT.c.seq)).all()
    if rows:
        # out of the way of the unique positions first, then the new ones
        conn.execute(update(_EVENT).where(_EVENT.c.seq >= first)
                     .values(seq=-_EVENT.c.seq))
        seq, prev = chain_rows(conn, rows, seq, prev)
    conn.execute(update(_HEAD).where(_HEAD.c.id == 1).values(last_seq=seq, last_hash=prev))
