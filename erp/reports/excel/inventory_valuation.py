"""Inventory valuation at a date, rebuilt from the stock ledger (not from today's levels).

Rules:

- **On hand at the date**: per SKU, the sum of the moves into physical locations minus the
  moves out of them (virtual locations: supplier, customer, adjustment) with ``at`` before the
  end of that day (UTC). This is the ledger's own invariant, so for today it equals
  ``stock_level``.
- **Cost at the date**: the quantity-weighted average unit cost of the SKU's costed inbound
  moves (receipt, opening, return receipt: from a virtual location into a bin) up to the end of
  that day, their value raised by the value adjustments posted by then (landed costs: freight,
  duty... on received goods, both the part revaluing stock and the variance, as both are what
  those units cost on the way in), rounded to 4 places; a SKU with no such move by then falls
  back to its current moving-average cost (``sku.avg_cost``). Receipt reversals and
  adjustments do not change it.
- **Value**: on hand x cost, rounded to cents per SKU; brand, category and grand totals are the
  sums of those rounded values. Everything is in the base currency (receipts are costed in it).
- **In transit**: the part of on hand that was in an in-transit location at the date (shipped
  by a transfer between warehouses, not yet received), and its value at the same cost; shown
  apart, and included in on hand and value.

The ledger is summed in SQL in one GROUP BY pass over ``stock_move`` (never loaded row by row);
Python only multiplies each SKU's on hand by its cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku
from erp.core import settings
from erp.core.i18n import _, _l, format_number
from erp.core.money import round_amount
from erp.extensions import db
from erp.reports.excel.common import (
    in_transit_location_ids,
    ledger_subquery,
    unit_cost_at,
    value_adjustment_subquery,
    virtual_location_ids,
)
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress

NAME = "inventory_valuation"
TITLE = _l("Inventory valuation at a date")


@dataclass
class ValuationRow:
    """One SKU's stock at the date, its cost then and its value."""

    sku: str
    name: str
    brand: str
    category: str
    on_hand: int
    unit_cost: Decimal
    value: Decimal
    cost_source: str  # "receipts" or "current" (written in the reader's language)
    in_transit: int = 0
    in_transit_value: Decimal = Decimal("0.00")


@dataclass
class Valuation:
    """The valuation at a date: SKU rows, totals, and sums by brand and category."""

    as_of: date
    rows: list[ValuationRow] = field(default_factory=list)

    @property
    def units(self) -> int:
        """Return the units on hand."""
        return sum(r.on_hand for r in self.rows)

    @property
    def value(self) -> Decimal:
        """Return the total value (sum of rounded SKU values)."""
        return sum((r.value for r in self.rows), Decimal("0.00"))

    @property
    def in_transit_units(self) -> int:
        """Return the units in transit between warehouses."""
        return sum(r.in_transit for r in self.rows)

    @property
    def in_transit_value(self) -> Decimal:
        """Return the value in transit (sum of rounded SKU values)."""
        return sum((r.in_transit_value for r in self.rows), Decimal("0.00"))

    def by(self, attr: str) -> list[tuple[str, int, Decimal]]:
        """Return ``(key, units, value)`` summed by ``brand`` or ``category``, largest first."""
        sums: dict[str, list] = {}
        for r in self.rows:
            entry = sums.setdefault(getattr(r, attr), [0, Decimal("0.00")])
            entry[0] += r.on_hand
            entry[1] += r.value
        return sorted(((k, u, v) for k, (u, v) in sums.items()), key=lambda t: (-t[2], t[0]))


def valuation_at(as_of: date) -> Valuation:
    """Return the stock on hand at the end of ``as_of`` valued at the cost then (see module)."""
    ledger = ledger_subquery(as_of, virtual_location_ids(), in_transit_location_ids())
    adjusted = value_adjustment_subquery(as_of)
    stmt = (select(Sku.code, Product.name, Brand.name.label("brand"),
                   Category.full_name.label("category"), Sku.avg_cost, ledger.c.on_hand,
                   ledger.c.costed_qty, ledger.c.costed_raw, ledger.c.in_transit,
                   adjusted.c.adjusted_raw)
            .select_from(ledger)
            .join(Sku, Sku.id == ledger.c.sku_id)
            .outerjoin(adjusted, adjusted.c.sku_id == ledger.c.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .join(Category, Category.id == Product.category_id)
            .where(ledger.c.on_hand != 0)
            .order_by(Sku.code))
    report = Valuation(as_of)
    for r in db.session.execute(stmt):
        cost = unit_cost_at(r.costed_qty, int(r.costed_raw or 0) + int(r.adjusted_raw or 0),
                            r.avg_cost)
        on_hand, in_transit = int(r.on_hand), int(r.in_transit or 0)
        report.rows.append(ValuationRow(
            r.code, r.name, r.brand, r.category or "", on_hand, cost,
            round_amount(cost * on_hand), "receipts" if r.costed_qty else "current",
            in_transit, round_amount(cost * in_transit)))
    return report


def build(date_from: date | None, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (by SKU, by category with a chart, by brand) and its file name."""
    progress(5, _("Summing the ledger"))
    report = valuation_at(date_to)
    progress(60, _("Writing %(count)s SKUs", count=format_number(len(report.rows))))
    base = settings.base_currency()
    sources = {"receipts": _("receipts"), "current": _("current")}
    book = ReportBook(NAME, TITLE, [(_("As of (end of day, UTC)"), date_to)], user=user,
                      base_currency=base)
    book.sheet(_("By SKU"), [Col(_("SKU"), width=18), Col(_("Product"), width=36),
                             Col(_("Brand"), width=20), Col(_("Category"), width=30),
                             Col(_("On hand"), "qty", 11),
                             Col(_("Unit cost (%(currency)s)", currency=base), "cost", 14),
                             Col(_("Value (%(currency)s)", currency=base), "money", 16),
                             Col(_("Cost from"), width=11),
                             Col(_("In transit"), "qty", 11),
                             Col(_("In transit value (%(currency)s)", currency=base), "money",
                                 18)],
               ([r.sku, r.name, r.brand, r.category, r.on_hand, r.unit_cost, r.value,
                 sources[r.cost_source], r.in_transit, r.in_transit_value]
                for r in report.rows),
               totals=[_("Total"), None, None, None, report.units, None, report.value, None,
                       report.in_transit_units, report.in_transit_value])
    groups = (("category", _("By category"), _("Category"), _("Stock value by category")),
              ("brand", _("By brand"), _("Brand"), _("Stock value by brand")))
    for attr, title, header, chart in groups:
        ref = book.sheet(title, [Col(header, width=36), Col(_("On hand"), "qty", 12),
                                 Col(_("Value (%(currency)s)", currency=base), "money", 18)],
                         ([k, u, v] for k, u, v in report.by(attr)),
                         totals=[_("Total"), report.units, report.value])
        book.bar_chart(ref, title=chart, label_col=1, value_cols=[3], anchor="E2",
                       y_title=base)
    book.rule(_("On hand"), _("Moves into physical locations minus moves out, up to the end "
                              "of the day (rebuilt from the ledger)."))
    book.rule(_("Unit cost"), _("Quantity-weighted average unit cost of the SKU's receipts, "
                                "opening stock and return receipts up to that day; the current "
                                'average cost when it had none ("Cost from": current).'))
    book.rule(_("Landed cost"), _("Freight, duty and other charges posted on receipts up to "
                                  "that day are added to the value of those receipts before "
                                  "averaging (both the part that revalued stock and the "
                                  "variance)."))
    book.rule(_("Value"), _("On hand x unit cost, rounded to cents per SKU; totals add the "
                            "rounded values."))
    book.rule(_("In transit"), _("The part of on hand shipped by a transfer between warehouses "
                                 "and not yet received at the date, valued at the same unit "
                                 "cost; it is included in on hand and value."))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_to)
