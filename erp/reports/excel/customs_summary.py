"""Customs summary: declared value of dispatched parcels by destination and HS chapter.

Rules:

- **Parcels**: those dispatched (state ``dispatched``) with ``dispatched_at`` in the period
  (whole days, UTC), by the order's destination country.
- **HS chapter**: the first two digits of each customs line's HS code.
- **Declared value**: per line, quantity x declared unit value, in the parcel's currency;
  never added across currencies (one row per currency). A parcel's lines add up to its
  declared value, so the by-country sheet (parcel values) and the chapter sheets agree.
- **Parcel count**: distinct parcels; a parcel with lines in two chapters counts once in each
  chapter, and once in its country.

Each sheet is one GROUP BY in SQL; money sums are exact (integers of ten-thousandths).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.core import settings
from erp.core.i18n import _, _l
from erp.core.money import round_amount
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.reports.excel.common import from_raw, period_bounds, raw
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress
from erp.shipping.models import Parcel, ParcelLine, ParcelState

NAME = "customs_summary"
TITLE = _l("Customs declared-value summary")


@dataclass
class CustomsRow:
    """One country and/or HS chapter in one currency."""

    country: str
    chapter: str
    currency: str
    parcels: int
    units: int
    value: Decimal


def _dispatched(stmt, date_from: date, date_to: date):
    start, end = period_bounds(date_from, date_to)
    return stmt.where(Parcel.state == ParcelState.dispatched, Parcel.dispatched_at >= start,
                      Parcel.dispatched_at < end)


def customs_rows(date_from: date, date_to: date, *, by_country: bool = True,
                 by_chapter: bool = True) -> list[CustomsRow]:
    """Return declared values of the period's parcels grouped by country and/or chapter."""
    chapter = func.substr(ParcelLine.hs_code, 1, 2)
    keys = ([CustomerOrder.country] if by_country else []) + ([chapter] if by_chapter else [])
    stmt = (select(*keys, Parcel.currency, func.count(func.distinct(Parcel.id)),
                   func.sum(ParcelLine.quantity),
                   func.sum(ParcelLine.quantity * raw(ParcelLine.unit_value)))
            .select_from(ParcelLine)
            .join(Parcel, Parcel.id == ParcelLine.parcel_id)
            .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
            .group_by(*keys, Parcel.currency))
    rows = []
    for r in db.session.execute(_dispatched(stmt, date_from, date_to)):
        values = list(r)
        country = values.pop(0) if by_country else ""
        chap = values.pop(0) if by_chapter else ""
        currency, parcels, units, value = values
        rows.append(CustomsRow(country, chap or "", currency, int(parcels), int(units or 0),
                               round_amount(from_raw(value))))
    return sorted(rows, key=lambda r: (r.country, r.chapter, r.currency))


def parcels_by_country(date_from: date, date_to: date) -> list[CustomsRow]:
    """Return parcel counts and parcel declared values by country and currency."""
    stmt = (select(CustomerOrder.country, Parcel.currency, func.count(Parcel.id),
                   func.sum(raw(Parcel.declared_value)))
            .select_from(Parcel).join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
            .group_by(CustomerOrder.country, Parcel.currency)
            .order_by(CustomerOrder.country, Parcel.currency))
    return [CustomsRow(country, "", currency, int(n), 0, round_amount(from_raw(value)))
            for country, currency, n, value in db.session.execute(
                _dispatched(stmt, date_from, date_to))]


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (country x chapter, by country, by chapter) and its file name."""
    book = ReportBook(NAME, TITLE, [(_("Dispatched from"), date_from),
                                    (_("Dispatched to"), date_to)],
                      user=user, base_currency=settings.base_currency())
    progress(10, _("Summing by destination and chapter"))
    book.sheet(_("Country x chapter"),
               [Col(_("Country"), width=10), Col(_("HS chapter"), width=11),
                Col(_("Currency"), width=9), Col(_("Parcels"), "qty", 10),
                Col(_("Units"), "qty", 10), Col(_("Declared value"), "money", 16)],
               ([r.country, r.chapter, r.currency, r.parcels, r.units, r.value]
                for r in customs_rows(date_from, date_to)))
    progress(40, _("Summing by destination"))
    countries = parcels_by_country(date_from, date_to)
    ref = book.sheet(_("By country"), [Col(_("Country"), width=10), Col(_("Currency"), width=9),
                                       Col(_("Parcels"), "qty", 10),
                                       Col(_("Declared value"), "money", 16)],
                     ([r.country, r.currency, r.parcels, r.value] for r in countries))
    book.bar_chart(ref, title=_("Parcels by destination"), label_col=1, value_cols=[3],
                   anchor="G2", y_title=_("Parcels"))
    progress(70, _("Summing by chapter"))
    book.sheet(_("By HS chapter"), [Col(_("HS chapter"), width=11), Col(_("Currency"), width=9),
                                    Col(_("Parcels"), "qty", 10), Col(_("Units"), "qty", 10),
                                    Col(_("Declared value"), "money", 16)],
               ([r.chapter, r.currency, r.parcels, r.units, r.value]
                for r in customs_rows(date_from, date_to, by_country=False)))
    totals: dict[str, list] = {}
    for r in countries:
        entry = totals.setdefault(r.currency, [0, Decimal("0.00")])
        entry[0] += r.parcels
        entry[1] += r.value
    book.sheet(_("Totals"), [Col(_("Currency"), width=10), Col(_("Parcels"), "qty", 10),
                             Col(_("Declared value"), "money", 16)],
               ([cur, n, v] for cur, (n, v) in sorted(totals.items())))
    book.rule(_("Parcels"), _("Dispatched in the period (UTC days), by the order's "
                              "destination."))
    book.rule(_("HS chapter"), _("First two digits of the customs line's HS code."))
    book.rule(_("Declared value"), _("Quantity x declared unit value in the parcel's currency; "
                                     "never added across currencies."))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_from, date_to)
