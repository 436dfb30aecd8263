"""Document numbers such as ``PO-2026-000001``, drawn from a locked sequence row.

The counter is advanced with a single ``UPDATE ... SET last_value = last_value + 1 RETURNING``,
which takes the row lock on PostgreSQL (and the database write lock on SQLite), so two
transactions can never draw the same number; the second waits for the first to finish.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from erp.core.errors import ValidationError
from erp.core.models import Sequence
from erp.extensions import db

_TABLE = Sequence.__table__
# A Core statement on the table, built once: the ORM's bulk-update bookkeeping cost more than
# the UPDATE itself, and every document (a parcel a second at a packing lane) draws a number.
_DRAW = (update(_TABLE).where(_TABLE.c.name == bindparam("seq_name"))
         .values(last_value=_TABLE.c.last_value + 1).returning(_TABLE.c.last_value))


def _draw(name: str) -> int:
    return db.session.execute(_DRAW, {"seq_name": name}).scalar_one_or_none()


def next_value(name: str) -> int:
    """Advance the sequence ``name`` (creating it at 0 if new) and return its new value."""
    value = _draw(name)
    if value is None:
        try:
            with db.session.begin_nested():
                db.session.execute(insert(Sequence).values(name=name, last_value=0))
        except IntegrityError:
            pass  # another transaction created it first; its row is there now
        value = _draw(name)
    return value


def next_number(prefix: str, *, on: date | None = None, width: int = 6) -> str:
    """Return the next document number ``PREFIX-YYYY-NNNNNN``; the counter restarts each year.

    :raises ValidationError: if the prefix is not 1-10 upper-case letters.
    """
    if not (prefix.isalpha() and prefix.isupper() and 0 < len(prefix) <= 10):
        raise ValidationError(f"A document prefix must be 1-10 capital letters, got {prefix!r}.")
    year = (on or date.today()).year
    value = next_value(f"{prefix}-{year}")
    return f"{prefix}-{year}-{value:0{width}d}"


def current_value(name: str) -> int:
    """Return the last value drawn from ``name`` (0 if never drawn); for display only."""
    return db.session.scalar(select(Sequence.last_value).where(Sequence.name == name)) or 0
