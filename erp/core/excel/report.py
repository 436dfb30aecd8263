"""The error report: the uploaded sheet with its bad cells marked and an "Errors" column."""

from __future__ import annotations

import io
import warnings
import zipfile
from collections.abc import Iterable
from typing import Any

import openpyxl
from openpyxl.styles import Alignment, Font, PatternFill

from erp.core.excel import guards
from erp.core.excel.columns import (
    _MAX_TEXT,
    ERRORS_HEADER,
    CellError,
    Spec,
    _header_lookup,
    _norm,
    _sheet_name,
)
from erp.core.excel.guards import FileRefused
from erp.core.excel.reading import _find_header, _pick_sheet, _raw_rows
from erp.core.excel.writing import neutralise
from erp.core.i18n import _, in_every_language

_ERROR_FILL = "FFC7CE"  # Excel's own "light red fill"


def error_report_workbook(
    data: bytes,
    spec: Spec,
    errors: Iterable[CellError],
    *,
    filename: str = "upload.xlsx",
    max_bytes: int = guards.MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = guards.MAX_UNCOMPRESSED_BYTES,
) -> bytes:
    """Return the uploaded sheet with every erroneous cell in light red and an "Errors" column.

    The "Errors" column (added after the last column, or reused when the upload is itself an
    earlier report) holds each row's messages; errors about a whole row or the whole file go
    there too (file-level ones on the header row). An .xlsx/.xlsm upload keeps its own
    formatting and other sheets; a CSV upload is copied into a new workbook, its text
    neutralised. A file that :func:`check_upload` refuses is never opened: the report is then
    a new workbook holding just the errors.
    """
    errors = list(errors)
    workbook = sheet = None
    try:
        kind = guards.check_upload(data, filename, max_bytes=max_bytes,
                                   max_uncompressed_bytes=max_uncompressed_bytes)
    except FileRefused:
        kind = None
    if kind == "xlsx":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions
                workbook = openpyxl.load_workbook(io.BytesIO(data))
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
            workbook = None  # defusedxml's refusals are ValueErrors too
        if workbook is not None:
            visible = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"]
            candidates = visible or workbook.worksheets
            name = _pick_sheet([ws.title for ws in candidates], spec.title)
            sheet = workbook[name] if name is not None else None
    if workbook is None or sheet is None:
        workbook, sheet = _copy_to_new_workbook(data, spec, kind)
    _mark_errors(sheet, spec, errors)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _copy_to_new_workbook(data: bytes, spec: Spec, kind: str | None) -> tuple[Any, Any]:
    """Copy the values of a checked upload (``kind`` from check_upload; None: refused)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = _sheet_name(spec.title)
    if kind is None:
        return workbook, sheet
    try:
        for number, cells in _raw_rows(data, spec, kind):
            for index, value in enumerate(cells, start=1):
                if value is None or value == "":
                    continue
                cell = sheet.cell(row=number, column=index, value=neutralise(value))
                if isinstance(value, str):
                    cell.data_type = "s"  # openpyxl would save "=..." as a formula
    except FileRefused:
        pass  # the report then holds just the file-level error
    return workbook, sheet


def _mark_errors(sheet: Any, spec: Spec, errors: list[CellError]) -> None:
    lookup = _header_lookup(spec)
    top = ((number, list(cells)) for number, cells in enumerate(
        sheet.iter_rows(min_row=1, max_row=max(sheet.max_row, 1), values_only=True), start=1))
    header_row, header_cells = _find_header(top, lookup) or (1, [])

    positions: dict[str, int] = {}  # normalised header (or key) -> 1-based column
    errors_column = None
    # an earlier report's column, whatever the language it was made in
    errors_headers = {_norm(text) for text in in_every_language(ERRORS_HEADER)}
    for index, value in enumerate(header_cells, start=1):
        first_line = _norm(str(value).split("\n")[0]) if value is not None else ""
        if first_line in errors_headers:
            errors_column = errors_column or index
            continue
        column = lookup.get(_norm(value))
        if column is not None:  # errors name a column by its header in the reader's language
            positions.setdefault(_norm(column.header), index)
        positions.setdefault(_norm(value), index)
    if errors_column is not None:
        _clear_previous_report(sheet, header_row, errors_column)
    elif sheet.max_row == 1 and sheet.max_column == 1 and sheet.cell(1, 1).value is None:
        errors_column = 1  # nothing could be read: the report holds only the errors
    else:
        errors_column = sheet.max_column + 1

    fill = PatternFill(fill_type="solid", start_color=_ERROR_FILL, end_color=_ERROR_FILL)
    messages: dict[int, list[str]] = {}
    for error in errors:
        text = _("%(column)s: %(message)s", column=error.column, message=error.message) \
            if error.column else error.message
        if error.row <= header_row:  # the whole file, or the header itself
            messages.setdefault(header_row, []).append(text)
            continue
        index = positions.get(_norm(error.column)) if error.column else None
        if index is not None:
            sheet.cell(row=error.row, column=index).fill = fill
        messages.setdefault(error.row, []).append(text)

    wrap = Alignment(wrap_text=True, vertical="top")
    header_lines = [str(ERRORS_HEADER), *messages.pop(header_row, [])]
    cell = sheet.cell(row=header_row, column=errors_column, value="\n".join(header_lines))
    cell.data_type = "s"
    cell.font = Font(bold=True, color="9C0006")
    if len(header_lines) > 1:
        cell.fill = fill
        cell.alignment = wrap
    red = Font(color="9C0006")
    for row, lines in messages.items():
        cell = sheet.cell(row=row, column=errors_column, value="\n".join(lines)[:_MAX_TEXT])
        cell.data_type = "s"  # a message may quote a value starting with "="
        cell.font = red
        cell.alignment = wrap
    sheet.column_dimensions[cell.column_letter].width = 60


def _clear_previous_report(sheet: Any, header_row: int, errors_column: int) -> None:
    """Remove the marks of an earlier report that the user fixed and uploaded again."""
    for row in sheet.iter_rows(min_row=header_row + 1):
        for cell in row:
            if cell.column == errors_column:
                cell.value = None
            elif cell.fill is not None and cell.fill.fill_type == "solid" and str(
                    cell.fill.start_color.rgb).upper().endswith(_ERROR_FILL):
                cell.fill = PatternFill(fill_type=None)
