"""Read-side queries of suppliers: the supplier list, price lists and supplier performance.

Supplier performance is computed in SQL from purchase orders, their lines and receipts, for a
date range (both ends included):

- **on-time rate**: of the posted receipts dated in the range, the share that came no later
  than expected. A receipt is on time when its date is on or before the expected date of every
  order line it delivers (the line's expected date, else its order's). Receipts of lines
  without any expected date are not counted either way; reversed receipts are ignored.
- **lead time seen**: the average number of days from the order's ``ordered_on`` date to the
  date of each of its posted receipts dated in the range.
- **quantity fill rate**: over the orders completed in the range (state received or closed;
  completed on the date of their last posted receipt, else the date they were closed), the
  quantity received divided by the quantity ordered. A line's over-delivery is counted only up
  to what was ordered, so it never hides another line's shortfall; a quantity cancelled when
  an order is closed short counts as not delivered (see :class:`SupplierPerformance`).

Receipt times are stored in UTC; a receipt's *date* is its UTC date.

With ``by_spec=True`` the same figures are split by the purchasing specification version of
each line's product (``None``: products without one): a receipt counts once per version it
delivers, on time when every line of that version in it is; an order completes once per version
it holds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Date, Integer, Select, and_, case, cast, func, null, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import contains_eager
from sqlalchemy.sql.functions import FunctionElement

from erp.catalog.models import Product, Sku
from erp.extensions import db
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
    ReceiptState,
    Supplier,
    SupplierItem,
)

#: the orders whose fill rate is final: everything that will ever arrive has arrived
COMPLETED_STATES = (PurchaseOrderState.received, PurchaseOrderState.closed)


# --------------------------------------------------------------------------- SQL helpers


class day_of(FunctionElement):  # noqa: N801 - used like a SQL function
    """The date of a timestamp column, as a ``Date`` on both databases.

    SQLite's ``CAST(... AS DATE)`` yields a number (the year), so it needs ``date()`` there.
    """

    type = Date()
    inherit_cache = True
    name = "day_of"


@compiles(day_of)
def _day_of_default(element, compiler, **kw):
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def _day_of_sqlite(element, compiler, **kw):
    return f"date({compiler.process(element.clauses, **kw)})"


class days_between(FunctionElement):  # noqa: N801 - used like a SQL function
    """Whole days from the second date to the first, as an integer on both databases."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between)
def _days_between_default(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element, compiler, **kw):
    later, earlier = list(element.clauses)
    return (f"CAST(julianday({compiler.process(later, **kw)}) - "
            f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)")


# --------------------------------------------------------------------------- suppliers


@dataclass
class SupplierFilters:
    """The supplier list's search and filters."""

    q: str | None = None
    country: str | None = None
    active: bool | None = None


def supplier_list_query(f: SupplierFilters | None = None) -> Select:
    """Return suppliers whose code, name or contact contains ``q``, of a country and status.

    Ordered by code; yields :class:`Supplier` entities.
    """
    f = f or SupplierFilters()
    stmt = select(Supplier).order_by(Supplier.code)
    if f.q and f.q.strip():
        text = f.q.strip().lower()
        stmt = stmt.where(or_(func.lower(Supplier.code).contains(text, autoescape=True),
                              func.lower(Supplier.name).contains(text, autoescape=True),
                              func.lower(Supplier.contact_name).contains(text,
                                                                         autoescape=True)))
    if f.country:
        stmt = stmt.where(Supplier.country == f.country.strip().upper())
    if f.active is not None:
        stmt = stmt.where(Supplier.active.is_(f.active))
    return stmt


def supplier_countries() -> list[str]:
    """Return the countries suppliers are in, sorted (for the list's filter)."""
    return list(db.session.scalars(select(Supplier.country).distinct().order_by(Supplier.country)))


def supplier_item_counts(supplier_ids: list[int]) -> dict[int, int]:
    """Return how many SKUs each of the given suppliers sells."""
    if not supplier_ids:
        return {}
    return dict(db.session.execute(
        select(SupplierItem.supplier_id, func.count()).where(
            SupplierItem.supplier_id.in_(supplier_ids)).group_by(SupplierItem.supplier_id)).all())


def supplier_items_query(supplier_id: int) -> Select:
    """Return a supplier's items with their SKU loaded, by SKU code."""
    return (select(SupplierItem).join(Sku, SupplierItem.sku_id == Sku.id)
            .options(contains_eager(SupplierItem.sku))
            .where(SupplierItem.supplier_id == supplier_id).order_by(Sku.code))


@dataclass
class PriceListFilters:
    """Which supplier items a price-list export holds."""

    supplier_id: int | None = None
    q: str | None = None  # in the SKU code or the supplier's item code
    active: bool | None = None  # of the supplier


def price_list_query(f: PriceListFilters | None = None) -> Select:
    """Return price-list rows in import column order, by supplier code then SKU code.

    Columns: supplier code, SKU code, supplier's item code, unit price, currency, MOQ, pack
    multiple, lead time in days, preferred.
    """
    f = f or PriceListFilters()
    stmt = (select(Supplier.code, Sku.code, SupplierItem.supplier_code, SupplierItem.unit_price,
                   SupplierItem.currency, SupplierItem.moq, SupplierItem.pack_multiple,
                   SupplierItem.lead_time_days, SupplierItem.preferred)
            .join(Supplier, SupplierItem.supplier_id == Supplier.id)
            .join(Sku, SupplierItem.sku_id == Sku.id)
            .order_by(Supplier.code, Sku.code))
    if f.supplier_id:
        stmt = stmt.where(SupplierItem.supplier_id == f.supplier_id)
    if f.q and f.q.strip():
        text = f.q.strip().lower()
        stmt = stmt.where(or_(func.lower(Sku.code).contains(text, autoescape=True),
                              func.lower(SupplierItem.supplier_code).contains(text,
                                                                              autoescape=True)))
    if f.active is not None:
        stmt = stmt.where(Supplier.active.is_(f.active))
    return stmt


def recent_purchase_orders(supplier_id: int, limit: int = 10) -> list[PurchaseOrder]:
    """Return a supplier's latest purchase orders, newest first (read-only)."""
    return list(db.session.scalars(
        select(PurchaseOrder).where(PurchaseOrder.supplier_id == supplier_id)
        .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc()).limit(limit)))


# --------------------------------------------------------------------------- performance


def _ratio(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@dataclass
class SupplierPerformance:
    """One supplier's delivery figures over a date range, with the counts behind them.

    The rates are fractions (``Decimal("0.8750")`` is 87.5 %) or None when nothing was
    measured.
    """

    supplier_id: int
    code: str
    name: str
    receipts: int = 0  # posted receipts dated in the range
    timed_receipts: int = 0  # of those, the ones with an expected date to compare with
    on_time_receipts: int = 0
    lead_time_receipts: int = 0  # receipts whose order has an ordered-on date
    lead_time_days_total: int = 0
    completed_orders: int = 0
    ordered_qty: int = 0  # on the lines of the completed orders
    received_qty: int = 0  # of it, counted up to the quantity ordered per line
    spec_version_id: int | None = None  # with ``by_spec``: the lines' specification version

    @property
    def on_time_rate(self) -> Decimal | None:
        """Share of timed receipts that arrived on or before the expected date."""
        return _ratio(self.on_time_receipts, self.timed_receipts)

    @property
    def avg_lead_time_days(self) -> Decimal | None:
        """Average days from ordering to receiving, one decimal."""
        if not self.lead_time_receipts:
            return None
        return (Decimal(self.lead_time_days_total) / Decimal(self.lead_time_receipts)).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def fill_rate(self) -> Decimal | None:
        """Quantity received over quantity ordered on the orders completed in the range."""
        return _ratio(self.received_qty, self.ordered_qty)


def _receipt_rows(date_from: date, date_to: date, supplier_id: int | None, by_spec: bool):
    """Per supplier (and version): receipts, timed ones, on-time ones, lead-time day totals."""
    received_on = day_of(Receipt.received_at)
    expected = func.coalesce(PurchaseOrderLine.expected_date, PurchaseOrder.expected_date)
    spec = Product.spec_version_id if by_spec else cast(null(), Integer)
    per_receipt = (
        select(PurchaseOrder.supplier_id.label("supplier_id"), spec.label("spec_version_id"),
               received_on.label("received_on"),
               PurchaseOrder.ordered_on.label("ordered_on"),
               func.count(expected).label("timed_lines"),
               func.sum(case((received_on > expected, 1), else_=0)).label("late_lines"))
        .select_from(Receipt)
        .join(PurchaseOrder, Receipt.order_id == PurchaseOrder.id)
        .join(ReceiptLine, ReceiptLine.receipt_id == Receipt.id)
        .join(PurchaseOrderLine, ReceiptLine.order_line_id == PurchaseOrderLine.id)
        .where(Receipt.state == ReceiptState.posted,
               received_on >= date_from, received_on <= date_to)
        .group_by(Receipt.id, Receipt.received_at, PurchaseOrder.supplier_id,
                  PurchaseOrder.ordered_on))
    if by_spec:
        per_receipt = (per_receipt.join(Sku, Sku.id == PurchaseOrderLine.sku_id)
                       .join(Product, Product.id == Sku.product_id)
                       .group_by(Product.spec_version_id))
    if supplier_id is not None:
        per_receipt = per_receipt.where(PurchaseOrder.supplier_id == supplier_id)
    r = per_receipt.subquery()
    lead = days_between(r.c.received_on, r.c.ordered_on)
    return db.session.execute(
        select(r.c.supplier_id, r.c.spec_version_id, func.count(),
               func.sum(case((r.c.timed_lines > 0, 1), else_=0)),
               func.sum(case((and_(r.c.timed_lines > 0, r.c.late_lines == 0), 1), else_=0)),
               func.count(r.c.ordered_on),
               func.sum(case((r.c.ordered_on.is_not(None), lead), else_=0)))
        .group_by(r.c.supplier_id, r.c.spec_version_id)).all()


def _fill_rows(date_from: date, date_to: date, supplier_id: int | None, by_spec: bool):
    """Per supplier (and version): completed orders, quantity ordered and received (capped)."""
    last = (select(Receipt.order_id.label("order_id"),
                   func.max(Receipt.received_at).label("last_received_at"))
            .where(Receipt.state == ReceiptState.posted)
            .group_by(Receipt.order_id).subquery())
    completed_on = func.coalesce(day_of(last.c.last_received_at), day_of(PurchaseOrder.closed_at))
    done = (select(PurchaseOrder.id.label("order_id"),
                   PurchaseOrder.supplier_id.label("supplier_id"),
                   completed_on.label("completed_on"))
            .outerjoin(last, last.c.order_id == PurchaseOrder.id)
            .where(PurchaseOrder.state.in_(COMPLETED_STATES)))
    if supplier_id is not None:
        done = done.where(PurchaseOrder.supplier_id == supplier_id)
    d = done.subquery()
    got = case((PurchaseOrderLine.received_qty > PurchaseOrderLine.quantity,
                PurchaseOrderLine.quantity), else_=PurchaseOrderLine.received_qty)
    spec = Product.spec_version_id if by_spec else cast(null(), Integer)
    stmt = (select(d.c.supplier_id, spec.label("spec_version_id"),
                   func.count(func.distinct(d.c.order_id)),
                   func.sum(PurchaseOrderLine.quantity), func.sum(got))
            .select_from(d)
            .join(PurchaseOrderLine, PurchaseOrderLine.order_id == d.c.order_id)
            .where(d.c.completed_on >= date_from, d.c.completed_on <= date_to)
            .group_by(d.c.supplier_id))
    if by_spec:
        stmt = (stmt.join(Sku, Sku.id == PurchaseOrderLine.sku_id)
                .join(Product, Product.id == Sku.product_id).group_by(Product.spec_version_id))
    return db.session.execute(stmt).all()


def supplier_performance(date_from: date, date_to: date, *, supplier_id: int | None = None,
                         by_spec: bool = False) -> list[SupplierPerformance]:
    """Return the delivery figures of every supplier with activity in the range, by code.

    See the module docstring for how each figure is computed. With ``supplier_id``, only that
    supplier's (an empty list when it had no activity). With ``by_spec``, one row per supplier
    and specification version (``spec_version_id``), by code then version id (None first).
    """
    figures: dict[tuple[int, int | None], SupplierPerformance] = {}

    def of(ident: int, spec_id: int | None) -> SupplierPerformance:
        if (ident, spec_id) not in figures:
            figures[ident, spec_id] = SupplierPerformance(ident, "", "",
                                                          spec_version_id=spec_id)
        return figures[ident, spec_id]

    for ident, spec_id, receipts, timed, on_time, lead_count, lead_total in _receipt_rows(
            date_from, date_to, supplier_id, by_spec):
        p = of(ident, spec_id)
        p.receipts, p.timed_receipts, p.on_time_receipts = receipts, int(timed or 0), \
            int(on_time or 0)
        p.lead_time_receipts, p.lead_time_days_total = lead_count, int(lead_total or 0)
    for ident, spec_id, orders, ordered, received in _fill_rows(date_from, date_to, supplier_id,
                                                                by_spec):
        p = of(ident, spec_id)
        p.completed_orders, p.ordered_qty, p.received_qty = orders, int(ordered or 0), \
            int(received or 0)
    if figures:
        names = {ident: (code, name) for ident, code, name in db.session.execute(
            select(Supplier.id, Supplier.code, Supplier.name)
            .where(Supplier.id.in_({ident for ident, _spec in figures})))}
        for p in figures.values():
            p.code, p.name = names[p.supplier_id]
    return sorted(figures.values(), key=lambda p: (p.code, p.spec_version_id is not None,
                                                   p.spec_version_id or 0))


def supplier_performance_of(supplier: Supplier, date_from: date,
                            date_to: date) -> SupplierPerformance:
    """Return one supplier's figures over the range (all zero when it had no activity)."""
    rows = supplier_performance(date_from, date_to, supplier_id=supplier.id)
    return rows[0] if rows else SupplierPerformance(supplier.id, supplier.code, supplier.name)


# --------------------------------------------------------------------------- SKU -> supplier


def supplier_sku_ids(supplier_id: int) -> set[int]:
    """Return the SKUs a supplier may have brought in: received from it, or in its price list.

    :func:`sku_suppliers` decides which of them are its own.
    """
    received = (select(ReceiptLine.sku_id).join(Receipt, Receipt.id == ReceiptLine.receipt_id)
                .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
                .where(PurchaseOrder.supplier_id == supplier_id,
                       Receipt.state == ReceiptState.posted))
    listed = select(SupplierItem.sku_id).where(SupplierItem.supplier_id == supplier_id)
    return set(db.session.scalars(received.union(listed)))


def sku_suppliers(sku_ids: Iterable[int]) -> dict[int, int]:
    """Return ``{sku id: supplier id}``: the supplier that brought each SKU in.

    That is the supplier of the SKU's latest posted receipt (by receipt time, then id); for a
    SKU never received, its preferred supplier item's supplier (the lowest supplier code when
    several are preferred), else its supplier item of the lowest supplier code. SKUs with no
    receipt and no supplier item are left out.
    """
    wanted = sorted(set(sku_ids))
    if not wanted:
        return {}
    # a few SKUs (a supplier's page): look them up; many (every supplier): one pass over all
    few = len(wanted) <= 1000
    ranked = (select(ReceiptLine.sku_id.label("sku_id"),
                     PurchaseOrder.supplier_id.label("supplier_id"),
                     func.row_number().over(
                         partition_by=ReceiptLine.sku_id,
                         order_by=(Receipt.received_at.desc(), Receipt.id.desc()))
                     .label("rank"))
              .join(Receipt, Receipt.id == ReceiptLine.receipt_id)
              .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
              .where(Receipt.state == ReceiptState.posted))
    items = (select(SupplierItem.sku_id, SupplierItem.supplier_id)
             .join(Supplier, Supplier.id == SupplierItem.supplier_id)
             .order_by(SupplierItem.sku_id, SupplierItem.preferred.desc(), Supplier.code))
    if few:
        ranked = ranked.where(ReceiptLine.sku_id.in_(wanted))
        items = items.where(SupplierItem.sku_id.in_(wanted))
    ranked = ranked.subquery()
    keep = set(wanted)
    found = {sku_id: supplier_id for sku_id, supplier_id in db.session.execute(
        select(ranked.c.sku_id, ranked.c.supplier_id).where(ranked.c.rank == 1))
        if sku_id in keep}
    for sku_id, supplier_id in db.session.execute(items):
        if sku_id in keep:
            found.setdefault(sku_id, supplier_id)
    return found
