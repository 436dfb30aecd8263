"""Allocation of customer orders: reserve stock, backorder, hold, release, cancel, edit address.

Stock is reserved through the warehouse's ledger services with the opaque reference
``ref_type="customer_order_line", ref_id=<line id>``; this module never writes stock levels itself.

Each operation locks the order's row first (:func:`erp.core.locking.lock`) and reads its state
and lines after the lock. What packages above orders hold for the order (parcels, goods at the
packing bench) is handled by their receivers of the signals in :mod:`erp.orders.hooks`: a
cancel is refused when a parcel already left, and voids the others; an address change voids
printed labels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from erp.catalog.models import Product, Sku
from erp.core import audit, settings
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, ngettext
from erp.core.locking import lock
from erp.core.settings import SettingDef, _choice, declare
from erp.core.states import InvalidTransition, transition
from erp.extensions import db
from erp.orders import events as order_events
from erp.orders import hooks
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services.intake import NO_POSTAL_CODE_COUNTRIES
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import allocatable_bins_query
from erp.warehouse.services import (
    ReserveSpec,
    lock_levels,
    release,
    reservations_for,
    reserve_many,
)
from erp.warehouse.services.routes import RouteTable, route_table

O = OrderState  # noqa: E741 - the models' alias
LINE_REF = "customer_order_line"
#: the shipping-address fields an edit may change
ADDRESS_FIELDS = ("ship_name", "address1", "address2", "city", "region", "postal_code",
                  "country", "phone")
_REQUIRED_ADDRESS = {"ship_name", "address1", "city", "country"}
_MAX_LENGTHS = {name: getattr(CustomerOrder, name).type.length for name in ADDRESS_FIELDS}


class OrderError(DomainError):
    """An order rule was broken (e.g. editing the address of a shipped order)."""


class CancelAfterShipping(InvalidTransition):
    """A shipped or delivered order cannot be cancelled: after-sales takes it from there."""

    def __init__(self, order: CustomerOrder):
        super().__init__(order, ORDER_STATES.enum(order.state), O.cancelled, ORDER_STATES)
        self.message = _(
            'To cancel order "%(number)s", it must not have left the warehouse; it is '
            '"%(state)s". Open an after-sales case for it instead (a return, refund or '
            "replacement).", number=order.number, state=ORDER_STATES.label(order.state))
        self.args = (self.message,)


class AddressChanges(dict):
    """``{field: [old, new]}`` of an address edit, with ``notices`` for the user.

    The notices come from the packages above orders (e.g. "the label of parcel ... is void:
    print a new one").
    """

    def __init__(self, changes=(), notices=()):
        super().__init__(changes)
        self.notices: list[str] = list(notices)


@dataclass
class AllocationSummary:
    """What a batch allocation did: order numbers by outcome, and failures with their reason.

    ``skipped`` are the orders another person or process changed between the start of the run
    and their batch (allocated, held or cancelled meanwhile): left as they are.
    """

    allocated: list[str] = field(default_factory=list)
    backordered: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def considered(self) -> int:
        """Return how many orders the batch looked at."""
        return len(self.allocated) + len(self.backordered) + len(self.failed) + \
            len(self.skipped)

    def add(self, other: AllocationSummary) -> None:
        """Add the outcome of another batch of the same run."""
        self.allocated.extend(other.allocated)
        self.backordered.extend(other.backordered)
        self.failed.extend(other.failed)
        self.skipped.extend(other.skipped)

    def __str__(self) -> str:
        text = (f"{self.considered} order(s) considered: {len(self.allocated)} allocated, "
                f"{len(self.backordered)} backordered, {len(self.failed)} failed")
        return text + (f", {len(self.skipped)} changed meanwhile." if self.skipped else ".")

    def sentence(self) -> str:
        """Return what the batch did, in the reader's language (``str()`` is for logs)."""
        return ngettext("%(num)d order considered: %(allocated)d allocated, %(backordered)d "
                        "backordered, %(failed)d failed.",
                        "%(num)d orders considered: %(allocated)d allocated, %(backordered)d "
                        "backordered, %(failed)d failed.", self.considered,
                        allocated=len(self.allocated), backordered=len(self.backordered),
                        failed=len(self.failed))


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
    lock(order)
    if not can_allocate(order, actor):
        raise InvalidTransition(order, ORDER_STATES.enum(order.state), O.allocated, ORDER_STATES)
    _allocate_many([order], actor=actor)
    return order.state


@dataclass
class _Stock:
    """What a batch may reserve, as the plans take it.

    Bins by SKU in walking order, each bin's warehouse, availability by level and by SKU and
    warehouse (kept equal to the sum of its bins').
    """

    bins: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    home: dict[int, int] = field(default_factory=dict)
    levels: dict[tuple[int, int], StockLevel] = field(default_factory=dict)
    available: dict[tuple[int, int], int] = field(default_factory=dict)
    by_warehouse: dict[tuple[int, int], int] = field(default_factory=lambda: defaultdict(int))


def _stock_bins(sku_ids: list[int]) -> _Stock:
    """Return the bins with stock available of each SKU, in pick-sequence order.

    Only allocatable bins (the warehouse's one definition, which the stock API reports too):
    active storage bins whose stock no open cycle count freezes. Their levels come back too,
    locked (and re-read) in the ledger's key order, with what is available of each SKU in each
    warehouse.
    """
    stock = _Stock()
    if not sku_ids:
        return stock
    rows = db.session.execute(allocatable_bins_query(sku_ids)).all()
    for sku_id, location_id, warehouse_id in rows:
        stock.bins[sku_id].append(location_id)
        stock.home[location_id] = warehouse_id
    stock.levels = lock_levels((r.sku_id, r.location_id) for r in rows)
    for key, level in stock.levels.items():
        free = level.on_hand - level.reserved
        stock.available[key] = free
        stock.by_warehouse[(key[0], stock.home[key[1]])] += free
    return stock


def _made_to_order(sku_ids: list[int]) -> list[int]:
    """Return the SKUs of ``sku_ids`` whose product is made to order."""
    if not sku_ids:
        return []
    return list(db.session.scalars(select(Sku.id).join(Product, Sku.product_id == Product.id)
                                   .where(Sku.id.in_(sku_ids), Product.made_to_order.is_(True))))


def _not_made_to_order(sku_ids: list[int]) -> list[int]:
    """Return the SKUs of ``sku_ids`` whose product is not made to order."""
    made = set(_made_to_order(sku_ids))
    return [sku_id for sku_id in sku_ids if sku_id not in made]


def _missing(order: CustomerOrder) -> dict[int, int]:
    """Return ``{sku id: units}`` the order still lacks."""
    needs: dict[int, int] = defaultdict(int)
    for line in order.lines:
        if line.quantity > line.allocated_qty:
            needs[line.sku_id] += line.quantity - line.allocated_qty
    return needs


def _fills(stock: _Stock, needs: Mapping[int, int], warehouse_id: int) -> bool:
    return all(stock.by_warehouse.get((sku_id, warehouse_id), 0) >= units
               for sku_id, units in needs.items())


def _coverage(stock: _Stock, needs: Mapping[int, int], warehouse_id: int) -> int:
    return sum(min(units, stock.by_warehouse.get((sku_id, warehouse_id), 0))
               for sku_id, units in needs.items())


def _split_plan(order: CustomerOrder, stock: _Stock, candidates: tuple[int, ...]
                ) -> list[tuple[int, dict[int, int]]] | None:
    """Return ``[(warehouse id, {line id: units})]`` filling the order from several warehouses.

    First choice first; None when together they cannot fill it (or one could alone).
    """
    missing = {line.id: line.quantity - line.allocated_qty for line in order.lines
               if line.quantity > line.allocated_qty}
    groups: list[tuple[int, dict[int, int]]] = []
    for warehouse_id in candidates:
        free: dict[int, int] = {}
        group: dict[int, int] = {}
        for line in order.lines:
            units = missing.get(line.id, 0)
            if units <= 0:
                continue
            have = free.setdefault(line.sku_id,
                                   stock.by_warehouse.get((line.sku_id, warehouse_id), 0))
            take = min(units, have)
            if take > 0:
                group[line.id] = take
                free[line.sku_id] -= take
                missing[line.id] -= take
        if group:
            groups.append((warehouse_id, group))
    if any(units > 0 for units in missing.values()) or len(groups) < 2:
        return None
    return groups


def _choose(order: CustomerOrder, stock: _Stock, routes: RouteTable
            ) -> tuple[int | None, tuple[int, ...]]:
    """Return the warehouse to reserve the order in (None: nothing can be) and the candidates.

    An order holding reservations stays in its warehouse. Otherwise the first candidate (the
    route's warehouses, or every warehouse) that fills the whole order; failing that, the one
    that fills most of it (first choice on a tie), where the order waits as a backorder.
    """
    needs = _missing(order)
    if not needs:
        return order.warehouse_id, ()
    if order.warehouse_id is not None and any(line.allocated_qty for line in order.lines):
        return order.warehouse_id, (order.warehouse_id,)
    candidates = routes.warehouses_for(order.country, order.region, order.postal_code)
    for warehouse_id in candidates:
        if _fills(stock, needs, warehouse_id):
            return warehouse_id, candidates
    best, best_units = None, 0
    for warehouse_id in candidates:
        units = _coverage(stock, needs, warehouse_id)
        if units > best_units:
            best, best_units = warehouse_id, units
    return best, candidates


def _plan(order: CustomerOrder, stock: _Stock, warehouse_id: int | None,
          lines: Mapping[int, int] | None = None
          ) -> tuple[list[ReserveSpec], dict[str, int]]:
    """Decide what to reserve for each line's shortfall in one warehouse's bins.

    What is planned is taken off the stock's availability.
    ``lines`` (``{line id: units}``) plans those units only (a part of a split-to-be).

    :returns: the reservations to make and ``{line id: units}`` reserved now.
    """
    specs: list[ReserveSpec] = []
    reserved_now: dict[str, int] = {}
    if warehouse_id is None:
        return specs, reserved_now
    available, home = stock.available, stock.home
    for line in order.lines:
        missing = (line.quantity - line.allocated_qty if lines is None
                   else lines.get(line.id, 0))
        for location_id in stock.bins.get(line.sku_id, ()):
            if missing <= 0:
                break
            if home[location_id] != warehouse_id:
                continue
            key = (line.sku_id, location_id)
            take = min(missing, available[key])
            if take <= 0:
                continue
            available[key] -= take
            stock.by_warehouse[(line.sku_id, warehouse_id)] -= take
            missing -= take
            specs.append(ReserveSpec(line.sku_id, location_id, take, LINE_REF, line.id))
            reserved_now[str(line.id)] = reserved_now.get(str(line.id), 0) + take
    return specs, reserved_now


_SET_ALLOCATED = (update(CustomerOrderLine.__table__)
                  .where(CustomerOrderLine.__table__.c.id == bindparam("key_id"))
                  .values(allocated_qty=bindparam("new_allocated")))
_SET_STATE = (update(CustomerOrder.__table__)
              .where(CustomerOrder.__table__.c.id == bindparam("key_id"))
              .values(state=bindparam("new_state")))
_SET_WAREHOUSE = (update(CustomerOrder.__table__)
                  .where(CustomerOrder.__table__.c.id == bindparam("key_id"))
                  .values(warehouse_id=bindparam("new_warehouse")))
#: set while orders are allocated again after a split, so they are not split again
_SPLITTING: ContextVar[bool] = ContextVar("allocation_splitting", default=False)

declare(SettingDef(
    "split_across_warehouses", _l("Split orders across warehouses"), _choice("no", "yes"), "no",
    _l("yes: an order no single warehouse can fill is split into one order per warehouse "
       "(W1001-2, ...), each shipped on its own. no: it waits as a backorder in one "
       "warehouse.")))


def split_enabled() -> bool:
    """Return whether allocation may split an order across warehouses (the setting)."""
    return settings.get("split_across_warehouses") == "yes"


def _allocate_many(orders: list[CustomerOrder], *, actor) -> None:
    """Allocate orders the caller has locked and found allocatable, in the order given.

    One read and lock of the stock levels, one :func:`reserve_many` and bulk audit events for
    all of them: earlier orders take stock first, as if allocated one by one.

    :raises DomainError: if a reservation is refused; nothing of the batch is then kept by
        the caller's savepoint.
    """
    db.session.flush()  # what the caller changed is written first, as lock() does
    sku_ids = sorted({line.sku_id for order in orders for line in order.lines
                      if line.quantity > line.allocated_qty})
    # a made-to-order line is never filled from free stock: only its production receipt
    # reserves goods for it (erp.production.services.receiving)
    stock = _stock_bins(_not_made_to_order(sku_ids))
    levels = stock.levels
    routes = route_table()
    may_split = not _SPLITTING.get() and split_enabled()
    plans = []
    specs: list[ReserveSpec] = []
    to_split: list[tuple[CustomerOrder, list[tuple[int, dict[int, int]]]]] = []
    warehouse_rows: list[dict] = []
    for order in orders:
        warehouse_id, candidates = _choose(order, stock, routes)
        if may_split and len(candidates) > 1 and not any(
                line.allocated_qty for line in order.lines) and (
                warehouse_id is None or not _fills(stock, _missing(order), warehouse_id)):
            groups = _split_plan(order, stock, candidates)
            if groups is not None:
                # the stock is kept for the parts, allocated once the batch is done
                for group_warehouse, group in groups:
                    _plan(order, stock, group_warehouse, group)
                to_split.append((order, groups))
                continue
        order_specs, reserved_now = _plan(order, stock, warehouse_id)
        specs.extend(order_specs)
        plans.append((order, reserved_now))
        if reserved_now and order.warehouse_id != warehouse_id:
            warehouse_rows.append({"key_id": order.id, "new_warehouse": warehouse_id})
            set_committed_value(order, "warehouse_id", warehouse_id)
    # the levels planned on are the ones locked above, in this transaction: not locked again
    reserve_many(specs, actor=actor, locked=levels)
    events: dict[OrderState, list] = defaultdict(list)
    moved: list[tuple[CustomerOrder, OrderState]] = []
    line_rows: list[dict] = []
    order_rows: list[dict] = []
    for order, reserved_now in plans:
        quantities = {line.id: line.allocated_qty + reserved_now.get(str(line.id), 0)
                      for line in order.lines}
        complete = all(quantities[line.id] >= line.quantity for line in order.lines)
        target = O.allocated if complete else O.backordered
        current = ORDER_STATES.check(order, target)
        if target == current and not reserved_now:
            continue  # a backorder on which nothing more could be reserved: left untouched
        for line in order.lines:
            if quantities[line.id] != line.allocated_qty:
                line_rows.append({"key_id": line.id, "new_allocated": quantities[line.id]})
                set_committed_value(line, "allocated_qty", quantities[line.id])
        if target != current:
            order_rows.append({"key_id": order.id, "new_state": target})
        set_committed_value(order, "state", target)
        moved.append((order, current))
        changes = {"state": [current.value, target.value]}
        if reserved_now:
            changes["reserved"] = reserved_now
        events[target].append((order.id, order.number, changes))
    # Core executemany rather than the unit of work: on a batch of 500 orders the flush
    # machinery cost more than the SQL (allocate_all benchmark); the objects show the rows.
    if line_rows:
        db.session.execute(_SET_ALLOCATED, line_rows)
    if order_rows:
        db.session.execute(_SET_STATE, order_rows)
    if warehouse_rows:
        db.session.execute(_SET_WAREHOUSE, warehouse_rows)
    # the events transition() would write, one bulk insert per action
    for target, rows in events.items():
        audit.record_many(CustomerOrder.__tablename__, f"{CustomerOrder.__tablename__}."
                          f"{target.value}", rows, actor=actor)
    allocated = [order for order, old in moved if order.state == O.allocated]
    if allocated:
        for receiver in hooks.orders_allocated:
            receiver(allocated, actor=actor)
    # ... and the outbox events its listener would
    by_type: dict[str, list] = defaultdict(list)
    for order, old in moved:
        type_ = order_events.event_for(old, order.state)
        if type_ is not None:
            by_type[type_].append((order, old))
    for type_, changes in by_type.items():
        order_events.emit_orders(type_, changes)
    for order, groups in to_split:
        _split_across(order, groups, actor=actor)


def _split_across(order: CustomerOrder, groups: list[tuple[int, dict[int, int]]], *,
                  actor) -> None:
    """Split an order into one order per warehouse of ``groups`` and allocate each there.

    The order keeps the first warehouse's units; each other warehouse's go to a new part.
    """
    from erp.orders.services.splitting import split_order  # splitting imports this module

    if ORDER_STATES.enum(order.state) != O.new:
        # a backorder holding nothing: split as new, so the parts are allocated once, together
        transition(order, O.new, machine=ORDER_STATES, actor=actor,
                   note=_("Split across warehouses"))
    parts = [split_order(order, group, actor=actor, reason=_("Split across warehouses"))
             for _warehouse, group in groups[1:]]
    token = _SPLITTING.set(True)
    try:
        _allocate_many([order, *parts], actor=actor)
    finally:
        _SPLITTING.reset(token)


#: orders locked and allocated together (one savepoint, one reserve_many)
BATCH_SIZE = 500


def allocation_queue(*, limit: int | None = None) -> list[int]:
    """Return the ids of the orders to allocate, at most ``limit``.

    New and backordered orders, highest priority first, then oldest first.
    """
    query = (select(CustomerOrder.id)
             .where(CustomerOrder.state.in_(sorted(ORDER_STATES.groups["allocatable"])))
             .order_by(CustomerOrder.priority.desc(), CustomerOrder.placed_at,
                       CustomerOrder.id))
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def allocate_batch(ids: list[int], *, actor) -> AllocationSummary:
    """Allocate the orders ``ids`` (a part of :func:`allocation_queue`), in that order.

    The orders are locked in id order (as single allocations lock one row) and re-read; one
    another transaction allocated, held or cancelled meanwhile is skipped. They are allocated
    together in one savepoint; when that fails, one order per savepoint, so an order that
    fails is rolled back and reported, and the others go on. Flushes; the caller commits.
    """
    summary = AllocationSummary()
    locked = select(CustomerOrder).where(CustomerOrder.id.in_(ids)) \
        .order_by(CustomerOrder.id).with_for_update() \
        .options(selectinload(CustomerOrder.lines)) \
        .execution_options(populate_existing=True)

    def allocatable() -> list[CustomerOrder]:
        orders = {o.id: o for o in db.session.scalars(locked)}
        return [orders[i] for i in ids if i in orders and can_allocate(orders[i], actor)]

    todo = allocatable()
    if len(todo) < len(ids):
        kept = {o.id for o in todo}
        summary.skipped.extend(number for i, number in db.session.execute(
            select(CustomerOrder.id, CustomerOrder.number).where(
                CustomerOrder.id.in_([i for i in ids if i not in kept]))))
    try:
        with db.session.begin_nested():
            _allocate_many(todo, actor=actor)
    except DomainError:
        # Re-read what the rolled-back savepoint left stale, then one order at a time.
        for order in allocatable():
            number = order.number
            try:
                with db.session.begin_nested():
                    _allocate_many([order], actor=actor)
            except DomainError as err:
                summary.failed.append((number, str(err)))
                continue
            _count(summary, order)
        return summary
    for order in todo:
        _count(summary, order)
    return summary


def allocate_orders(*, actor, limit: int | None = None) -> AllocationSummary:
    """Allocate new and backordered orders, highest priority first, then oldest first.

    Orders are allocated in batches of :data:`BATCH_SIZE` (:func:`allocate_batch`); an order
    that fails is rolled back and reported, and the run goes on. The caller commits once; the
    background job (:mod:`erp.orders.jobs`) commits after each batch instead.
    """
    ids = allocation_queue(limit=limit)
    summary = AllocationSummary()
    for start in range(0, len(ids), BATCH_SIZE):
        summary.add(allocate_batch(ids[start:start + BATCH_SIZE], actor=actor))
    return summary


def _count(summary: AllocationSummary, order: CustomerOrder) -> None:
    (summary.allocated if order.state == O.allocated else summary.backordered).append(
        order.number)


def _made_to_order_lines(order: CustomerOrder) -> set[int]:
    """Return the ids of the order's lines whose product is made to order."""
    made = set(_made_to_order([line.sku_id for line in order.lines]))
    return {line.id for line in order.lines if line.sku_id in made}


def _release_lines(order: CustomerOrder, *, actor, keep_picked: bool = False,
                   keep_made_to_order: bool | None = None) -> int:
    """Drop every reservation of the order's lines; return the units freed.

    A line's ``allocated_qty`` counts its reserved units and the units already picked (they
    wait at the packing bench). With ``keep_picked`` (a hold) it goes down by what was
    released, so the picked units stay covered, and the lines of made-to-order products keep
    their reservations: those goods were made for this customer and only their production
    receipt reserves them, so allocation could never give them back after the hold. Otherwise
    (a cancel, whose goods go back to stock) every line becomes zero. ``keep_made_to_order``
    (default: as ``keep_picked``; a split passes True) keeps the made-to-order lines as they are.
    """
    lines = order.lines
    if keep_picked if keep_made_to_order is None else keep_made_to_order:
        made = _made_to_order_lines(order)
        lines = [line for line in lines if line.id not in made]
    held = reservations_for(LINE_REF, [line.id for line in lines])
    released: dict[int, int] = defaultdict(int)
    for reservation in held:
        released[reservation.ref_id] += reservation.quantity
    freed = release(held, actor=actor)
    for line in lines:
        line.allocated_qty = (max(line.allocated_qty - released[line.id], 0) if keep_picked
                              else 0)
    return freed


def _reason(reason: str | None, action: str, order: CustomerOrder) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError(
            _('To hold order "%(number)s", you must give a reason.', number=order.number)
            if action == "hold" else
            _('To cancel order "%(number)s", you must give a reason.', number=order.number),
            field="reason")
    if len(text) > 200:
        raise ValidationError(
            _('To hold order "%(number)s", you must give a reason of at most 200 characters.',
              number=order.number) if action == "hold" else
            _('To cancel order "%(number)s", you must give a reason of at most 200 characters.',
              number=order.number), field="reason")
    return text


def can_hold(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`hold_order` would accept the order's state."""
    return ORDER_STATES.can(order.state, O.on_hold)


def hold_order(order: CustomerOrder, *, reason: str, actor) -> CustomerOrder:
    """Put an order on hold, releasing its reservations.

    Picked goods stay at the bench, and the goods made to order for it stay reserved to their
    lines (only their production receipt could reserve them again).

    While it is held, shipping refuses to pack or label its parcels, to put them in a dispatch
    batch and to close a batch holding them, naming the hold.

    :raises InvalidTransition: if the order is shipped, delivered, cancelled or already held.
    :raises ValidationError: without a reason.
    """
    reason = _reason(reason, "hold", order)
    lock(order)
    ORDER_STATES.check(order, O.on_hold)
    freed = _release_lines(order, actor=actor, keep_picked=True)
    order.hold_reason = reason
    transition(order, O.on_hold, machine=ORDER_STATES, actor=actor, note=reason,
               changes={"released": freed})
    db.session.flush()
    return order


def can_release(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`release_order` would accept the order's state."""
    return ORDER_STATES.can(order.state, O.new)


def _release_target(order: CustomerOrder) -> OrderState:
    """Return where a held order goes back to, from what it holds now (not from its history).

    Nothing picked: back to new, to be allocated. Some units picked: backordered, so
    allocation reserves the rest. Every unit picked: back to the packing bench, or packed when
    shipping says every unit is in a parcel. A made-to-order line's units the hold kept
    reserved (in their bin) are not picked.
    """
    # the units still reserved in bins (a made-to-order line keeps its goods through a
    # hold, see _release_lines) are covered but not picked
    reserved: dict[int, int] = defaultdict(int)
    for reservation in reservations_for(LINE_REF, [line.id for line in order.lines]):
        reserved[reservation.ref_id] += reservation.quantity
    picked = {line.id: line.allocated_qty - reserved[line.id] for line in order.lines}
    if not any(picked.values()):
        return O.new
    if any(picked[line.id] < line.quantity for line in order.lines):
        return O.backordered
    states = hooks.send(hooks.order_fulfilment_state, order)
    return O.packed if O.packed.value in states else O.picking


def release_order(order: CustomerOrder, *, actor) -> OrderState:
    """Take an order off hold and return its new state.

    An order held before picking goes back to new and is allocated again. One whose goods
    were picked goes back to where they are (see :func:`_release_target`), and its parcels may
    be labelled and dispatched again.

    :raises InvalidTransition: if the order is not on hold.
    """
    lock(order)
    if ORDER_STATES.enum(order.state) != O.on_hold:
        raise InvalidTransition(order, ORDER_STATES.enum(order.state), O.new, ORDER_STATES)
    target = _release_target(order)
    transition(order, target, machine=ORDER_STATES, actor=actor,
               changes={"hold_reason": [order.hold_reason, None]})
    order.hold_reason = None
    if target in (O.new, O.backordered):
        return allocate_order(order, actor=actor)
    db.session.flush()
    return order.state


def can_cancel(order: CustomerOrder, actor=None) -> bool:
    """Return whether :func:`cancel_order` would accept the order's state."""
    return ORDER_STATES.can(order.state, O.cancelled)


def cancel_order(order: CustomerOrder, *, reason: str, actor) -> CustomerOrder:
    """Cancel an order before shipping, releasing its reservations.

    Shipping (through :data:`erp.orders.hooks.order_cancelling`) refuses the cancel when a
    parcel of the order was dispatched, and otherwise voids its parcels and puts the goods
    picked for it back into storage; what it did is added to the audit event.

    :raises CancelAfterShipping: if the order is shipped or delivered (after-sales handles it).
    :raises InvalidTransition: if the order is already cancelled.
    :raises DomainError: a receiver's refusal, e.g. a parcel of the order already dispatched.
    :raises ValidationError: without a reason.
    """
    reason = _reason(reason, "cancel", order)
    lock(order)
    if ORDER_STATES.enum(order.state) in (O.shipped, O.delivered):
        raise CancelAfterShipping(order)
    ORDER_STATES.check(order, O.cancelled)
    details: dict = {}
    for result in hooks.send(hooks.order_cancelling, order, actor=actor, reason=reason):
        details.update(result)
    freed = _release_lines(order, actor=actor)
    order.cancel_reason = reason
    transition(order, O.cancelled, machine=ORDER_STATES, actor=actor, note=reason,
               changes={"released": freed, **details})
    db.session.flush()
    return order


def can_edit_address(order: CustomerOrder, actor=None) -> bool:
    """Return whether the order's shipping address may still be edited."""
    return ORDER_STATES.in_group(order.state, "address_editable")


#: the address fields as a refusal names them
_ADDRESS_FIELD_NAMES = {
    "ship_name": _l("ship name"), "address1": _l("address1"), "address2": _l("address2"),
    "city": _l("city"), "region": _l("region"), "postal_code": _l("postal code"),
    "country": _l("country"), "phone": _l("phone"),
}


def _address_field(name: str) -> str:
    return str(_ADDRESS_FIELD_NAMES.get(name, name.replace("_", " ")))


def _clean_address(order: CustomerOrder, fields: Mapping[str, object]) -> dict[str, str | None]:
    unknown = sorted(set(fields) - set(ADDRESS_FIELDS))
    if unknown:
        raise ValidationError(_('To edit the address of order "%(number)s", you must only give '
                                "address fields, not %(fields)s.", number=order.number,
                                fields=", ".join(unknown)), field=unknown[0])
    values: dict[str, str | None] = {}
    for name, raw in fields.items():
        text = str(raw).strip() if raw is not None else ""
        if not text:
            if name in _REQUIRED_ADDRESS:
                raise ValidationError(_('To edit the address of order "%(number)s", you must '
                                        "fill in %(field)s.", number=order.number,
                                        field=_address_field(name)), field=name)
            values[name] = None
            continue
        if name != "country" and len(text) > _MAX_LENGTHS[name]:
            raise ValidationError(_('To edit the address of order "%(number)s", you must keep '
                                    "%(field)s to %(max)s characters.", number=order.number,
                                    field=_address_field(name), max=_MAX_LENGTHS[name]),
                                  field=name)
        values[name] = text
    if values.get("country"):
        try:
            values["country"] = normalize_country(values["country"])
        except ValueError:
            raise ValidationError(_('To edit the address of order "%(number)s", you must give '
                                    'an ISO 3166-1 country, not "%(value)s".',
                                    number=order.number, value=fields["country"]),
                                  field="country") from None
    if values.get("postal_code"):
        values["postal_code"] = values["postal_code"].upper()
    # the intake's rule, checked on the address as it will be after the edit
    country = values.get("country", order.country)
    postal_code = values["postal_code"] if "postal_code" in values else order.postal_code
    if not postal_code and country not in NO_POSTAL_CODE_COUNTRIES:
        raise ValidationError(_('To edit the address of order "%(number)s", you must give a '
                                "postal code: addresses in %(country)s need one.",
                                number=order.number, country=country), field="postal_code")
    return values


def address_problems(order: CustomerOrder, fields: Mapping[str, object]) -> dict[str, str]:
    """Return ``{field: message}`` for every field of an address edit that would be refused.

    Each field is checked on its own first, so a caller can name every bad field at once;
    the rules between fields (a postal code for the country) are checked when each field is
    fine by itself. Reads only; :func:`update_shipping_address` checks again.
    """
    problems: dict[str, str] = {}
    for name, value in fields.items():
        try:
            _clean_address(order, {name: value})
        except ValidationError as err:
            problems[err.field or name] = err.message
    if not problems:
        try:
            _clean_address(order, fields)
        except ValidationError as err:
            problems[err.field or ""] = err.message
    return problems


def update_shipping_address(order: CustomerOrder, fields: Mapping[str, object], *,
                            actor) -> AddressChanges:
    """Change shipping-address fields of an order not yet shipped; return ``{field: [old, new]}``.

    Labels already printed for the order's parcels carry the old address: shipping voids them
    (through :data:`erp.orders.hooks.order_shipping_changed`) and the result's ``notices`` ask
    for new ones.

    :raises OrderError: if the order is shipped, delivered or cancelled.
    :raises ValidationError: for an unknown, missing, over-long field or a bad country.
    """
    lock(order)
    if not can_edit_address(order, actor):
        raise OrderError(_(
            'To edit the shipping address of order "%(number)s", it must not be shipped or '
            'cancelled yet; it is "%(state)s".', number=order.number,
            state=ORDER_STATES.label(order.state)))
    values = _clean_address(order, fields)
    changes = audit.diff(order, values)
    if not changes:
        return AddressChanges()
    if "country" in changes and order.shipping_service:
        _check_service_serves(order, changes["country"][1])
    for name, (_old, new) in changes.items():
        setattr(order, name, new)
    audit.record(order, "customer_order.address_changed", actor=actor, changes=changes)
    db.session.flush()
    notices = [notice for result in hooks.send(hooks.order_shipping_changed, order, actor=actor,
                                               changes=changes) for notice in result]
    return AddressChanges(changes, notices)


def _check_service_serves(order: CustomerOrder, country: str) -> None:
    """Refuse a new country the order's service cannot ship to (intake's own checks)."""
    lines = tuple(hooks.IntakeLine(
        sku_code=line.sku.code, quantity=line.quantity, weight_g=int(line.sku.weight_g or 0),
        length_mm=int(line.sku.length_mm or 0), width_mm=int(line.sku.width_mm or 0),
        height_mm=int(line.sku.height_mm or 0)) for line in order.lines)
    probe = hooks.IntakeOrder(number=order.number, country=country,
                              shipping_service=order.shipping_service, phone=order.phone,
                              lines=lines)
    problem = hooks.intake_problems([probe]).get(0, {}).get("shipping_service")
    if problem:
        raise ValidationError(_(
            'To send order "%(number)s" to %(country)s, its service must serve that country: '
            "%(problem)s", number=order.number, country=country, problem=problem),
            field="country")


__all__ = [
    "BATCH_SIZE", "LINE_REF", "AddressChanges", "AllocationSummary", "CancelAfterShipping",
    "OrderError", "address_problems", "allocate_batch", "allocate_order", "allocate_orders",
    "allocation_queue",
    "can_allocate", "can_cancel", "can_edit_address", "can_hold", "can_release",
    "cancel_order", "hold_order", "release_order", "update_shipping_address",
]
