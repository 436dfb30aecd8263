"""Receiving a production order at the warehouse: stock in, reserved to its order line alone.

The maker ships the goods of one made-to-order line (production order ``shipped``). Receiving
takes all of them into a storage bin (a stock move of kind ``receipt`` from the supplier
location, referenced ``production_order:<id>``), reserves them with the reference
``customer_order_line:<line id>`` and raises the line's ``allocated_qty``: allocation never
reserves free stock for a made-to-order line (see :mod:`erp.orders.services.allocation`), so
this receipt is the only way such a line gets its goods, and no other order can take them
(they are reserved). The order is then allocated as usual, so it becomes ``allocated`` once
every line is covered and can be picked.

Inspection: the goods go straight to the bin and are reserved. A product whose specification
version has an inspection plan is not held in QC here (the quality lot's release has no hook
to reserve afterwards); the receipt's audit event says that the plan exists, so quality can
inspect the goods in the bin (see the report of issue 21).
"""

from __future__ import annotations

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import ORDER_STATES, OrderState
from erp.orders.services.allocation import LINE_REF, allocate_order, can_allocate
from erp.production.models import PRODUCTION_STATES, ProductionOrder, ProductionState
from erp.quality import services as quality
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


def receive(po: ProductionOrder, *, actor, location: Location,
            note: str | None = None) -> ProductionOrder:
    """Receive all of a shipped production order into ``location`` and reserve it to its line.

    Locks the customer order, then the production order (the order owns its lines'
    allocation). A repeat after the first receipt is refused by the state (received).

    :raises InvalidTransition: if the production order is not shipped.
    :raises ReceivingError: if the order is cancelled, on hold, shipped, or allocated in
        another warehouse than the bin's.
    :raises ValidationError: for a bin that is not an active storage bin.
    :raises StockError: if the warehouse refuses (e.g. the bin is frozen by a cycle count).
    """
    check_bin(po, location)
    order = lock(po.order)
    lock(po)
    PRODUCTION_STATES.check(po, ProductionState.received)
    line = po.order_line
    if not can_allocate(order) and ORDER_STATES.enum(order.state) != OrderState.allocated:
        raise ReceivingError(_('To receive production order "%(number)s", its order %(order)s '
                               'must be waiting for its goods; it is "%(state)s".',
                               number=po.number, order=order.number,
                               state=ORDER_STATES.label(order.state)))
    if order.warehouse_id is not None and order.warehouse_id != location.warehouse_id \
            and any(other.allocated_qty for other in order.lines):
        raise ReceivingError(_('To receive production order "%(number)s", choose a bin of the '
                               "warehouse order %(order)s is allocated in (%(warehouse)s).",
                               number=po.number, order=order.number,
                               warehouse=order.warehouse.code if order.warehouse else "?"),
                             field="location")
    quantity = po.quantity - po.received_qty
    wanted = line.quantity - line.allocated_qty
    if quantity <= 0 or wanted < quantity:
        raise ReceivingError(_('Order line of production order "%(number)s" already has its '
                               "goods (%(allocated)s of %(quantity)s allocated).",
                               number=po.number, allocated=line.allocated_qty,
                               quantity=line.quantity))
    now = utcnow()
    sku = db.session.get(Sku, po.sku_id)
    supplier = virtual_location(LocationKind.supplier)
    text = (note or "").strip()[:500] or None
    post_moves([MoveSpec(po.sku_id, supplier.id, location.id, quantity, MoveKind.receipt,
                         ref_type=PO_REF, ref_id=po.id, note=f"{po.number} {order.number}")],
               actor=actor, at=now)
    reserve(sku, location, quantity, ref_type=LINE_REF, ref_id=line.id, actor=actor)
    line.allocated_qty += quantity
    if order.warehouse_id is None:
        order.warehouse_id = location.warehouse_id
    po.received_qty += quantity
    po.received_at = now
    if text:
        po.note = f"{po.note}\n{text}" if po.note else text
    plan = quality.inspected_versions({po.sku_id}).get(po.sku_id)
    transition(po, ProductionState.received, machine=PRODUCTION_STATES, actor=actor,
               changes={"bin": location.label, "quantity": quantity, "order": order.number,
                        "line": line.id,
                        **({"inspection_plan": plan.id} if plan is not None else {}),
                        **({"note": text} if text else {})})
    db.session.flush()
    if can_allocate(order):
        allocate_order(order, actor=actor)
    return po


def receivable_orders(limit: int = 50) -> list[ProductionOrder]:
    """Return production orders shipped by their makers, oldest shipment first."""
    return list(db.session.scalars(
        select(ProductionOrder).where(ProductionOrder.state == ProductionState.shipped)
        .order_by(ProductionOrder.shipped_at, ProductionOrder.id).limit(limit)))
