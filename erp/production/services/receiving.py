"""Receiving a production order at the warehouse: stock in, reserved to its order line alone.

The maker ships the goods of one made-to-order line (production order ``shipped``). Receiving
takes all of them in (a stock move of kind ``receipt`` from the supplier location, referenced
``production_order:<id>``), reserves them with the reference ``customer_order_line:<line id>``
and raises the line's ``allocated_qty``: allocation never reserves free stock for a
made-to-order line (see :mod:`erp.orders.services.allocation`), so this receipt is the only
way such a line gets its goods, and no other order can take them (they are reserved). The
order is then allocated as usual, so it becomes ``allocated`` once every line is covered and
can be picked.

Inspection: when the SKU's specification version has an inspection plan
(:func:`erp.quality.services.inspected_versions`), receiving opens an inspection lot for the
goods (``ref_type="production_order"``, the maker as supplier, the chosen bin as the lot's
release bin) and posts them into the warehouse's QC hold bin instead; nothing is reserved yet
and the production order is "received into inspection". Quality announces a lot's goods once
they reach the release bin (:data:`erp.quality.hooks.lot_released`: the lot accepted, or a
rejected lot released as a concession), and :func:`reserve_released_lot` then reserves them
to the line exactly as a receipt without a plan does. A rejected lot stays in quarantine with
nothing reserved: the production order's page shows it, so the buyer can ask the maker for a
remake or a manager can release it as a concession.
"""

from __future__ import annotations

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import ORDER_STATES, OrderState
from erp.orders.services.allocation import LINE_REF, allocate_order, can_allocate
from erp.production.models import PRODUCTION_STATES, ProductionOrder, ProductionState
from erp.quality import hooks as quality_hooks
from erp.quality import services as quality
from erp.quality.models import Inspection
from erp.warehouse.models import Location, LocationKind, MoveKind
from erp.warehouse.services import MoveSpec, post_moves, reserve, virtual_location

PO_REF = "production_order"


class ReceivingError(DomainError):
    """A production order cannot be received as asked."""


def check_bin(po: ProductionOrder, location: Location) -> None:
    """Check that ``location`` is an active storage bin.

    :raises ValidationError: naming the bin otherwise (field ``location``).
    """
    kind = LocationKind(location.kind)
    if location.is_virtual or kind != LocationKind.storage:
        raise ValidationError(_('To receive production order "%(number)s" into %(bin)s, you must '
                                "choose a storage bin; it is a %(kind)s location.",
                                number=po.number, bin=location.label, kind=kind.value),
                              field="location")
    if not location.active or (location.warehouse and not location.warehouse.active):
        raise ValidationError(_('To receive production order "%(number)s" into %(bin)s, you must '
                                "choose an active bin; it is inactive.", number=po.number,
                                bin=location.label), field="location")


def can_receive(po: ProductionOrder) -> bool:
    """Return whether the production order waits to be received (the maker shipped it)."""
    return PRODUCTION_STATES.can(po.state, ProductionState.received)


def _order_problem(po: ProductionOrder, order, warehouse_id: int) -> ReceivingError | None:
    """Return why ``order`` cannot take goods of ``po`` in ``warehouse_id`` now (None: it can).

    It must wait for its goods (new, backordered, allocated, or on hold: a hold keeps
    made-to-order goods reserved, and releasing it allocates the order), and
    an order holding goods in another warehouse keeps to that one (the error's field is then
    ``location``).
    """
    state = ORDER_STATES.enum(order.state)
    if not can_allocate(order) and state != OrderState.allocated \
            and state != OrderState.on_hold:
        return ReceivingError(_('To receive production order "%(number)s", its order '
                                '%(order)s must be waiting for its goods; it is "%(state)s".',
                                number=po.number, order=order.number,
                                state=ORDER_STATES.label(order.state)))
    if order.warehouse_id is not None and order.warehouse_id != warehouse_id \
            and any(other.allocated_qty for other in order.lines):
        return ReceivingError(_('To receive production order "%(number)s", choose a bin of the '
                                "warehouse order %(order)s is allocated in (%(warehouse)s).",
                                number=po.number, order=order.number,
                                warehouse=order.warehouse.code if order.warehouse else "?"),
                              field="location")
    return None


def _reserve_to_line(po: ProductionOrder, order, location: Location, quantity: int, *,
                     actor) -> None:
    """Reserve ``quantity`` of ``po``'s SKU in ``location`` to its order line alone.

    The caller has locked the order and the production order and checked the order may take
    them (:func:`_order_problem`). The order is allocated afterwards when it may be.
    """
    line = po.order_line
    reserve(db.session.get(Sku, po.sku_id), location, quantity, ref_type=LINE_REF,
            ref_id=line.id, actor=actor)
    line.allocated_qty += quantity
    if order.warehouse_id is None:
        order.warehouse_id = location.warehouse_id


def receive(po: ProductionOrder, *, actor, location: Location,
            note: str | None = None) -> ProductionOrder:
    """Receive all of a shipped production order into ``location`` and reserve it to its line.

    When the SKU's specification has an inspection plan, the goods go into an inspection lot
    in the warehouse's QC hold bin instead, with ``location`` as the lot's release bin, and are
    reserved once the lot is accepted or released (:func:`reserve_released_lot`).

    Locks the customer order, then the production order (the order owns its lines'
    allocation). A repeat after the first receipt is refused by the state (received).

    :raises InvalidTransition: if the production order is not shipped.
    :raises ReceivingError: if the order is cancelled, on hold, shipped, or allocated in
        another warehouse than the bin's.
    :raises ValidationError: for a bin that is not an active storage bin.
    :raises StockError: if the warehouse refuses (e.g. the bin is frozen by a cycle count).
    :raises InspectionError: if inspection of the maker's goods under the specification is
        discontinued.
    """
    check_bin(po, location)
    order = lock(po.order)
    lock(po)
    PRODUCTION_STATES.check(po, ProductionState.received)
    line = po.order_line
    problem = _order_problem(po, order, location.warehouse_id)
    if problem is not None:
        raise problem
    quantity = po.quantity - po.received_qty
    wanted = line.quantity - line.allocated_qty
    if quantity <= 0 or wanted < quantity:
        raise ReceivingError(_('Order line of production order "%(number)s" already has its '
                               "goods (%(allocated)s of %(quantity)s allocated).",
                               number=po.number, allocated=line.allocated_qty,
                               quantity=line.quantity))
    now = utcnow()
    text = (note or "").strip()[:500] or None
    version = quality.inspected_versions({po.sku_id}).get(po.sku_id)
    lot = None
    if version is not None:
        lot = quality.open_inspections([quality.LotSpec(
            ref_type=PO_REF, ref_id=po.id, reference=f"{po.number} · {order.number}",
            supplier_id=po.maker_id, supplier_name=po.maker.name, sku_id=po.sku_id,
            version=version, warehouse=location.warehouse, release_location_id=location.id,
            lot_size=quantity)], actor=actor)[po.id]
    supplier = virtual_location(LocationKind.supplier)
    target_id = lot.hold_location_id if lot is not None else location.id
    post_moves([MoveSpec(po.sku_id, supplier.id, target_id, quantity, MoveKind.receipt,
                         ref_type=PO_REF, ref_id=po.id, note=f"{po.number} {order.number}")],
               actor=actor, at=now)
    if lot is None:
        _reserve_to_line(po, order, location, quantity, actor=actor)
    po.received_qty += quantity
    po.received_at = now
    if text:
        po.note = f"{po.note}\n{text}" if po.note else text
    if lot is None:
        where = {"bin": location.label}
    else:
        hold = db.session.get(Location, lot.hold_location_id)
        where = {"bin": hold.label, "release_bin": location.label, "inspection": lot.number}
    transition(po, ProductionState.received, machine=PRODUCTION_STATES, actor=actor,
               changes={**where, "quantity": quantity, "order": order.number, "line": line.id,
                        **({"note": text} if text else {})})
    db.session.flush()
    if lot is None and can_allocate(order):
        allocate_order(order, actor=actor)
    return po


def reserve_released_lot(inspection: Inspection, location_id: int, quantity: int, *,
                         actor) -> None:
    """Reserve a production order's inspected goods to its order line once they are released.

    Registered in :data:`erp.quality.hooks.lot_released`; acts on lots opened by
    :func:`receive` only (``ref_type == "production_order"``). Locks the customer order, then
    the production order, as :func:`receive` does. An order on hold takes them too (a hold keeps
    made-to-order goods reserved; releasing the hold allocates the order). When the order can no
    longer take the goods (cancelled, shipped, or holding goods in another warehouse) or its
    line already has them, nothing is reserved and the production order's audit log says why:
    the goods wait free in the bin for a person to decide.
    """
    if inspection.ref_type != PO_REF:
        return
    po = db.session.get(ProductionOrder, inspection.ref_id)
    if po is None:
        return
    order = lock(po.order)
    lock(po)
    line = lock(po.order_line)
    location = db.session.get(Location, location_id)
    take = min(quantity, line.quantity - line.allocated_qty)
    problem = _order_problem(po, order, location.warehouse_id)
    reason = None
    if problem is not None:
        reason = "warehouse" if problem.field == "location" else "order_state"
    elif take <= 0:
        reason = "line_has_goods"
    if reason is not None:
        audit.record(po, "production_order.lot_not_reserved", actor=actor, changes={
            "inspection": inspection.number, "bin": location.label, "quantity": quantity,
            "order": order.number, "reason": reason,
            "order_state": ORDER_STATES.enum(order.state).value})
        return
    _reserve_to_line(po, order, location, take, actor=actor)
    audit.record(po, "production_order.lot_reserved", actor=actor, changes={
        "inspection": inspection.number, "bin": location.label, "quantity": take,
        "order": order.number, "line": line.id})
    db.session.flush()
    if can_allocate(order):
        allocate_order(order, actor=actor)


quality_hooks.lot_released.append(reserve_released_lot)


def is_inspected(po: ProductionOrder) -> bool:
    """Return whether receiving the production order opens an inspection lot (a plan exists)."""
    return po.sku_id in quality.inspected_versions({po.sku_id})


def inspections_of(po_id: int) -> list[Inspection]:
    """Return the inspection lots opened when the production order was received, oldest first."""
    return list(db.session.scalars(
        select(Inspection).where(Inspection.ref_type == PO_REF, Inspection.ref_id == po_id)
        .order_by(Inspection.id)))


def receivable_orders(limit: int = 50) -> list[ProductionOrder]:
    """Return production orders shipped by their makers, oldest shipment first."""
    return list(db.session.scalars(
        select(ProductionOrder).where(ProductionOrder.state == ProductionState.shipped)
        .order_by(ProductionOrder.shipped_at, ProductionOrder.id).limit(limit)))
