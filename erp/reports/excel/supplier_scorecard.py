"""Supplier scorecard: on-time delivery, fill rate, lot rejection, DPM and manufacturing returns.

The figures are :func:`erp.reports.scorecard.supplier_scorecard`'s (the supplier page shows the
same); this module writes them with the reports' workbook style: a sheet per supplier, a sheet
per supplier and specification version, and the rules on the Parameters sheet.
"""

from __future__ import annotations

from datetime import date

from erp.aftersales.manufacturing import manufacturing_reason_codes
from erp.core import settings
from erp.core.i18n import _, _l
from erp.reports.excel.workbook import Col, ReportBook, filename, no_progress
from erp.reports.scorecard import ScoreRow, supplier_scorecard

NAME = "supplier_scorecard"
TITLE = _l("Supplier scorecard")


def _figure_columns() -> list[Col]:
    return [Col(_("Receipts with a promised date"), "qty", 12), Col(_("On time"), "qty", 10),
            Col(_("On-time delivery"), "percent", 11),
            Col(_("Units ordered (completed orders)"), "qty", 13),
            Col(_("Units received"), "qty", 12), Col(_("Fill rate"), "percent", 10),
            Col(_("Lots decided"), "qty", 10), Col(_("Lots rejected"), "qty", 10),
            Col(_("Lot rejection rate"), "percent", 11),
            Col(_("Units inspected"), "qty", 11), Col(_("Defects"), "qty", 10),
            Col(_("Defects per million"), "qty", 12),
            Col(_("Units shipped"), "qty", 11),
            Col(_("Units returned (manufacturing)"), "qty", 13),
            Col(_("Manufacturing return rate"), "percent", 12),
            Col(_("Return reasons (units)"), width=30)]


def _figures(r: ScoreRow) -> list:
    return [r.timed_receipts, r.on_time_receipts, r.on_time_rate, r.ordered_qty, r.received_qty,
            r.fill_rate, r.lots, r.lots_rejected, r.lot_rejection_rate, r.units_inspected,
            r.defects, r.dpm, r.units_shipped, r.units_returned, r.return_rate,
            r.reasons_text]


def build(date_from: date, date_to: date, progress=no_progress,
          user: str | None = None) -> tuple[bytes, str]:
    """Return the workbook (per supplier, per supplier and version) and its file name."""
    progress(10, _("Computing the scorecard"))
    card = supplier_scorecard(date_from, date_to)
    book = ReportBook(NAME, TITLE, [(_("Period from"), date_from), (_("Period to"), date_to)],
                      user=user, base_currency=settings.base_currency())
    progress(70, _("Writing"))
    book.sheet(_("By supplier"),
               [Col(_("Supplier"), width=12), Col(_("Name"), width=28), *_figure_columns()],
               ([r.supplier_code, r.supplier_name, *_figures(r)] for r in card.suppliers))
    book.sheet(_("By specification"),
               [Col(_("Supplier"), width=12), Col(_("Specification"), width=22),
                *_figure_columns()],
               ([r.supplier_code, r.spec_label if r.spec_version_id else _("No specification"),
                 *_figures(r)] for r in card.versions))
    book.rule(_("On-time delivery"), _(
        "Posted receipts dated in the period that deliver lines with a promised date (the "
        "line's expected date, else the order's): the share received on or before it; a "
        "receipt is late when any of its lines is (per specification: any of its lines of that "
        "version)."))
    book.rule(_("Fill rate"), _(
        "Orders completed in the period (received, or closed short): units received, capped "
        "at the quantity ordered per line, / units ordered; cancelled quantities count as not "
        "delivered."))
    book.rule(_("Lot rejection rate"), _(
        "Inspection lots decided in the period: rejected / decided; a lot released as a "
        "concession counts as rejected."))
    book.rule(_("Defects per million"), _(
        "Defects found / units in the inspection samples x 1,000,000."))
    book.rule(_("Manufacturing return rate"), _(
        "Units in return cases opened in the period (not rejected) whose reason is a "
        "manufacturing-defect reason (%(codes)s) / units shipped in the period. A SKU belongs "
        "to the supplier of its latest posted receipt, else of its preferred supplier item; "
        "its specification is its product's.",
        codes=" ".join(sorted(manufacturing_reason_codes())) or "-"))
    progress(95, _("Saving"))
    return book.save(), filename(NAME, date_from, date_to)
