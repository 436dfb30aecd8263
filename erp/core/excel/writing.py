"""Exports and templates: xlsxwriter, constant memory, never a formula."""

from __future__ import annotations

import io
import math
import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name
from xlsxwriter.worksheet import Worksheet

from erp.core.excel.columns import (
    _EXACT_DIGITS,
    _MAX_TEXT,
    FORMULA_PREFIXES,
    HELP_SHEET,
    Column,
    Spec,
    _sheet_name,
)
from erp.core.excel.values import _text
from erp.core.i18n import _, ngettext


def neutralise(value: Any) -> Any:
    """Return ``value`` made safe to put in a spreadsheet cell.

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or CR could be run as a formula when the
    file is opened or re-saved as CSV, so it gets a leading apostrophe. Anything else is
    returned unchanged. (Imports remove that apostrophe again, see :func:`read_workbook`.)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_workbook(
    spec_or_headers: Spec | Iterable[Column | tuple[str, str] | str],
    rows: Iterable[Any],
    *,
    title: str | None = None,
) -> bytes:
    """Write rows to an .xlsx workbook and return its bytes.

    :param spec_or_headers: a :class:`Spec`, or for an ad-hoc list a sequence of
        :class:`Column` objects, ``(key, header)`` pairs or plain keys.
    :param rows: dicts (by key), sequences (by position) or objects (by attribute; pass ORM
        entities themselves, e.g. ``session.scalars(...)``, not one-element result rows).
    :param title: the sheet name; defaults to the spec's title, or "Export".

    Headers (lazy strings) are written in the reader's language; an import reads them back in
    any language.

    Text is always written as text (never a formula) and neutralised; numbers, dates and
    booleans are written as such, with the column's number format.
    """
    if isinstance(spec_or_headers, Spec):
        columns = spec_or_headers.columns
        title = title or spec_or_headers.title
    else:
        columns = _adhoc_columns(spec_or_headers)
    if not columns:
        raise ValueError("An export needs at least one column")

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {
        "constant_memory": True,
        "strings_to_formulas": False,
        "strings_to_urls": False,
        "strings_to_numbers": False,
        "nan_inf_to_errors": True,
        "remove_timezone": True,
    })
    formats = _Formats(workbook)
    sheet = workbook.add_worksheet(_sheet_name(title or _("Export")), _ExportSheet)
    sheet.freeze_panes(1, 0)
    writers = []
    for index, column in enumerate(columns):
        sheet.set_column(index, index, _width(column))
        sheet.write_string(0, index, str(column.header), formats.header)
        writers.append((_getter(column.key, index), column.type, formats.for_column(column)))

    row_index = 0
    width = len(writers)
    getters = [get for get, _kind, _format in writers]
    # per column: may a number be written as a number (not in a text column), and its format
    numbers = [(kind != "str", number_format) for _get, kind, number_format in writers]
    sequence_types: dict[type, bool] = {}
    for row_index, row in enumerate(rows, start=1):
        row_type = type(row)
        whole = sequence_types.get(row_type)
        if whole is None:
            whole = sequence_types[row_type] = (isinstance(row, Sequence)
                                                and not isinstance(row, str))
        values = row if whole and len(row) == width else [get(row) for get in getters]
        # the common cells (text, finite numbers) go straight into the row; any other value
        # through _write_cell, which writes it exactly as before
        cells: dict[int, Any] = {}
        others = None
        for col_index, value in enumerate(values):
            if value is None:
                continue
            value_type = value.__class__
            if value_type is not str and value_type not in _NUMBER_TYPES and isinstance(
                    value, Enum):  # its value, as _write_cell writes it
                inner = value.value
                if inner.__class__ is str or inner.__class__ in _NUMBER_TYPES:
                    value = inner
                    value_type = inner.__class__
            if value_type is str:
                if len(value) < _FAST_TEXT:
                    if value.startswith(FORMULA_PREFIXES):
                        value = "'" + value
                    cells[col_index] = _String(value, None)
                    continue
            elif value_type in _NUMBER_TYPES:
                as_number, number_format = numbers[col_index]
                if as_number and (abs(value) < _BIG_INT if value_type is int
                                  else value_type is float or value.is_finite()):
                    number = float(value)
                    if math.isfinite(number):  # (NaN and infinities: _write_cell's formulas)
                        cells[col_index] = _Number(number, number_format)
                        continue
            if others is None:
                others = []
            others.append((col_index, value))
        if cells:
            sheet.put_cells(row_index, cells)
        if others:
            for col_index, value in others:
                _get, kind, number_format = writers[col_index]
                _write_cell(sheet, row_index, col_index, value, kind, number_format, formats)
    sheet.autofilter(0, 0, row_index, len(columns) - 1)
    workbook.close()
    return output.getvalue()


#: text shorter than this, even with neutralise()'s apostrophe, is under Excel's limit
#: whatever its UTF-16 length (xlsxwriter checks the length of longer text)
_FAST_TEXT = min(_MAX_TEXT, 32_767 // 2)
_NUMBER_TYPES = frozenset({int, float, Decimal})
_BIG_INT = 10**_EXACT_DIGITS
#: text that xlsxwriter writes unchanged: no XML or control character to escape, no
#: "_xHHHH_" to escape, no leading or trailing white space to preserve
_NEEDS_ESCAPING = re.compile(r"[\x00-\x08\x0b-\x1f&<>\ufffe\uffff]|_x[0-9a-fA-F]{4}_|^\s|\s$")
#: xlsxwriter's test for text that needs xml:space="preserve"
_SPACE_AT_ENDS = re.compile(r"^\s|\s$")
#: the row path keeps cells as xlsxwriter 3.3 does and writes its XML (compared byte for byte
#: by tests/core/test_excel_export_rows.py); with another version (setup.cfg allows 3.2, whose
#: worksheet keeps rows differently) every cell goes through xlsxwriter's own methods
_ROW_XML = xlsxwriter.__version__.startswith("3.3.")


def _cell_tuples() -> tuple[type, type, type]:
    if _ROW_XML:
        from xlsxwriter.worksheet import CellDatetimeTuple, CellNumberTuple, CellStringTuple

        return CellStringTuple, CellNumberTuple, CellDatetimeTuple
    return (namedtuple("String", "string, format"), namedtuple("Number", "number, format"),
            namedtuple("Datetime", "number, format"))


_String, _Number, _Datetime = _cell_tuples()


class _ExportSheet(Worksheet):
    """xlsxwriter's worksheet with a faster path for an export's rows, writing the same XML.

    In constant-memory mode xlsxwriter keeps one row of cells and writes it out as XML when the
    next row starts; its per-cell calls and its per-cell XML writer were two thirds of a
    100,000-row export. :meth:`put_cells` stores a whole row of text and number cells at once
    (as ``write_string`` / ``write_number`` would, cell by cell), and :meth:`_write_single_row`
    writes a row of such cells in one piece, with exactly the XML xlsxwriter writes (any other
    row, or any text needing an escape, goes through xlsxwriter's own code).
    """

    def __init__(self) -> None:
        """Start as xlsxwriter's worksheet, with the style attribute of each format kept."""
        super().__init__()
        self._styles: dict[Any, str] = {}

    def put_cells(self, row: int, cells: dict[int, Any]) -> None:
        """Store the text and number ``cells`` of ``row`` (column index: cell tuple).

        Text must be shorter than :data:`_FAST_TEXT` characters and numbers finite floats.
        """
        columns = list(cells)
        if (not _ROW_XML or self._check_dimensions(row, min(columns))
                or self._check_dimensions(row, max(columns))):
            for col, cell in cells.items():  # (out of bounds: as xlsxwriter does it)
                if cell.__class__ is _String:
                    self.write_string(row, col, cell.string, cell.format)
                else:
                    self.write_number(row, col, cell.number, cell.format)
            return
        if row > self.previous_row:
            self._write_single_row(row)
        self.table[row].update(cells)

    def _write_single_row(self, current_row_num: int = 0) -> None:
        if not _ROW_XML:
            super()._write_single_row(current_row_num)
            return
        row_num = self.previous_row
        cells = self.table.get(row_num)
        if (not cells or row_num in self.row_info or row_num in self.comments
                or self.default_row_height != self.original_row_height
                or self.excel_version != 2007):
            super()._write_single_row(current_row_num)
            return
        number_row = str(row_num + 1)
        parts = [f'<row r="{number_row}">']
        col_info = self.col_info
        styles = self._styles
        for col in sorted(cells):
            cell = cells[col]
            cell_format = cell.format
            if cell_format:
                style = styles.get(cell_format)
                if style is None:  # a format's index is fixed once it is first asked for
                    style = styles[cell_format] = f' s="{cell_format._get_xf_index()}"'
            elif col in col_info and col_info[col].column_format is not None:
                style = f' s="{col_info[col].column_format._get_xf_index()}"'
            else:
                style = ""
            name = _COLUMN_NAMES.get(col) or _column_name(col)
            kind = cell.__class__
            if kind is _String:
                text = cell.string
                if _NEEDS_ESCAPING.search(text):
                    parts.append(self._inline_string_xml(name + number_row, style, text))
                else:
                    parts.append(f'<c r="{name}{number_row}"{style} t="inlineStr"><is><t>'
                                 f'{text}</t></is></c>')
            elif kind is _Number or kind is _Datetime:
                parts.append(f'<c r="{name}{number_row}"{style}><v>{cell.number:.16G}</v></c>')
            else:  # a formula, a boolean, a blank...: xlsxwriter's own writer
                self.previous_row = row_num
                super()._write_single_row(current_row_num)
                return
        parts.append("</row>")
        self.fh.write("".join(parts))
        self.previous_row = current_row_num
        self.table.clear()

    def _inline_string_xml(self, ref: str, style: str, text: str) -> str:
        """Return xlsxwriter's XML of an inline string cell that needs escaping."""
        text = self._escape_control_characters(text)
        if text.startswith("<r>") and text.endswith("</r>"):
            return f'<c r="{ref}"{style} t="inlineStr"><is>{text}</is></c>'
        preserve = ' xml:space="preserve"' if _SPACE_AT_ENDS.search(text) else ""
        return (f'<c r="{ref}"{style} t="inlineStr"><is><t{preserve}>{self._escape_data(text)}'
                f"</t></is></c>")


_COLUMN_NAMES: dict[int, str] = {}


def _column_name(col: int) -> str:
    name = _COLUMN_NAMES[col] = xl_col_to_name(col)
    return name


def template_workbook(spec: Spec) -> bytes:
    """Return an empty .xlsx to fill in for ``spec``, with a "Help" sheet describing each column.

    Required headers are highlighted, each header carries its help as a comment, text columns
    are formatted as Text (so barcodes keep their digits) and columns with choices get a
    drop-down list. Headers, help and the Help sheet are in the reader's language; an import
    reads the headers back in any language.
    """
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {"strings_to_formulas": False,
                                            "strings_to_urls": False})
    formats = _Formats(workbook)
    sheet = workbook.add_worksheet(_sheet_name(spec.title))
    sheet.freeze_panes(1, 0)
    last_row = min(spec.max_rows, 1_048_575)
    for index, column in enumerate(spec.columns):
        column_format = formats.text if column.type == "str" else formats.for_column(column)
        sheet.set_column(index, index, _width(column), column_format)
        header_format = formats.required_header if column.required else formats.header
        sheet.write_string(0, index, str(column.header), header_format)
        sheet.write_comment(0, index, _describe(column), {"x_scale": 2, "y_scale": 1.5})
        choices = column.choices or ((_("yes"), _("no")) if column.type == "bool" else None)
        if choices and len(",".join(choices)) <= 255:  # Excel's limit on a list's source
            sheet.data_validation(1, index, last_row, index, {
                "validate": "list",
                "source": list(choices),
                "error_type": "warning",
            })

    help_sheet = workbook.add_worksheet(_sheet_name(HELP_SHEET))
    help_sheet.freeze_panes(1, 0)
    help_headers = (_("Column"), _("Type"), _("Required"), _("Unique"), _("Allowed values"),
                    _("Help"))
    for index, (header, width) in enumerate(zip(help_headers, (24, 28, 10, 10, 30, 60),
                                                strict=True)):
        help_sheet.set_column(index, index, width, formats.wrap)
        help_sheet.write_string(0, index, header, formats.header)
    for row, column in enumerate(spec.columns, start=1):
        cells = (str(column.header), _type_label(column), _("yes") if column.required else _("no"),
                 _("yes") if column.unique else _("no"), ", ".join(column.choices or ()),
                 str(column.help))
        for index, text in enumerate(cells):
            if text:
                help_sheet.write_string(row, index, neutralise(text))
    workbook.close()
    return output.getvalue()


class _Formats:
    """The few cell formats a workbook needs, created once (never per row)."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self.header = workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
        self.required_header = workbook.add_format(
            {"bold": True, "bottom": 1, "bg_color": "#FFE699"})
        self.text = workbook.add_format({"num_format": "@"})
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.integer = workbook.add_format({"num_format": "0"})
        self.date = workbook.add_format({"num_format": "yyyy-mm-dd"})
        self.datetime = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.time = workbook.add_format({"num_format": "hh:mm:ss"})
        self._decimals: dict[int, Any] = {}

    def decimal(self, places: int) -> Any:
        """Return the number format with ``places`` decimals ("0.00", "0.0000", ...)."""
        if places not in self._decimals:
            pattern = "0." + "0" * places if places > 0 else "0"
            self._decimals[places] = self._workbook.add_format({"num_format": pattern})
        return self._decimals[places]

    def for_column(self, column: Column) -> Any:
        """Return the number format for values of ``column`` (None: the General format)."""
        if column.type == "int":
            return self.integer
        if column.type == "decimal":
            return self.decimal(column.decimals)
        if column.type == "date":
            return self.date
        return None


def _write_cell(sheet: Any, row: int, col: int, value: Any, kind: str, number_format: Any,
                formats: _Formats) -> None:
    """Write one value by its type; text only ever through ``write_string``."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, str):
        sheet.write_string(row, col, _safe_text(value))
    elif kind == "str":
        sheet.write_string(row, col, _safe_text(_text(value)))
    elif isinstance(value, bool):
        sheet.write_boolean(row, col, value)
    elif isinstance(value, int) and abs(value) >= 10**_EXACT_DIGITS:
        sheet.write_string(row, col, str(value))  # Excel would round it
    elif isinstance(value, (int, float, Decimal)):
        sheet.write_number(row, col, float(value), number_format)
    elif isinstance(value, datetime):
        fmt = formats.date if kind == "date" else formats.datetime
        sheet.write_datetime(row, col, value, fmt)
    elif isinstance(value, date):
        sheet.write_datetime(row, col, value, formats.date)
    elif isinstance(value, time):
        sheet.write_datetime(row, col, value, formats.time)
    else:
        sheet.write_string(row, col, _safe_text(str(value)))


def _safe_text(text: str) -> str:
    return neutralise(text)[:_MAX_TEXT]


def _adhoc_columns(items: Iterable[Column | tuple[str, str] | str]) -> tuple[Column, ...]:
    columns = []
    for item in items:
        if isinstance(item, Column):
            columns.append(item)
        elif isinstance(item, str):
            columns.append(Column(item, item, type="auto"))
        else:
            key, header = item[0], item[1]
            columns.append(Column(key, header, type="auto"))  # header: text or lazy string
    return tuple(columns)


def _getter(key: str, position: int) -> Callable[[Any], Any]:
    """Return a function reading one column's value from a dict, a sequence or an object."""
    parts = key.split(".")
    # what each class of row is, decided once per class: the ABC isinstance checks cost about
    # a second per million cells, a tenth of a 100,000-row export
    kinds: dict[type, str] = {}

    def get(row: Any) -> Any:
        kind = kinds.get(type(row))
        if kind is None:
            kind = kinds[type(row)] = (
                "mapping" if isinstance(row, Mapping)
                else "sequence" if isinstance(row, Sequence) and not isinstance(row, str)
                else "object")
        if kind == "sequence":
            return row[position] if position < len(row) else None
        if kind == "mapping":
            if key in row:
                return row[key]
            value: Any = row
            for part in parts:
                value = value.get(part) if isinstance(value, Mapping) else getattr(
                    value, part, None)
                if value is None:
                    return None
            return value
        value = row
        for part in parts:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    return get


def _width(column: Column) -> int:
    return max(column.width, min(len(str(column.header)) + 2, 60))


def _type_label(column: Column) -> str:
    if column.type == "int":
        return _("whole number")
    if column.type == "decimal":
        return ngettext("number (up to %(num)d decimal)", "number (up to %(num)d decimals)",
                        column.decimals)
    if column.type == "date":
        return _("date (YYYY-MM-DD)")
    if column.type == "bool":
        return _("yes / no")
    return _("text")


def _describe(column: Column) -> str:
    needed = _("required") if column.required else _("optional")
    first = (_("%(type)s, %(needed)s, unique", type=_type_label(column), needed=needed)
             if column.unique else
             _("%(type)s, %(needed)s", type=_type_label(column), needed=needed))
    lines = [first]
    if column.choices:
        lines.append(_("One of: %(choices)s", choices=", ".join(column.choices)))
    if column.help:
        lines.append(str(column.help))
    return "\n".join(lines)
