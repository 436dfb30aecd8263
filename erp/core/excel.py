"""The Excel import/export framework: declare a sheet's columns once, get the rest.

A domain declares a :class:`Spec` (its columns: header, type, required, validator, help) and gets:

- :func:`export_workbook`: a fast .xlsx export (xlsxwriter, constant memory) that never writes a
  formula and neutralises text that a spreadsheet could run as one (DESIGN, "Excel");
- :func:`template_workbook`: an empty sheet to fill in, with a "Help" sheet;
- :func:`read_workbook`: .xlsx/.xlsm/.xls (python-calamine) or .csv to typed rows, collecting
  every error with its sheet row and column;
- :func:`error_report_workbook`: the uploaded sheet with the bad cells in red and an "Errors"
  column;
- :func:`run_import`: read, validate every row (the domain's checks come in as callbacks), then
  dry run or apply everything in one transaction: all or nothing.

Pure Python: no database and no Flask here. Domains pass their lookups and writes in as callables.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
import os
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

import openpyxl
import python_calamine
import xlsxwriter
from openpyxl.styles import Alignment, Font, PatternFill

__all__ = [
    "COLUMN_TYPES",
    "CellError",
    "Column",
    "ImportResult",
    "ParseResult",
    "RowError",
    "Spec",
    "error_report_workbook",
    "export_workbook",
    "find_duplicates",
    "neutralise",
    "read_workbook",
    "run_import",
    "template_workbook",
]

#: Column types. "auto" is for ad-hoc exports: each value is written by its own Python type
#: (and read back as the cell holds it).
COLUMN_TYPES = frozenset({"str", "int", "decimal", "date", "bool", "auto"})

#: A cell whose text starts with one of these may be run as a formula by a spreadsheet
#: (OWASP "CSV injection"); :func:`neutralise` prefixes such text with an apostrophe.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

EXCEL_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"})
CSV_EXTENSIONS = frozenset({".csv", ".txt"})

ERRORS_HEADER = "Errors"
HELP_SHEET = "Help"

_MAX_TEXT = 32_767  # Excel's limit on the characters in one cell
_EXACT_DIGITS = 15  # Excel keeps 15 significant digits of a number
_HEADER_SCAN_ROWS = 20  # a title or notes may sit above the header row
_ERROR_FILL = "FFC7CE"  # Excel's own "light red fill"

_TRUE = frozenset({"yes", "y", "true", "t", "1"})
_FALSE = frozenset({"no", "n", "false", "f", "0"})
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


# --------------------------------------------------------------------------- declarations


@dataclass(frozen=True)
class Column:
    """One column of a sheet, declared once for its template, import and export.

    :param key: the key in parsed row dicts; in exports, the dict key or attribute to read
        (a dotted path such as ``"supplier.name"`` walks attributes).
    :param header: the header text in the sheet (matched case-insensitively on import; the key
        is accepted too).
    :param type: one of :data:`COLUMN_TYPES`.
    :param validator: called with the converted, non-empty value; returns it (possibly
        normalised) or raises ``ValueError(message)``.
    :param choices: allowed values, matched case-insensitively and returned as declared.
    :param unique: no two rows of one file may hold the same value (checked by
        :func:`run_import`; text compared case-insensitively).
    """

    key: str
    header: str
    type: str = "str"
    required: bool = False
    validator: Callable[[Any], Any] | None = None
    help: str = ""
    width: int = 16
    decimals: int = 2
    choices: tuple[str, ...] | None = None
    unique: bool = False

    def __post_init__(self) -> None:
        """Check the declaration, so a typo fails at import time rather than on upload."""
        if self.type not in COLUMN_TYPES:
            raise ValueError(f"Column {self.key!r}: unknown type {self.type!r}")
        if not self.key or not self.header:
            raise ValueError("A column needs a key and a header")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))


@dataclass(frozen=True)
class Spec:
    """The columns of one importable or exportable sheet."""

    name: str
    title: str
    columns: tuple[Column, ...]
    max_rows: int = 200_000

    def __post_init__(self) -> None:
        """Reject duplicate keys or headers, which would make the header row ambiguous."""
        object.__setattr__(self, "columns", tuple(self.columns))
        owners: dict[str, int] = {}
        for position, column in enumerate(self.columns):
            for name in (_norm(column.key), _norm(column.header)):
                if owners.setdefault(name, position) != position:
                    raise ValueError(f"Spec {self.name!r}: column name {name!r} is used twice")

    def column(self, key: str) -> Column:
        """Return the column with this key.

        :raises KeyError: if the spec has no such column.
        """
        for column in self.columns:
            if column.key == key:
                return column
        raise KeyError(key)


@dataclass
class CellError:
    """One problem in an uploaded file.

    ``row`` is the sheet row number as Excel shows it (the header is row 1); 0 means the file as
    a whole. ``column`` is the column header, or "" for an error about the whole row.
    """

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        """Return the error as a user reads it: ``Row 7, column "Weight (g)": must be ...``."""
        if self.row <= 0:
            return self.message
        if self.column:
            return f'Row {self.row}, column "{self.column}": {self.message}'
        return f"Row {self.row}: {self.message}"


@dataclass
class ParseResult:
    """Rows read from an uploaded file, and every error found in it.

    ``rows`` holds only rows without errors; each dict has every column key (None when empty
    or when the column is absent from the file) plus ``"_row"``, the sheet row number.
    ``present`` lists the keys of the columns the file actually has, so an update can leave
    the fields of absent columns alone.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[CellError] = field(default_factory=list)
    present: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the file had no errors."""
        return not self.errors


@dataclass
class ImportResult:
    """The outcome of :func:`run_import`: counts when applied, errors otherwise."""

    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[CellError] = field(default_factory=list)
    dry_run: bool = False
    messages: list[str] = field(default_factory=list)
    row_count: int = 0

    @property
    def ok(self) -> bool:
        """Whether the import (or dry run) found no errors."""
        return not self.errors


class RowError(ValueError):
    """Raised by an import's ``apply`` callback to report a problem in one row (or cell)."""

    def __init__(self, message: str, *, row: int = 0, column: str = "") -> None:
        """Keep the sheet row number and column header with the message."""
        super().__init__(message)
        self.message = message
        self.row = row
        self.column = column


# --------------------------------------------------------------------------- export


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
    sheet = workbook.add_worksheet(_sheet_name(title or "Export"))
    sheet.freeze_panes(1, 0)
    writers = []
    for index, column in enumerate(columns):
        sheet.set_column(index, index, _width(column))
        sheet.write_string(0, index, column.header, formats.header)
        writers.append((_getter(column.key, index), column.type, formats.for_column(column)))

    row_index = 0
    for row_index, row in enumerate(rows, start=1):
        for col_index, (get, kind, number_format) in enumerate(writers):
            value = get(row)
            if value is not None:
                _write_cell(sheet, row_index, col_index, value, kind, number_format, formats)
    sheet.autofilter(0, 0, row_index, len(columns) - 1)
    workbook.close()
    return output.getvalue()


def template_workbook(spec: Spec) -> bytes:
    """Return an empty .xlsx to fill in for ``spec``, with a "Help" sheet describing each column.

    Required headers are highlighted, each header carries its help as a comment, text columns
    are formatted as Text (so barcodes keep their digits) and columns with choices get a
    drop-down list.
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
        sheet.write_string(0, index, column.header, header_format)
        sheet.write_comment(0, index, _describe(column), {"x_scale": 2, "y_scale": 1.5})
        choices = column.choices or (("yes", "no") if column.type == "bool" else None)
        if choices and len(",".join(choices)) <= 255:  # Excel's limit on a list's source
            sheet.data_validation(1, index, last_row, index, {
                "validate": "list",
                "source": list(choices),
                "error_type": "warning",
            })

    help_sheet = workbook.add_worksheet(HELP_SHEET)
    help_sheet.freeze_panes(1, 0)
    help_headers = ("Column", "Type", "Required", "Unique", "Allowed values", "Help")
    for index, (header, width) in enumerate(zip(help_headers, (24, 28, 10, 10, 30, 60),
                                                strict=True)):
        help_sheet.set_column(index, index, width, formats.wrap)
        help_sheet.write_string(0, index, header, formats.header)
    for row, column in enumerate(spec.columns, start=1):
        cells = (column.header, _type_label(column), "yes" if column.required else "no",
                 "yes" if column.unique else "no", ", ".join(column.choices or ()), column.help)
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
            columns.append(Column(key, header, type="auto"))
    return tuple(columns)


def _getter(key: str, position: int) -> Callable[[Any], Any]:
    """Return a function reading one column's value from a dict, a sequence or an object."""
    parts = key.split(".")

    def get(row: Any) -> Any:
        if isinstance(row, Mapping):
            if key in row:
                return row[key]
            value: Any = row
            for part in parts:
                value = value.get(part) if isinstance(value, Mapping) else getattr(
                    value, part, None)
                if value is None:
                    return None
            return value
        if isinstance(row, Sequence) and not isinstance(row, str):
            return row[position] if position < len(row) else None
        value = row
        for part in parts:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    return get


def _width(column: Column) -> int:
    return max(column.width, min(len(column.header) + 2, 60))


def _sheet_name(title: str) -> str:
    name = _BAD_SHEET_CHARS.sub(" ", title).strip().strip("'")[:31]
    return name or "Sheet1"


def _type_label(column: Column) -> str:
    if column.type == "int":
        return "whole number"
    if column.type == "decimal":
        return f"number (up to {column.decimals} decimals)"
    if column.type == "date":
        return "date (YYYY-MM-DD)"
    if column.type == "bool":
        return "yes / no"
    return "text"


def _describe(column: Column) -> str:
    lines = [f"{_type_label(column)}, {'required' if column.required else 'optional'}"
             + (", unique" if column.unique else "")]
    if column.choices:
        lines.append("One of: " + ", ".join(column.choices))
    if column.help:
        lines.append(column.help)
    return "\n".join(lines)


# --------------------------------------------------------------------------- import


def read_workbook(data: bytes, spec: Spec, *, filename: str = "upload.xlsx") -> ParseResult:
    """Read an uploaded .xlsx/.xlsm/.xls (or .xlsb/.ods) or .csv file into typed rows.

    The header row (the first row naming a known column) is matched case-insensitively
    against each column's header or key; unknown columns are ignored and fully blank rows
    skipped. Every cell is converted to its column's type, checked against its choices and
    validator, and every problem is collected (not just the first) as a :class:`CellError`
    naming the sheet row and column header. Rows with errors are left out of ``rows``.

    Text that :func:`neutralise` protected (``'=...``) loses its apostrophe again, so an
    export read back gives the original values.
    """
    try:
        numbered_rows = _raw_rows(data, spec, filename)
        return _parse(numbered_rows, spec)
    except _UnreadableFile as exc:
        return ParseResult(errors=[CellError(0, "", str(exc))])


def find_duplicates(rows: Iterable[Mapping[str, Any]], spec: Spec) -> list[CellError]:
    """Return an error for every row repeating a value of a ``unique`` column within the file.

    Text is compared case-insensitively and ignoring surrounding spaces; empty values never
    count as duplicates.
    """
    errors = []
    unique_columns = [column for column in spec.columns if column.unique]
    for column in unique_columns:
        first_row: dict[Any, int] = {}
        for row in rows:
            value = row.get(column.key)
            if value is None:
                continue
            marker = value.strip().casefold() if isinstance(value, str) else value
            if marker in first_row:
                errors.append(CellError(row["_row"], column.header,
                                        f"{_show(value)} is also in row {first_row[marker]}"))
            else:
                first_row[marker] = row["_row"]
    return errors


def run_import(
    data: bytes,
    spec: Spec,
    *,
    filename: str = "upload.xlsx",
    apply: Callable[[list[dict[str, Any]]], Mapping[str, Any] | Any],
    dry_run: bool,
    validate_row: Callable[[dict[str, Any]], list[CellError] | None] | None = None,
    transaction: Callable[[], AbstractContextManager[Any]] | None = None,
    error_types: tuple[type[Exception], ...] = (ValueError,),
) -> ImportResult:
    """Check an uploaded file completely, then (unless a dry run) apply it all or nothing.

    1. :func:`read_workbook`; 2. ``validate_row(row)`` for every valid row (the domain's
    lookups and duplicate checks; it may store what it looked up in the row for ``apply``)
    plus :func:`find_duplicates`; 3. with any error, or on a dry run, return without calling
    ``apply``; 4. otherwise call ``apply(rows)`` inside ``transaction()`` (e.g. a savepoint),
    so a failure leaves the database as it was.

    ``apply`` returns ``{"created": n, "updated": n, "skipped": n, "messages": [...]}`` (or an
    object with those attributes). An exception raised by ``apply`` or ``validate_row`` that
    has a ``row`` attribute (see :class:`RowError`), or is one of ``error_types``, becomes an
    error in the result after the transaction has seen it; anything else propagates.
    """
    parsed = read_workbook(data, spec, filename=filename)
    result = ImportResult(dry_run=dry_run, errors=list(parsed.errors),
                          row_count=len(parsed.rows))
    if validate_row is not None:
        for row in parsed.rows:
            try:
                row_errors = validate_row(row)
            except Exception as exc:  # user errors are kept, others re-raised
                row_errors = [_error_from_exception(exc, error_types, default_row=row["_row"])]
            result.errors.extend(row_errors or ())
    result.errors.extend(find_duplicates(parsed.rows, spec))
    result.errors.sort(key=lambda error: error.row)
    if result.errors:
        return result
    if dry_run:
        result.messages.append(f"{len(parsed.rows)} rows checked, no errors found.")
        return result

    try:
        with transaction() if transaction is not None else nullcontext():
            outcome = apply(parsed.rows)
    except Exception as exc:  # user errors are kept, others re-raised
        result.errors.append(_error_from_exception(exc, error_types, default_row=0))
        return result
    _take_counts(result, outcome)
    return result


def _error_from_exception(exc: Exception, error_types: tuple[type[Exception], ...], *,
                          default_row: int) -> CellError:
    """Turn a user error raised by a callback into a CellError; re-raise anything else."""
    if not hasattr(exc, "row") and not isinstance(exc, error_types):
        raise exc
    row = getattr(exc, "row", None)
    column = getattr(exc, "column", "") or ""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return CellError(row if isinstance(row, int) else default_row, str(column), str(message))


def _take_counts(result: ImportResult, outcome: Any) -> None:
    if outcome is None:
        return
    get = outcome.get if isinstance(outcome, Mapping) else (
        lambda name, default: getattr(outcome, name, default))
    result.created = int(get("created", 0) or 0)
    result.updated = int(get("updated", 0) or 0)
    result.skipped = int(get("skipped", 0) or 0)
    result.messages.extend(get("messages", None) or ())


class _UnreadableFile(Exception):
    """The upload is not a readable workbook or CSV; the message says why."""


def _extension(filename: str) -> str:
    return os.path.splitext(filename.strip().lower())[1]


def _raw_rows(data: bytes, spec: Spec, filename: str) -> Iterator[tuple[int, list[Any]]]:
    """Return (sheet row number, cell values) for every row of the file, blank ones included."""
    extension = _extension(filename)
    if extension in CSV_EXTENSIONS:
        return _csv_rows(data)
    if extension in EXCEL_EXTENSIONS:
        return _calamine_rows(data, spec)
    raise _UnreadableFile(f'Cannot read "{filename}": upload an .xlsx, .xls or .csv file.')


def _calamine_rows(data: bytes, spec: Spec) -> Iterator[tuple[int, list[Any]]]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = [meta.name for meta in workbook.sheets_metadata
                 if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
                 and meta.visible == python_calamine.SheetVisibleEnum.Visible]
        name = _pick_sheet(names or workbook.sheet_names, spec.title)
        if name is None:
            raise _UnreadableFile("The workbook has no worksheet.")
        sheet = workbook.get_sheet_by_name(name)
    except python_calamine.PasswordError as exc:
        raise _UnreadableFile("The workbook is password-protected; remove the password.") from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise _UnreadableFile(f"The file is not a readable Excel workbook ({exc}).") from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            # calamine yields rows from the top of the sheet: the position is the row number
            yield from enumerate(sheet.iter_rows(), start=1)
        except python_calamine.CalamineError as exc:
            raise _UnreadableFile(f"The workbook could not be read ({exc}).") from exc

    return rows()


def _pick_sheet(names: Sequence[str], title: str) -> str | None:
    """Prefer the sheet named like the spec's title, else the first visible worksheet."""
    wanted = _norm(_sheet_name(title))
    for name in names:
        if _norm(name) == wanted:
            return name
    return names[0] if names else None


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _UnreadableFile(
            'The CSV file is not UTF-8 encoded; in Excel, save it as "CSV UTF-8".') from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as exc:
            raise _UnreadableFile(f"The CSV file is malformed: {exc}.") from exc

    return rows()


def _sniff_delimiter(text: str) -> str:
    """Pick comma, semicolon or tab: whichever the header line uses most (outside quotes)."""
    line = next((line for line in io.StringIO(text) if line.strip()), "")
    counts = dict.fromkeys((",", ";", "\t"), 0)
    quoted = False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts, key=counts.__getitem__)  # ties go to the comma
    return best if counts[best] else ","


def _norm(text: Any) -> str:
    """Normalise a header for matching: trimmed, spaces collapsed, case-folded, no "*"."""
    if text is None:
        return ""
    if isinstance(text, float) and text.is_integer():
        text = int(text)
    return " ".join(str(text).split()).casefold().rstrip("*").rstrip()


def _header_lookup(spec: Spec) -> dict[str, Column]:
    lookup = {_norm(column.key): column for column in spec.columns}
    lookup.update({_norm(column.header): column for column in spec.columns})  # header wins
    return lookup


def _is_blank(cells: Sequence[Any]) -> bool:
    for value in cells:
        if value is None:
            continue
        if isinstance(value, str) and not value.strip():
            continue
        return False
    return True


def _find_header(numbered_rows: Iterator[tuple[int, list[Any]]],
                 lookup: Mapping[str, Column]) -> tuple[int, list[Any]] | None:
    """Return the header row: the first of the top rows naming a known column.

    Consumes rows up to and including the header from ``numbered_rows``. When no row within
    the first few non-blank ones names a known column, returns the first non-blank row.
    """
    first = None
    for scanned, (number, cells) in enumerate(numbered_rows):
        if scanned >= _HEADER_SCAN_ROWS and first is not None:
            break
        if _is_blank(cells):
            continue
        if first is None:
            first = (number, cells)
        if any(_norm(value) in lookup for value in cells):
            return number, cells
    return first


def _match_columns(header: Sequence[Any], spec: Spec,
                   lookup: Mapping[str, Column]) -> tuple[dict[str, int], list[str]]:
    """Map column keys to their position in the header row; return problems found."""
    positions: dict[str, int] = {}
    problems = []
    for index, value in enumerate(header):
        column = lookup.get(_norm(value))
        if column is None:
            continue
        if column.key in positions:
            problems.append(f'the column "{column.header}" appears twice')
        else:
            positions[column.key] = index
    missing = [column.header for column in spec.columns
               if column.required and column.key not in positions]
    if missing:
        problems.append("missing required columns: " + ", ".join(f'"{h}"' for h in missing))
    if not positions and not missing:
        problems.append("no known columns found; expected: "
                        + ", ".join(f'"{column.header}"' for column in spec.columns))
    return positions, problems


def _parse(numbered_rows: Iterator[tuple[int, list[Any]]], spec: Spec) -> ParseResult:
    lookup = _header_lookup(spec)
    header = _find_header(numbered_rows, lookup)
    if header is None:
        return ParseResult(errors=[CellError(1, "", "the sheet is empty; expected a header row "
                                             "with: " + ", ".join(c.header for c in spec.columns))])
    header_row, header_cells = header
    positions, problems = _match_columns(header_cells, spec, lookup)
    if problems:
        return ParseResult(errors=[CellError(header_row, "", "; ".join(problems))])

    plan = [(column, positions[column.key], _choice_map(column))
            for column in spec.columns if column.key in positions]
    absent = [column.key for column in spec.columns if column.key not in positions]
    result = ParseResult(present=tuple(column.key for column, _, _ in plan))
    errors = result.errors
    count = 0
    for number, cells in numbered_rows:
        if _is_blank(cells):
            continue
        count += 1
        if count > spec.max_rows:
            return ParseResult(present=result.present, errors=[CellError(
                0, "", f"the file has more than {spec.max_rows:,} data rows; "
                       "split it into smaller files")])
        record: dict[str, Any] = {"_row": number}
        valid = True
        for column, position, choices in plan:
            raw = cells[position] if position < len(cells) else None
            try:
                record[column.key] = _convert(raw, column, choices)
            except ValueError as exc:
                errors.append(CellError(number, column.header, str(exc) or "is not valid"))
                valid = False
        if valid:
            for key in absent:
                record[key] = None
            result.rows.append(record)
    if count == 0:
        errors.append(CellError(header_row, "", "the file has no data rows below the header"))
    return result


def _choice_map(column: Column) -> dict[str, str] | None:
    if not column.choices:
        return None
    return {choice.strip().casefold(): choice for choice in column.choices}


def _convert(raw: Any, column: Column, choices: Mapping[str, str] | None) -> Any:
    """Convert one cell to its column's type; raise ValueError(reason) if it cannot be."""
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw:
            raw = None
    if raw is None:
        if column.required:
            raise ValueError("is required")
        return None
    value = _CONVERTERS[column.type](raw)
    if choices is not None:
        value = _check_choice(value, column, choices)
    if column.validator is not None:
        value = column.validator(value)
    return value


def _check_choice(value: Any, column: Column, choices: Mapping[str, str]) -> Any:
    match = choices.get(str(value).strip().casefold())
    if match is None:
        allowed = column.choices or ()
        listed = ", ".join(allowed) if len(allowed) <= 12 else "see the Help sheet"
        raise ValueError(f"must be one of: {listed}; got {_show(value)}")
    return match if isinstance(value, str) else value


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        if value[:1] == "'" and value[1:2] and value[1] in FORMULA_PREFIXES:
            return value[1:]  # undo neutralise()
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 10**_EXACT_DIGITS:
            raise ValueError(f"is a number with more than {_EXACT_DIGITS} digits, which Excel "
                             "cannot keep exactly; format the column as Text and type it again")
        if not math.isfinite(value):
            raise ValueError(f"must be text, got {_show(value)}")
    return _text(value)


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    if number is None or number != number.to_integral_value():
        raise ValueError(f"must be a whole number, got {_show(value)}")
    return int(number)


def _to_decimal(value: Any) -> Decimal:
    number = _number(value)
    if number is None:
        hint = " (use a dot as the decimal separator)" if (
            isinstance(value, str) and "," in value) else ""
        raise ValueError(f"must be a number{hint}, got {_show(value)}")
    return number


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise ValueError(f"must be a date as YYYY-MM-DD, got {_show(value)}")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"must be yes or no, got {_show(value)}")


def _to_auto(value: Any) -> Any:
    if isinstance(value, float):
        number = _number(value)
        if number is not None and number == number.to_integral_value():
            return int(number)
        return number if number is not None else value
    return _to_str(value) if isinstance(value, str) else value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "decimal": _to_decimal,
    "date": _to_date,
    "bool": _to_bool,
    "auto": _to_auto,
}


def _number(value: Any) -> Decimal | None:
    """Return ``value`` as an exact Decimal, or None if it is not a number.

    A float (calamine's numbers) is taken at the 15 significant digits Excel keeps, so 0.1
    becomes Decimal("0.1") and Excel's 0.30000000000000004 becomes Decimal("0.3"). Text must
    be a plain decimal number: no thousands separators, no exponent.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return Decimal(format(value, f".{_EXACT_DIGITS}g"))
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            return None
    return None


def _text(value: Any) -> str:
    """Render a non-text cell value as the text a user typed (219.0 → "219")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        number = _number(value)
        return format(number, "f") if number is not None else str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _show(value: Any) -> str:
    """Render a bad value for an error message: numbers as typed, text in quotes."""
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return shown if _NUMBER_TEXT.fullmatch(value) else f'"{shown}"'
    return _text(value)


# --------------------------------------------------------------------------- error report


def error_report_workbook(data: bytes, spec: Spec, errors: Iterable[CellError], *,
                          filename: str = "upload.xlsx") -> bytes:
    """Return the uploaded sheet with every erroneous cell in light red and an "Errors" column.

    The "Errors" column (added after the last column, or reused when the upload is itself an
    earlier report) holds each row's messages; errors about a whole row or the whole file go
    there too (file-level ones on the header row). An .xlsx/.xlsm upload keeps its own
    formatting and other sheets; a CSV or .xls upload is copied into a new workbook, its text
    neutralised.
    """
    errors = list(errors)
    workbook = sheet = None
    if _extension(filename) in {".xlsx", ".xlsm"}:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # openpyxl warns about unsupported extensions
                workbook = openpyxl.load_workbook(io.BytesIO(data))
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError):
            workbook = None
        if workbook is not None:
            visible = [ws for ws in workbook.worksheets if ws.sheet_state == "visible"]
            candidates = visible or workbook.worksheets
            name = _pick_sheet([ws.title for ws in candidates], spec.title)
            sheet = workbook[name] if name is not None else None
    if workbook is None or sheet is None:
        workbook, sheet = _copy_to_new_workbook(data, spec, filename)
    _mark_errors(sheet, spec, errors)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def _copy_to_new_workbook(data: bytes, spec: Spec, filename: str) -> tuple[Any, Any]:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = _sheet_name(spec.title)
    try:
        for number, cells in _raw_rows(data, spec, filename):
            for index, value in enumerate(cells, start=1):
                if value is None or value == "":
                    continue
                cell = sheet.cell(row=number, column=index, value=neutralise(value))
                if isinstance(value, str):
                    cell.data_type = "s"  # openpyxl would save "=..." as a formula
    except _UnreadableFile:
        pass  # the report then holds just the file-level error
    return workbook, sheet


def _mark_errors(sheet: Any, spec: Spec, errors: list[CellError]) -> None:
    lookup = _header_lookup(spec)
    top = ((number, list(cells)) for number, cells in enumerate(
        sheet.iter_rows(min_row=1, max_row=max(sheet.max_row, 1), values_only=True), start=1))
    header_row, header_cells = _find_header(top, lookup) or (1, [])

    positions: dict[str, int] = {}  # normalised header (or key) -> 1-based column
    errors_column = None
    for index, value in enumerate(header_cells, start=1):
        first_line = _norm(str(value).split("\n")[0]) if value is not None else ""
        if first_line == _norm(ERRORS_HEADER):
            errors_column = errors_column or index
            continue
        column = lookup.get(_norm(value))
        if column is not None:
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
        text = f"{error.column}: {error.message}" if error.column else error.message
        if error.row <= header_row:  # the whole file, or the header itself
            messages.setdefault(header_row, []).append(text)
            continue
        index = positions.get(_norm(error.column)) if error.column else None
        if index is not None:
            sheet.cell(row=error.row, column=index).fill = fill
        messages.setdefault(error.row, []).append(text)

    wrap = Alignment(wrap_text=True, vertical="top")
    header_lines = [ERRORS_HEADER, *messages.pop(header_row, [])]
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
