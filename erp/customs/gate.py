"""The completeness gate: a batch does not close while a 9610 parcel in it misses export data.

Registered in :data:`erp.shipping.batch_hooks.close_checks`; shipping lists what it returns
and refuses the close. Parcels of other orders are ignored (one query finds none).
"""

from __future__ import annotations

from collections.abc import Sequence

from erp.customs.collect import collect
from erp.extensions import db
from erp.shipping import batch_hooks

#: where the gate leaves its collection for the ledger, in the close's session
SESSION_KEY = "customs_collected"


def close_check(batch, parcel_ids: Sequence[int]) -> list[str]:
    """Return every gap of the batch's 9610 parcels, each naming parcel, order, SKU and field.

    The collection is kept on the session (the close's transaction, with the batch, orders and
    parcels locked) so the ledger writes it without gathering it again.
    """
    collected = collect(batch, parcel_ids)
    db.session.info[SESSION_KEY] = (batch.id, tuple(parcel_ids), collected)
    return collected.problems


def take_collected(batch, parcel_ids: Sequence[int]):
    """Return (and forget) what the gate collected for this close, or None."""
    kept = db.session.info.pop(SESSION_KEY, None)
    if kept is None or kept[:2] != (batch.id, tuple(parcel_ids)):
        return None
    return kept[2]


if close_check not in batch_hooks.close_checks:
    batch_hooks.close_checks.append(close_check)
