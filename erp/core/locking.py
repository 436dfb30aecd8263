"""Lock the row that owns a limit before reading the figures the limit is checked against.

DESIGN ("Transactions and concurrency"): every service that checks a limit and then writes first
locks the owner (the case for refunds, the PO line for receipts, the order for cancel and hold,
the batch for dispatch) and reads after the lock, so two requests never both see "26.68 still
refundable". On PostgreSQL this is ``SELECT ... FOR UPDATE``; on SQLite the write transaction
itself (``BEGIN IMMEDIATE``, see :mod:`erp.core.transactions`) already serialises writers and
the ``FOR UPDATE`` is dropped by SQLAlchemy. The locked row is read again, so values read
before the lock are replaced by current ones.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import inspect, select

from erp.extensions import db

T = TypeVar("T")


def lock(obj: T) -> T:
    """Lock ``obj``'s row until the transaction ends and refresh its columns; return ``obj``.

    Only the columns are read again (``SELECT ... FOR UPDATE``): collections already loaded stay
    loaded, so a 1,000-line order is not read twice. A service that checks a limit against
    children (the lines of an order, the refunds of a case) reads them after this lock.
    """
    mapper = inspect(obj).mapper
    db.session.flush()  # what this transaction changed is written first, never lost
    db.session.refresh(obj, attribute_names=[attr.key for attr in mapper.column_attrs],
                       with_for_update=True)
    return obj


def lock_many(model: type[T], ids) -> list[T]:
    """Lock the rows of ``model`` with primary keys ``ids`` in id order (no deadlocks); return them.

    Locking in one fixed order is what keeps two requests that lock overlapping sets from
    waiting on each other forever.
    """
    ids = sorted(set(ids))
    if not ids:
        return []
    pk = inspect(model).primary_key[0]
    return list(db.session.scalars(select(model).where(pk.in_(ids)).order_by(pk)
                                   .with_for_update(of=model)
                                   .execution_options(populate_existing=True)))


def lock_rows(model: type, ids, *columns) -> dict:
    """Lock the rows of ``model`` with primary keys ``ids`` in id order; return their figures.

    The bulk form for a wave's parcels or a batch's orders: ``{id: row of columns}`` read under
    the lock, without loading (or refreshing) an entity per row. Objects of those rows already
    in the session keep their attributes: compare them with the rows, and refresh the stale.
    """
    ids = sorted(set(ids))
    pk = inspect(model).primary_key[0]
    found = {}
    for start in range(0, len(ids), 900):  # chunks in id order keep the lock order
        for row in db.session.execute(
                select(pk, *columns).where(pk.in_(ids[start:start + 900])).order_by(pk)
                .with_for_update(of=model)):
            found[row[0]] = row
    return found
