"""Extension points that packages above shipping fill in for dispatch batches.

Shipping never imports the packages above it (customs, after-sales, reports). Closing a batch
must still refuse parcels whose export data is incomplete and write the customs ledger in the
same transaction, and the batch page shows what those packages have to say, so they register
functions here when they are imported and shipping calls whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

#: ``(batch, parcel_ids) -> [problem text]``: called by ``close_batch`` inside its transaction,
#: after the batch, its orders and parcels are locked and checked; every problem (each names
#: the parcel, order, SKU and field) refuses the close, and all are listed
close_checks: list[Callable[[Any, Sequence[int]], list[str]]] = []
#: ``(batch, parcel_ids, *, actor, at) -> None``: called by ``close_batch`` in its transaction
#: once the parcels are dispatched (e.g. writes the customs ledger)
closed: list[Callable[..., None]] = []
#: ``(batch) -> HTML (Markup) | None``: sections of the batch's page
batch_panels: list[Callable[[Any], Any]] = []


def problems(batch, parcel_ids: Sequence[int]) -> list[str]:
    """Return every registered check's problems for closing ``batch``."""
    return [problem for check in close_checks for problem in check(batch, parcel_ids)]


def after_close(batch, parcel_ids: Sequence[int], *, actor, at: datetime) -> None:
    """Call every registered function for a closed batch."""
    for function in closed:
        function(batch, parcel_ids, actor=actor, at=at)


def panels(batch) -> list[Any]:
    """Return the HTML of every registered batch-page section that has something to show."""
    return [html for panel in batch_panels if (html := panel(batch))]
