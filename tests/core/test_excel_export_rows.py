"""The export's fast row path writes exactly the sheet the cell-by-cell writer wrote (issue 22).

:func:`export_workbook` hands whole rows of text and number cells to xlsxwriter and writes a row's
XML in one piece; every other value goes through ``_write_cell`` as before. The reference here is
the writer as it was before: every value through ``_write_cell`` on xlsxwriter's own worksheet.
The sheets must be the same bytes, for every kind of value an export meets.
"""

import io
import re
import zipfile
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum, StrEnum
from types import SimpleNamespace

import openpyxl
import xlsxwriter

from erp.core.excel import Column, Spec, export_workbook, writing


class _Colour(StrEnum):
    red = "red"


class _Size(Enum):
    large = "L"


def _reference_export(spec: Spec, rows) -> bytes:
    """The export of ``rows`` as the writer wrote it before: cell by cell, xlsxwriter's XML."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "nan_inf_to_errors": True, "remove_timezone": True})
    formats = writing._Formats(workbook)
    sheet = workbook.add_worksheet(writing._sheet_name(spec.title))
    sheet.freeze_panes(1, 0)
    writers = []
    for index, column in enumerate(spec.columns):
        sheet.set_column(index, index, writing._width(column))
        sheet.write_string(0, index, str(column.header), formats.header)
        writers.append((writing._getter(column.key, index), column.type,
                        formats.for_column(column)))
    row_index = 0
    for row_index, row in enumerate(rows, start=1):
        for col_index, (get, kind, number_format) in enumerate(writers):
            value = get(row)
            if value is not None:
                writing._write_cell(sheet, row_index, col_index, value, kind, number_format,
                                    formats)
    sheet.autofilter(0, 0, row_index, len(spec.columns) - 1)
    workbook.close()
    return output.getvalue()


def _parts(blob: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return {name: archive.read(name) for name in archive.namelist()
                if name != "docProps/core.xml"}  # holds the time of writing


SPEC = Spec(name="tricky", title="Tricky: rows", columns=(
    Column("text", "Text"),
    Column("count", "Count", type="int"),
    Column("amount", "Amount", type="decimal", decimals=3),
    Column("day", "Day", type="date"),
    Column("anything", "Anything", type="auto"),
    Column("flag", "Flag", type="bool"),
    Column("code", "Code"),
))

TEXTS = [
    "plain", "", " leading", "trailing ", "\tx", "\rx", "=1+1", "+1", "-1", "@SUM(A1)",
    "a<b & c>d", 'say "hi"', "two\nlines", "two\nlines\n", "\x01bell", "_x0041_", "x_x00e9_y",
    "<r>rich?</r>", "\ufffe\uffff", "\u3000全角", "é" * 20_000, "😀" * 17_000, "x" * 40_000,
    "=" + "y" * 40_000, "😀" * 16_382, "=" + "😀" * 16_382, "-" + "😀" * 16_383,
    "https://example.com/a?b=1", "=HYPERLINK(\"http://x\")",
]
VALUES = [
    None, 0, 1, -7, 10**15 - 1, 10**15, -(10**15), 2**70, 0.1, 1e300, -0.0, float("nan"),
    float("inf"), float("-inf"), Decimal("1.10"), Decimal("-0.005"), Decimal("NaN"),
    Decimal("Infinity"), Decimal("1E+20"), Decimal("1E+400"), Decimal("-1E+400"),
    Decimal("1E-400"), 1e-320, True, False, date(2024, 2, 29),
    datetime(2024, 2, 29, 13, 45, 30), time(7, 5), _Colour.red, _Size.large, *TEXTS,
]


def _rows():
    """Every value in every column, as tuples, short tuples, dicts and objects."""
    rows = []
    for index, value in enumerate(VALUES):
        other = VALUES[(index * 7 + 3) % len(VALUES)]
        rows.append((value, value, value, value, value, value, other))
        rows.append((other, value))  # a short row: the rest are empty
        rows.append({"text": value, "amount": other, "anything": value, "code": value})
        rows.append(SimpleNamespace(text=other, count=value, day=value, flag=value,
                                    anything=other, code=None))
    rows.append((None,) * 7)  # a row without a value
    rows.append(("last",) * 7)
    return rows


def test_export_writes_the_same_sheet_as_the_cell_by_cell_writer():
    rows = _rows()
    assert _parts(export_workbook(SPEC, rows)) == _parts(_reference_export(SPEC, rows))


def test_export_of_list_rows_writes_the_same_sheet_as_the_cell_by_cell_writer():
    rows = [list(row) for row in _rows() if isinstance(row, tuple)]
    columns = [(column.key, column.header) for column in SPEC.columns]  # ad-hoc: type "auto"
    adhoc = Spec(name="adhoc", title="Export",
                 columns=tuple(Column(key, header, type="auto") for key, header in columns))
    assert (_parts(export_workbook(columns, rows))
            == _parts(_reference_export(adhoc, rows)))


def test_export_of_many_rows_writes_the_same_sheet_and_reads_back():
    rows = [(f"SKU-{n}", n, Decimal(n) / 100, date(2024, 1, 1 + n % 28), n * 1.5,
             n % 2 == 0, "=x" if n % 5 == 0 else f"c{n} ") for n in range(3000)]
    blob = export_workbook(SPEC, rows)
    assert _parts(blob) == _parts(_reference_export(SPEC, rows))
    sheet = openpyxl.load_workbook(io.BytesIO(blob), read_only=True).active
    read = list(sheet.iter_rows(values_only=True))
    assert len(read) == 3001
    assert read[6][:2] == ("SKU-5", 5)
    assert read[6][6] == "'=x"  # neutralised


def test_export_never_writes_a_formula_or_a_url_cell():
    rows = [(text, None, None, None, text, None, text) for text in TEXTS]
    sheet_xml = _parts(export_workbook(SPEC, rows))["xl/worksheets/sheet1.xml"].decode()
    assert "<f>" not in sheet_xml
    assert "<hyperlink" not in sheet_xml
    assert not re.search(r"<t[^>]*>[=+\-@\t\r]", sheet_xml.split("</row>", 1)[1])
