"""Allocation of customer orders: reserve stock, backorder, hold, release, cancel, edit address.

Stock is reserved through the warehouse's ledger services with the opaque reference
``ref_type="customer_order_line", ref_id=<line id>``; this module never writes stock levels itself.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.states import InvalidTransition, transition
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, OrderState
from erp.orders.services.intake import NO_POSTAL_CODE_COUNTRIES
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import allocatable_bins_query
from erp.warehouse.services import (
    ReserveSpec,
    drop_reservations,
    lock_levels,
    reserve_many,
)

O = OrderState  # noqa: E741 - the models' alias
LINE_REF = "customer_order_line"
#: the shipping-address fields an edit may change
ADDRESS_FIELDS = ("ship_name", "address1", "address2", "city", "region", "postal_code",
                  "country", "phone")
_REQUIRED_ADDRESS = {"ship_name", "address1", "city", "country"}
_MAX_LENGTHS = {name: getattr(CustomerOrder, name).type.length for name in ADDRESS_FIELDS}


class OrderError(DomainError):
    """An order rule was broken (e.g. editing the address of a packed order)."""


@dataclass
class AllocationSummary:
    """What a batch allocation did: order numbers by outcome, and failures with their reason."""

    allocated: list[str] = field(default_factory=list)
    backordered: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def considered(self) -> int:
        """Return how many orders the batch looked at."""
        return len(self.allocated) + len(self.backordered) + len(self.failed)

    def __str__(self) -> str:
        return (f"{self.considered} order(s) considered: {len(self.allocated)} allocated, "
                f"{len(self.backordered)} backordered, {len(self.failed)} failed.")


def _lock_order(order: CustomerOrder) -> None:
    """Lock the order's row and reload it, so two allocations of one order queue."""
    db.session.flush()
    db.session.execute(select(CustomerOrder).where(CustomerOrder.id == order.id)
                       .with_for_update().execution_options(populate_existing=True))


def can_allocate(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`allocate_order` would accept the order's state."""
    return ORDER_STATES.in_group(order.state, "allocatable")


def allocate_order(order: CustomerOrder, *, actor) -> OrderState:
    """Reserve what each line still lacks, from storage bins in pick-sequence order.

    Fully reserved orders become allocated; otherwise backordered, keeping partial reservations
    (a backordered order on which nothing more could be reserved is left untouched).

    :returns: the order's new state.
    :raises InvalidTransition: if the order is not new or backordered.
    """
    _lock_order(order)
    if not can_allocate(order, actor):
        raise InvalidTransition(order, ORDER_STATES.enum(order.state), O.allocated, ORDER_STATES)
    _allocate_many([order], actor=actor)
    return order.state


def _stock_bins(sku_ids: list[int]
                ) -> tuple[dict[int, list[int]], dict[tuple[int, int], StockLevel]]:
    """Return the bins with stock available of each SKU, in pick-sequence order.

    Only allocatable bins (the warehouse's one definition, which the stock API reports too):
    active storage bins whose stock no open cycle count freezes. Their levels come back too,
    locked (and re-read) in the ledger's key order.
    """
    bins: dict[int, list[int]] = defaultdict(list)
    if not sku_ids:
        return bins, {}
    rows = db.session.execute(allocatable_bins_query(sku_ids)).all()
    for sku_id, location_id in rows:
        bins[sku_id].append(location_id)
    return bins, lock_levels((r.sku_id, r.location_id) for r in rows)


def _plan(order: CustomerOrder, bins: Mapping[int, list[int]],
          available: dict[tuple[int, int], int]) -> tuple[list[ReserveSpec], dict[str, int]]:
    """Decide what to reserve for each line's shortfall, taking it off ``available``.

    :returns: the reservations to make and ``{line id: units}`` reserved now.
    """
    specs: list[ReserveSpec] = []
    reserved_now: dict[str, int] = {}
    for line in order.lines:
        missing = line.quantity - line.allocated_qty
        for location_id in bins.get(line.sku_id, ()):
            if missing <= 0:
                break
            key = (line.sku_id, location_id)
            take = min(missing, available[key])
            if take <= 0:
                continue
            available[key] -= take
            missing -= take
            specs.append(ReserveSpec(line.sku_id, location_id, take, LINE_REF, line.id))
            reserved_now[str(line.id)] = reserved_now.get(str(line.id), 0) + take
    return specs, reserved_now


def _allocate_many(orders: list[CustomerOrder], *, actor) -> None:
    """Allocate orders the caller has locked and found allocatable, in the order given.

    One read and lock of the stock levels, one :func:`reserve_many` and bulk audit events for
    all of them: earlier orders take stock first, as if allocated one by one.

    :raises DomainError: if a reservation is refused; nothing of the batch is then kept by
        the caller's savepoint.
    """
    sku_ids = sorted({line.sku_id for order in orders for line in order.lines
                      if line.quantity > line.allocated_qty})
    bins, levels = _stock_bins(sku_ids)
    available = {key: level.on_hand - level.reserved for key, level in levels.items()}
    plans = []
    specs: list[ReserveSpec] = []
    for order in orders:
        order_specs, reserved_now = _plan(order, bins, available)
        specs.extend(order_specs)
        plans.append((order, reserved_now))
    reserve_many(specs, actor=actor)
    events: dict[OrderState, list] = defaultdict(list)
    for order, reserved_now in plans:
        for line in order.lines:
            line.allocated_qty += reserved_now.get(str(line.id), 0)
        complete = all(line.allocated_qty >= line.quantity for line in order.lines)
        target = O.allocated if complete else O.backordered
        current = ORDER_STATES.check(order, target)
        if target == current and not reserved_now:
            continue  # a backorder on which nothing more could be reserved: left untouched
        order.state = target
        changes = {"state": [current.value, target.value]}
        if reserved_now:
            changes["reserved"] = reserved_now
        events[target].append((order.id, order.number, changes))
    # the events transition() would write, one bulk insert per action
    for target, rows in events.items():
        audit.record_many(CustomerOrder.__tablename__, f"{CustomerOrder.__tablename__}."
                          f"{target.value}", rows, actor=actor)
    db.session.flush()


def allocate_orders(*, actor, limit: int | None = None) -> AllocationSummary:
    """Allocate new and backordered orders, highest priority first, then oldest first.

    Orders are allocated in chunks, each in one savepoint; when a chunk fails, it is redone
    one order per savepoint, so an order that fails is rolled back and reported, and the batch
    goes on. The caller commits once.
    """
    query = (select(CustomerOrder.id)
             .where(CustomerOrder.state.in_(sorted(ORDER_STATES.groups["allocatable"])))
             .order_by(CustomerOrder.priority.desc(), CustomerOrder.placed_at,
                       CustomerOrder.id))
    if limit is not None:
        query = query.limit(limit)
    ids = db.session.scalars(query).all()
    summary = AllocationSummary()
    chunk = 500
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        # Locked in id order (as single allocations lock one row), then re-read: an order
        # another transaction allocated meanwhile is skipped by the state check below.
        locked = select(CustomerOrder).where(CustomerOrder.id.in_(part)) \
            .order_by(CustomerOrder.id).with_for_update() \
            .options(selectinload(CustomerOrder.lines)) \
            .execution_options(populate_existing=True)
        orders = {o.id: o for o in db.session.scalars(locked)}
        todo = [orders[i] for i in part if can_allocate(orders[i], actor)]
        try:
            with db.session.begin_nested():
                _allocate_many(todo, actor=actor)
        except DomainError:
            # Re-read what the rolled-back savepoint left stale, then one order at a time.
            orders = {o.id: o for o in db.session.scalars(locked)}
            todo = [orders[i] for i in part if can_allocate(orders[i], actor)]
            for order in todo:
                number = order.number
                try:
                    with db.session.begin_nested():
                        _allocate_many([order], actor=actor)
                except DomainError as err:
                    summary.failed.append((number, str(err)))
                    continue
                _count(summary, order)
            continue
        for order in todo:
            _count(summary, order)
    return summary


def _count(summary: AllocationSummary, order: CustomerOrder) -> None:
    (summary.allocated if order.state == O.allocated else summary.backordered).append(
        order.number)


def _release_lines(order: CustomerOrder, *, actor) -> int:
    """Drop every reservation of the order's lines and zero their allocated quantities."""
    freed = drop_reservations(LINE_REF, [line.id for line in order.lines], actor=actor)
    for line in order.lines:
        line.allocated_qty = 0
    return freed


def _reason(reason: str | None, action: str, order: CustomerOrder) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError(f'To {action} order "{order.number}", you must give a reason.',
                              field="reason")
    if len(text) > 200:
        raise ValidationError(f'To {action} order "{order.number}", you must give a reason of '
                              "at most 200 characters.", field="reason")
    return text


def can_hold(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`hold_order` would accept the order's state."""
    return ORDER_STATES.can(order.state, O.on_hold)


def hold_order(order: CustomerOrder, *, reason: str, actor) -> CustomerOrder:
    """Put an order on hold, releasing its reservations.

    :raises InvalidTransition: if the order is shipped, delivered, cancelled or already held.
    :raises ValidationError: without a reason.
    """
    reason = _reason(reason, "hold", order)
    _lock_order(order)
    ORDER_STATES.check(order, O.on_hold)
    freed = _release_lines(order, actor=actor)
    order.hold_reason = reason
    transition(order, O.on_hold, machine=ORDER_STATES, actor=actor, note=reason,
               changes={"released": freed})
    db.session.flush()
    return order


def can_release(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`release_order` would accept the order's state."""
    return ORDER_STATES.can(order.state, O.new)


def release_order(order: CustomerOrder, *, actor) -> OrderState:
    """Take an order off hold (back to new) and allocate it; return its new state.

    :raises InvalidTransition: if the order is not on hold.
    """
    _lock_order(order)
    transition(order, O.new, machine=ORDER_STATES, actor=actor,
               changes={"hold_reason": [order.hold_reason, None]})
    order.hold_reason = None
    return allocate_order(order, actor=actor)


def can_cancel(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`cancel_order` would accept the order's state."""
    return ORDER_STATES.can(order.state, O.cancelled)


def cancel_order(order: CustomerOrder, *, reason: str, actor) -> CustomerOrder:
    """Cancel an order before shipping, releasing its reservations.

    :raises InvalidTransition: if the order is shipped, delivered or already cancelled.
    :raises ValidationError: without a reason.
    """
    reason = _reason(reason, "cancel", order)
    _lock_order(order)
    ORDER_STATES.check(order, O.cancelled)
    freed = _release_lines(order, actor=actor)
    order.cancel_reason = reason
    transition(order, O.cancelled, machine=ORDER_STATES, actor=actor, note=reason,
               changes={"released": freed})
    db.session.flush()
    return order


def can_edit_address(order: CustomerOrder, actor=None) -> bool:
    """Return whether the order's shipping address may still be edited."""
    return ORDER_STATES.in_group(order.state, "address_editable")


def _clean_address(order: CustomerOrder, fields: Mapping[str, object]) -> dict[str, str | None]:
    unknown = sorted(set(fields) - set(ADDRESS_FIELDS))
    if unknown:
        raise ValidationError(f'To edit the address of order "{order.number}", you must only '
                              f"give address fields, not {', '.join(unknown)}.", field=unknown[0])
    values: dict[str, str | None] = {}
    for name, raw in fields.items():
        text = str(raw).strip() if raw is not None else ""
        if not text:
            if name in _REQUIRED_ADDRESS:
                raise ValidationError(f'To edit the address of order "{order.number}", you must '
                                      f"fill in {name.replace('_', ' ')}.", field=name)
            values[name] = None
            continue
        if name != "country" and len(text) > _MAX_LENGTHS[name]:
            raise ValidationError(f'To edit the address of order "{order.number}", you must keep '
                                  f"{name.replace('_', ' ')} to {_MAX_LENGTHS[name]} characters.",
                                  field=name)
        values[name] = text
    if values.get("country"):
        try:
            values["country"] = normalize_country(values["country"])
        except ValueError:
            raise ValidationError(f'To edit the address of order "{order.number}", you must give '
                                  f'an ISO 3166-1 country, not "{fields["country"]}".',
                                  field="country") from None
    if values.get("postal_code"):
        values["postal_code"] = values["postal_code"].upper()
    # the intake's rule, checked on the address as it will be after the edit
    country = values.get("country", order.country)
    postal_code = values["postal_code"] if "postal_code" in values else order.postal_code
    if not postal_code and country not in NO_POSTAL_CODE_COUNTRIES:
        raise ValidationError(f'To edit the address of order "{order.number}", you must give a '
                              f"postal code: addresses in {country} need one.",
                              field="postal_code")
    return values


def update_shipping_address(order: CustomerOrder, fields: Mapping[str, object], *,
                            actor) -> dict[str, list]:
    """Change shipping-address fields of an order not yet packed; return ``{field: [old, new]}``.

    :raises OrderError: if the order is packed, shipped, delivered or cancelled.
    :raises ValidationError: for an unknown, missing, over-long field or a bad country.
    """
    if not can_edit_address(order, actor):
        raise OrderError(
            f'To edit the shipping address of order "{order.number}", it must not be packed, '
            f'shipped or cancelled yet; it is "{ORDER_STATES.label(order.state)}".')
    values = _clean_address(order, fields)
    changes = audit.diff(order, values)
    if not changes:
        return {}
    for name, (_old, new) in changes.items():
        setattr(order, name, new)
    audit.record(order, "customer_order.address_changed", actor=actor, changes=changes)
    db.session.flush()
    return changes


__all__ = [
    "LINE_REF", "AllocationSummary", "OrderError", "allocate_order",
    "allocate_orders", "can_allocate", "can_cancel", "can_edit_address", "can_hold",
    "can_release", "cancel_order", "hold_order", "release_order", "update_shipping_address",
]
