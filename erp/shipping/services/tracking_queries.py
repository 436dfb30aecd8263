"""Reads of tracking after dispatch: the exception queue, counts for the home cards.

The exception queue lists the dispatched parcels whose carrier reported a problem (tracking
status ``exception``), the longest waiting first, with their order, the last event and how many
days ago it happened: customer service works it (contacts the consumer, the carrier, or opens a
case). Other helpers (after-sales) read the lost-parcel candidates here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, or_, select

from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping import s10
from erp.shipping.carriers.base import TrackingStatus
from erp.shipping.models import (
    FINAL_TRACKING,
    Carrier,
    Parcel,
    ParcelState,
    ParcelTrackingEvent,
    ShippingService,
)


@dataclass
class ExceptionFilters:
    """The exception queue's search and filters.

    :param q: a tracking, parcel or order number (or part of one).
    :param carrier: a carrier code.
    :param min_days: only parcels whose last event is at least this many days old.
    """

    q: str | None = None
    carrier: str | None = None
    min_days: int | None = None


def _last(column):
    return (select(column).where(ParcelTrackingEvent.parcel_id == Parcel.id)
            .order_by(ParcelTrackingEvent.occurred_at.desc(), ParcelTrackingEvent.id.desc())
            .limit(1).correlate(Parcel).scalar_subquery())


def _filtered(stmt: Select, f: ExceptionFilters, *, now: datetime | None = None) -> Select:
    stmt = stmt.where(Parcel.state == ParcelState.dispatched,
                      Parcel.tracking_status == TrackingStatus.exception)
    if f.q:
        raw = f.q.strip().upper()
        number = s10.normalise(raw)
        stmt = stmt.where(or_(func.upper(Parcel.tracking_number).contains(number,
                                                                          autoescape=True),
                              func.upper(Parcel.number).contains(raw, autoescape=True),
                              func.upper(CustomerOrder.number).contains(raw, autoescape=True)))
    if f.carrier:
        stmt = stmt.where(Carrier.code == f.carrier)
    if f.min_days:
        since = (now or datetime.now(UTC)) - timedelta(days=f.min_days)
        stmt = stmt.where(Parcel.last_tracking_at <= since)
    return stmt


def _joined(stmt: Select) -> Select:
    return (stmt.join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
            .join(ShippingService, ShippingService.id == Parcel.service_id)
            .join(Carrier, Carrier.id == ShippingService.carrier_id))


def exception_queue_query(f: ExceptionFilters) -> Select:
    """Return the parcels in exception, the longest waiting first.

    Columns: ``id, number, tracking_number, last_tracking_at, dispatched_at, order_id,
    order_number, ship_name, country, email, carrier_code, service_code, last_code,
    last_description, last_location``.
    """
    stmt = _joined(select(
        Parcel.id, Parcel.number, Parcel.tracking_number, Parcel.last_tracking_at,
        Parcel.dispatched_at, Parcel.order_id, CustomerOrder.number.label("order_number"),
        CustomerOrder.ship_name, CustomerOrder.country, CustomerOrder.email,
        Carrier.code.label("carrier_code"), ShippingService.code.label("service_code"),
        _last(ParcelTrackingEvent.code).label("last_code"),
        _last(ParcelTrackingEvent.description).label("last_description"),
        _last(ParcelTrackingEvent.location).label("last_location")))
    return _filtered(stmt, f).order_by(Parcel.last_tracking_at, Parcel.id)


def exception_count_query(f: ExceptionFilters) -> Select:
    """Return the number of parcels in the queue with these filters."""
    return _filtered(_joined(select(func.count()).select_from(Parcel)), f)


def days_since(moment: datetime | None, now: datetime | None = None) -> int | None:
    """Return whole days from ``moment`` to now (None without a moment)."""
    if moment is None:
        return None
    return max(0, ((now or datetime.now(UTC)) - moment).days)


def carrier_options() -> list[tuple[str, str]]:
    """Return ``(code, name)`` of every carrier, for the queue's filter."""
    return list(db.session.execute(select(Carrier.code, Carrier.name)
                                   .order_by(Carrier.code)).all())


def exception_spec() -> Spec:
    """Return the columns of the exception queue's export, headed in the reader's language."""
    return Spec("tracking-exceptions", _("Tracking exceptions"), (
        Column("number", _("Parcel"), width=18),
        Column("tracking_number", _("Tracking number"), width=20),
        Column("order_number", _("Order"), width=18),
        Column("ship_name", _("Addressee"), width=26),
        Column("country", _("Country"), width=8),
        Column("email", _("Email"), width=26),
        Column("carrier_code", _("Carrier"), width=10),
        Column("service_code", _("Service"), width=14),
        Column("last_tracking_at", _("Last event (UTC)"), type="auto", width=18),
        Column("days", _("Days since"), type="int", width=10),
        Column("last_code", _("Event code"), width=10),
        Column("last_description", _("Last event"), width=36),
        Column("last_location", _("Location"), width=18),
    ))


def export_exceptions(filters: ExceptionFilters, *,
                      progress: Callable[[int], None] | None = None) -> bytes:
    """Return the exception queue with these filters as an .xlsx workbook."""
    now = datetime.now(UTC)
    rows = exports.counted(db.session.execute(
        exception_queue_query(filters).execution_options(yield_per=2000)), progress)
    return export_workbook(exception_spec(), ({
        **r._asdict(), "days": days_since(r.last_tracking_at, now)} for r in rows))


exports.register(exports.ListExport(
    "tracking_exceptions", _l("Tracking exceptions"), "shipping.exceptions", ExceptionFilters,
    count=lambda f: db.session.scalar(exception_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_exceptions(f, progress=progress),
    filename="tracking-exceptions"))


def on_the_way_count() -> int:
    """Return how many dispatched parcels are not delivered or returned yet."""
    return db.session.scalar(
        select(func.count()).select_from(Parcel)
        .where(Parcel.state == ParcelState.dispatched,
               or_(Parcel.tracking_status.is_(None),
                   Parcel.tracking_status.not_in(list(FINAL_TRACKING))))) or 0


def exception_count() -> int:
    """Return how many dispatched parcels are in exception."""
    return db.session.scalar(exception_count_query(ExceptionFilters())) or 0


def silent_parcels(now: datetime | None = None) -> list[tuple[int, int]]:
    """Return ``(parcel id, days silent)`` of the parcels the carrier has been silent about.

    Silent: dispatched, not delivered or returned, and no event for their service's
    ``lost_after_days`` (since their last event, or since dispatch without one). The days are
    counted in Python over the candidates older than the shortest setting, alike on both
    databases.
    """
    now = now or datetime.now(UTC)
    shortest = db.session.scalar(select(func.min(ShippingService.lost_after_days))) or 0
    last = func.coalesce(Parcel.last_tracking_at, Parcel.dispatched_at)
    rows = db.session.execute(
        select(Parcel.id, last.label("since"), ShippingService.lost_after_days)
        .join(ShippingService, ShippingService.id == Parcel.service_id)
        .where(Parcel.state == ParcelState.dispatched,
               or_(Parcel.tracking_status.is_(None),
                   Parcel.tracking_status.not_in(list(FINAL_TRACKING))),
               last <= now - timedelta(days=max(shortest, 1)))
        .order_by(Parcel.id)).all()
    found = []
    for pid, since, days in rows:
        if since.tzinfo is None:  # coalesce() loses the column type on some backends
            since = since.replace(tzinfo=UTC)
        silent = (now - since).days
        if days > 0 and silent >= days:
            found.append((pid, silent))
    return found
