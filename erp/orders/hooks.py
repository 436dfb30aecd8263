"""Extension points that packages above orders fill in.

DESIGN keeps the import direction one way: orders never imports shipping or after-sales. The
order screens and API still show tracking numbers and parcels, and intake must refuse an order
that cannot ship (shipping knows services, countries served and limits), so those packages
register functions here when they are imported, and orders calls whatever is registered.

The lifecycle of an order reaches into the packages above it too (a cancelled order's parcels
must not leave, a new address needs a new label). Orders announces those changes on the
blinker signals below, inside the same transaction; the packages above connect to them. A
receiver may refuse the change by raising a :class:`~erp.core.errors.DomainError` before it
changes anything, and the whole change is then refused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from blinker import Namespace
from sqlalchemy import Select

#: ``(search text) -> Select of order ids | None``: orders a tracking or parcel number matches
order_id_searches: list[Callable[[str], Select | None]] = []
#: ``(order ids) -> {order id: [tracking numbers]}``
tracking_numbers: list[Callable[[Sequence[int]], dict[int, list[str]]]] = []
#: ``(order) -> HTML (Markup) | None``: sections shown on the order's page, e.g. its parcels
order_panels: list[Callable[[Any], Any]] = []
#: ``() -> [(code, name)]``: the shipping services an order may ask for (the split form's choice)
service_choices: list[Callable[[], list[tuple[str, str]]]] = []

#: ``(sku, size, measurements) -> None``: checks a made-to-order line's specification, the
#: standard size (str or None) or the measurements (``{code: Decimal}`` or None), against the
#: product's template; raises ``ValueError`` with the reason in the reader's language. Intake
#: (API and Excel) calls it for every line whose product is made to order.
made_to_order_checks: list[Callable[..., None]] = []
#: ``(orders, *, actor) -> None``: called by intake in its transaction with the orders it has
#: just created that arrived paid (``paid_at`` set); production makes the production orders of
#: their made-to-order lines
orders_paid: list[Callable[..., None]] = []

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

#: ``(orders, *, actor) -> None``: called by allocation, in its transaction, with the orders it
#: has just made fully allocated (in allocation order; their rows are written). Shipping routes
#: them (chooses each one's service); a receiver may raise a DomainError to refuse the batch.
orders_allocated: list[Callable[..., None]] = []


def send(signal, order, **kwargs) -> list[Any]:
    """Send ``signal`` for ``order`` and return the receivers' results that are not None."""
    return [result for _receiver, result in signal.send(order, **kwargs) if result is not None]


@dataclass(frozen=True, slots=True)
class IntakeLine:
    """One line of an order being taken in, with its SKU's catalog weight and size."""

    sku_code: str
    quantity: int
    weight_g: int = 0
    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0


@dataclass(frozen=True, slots=True)
class IntakeOrder:
    """An order the API or the order sheet is about to store, as intake checks see it."""

    number: str
    country: str
    shipping_service: str | None
    phone: str | None = None
    lines: tuple[IntakeLine, ...] = field(default_factory=tuple)

    @property
    def weight_g(self) -> int:
        """Return the estimated weight: catalog weight x quantity, summed over the lines.

        No packaging is added: the box is only chosen at the packing bench.
        """
        return sum(line.weight_g * line.quantity for line in self.lines)


#: ``(orders) -> {index in orders: {field path: message}}``: why an order about to be taken in
#: cannot ship as asked (its service does not serve its country, the goods outweigh the
#: service's limit, ...). Field paths are the API's (``"shipping_service"``, ``"lines"``,
#: ``"lines[0].sku"``, ``"phone"``). Called with every order of an import at once.
intake_checks: list[Callable[[Sequence[IntakeOrder]], dict[int, dict[str, str]]]] = []


def tracking_numbers_for(order_ids: Sequence[int]) -> dict[int, list[str]]:
    """Return the tracking numbers every registered package knows for the orders."""
    found: dict[int, list[str]] = {}
    for lookup in tracking_numbers:
        for order_id, numbers in lookup(order_ids).items():
            found.setdefault(order_id, []).extend(numbers)
    return found


def intake_problems(orders: Sequence[IntakeOrder]) -> dict[int, dict[str, str]]:
    """Return every registered check's refusals, ``{index in orders: {field: message}}``."""
    found: dict[int, dict[str, str]] = {}
    if not orders:
        return found
    for check in intake_checks:
        for index, problems in check(orders).items():
            for path, message in problems.items():
                found.setdefault(index, {}).setdefault(path, message)
    return found


def shipping_services() -> list[tuple[str, str]]:
    """Return ``[(code, name)]`` of the shipping services every registered package offers."""
    return [choice for lookup in service_choices for choice in lookup()]


def order_panels_for(order) -> list[Any]:
    """Return the registered panels' HTML for the order's page (those that have something)."""
    return [html for panel in order_panels if (html := panel(order))]
