"""Extension points that packages above procurement fill in.

Procurement never imports the packages above it (orders, shipping, after-sales, reports), yet
the supplier page shows figures only they can compute, such as the supplier scorecard's
customer returns. Those packages register functions here when they are imported, and the
supplier page calls whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

#: ``(supplier, date_from, date_to) -> HTML (Markup) | None``: sections of the supplier's page
#: for the period its date picker shows (e.g. the scorecard)
supplier_panels: list[Callable[[Any, date, date], Any]] = []


def supplier_panels_for(supplier, date_from: date, date_to: date) -> list[Any]:
    """Return the HTML of every registered supplier-page section that has something to show."""
    return [html for panel in supplier_panels if (html := panel(supplier, date_from, date_to))]
