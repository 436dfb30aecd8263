"""Shared workbook helpers: styled sheets, totals, charts and the "Parameters" sheet.

Workbooks are written in openpyxl's write-only mode (rows stream out, so 100,000-row reports
stay within memory) with native openpyxl charts. Every text cell passes through
:func:`erp.core.excel.neutralise`, so a SKU or supplier name such as ``=HYPERLINK(...)`` is
written as text and never runs as a formula.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from erp.core.excel import neutralise
from erp.core.i18n import _

#: number formats by column kind
FORMATS = {
    "money": "#,##0.00",
    "cost": "#,##0.0000",
    "qty": "#,##0",
    "date": "yyyy-mm-dd",
    "percent": "0.0%",
    "text": "@",
}
#: the name of the run's sheet (in English; written in the reader's language)
PARAMETERS_SHEET = "Parameters"
_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", start_color="FFEEEEEE")
_TOTAL_FONT = Font(bold=True)

#: a job's progress callback: ``progress(percent, message=None)``
Progress = Callable[..., None]


def no_progress(percent: int, message: str | None = None) -> None:
    """Ignore progress (the CLI and direct calls)."""


@dataclass(frozen=True)
class Col:
    """One column of a report sheet: header, kind (a key of :data:`FORMATS`) and width."""

    header: str
    kind: str = "text"
    width: int = 14


@dataclass
class SheetRef:
    """Where a written sheet's data sits, for charts: the sheet and its last data row."""

    sheet: object
    last_row: int


def _cell(ws, value, kind: str, *, bold: bool = False) -> WriteOnlyCell:
    if isinstance(value, str):
        value = neutralise(value)
    elif isinstance(value, float):
        value = Decimal(repr(value))
    cell = WriteOnlyCell(ws, value=value)
    if value is not None and not isinstance(value, str):
        cell.number_format = FORMATS.get(kind, "General")
    if bold:
        cell.font = _TOTAL_FONT
    return cell


class ReportBook:
    """A report workbook under construction: add sheets, then :meth:`save`.

    Titles, headers, labels and rules are written as given: the report modules pass them in the
    reader's language (a report job runs in the language of whoever started it).

    :param name: the report's registry name (shown on the Parameters sheet).
    :param title: the report's title.
    :param parameters: ``(label, value)`` pairs describing the run (period, as-of date...).
    """

    def __init__(self, name: str, title: str, parameters: Sequence[tuple[str, object]], *,
                 user: str | None = None, base_currency: str | None = None) -> None:
        """Start an empty write-only workbook."""
        self.book = Workbook(write_only=True)
        self.name, self.title = name, str(title)
        self.parameters = [(str(label), value) for label, value in parameters]
        self.user = user
        self.base_currency = base_currency
        self.rules: list[tuple[str, str]] = []

    def sheet(self, title: str, columns: Sequence[Col], rows: Iterable[Sequence],
              *, totals: Sequence | None = None) -> SheetRef:
        """Write one sheet: bold frozen header, typed cells, widths, autofilter, totals row.

        ``totals`` (values aligned with the columns; None leaves a cell empty) is written in
        bold below the data and kept out of the autofilter range.
        """
        ws = self.book.create_sheet(str(title)[:31])
        for i, col in enumerate(columns, start=1):
            ws.column_dimensions[get_column_letter(i)].width = col.width
        ws.freeze_panes = "A2"
        header = []
        for col in columns:
            cell = WriteOnlyCell(ws, value=neutralise(str(col.header)))
            cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            header.append(cell)
        ws.append(header)
        count = 0
        for row in rows:
            ws.append([_cell(ws, v, c.kind) for v, c in zip(row, columns, strict=True)])
            count += 1
        last = get_column_letter(len(columns))
        ws.auto_filter.ref = f"A1:{last}{count + 1}"
        if totals is not None:
            ws.append([_cell(ws, v, c.kind, bold=True) for v, c in zip(totals, columns,
                                                                         strict=True)])
        return SheetRef(ws, count + 1)

    def bar_chart(self, ref: SheetRef, *, title: str, label_col: int, value_cols: Sequence[int],
                  anchor: str, y_title: str = "", max_rows: int = 50,
                  stacked: bool = False) -> None:
        """Add a native bar chart of ``value_cols`` by ``label_col`` (1-based) of a sheet.

        Only the first ``max_rows`` data rows are drawn (a chart of thousands of bars helps
        nobody; the sheet is sorted largest first where that matters).
        """
        last = min(ref.last_row, max_rows + 1)
        if last < 2:
            return
        chart = BarChart()
        chart.type = "col"
        chart.title = str(title)
        chart.y_axis.title = str(y_title)
        chart.height, chart.width = 9, 18
        if stacked:
            chart.grouping, chart.overlap = "stacked", 100
        for col in value_cols:
            chart.add_data(Reference(ref.sheet, min_col=col, min_row=1, max_row=last),
                           titles_from_data=True)
        chart.set_categories(Reference(ref.sheet, min_col=label_col, min_row=2, max_row=last))
        ref.sheet.add_chart(chart, anchor)

    def line_chart(self, ref: SheetRef, *, title: str, label_col: int,
                   value_cols: Sequence[int], anchor: str, y_title: str = "",
                   max_rows: int = 120) -> None:
        """Add a native line chart of ``value_cols`` by ``label_col`` (1-based) of a sheet.

        For a series over time (the sheet in time order); the first ``max_rows`` data rows.
        """
        last = min(ref.last_row, max_rows + 1)
        if last < 2:
            return
        chart = LineChart()
        chart.title = str(title)
        chart.y_axis.title = str(y_title)
        chart.height, chart.width = 9, 18
        for col in value_cols:
            chart.add_data(Reference(ref.sheet, min_col=col, min_row=1, max_row=last),
                           titles_from_data=True)
        chart.set_categories(Reference(ref.sheet, min_col=label_col, min_row=2, max_row=last))
        ref.sheet.add_chart(chart, anchor)

    def rule(self, name: str, text: str) -> None:
        """Record a rule the figures follow; it is listed on the Parameters sheet."""
        self.rules.append((str(name), str(text)))

    def _parameters_sheet(self) -> None:
        rows: list[tuple[str, object, str]] = [(_("Report"), self.title, "text"),
                                               (_("Report name"), self.name, "text")]
        for label, value in self.parameters:
            rows.append((label, value, "date" if isinstance(value, date) else "text"))
        rows += [
            (_("Base currency"), self.base_currency or "", "text"),
            (_("Generated at (UTC)"), datetime.now(UTC).replace(tzinfo=None, microsecond=0),
             "datetime"),
            (_("Generated by"), self.user or "", "text"),
        ]
        rows += [(name, text, "text") for name, text in self.rules]
        ws = self.book.create_sheet(_("Parameters"))
        ws.column_dimensions["A"].width = 28
        ws.column_dimensions["B"].width = 90
        ws.freeze_panes = "A2"
        header = []
        for text in (_("Parameter"), _("Value")):
            cell = WriteOnlyCell(ws, value=text)
            cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
            header.append(cell)
        ws.append(header)
        for label, value, kind in rows:
            cell = _cell(ws, value, kind)
            if kind == "datetime":
                cell.number_format = "yyyy-mm-dd hh:mm"
            if isinstance(value, str):
                cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.append([_cell(ws, label, "text"), cell])
        ws.auto_filter.ref = f"A1:B{len(rows) + 1}"

    def save(self) -> bytes:
        """Add the Parameters sheet (last) and return the workbook's bytes."""
        self._parameters_sheet()
        out = io.BytesIO()
        self.book.save(out)
        return out.getvalue()


def filename(name: str, *dates: date) -> str:
    """Return ``<name>-<date>[-<date>].xlsx``."""
    return "-".join([name.replace("_", "-"), *(d.isoformat() for d in dates)]) + ".xlsx"
