"""Sales and dispatch: units and value shipped in a period by SKU, brand, category, country.

Rules:

- **Shipped**: the parcel lines of parcels dispatched (state ``dispatched``) with
  ``dispatched_at`` in the period (whole days, UTC). Voided parcels never count.
- **Value**: parcel line quantity x its unit value (the order line's price, copied onto the
  parcel for customs), in the parcel's currency. Values are never added across currencies:
  each row is one key in one currency, and the totals are per currency.
- **Country**: the order's destination country.

Each sheet is one GROUP BY in SQL; money sums are exact (integers of ten-thousandths).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku
from erp.core import settings
from erp.core.i18n import _, _l
from erp.core.money import round_amount
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.reports.excel.common import from_raw, period_bounds, raw
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress
from erp.shipping.models import Parcel, ParcelLine, ParcelState

NAME = "sales_dispatch"
TITLE = _l("Sales and dispatch")
#: dimension -> sheet title
DIMENSIONS = {"sku": _l("By SKU"), "brand": _l("By brand"), "category": _l("By category"),
              "country": _l("By country")}
#: dimension -> the header of its key column
KEY_HEADERS = {"sku": _l("SKU"), "brand": _l("Brand"), "category": _l("Category"),
               "country": _l("Country")}
#: dimension -> what the progress says while it is summed
_SUMMING = {"sku": _l("Summing by SKU"), "brand": _l("Summing by brand"),
            "category": _l("Summing by category"), "country": _l("Summing by country")}


@dataclass
class ShippedRow:
    """One key of a dimension in one currency: parcels, units and value."""

    key: str
    name: str
    currency: str
    parcels: int
    units: int
    value: Decimal


def _key_columns(dimension: str):
    if dimension == "sku":
        return Sku.code, Product.name
    if dimension == "brand":
        return Brand.code, Brand.name
    if dimension == "category":
        return Category.code, Category.full_name
    if dimension == "country":
        return CustomerOrder.country, CustomerOrder.country
    raise ValueError(f"Unknown dimension {dimension!r}")


def shipped_by(dimension: str, date_from: date, date_to: date) -> list[ShippedRow]:
    """Return what was dispatched in the period by ``dimension`` and currency, most units first.

    :raises ValueError: for an unknown dimension.
    """
    key, name = _key_columns(dimension)
    start, end = period_bounds(date_from, date_to)
    stmt = (select(key.label("key"), func.max(name).label("name"), Parcel.currency,
                   func.count(func.distinct(Parcel.id)).label("parcels"),
                   func.sum(ParcelLine.quantity).label("units"),
                   func.sum(ParcelLine.quantity * raw(ParcelLine.unit_value)).label("value"))
            .select_from(ParcelLine)
            .join(Parcel, Parcel.id == ParcelLine.parcel_id)
            .where(Parcel.state == ParcelState.dispatched, Parcel.dispatched_at >= start,
                   Parcel.dispatched_at < end)
            .group_by(key, Parcel.currency))
    if dimension == "country":
        stmt = stmt.join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
    else:
        stmt = stmt.join(Sku, Sku.id == ParcelLine.sku_id).join(Product,
                                                                 Product.id == Sku.product_id)
        if dimension == "brand":
            stmt = stmt.join(Brand, Brand.id == Product.brand_id)
        elif dimension == "category":
            stmt = stmt.join(Category, Category.id == Product.category_id)
    rows = [ShippedRow(r.key, r.name or r.key, r.currency, int(r.parcels), int(r.units or 0),
                       round_amount(from_raw(r.value))) for r in db.session.execute(stmt)]
    return sorted(rows, key=lambda r: (-r.units, r.key, r.currency))


def totals_by_currency(rows: list[ShippedRow]) -> dict[str, tuple[int, Decimal]]:
    """Return ``{currency: (units, value)}`` of a dimension's rows."""
    out: dict[str, tuple[int, Decimal]] = {}
    for r in rows:
        units, value = out.get(r.currency, (0, Decimal("0.00")))
        out[r.currency] = (units + r.units, value + r.value)
    return dict(sorted(out.items()))


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (one sheet per dimension, totals per currency) and its file name."""
    book = ReportBook(NAME, TITLE, [(_("Dispatched from"), date_from),
                                    (_("Dispatched to"), date_to)],
                      user=user, base_currency=settings.base_currency())
    columns = [Col(_("Name"), width=36), Col(_("Currency"), width=9),
               Col(_("Parcels"), "qty", 10), Col(_("Units"), "qty", 10),
               Col(_("Value"), "money", 15)]
    for i, (dimension, title) in enumerate(DIMENSIONS.items()):
        progress(5 + 20 * i, str(_SUMMING[dimension]))
        rows = shipped_by(dimension, date_from, date_to)
        head = [Col(str(KEY_HEADERS[dimension]), width=18), *columns]
        ref = book.sheet(title, head, ([r.key, r.name, r.currency, r.parcels, r.units,
                                        r.value] for r in rows))
        if dimension == "country":
            book.bar_chart(ref, title=_("Units dispatched by country"), label_col=1,
                           value_cols=[5], anchor="H2", y_title=_("Units"))
        if dimension == "sku":
            totals = totals_by_currency(rows)
    book.sheet(_("Totals"), [Col(_("Currency"), width=10), Col(_("Units"), "qty", 12),
                             Col(_("Value"), "money", 16)],
               ([cur, u, v] for cur, (u, v) in totals.items()))
    book.rule(_("Shipped"), _("Parcel lines of parcels dispatched in the period (UTC days)."))
    book.rule(_("Value"), _("Quantity x the line's unit value (the order price) in the "
                            "parcel's currency; never added across currencies."))
    book.rule(_("Country"), _("The order's destination country."))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_from, date_to)
