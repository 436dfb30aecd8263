"""Purchase spend by supplier and month, in each order's currency and in the base currency.

Rules:

- **Orders**: purchase orders with an order date (``ordered_on``) in the period that were
  placed and not cancelled (ordered, partially received, received or closed).
- **Spend of a line**: (quantity - cancelled quantity) x unit price, in the order's currency,
  so an order closed short counts only what stays ordered.
- **Base currency**: each order day's sum per currency is converted with
  :func:`erp.core.money.convert` at the rates valid on the order date (the latest stored rate on
  or before it). When no rate exists for a currency on that date, the amount is not converted:
  it stays in its own currency's columns, its base cell is left empty, the base totals exclude
  it, and the Parameters sheet lists what could not be converted.

Lines are summed in SQL by supplier, currency and order date (GROUP BY); Python only converts
those sums and adds them up by month.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.core import settings
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l
from erp.core.money import convert, round_amount
from erp.extensions import db
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Supplier,
)
from erp.reports.excel.common import from_raw, raw
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress

NAME = "purchase_spend"
TITLE = _l("Purchase spend by supplier and month")
#: the states of placed orders whose lines count as spend
SPEND_STATES = (PurchaseOrderState.ordered, PurchaseOrderState.partially_received,
                PurchaseOrderState.received, PurchaseOrderState.closed)


@dataclass
class SpendRow:
    """Spend of one supplier in one month and currency; ``base`` None when not convertible."""

    supplier: str
    name: str
    month: str  # YYYY-MM
    currency: str
    orders: int
    amount: Decimal
    base: Decimal | None


@dataclass
class Spend:
    """The period's spend rows and what could not be converted."""

    date_from: date
    date_to: date
    base_currency: str
    rows: list[SpendRow] = field(default_factory=list)
    unconverted: list[str] = field(default_factory=list)

    def by_supplier(self) -> list[tuple[str, str, str, Decimal, Decimal | None]]:
        """Return ``(code, name, currency, amount, base)`` per supplier and currency."""
        sums: dict[tuple[str, str, str], list] = {}
        for r in self.rows:
            entry = sums.setdefault((r.supplier, r.name, r.currency), [Decimal("0.00"),
                                                                       Decimal("0.00")])
            entry[0] += r.amount
            entry[1] = None if entry[1] is None or r.base is None else entry[1] + r.base
        return [(*k, a, b) for k, (a, b) in sorted(sums.items())]

    def by_month(self) -> list[tuple[str, Decimal]]:
        """Return ``(month, base amount)``, converted amounts only, by month."""
        sums: dict[str, Decimal] = {}
        for r in self.rows:
            sums[r.month] = sums.get(r.month, Decimal("0.00")) + (r.base or Decimal(0))
        return sorted(sums.items())

    @property
    def base_total(self) -> Decimal:
        """Return the period's converted spend."""
        return sum((r.base for r in self.rows if r.base is not None), Decimal("0.00"))


def purchase_spend(date_from: date, date_to: date) -> Spend:
    """Return the spend of the orders placed in the period (see module rules)."""
    base = settings.base_currency()
    qty = PurchaseOrderLine.quantity - PurchaseOrderLine.cancelled_qty
    stmt = (select(Supplier.code, func.max(Supplier.name).label("name"), PurchaseOrder.currency,
                   PurchaseOrder.ordered_on,
                   func.count(func.distinct(PurchaseOrder.id)).label("orders"),
                   func.sum(qty * raw(PurchaseOrderLine.unit_price)).label("amount"))
            .select_from(PurchaseOrderLine)
            .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .where(PurchaseOrder.ordered_on >= date_from, PurchaseOrder.ordered_on <= date_to,
                   PurchaseOrder.state.in_([s.value for s in SPEND_STATES]))
            .group_by(Supplier.code, PurchaseOrder.currency, PurchaseOrder.ordered_on))
    report = Spend(date_from, date_to, base)
    months: dict[tuple[str, str, str], SpendRow] = {}
    for r in db.session.execute(stmt):
        amount = from_raw(r.amount)
        try:
            in_base = convert(amount, r.currency, base, on=r.ordered_on)
        except ValidationError:
            in_base = None
            report.unconverted.append(f"{r.code} {r.ordered_on.isoformat()}: "
                                      f"{round_amount(amount)} {r.currency}")
        month = r.ordered_on.strftime("%Y-%m")
        row = months.get((r.code, month, r.currency))
        if row is None:
            row = months[(r.code, month, r.currency)] = SpendRow(
                r.code, r.name, month, r.currency, 0, Decimal(0), Decimal(0))
        row.orders += int(r.orders)
        row.amount += amount
        row.base = None if row.base is None or in_base is None else row.base + in_base
    for row in months.values():
        row.amount = round_amount(row.amount)
        row.base = None if row.base is None else round_amount(row.base)
    report.rows = sorted(months.values(), key=lambda r: (r.supplier, r.month, r.currency))
    return report


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (by supplier, by month with a chart, detail) and its file name."""
    progress(10, _("Summing purchase order lines"))
    report = purchase_spend(date_from, date_to)
    base = report.base_currency
    book = ReportBook(NAME, TITLE, [(_("Ordered from"), date_from), (_("Ordered to"), date_to)],
                      user=user, base_currency=base)
    progress(60, _("Writing"))
    in_base = _("Amount (%(currency)s)", currency=base)
    book.sheet(_("By supplier"), [Col(_("Supplier"), width=14), Col(_("Name"), width=34),
                                  Col(_("Currency"), width=9), Col(_("Amount"), "money", 16),
                                  Col(in_base, "money", 16)],
               ([*r] for r in report.by_supplier()),
               totals=[_("Total"), None, None, None, report.base_total])
    ref = book.sheet(_("By month"), [Col(_("Month"), width=10),
                                     Col(_("Spend (%(currency)s)", currency=base), "money", 16)],
                     ([m, v] for m, v in report.by_month()),
                     totals=[_("Total"), report.base_total])
    book.bar_chart(ref, title=_("Purchase spend by month (%(currency)s)", currency=base),
                   label_col=1, value_cols=[2], anchor="D2", y_title=base, max_rows=60)
    book.sheet(_("Supplier x month"), [Col(_("Supplier"), width=14), Col(_("Name"), width=34),
                                       Col(_("Month"), width=10), Col(_("Currency"), width=9),
                                       Col(_("Orders"), "qty", 9),
                                       Col(_("Amount"), "money", 16), Col(in_base, "money", 16)],
               ([r.supplier, r.name, r.month, r.currency, r.orders, r.amount, r.base]
                for r in report.rows),
               totals=[_("Total"), None, None, None, None, None, report.base_total])
    book.rule(_("Orders"), _("Purchase orders with an order date in the period, placed and not "
                             "cancelled (ordered, partially received, received, closed)."))
    book.rule(_("Spend"), _("(Quantity - cancelled quantity) x unit price, in the order "
                            "currency."))
    book.rule(_("Conversion"), _("Converted at the rate valid on the order date; without a "
                                 "rate the base amount is left empty and excluded from base "
                                 "totals."))
    for text in report.unconverted:
        book.rule(_("Not converted (no rate)"), text)
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_from, date_to)
