"""The return-rate report: a period, one tab per dimension, and its Excel workbook."""

from __future__ import annotations

from datetime import date

from flask import render_template, request

from erp.aftersales import reports
from erp.aftersales.views import bp
from erp.core.permissions import permission_required
from erp.core.viewhelpers import xlsx_response


def _period() -> tuple[date, date]:
    """Read the period from the query string (default: the last 30 days)."""
    default_from, default_to = reports.default_period()

    def arg(name: str, default: date) -> date:
        try:
            return date.fromisoformat((request.args.get(name) or "").strip())
        except ValueError:
            return default

    date_from, date_to = arg("date_from", default_from), arg("date_to", default_to)
    if date_from > date_to:
        date_from, date_to = date_to, date_from
    return date_from, date_to


@bp.get("/reports/returns")
@permission_required("aftersales.report")
def return_report():
    """Show the return rate of a period by SKU, brand, category, reason or country."""
    date_from, date_to = _period()
    dimension = request.args.get("dimension")
    if dimension not in reports.DIMENSIONS:
        dimension = "sku"
    report = reports.return_report(date_from, date_to)
    return render_template("aftersales/reports/returns.html", report=report,
                           dimension=dimension, dimensions=reports.DIMENSION_LABELS,
                           tabs=reports.DIMENSION_TABS,
                           rows=report.rows[dimension])


@bp.get("/reports/returns.xlsx")
@permission_required("aftersales.report")
def export_return_report():
    """Download the return-rate report of the period (every dimension) as Excel."""
    date_from, date_to = _period()
    return xlsx_response(reports.report_workbook(reports.return_report(date_from, date_to)),
                         f"return-rates-{date_from.isoformat()}-{date_to.isoformat()}")
