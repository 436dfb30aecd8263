"""Read-side shipping queries: dispatch batch lists and the day board's figures.

Everything is counted and summed in SQL; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from sqlalchemy import BigInteger, Select, case, func, or_, select, type_coerce

from erp.core.i18n import _
from erp.core.models import User
from erp.core.types import Money
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.shipping.models import (
    BatchState,
    Carrier,
    DispatchBatch,
    Parcel,
    ParcelState,
    ShippingService,
)

P = ParcelState


def _money_sum(column):
    """Return an exact SQL sum of a Money column (stored as an integer of ten-thousandths)."""
    return type_coerce(func.sum(type_coerce(column, BigInteger)), Money())


# --------------------------------------------------------------------------- batches

@dataclass
class BatchFilters:
    """The batch list's search and filters.

    :param q: a batch number, or a parcel's tracking or parcel number (the batch holding it).
    :param carrier_id: batches of this carrier.
    :param state: ``open`` or ``closed``.
    :param date_from: opened on or after this day (UTC); ``date_to`` on or before it.
    """

    q: str | None = None
    carrier_id: int | None = None
    state: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _batch_filtered(stmt: Select, f: BatchFilters) -> Select:
    if f.q:
        text = f.q.strip().upper()
        compact = text.replace(" ", "")
        holding = select(Parcel.batch_id).where(
            Parcel.batch_id.is_not(None),
            or_(Parcel.tracking_number == compact, func.upper(Parcel.number) == text))
        stmt = stmt.where(or_(func.upper(DispatchBatch.number).contains(text, autoescape=True),
                              DispatchBatch.id.in_(holding)))
    if f.carrier_id:
        stmt = stmt.where(DispatchBatch.carrier_id == f.carrier_id)
    if f.state in BatchState.__members__:
        stmt = stmt.where(DispatchBatch.state == BatchState(f.state))
    if f.date_from:
        stmt = stmt.where(DispatchBatch.opened_at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(DispatchBatch.opened_at < datetime.combine(
            f.date_to + timedelta(days=1), time.min, UTC))
    return stmt


def batch_totals_query() -> Select:
    """Return ``(batch_id, parcels, weight_g)`` per batch."""
    return (select(Parcel.batch_id, func.count().label("parcels"),
                   func.sum(Parcel.weight_g).label("weight_g"))
            .where(Parcel.batch_id.is_not(None)).group_by(Parcel.batch_id))


def batch_list_query(f: BatchFilters) -> Select:
    """Return the batches matching the filters, newest first, one row each.

    Columns: ``id, number, state, opened_at, closed_at, note, carrier_code, carrier_name,
    opened_by, parcels, weight_g``.
    """
    totals = batch_totals_query().subquery()
    stmt = (select(DispatchBatch.id, DispatchBatch.number, DispatchBatch.state,
                   DispatchBatch.opened_at, DispatchBatch.closed_at, DispatchBatch.note,
                   Carrier.code.label("carrier_code"), Carrier.name.label("carrier_name"),
                   User.username.label("opened_by"),
                   func.coalesce(totals.c.parcels, 0).label("parcels"),
                   func.coalesce(totals.c.weight_g, 0).label("weight_g"))
            .join(Carrier, Carrier.id == DispatchBatch.carrier_id)
            .outerjoin(User, User.id == DispatchBatch.opened_by_id)
            .outerjoin(totals, totals.c.batch_id == DispatchBatch.id)
            .order_by(DispatchBatch.opened_at.desc(), DispatchBatch.id.desc()))
    return _batch_filtered(stmt, f)


def batch_count_query(f: BatchFilters) -> Select:
    """Return the number of batches matching the filters."""
    return _batch_filtered(select(func.count()).select_from(DispatchBatch), f)


def batch_parcels_query(batch_id: int) -> Select:
    """Return the parcels of a batch in scan order (by id), with their order and service.

    Columns: ``id, number, tracking_number, state, weight_g, declared_value, currency,
    customs_form, order_id, order_number, ship_name, country, service_code, service_name``.
    """
    return (select(Parcel.id, Parcel.number, Parcel.tracking_number, Parcel.state,
                   Parcel.weight_g, Parcel.declared_value, Parcel.currency, Parcel.customs_form,
                   CustomerOrder.id.label("order_id"), CustomerOrder.number.label("order_number"),
                   CustomerOrder.ship_name, CustomerOrder.country,
                   ShippingService.code.label("service_code"),
                   ShippingService.name.label("service_name"))
            .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
            .join(ShippingService, ShippingService.id == Parcel.service_id)
            .where(Parcel.batch_id == batch_id)
            .order_by(Parcel.id))


@dataclass
class BatchTotals:
    """A batch's parcels, weight and declared value per currency."""

    parcels: int
    weight_g: int
    declared: dict[str, Decimal]

    @property
    def weight_kg(self) -> Decimal:
        """Return the weight in kg (3 decimals)."""
        return (Decimal(self.weight_g) / 1000).quantize(Decimal("0.001"))


def batch_totals(batch_id: int) -> BatchTotals:
    """Return the totals of one batch (two aggregate queries)."""
    parcels, weight = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Parcel.weight_g), 0))
        .where(Parcel.batch_id == batch_id)).one()
    declared = dict(db.session.execute(
        select(Parcel.currency, _money_sum(Parcel.declared_value))
        .where(Parcel.batch_id == batch_id).group_by(Parcel.currency)
        .order_by(Parcel.currency)).all())
    return BatchTotals(parcels=int(parcels), weight_g=int(weight or 0), declared=declared)


def waiting_parcel_count(carrier_id: int) -> int:
    """Return how many labelled parcels of the carrier's services are in no batch yet."""
    return db.session.scalar(
        select(func.count()).select_from(Parcel)
        .join(ShippingService, ShippingService.id == Parcel.service_id)
        .where(ShippingService.carrier_id == carrier_id, Parcel.state == P.labelled,
               Parcel.batch_id.is_(None))) or 0


def carrier_options(*, active_only: bool = False) -> list[Carrier]:
    """Return the carriers, by name (for filters and the open-batch form)."""
    stmt = select(Carrier).order_by(Carrier.name)
    if active_only:
        stmt = stmt.where(Carrier.active.is_(True))
    return list(db.session.scalars(stmt))


def open_batches() -> list:
    """Return the open batches (rows of :func:`batch_list_query`), oldest first."""
    stmt = batch_list_query(BatchFilters(state=BatchState.open.value)).order_by(None).order_by(
        DispatchBatch.opened_at, DispatchBatch.id)
    return list(db.session.execute(stmt).all())


# --------------------------------------------------------------------------- day board

WAITING_STATES = (OrderState.allocated, OrderState.picking, OrderState.packed)


@dataclass
class ServiceRow:
    """One line of the board: a requested service, its orders waiting and its cut-off."""

    code: str | None
    name: str
    carrier: str
    cutoff: str | None
    cutoff_passed: bool
    allocated: int
    picking: int
    packed: int
    packed_today: int = 0
    dispatched_today: int = 0

    @property
    def waiting(self) -> int:
        """Return all orders waiting to leave with this service."""
        return self.allocated + self.picking + self.packed


@dataclass
class Board:
    """The day board's figures at ``now`` (local time of the warehouse)."""

    now: datetime
    services: list[ServiceRow]
    packed_today: int
    dispatched_today: int
    open_batches: list

    @property
    def waiting(self) -> dict[str, int]:
        """Return the orders waiting in each state, over every service."""
        return {"allocated": sum(r.allocated for r in self.services),
                "picking": sum(r.picking for r in self.services),
                "packed": sum(r.packed for r in self.services)}


def cutoff_passed(cutoff: str | None, now: datetime) -> bool:
    """Return whether the ``HH:MM`` cut-off has passed at ``now`` (a local time)."""
    try:
        hours, minutes = (int(part) for part in (cutoff or "").split(":"))
        return (now.hour, now.minute) >= (hours, minutes)
    except ValueError:
        return False


def day_start(now: datetime) -> datetime:
    """Return the start of ``now``'s day (midnight in ``now``'s time zone), in UTC."""
    return datetime.combine(now.date(), time.min, now.tzinfo).astimezone(UTC)


def waiting_by_service_query() -> Select:
    """Return ``(service, allocated, picking, packed)`` of orders waiting, per requested service."""
    def count(state: OrderState):
        return func.coalesce(func.sum(case((CustomerOrder.state == state, 1), else_=0)), 0)

    return (select(CustomerOrder.shipping_service.label("service"),
                   count(OrderState.allocated).label("allocated"),
                   count(OrderState.picking).label("picking"),
                   count(OrderState.packed).label("packed"))
            .where(CustomerOrder.state.in_(WAITING_STATES))
            .group_by(CustomerOrder.shipping_service))


def parcels_today_query(since: datetime) -> Select:
    """Return ``(service_id, packed, dispatched)`` per service: parcels since ``since``.

    Voided parcels do not count as packed.
    """
    packed = func.coalesce(func.sum(case(
        ((Parcel.packed_at >= since) & (Parcel.state != P.voided), 1), else_=0)), 0)
    dispatched = func.coalesce(func.sum(case(
        ((Parcel.state == P.dispatched) & (Parcel.dispatched_at >= since), 1), else_=0)), 0)
    return (select(Parcel.service_id, packed.label("packed"), dispatched.label("dispatched"))
            .where(or_(Parcel.packed_at >= since, Parcel.dispatched_at >= since))
            .group_by(Parcel.service_id))


def day_board(now: datetime | None = None, tz: tzinfo | None = None) -> Board:
    """Return the day board: orders waiting per service with its cut-off, today's parcels.

    :param now: the moment to show (default: now); "today" and the cut-offs are read in its time
        zone, else in ``tz``, else in the server's local time zone (where the warehouse is).
    """
    if now is None:
        now = datetime.now(tz) if tz is not None else datetime.now().astimezone()
    elif tz is not None:
        now = now.astimezone(tz)
    elif now.tzinfo is None:
        now = now.astimezone()  # a naive time is the server's local time
    since = day_start(now)
    services = {s.code: s for s in db.session.scalars(
        select(ShippingService).join(Carrier, Carrier.id == ShippingService.carrier_id)
        .order_by(ShippingService.code))}
    carriers = {c.id: c.name for c in db.session.scalars(select(Carrier))}
    today = {r.service_id: r for r in db.session.execute(parcels_today_query(since))}
    rows: dict[str | None, ServiceRow] = {}
    for service in services.values():
        if service.active:
            rows[service.code] = ServiceRow(
                service.code, service.name, carriers.get(service.carrier_id, ""), service.cutoff,
                cutoff_passed(service.cutoff, now), 0, 0, 0)
    for r in db.session.execute(waiting_by_service_query()):
        row = rows.get(r.service)
        if row is None:
            service = services.get(r.service)
            row = rows[r.service] = ServiceRow(
                r.service, service.name if service else _("(unknown or no service)"),
                carriers.get(service.carrier_id, "") if service else "",
                service.cutoff if service else None,
                cutoff_passed(service.cutoff, now) if service else False, 0, 0, 0)
        row.allocated, row.picking, row.packed = int(r.allocated), int(r.picking), int(r.packed)
    for service_id, figures in today.items():
        service = next((s for s in services.values() if s.id == service_id), None)
        if service is not None and service.code in rows:
            rows[service.code].packed_today = int(figures.packed)
            rows[service.code].dispatched_today = int(figures.dispatched)
    ordered = sorted(rows.values(), key=lambda r: (r.cutoff is None, r.cutoff or "",
                                                   r.code or ""))
    return Board(now=now, services=ordered,
                 packed_today=sum(int(r.packed) for r in today.values()),
                 dispatched_today=sum(int(r.dispatched) for r in today.values()),
                 open_batches=open_batches())


# --------------------------------------------------------------------------- what was shipped
# (after-sales asks these: it may open a case only on what left the warehouse)

def shipped_quantities(order_ids) -> dict[int, int]:
    """Return ``{order line id: units in dispatched parcels}`` for the orders."""
    from erp.shipping.models import ParcelLine

    ids = list(order_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(ParcelLine.order_line_id, func.sum(ParcelLine.quantity))
        .join(Parcel, Parcel.id == ParcelLine.parcel_id)
        .where(Parcel.order_id.in_(ids), Parcel.state == P.dispatched)
        .group_by(ParcelLine.order_line_id))
    return {line_id: int(qty) for line_id, qty in rows}


def shipped_at(order_id: int) -> datetime | None:
    """Return when the order's last parcel was dispatched (None if none was)."""
    return db.session.scalar(select(func.max(Parcel.dispatched_at)).where(
        Parcel.order_id == order_id, Parcel.state == P.dispatched))


def delivered_at(order_id: int) -> datetime | None:
    """Return when the order's last dispatched parcel was delivered (None until all were)."""
    count, delivered, last = db.session.execute(
        select(func.count(), func.count(Parcel.delivered_at), func.max(Parcel.delivered_at))
        .where(Parcel.order_id == order_id, Parcel.state == P.dispatched)).one()
    return last if count and count == delivered else None


def order_parcels(order_id: int) -> list[Parcel]:
    """Return the order's parcels (voided ones too), in packing order."""
    return list(db.session.scalars(select(Parcel).where(Parcel.order_id == order_id)
                                   .order_by(Parcel.sequence, Parcel.id)))


def order_ids_by_tracking(text: str) -> Select:
    """Return a query of the ids of orders whose parcel has this tracking or parcel number."""
    from erp.shipping import s10

    return select(Parcel.order_id).where(or_(Parcel.tracking_number == s10.normalise(text),
                                             Parcel.number == text.strip().upper()))
