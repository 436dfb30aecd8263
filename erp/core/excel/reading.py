"""Reading an upload into typed rows, every error collected with its sheet row and column."""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import python_calamine

from erp.core.excel import guards
from erp.core.excel.columns import (
    CellError,
    Column,
    ParseResult,
    Spec,
    _header_lookup,
    _norm,
    _sheet_name,
)
from erp.core.excel.guards import FileRefused
from erp.core.excel.values import _choice_map, _convert
from erp.core.i18n import _, in_every_language, ngettext

_HEADER_SCAN_ROWS = 20  # a title or notes may sit above the header row


def read_workbook(
    data: bytes,
    spec: Spec,
    *,
    filename: str = "upload.xlsx",
    max_bytes: int = guards.MAX_UPLOAD_BYTES,
    max_uncompressed_bytes: int = guards.MAX_UNCOMPRESSED_BYTES,
) -> ParseResult:
    """Read an uploaded .xlsx/.xlsm workbook or .csv file into typed rows.

    The file is checked first (:func:`check_upload`): one that is too large, not a workbook or
    CSV, encrypted, damaged or a zip or XML bomb gives a single file-level error (row 0) and
    no rows, and nothing of it is unpacked.

    The header row (the first row naming a known column) is matched case-insensitively
    against each column's header or key; unknown columns are ignored and fully blank rows
    skipped. Every cell is converted to its column's type, checked against its choices and
    validator, and every problem is collected (not just the first) as a :class:`CellError`
    naming the sheet row and column header. Rows with errors are left out of ``rows``.

    Text that :func:`neutralise` protected (``'=...``) loses its apostrophe again, so an
    export read back gives the original values.
    """
    try:
        kind = guards.check_upload(data, filename, max_bytes=max_bytes,
                                   max_uncompressed_bytes=max_uncompressed_bytes)
        return _parse(_raw_rows(data, spec, kind), spec)
    except FileRefused as exc:
        return ParseResult(errors=[CellError(0, "", str(exc))])


def _raw_rows(data: bytes, spec: Spec, kind: str) -> Iterator[tuple[int, list[Any]]]:
    """Return (sheet row number, cell values) for every row, blank ones included.

    ``kind`` is what :func:`check_upload` returned for the file, which must have passed it.
    """
    return _csv_rows(data) if kind == "csv" else _calamine_rows(data, spec)


def _calamine_rows(data: bytes, spec: Spec) -> Iterator[tuple[int, list[Any]]]:
    try:
        workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = [meta.name for meta in workbook.sheets_metadata
                 if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
                 and meta.visible == python_calamine.SheetVisibleEnum.Visible]
        name = _pick_sheet(names or workbook.sheet_names, spec.title)
        sheet = workbook.get_sheet_by_name(name) if name is not None else None
    except python_calamine.PasswordError as exc:
        raise FileRefused(guards.ENCRYPTED_MESSAGE) from exc
    except (python_calamine.CalamineError, ValueError, OSError) as exc:
        raise FileRefused(_("%(message)s Details: %(details)s",
                            message=guards.DAMAGED_MESSAGE, details=exc)) from exc
    if sheet is None:
        raise FileRefused(_("The workbook has no worksheet."))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            # calamine yields rows from the top of the sheet: the position is the row number
            yield from enumerate(sheet.iter_rows(), start=1)
        except python_calamine.CalamineError as exc:
            raise FileRefused(_("%(message)s Details: %(details)s",
                                message=guards.DAMAGED_MESSAGE, details=exc)) from exc

    return rows()


def _pick_sheet(names: Sequence[str], title) -> str | None:
    """Prefer the sheet named like the spec's title (in any language), else the first one."""
    wanted = {_norm(_sheet_name(text)) for text in in_every_language(title)}
    for name in names:
        if _norm(name) in wanted:
            return name
    return names[0] if names else None


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[Any]]]:
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(_(
            'The CSV file is not UTF-8 encoded; in Excel, save it as "CSV UTF-8".')) from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            yield from enumerate(reader, start=1)
        except csv.Error as exc:
            raise FileRefused(_("The CSV file is malformed: %(details)s.", details=exc)) from exc

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
            problems.append(_('the column "%(column)s" appears twice', column=column.header))
        else:
            positions[column.key] = index
    missing = [column.header for column in spec.columns
               if column.required and column.key not in positions]
    if missing:
        problems.append(_("missing required columns: %(columns)s",
                          columns=", ".join(f'"{h}"' for h in missing)))
    if not positions and not missing:
        problems.append(_("no known columns found; expected: %(columns)s", columns=", ".join(
            f'"{column.header}"' for column in spec.columns)))
    return positions, problems


def _parse(numbered_rows: Iterator[tuple[int, list[Any]]], spec: Spec) -> ParseResult:
    lookup = _header_lookup(spec)
    header = _find_header(numbered_rows, lookup)
    if header is None:
        return ParseResult(errors=[CellError(1, "", _(
            "the sheet is empty; expected a header row with: %(columns)s",
            columns=", ".join(str(c.header) for c in spec.columns)))])
    header_row, header_cells = header
    positions, problems = _match_columns(header_cells, spec, lookup)
    if problems:
        return ParseResult(errors=[CellError(header_row, "", "; ".join(problems))])

    plan = [(column, positions[column.key], _choice_map(column), str(column.header))
            for column in spec.columns if column.key in positions]
    absent = [column.key for column in spec.columns if column.key not in positions]
    result = ParseResult(present=tuple(column.key for column, *_rest in plan))
    errors = result.errors
    count = 0
    for number, cells in numbered_rows:
        if _is_blank(cells):
            continue
        count += 1
        if count > spec.max_rows:
            return ParseResult(present=result.present, errors=[CellError(0, "", ngettext(
                "the file has more than %(count)s data row; split it into smaller files",
                "the file has more than %(count)s data rows; split it into smaller files",
                spec.max_rows, count=format(spec.max_rows, ",")))])
        record: dict[str, Any] = {"_row": number}
        valid = True
        for column, position, choices, header in plan:
            raw = cells[position] if position < len(cells) else None
            try:
                record[column.key] = _convert(raw, column, choices)
            except ValueError as exc:
                errors.append(CellError(number, header, str(exc) or _("is not valid")))
                valid = False
        if valid:
            for key in absent:
                record[key] = None
            result.rows.append(record)
    if count == 0:
        errors.append(CellError(header_row, "", _("the file has no data rows below the header")))
    return result
