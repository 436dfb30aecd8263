"""Returns analysis: return rates by SKU, brand, category, reason and country, and refunds.

The figures are after-sales' own (:func:`erp.aftersales.reports.return_report`, so the screen
and this workbook agree); this module only writes them with the reports' workbook style.
Rules (from that module): units returned are the case lines of return, refund-only and
wrong-item cases opened in the period and not rejected; units shipped are the parcel lines of
parcels dispatched in the period; rate = returned / shipped (empty when nothing shipped); a
reason's rate is over everything shipped. Refunds are those approved in the period, per
currency.
"""

from __future__ import annotations

from datetime import date

from erp.aftersales.reports import DIMENSIONS, return_report
from erp.core import settings
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress

NAME = "returns_analysis"
TITLE = "Returns analysis"


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (one sheet per dimension, a summary, refunds) and its file name."""
    progress(10, "Summing returns and shipments")
    report = return_report(date_from, date_to)
    book = ReportBook(NAME, TITLE, [("Period from", date_from), ("Period to", date_to)],
                      user=user, base_currency=settings.base_currency())
    progress(60, "Writing")
    book.sheet("Summary", [Col("Figure", width=24), Col("Units", "qty", 12),
                           Col("Rate", "percent", 10)],
               [["Units shipped", report.shipped, None],
                ["Units returned", report.returned, report.rate]])
    for dimension, label in DIMENSIONS.items():
        rows = report.rows.get(dimension, [])
        ref = book.sheet(f"By {label.lower()}",
                         [Col(label, width=18), Col("Name", width=36),
                          Col("Units shipped", "qty", 13), Col("Units returned", "qty", 13),
                          Col("Return rate", "percent", 11)],
                         ([r.key, r.label, r.shipped, r.returned, r.rate] for r in rows))
        if dimension == "reason":
            book.bar_chart(ref, title="Units returned by reason", label_col=1, value_cols=[4],
                           anchor="G2", y_title="Units")
    book.sheet("Refunds", [Col("Currency", width=10), Col("Approved refunds", "money", 18)],
               ([cur, total] for cur, total in report.refunds.items()),
               totals=[f"{report.refund_count} refund(s)", None])
    book.rule("Returned", "Case lines of return, refund-only and wrong-item cases opened in "
                          "the period, not rejected.")
    book.rule("Shipped", "Parcel lines of parcels dispatched in the period.")
    book.rule("Rate", "Returned / shipped; a reason's rate is over all units shipped.")
    progress(95, "Saving")
    return book.save(), filename(NAME, date_from, date_to)
