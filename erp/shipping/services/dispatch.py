"""Dispatch batches: open a batch for a carrier, scan labelled parcels into it, close it.

Closing hands the parcels to the carrier: they become dispatched, their units move from the
packing bench to the customer (one posting for the whole batch), and the orders whose parcels
have all left become shipped.

Several batches of one carrier may be open at a time (a morning and an afternoon collection, or
two trucks); a parcel is only ever in one batch.

A parcel whose order is on hold or cancelled does not go: scanning it, adding it with the
waiting parcels and closing a batch that holds it are refused, naming the hold. Closing
re-checks every parcel of the batch under lock and lists each one that may not go.

Locks: the batch first; closing then locks the batch's orders and then its parcels (ids
ascending), the order in which cancelling an order and labelling lock them; scanning, adding
and removing lock the batch, then the parcels.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import contains_eager

from erp.core import audit, events
from erp.core.i18n import _, format_number, ngettext
from erp.core.locking import lock, lock_many
from erp.core.models import utcnow
from erp.core.numbering import next_number
from erp.core.states import transition
from erp.extensions import db
from erp.orders.events import order_payload
from erp.orders.models import ORDER_STATES, CustomerOrder, OrderState
from erp.orders.services import mark_shipped
from erp.shipping import batch_hooks, s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    DISPATCH_BATCH_STATES,
    PARCEL_STATES,
    BatchState,
    Carrier,
    DispatchBatch,
    Parcel,
    ParcelLine,
    ParcelState,
    PickWave,
    PickWaveOrder,
    ShippingService,
)
from erp.shipping.services.parcels import order_refusal
from erp.warehouse.models import Location, LocationKind, MoveKind
from erp.warehouse.services import MoveSpec, post_moves, virtual_location

BATCH_PREFIX = "DSP"
#: the ledger reference of a parcel's shipping moves
PARCEL_REF = "parcel"

P = ParcelState


def _parcels(count: int) -> str:
    return ngettext("%(count)s parcel", "%(count)s parcels", count, count=format_number(count))


def _orders(count: int) -> str:
    return ngettext("%(count)s order", "%(count)s orders", count, count=format_number(count))


@dataclass
class BatchSummary:
    """What closing a batch did (shown to the user and returned to callers)."""

    number: str
    parcels: int = 0
    units: int = 0
    weight_g: int = 0
    orders_shipped: int = 0
    #: orders of the batch's parcels that are not complete yet (more to pack or send later)
    orders_waiting: list[str] = field(default_factory=list)
    #: order number -> what it still waits for ("1 parcel still to send", "still being packed")
    waiting_for: dict[str, str] = field(default_factory=dict)
    declared: dict[str, Decimal] = field(default_factory=dict)  # currency -> declared value

    def __str__(self) -> str:
        """Return a one-line summary for a message: what was sent, then what was not."""
        names = {"batch": self.number, "parcels": _parcels(self.parcels),
                 "units": ngettext("%(count)s unit", "%(count)s units", self.units,
                                   count=format_number(self.units)),
                 "weight": format_number(Decimal(self.weight_g) / 1000, places=3),
                 "orders": _orders(self.orders_shipped)}
        if not self.orders_waiting:
            return _("Batch %(batch)s closed: %(parcels)s dispatched (%(units)s, %(weight)s kg); "
                     "%(orders)s shipped.", **names)
        waiting = _(", ").join(
            _("%(order)s (%(why)s)", order=number,
              why=self.waiting_for.get(number) or _("more to send"))
            for number in self.orders_waiting[:5])
        if len(self.orders_waiting) > 5:
            waiting = _("%(list)s, ...", list=waiting)
        return _("Batch %(batch)s closed: %(parcels)s dispatched (%(units)s, %(weight)s kg); "
                 "%(orders)s shipped; %(waiting)s not complete yet: %(list)s.",
                 waiting=_orders(len(self.orders_waiting)), list=waiting, **names)


@dataclass
class AddedParcels:
    """What :func:`add_waiting_parcels` did: parcels added, and those left out with why."""

    batch: str
    added: int = 0
    left_out: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        """Return a message for the user."""
        text = ngettext("%(count)s labelled parcel added to %(batch)s.",
                        "%(count)s labelled parcels added to %(batch)s.", self.added,
                        count=format_number(self.added), batch=self.batch)
        if self.left_out:
            left = _("; ").join(self.left_out[:5])
            if len(self.left_out) > 5:
                left = _("%(list)s (and %(count)s more)", list=left,
                         count=len(self.left_out) - 5)
            text += " " + _("Left out, %(count)s: %(list)s.", count=len(self.left_out),
                            list=left)
        return text


def open_batch(carrier: Carrier, *, actor, note: str | None = None) -> DispatchBatch:
    """Open a new dispatch batch for ``carrier`` and return it (numbered ``DSP-YYYY-NNNNNN``).

    Another open batch of the same carrier is allowed (two collections a day).

    :raises ShippingError: if the carrier is inactive.
    """
    if not carrier.active:
        raise ShippingError(_('Carrier "%(carrier)s" is inactive; activate it before opening a '
                              "dispatch batch for it.", carrier=carrier.name))
    batch = DispatchBatch(number=next_number(BATCH_PREFIX), carrier_id=carrier.id,
                          state=BatchState.open, opened_by_id=getattr(actor, "id", None),
                          opened_at=utcnow(), note=(note or "").strip()[:500] or None)
    batch.carrier = carrier
    db.session.add(batch)
    db.session.flush()
    audit.record(batch, "dispatch_batch.opened", actor=actor, changes={"carrier": carrier.code})
    return batch


def _ensure_open(batch: DispatchBatch, action: str) -> None:
    """Refuse a closed batch; ``action`` is ``"send more parcels"`` or ``"change what goes"``."""
    if batch.state != BatchState.open:
        if action == "change what goes":
            message = _("Batch %(batch)s is closed: it was handed to the carrier. To change what "
                        "goes, open a new batch.", batch=batch.number)
        else:
            message = _("Batch %(batch)s is closed: it was handed to the carrier. To send more "
                        "parcels, open a new batch.", batch=batch.number)
        raise ShippingError(message)


def _describe(parcel: Parcel) -> str:
    if parcel.tracking_number:
        return _("Parcel %(parcel)s (%(tracking)s)", parcel=parcel.number,
                 tracking=parcel.tracking_number)
    return _("Parcel %(parcel)s", parcel=parcel.number)


def find_scanned_parcel(text: str) -> Parcel | None:
    """Return the parcel whose tracking number or parcel number is ``text`` (as scanned).

    :raises ValidationError: for an S10-looking number with a wrong check digit (a misread or
        typing error), naming the right digit.
    """
    raw = (text or "").strip().upper()
    number = s10.normalise(text)
    if len(number) == 13 and number[:2].isalpha() and number[-2:].isalpha() \
            and number[2:11].isdigit():
        number = s10.parse(number)
    candidates = sorted({raw, number} - {""})
    if not candidates:
        return None
    return db.session.scalars(
        select(Parcel).where(or_(Parcel.tracking_number.in_(candidates),
                                 func.upper(Parcel.number).in_(candidates)))
        .order_by(Parcel.id).with_for_update()).first()


def _check_can_add(batch: DispatchBatch, parcel: Parcel, order) -> None:
    """Refuse a parcel that may not go into ``batch`` (see :func:`scan_into_batch`).

    ``order`` is the parcel's order as a row of :func:`_order_figures`.
    """
    what = _describe(parcel)
    if parcel.state == P.voided and order.state == OrderState.cancelled:
        raise ShippingError(_("%(what)s was voided: order %(order)s was cancelled. Do not send "
                              "it; take it off the trolley, its goods go back to stock.",
                              what=what, order=order.number), field="code")
    if parcel.state == P.voided:
        raise ShippingError(_("%(what)s was voided: do not send it. Take it off the trolley and "
                              "give it to the packing station.", what=what), field="code")
    if parcel.state == P.dispatched:
        if parcel.batch:
            message = _("%(what)s was already dispatched in batch %(batch)s; it cannot be sent "
                        "twice.", what=what, batch=parcel.batch.number)
        else:
            message = _("%(what)s was already dispatched; it cannot be sent twice.", what=what)
        raise ShippingError(message, field="code")
    if parcel.batch_id == batch.id:
        raise ShippingError(_("%(what)s is already in this batch (%(batch)s).", what=what,
                              batch=batch.number), field="code")
    if parcel.batch_id is not None:
        raise ShippingError(_("%(what)s is already in batch %(batch)s; remove it from that "
                              "batch first if it should go with this one.", what=what,
                              batch=parcel.batch.number), field="code")
    service = parcel.service
    if service.carrier_id != batch.carrier_id:
        raise ShippingError(_(
            "%(what)s goes with %(carrier)s (%(service)s), not with %(batch_carrier)s: put it in "
            "a %(carrier)s batch.", what=what, carrier=service.carrier.name,
            service=service.name, batch_carrier=batch.carrier.name), field="code")
    refusal = order_refusal(order)
    if refusal:
        raise ShippingError(_("%(what)s may not go: %(why)s.", what=what, why=refusal),
                            field="code")
    if parcel.state != P.labelled:
        raise ShippingError(_("%(what)s has no label yet: label it first, then scan it again.",
                              what=what), field="code")


def scan_into_batch(batch: DispatchBatch, text: str, *, actor) -> Parcel:
    """Put the parcel with this tracking or parcel number into the open ``batch``.

    Locks the batch, then the parcel.

    :raises ShippingError: if the batch is closed; the number is unknown; the parcel is voided,
        already dispatched, already in this or another batch, has no label yet, goes with
        another carrier, or its order is on hold (naming the hold) or cancelled.
    :raises ValidationError: for an S10 number with a wrong check digit.
    """
    lock(batch)
    _ensure_open(batch, "send more parcels")
    if not s10.normalise(text):
        raise ShippingError(_("Scan a parcel's tracking number (or type its parcel number)."),
                            field="code")
    parcel = find_scanned_parcel(text)
    if parcel is None:
        raise ShippingError(_('No parcel has the tracking or parcel number "%(number)s". Check '
                              "the label, or look the parcel up in the parcel search.",
                              number=text.strip()), field="code")
    _check_can_add(batch, parcel, _order_figures([parcel])[parcel.order_id])
    parcel.batch_id = batch.id
    parcel.batch = batch
    audit.record(parcel, "parcel.batched", actor=actor, changes={"batch": batch.number})
    db.session.flush()
    return parcel


def _order_figures(parcels: Sequence[Parcel]) -> dict:
    """Return ``{order id: row of number, state, hold_reason}`` of the parcels' orders.

    Read now, not from the session's objects. Not locked: closing the batch checks again
    under lock.
    """
    ids = sorted({p.order_id for p in parcels})
    found = {}
    for start in range(0, len(ids), 500):
        for row in db.session.execute(
                select(CustomerOrder.id, CustomerOrder.number, CustomerOrder.state,
                       CustomerOrder.hold_reason)
                .where(CustomerOrder.id.in_(ids[start:start + 500]))):
            found[row.id] = row
    return found


def add_parcels(batch: DispatchBatch, parcels: Sequence[Parcel], *, actor) -> int:
    """Put many parcels into the open ``batch`` at once (one UPDATE); return how many.

    The same checks as :func:`scan_into_batch`, all before anything changes; the batch is
    locked, then the parcels.

    :raises ShippingError: as :func:`scan_into_batch`, naming the first parcel refused.
    """
    lock(batch)
    _ensure_open(batch, "send more parcels")
    parcels = list(parcels)
    db.session.flush()
    lock_many(Parcel, [p.id for p in parcels])
    return _add(batch, parcels, actor=actor)


def _add(batch: DispatchBatch, parcels: list[Parcel], *, actor, orders: dict | None = None
         ) -> int:
    """Check every parcel (locked by the caller), then put them all into ``batch``."""
    orders = orders if orders is not None else _order_figures(parcels)
    for parcel in parcels:
        _check_can_add(batch, parcel, orders[parcel.order_id])
    ids = [p.id for p in parcels]
    for chunk in range(0, len(ids), 500):
        db.session.execute(update(Parcel).where(Parcel.id.in_(ids[chunk:chunk + 500]))
                           .values(batch_id=batch.id))
    audit.record_many("parcel", "parcel.batched", (
        (p.id, p.number, {"batch": batch.number}) for p in parcels), actor=actor)
    return len(parcels)


def waiting_parcels(carrier: Carrier, *, for_update: bool = False) -> list[Parcel]:
    """Return the labelled parcels of ``carrier``'s services that are in no batch yet.

    Parcels of orders on hold or cancelled are among them; :func:`add_waiting_parcels` leaves
    them out. ``for_update`` locks the parcels' rows.
    """
    stmt = (select(Parcel).join(ShippingService, ShippingService.id == Parcel.service_id)
            .where(ShippingService.carrier_id == carrier.id, Parcel.state == P.labelled,
                   Parcel.batch_id.is_(None))
            .order_by(Parcel.id).options(contains_eager(Parcel.service)))
    if for_update:
        # the conditions are checked on the locked rows: those found are labelled, unbatched
        stmt = stmt.with_for_update(of=Parcel)
    return list(db.session.scalars(stmt))


def add_waiting_parcels(batch: DispatchBatch, *, actor) -> AddedParcels:
    """Put every labelled parcel of the batch's carrier that is in no batch into it.

    A parcel whose order is on hold or cancelled is left out, and named with the reason.

    :raises ShippingError: if the batch is closed.
    """
    lock(batch)
    _ensure_open(batch, "send more parcels")
    waiting = waiting_parcels(batch.carrier, for_update=True)
    orders = _order_figures(waiting)
    result = AddedParcels(batch=batch.number)
    ready = []
    for parcel in waiting:
        refusal = order_refusal(orders[parcel.order_id])
        if refusal:
            result.left_out.append(_("%(what)s: %(why)s", what=_describe(parcel),
                                     why=refusal))
        else:
            ready.append(parcel)
    result.added = _add(batch, ready, actor=actor, orders=orders)
    return result


def remove_from_batch(batch: DispatchBatch, parcel: Parcel, *, actor) -> Parcel:
    """Take ``parcel`` out of the open ``batch`` (it stays labelled, ready for another batch).

    Locks the batch, then the parcel.

    :raises ShippingError: if the batch is closed or the parcel is not in it.
    """
    lock(batch)
    _ensure_open(batch, "change what goes")
    lock(parcel)
    if parcel.batch_id != batch.id:
        raise ShippingError(_("%(what)s is not in batch %(batch)s.", what=_describe(parcel),
                              batch=batch.number))
    parcel.batch_id = None
    parcel.batch = None
    audit.record(parcel, "parcel.unbatched", actor=actor, changes={"batch": batch.number})
    db.session.flush()
    return parcel


def _packing_locations(batch: DispatchBatch) -> dict[int, int]:
    """Return ``{order id: packing location id}`` of the latest wave of each batch order."""
    order_ids = select(Parcel.order_id).where(Parcel.batch_id == batch.id)
    rows = db.session.execute(
        select(PickWaveOrder.order_id, PickWave.packing_location_id)
        .join(PickWave, PickWave.id == PickWaveOrder.wave_id)
        .where(PickWaveOrder.order_id.in_(order_ids))
        .order_by(PickWave.id))
    return {order_id: location_id for order_id, location_id in rows}  # the latest wave wins


def _default_packing_location() -> int:
    location_id = db.session.scalar(
        select(Location.id).where(Location.kind == LocationKind.packing,
                                  Location.active.is_(True)).order_by(Location.id).limit(1))
    if location_id is None:
        raise ShippingError(_("There is no packing location: create a location of kind "
                              "packing in the warehouse, where packed parcels wait."))
    return location_id


def _refusal(parcel, order: CustomerOrder) -> str | None:
    """Return why ``parcel`` (a row of :func:`close_batch`) may not go now, or None."""
    what = _describe(parcel)
    if parcel.state == P.voided:
        if parcel.void_reason:
            return _("%(what)s was voided (%(reason)s); take it off the trolley", what=what,
                     reason=parcel.void_reason)
        return _("%(what)s was voided; take it off the trolley", what=what)
    if parcel.state == P.packed:
        return _("%(what)s has no valid label (its label was voided): print its new label once "
                 "it is out of the batch, and scan it again", what=what)
    if parcel.state != P.labelled:
        return _('%(what)s is "%(state)s", not labelled', what=what,
                 state=PARCEL_STATES.label(parcel.state))
    refusal = order_refusal(order)
    if refusal:
        return _("%(what)s: %(why)s", what=what, why=refusal)
    return None


def _refuse_what_may_not_go(batch: DispatchBatch, parcels, orders) -> None:
    """Refuse the close listing every parcel of the batch that may not go, with why.

    :raises ShippingError: if one parcel or more may not go.
    """
    problems = [why for parcel in parcels
                if (why := _refusal(parcel, orders[parcel.order_id])) is not None]
    if not problems:
        return
    shown = _(". ").join(problems[:20])
    if len(problems) > 20:
        shown = _("%(list)s (%(count)s more not shown)", list=shown, count=len(problems) - 20)
    raise ShippingError(ngettext(
        "Batch %(batch)s cannot be closed: %(count)s parcel in it may not go. %(problems)s. To "
        "close the batch, remove it from the batch first.",
        "Batch %(batch)s cannot be closed: %(count)s parcels in it may not go. %(problems)s. To "
        "close the batch, remove them from the batch first.", len(problems),
        count=format_number(len(problems)), batch=batch.number, problems=shown))


def _refuse_what_packages_above_refuse(batch: DispatchBatch, parcel_ids: list[int]) -> None:
    """Refuse the close listing what the packages above shipping find missing (the export data).

    :raises ShippingError: if a registered check (:mod:`erp.shipping.batch_hooks`) finds a
        problem; the first 20 are listed.
    """
    problems = batch_hooks.problems(batch, parcel_ids)
    if not problems:
        return
    shown = _("; ").join(problems[:20])
    if len(problems) > 20:
        shown = _("%(list)s (%(count)s more not shown)", list=shown, count=len(problems) - 20)
    raise ShippingError(ngettext(
        "Batch %(batch)s cannot be closed: %(count)s problem. %(problems)s.",
        "Batch %(batch)s cannot be closed: %(count)s problems. %(problems)s.", len(problems),
        count=format_number(len(problems)), batch=batch.number, problems=shown))


def _emit_shipped(orders, batch: DispatchBatch, now) -> None:
    """Write ``order.shipped`` for each order, with its parcels and tracking numbers."""
    parcels: dict[int, list[dict]] = {}
    for row in db.session.execute(
            select(Parcel.order_id, Parcel.number, Parcel.tracking_number, Parcel.weight_g,
                   ShippingService.code, Carrier.code.label("carrier"))
            .join(ShippingService, ShippingService.id == Parcel.service_id)
            .join(Carrier, Carrier.id == ShippingService.carrier_id)
            .where(Parcel.order_id.in_([o.id for o in orders]), Parcel.state == P.dispatched)
            .order_by(Parcel.order_id, Parcel.sequence, Parcel.id)):
        parcels.setdefault(row.order_id, []).append({
            "parcel": row.number, "tracking_number": row.tracking_number,
            "carrier": row.carrier, "service": row.code, "weight_g": row.weight_g})
    events.emit_many("order.shipped", [
        (events.order_key(order.number),
         order_payload(order, OrderState.packed, shipped_at=now, batch=batch.number,
                       parcels=parcels.get(order.merged_into_id or order.id, []),
                       **_merged_payload(order)))
        for order in orders], at=now)


def _merged_payload(order: CustomerOrder) -> dict:
    """Return what tells the storefront an order shipped in another order's parcels."""
    if order.merged_into_id is None:
        return {}
    return {"shipped_with": order.merged_into.number}


def close_batch(batch: DispatchBatch, *, actor) -> BatchSummary:
    """Hand the batch to the carrier and return what was sent.

    Its parcels become dispatched; their units move from the packing bench (the packing location
    of the order's latest pick wave, else the first packing location) to the customer in one
    posting; the orders whose every parcel (voided ones aside) is dispatched and that have
    nothing left to pack become shipped.

    Every parcel is checked again inside this transaction, after locking the batch, then the
    parcels' orders, then the parcels (ids ascending): a parcel voided, relabelled or whose
    order was put on hold or cancelled since it was scanned refuses the whole close.

    :raises ShippingError: if the batch is closed or empty, or holds a parcel that may not go,
        listing each such parcel and why (voided, label voided, order on hold naming the hold,
        order cancelled).
    :raises StockError: if the packing bench lacks a parcel's units.
    """
    lock(batch)
    _ensure_open(batch, "send more parcels")
    orders = {order.id: order for order in db.session.scalars(
        select(CustomerOrder).where(CustomerOrder.id.in_(
            select(Parcel.order_id).where(Parcel.batch_id == batch.id)))
        .order_by(CustomerOrder.id).with_for_update(of=CustomerOrder)
        .execution_options(populate_existing=True))}
    # Plain rows, not entities: a batch may hold thousands of parcels and closing needs only
    # these columns (the benchmark closes 1,000 parcels).
    parcels = db.session.execute(
        select(Parcel.id, Parcel.number, Parcel.tracking_number, Parcel.order_id, Parcel.state,
               Parcel.weight_g, Parcel.declared_value, Parcel.currency, Parcel.void_reason)
        .where(Parcel.batch_id == batch.id).order_by(Parcel.id)
        .with_for_update(of=Parcel)).all()
    if not parcels:
        raise ShippingError(_("Batch %(batch)s is empty: scan the parcels into it before "
                              "closing it.", batch=batch.number))
    _refuse_what_may_not_go(batch, parcels, orders)
    _refuse_what_packages_above_refuse(batch, [p.id for p in parcels])
    DISPATCH_BATCH_STATES.check(batch, BatchState.closed)
    now = utcnow()
    summary = BatchSummary(number=batch.number, parcels=len(parcels))

    # 1. the stock: every parcel's units, packing bench -> customer, in one posting
    bench = _packing_locations(batch)
    order_of = {p.id: p.order_id for p in parcels}
    fallback: list[int] = []
    customer = virtual_location(LocationKind.customer).id
    specs = []
    for parcel_id, sku_id, quantity in db.session.execute(
            select(ParcelLine.parcel_id, ParcelLine.sku_id, ParcelLine.quantity)
            .join(Parcel, Parcel.id == ParcelLine.parcel_id)
            .where(Parcel.batch_id == batch.id).order_by(ParcelLine.parcel_id, ParcelLine.id)):
        location_id = bench.get(order_of[parcel_id])
        if location_id is None:
            if not fallback:
                fallback.append(_default_packing_location())
            location_id = fallback[0]
        specs.append(MoveSpec(sku_id, location_id, customer, quantity, MoveKind.ship,
                              ref_type=PARCEL_REF, ref_id=parcel_id))
        summary.units += quantity
    declared: dict[str, Decimal] = defaultdict(Decimal)
    for parcel in parcels:
        summary.weight_g += parcel.weight_g
        declared[parcel.currency] += parcel.declared_value
    summary.declared = dict(sorted(declared.items()))
    post_moves(specs, actor=actor, at=now)

    # 2. the parcels: one UPDATE (parcels loaded in the session follow), one audit INSERT
    db.session.execute(
        update(Parcel).where(Parcel.batch_id == batch.id, Parcel.state == P.labelled)
        .values(state=P.dispatched, dispatched_at=now))
    actor_id = getattr(actor, "id", None)
    audit.record_many("parcel", "parcel.dispatched", (
        (p.id, p.number, {"state": ["labelled", "dispatched"], "batch": batch.number})
        for p in parcels), actor=actor)

    batch_hooks.after_close(batch, [p.id for p in parcels], actor=actor, at=now)

    # 3. the orders (locked above): shipped once nothing of them is left to pack or send
    to_send: dict[int, int] = dict(db.session.execute(
        select(Parcel.order_id, func.count())
        .where(Parcel.order_id.in_(select(Parcel.order_id).where(Parcel.batch_id == batch.id)),
               Parcel.state.in_([P.packed, P.labelled]))
        .group_by(Parcel.order_id)).all())
    ready = [order for order_id, order in sorted(orders.items())
             if order.state == OrderState.packed and order_id not in to_send]
    shipped_orders = []
    if ready:
        # the orders merged into them ship in their parcels (erp.orders.services.merging)
        shipped_orders = mark_shipped(ready, actor=actor, batch=batch.number)
        _emit_shipped(shipped_orders, batch, now)
    summary.orders_shipped = len(shipped_orders)
    shipped = {o.id for o in shipped_orders}
    for order in sorted(orders.values(), key=lambda o: o.number):
        if order.id in shipped:
            continue
        summary.orders_waiting.append(order.number)
        summary.waiting_for[order.number] = (
            ngettext("%(count)s parcel still to send", "%(count)s parcels still to send",
                     to_send[order.id], count=format_number(to_send[order.id]))
            if order.id in to_send
            else _("still being packed") if order.state == OrderState.picking
            else ORDER_STATES.label(order.state))

    # 4. the batch itself
    batch.closed_at = now
    batch.closed_by_id = actor_id
    transition(batch, BatchState.closed, machine=DISPATCH_BATCH_STATES, actor=actor, changes={
        "parcels": summary.parcels, "units": summary.units, "weight_g": summary.weight_g,
        "orders_shipped": summary.orders_shipped,
        "declared": {cur: str(v) for cur, v in summary.declared.items()}})
    db.session.flush()
    return summary
