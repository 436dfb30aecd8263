"""Dispatch batches: open a batch for a carrier, scan labelled parcels into it, close it.

Closing hands the parcels to the carrier: they become dispatched, their units move from the
packing bench to the customer (one posting for the whole batch), and the orders whose parcels
have all left become shipped.

Several batches of one carrier may be open at a time (a morning and an afternoon collection, or
two trucks); a parcel is only ever in one batch.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import contains_eager

from erp.core import audit
from erp.core.models import utcnow
from erp.core.numbering import next_number
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import mark_shipped
from erp.shipping import s10
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
from erp.warehouse.models import Location, LocationKind, MoveKind
from erp.warehouse.services import MoveSpec, post_moves, virtual_location

BATCH_PREFIX = "DSP"
#: the ledger reference of a parcel's shipping moves
PARCEL_REF = "parcel"

P = ParcelState


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass
class BatchSummary:
    """What closing a batch did (shown to the user and returned to callers)."""

    number: str
    parcels: int = 0
    units: int = 0
    weight_g: int = 0
    orders_shipped: int = 0
    orders_waiting: list[str] = field(default_factory=list)  # orders with parcels still to go
    declared: dict[str, Decimal] = field(default_factory=dict)  # currency -> declared value

    def __str__(self) -> str:
        """Return a one-line summary for a message."""
        text = (f"Batch {self.number} closed: {_n(self.parcels, 'parcel')}, "
                f"{_n(self.units, 'unit')}, {self.weight_g / 1000:,.3f} kg; "
                f"{_n(self.orders_shipped, 'order')} shipped")
        if self.orders_waiting:
            more = ", ..." if len(self.orders_waiting) > 5 else ""
            text += (f"; {_n(len(self.orders_waiting), 'order')} still to pack or send ("
                     + ", ".join(self.orders_waiting[:5]) + more + ")")
        return text + "."


def open_batch(carrier: Carrier, *, actor, note: str | None = None) -> DispatchBatch:
    """Open a new dispatch batch for ``carrier`` and return it (numbered ``DSP-YYYY-NNNNNN``).

    Another open batch of the same carrier is allowed (two collections a day).

    :raises ShippingError: if the carrier is inactive.
    """
    if not carrier.active:
        raise ShippingError(f'Carrier "{carrier.name}" is inactive; activate it before opening '
                            "a dispatch batch for it.")
    batch = DispatchBatch(number=next_number(BATCH_PREFIX), carrier_id=carrier.id,
                          state=BatchState.open, opened_by_id=getattr(actor, "id", None),
                          opened_at=utcnow(), note=(note or "").strip()[:500] or None)
    batch.carrier = carrier
    db.session.add(batch)
    db.session.flush()
    audit.record(batch, "dispatch_batch.opened", actor=actor, changes={"carrier": carrier.code})
    return batch


def _ensure_open(batch: DispatchBatch, action: str) -> None:
    if batch.state != BatchState.open:
        raise ShippingError(f"Batch {batch.number} is closed: it was handed to the carrier. To "
                            f"{action}, open a new batch.")


def _describe(parcel: Parcel) -> str:
    if parcel.tracking_number:
        return f"Parcel {parcel.number} ({parcel.tracking_number})"
    return f"Parcel {parcel.number}"


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


def _check_can_add(batch: DispatchBatch, parcel: Parcel) -> None:
    """Refuse a parcel that may not go into ``batch`` (see :func:`scan_into_batch`)."""
    what = _describe(parcel)
    if parcel.state == P.voided:
        raise ShippingError(f"{what} was voided: do not send it. Take it off the trolley and "
                            "give it to the packing station.", field="code")
    if parcel.state == P.dispatched:
        where = f" in batch {parcel.batch.number}" if parcel.batch else ""
        raise ShippingError(f"{what} was already dispatched{where}; it cannot be sent twice.",
                            field="code")
    if parcel.batch_id == batch.id:
        raise ShippingError(f"{what} is already in this batch ({batch.number}).", field="code")
    if parcel.batch_id is not None:
        raise ShippingError(f"{what} is already in batch {parcel.batch.number}; remove it from "
                            "that batch first if it should go with this one.", field="code")
    service = parcel.service
    if service.carrier_id != batch.carrier_id:
        raise ShippingError(
            f"{what} goes with {service.carrier.name} ({service.name}), not with "
            f"{batch.carrier.name}: put it in a {service.carrier.name} batch.", field="code")
    if parcel.state != P.labelled:
        raise ShippingError(f"{what} has no label yet: label it first, then scan it again.",
                            field="code")


def scan_into_batch(batch: DispatchBatch, text: str, *, actor) -> Parcel:
    """Put the parcel with this tracking or parcel number into the open ``batch``.

    :raises ShippingError: if the batch is closed; the number is unknown; the parcel is voided,
        already dispatched, already in this or another batch, has no label yet, or goes with
        another carrier.
    :raises ValidationError: for an S10 number with a wrong check digit.
    """
    _ensure_open(batch, "send more parcels")
    if not s10.normalise(text):
        raise ShippingError("Scan a parcel's tracking number (or type its parcel number).",
                            field="code")
    parcel = find_scanned_parcel(text)
    if parcel is None:
        raise ShippingError(f'No parcel has the tracking or parcel number "{text.strip()}". '
                            "Check the label, or look the parcel up in the parcel search.",
                            field="code")
    _check_can_add(batch, parcel)
    parcel.batch_id = batch.id
    parcel.batch = batch
    audit.record(parcel, "parcel.batched", actor=actor, changes={"batch": batch.number})
    db.session.flush()
    return parcel


def add_parcels(batch: DispatchBatch, parcels: Sequence[Parcel], *, actor) -> int:
    """Put many parcels into the open ``batch`` at once (one UPDATE); return how many.

    The same checks as :func:`scan_into_batch`, all before anything changes.

    :raises ShippingError: as :func:`scan_into_batch`, naming the first parcel refused.
    """
    _ensure_open(batch, "send more parcels")
    parcels = list(parcels)
    for parcel in parcels:
        _check_can_add(batch, parcel)
    ids = [p.id for p in parcels]
    for chunk in range(0, len(ids), 500):
        db.session.execute(update(Parcel).where(Parcel.id.in_(ids[chunk:chunk + 500]))
                           .values(batch_id=batch.id))
    audit.record_many("parcel", "parcel.batched", (
        (p.id, p.number, {"batch": batch.number}) for p in parcels), actor=actor)
    return len(parcels)


def waiting_parcels(carrier: Carrier) -> list[Parcel]:
    """Return the labelled parcels of ``carrier``'s services that are in no batch yet."""
    return list(db.session.scalars(
        select(Parcel).join(ShippingService, ShippingService.id == Parcel.service_id)
        .where(ShippingService.carrier_id == carrier.id, Parcel.state == P.labelled,
               Parcel.batch_id.is_(None))
        .order_by(Parcel.id).options(contains_eager(Parcel.service))))


def add_waiting_parcels(batch: DispatchBatch, *, actor) -> int:
    """Put every labelled parcel of the batch's carrier that is in no batch into it.

    :raises ShippingError: if the batch is closed.
    """
    _ensure_open(batch, "send more parcels")
    return add_parcels(batch, waiting_parcels(batch.carrier), actor=actor)


def remove_from_batch(batch: DispatchBatch, parcel: Parcel, *, actor) -> Parcel:
    """Take ``parcel`` out of the open ``batch`` (it stays labelled, ready for another batch).

    :raises ShippingError: if the batch is closed or the parcel is not in it.
    """
    _ensure_open(batch, "change what goes")
    if parcel.batch_id != batch.id:
        raise ShippingError(f"{_describe(parcel)} is not in batch {batch.number}.")
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
        raise ShippingError("There is no packing location: create a location of kind "
                            "packing in the warehouse, where packed parcels wait.")
    return location_id


def close_batch(batch: DispatchBatch, *, actor) -> BatchSummary:
    """Hand the batch to the carrier and return what was sent.

    Its parcels become dispatched; their units move from the packing bench (the packing location
    of the order's latest pick wave, else the first packing location) to the customer in one
    posting; the orders whose every parcel (voided ones aside) is dispatched and that have
    nothing left to pack become shipped.

    :raises ShippingError: if the batch is closed or empty, or holds a parcel that is no longer
        labelled (voided after it was scanned: remove it).
    :raises StockError: if the packing bench lacks a parcel's units.
    """
    _ensure_open(batch, "send more parcels")
    # Plain rows, not entities: a batch may hold thousands of parcels and closing needs only
    # these columns (the benchmark closes 1,000 parcels).
    parcels = db.session.execute(
        select(Parcel.id, Parcel.number, Parcel.tracking_number, Parcel.order_id, Parcel.state,
               Parcel.weight_g, Parcel.declared_value, Parcel.currency)
        .where(Parcel.batch_id == batch.id).order_by(Parcel.id)).all()
    if not parcels:
        raise ShippingError(f"Batch {batch.number} is empty: scan the parcels into it before "
                            "closing it.")
    wrong = [p for p in parcels if p.state != P.labelled]
    if wrong:
        raise ShippingError(
            f"{_describe(wrong[0])} in batch {batch.number} is "
            f'"{PARCEL_STATES.label(wrong[0].state)}", not labelled: remove it from the batch '
            f"before closing it" + (f" ({len(wrong)} parcels like it)." if len(wrong) > 1
                                    else "."))
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

    # 3. the orders: shipped once nothing of them is left to pack or send
    order_ids = sorted({p.order_id for p in parcels})
    still_to_go = exists().where(Parcel.order_id == CustomerOrder.id,
                                 Parcel.state.in_([P.packed, P.labelled]))
    ready = list(db.session.scalars(
        select(CustomerOrder).where(CustomerOrder.id.in_(order_ids),
                                    CustomerOrder.state == OrderState.packed, ~still_to_go)
        .order_by(CustomerOrder.id)))
    if ready:
        mark_shipped(ready, actor=actor, batch=batch.number)
    summary.orders_shipped = len(ready)
    shipped = {o.id for o in ready}
    if len(shipped) < len(order_ids):
        summary.orders_waiting = list(db.session.scalars(
            select(CustomerOrder.number).where(CustomerOrder.id.in_(
                [i for i in order_ids if i not in shipped])).order_by(CustomerOrder.number)))

    # 4. the batch itself
    batch.closed_at = now
    batch.closed_by_id = actor_id
    transition(batch, BatchState.closed, machine=DISPATCH_BATCH_STATES, actor=actor, changes={
        "parcels": summary.parcels, "units": summary.units, "weight_g": summary.weight_g,
        "orders_shipped": summary.orders_shipped,
        "declared": {cur: str(v) for cur, v in summary.declared.items()}})
    db.session.flush()
    return summary
