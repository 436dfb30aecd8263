"""Extension points that packages above orders fill in.

DESIGN keeps the import direction one way: orders never imports shipping or after-sales. The
order screens and API still show tracking numbers and parcels, so those packages register
functions here when they are imported, and orders calls whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select

#: ``(search text) -> Select of order ids | None``: orders a tracking or parcel number matches
order_id_searches: list[Callable[[str], Select | None]] = []
#: ``(order ids) -> {order id: [tracking numbers]}``
tracking_numbers: list[Callable[[Sequence[int]], dict[int, list[str]]]] = []
#: ``(order) -> HTML (Markup) | None``: sections shown on the order's page, e.g. its parcels
order_panels: list[Callable[[Any], Any]] = []


def tracking_numbers_for(order_ids: Sequence[int]) -> dict[int, list[str]]:
    """Return the tracking numbers every registered package knows for the orders."""
    found: dict[int, list[str]] = {}
    for lookup in tracking_numbers:
        for order_id, numbers in lookup(order_ids).items():
            found.setdefault(order_id, []).extend(numbers)
    return found


def order_panels_for(order) -> list[Any]:
    """Return the registered panels' HTML for the order's page (those that have something)."""
    return [html for panel in order_panels if (html := panel(order))]
