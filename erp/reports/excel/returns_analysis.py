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
from erp.core.i18n import _, _l, ngettext
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress

NAME = "returns_analysis"
TITLE = _l("Returns analysis")


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (one sheet per dimension, a summary, refunds) and its file name."""
    progress(10, _("Summing returns and shipments"))
    report = return_report(date_from, date_to)
    book = ReportBook(NAME, TITLE, [(_("Period from"), date_from), (_("Period to"), date_to)],
                      user=user, base_currency=settings.base_currency())
    progress(60, _("Writing"))
    book.sheet(_("Summary"), [Col(_("Figure"), width=24), Col(_("Units"), "qty", 12),
                              Col(_("Rate"), "percent", 10)],
               [[_("Units shipped"), report.shipped, None],
                [_("Units returned"), report.returned, report.rate]])
    for dimension, label in DIMENSIONS.items():
        rows = report.rows.get(dimension, [])
        ref = book.sheet(_("By %(dimension)s", dimension=str(label).lower()),
                         [Col(str(label), width=18), Col(_("Name"), width=36),
                          Col(_("Units shipped"), "qty", 13), Col(_("Units returned"), "qty", 13),
                          Col(_("Return rate"), "percent", 11)],
                         ([r.key, r.label, r.shipped, r.returned, r.rate] for r in rows))
        if dimension == "reason":
            book.bar_chart(ref, title=_("Units returned by reason"), label_col=1,
                           value_cols=[4], anchor="G2", y_title=_("Units"))
    book.sheet(_("Refunds"), [Col(_("Currency"), width=10),
                              Col(_("Approved refunds"), "money", 18)],
               ([cur, total] for cur, total in report.refunds.items()),
               totals=[ngettext("%(num)d refund", "%(num)d refunds", report.refund_count), None])
    book.rule(_("Returned"), _("Case lines of return, refund-only and wrong-item cases opened "
                               "in the period, not rejected."))
    book.rule(_("Shipped"), _("Parcel lines of parcels dispatched in the period."))
    book.rule(_("Rate"), _("Returned / shipped; a reason's rate is over all units shipped."))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_from, date_to)
