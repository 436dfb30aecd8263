"""The monthly summary of the dispatched 9610 list lines, and its trace back to parcels."""

from __future__ import annotations

from flask import abort, current_app, render_template, request
from flask_sqlalchemy.pagination import Pagination

from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import page_arg, paginate_rows, xlsx_response
from erp.customs import summary
from erp.customs.views import bp
from erp.extensions import db


def _period_or_404(period: str) -> str:
    if not summary.valid_period(period):
        abort(404)
    return period


def _key_or_404():
    key = summary.SummaryKey.from_args(request.args)
    if key is None:
        abort(404)
    return key


def _search() -> str | None:
    return (request.args.get("q") or "").strip()[:7] or None


def months_spec() -> Spec:
    """Return the columns of the months list's export."""
    return Spec("customs-months", _("Customs months"), (
        Column("period", _("Month"), width=10),
        Column("parcels", _("Parcels"), type="int", width=10),
        Column("lines", _("List lines"), type="int", width=10),
        Column("first_ie_date", _("First export date"), width=14),
        Column("last_ie_date", _("Last export date"), width=14),
    ))


def summary_spec() -> Spec:
    """Return the columns of a month's summary workbook (one row a summary line)."""
    return Spec("customs-summary", _("Summary"), (
        Column("ebc_code", _("E-commerce company code"), width=20),
        Column("gcode", _("HS code"), width=12),
        Column("country", _("Destination"), width=11),
        Column("currency", _("Currency"), width=9),
        Column("port_code", _("Port"), width=7),
        Column("trade_mode", _("Trade mode"), width=10),
        Column("qty1", _("First quantity"), type="decimal", decimals=5, width=14),
        Column("unit1", _("First unit"), width=9),
        Column("qty2", _("Second quantity"), type="decimal", decimals=5, width=14),
        Column("unit2", _("Second unit"), width=9),
        Column("total_price", _("Total value"), type="decimal", decimals=2, width=14),
        Column("parcels", _("Parcels"), type="int", width=9),
        Column("lines", _("List lines"), type="int", width=9),
    ))


def trace_spec() -> Spec:
    """Return the columns of one summary line's trace export (one row a list line)."""
    return Spec("customs-trace", _("Parcels"), (
        Column("parcel_number", _("Parcel"), width=16),
        Column("tracking_number", _("Tracking number"), width=18),
        Column("order_no", _("Order"), width=18),
        Column("cop_no", _("List number (copNo)"), width=22),
        Column("ie_date", _("Export date"), width=10),
        Column("gnum", _("Item"), type="int", width=6),
        Column("sku_code", _("SKU"), width=18),
        Column("item_name", _("Item name"), width=28),
        Column("qty", _("Quantity"), type="decimal", decimals=5, width=11),
        Column("unit", _("Unit"), width=6),
        Column("qty1", _("First quantity"), type="decimal", decimals=5, width=14),
        Column("qty2", _("Second quantity"), type="decimal", decimals=5, width=14),
        Column("total_price", _("Total value"), type="decimal", decimals=2, width=14),
    ))


def summary_workbook(period: str, lines: list[summary.SummaryLine] | None = None) -> bytes:
    """Return the month's summary as an .xlsx workbook (one sheet, one row a summary line).

    :param lines: the month's :func:`~erp.customs.summary.monthly_summary` when already read.
    """
    if lines is None:
        lines = summary.monthly_summary(period)
    return export_workbook(summary_spec(), lines, title=_("Summary %(period)s", period=period))


class ListPagination(Pagination):
    """A page of a list already in memory (a month's summary: tens to hundreds of lines).

    The summary is one ``GROUP BY`` over the month's ledger; reading it whole once is cheaper
    than grouping twice (the page's rows, then their count).
    """

    def _query_items(self) -> list:
        return self._query_args["rows"][self._query_offset:self._query_offset + self.per_page]

    def _query_count(self) -> int:
        return len(self._query_args["rows"])


@bp.get("/months")
@permission_required("customs.view")
def month_list():
    """List the months of the customs ledger (9610), newest first; search by year or month."""
    q = _search()
    page = paginate_rows(summary.periods_query(q), count=summary.periods_count_query(q),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    lines = summary.line_counts([row.period for row in page.items])
    return render_template("customs/month_list.html", page=page, q=q or "", lines=lines)


@bp.get("/months/export.xlsx")
@permission_required("customs.view")
def export_months():
    """Download the months the list shows (same search) as an Excel workbook."""
    months = list(db.session.execute(summary.periods_query(_search())))
    lines = summary.line_counts([row.period for row in months])
    data = export_workbook(months_spec(), ({**row._mapping, "lines": lines.get(row.period, 0)}
                                           for row in months))
    return xlsx_response(data, "customs-months")


@bp.get("/months/<period>")
@permission_required("customs.view")
def month_detail(period: str):
    """Show a month's summary lines (by company, HS code, destination, currency, port, mode)."""
    _period_or_404(period)
    page = ListPagination(rows=summary.monthly_summary(period), page=page_arg(),
                          per_page=current_app.config["ERP_PAGE_SIZE"], max_per_page=None,
                          error_out=False)
    return render_template("customs/month_detail.html", period=period, page=page,
                           lines=page.items)


@bp.get("/months/<period>/summary.xlsx")
@permission_required("customs.view")
def export_month(period: str):
    """Download the month's summary as an Excel workbook."""
    _period_or_404(period)
    return xlsx_response(summary_workbook(period), f"customs-summary-{period}")


@bp.get("/months/<period>/trace")
@permission_required("customs.view")
def month_trace(period: str):
    """Show the parcels (list lines) behind one summary line of the month."""
    _period_or_404(period)
    key = _key_or_404()
    page = paginate_rows(summary.trace_query(period, key),
                         count=summary.trace_count_query(period, key),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("customs/month_trace.html", period=period, key=key, page=page)


@bp.get("/months/<period>/trace.xlsx")
@permission_required("customs.view")
def export_trace(period: str):
    """Download the parcels behind one summary line as an Excel workbook."""
    _period_or_404(period)
    key = _key_or_404()
    rows = (row._mapping for row in db.session.execute(summary.trace_query(period, key)))
    return xlsx_response(export_workbook(trace_spec(), rows),
                         f"customs-trace-{period}-{key.gcode}")
