"""Extension points that packages above orders fill in.

DESIGN keeps the import direction one way: orders never imports shipping or after-sales. The
order screens and API still show tracking numbers and parcels, so those packages register
functions here when they are imported, and orders calls whatever is registered.

The lifecycle of an order reaches into the packages above it too (a cancelled order's parcels
must not leave, a new address needs a new label). Orders announces those changes on the
blinker signals below, inside the same transaction; the packages above connect to them. A
receiver may refuse the change by raising a :class:`~erp.core.errors.DomainError` before it
changes anything, and the whole change is then refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blinker import Namespace
from sqlalchemy import Select

#: ``(search text) -> Select of order ids | None``: orders a tracking or parcel number matches
order_id_searches: list[Callable[[str], Select | None]] = []
#: ``(order ids) -> {order id: [tracking numbers]}``
tracking_numbers: list[Callable[[Sequence[int]], dict[int, list[str]]]] = []
#: ``(order) -> HTML (Markup) | None``: sections shown on the order's page, e.g. its parcels
order_panels: list[Callable[[Any], Any]] = []

_signals = Namespace()

#: Sent by ``cancel_order`` with the order (locked, allowed by the state table) before the order
#: changes, with ``actor`` and ``reason``. A receiver first checks (raising a DomainError
#: refuses the cancel: e.g. a parcel already left), then undoes its part (voids parcels, puts
#: picked goods back). It may return a dict of details, added to the order's audit event.
order_cancelling = _signals.signal("order-cancelling")

#: Sent by ``update_shipping_address`` (and any other change of where or how an order ships)
#: after the order changed, with ``actor`` and ``changes`` (``{field: [old, new]}``). A
#: receiver makes what depended on the old values void (a printed label) and returns a list of
#: notices for the user ("print a new label for parcel ...").
order_shipping_changed = _signals.signal("order-shipping-changed")

#: Sent by ``release_order`` for an order whose every unit was picked before its hold. A
#: receiver returns ``"packed"`` when every unit is in a parcel, else ``"picking"`` (or None
#: when it does not know): the state the order goes back to.
order_fulfilment_state = _signals.signal("order-fulfilment-state")


def send(signal, order, **kwargs) -> list[Any]:
    """Send ``signal`` for ``order`` and return the receivers' results that are not None."""
    return [result for _receiver, result in signal.send(order, **kwargs) if result is not None]


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
