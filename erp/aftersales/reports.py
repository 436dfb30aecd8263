"""Return-rate report: units returned over units shipped in a period, and its Excel workbook.

By SKU, brand, category, reason and country, with the refunds of the period per currency.

- Units returned: the case lines of cases opened in the period whose type is a return or a
  refund (return for refund, return for replacement, refund only, wrong item), not rejected
  (nor closed after a rejection). Lost and damaged parcels are the carrier's, not returns.
- Units shipped: the parcel lines of parcels dispatched in the period.
- Rate: returned / shipped (none when nothing shipped). A reason has no shipped units of its
  own: its rate is over everything shipped in the period.

Everything is summed in SQL (GROUP BY); Python only lines the two sides up by key.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import xlsxwriter
from sqlalchemy import and_, func, literal, or_, select

from erp.aftersales.models import (
    AfterSalesCase,
    CaseLine,
    CaseState,
    CaseType,
    ReasonCode,
    Refund,
    RefundState,
)
from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku
from erp.core.excel import neutralise
from erp.core.i18n import _, _l, format_date, format_datetime
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping.models import Parcel, ParcelLine, ParcelState

#: case types whose units count as returned
RETURN_RATE_TYPES = (CaseType.return_refund, CaseType.return_replacement, CaseType.refund_only,
                     CaseType.wrong_item)
#: the report's dimensions: key -> tab label (English; see :data:`DIMENSION_LABELS`)
DIMENSIONS = {"sku": "SKU", "brand": "Brand", "category": "Category", "reason": "Reason",
              "country": "Country"}
#: each dimension's column heading, in the reader's language
DIMENSION_LABELS = {"sku": _l("SKU"), "brand": _l("Brand"), "category": _l("Category"),
                    "reason": _l("Reason"), "country": _l("Country")}
#: each dimension's tab and sheet name, in the reader's language
DIMENSION_TABS = {"sku": _l("By sku"), "brand": _l("By brand"), "category": _l("By category"),
                  "reason": _l("By reason"), "country": _l("By country")}


@dataclass
class RateRow:
    """One line of a dimension: its key, label, shipped and returned units and the rate."""

    key: str
    label: str
    shipped: int = 0
    returned: int = 0

    @property
    def rate(self) -> Decimal | None:
        """Return returned / shipped (None when nothing shipped)."""
        if not self.shipped:
            return None
        return Decimal(self.returned) / Decimal(self.shipped)


@dataclass
class ReturnReport:
    """The report of one period: rows by dimension, totals and refunds per currency."""

    date_from: date
    date_to: date
    rows: dict[str, list[RateRow]] = field(default_factory=dict)
    shipped: int = 0
    returned: int = 0
    refunds: dict[str, Decimal] = field(default_factory=dict)
    refund_count: int = 0

    @property
    def rate(self) -> Decimal | None:
        """Return the period's overall return rate (None when nothing shipped)."""
        return Decimal(self.returned) / Decimal(self.shipped) if self.shipped else None


def default_period(today: date | None = None) -> tuple[date, date]:
    """Return the last 30 days, today included."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=29), today


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    return (datetime.combine(date_from, time.min, UTC),
            datetime.combine(date_to + timedelta(days=1), time.min, UTC))


def _counted_cases(start: datetime, end: datetime):
    """Return the conditions on AfterSalesCase for the cases whose units count as returned."""
    return and_(AfterSalesCase.opened_at >= start, AfterSalesCase.opened_at < end,
                AfterSalesCase.case_type.in_(RETURN_RATE_TYPES),
                AfterSalesCase.state != CaseState.rejected,
                or_(AfterSalesCase.state != CaseState.closed,
                    AfterSalesCase.rejection_reason.is_(None)))


def _dimension_columns(dimension: str):
    """Return ``(key column, label column, joins)`` of a SKU-side dimension."""
    if dimension == "sku":
        return Sku.code, Sku.code, []
    if dimension == "brand":
        return Brand.code, Brand.name, [(Product, Product.id == Sku.product_id),
                                        (Brand, Brand.id == Product.brand_id)]
    if dimension == "category":
        return Category.code, Category.full_name, [(Product, Product.id == Sku.product_id),
                                                   (Category, Category.id == Product.category_id)]
    raise ValueError(dimension)


def _shipped(dimension: str, start: datetime, end: datetime):
    qty = func.sum(ParcelLine.quantity)
    if dimension == "country":
        stmt = (select(CustomerOrder.country.label("key"), CustomerOrder.country.label("label"),
                       qty.label("units"))
                .select_from(ParcelLine)
                .join(Parcel, Parcel.id == ParcelLine.parcel_id)
                .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
                .group_by(CustomerOrder.country))
    elif dimension == "reason":
        stmt = (select(literal("").label("key"), literal("").label("label"), qty.label("units"))
                .select_from(ParcelLine).join(Parcel, Parcel.id == ParcelLine.parcel_id))
    else:
        key, label, joins = _dimension_columns(dimension)
        stmt = (select(key.label("key"), func.max(label).label("label"), qty.label("units"))
                .select_from(ParcelLine)
                .join(Parcel, Parcel.id == ParcelLine.parcel_id)
                .join(Sku, Sku.id == ParcelLine.sku_id))
        for target, on in joins:
            stmt = stmt.join(target, on)
        stmt = stmt.group_by(key)
    return stmt.where(Parcel.state == ParcelState.dispatched, Parcel.dispatched_at >= start,
                      Parcel.dispatched_at < end)


def _returned(dimension: str, start: datetime, end: datetime):
    qty = func.sum(CaseLine.quantity)
    base = (select().select_from(CaseLine)
            .join(AfterSalesCase, AfterSalesCase.id == CaseLine.case_id)
            .where(_counted_cases(start, end)))
    if dimension == "country":
        return (base.add_columns(CustomerOrder.country.label("key"),
                                 CustomerOrder.country.label("label"), qty.label("units"))
                .join(CustomerOrder, CustomerOrder.id == AfterSalesCase.order_id)
                .group_by(CustomerOrder.country))
    if dimension == "reason":
        return (base.add_columns(ReasonCode.code.label("key"),
                                 func.max(ReasonCode.name).label("label"), qty.label("units"))
                .join(ReasonCode, ReasonCode.id == AfterSalesCase.reason_id)
                .group_by(ReasonCode.code))
    key, label, joins = _dimension_columns(dimension)
    stmt = base.add_columns(key.label("key"), func.max(label).label("label"),
                            qty.label("units")).join(Sku, Sku.id == CaseLine.sku_id)
    for target, on in joins:
        stmt = stmt.join(target, on)
    return stmt.group_by(key)


def return_rates(dimension: str, date_from: date, date_to: date) -> list[RateRow]:
    """Return the rows of one dimension for the period, most returned first.

    :raises ValueError: for an unknown dimension.
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"Unknown dimension {dimension!r}")
    start, end = _bounds(date_from, date_to)
    rows: dict[str, RateRow] = {}
    if dimension == "reason":
        total = db.session.execute(_shipped("reason", start, end)).one().units or 0
    else:
        for r in db.session.execute(_shipped(dimension, start, end)):
            rows[r.key] = RateRow(r.key, r.label or r.key, shipped=int(r.units or 0))
    for r in db.session.execute(_returned(dimension, start, end)):
        row = rows.setdefault(r.key, RateRow(r.key, r.label or r.key))
        row.returned = int(r.units or 0)
        if dimension == "reason":
            row.shipped = int(total)
    return sorted(rows.values(), key=lambda r: (-r.returned, -(r.rate or 0), r.key))


def refunds_by_currency(date_from: date, date_to: date) -> tuple[dict[str, Decimal], int]:
    """Return ``({currency: total}, count)`` of the refunds approved in the period."""
    start, end = _bounds(date_from, date_to)
    rows = db.session.execute(
        select(Refund.currency, func.sum(Refund.amount), func.count())
        .where(Refund.state == RefundState.approved, Refund.decided_at >= start,
               Refund.decided_at < end)
        .group_by(Refund.currency).order_by(Refund.currency)).all()
    return ({cur: Decimal(total or 0).quantize(Decimal("0.01")) for cur, total, _ in rows},
            sum(n for _, _, n in rows))


def return_report(date_from: date, date_to: date) -> ReturnReport:
    """Return the whole report of the period: every dimension, totals and refunds."""
    report = ReturnReport(date_from, date_to)
    for dimension in DIMENSIONS:
        report.rows[dimension] = return_rates(dimension, date_from, date_to)
    start, end = _bounds(date_from, date_to)
    report.shipped = int(db.session.execute(_shipped("reason", start, end)).one().units or 0)
    report.returned = int(db.session.scalar(
        select(func.coalesce(func.sum(CaseLine.quantity), 0))
        .join(AfterSalesCase, AfterSalesCase.id == CaseLine.case_id)
        .where(_counted_cases(start, end))) or 0)
    report.refunds, report.refund_count = refunds_by_currency(date_from, date_to)
    return report


# --------------------------------------------------------------------------- Excel


def report_workbook(report: ReturnReport) -> bytes:
    """Return the report as .xlsx: one sheet per dimension and a "Parameters" sheet.

    Each sheet has a frozen, filtered header; rates are in percent format. Text is written as
    text and neutralised (never a formula).
    """
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"strings_to_formulas": False, "strings_to_urls": False,
                                        "strings_to_numbers": False})
    header = book.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
    integer = book.add_format({"num_format": "#,##0"})
    percent = book.add_format({"num_format": "0.0%"})
    money = book.add_format({"num_format": "#,##0.00"})
    for dimension in DIMENSIONS:
        sheet = book.add_worksheet(str(DIMENSION_TABS[dimension]))
        heads = (str(DIMENSION_LABELS[dimension]), _("Name"), _("Units shipped"),
                 _("Units returned"), _("Return rate"))
        for col, (text, width) in enumerate(zip(heads, (18, 36, 14, 14, 12), strict=True)):
            sheet.set_column(col, col, width)
            sheet.write_string(0, col, text, header)
        rows = report.rows.get(dimension, [])
        for i, row in enumerate(rows, start=1):
            sheet.write_string(i, 0, neutralise(row.key or ""))
            sheet.write_string(i, 1, neutralise(row.label or ""))
            sheet.write_number(i, 2, row.shipped, integer)
            sheet.write_number(i, 3, row.returned, integer)
            if row.rate is not None:
                sheet.write_number(i, 4, float(row.rate), percent)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, len(rows), len(heads) - 1)
    params = book.add_worksheet(_("Parameters"))
    params.set_column(0, 0, 28)
    params.set_column(1, 1, 60)
    params.write_string(0, 0, _("Parameter"), header)
    params.write_string(0, 1, _("Value"), header)
    lines: list[tuple[str, object, object]] = [
        (_("Period from"), format_date(report.date_from), None),
        (_("Period to"), format_date(report.date_to), None),
        (_("Units shipped"), report.shipped, integer),
        (_("Units returned"), report.returned, integer),
        (_("Return rate"), float(report.rate) if report.rate is not None else "", percent),
        (_("Refunds approved"), report.refund_count, integer),
    ]
    lines += [(_("Refunds approved (%(currency)s)", currency=cur), float(total), money)
              for cur, total in report.refunds.items()]
    lines += [
        (_("Returned units"), _("Case lines of return, refund-only and wrong-item cases opened "
                                "in the period, not rejected"), None),
        (_("Shipped units"), _("Parcel lines of parcels dispatched in the period"), None),
        (_("Generated"), format_datetime(datetime.now(UTC)), None),
    ]
    for i, (name, value, fmt) in enumerate(lines, start=1):
        params.write_string(i, 0, name)
        if isinstance(value, (int, float)):
            params.write_number(i, 1, value, fmt)
        else:
            params.write_string(i, 1, neutralise(str(value)))
    params.freeze_panes(1, 0)
    params.autofilter(0, 0, len(lines), 1)
    book.close()
    return output.getvalue()
