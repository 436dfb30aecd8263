"""Splitting an order: some of its units move to a new order that ships on its own.

A split order keeps its number; each part split off is numbered after the storefront's order
(``W1001-2``, ``W1001-3``) and points back to it (``split_from``), with the same buyer, address,
currency and requested service, and no shipping charge of its own. Only an order with nothing
picked yet can be split (new, allocated or backordered). An allocated or backordered order's
reservations are released and both orders are allocated again at once, the original first, in
the same transaction: the stock it held goes back to it.

A made-to-order line stays on its order (its production order is for that line) and keeps the
goods received for it reserved; an order exported under 9610 is not split (customs matches it
with its one payment and waybill; several parcels of one order are declared together).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from sqlalchemy import func, select

from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.states import InvalidTransition, transition
from erp.extensions import db
from erp.orders import hooks
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services import allocation

O = OrderState  # noqa: E741 - the models' alias
#: the trade mode of China's cross-border retail export (one order, one payment, one waybill)
TRADE_MODE_9610 = "9610"

#: the order's own columns a part split off does not copy
_NOT_COPIED = {"id", "number", "state", "created_at", "updated_at", "hold_reason",
               "cancel_reason", "shipping_charge", "split_from_id", "warehouse_id",
               "merged_into_id"}


def can_split(order: CustomerOrder, actor=None) -> bool:
    """Return whether the order's state allows a split (nothing picked yet)."""
    return ORDER_STATES.in_group(order.state, "splittable")


def _clean_moves(order: CustomerOrder, moves: Mapping[int, object]) -> dict[int, int]:
    if order.trade_mode == TRADE_MODE_9610:
        raise ValidationError(_("Order %(order)s is exported under 9610: customs matches it with "
                                "its one payment and waybill, so it cannot be split. Pack it "
                                "in several parcels instead.", order=order.number),
                              field="lines")
    lines = {line.id: line for line in order.lines}
    made_to_order = allocation._made_to_order_lines(order)
    cleaned: dict[int, int] = {}
    for line_id, raw in moves.items():
        line = lines.get(int(line_id))
        if line is None:
            raise ValidationError(_("Line %(line)s is not a line of order %(order)s.",
                                    line=line_id, order=order.number), field="lines")
        try:
            quantity = int(str(raw).strip() or 0)
        except ValueError:
            quantity = -1
        if quantity < 0 or quantity > line.quantity:
            raise ValidationError(_("%(sku)s: move a whole number of units from 0 to "
                                    "%(most)s, not %(value)s.", sku=line.sku.code,
                                    most=line.quantity, value=raw), field=f"line_{line.id}")
        if quantity and line.id in made_to_order:
            raise ValidationError(_("%(sku)s is made to order: its production order is for "
                                    "this line of order %(order)s, so it stays on the order.",
                                    sku=line.sku.code, order=order.number),
                                  field=f"line_{line.id}")
        if quantity:
            cleaned[line.id] = quantity
    if not cleaned:
        raise ValidationError(_("Choose at least one unit to move to the new order."),
                              field="lines")
    if sum(cleaned.values()) == sum(line.quantity for line in order.lines):
        raise ValidationError(_("Leave at least one unit on order %(order)s: moving every "
                                "unit is not a split.", order=order.number), field="lines")
    return cleaned


def _reload_lines(order: CustomerOrder) -> None:
    """Read the order's lines again after its lock: a split just before may have moved some.

    :func:`lock` refreshes the order's columns only; lines loaded before it would still show
    the quantities of before the other split.
    """
    db.session.scalars(select(CustomerOrderLine).where(CustomerOrderLine.order_id == order.id)
                       .execution_options(populate_existing=True)).all()
    db.session.expire(order, ["lines"])


def _next_number(root: CustomerOrder) -> str:
    parts = db.session.scalar(select(func.count()).select_from(CustomerOrder)
                              .where(CustomerOrder.split_from_id == root.id)) or 0
    number = f"{root.number}-{parts + 2}"
    while db.session.scalar(select(CustomerOrder.id).where(CustomerOrder.number == number)):
        parts += 1
        number = f"{root.number}-{parts + 2}"
    return number


def split_order(order: CustomerOrder, moves: Mapping[int, object], *, actor,
                reason: str = "", service: str | None = None) -> CustomerOrder:
    """Move ``{line id: units}`` of ``order`` to a new order and return the new order.

    A whole line moves as it is; part of a line moves as a new line of the same SKU and unit
    price. Both orders are audited (``customer_order.split`` on the original, listing what
    moved, and ``customer_order.split_off`` on the new one). ``service`` is the shipping
    service of the new part when it ships another way than the original (checked as intake
    checks an order: it must serve the country and carry the goods).

    :raises InvalidTransition: if something of the order was picked already, or it is on hold,
        shipped or cancelled.
    :raises ValidationError: naming the line, for a quantity below 0 or above the line's, a line
        of another order, nothing to move, or everything; or the service refused for the part.
    """
    lock(order)
    _reload_lines(order)
    service = (service or "").strip().upper() or None
    if not can_split(order, actor):
        raise InvalidTransition(order, ORDER_STATES.enum(order.state), O.new, ORDER_STATES)
    moves = _clean_moves(order, moves)
    was_allocated = ORDER_STATES.enum(order.state) in (O.allocated, O.backordered)
    if was_allocated:
        freed = allocation._release_lines(order, actor=actor, keep_made_to_order=True)
        transition(order, O.new, machine=ORDER_STATES, actor=actor,
                   note=_("Split: allocated again"), changes={"released": freed})
    root = order.split_from or order
    values = {c.key: getattr(order, c.key) for c in CustomerOrder.__table__.columns
              if c.key not in _NOT_COPIED}
    if service and service != (order.shipping_service or "").upper():
        values["shipping_service"] = service
    else:
        service = None
    part = CustomerOrder(number=_next_number(root), state=O.new, split_from_id=root.id,
                         shipping_charge=Decimal(0), **values)
    db.session.add(part)
    moved: dict[str, int] = {}
    # no autoflush: a whole line leaving ``order.lines`` is an orphan until the part takes it,
    # and a flush in between (loading the line's order for the move) would delete it
    with db.session.no_autoflush:
        for line in list(order.lines):
            quantity = moves.get(line.id)
            if not quantity:
                continue
            moved[line.sku.code] = moved.get(line.sku.code, 0) + quantity
            if quantity == line.quantity:
                order.lines.remove(line)
                part.lines.append(line)
            else:
                line.quantity -= quantity
                part.lines.append(CustomerOrderLine(sku_id=line.sku_id, sku=line.sku,
                                                    quantity=quantity,
                                                    unit_price=line.unit_price))
    db.session.flush()
    if service:
        _check_service(part)
    note = (reason or "").strip()[:200] or None
    audit.record(order, "customer_order.split", actor=actor,
                 changes={"split_off": part.number, "moved": moved, "reason": note})
    changes = {"split_from": order.number, "moved": moved, "reason": note}
    if service:
        changes["shipping_service"] = [order.shipping_service, service]
    audit.record(part, "customer_order.split_off", actor=actor, changes=changes)
    if was_allocated:
        # the original first: it takes back the stock it held
        allocation._allocate_many([order, part], actor=actor)
    db.session.flush()
    return part


def _check_service(part: CustomerOrder) -> None:
    """Refuse a service that cannot carry the part, as intake refuses one (shipping says why).

    :raises ValidationError: with the first reason, on the ``service`` field.
    """
    draft = hooks.IntakeOrder(
        number=part.number, country=part.country, shipping_service=part.shipping_service,
        phone=part.phone, lines=tuple(hooks.IntakeLine(
            sku_code=line.sku.code, quantity=line.quantity, weight_g=int(line.sku.weight_g or 0),
            length_mm=int(line.sku.length_mm or 0), width_mm=int(line.sku.width_mm or 0),
            height_mm=int(line.sku.height_mm or 0)) for line in part.lines))
    problems = hooks.intake_problems([draft]).get(0)
    if problems:
        raise ValidationError(next(iter(problems.values())), field="service")


def availability_moves(order: CustomerOrder) -> dict[int, int]:
    """Return ``{line id: units}`` not reserved: what a split by availability moves off.

    The reserved units stay on the order, which ships them now; the rest waits in the part.

    :raises ValidationError: when every unit is reserved, or none is (nothing to split).
    """
    moves = {line.id: line.quantity - line.allocated_qty for line in order.lines
             if line.quantity > line.allocated_qty}
    if not moves:
        raise ValidationError(_("Every unit of order %(order)s is reserved: there is nothing "
                                "to split off by availability.", order=order.number),
                              field="lines")
    if not any(line.allocated_qty for line in order.lines):
        raise ValidationError(_("No unit of order %(order)s is reserved: a split by "
                                "availability needs some units in stock to ship now.",
                                order=order.number), field="lines")
    return moves


def split_by_availability(order: CustomerOrder, *, actor, reason: str = "") -> CustomerOrder:
    """Split off the units of ``order`` that are not reserved into a part that waits for them.

    :raises InvalidTransition: as :func:`split_order`.
    :raises ValidationError: as :func:`availability_moves`.
    """
    lock(order)
    _reload_lines(order)
    if not can_split(order, actor):
        raise InvalidTransition(order, ORDER_STATES.enum(order.state), O.new, ORDER_STATES)
    return split_order(order, availability_moves(order), actor=actor,
                       reason=reason or _("Split by availability"))


def order_parts(order: CustomerOrder) -> list[CustomerOrder]:
    """Return the storefront's order and every part split from it, in number order."""
    root = order.split_from or order
    return [root, *db.session.scalars(select(CustomerOrder).where(
        CustomerOrder.split_from_id == root.id).order_by(CustomerOrder.id))]
