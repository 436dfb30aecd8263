"""Extension points that packages above quality fill in.

Quality sits below the packages whose goods it inspects (procurement, production) and never
imports them: a lot names what it was opened for only by ``ref_type`` and ``ref_id``. When a
lot's goods become available, the package that opened it may need to act in the same
transaction (production reserves a made-to-order line's goods to that line alone), so it
registers a function here when it is imported, and quality calls whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: ``(inspection, location_id, quantity, *, actor) -> None``: called, in the transaction that
#: made them available, when ``quantity`` units of a lot reached the bin ``location_id``: on
#: acceptance (the whole lot, moved from the QC hold bin to its release bin) and on a
#: concession release (what was left in quarantine, moved to the release bin). The inspection
#: row is locked. A function acts only on the lots of its own ``inspection.ref_type``; raising
#: a :class:`~erp.core.errors.DomainError` refuses the decision or release as a whole.
lot_released: list[Callable[..., None]] = []


def send_lot_released(inspection: Any, location_id: int, quantity: int, *, actor) -> None:
    """Call every :data:`lot_released` function with the lot's goods now available."""
    for fn in lot_released:
        fn(inspection, location_id, quantity, actor=actor)
