"""What shipping does when an order's lifecycle changes: receivers of :mod:`erp.orders.hooks`.

Orders never imports shipping, so it announces a cancel, a change of address and a release
from hold on blinker signals; :mod:`erp.shipping.hooks` connects the functions below to them.
They run inside the order service's transaction, after it locked the order, and lock the
order's parcels next (ids ascending): the order first, then its parcels, as labelling and
closing a dispatch batch do.

- A cancel is refused once a parcel of the order was dispatched (after-sales takes it from
  there). Otherwise the order's open parcels are voided, and every unit picked for it goes
  back from the packing bench to a storage bin (the one it was picked from when it can take
  it): nothing of the order has shipped, so all it had picked is still at the bench.
- A change of address voids the labels printed with the old one (the parcels need new ones)
  and recomputes what the customs data takes from the destination.
- A release from hold asks whether every unit is in a parcel (back to packed) or not (back to
  the packing bench).
"""

from __future__ import annotations

from sqlalchemy import func, select

from erp.core import audit
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services import mark_repacking
from erp.shipping.errors import ShippingError
from erp.shipping.models import Parcel, ParcelLine, ParcelState, PickTask, PickWave
from erp.shipping.services import bookings, packing
from erp.shipping.services.customs import CustomsContext
from erp.shipping.services.parcels import refresh_destination, void, void_label
from erp.warehouse.services import RestockSpec, restock

P = ParcelState
#: the ledger reference of the moves that put a cancelled order's goods back
ORDER_REF = "customer_order"
_OPEN = (P.packed, P.labelled)


def _lock_parcels(order: CustomerOrder) -> list[Parcel]:
    """Lock the order's parcels (the caller locked the order) and return them, by id."""
    return list(db.session.scalars(
        select(Parcel).where(Parcel.order_id == order.id).order_by(Parcel.id)
        .with_for_update(of=Parcel).execution_options(populate_existing=True)))


def _lock_shared_parcels(order: CustomerOrder) -> list[Parcel]:
    """Lock the parcels of another order (its merge group's primary) carrying this order's lines.

    A merged order's goods ship in its primary's parcel; the primary is locked first.
    """
    if order.merged_into_id is None:
        return []
    lock(order.merged_into)
    carrying = (select(ParcelLine.parcel_id).join(CustomerOrderLine,
                                                  CustomerOrderLine.id == ParcelLine.order_line_id)
                .where(CustomerOrderLine.order_id == order.id))
    return list(db.session.scalars(
        select(Parcel).where(Parcel.id.in_(carrying), Parcel.order_id != order.id)
        .order_by(Parcel.id).with_for_update(of=Parcel)
        .execution_options(populate_existing=True)))


def _refuse_after_dispatch(order: CustomerOrder, parcels: list[Parcel]) -> None:
    gone = [p for p in parcels if p.state == P.dispatched]
    if not gone:
        return
    first = gone[0]
    parcel = (_("parcel %(parcel)s (%(tracking)s)", parcel=first.number,
                tracking=first.tracking_number) if first.tracking_number
              else _("parcel %(parcel)s", parcel=first.number))
    if first.batch_id is not None:
        what = _("%(parcel)s left in dispatch batch %(batch)s", parcel=parcel,
                 batch=first.batch.number)
    else:
        what = _("%(parcel)s was dispatched", parcel=parcel)
    if len(gone) > 1:
        what = _("%(what)s (and %(count)s more)", what=what, count=len(gone) - 1)
    raise ShippingError(_(
        'To cancel order "%(order)s", none of its parcels may have left the warehouse; '
        "%(what)s. Open an after-sales case for the order instead (a return, refund or "
        "replacement).", order=order.number, what=what))


def _put_back(order: CustomerOrder, *, actor) -> dict:
    """Move every unit picked for the order from its wave's packing bench back to storage."""
    rows = db.session.execute(
        select(PickTask.sku_id, PickWave.packing_location_id, PickTask.location_id,
               func.sum(PickTask.picked_qty))
        .join(PickWave, PickWave.id == PickTask.wave_id)
        .where(PickTask.order_id == order.id, PickTask.picked_qty > 0)
        .group_by(PickTask.sku_id, PickWave.packing_location_id, PickTask.location_id)
        .order_by(PickTask.sku_id, PickWave.packing_location_id, PickTask.location_id)).all()
    specs = [RestockSpec(sku_id, bench_id, int(qty), preferred_location_id=bin_id)
             for sku_id, bench_id, bin_id, qty in rows]
    result = restock(specs, ref_type=ORDER_REF, ref_id=order.id,
                     note=f"Order {order.number} cancelled: picked goods back to stock",
                     actor=actor)
    details = {}
    if result.moves:
        details["put_back_units"] = result.units
    if result.left:
        details["left_at_bench"] = [
            {"sku_id": spec.sku_id, "location_id": spec.from_location_id, "quantity": qty,
             "why": why} for spec, qty, why in result.left]
    return details


def cancel_order_parcels(order: CustomerOrder, *, actor, reason: str, **_signal) -> dict | None:
    """Refuse the cancel of an order with a dispatched parcel; else void its parcels, restock.

    A voided parcel still in an open dispatch batch stays there: closing the batch refuses it
    until the warehouse takes it off the trolley.

    :returns: details for the order's audit event (parcels voided, units put back).
    :raises ShippingError: naming the dispatched parcel and after-sales as the way.
    """
    shared = _lock_shared_parcels(order)
    parcels = _lock_parcels(order)
    _refuse_after_dispatch(order, shared + parcels)
    details = _put_back(order, actor=actor)
    note = f"Order {order.number} cancelled: {reason}"
    voided = []
    for parcel in parcels:
        if parcel.state in _OPEN:
            changes = {"batch": parcel.batch.number} if parcel.batch_id is not None else {}
            if parcel.state == P.labelled:  # a carrier's booking is cancelled with it
                changes.update(bookings.cancel(parcel, actor=actor))
            void(parcel, reason=note, actor=actor, changes=changes or None)
            voided.append(parcel.number)
    for parcel in shared:  # the group packs again without the cancelled order's goods
        if parcel.state in _OPEN:
            if parcel.state == P.labelled:
                bookings.cancel(parcel, actor=actor)
            void(parcel, reason=note, actor=actor)
            voided.append(parcel.number)
            if parcel.order.state == OrderState.packed:
                mark_repacking(parcel.order, actor=actor, reason=note)
    if voided:
        details["parcels_voided"] = voided
    return details or None


def void_labels_on_change(order: CustomerOrder, *, actor, changes: dict, **_signal) -> list[str]:
    """Void the labels of the order's labelled parcels after its address (or service) changed.

    A change of country also recomputes the parcels' IOSS number and dutiable flag.

    :returns: one notice per voided label, asking for a new one.
    :raises ShippingError: if the new destination's IOSS check needs a missing exchange rate.
    """
    parcels = [p for p in _lock_parcels(order) if p.state in _OPEN]
    if not parcels:
        return []
    address = bool(set(changes) - {"shipping_service"})
    # the audit keeps the reason in English (stored data); the notice says it to the reader
    reason = (f"the {'address' if address else 'shipping service'} of order {order.number} "
              "changed")
    why = (_("the address of order %(order)s changed", order=order.number) if address
           else _("the shipping service of order %(order)s changed", order=order.number))
    ctx = CustomsContext(utcnow().date())
    notices = []
    for parcel in parcels:
        refreshed = refresh_destination(parcel, ctx=ctx) if "country" in changes else {}
        if parcel.state == P.labelled:
            notices.append(void_label(parcel, reason=reason, actor=actor, changes=refreshed,
                                      why=why))
        elif refreshed:
            audit.record(parcel, "parcel.destination_changed", actor=actor, changes=refreshed)
    db.session.flush()
    return notices


def fulfilment_state(order: CustomerOrder, **_signal) -> str:
    """Return ``"packed"`` when every unit of the order is in a parcel, else ``"picking"``."""
    return (OrderState.packed.value if packing.is_fully_packed(order)
            else OrderState.picking.value)


__all__ = ["ORDER_REF", "cancel_order_parcels", "fulfilment_state", "void_labels_on_change"]
