"""Parcels after packing: labels (tracking numbers), voiding, finding and the parcel list.

Labelling draws the tracking numbers of all the parcels of one service in a single draw (the
range row is locked once) and moves them packed -> labelled. Voiding (before dispatch) keeps the
tracking number on the voided parcel, so it is never used again; the parcel's units stay at the
packing bench and become unpacked scans of the order again, and a packed order goes back to
picking to be packed anew.

A parcel of an order on hold or cancelled is not labelled (:func:`order_refusal`). When the
order's address changes after labelling, the label is voided (:func:`void_label`): labelled ->
packed, without a tracking number, so the parcel needs a new label.

Locks: the parcels' orders first, then the parcels (ids ascending), as cancelling an order and
closing a dispatch batch do, so they queue instead of deadlocking.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, bindparam, func, or_, select, update
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from erp.core import audit, exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l
from erp.core.locking import lock, lock_rows
from erp.core.models import AuditEvent, utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import mark_repacking
from erp.shipping import s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    PARCEL_STATES,
    Carrier,
    DispatchBatch,
    PackScan,
    Parcel,
    ParcelLine,
    ParcelState,
    ShippingService,
)
from erp.shipping.services import bookings
from erp.shipping.services.carriers import (
    chargeable_weight_g,
    quote_from_bands,
    rate_bands,
    zone_of,
)
from erp.shipping.services.customs import CustomsContext, check_customs, ioss_for, is_dutiable
from erp.shipping.services.tracking import draw_numbers

P = ParcelState
MAX_REASON = 200


# --------------------------------------------------------------------------- guards


def order_refusal(order: CustomerOrder) -> str | None:
    """Return why the order's parcels may not be labelled or sent now, or None.

    An order on hold (naming its reason) or cancelled, with what to do with the parcel.
    ``order`` is the order or a row of its number, state and hold reason; callers lock it or
    check again under lock (closing a batch does).
    """
    state = OrderState(order.state)
    if state == OrderState.on_hold:
        if order.hold_reason:
            return _("order %(order)s is on hold (%(reason)s); put the parcel aside until "
                     "customer service releases the hold", order=order.number,
                     reason=order.hold_reason)
        return _("order %(order)s is on hold; put the parcel aside until customer service "
                 "releases the hold", order=order.number)
    if state == OrderState.cancelled:
        return _("order %(order)s was cancelled; do not send the parcel, its goods go back to "
                 "stock", order=order.number)
    return None


#: what labelling reads of an order, under its lock
_ORDER_FIGURES = (CustomerOrder.number, CustomerOrder.state, CustomerOrder.hold_reason,
                  CustomerOrder.country)


def lock_parcels(parcels: Iterable[Parcel]) -> dict:
    """Lock the parcels' orders, then the parcels (ids ascending); return the orders' figures.

    ``{order id: row of number, state, hold_reason, country}`` read under the lock. A parcel
    whose state or batch changed since it was loaded is refreshed. Rows rather than entities:
    labelling a wave re-reads a thousand parcels and orders.
    """
    parcels = list(parcels)
    db.session.flush()  # new parcels get their ids
    orders = lock_rows(CustomerOrder, {p.order_id for p in parcels}, *_ORDER_FIGURES)
    current = lock_rows(Parcel, [p.id for p in parcels], Parcel.state, Parcel.batch_id)
    for parcel in parcels:
        row = current[parcel.id]
        if (parcel.state, parcel.batch_id) != (row.state, row.batch_id):
            db.session.refresh(parcel)
    return orders


# --------------------------------------------------------------------------- labels


def label_parcels(parcels: Iterable[Parcel], *, actor) -> list[Parcel]:
    """Give packed parcels their tracking numbers (one draw per service); packed -> labelled.

    All or nothing: every parcel is checked (after locking the orders, then the parcels)
    before a number is drawn. A parcel whose carrier books through its API is booked with it
    (:mod:`erp.shipping.services.bookings`): the carrier's number and label.

    :raises ShippingError: naming a parcel that is not packed, is in a dispatch batch (its label
        was voided there: take it out first), whose order is on hold (naming the hold) or
        cancelled, whose service does not serve the order's country, whose customs lines do
        not add up, or when a service's tracking ranges run out.
    """
    parcels = list(dict.fromkeys(parcels))  # each parcel once
    orders = lock_parcels(parcels)
    zones: dict[tuple[int, str], str | None] = {}
    for parcel in parcels:
        order = orders[parcel.order_id]
        if parcel.state != P.packed:
            raise ShippingError(_("Parcel %(parcel)s is %(state)s; only packed parcels get a "
                                  "label (and a tracking number).", parcel=parcel.number,
                                  state=PARCEL_STATES.label(parcel.state)))
        if parcel.batch_id is not None:
            raise ShippingError(_(
                "Parcel %(parcel)s is in dispatch batch %(batch)s with a voided label: take it "
                "out of the batch first, then label it and scan the new label into a batch.",
                parcel=parcel.number, batch=parcel.batch.number))
        refusal = order_refusal(order)
        if refusal:
            raise ShippingError(_("Parcel %(parcel)s may not be labelled: %(why)s.",
                                  parcel=parcel.number, why=refusal))
        key = (parcel.service_id, order.country)
        if key not in zones:
            zones[key] = zone_of(parcel.service, order.country)
        if zones[key] is None:
            raise ShippingError(_(
                "Parcel %(parcel)s goes by %(service)s, which does not serve %(country)s (order "
                "%(order)s's address): void the parcel and pack it again with a service that "
                "does.", parcel=parcel.number, service=parcel.service.name,
                country=order.country, order=order.number))
        check_customs(parcel)
    by_service: dict[int, list[Parcel]] = defaultdict(list)
    to_book: list[Parcel] = []
    for parcel in parcels:
        if bookings.books_with_api(parcel):
            to_book.append(parcel)
        else:
            by_service[parcel.service_id].append(parcel)
    # the carriers' bookings first: nothing is written before every one came back
    booked = bookings.book(to_book, actor=actor)
    now = utcnow()
    drawn: list[tuple[Parcel, str]] = []
    for group in by_service.values():
        numbers = draw_numbers(group[0].service, len(group), actor=actor)
        drawn.extend(zip(group, numbers, strict=True))
    bookings.record(booked)
    drawn.extend((item.parcel, item.booking.tracking_number) for item in booked)
    if not drawn:
        return parcels
    quotes = _quotes([parcel for parcel, _number in drawn], orders, zones)
    # one executemany UPDATE and one audit INSERT (a wave's parcels are labelled together)
    table = Parcel.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("parcel_id"))
        .values(state=P.labelled.value, tracking_number=bindparam("tn"), labelled_at=now,
                quoted_cost=bindparam("q_cost", type_=table.c.quoted_cost.type),
                quoted_currency=bindparam("q_currency"), chargeable_g=bindparam("q_g")),
        [{"parcel_id": parcel.id, "tn": number, **quotes[parcel.id]}
         for parcel, number in drawn])
    for parcel, number in drawn:
        set_committed_value(parcel, "state", P.labelled)
        set_committed_value(parcel, "tracking_number", number)
        set_committed_value(parcel, "labelled_at", now)
        quote = quotes[parcel.id]
        set_committed_value(parcel, "quoted_cost", quote["q_cost"])
        set_committed_value(parcel, "quoted_currency", quote["q_currency"])
        set_committed_value(parcel, "chargeable_g", quote["q_g"])
    audit.record_many("parcel", f"parcel.{P.labelled.value}", [
        (parcel.id, parcel.number, {"state": [P.packed.value, P.labelled.value],
                                    "tracking_number": number})
        for parcel, number in drawn], actor=actor)
    return parcels


def _quotes(parcels: list[Parcel], orders: dict,
            zones: dict[tuple[int, str], str | None]) -> dict[int, dict]:
    """Return each parcel's rate-table quote at labelling, keyed by parcel id.

    ``{"q_cost", "q_currency", "q_g"}`` (the chargeable weight): the service's rate bands are
    read once for every (service, zone) of the parcels, and a quote is worked out once per
    (service, zone, chargeable weight).
    """
    keyed = {}
    for parcel in parcels:
        zone = zones.get((parcel.service_id, orders[parcel.order_id].country))
        keyed[parcel.id] = (parcel, zone)
    bands = rate_bands({(p.service_id, z) for p, z in keyed.values() if z is not None})
    cache: dict[tuple[int, str | None, int], tuple | None] = {}
    out = {}
    for parcel_id, (parcel, zone) in keyed.items():
        grams = chargeable_weight_g(parcel.service, parcel.weight_g, parcel.length_mm,
                                    parcel.width_mm, parcel.height_mm)
        key = (parcel.service_id, zone, grams)
        if key not in cache:
            cache[key] = (quote_from_bands(bands[(parcel.service_id, zone)], grams)
                          if zone is not None else None)
        found = cache[key]
        out[parcel_id] = {"q_cost": found[0] if found else None,
                          "q_currency": found[1] if found else None, "q_g": grams}
    return out


def label_parcel(parcel: Parcel, *, actor) -> Parcel:
    """Label one parcel; see :func:`label_parcels`."""
    return label_parcels([parcel], actor=actor)[0]


# --------------------------------------------------------------------------- voiding


def can_void(parcel: Parcel) -> bool:
    """Return whether the parcel may be voided now (packed or labelled, in no batch)."""
    return parcel.state in (P.packed, P.labelled) and parcel.batch_id is None


def void_parcel(parcel: Parcel, *, reason: str, actor) -> Parcel:
    """Void a parcel before dispatch: its goods become unpacked scans of the order again.

    The tracking number stays on the voided parcel (never drawn again). A packed order goes
    back to picking (:func:`erp.orders.services.mark_repacking`) to be packed anew.

    :raises ShippingError: without a reason, or if the parcel is dispatched, voided already, or
        in a dispatch batch (take it out of the batch first).
    :raises CarrierRefusedError: when the carrier refuses to cancel its booking (it collected
        the parcel already), with its reason; CarrierUnavailableError when it cannot be
        reached. The parcel is not voided then.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ShippingError(_("Give a reason to void parcel %(parcel)s.", parcel=parcel.number),
                            field="reason")
    if len(reason) > MAX_REASON:
        raise ShippingError(_("The reason may have at most %(most)s characters.",
                              most=MAX_REASON), field="reason")
    lock(parcel.order)  # the order first (a packed one goes back to picking), then the parcel
    lock(parcel)
    if parcel.state == P.dispatched:
        raise ShippingError(_("Parcel %(parcel)s was dispatched: it left with the carrier and "
                              "cannot be voided; handle it as a return.", parcel=parcel.number))
    if parcel.state == P.voided:
        raise ShippingError(_("Parcel %(parcel)s is already voided.", parcel=parcel.number))
    if parcel.batch_id is not None:
        batch = db.session.get(DispatchBatch, parcel.batch_id)
        raise ShippingError(_("Parcel %(parcel)s is in dispatch batch %(batch)s; take it out of "
                              "the batch before voiding it.", parcel=parcel.number,
                              batch=batch.number if batch else parcel.batch_id))
    cancelled = bookings.cancel(parcel, actor=actor) if parcel.state == P.labelled else {}
    void(parcel, reason=reason, actor=actor, changes=cancelled or None)
    order = parcel.order
    if order.state == OrderState.packed:
        mark_repacking(order, actor=actor,
                       reason=f"Parcel {parcel.number} voided: {reason}")
    return parcel


def void(parcel: Parcel, *, reason: str, actor, changes: dict | None = None) -> None:
    """Move a packed or labelled parcel to voided; its scans become unassigned again.

    The caller has locked the order and the parcel, and checked the rules. A parcel still in
    a dispatch batch stays in it, so closing the batch refuses it until it is taken out.
    """
    units = db.session.execute(
        update(PackScan).where(PackScan.parcel_id == parcel.id).values(parcel_id=None)
        .execution_options(synchronize_session="fetch")).rowcount
    parcel.voided_at = utcnow()
    parcel.void_reason = reason[:MAX_REASON]
    transition(parcel, P.voided, machine=PARCEL_STATES, actor=actor, note=reason,
               changes={"tracking_number": parcel.tracking_number, "scan_rows": units,
                        **(changes or {})})
    db.session.flush()


def refresh_destination(parcel: Parcel, *, ctx: CustomsContext | None = None) -> dict:
    """Recompute what the parcel's customs data takes from the address (IOSS, dutiable).

    :returns: ``{field: [old, new]}`` of what changed (already set on the parcel).
    :raises ShippingError: if the IOSS check needs an exchange rate nobody entered.
    """
    order = parcel.order
    ctx = ctx or CustomsContext(utcnow().date())
    values = {"dutiable": is_dutiable(order.country, ctx=ctx),
              "ioss_number": ioss_for(order, order.goods_total, order.currency, ctx.on,
                                      ctx=ctx)}
    changes = {name: [getattr(parcel, name), value] for name, value in values.items()
               if getattr(parcel, name) != value}
    for name, (_old, new) in changes.items():
        setattr(parcel, name, new)
    return changes


def void_label(parcel: Parcel, *, reason: str, actor, changes: dict | None = None,
               why: str | None = None) -> str:
    """Void the label of a labelled parcel (its address changed): labelled -> packed.

    The tracking number is taken off the parcel (its range never draws it again, and the audit
    event keeps it), so the parcel needs a new label. A parcel in a dispatch batch stays there:
    closing the batch refuses it until it is taken out, labelled again and scanned in. The
    caller has locked the order and the parcel.

    :param reason: kept in the audit event (English, as stored data is).
    :param why: the reason as the notice says it, in the reader's language (default
        ``reason``).
    :returns: a notice for the user.
    """
    old = PARCEL_STATES.check(parcel, P.packed)
    changes = {**(changes or {}), **bookings.cancel(parcel, actor=actor)}
    number = parcel.tracking_number
    parcel.state = P.packed
    parcel.tracking_number = None
    parcel.labelled_at = None
    audit.record(parcel, "parcel.label_voided", actor=actor, changes={
        "state": [old.value, P.packed.value], "tracking_number": [number, None],
        "reason": reason, **(changes or {})})
    db.session.flush()
    names = {"parcel": parcel.number, "label": number, "why": why or reason}
    if parcel.batch_id is not None:
        return _("Parcel %(parcel)s: its label %(label)s is void (%(why)s). Print a new label "
                 "and take it out of dispatch batch %(batch)s.", batch=parcel.batch.number,
                 **names)
    return _("Parcel %(parcel)s: its label %(label)s is void (%(why)s). Print a new label.",
             **names)


# --------------------------------------------------------------------------- finding


def find_parcel(text: str) -> Parcel | None:
    """Return the parcel with this tracking number (S10 typed any way) or parcel number."""
    raw = (text or "").strip().upper()
    if not raw:
        return None
    number = s10.normalise(raw)
    return db.session.scalar(select(Parcel).where(or_(
        Parcel.tracking_number == number, Parcel.number == raw)).order_by(Parcel.id).limit(1))


def parcel_history(parcel: Parcel, limit: int = 200) -> list[AuditEvent]:
    """Return the parcel's audit events, newest first."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "parcel",
                                 AuditEvent.entity_id == str(parcel.id))
        .options(selectinload(AuditEvent.actor))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))


def load_parcel(parcel_id: int) -> Parcel | None:
    """Return the parcel with its order, service, box and lines (with SKUs) loaded."""
    return db.session.scalar(select(Parcel).where(Parcel.id == parcel_id).options(
        selectinload(Parcel.lines).selectinload(ParcelLine.sku),
        selectinload(Parcel.order), selectinload(Parcel.service),
        selectinload(Parcel.box), selectinload(Parcel.batch)))


# --------------------------------------------------------------------------- the parcel list


@dataclass
class ParcelFilters:
    """The parcel list's search and filters.

    :param q: a tracking number (S10 typed with spaces or dashes too), a parcel number or an
        order number, or part of one (any case).
    :param state: a parcel state, or ``open`` (packed or labelled).
    :param service: a service code.
    :param date_from: packed on or after this day (UTC); ``date_to`` on or before it.
    :param before_cutoff: a local time ``HH:MM``: only parcels whose service's cut-off is later
        (those that can still leave today).
    """

    q: str | None = None
    state: str | None = None
    service: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    before_cutoff: str | None = None


def _filtered(stmt: Select, f: ParcelFilters) -> Select:
    if f.q:
        raw = f.q.strip().upper()
        number = s10.normalise(raw)
        stmt = stmt.where(or_(Parcel.tracking_number == number, Parcel.number == raw,
                              func.upper(Parcel.tracking_number).contains(number,
                                                                          autoescape=True),
                              func.upper(Parcel.number).contains(raw, autoescape=True),
                              func.upper(CustomerOrder.number).contains(raw, autoescape=True)))
    if f.state in PARCEL_STATES.groups:
        stmt = stmt.where(Parcel.state.in_(sorted(PARCEL_STATES.groups[f.state])))
    elif f.state in P.__members__:
        stmt = stmt.where(Parcel.state == P(f.state))
    if f.service:
        stmt = stmt.where(ShippingService.code == f.service)
    if f.before_cutoff:
        stmt = stmt.where(ShippingService.cutoff > f.before_cutoff)
    if f.date_from:
        stmt = stmt.where(Parcel.packed_at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(Parcel.packed_at < datetime.combine(
            f.date_to + timedelta(days=1), time.min, UTC))
    return stmt


def _joined(stmt: Select) -> Select:
    return (stmt.join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
            .join(ShippingService, ShippingService.id == Parcel.service_id))


def parcel_list_query(f: ParcelFilters) -> Select:
    """Return the parcels matching the filters, newest packed first, one row each.

    Columns: ``id, number, sequence, state, tracking_number, packed_at, labelled_at,
    dispatched_at, weight_g, length_mm, width_mm, height_mm, declared_value, currency,
    customs_form, ioss_number, dutiable, order_id, order_number, ship_name, country,
    service_code, service_name, carrier_code, batch_number``.
    """
    stmt = _joined(select(
        Parcel.id, Parcel.number, Parcel.sequence, Parcel.state, Parcel.tracking_number,
        Parcel.packed_at, Parcel.labelled_at, Parcel.dispatched_at, Parcel.weight_g,
        Parcel.length_mm, Parcel.width_mm, Parcel.height_mm, Parcel.declared_value,
        Parcel.currency, Parcel.customs_form, Parcel.ioss_number, Parcel.dutiable,
        Parcel.order_id, CustomerOrder.number.label("order_number"), CustomerOrder.ship_name,
        CustomerOrder.country, ShippingService.code.label("service_code"),
        ShippingService.name.label("service_name"), Carrier.code.label("carrier_code"),
        DispatchBatch.number.label("batch_number")))
    stmt = (stmt.join(Carrier, Carrier.id == ShippingService.carrier_id)
            .outerjoin(DispatchBatch, DispatchBatch.id == Parcel.batch_id)
            .order_by(Parcel.packed_at.desc(), Parcel.id.desc()))
    return _filtered(stmt, f)


def parcel_count_query(f: ParcelFilters) -> Select:
    """Return the number of parcels matching the filters."""
    return _filtered(_joined(select(func.count()).select_from(Parcel)), f)


def service_options() -> list[tuple[str, str]]:
    """Return ``(code, name)`` of every service, for the list's filter."""
    return list(db.session.execute(select(ShippingService.code, ShippingService.name)
                                   .order_by(ShippingService.code)).all())


def parcel_spec() -> Spec:
    """Return the columns of the parcel export, headed in the reader's language."""
    return Spec("parcels", _("Parcels"), (
        Column("number", _("Parcel"), width=18),
        Column("tracking_number", _("Tracking number"), width=20),
        Column("state", _("State"), width=12),
        Column("order_number", _("Order"), width=18),
        Column("sequence", _("No."), type="int", width=6),
        Column("ship_name", _("Addressee"), width=26),
        Column("country", _("Country"), width=8),
        Column("service_code", _("Service"), width=14),
        Column("carrier_code", _("Carrier"), width=10),
        Column("weight_g", _("Weight (g)"), type="int", width=10),
        Column("dimensions", _("L x W x H (mm)"), width=16),
        Column("declared_value", _("Declared value"), type="decimal", width=14),
        Column("currency", _("Currency"), width=8),
        Column("customs_form", _("Customs form"), width=12),
        Column("ioss_number", "IOSS", width=14),
        Column("dutiable", _("Dutiable"), width=8),
        Column("packed_at", _("Packed (UTC)"), type="auto", width=18),
        Column("labelled_at", _("Labelled (UTC)"), type="auto", width=18),
        Column("dispatched_at", _("Dispatched (UTC)"), type="auto", width=18),
        Column("batch_number", _("Batch"), width=18),
    ))


def export_parcels(filters: ParcelFilters, *,
                   progress: Callable[[int], None] | None = None) -> bytes:
    """Return the parcels matching the list's filters as an .xlsx workbook.

    ``progress(rows written)`` is called every few thousand rows (a background export).
    """
    rows = exports.counted(db.session.execute(
        parcel_list_query(filters).execution_options(yield_per=2000)), progress)
    yes, no = _("yes"), _("no")
    return export_workbook(parcel_spec(), ({
        "number": r.number, "tracking_number": r.tracking_number,
        "state": PARCEL_STATES.label(r.state), "order_number": r.order_number,
        "sequence": r.sequence, "ship_name": r.ship_name, "country": r.country,
        "service_code": r.service_code, "carrier_code": r.carrier_code,
        "weight_g": r.weight_g, "dimensions": f"{r.length_mm} x {r.width_mm} x {r.height_mm}",
        "declared_value": r.declared_value, "currency": r.currency,
        "customs_form": r.customs_form.value.upper() if r.customs_form else None,
        "ioss_number": r.ioss_number, "dutiable": yes if r.dutiable else no,
        "packed_at": r.packed_at, "labelled_at": r.labelled_at,
        "dispatched_at": r.dispatched_at, "batch_number": r.batch_number} for r in rows))


exports.register(exports.ListExport(
    "parcels", _l("Parcels"), "shipping.view", ParcelFilters,
    count=lambda f: db.session.scalar(parcel_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_parcels(f, progress=progress),
    filename="parcels"))
