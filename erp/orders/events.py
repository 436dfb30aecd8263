"""The order events of the outbox: which change of an order the storefront hears of, and how.

Every transition of an order made through :func:`erp.core.states.transition` comes here
(:func:`on_transition`); the bulk paths (intake, the file import, allocation in batches) call
:func:`emit_orders` themselves. ``order.shipped`` is written by shipping, which knows the
parcels, and ``order.accepted`` by intake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from erp.core import events
from erp.orders.models import ORDER_STATES, CustomerOrder, OrderState

O = OrderState  # noqa: E741

#: the event a move *to* a state writes
TO_STATE = {O.allocated: "order.allocated", O.backordered: "order.backordered",
            O.on_hold: "order.held", O.cancelled: "order.cancelled",
            O.delivered: "order.delivered"}


def order_payload(order: CustomerOrder, old: OrderState | str | None = None,
                  **extra: Any) -> dict[str, Any]:
    """Return what every order event carries: the number, the state and the one before.

    A part split off an order names it (``split_from``); an order merged into another names
    the order it ships with (``merged_into``).
    """
    payload: dict[str, Any] = {
        "order": order.number, "channel": order.channel,
        "state": ORDER_STATES.enum(order.state).value,
        "previous_state": ORDER_STATES.enum(old).value if old is not None else None}
    if order.split_from_id is not None:
        # a part split off: the storefront files it under the order the buyer placed
        payload["split_from"] = order.split_from.number
    if order.merged_into_id is not None:
        # ships in the parcels of another order of the same buyer
        payload["merged_into"] = order.merged_into.number
    payload.update(extra)
    return payload


def event_for(old: OrderState, new: OrderState) -> str | None:
    """Return the event type a move from ``old`` to ``new`` writes, or None."""
    old, new = ORDER_STATES.enum(old), ORDER_STATES.enum(new)
    if old == new and new != O.backordered:
        return None
    if old == O.on_hold and new != O.cancelled:
        return "order.released"
    if old == O.backordered and new == O.backordered:
        return None  # more reserved, still short: no news for the storefront
    return TO_STATE.get(new)


def _extra(order: CustomerOrder, new: OrderState) -> dict[str, Any]:
    if new == O.on_hold:
        return {"reason": order.hold_reason}
    if new == O.cancelled:
        return {"reason": order.cancel_reason}
    return {}


def on_transition(order: CustomerOrder, old: OrderState, new: OrderState) -> None:
    """Write the event of an order's transition, if the storefront hears of it."""
    type_ = event_for(old, new)
    if type_ is not None:
        events.emit(type_, order_payload(order, old, **_extra(order, new)),
                    key=events.order_key(order.number))


def emit_orders(type_: str, changes: Iterable[tuple[CustomerOrder, OrderState | None]],
                extra: Mapping[int, Mapping[str, Any]] | None = None) -> int:
    """Write ``type_`` for each ``(order, old state)`` in one insert (the bulk paths)."""
    extra = extra or {}
    return events.emit_many(type_, [
        (events.order_key(order.number), order_payload(order, old, **extra.get(order.id, {})))
        for order, old in changes])


def accepted_payload(number: str, channel: str | None, lines: int) -> dict[str, Any]:
    """Return the payload of ``order.accepted``."""
    return {"order": number, "channel": channel, "state": O.new.value, "previous_state": None,
            "lines": lines}


ORDER_STATES.listen(on_transition)
