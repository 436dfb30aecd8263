"""State changes of an order as the warehouse fulfils it; shipping calls these, never the table.

Picking takes the reserved units off the bins: the line's ``allocated_qty`` keeps counting them
(they are covered, now at the packing bench) while the reservation goes away. A short pick lowers
``allocated_qty`` by what was not found, so the next allocation reserves only that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from erp.core import audit
from erp.core.models import utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.orders import events as order_events
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services import merging

O = OrderState  # noqa: E741 - the models' alias
#: the moves the orders merged into an order make with it (erp.orders.services.merging)
FOLLOWED = frozenset({O.picking, O.packed, O.shipped, O.delivered})


def with_merged(orders: Iterable[CustomerOrder]) -> list[CustomerOrder]:
    """Return the orders, each followed by the orders merged into it that are in its state.

    A merge group ships as one parcel: its primary's moves are the group's (the members are
    locked, after their primaries).
    """
    orders = list(dict.fromkeys(orders))
    members = merging.members_of([o.id for o in orders], for_update=True) if orders else {}
    if not members:
        return orders
    seen = {o.id for o in orders}
    out = []
    for order in orders:
        out.append(order)
        for member in members.get(order.id, ()):
            if member.id not in seen and member.state == order.state:
                seen.add(member.id)
                out.append(member)
    return out


def _move(orders: Iterable[CustomerOrder], target: OrderState, *, actor, note: str | None = None,
          changes: Mapping | None = None) -> list[CustomerOrder]:
    """Check every order may go to ``target`` first, then move them all (all or nothing).

    The orders merged into them come along for the moves of :data:`FOLLOWED`.
    """
    orders = with_merged(orders) if target in FOLLOWED else list(orders)
    for order in orders:
        ORDER_STATES.check(order, target)
    for order in orders:
        transition(order, target, machine=ORDER_STATES, actor=actor, note=note, changes=changes)
    db.session.flush()
    return orders


def mark_picking(orders: Iterable[CustomerOrder], *, actor, wave: str | None = None
                 ) -> list[CustomerOrder]:
    """Allocated orders went into a pick wave (``wave`` is its number, for the history)."""
    return _move(orders, O.picking, actor=actor, changes={"wave": wave} if wave else None)


def mark_packed(order: CustomerOrder, *, actor) -> CustomerOrder:
    """Every unit of the order (and of the orders merged into it) is in a closed parcel."""
    return _move([order], O.packed, actor=actor)[0]


def mark_packed_many(orders: Iterable[CustomerOrder], *, actor) -> list[CustomerOrder]:
    """Several orders are fully packed (one flush for all; the packing benchmark's path)."""
    return _move(orders, O.packed, actor=actor)


_SET_STATE = (update(CustomerOrder.__table__)
              .where(CustomerOrder.__table__.c.id == bindparam("key_id"))
              .values(state=bindparam("new_state"), updated_at=bindparam("now")))


def mark_packed_rows(orders: Iterable[Any], *, actor) -> None:
    """Orders read as rows, not loaded, are fully packed (the single-item lane's lean path).

    Each of ``orders`` has ``id, number, channel, state`` (settable); the caller locked their
    rows. What :func:`mark_packed` writes, in fewer statements: every order checked first, then
    one UPDATE, the ``customer_order.packed`` events (:func:`audit.record_many`, so a batch
    of the caller's takes them) and the state machine's listeners (the storefront's events),
    each order showing its new state. An order object loaded in the session shows it too.
    """
    orders = list(orders)
    olds = [ORDER_STATES.check(order, O.packed) for order in orders]
    if not orders:
        return
    now = utcnow()
    db.session.execute(_SET_STATE, [{"key_id": o.id, "new_state": O.packed, "now": now}
                                    for o in orders])
    audit.record_many(CustomerOrder.__tablename__, f"{CustomerOrder.__tablename__}.packed",
                      [(o.id, o.number, {"state": [old.value, O.packed.value]})
                       for o, old in zip(orders, olds, strict=True)], actor=actor)
    for order, old in zip(orders, olds, strict=True):
        order.state = O.packed
        loaded = db.session.identity_map.get(identity_key(CustomerOrder, order.id))
        if loaded is not None:
            set_committed_value(loaded, "state", O.packed)
            set_committed_value(loaded, "updated_at", now)
        for listener in ORDER_STATES.listeners:
            listener(order, old, O.packed)


def mark_repacking(order: CustomerOrder, *, actor, reason: str) -> CustomerOrder:
    """A packed order's parcel was voided: its goods wait at the bench to be packed again."""
    return _move([order], O.picking, actor=actor, note=reason)[0]


def mark_shipped(orders: Iterable[CustomerOrder], *, actor, batch: str | None = None
                 ) -> list[CustomerOrder]:
    """The orders' parcels left with the carrier (``batch`` is the dispatch batch number)."""
    return _move(orders, O.shipped, actor=actor, changes={"batch": batch} if batch else None)


def mark_delivered(order: CustomerOrder, *, actor) -> CustomerOrder:
    """The carrier reported the order delivered."""
    return _move([order], O.delivered, actor=actor)[0]


_SET_DELIVERED = (update(CustomerOrder.__table__)
                  .where(CustomerOrder.__table__.c.id == bindparam("key_id"))
                  .values(state=O.delivered, updated_at=bindparam("now")))


def mark_delivered_many(orders: Iterable[CustomerOrder], *, actor) -> list[CustomerOrder]:
    """The carrier delivered many orders (a tracking file): the bulk twin of mark_delivered.

    Checks every order first (all or nothing), then one UPDATE, one audit insert and one
    outbox insert (``order.delivered``) for them all: what :func:`transition` and the order
    events listener write one by one. The objects show the new state.
    """
    orders = with_merged(orders)
    olds = [ORDER_STATES.check(order, O.delivered) for order in orders]
    if not orders:
        return orders
    now = utcnow()
    db.session.flush()
    db.session.execute(_SET_DELIVERED, [{"key_id": o.id, "now": now} for o in orders])
    for order in orders:
        set_committed_value(order, "state", O.delivered)
        set_committed_value(order, "updated_at", now)
    audit.record_many(CustomerOrder.__tablename__, f"{CustomerOrder.__tablename__}.delivered",
                      [(o.id, o.number, {"state": [old.value, O.delivered.value]})
                       for o, old in zip(orders, olds, strict=True)], actor=actor)
    order_events.emit_orders("order.delivered", zip(orders, olds, strict=True))
    return orders


def short_picked(order: CustomerOrder, shortages: Mapping[CustomerOrderLine, int], *, actor,
                 wave: str | None = None) -> CustomerOrder:
    """Take units not found at picking off the lines' allocation; back to allocation.

    The caller releases the reservations of those units.
    """
    for line, qty in shortages.items():
        if qty <= 0 or qty > line.allocated_qty:
            raise ValueError(f"short quantity {qty} of line {line.id} is outside 1.."
                             f"{line.allocated_qty}")
        line.allocated_qty -= qty
    changes = {"short": {str(line.id): qty for line, qty in shortages.items()}}
    if wave:
        changes["wave"] = wave
    return _move([order], O.backordered, actor=actor, changes=changes)[0]
