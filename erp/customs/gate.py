"""The completeness gate: a batch does not close while a 9610 parcel in it misses export data.

Registered in :data:`erp.shipping.batch_hooks.close_checks`; shipping lists what it returns
and refuses the close. Parcels of other orders are ignored (one query finds none).
"""

from __future__ import annotations

from collections.abc import Sequence

from erp.customs.collect import collect
from erp.shipping import batch_hooks


def close_check(batch, parcel_ids: Sequence[int]) -> list[str]:
    """Return every gap of the batch's 9610 parcels, each naming parcel, order, SKU and field."""
    return collect(batch, parcel_ids).problems


if close_check not in batch_hooks.close_checks:
    batch_hooks.close_checks.append(close_check)
