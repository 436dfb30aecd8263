"""Stock ageing by receipt date at a date: units and value in 0-30, 31-90, 91-180, >180 days.

Rules:

- **On hand** at the end of the date is rebuilt from the ledger, as in the valuation report.
- **FIFO**: stock leaves oldest first, so the units on hand are the most recent receipts. The
  SKU's costed inbound moves (receipt, opening, return receipt into a bin) up to the date are
  taken newest first until they cover the on-hand quantity; each unit's age is the age of its
  receipt: ``(as-of date - receipt date)`` in whole days (UTC), so a receipt on the as-of day
  is 0 days old and one 31 days before it falls in 31-90.
- Units on hand that no receipt covers (e.g. stock found by an adjustment) are shown as
  "No receipt" rather than guessed into a bucket.
- **Value** of a bucket: its units x the SKU's cost at the date (the valuation report's rule,
  landed costs included), rounded to cents.

The allocation is one SQL query: a running sum over receipts (window function, newest first)
against each SKU's on-hand quantity, grouped by SKU and bucket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku
from erp.core import settings
from erp.core.i18n import _, _l, format_number
from erp.core.money import round_amount
from erp.extensions import db
from erp.reports.excel.common import (
    costed_condition,
    day_start,
    ledger_subquery,
    unit_cost_at,
    value_adjustment_subquery,
    virtual_location_ids,
)
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress
from erp.warehouse.models import StockMove

NAME = "stock_ageing"
TITLE = _l("Stock ageing by receipt date")
#: bucket labels, youngest first, and the oldest age (days) of each but the last
BUCKETS = (_l("0-30 days"), _l("31-90 days"), _l("91-180 days"), _l("Over 180 days"))
BUCKET_LIMITS = (30, 90, 180)
NO_RECEIPT = _l("No receipt")


@dataclass
class AgeingRow:
    """One SKU: units per bucket (same order as :data:`BUCKETS`), unaged units, cost."""

    sku: str
    name: str
    brand: str
    category: str
    on_hand: int
    unit_cost: Decimal
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))

    @property
    def no_receipt(self) -> int:
        """Return the units on hand that no receipt covers."""
        return self.on_hand - sum(self.buckets)

    @property
    def value(self) -> Decimal:
        """Return on hand x unit cost, rounded to cents."""
        return round_amount(self.unit_cost * self.on_hand)


@dataclass
class Ageing:
    """The ageing at a date: SKU rows and totals per bucket."""

    as_of: date
    rows: list[AgeingRow] = field(default_factory=list)

    def bucket_units(self) -> list[int]:
        """Return the units per bucket, then the units without receipt."""
        totals = [sum(r.buckets[i] for r in self.rows) for i in range(len(BUCKETS))]
        return [*totals, sum(r.no_receipt for r in self.rows)]

    def bucket_values(self) -> list[Decimal]:
        """Return the value per bucket, then the value without receipt (rounded per SKU)."""
        values = [sum((round_amount(r.unit_cost * r.buckets[i]) for r in self.rows),
                      Decimal("0.00")) for i in range(len(BUCKETS))]
        return [*values, sum((round_amount(r.unit_cost * r.no_receipt) for r in self.rows),
                             Decimal("0.00"))]


def ageing_at(as_of: date) -> Ageing:
    """Return the ageing of the stock on hand at the end of ``as_of`` (see module rules)."""
    virtual = virtual_location_ids()
    ledger = ledger_subquery(as_of, virtual)
    m = StockMove.__table__.c
    end = day_start(as_of + timedelta(days=1))
    newest_first = (m.at.desc(), m.id.desc())
    receipts = (select(m.sku_id, m.at, m.quantity,
                       func.sum(m.quantity).over(partition_by=m.sku_id,
                                                 order_by=newest_first).label("running"))
                .where(costed_condition(virtual), m.at < end).subquery("receipts"))
    # What is left to cover before this receipt: on hand minus the newer receipts.
    left = ledger.c.on_hand - (receipts.c.running - receipts.c.quantity)
    taken = case((left <= 0, 0), (left >= receipts.c.quantity, receipts.c.quantity),
                 else_=left)
    bounds = [day_start(as_of - timedelta(days=days)) for days in BUCKET_LIMITS]
    bucket = case(*[(receipts.c.at >= b, i) for i, b in enumerate(bounds)],
                  else_=len(BUCKET_LIMITS)).label("bucket")
    aged = dict()
    for sku_id, b, units in db.session.execute(
            select(receipts.c.sku_id, bucket, func.sum(taken))
            .join(ledger, ledger.c.sku_id == receipts.c.sku_id)
            .where(ledger.c.on_hand > 0)
            .group_by(receipts.c.sku_id, bucket)):
        aged.setdefault(sku_id, [0] * len(BUCKETS))[int(b)] = int(units or 0)
    adjusted = value_adjustment_subquery(as_of)
    stmt = (select(Sku.id, Sku.code, Product.name, Brand.name.label("brand"),
                   Category.full_name.label("category"), Sku.avg_cost, ledger.c.on_hand,
                   ledger.c.costed_qty, ledger.c.costed_raw, adjusted.c.adjusted_raw)
            .select_from(ledger)
            .join(Sku, Sku.id == ledger.c.sku_id)
            .outerjoin(adjusted, adjusted.c.sku_id == ledger.c.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .join(Category, Category.id == Product.category_id)
            .where(ledger.c.on_hand > 0).order_by(Sku.code))
    report = Ageing(as_of)
    for r in db.session.execute(stmt):
        report.rows.append(AgeingRow(
            r.code, r.name, r.brand, r.category or "", int(r.on_hand),
            unit_cost_at(r.costed_qty, int(r.costed_raw or 0) + int(r.adjusted_raw or 0),
                         r.avg_cost),
            aged.get(r.id, [0] * len(BUCKETS))))
    return report


def build(date_from: date | None, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (summary with a chart, by SKU) and its file name."""
    progress(5, _("Ageing the stock"))
    report = ageing_at(date_to)
    progress(60, _("Writing %(count)s SKUs", count=format_number(len(report.rows))))
    base = settings.base_currency()
    book = ReportBook(NAME, TITLE, [(_("As of (end of day, UTC)"), date_to)], user=user,
                      base_currency=base)
    labels = [str(label) for label in (*BUCKETS, NO_RECEIPT)]
    units, values = report.bucket_units(), report.bucket_values()
    value_header = _("Value (%(currency)s)", currency=base)
    summary = book.sheet(_("Summary"), [Col(_("Age (days since receipt)"), width=26),
                                        Col(_("Units"), "qty", 12),
                                        Col(value_header, "money", 16)],
                         ([label, u, v] for label, u, v in zip(labels, units, values,
                                                                strict=True)),
                         totals=[_("Total"), sum(units), sum(values, Decimal("0.00"))])
    book.bar_chart(summary, title=_("Units on hand by age"), label_col=1, value_cols=[2],
                   anchor="E2", y_title=_("Units"))
    book.sheet(_("By SKU"), [Col(_("SKU"), width=18), Col(_("Product"), width=32),
                             Col(_("Brand"), width=18), Col(_("Category"), width=26),
                             Col(_("On hand"), "qty", 10),
                             *[Col(label, "qty", 11) for label in labels],
                             Col(_("Unit cost (%(currency)s)", currency=base), "cost", 13),
                             Col(value_header, "money", 15)],
               ([r.sku, r.name, r.brand, r.category, r.on_hand, *r.buckets, r.no_receipt,
                 r.unit_cost, r.value] for r in report.rows),
               totals=[_("Total"), None, None, None, sum(r.on_hand for r in report.rows),
                       *units, None, sum((r.value for r in report.rows), Decimal("0.00"))])
    book.rule(_("FIFO"), _("Stock leaves oldest first: the units on hand are the most recent "
                           "receipts (receipts, opening stock, return receipts)."))
    book.rule(_("Age"), _("As-of date minus receipt date in whole days (UTC)."))
    book.rule(NO_RECEIPT, _("Units on hand that no receipt covers (e.g. found by an "
                            "adjustment)."))
    book.rule(_("Value"), _("Units x the SKU's cost at the date (as in the valuation report)."))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_to)
