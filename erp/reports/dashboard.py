"""The manager dashboard's figures: one period and a comparison period, all from SQL aggregates.

Everything is counted and summed in SQL (GROUP BY); Python only lines up the small grouped
results. The rules, as the page states them:

- **Days** are UTC days, as the list filters read them (``/orders/?date_from=...``).
- **Orders received**: orders placed in the period, per day placed.
- **Orders shipped**: orders with a parcel dispatched in the period, on the day of their last
  parcel dispatched in the period.
- **Parcels** by destination country and by service: parcels dispatched in the period.
- **On-time dispatch**: an order is on time when its last parcel (in the period) was dispatched
  by the cut-off (:attr:`ShippingService.cutoff`, ``HH:MM`` local time of the warehouse) of the
  day the order was placed, or of the next day when it was placed after that cut-off. An order
  split over services is held to the earliest cut-off. Times are compared in the warehouse's
  local time (the server's UTC offset now, as the day board reads it), to the minute.
- **Backorders**: orders in state backordered, oldest placed first (top 20, and the count).
- **Stock value**: on hand (stock levels, which exist in physical bins only) x the SKU's
  moving-average cost, now; by brand and by category.
- **Slow movers**: SKUs with stock on hand and no units shipped (``ship`` moves to the customer)
  in the last ``N`` days (default 90), top 20 by stock value, with their count and value.
- **Open purchase orders**: approved, ordered or partially received; value still to receive
  (quantity - received - cancelled, never below zero, x unit price) per currency.
- **Supplier on-time rate**: posted receipts in the period dated on or before the expected date
  of every line they deliver (the line's, else the order's), over the receipts that had an
  expected date (:func:`erp.procurement.supplier_queries.supplier_performance`).
- **Return rate and refunds by reason**: :mod:`erp.aftersales.reports` (units returned over units
  shipped in the period); refunds approved in the period, by the case's reason and currency.
- **Margin**: of the orders placed in the period and shipped, in the base currency
  (:mod:`erp.reports.margin`, whose rules the margin screen lists), and margin over revenue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, case, func, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from erp.aftersales import reports as aftersales_reports
from erp.aftersales.models import AfterSalesCase, ReasonCode, Refund, RefundState
from erp.core.types import Money
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.procurement import queries as procurement_queries
from erp.procurement.supplier_queries import supplier_performance
from erp.shipping.models import Parcel, ParcelLine, ParcelState, ShippingService
from erp.warehouse import queries as warehouse_queries

#: how many rows the backorder and slow-mover lists show
TOP = 20
DEFAULT_DAYS = 30
DEFAULT_SLOW_DAYS = 90
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


# --------------------------------------------------------------------------- SQL helpers


class epoch_seconds(FunctionElement):  # noqa: N801 - used like a SQL function
    """Whole seconds since 1970-01-01 of a (naive UTC) timestamp column, on both databases."""

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw):
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


def _day(number) -> date:
    """Return the date of a day number (days since 1970-01-01)."""
    return date.fromordinal(_EPOCH_ORDINAL + int(number))


def _money_sum(raw):
    """Return an exact SQL sum of an expression in ten-thousandths, as a Decimal."""
    return type_coerce(func.sum(raw), Money())


def _raw(column):
    return type_coerce(column, BigInteger)


def _cutoff_minutes(text: str | None) -> int:
    """Return minutes after midnight of an ``HH:MM`` cut-off (end of day when unreadable)."""
    try:
        hours, minutes = (int(part) for part in (text or "").split(":"))
    except ValueError:
        return 24 * 60 - 1
    return max(0, min(24 * 60 - 1, hours * 60 + minutes))


def local_offset_minutes() -> int:
    """Return the server's UTC offset now, in minutes (where the warehouse is)."""
    offset = datetime.now().astimezone().utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


# --------------------------------------------------------------------------- periods


@dataclass(frozen=True)
class Period:
    """Days ``date_from`` .. ``date_to``, both included (UTC days)."""

    date_from: date
    date_to: date

    @property
    def start(self) -> datetime:
        """The first moment of the period (UTC)."""
        return datetime.combine(self.date_from, time.min, UTC)

    @property
    def end(self) -> datetime:
        """The first moment after the period."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, UTC)

    @property
    def days(self) -> int:
        """The number of days in the period."""
        return (self.date_to - self.date_from).days + 1

    def each_day(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.date_from + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> Period:
        """Return the period of the same length just before this one."""
        return Period(self.date_from - timedelta(days=self.days),
                      self.date_from - timedelta(days=1))


def default_period(today: date | None = None) -> Period:
    """Return the last 30 days, today included."""
    today = today or datetime.now(UTC).date()
    return Period(today - timedelta(days=DEFAULT_DAYS - 1), today)


def ratio(part: int, whole: int) -> Decimal | None:
    """Return ``part / whole`` (None when ``whole`` is zero)."""
    return (Decimal(part) / Decimal(whole)) if whole else None


# --------------------------------------------------------------------------- period figures


@dataclass
class PeriodFigures:
    """Everything the dashboard shows for one period."""

    period: Period
    received_per_day: dict[date, int] = field(default_factory=dict)
    shipped_per_day: dict[date, int] = field(default_factory=dict)
    on_time_per_day: dict[date, int] = field(default_factory=dict)
    parcels_by_country: list[tuple[str, int]] = field(default_factory=list)
    parcels_by_service: list[tuple[str, str, int]] = field(default_factory=list)
    supplier_receipts: int = 0
    supplier_on_time: int = 0
    units_shipped: int = 0
    units_returned: int = 0
    returns_by_reason: list = field(default_factory=list)  # RateRow (key = reason code)
    reason_ids: dict[str, int] = field(default_factory=dict)  # reason code -> id (for links)
    refunds_by_reason: list[dict] = field(default_factory=list)
    refunds: dict[str, Decimal] = field(default_factory=dict)
    refund_count: int = 0
    #: the margin of the orders placed in the period (erp.reports.margin): its total row
    margin: object = None

    @property
    def orders_received(self) -> int:
        """Orders placed in the period."""
        return sum(self.received_per_day.values())

    @property
    def orders_shipped(self) -> int:
        """Orders shipped in the period."""
        return sum(self.shipped_per_day.values())

    @property
    def orders_on_time(self) -> int:
        """Orders shipped on time in the period."""
        return sum(self.on_time_per_day.values())

    @property
    def on_time_rate(self) -> Decimal | None:
        """Orders shipped on time over orders shipped."""
        return ratio(self.orders_on_time, self.orders_shipped)

    @property
    def parcels(self) -> int:
        """Parcels dispatched in the period."""
        return sum(n for _, n in self.parcels_by_country)

    @property
    def supplier_on_time_rate(self) -> Decimal | None:
        """Receipts on time over receipts with an expected date."""
        return ratio(self.supplier_on_time, self.supplier_receipts)

    @property
    def return_rate(self) -> Decimal | None:
        """Units returned over units shipped."""
        return ratio(self.units_returned, self.units_shipped)


def orders_received_per_day(period: Period) -> dict[date, int]:
    """Return ``{day: orders placed}`` (days without orders left out)."""
    day = epoch_seconds(CustomerOrder.placed_at) // 86400
    rows = db.session.execute(
        select(day.label("day"), func.count())
        .where(CustomerOrder.placed_at >= period.start, CustomerOrder.placed_at < period.end)
        .group_by(day))
    return {_day(d): int(n) for d, n in rows}


def dispatch_timeliness(period: Period, offset_minutes: int | None = None
                        ) -> tuple[dict[date, int], dict[date, int]]:
    """Return ``({day: orders shipped}, {day: of them on time})`` (see the module's rules).

    Per order (its parcels dispatched in the period): the last dispatch and the earliest
    cut-off, joined to when it was placed; the on-time test is integer arithmetic on minutes
    since 1970 in local time, grouped by the UTC day of the last dispatch.
    """
    offset = local_offset_minutes() if offset_minutes is None else offset_minutes
    cutoffs = {sid: _cutoff_minutes(text) for sid, text in db.session.execute(
        select(ShippingService.id, ShippingService.cutoff))}
    cutoff = (case(cutoffs, value=Parcel.service_id, else_=24 * 60 - 1) if cutoffs
              else 24 * 60 - 1)
    per_order = (select(Parcel.order_id.label("order_id"),
                        func.max(epoch_seconds(Parcel.dispatched_at)).label("sent"),
                        func.min(cutoff).label("cutoff"))
                 .where(Parcel.state == ParcelState.dispatched,
                        Parcel.dispatched_at >= period.start, Parcel.dispatched_at < period.end)
                 .group_by(Parcel.order_id).subquery())
    placed = (epoch_seconds(CustomerOrder.placed_at) + offset * 60) // 60  # local minutes
    placed_day = placed // 1440
    late_placed = case((placed - placed_day * 1440 > per_order.c.cutoff, 1440), else_=0)
    deadline = placed_day * 1440 + per_order.c.cutoff + late_placed
    sent = (per_order.c.sent + offset * 60) // 60
    day = per_order.c.sent // 86400
    rows = db.session.execute(
        select(day.label("day"), func.count(),
               func.sum(case((sent <= deadline, 1), else_=0)))
        .select_from(per_order)
        .join(CustomerOrder, CustomerOrder.id == per_order.c.order_id)
        .group_by(day))
    shipped, on_time = {}, {}
    for d, n, ok in rows:
        shipped[_day(d)] = int(n)
        on_time[_day(d)] = int(ok or 0)
    return shipped, on_time


def _dispatched(period: Period):
    return (Parcel.state == ParcelState.dispatched, Parcel.dispatched_at >= period.start,
            Parcel.dispatched_at < period.end)


def parcels_by_country(period: Period) -> list[tuple[str, int]]:
    """Return ``[(country, parcels dispatched)]``, most first."""
    n = func.count()
    return [(c, int(k)) for c, k in db.session.execute(
        select(CustomerOrder.country, n).select_from(Parcel)
        .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
        .where(*_dispatched(period)).group_by(CustomerOrder.country)
        .order_by(n.desc(), CustomerOrder.country))]


def parcels_by_service(period: Period) -> list[tuple[str, str, int]]:
    """Return ``[(service code, name, parcels dispatched)]``, most first."""
    counts = (select(Parcel.service_id, func.count().label("n")).where(*_dispatched(period))
              .group_by(Parcel.service_id).subquery())
    return [(code, name, int(k)) for code, name, k in db.session.execute(
        select(ShippingService.code, ShippingService.name, counts.c.n)
        .join(counts, counts.c.service_id == ShippingService.id)
        .order_by(counts.c.n.desc(), ShippingService.code))]


def units_shipped(period: Period) -> int:
    """Return the units in parcels dispatched in the period (the return rate's denominator)."""
    return int(db.session.scalar(
        select(func.coalesce(func.sum(ParcelLine.quantity), 0))
        .join(Parcel, Parcel.id == ParcelLine.parcel_id).where(*_dispatched(period))) or 0)


def refunds_by_reason(period: Period) -> list[dict]:
    """Return the refunds approved in the period by case reason and currency, largest first."""
    total = _money_sum(_raw(Refund.amount))
    rows = db.session.execute(
        select(ReasonCode.id, ReasonCode.code, ReasonCode.name, Refund.currency,
               total.label("amount"), func.count().label("n"))
        .select_from(Refund)
        .join(AfterSalesCase, AfterSalesCase.id == Refund.case_id)
        .join(ReasonCode, ReasonCode.id == AfterSalesCase.reason_id)
        .where(Refund.state == RefundState.approved, Refund.decided_at >= period.start,
               Refund.decided_at < period.end)
        .group_by(ReasonCode.id, ReasonCode.code, ReasonCode.name, Refund.currency))
    result = [{"reason_id": r.id, "code": r.code, "name": r.name, "currency": r.currency,
               "amount": Decimal(r.amount or 0).quantize(Decimal("0.01")), "count": int(r.n)}
              for r in rows]
    return sorted(result, key=lambda r: (r["currency"], -r["amount"], r["code"]))


def period_figures(period: Period, *, offset_minutes: int | None = None,
                   margin: bool = True) -> PeriodFigures:
    """Return every figure of one period (the margin too unless ``margin`` is False)."""
    figures = PeriodFigures(period)
    figures.received_per_day = orders_received_per_day(period)
    figures.shipped_per_day, figures.on_time_per_day = dispatch_timeliness(period,
                                                                           offset_minutes)
    figures.parcels_by_country = parcels_by_country(period)
    figures.parcels_by_service = parcels_by_service(period)
    for p in supplier_performance(period.date_from, period.date_to):
        figures.supplier_receipts += p.timed_receipts
        figures.supplier_on_time += p.on_time_receipts
    figures.units_shipped = units_shipped(period)
    figures.returns_by_reason = [r for r in aftersales_reports.return_rates(
        "reason", period.date_from, period.date_to) if r.returned]
    figures.units_returned = sum(r.returned for r in figures.returns_by_reason)
    if figures.returns_by_reason:
        figures.reason_ids = dict(db.session.execute(select(ReasonCode.code, ReasonCode.id)).all())
    figures.refunds_by_reason = refunds_by_reason(period)
    for r in figures.refunds_by_reason:
        figures.refunds[r["currency"]] = figures.refunds.get(r["currency"], Decimal(0)) \
            + r["amount"]
        figures.refund_count += r["count"]
    if margin:
        from erp.reports.margin import margin_totals  # margin reads this module's SQL helpers

        figures.margin = margin_totals(period.date_from, period.date_to).total
    return figures


# --------------------------------------------------------------------------- stock and orders now


@dataclass
class Snapshot:
    """The figures that describe now rather than a period."""

    backorders: list
    backorder_count: int
    stock_by_brand: list[dict]
    stock_by_category: list[dict]
    stock_value: Decimal
    stock_units: int
    slow_movers: list
    slow_mover_count: int
    slow_mover_value: Decimal
    slow_days: int
    open_pos: list[dict]
    open_po_count: int
    open_po_value: dict[str, Decimal]


def stock_value_split() -> tuple[list[dict], list[dict], int, Decimal]:
    """Return stock value by brand and by category, units and value in all (one query)."""
    rows = db.session.execute(warehouse_queries.stock_value_by_brand_category_query()).all()
    brands: dict[str, dict] = {}
    categories: dict[str, dict] = {}
    units, value = 0, Decimal(0)
    for r in rows:
        amount = r.value or Decimal(0)
        for target, key, name in ((brands, r.brand_code, r.brand_name),
                                  (categories, r.category_code, r.category_name)):
            entry = target.setdefault(key, {"key": key, "name": name, "on_hand": 0,
                                            "value": Decimal(0)})
            entry["on_hand"] += int(r.on_hand or 0)
            entry["value"] += amount
        units += int(r.on_hand or 0)
        value += amount

    def ordered(entries: dict) -> list[dict]:
        return sorted(entries.values(), key=lambda e: (-e["value"], e["key"]))

    return ordered(brands), ordered(categories), units, value


def snapshot(*, slow_days: int = DEFAULT_SLOW_DAYS, now: datetime | None = None) -> Snapshot:
    """Return the figures of now: backorders, stock value, slow movers, open purchase orders."""
    from erp.orders import queries as order_queries

    now = now or datetime.now(UTC)
    backorders = db.session.execute(order_queries.backordered_orders_query().limit(TOP)).all()
    backorder_count = order_queries.count_in_states(order_queries.OrderState.backordered)
    by_brand, by_category, units, value = stock_value_split()
    since = now - timedelta(days=slow_days)
    slow = warehouse_queries.slow_movers_query(since).subquery()
    # One pass: the top rows, with the count and value of all of them as window totals.
    slow_movers = db.session.execute(
        select(slow, func.count().over().label("all_count"),
               type_coerce(func.sum(_raw(slow.c.value)).over(), Money()).label("all_value"))
        .order_by(slow.c.value.desc(), slow.c.sku_code).limit(TOP)).all()
    slow_count = slow_movers[0].all_count if slow_movers else 0
    slow_value = slow_movers[0].all_value if slow_movers else Decimal(0)
    open_pos = procurement_queries.open_purchase_orders_summary()
    open_value: dict[str, Decimal] = {}
    for r in open_pos:
        open_value[r["currency"]] = open_value.get(r["currency"], Decimal(0)) + r["open_value"]
    return Snapshot(
        backorders=backorders, backorder_count=backorder_count, stock_by_brand=by_brand,
        stock_by_category=by_category, stock_value=value, stock_units=units,
        slow_movers=slow_movers, slow_mover_count=int(slow_count or 0),
        slow_mover_value=slow_value or Decimal(0), slow_days=slow_days, open_pos=open_pos,
        open_po_count=sum(r["orders"] for r in open_pos),
        open_po_value=open_value)


@dataclass
class Dashboard:
    """The whole dashboard: the period, its comparison and the snapshot."""

    current: PeriodFigures
    comparison: PeriodFigures
    now: Snapshot


def dashboard(period: Period, comparison: Period | None = None, *,
              slow_days: int = DEFAULT_SLOW_DAYS, offset_minutes: int | None = None,
              now: datetime | None = None) -> Dashboard:
    """Return the dashboard for ``period`` against ``comparison`` (default: the one before)."""
    comparison = comparison or period.previous()
    return Dashboard(current=period_figures(period, offset_minutes=offset_minutes),
                     # the margin tile shows the period's margin only: half the work
                     comparison=period_figures(comparison, offset_minutes=offset_minutes,
                                               margin=False),
                     now=snapshot(slow_days=slow_days, now=now))
