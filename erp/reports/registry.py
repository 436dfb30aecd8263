"""The Excel reports: name -> title, description, parameters and builder; and the job kind.

``builder(date_from, date_to, progress, user=None) -> (bytes, filename)``. Reports with
``params == "as_of"`` take one date (``date_to``, the end of that day) and ignore
``date_from``; ``"range"`` reports cover ``date_from`` to ``date_to`` inclusive (UTC days).

:func:`run_report_job` is the background job kind ``"report"`` (:mod:`erp.core.jobs`): the report
screen submits it, the worker runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from erp.core import jobs
from erp.core.i18n import _, _l
from erp.core.models import User
from erp.extensions import db
from erp.reports.excel import (
    customs_summary,
    inventory_valuation,
    margin,
    purchase_spend,
    returns_analysis,
    sales_dispatch,
    stock_ageing,
    supplier_scorecard,
)

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ReportError(ValueError):
    """A report asked for with a bad name or period (the message says what is wrong)."""


@dataclass(frozen=True)
class ReportDef:
    """One report: its name, title, description, parameter shape and builder.

    The title and description are lazy: they are read in the reader's language.
    """

    name: str
    title: str
    description: str
    params: str  # "as_of" or "range"
    builder: Callable[..., tuple[bytes, str]]


REPORTS: dict[str, ReportDef] = {r.name: r for r in (
    ReportDef(inventory_valuation.NAME, inventory_valuation.TITLE,
              _l("Stock on hand per SKU at the end of a day, rebuilt from the ledger, valued "
                 "at the cost then; by SKU, category and brand."), "as_of",
              inventory_valuation.build),
    ReportDef(stock_ageing.NAME, stock_ageing.TITLE,
              _l("Units and value on hand by age since receipt (0-30, 31-90, 91-180, over 180 "
                 "days), FIFO, per SKU and in total."), "as_of", stock_ageing.build),
    ReportDef(sales_dispatch.NAME, sales_dispatch.TITLE,
              _l("Units and value of the parcels dispatched in the period by SKU, brand, "
                 "category and destination country."), "range", sales_dispatch.build),
    ReportDef(purchase_spend.NAME, purchase_spend.TITLE,
              _l("Purchase order spend by supplier and month, in the order currency and the "
                 "base currency."), "range", purchase_spend.build),
    ReportDef(returns_analysis.NAME, returns_analysis.TITLE,
              _l("Return rates by SKU, brand, category, reason and country, and the refunds "
                 "approved."), "range", returns_analysis.build),
    ReportDef(supplier_scorecard.NAME, supplier_scorecard.TITLE,
              _l("Per supplier, and per supplier and specification version: on-time delivery, "
                 "fill rate, lot rejection rate, defects per million and the rate of customer "
                 "returns for manufacturing reasons."), "range", supplier_scorecard.build),
    ReportDef(margin.NAME, margin.TITLE,
              _l("What each order placed in the period earned: revenue less cost of goods, "
                 "shipping, packaging, payment fee, refunds and replacements, in the base "
                 "currency; by order, SKU, brand, category, country, service and period, with "
                 "charts."), "range", margin.build),
    ReportDef(customs_summary.NAME, customs_summary.TITLE,
              _l("Declared value and parcel counts of dispatched parcels by destination "
                 "country and HS chapter, per currency."), "range", customs_summary.build),
)}


def today() -> date:
    """Return today's date (UTC)."""
    return datetime.now(UTC).date()


def resolve(name: str, date_from: date | str | None, date_to: date | str | None
            ) -> tuple[ReportDef, date | None, date]:
    """Return the report and its checked period; defaults: to today, from 30 days before.

    :raises ReportError: for an unknown report, a date that is not YYYY-MM-DD, or a period
        whose start is after its end.
    """
    report = REPORTS.get(name or "")
    if report is None:
        raise ReportError(_("Unknown report %(name)r; the reports are: %(names)s.", name=name,
                            names=", ".join(REPORTS)))

    def parse(value, message) -> date | None:
        if value in (None, ""):
            return None
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value).strip())
        except ValueError:
            raise ReportError(str(message) % {"value": repr(value)}) from None

    end = parse(date_to, _l("The to date %(value)s is not a date (YYYY-MM-DD).")) or today()
    if report.params == "as_of":
        return report, None, end
    start = parse(date_from, _l("The from date %(value)s is not a date (YYYY-MM-DD).")) \
        or end - timedelta(days=29)
    if start > end:
        raise ReportError(_("The period starts (%(start)s) after it ends (%(end)s).",
                            start=start.isoformat(), end=end.isoformat()))
    return report, start, end


def build_report(name: str, date_from=None, date_to=None, *, progress=None,
                 user: str | None = None) -> tuple[bytes, str]:
    """Build report ``name`` for the period and return ``(xlsx bytes, file name)``.

    :raises ReportError: see :func:`resolve`.
    """
    report, start, end = resolve(name, date_from, date_to)
    return report.builder(start, end, progress or (lambda *a, **k: None), user=user)


def _report_details(params: dict) -> list[tuple]:
    """The report and its period, labelled in the reader's language."""
    report = REPORTS.get(params.get("name"))
    rows = [(_("Report"), str(report.title) if report else params.get("name"))]
    if params.get("date_from"):
        rows.append((_("From"), params["date_from"]))
    if params.get("date_to"):
        rows.append((_("To") if params.get("date_from") else _("As of"), params["date_to"]))
    return rows


@jobs.register("report", page=jobs.KindPage(label=_l("Excel report"), details=_report_details))
def run_report_job(job: jobs.JobContext, *, name: str, date_from=None, date_to=None
                   ) -> jobs.JobResult:
    """Build a report as a background job (kind ``"report"``) and return its workbook.

    The workbook's sheets, headers and rules, its progress messages and a refusal are in the
    language the job runs in.
    """
    user = db.session.get(User, job.user_id) if job.user_id else None
    try:
        data, filename = build_report(name, date_from, date_to, progress=job.progress,
                                      user=user.username if user else None)
    except ReportError as err:
        raise jobs.JobError(str(err)) from None
    return jobs.JobResult(data, filename, XLSX_MIME)
