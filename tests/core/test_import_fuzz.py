"""Fuzz test of every Excel/CSV importer with Hypothesis.

Each importer gets workbooks built from its own columns: the right headers (sometimes
shuffled, missing, repeated or padded with unknown ones) over rows whose cells are mostly
plausible values with random ones mixed in (text with unicode, control characters or great
length, formulas, negative/huge/NaN numbers, dates, booleans, blanks), sometimes with extra
sheets; and files that are not workbooks at all (random bytes, truncated or garbage zips,
random CSV text). Every file goes through the dry run and the real import, and:

- no exception escapes: a bad file is only ever an error in the importer's result;
- a result with errors (and any dry run) leaves the row count of every table as it was;
- a successful import adds exactly as many rows to the importer's table as it reports created.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
import xlsxwriter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from sqlalchemy import func, literal, select, union_all

from erp.brands.excel import BRAND_SPEC, import_brands
from erp.catalog.excel import CATEGORY_SPEC, SKU_SPEC, import_categories, import_skus
from erp.core import excel
from erp.extensions import db
from erp.orders.excel import ORDER_SPEC, import_orders
from erp.procurement.excel import SUPPLIER_PRICE_SPEC, import_supplier_prices
from erp.shipping.excel import RATE_SPEC, ZONE_SPEC, import_rates, import_zones
from erp.warehouse import services as warehouse_services
from erp.warehouse.count_excel import COUNT_SPEC, import_counts
from erp.warehouse.excel import LOCATION_SPEC, import_locations

EXAMPLES = int(os.environ.get("ERP_FUZZ_EXAMPLES", "12"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass(frozen=True)
class Case:
    """One importer: its spec, its run function, the table it creates rows in, a good row."""

    name: str
    spec: excel.Spec
    run: Any
    table: str
    good: dict[str, Any]


CASES = [
    Case("brands", BRAND_SPEC, import_brands, "brand",
         {"code": "NEWBR", "name": "New Brand", "kind": "private", "active": True}),
    Case("categories", CATEGORY_SPEC, import_categories, "category",
         {"code": "SHIRTS", "name": "Shirts", "parent_code": "GEN", "hs_code": "610910",
          "customs_description": "Cotton T-shirts", "origin_country": "CN"}),
    Case("skus", SKU_SPEC, import_skus, "sku",
         {"sku_code": "FZ-SKU-1", "product_code": "FZP1", "product_name": "Fuzz shirt",
          "brand_code": "TESTBR", "category_code": "GEN", "weight_g": 200, "colour": "Blue",
          "size": "L", "hs_code": "610910", "origin_country": "CN", "declared_value": "4.50",
          "declared_currency": "USD", "status": "active"}),
    Case("locations", LOCATION_SPEC, import_locations, "location",
         {"warehouse_code": "WH1", "code": "B-02-03-04", "kind": "storage", "pick_sequence": 50,
          "active": True}),
    Case("counts", COUNT_SPEC, import_counts, "cycle_count_line",
         {"count_number": "{count}", "bin": "A-01-01-01", "sku": "TS-BLUE-M", "counted": 7}),
    Case("orders", ORDER_SPEC, import_orders, "customer_order",
         {"order_number": "FZ-1001", "placed_at": "2026-01-05 10:00", "customer_name": "Ann Lee",
          "ship_name": "Ann Lee", "address1": "Hauptstrasse 1", "city": "Berlin",
          "postal_code": "10115", "country": "DE", "currency": "EUR", "sku": "TS-RED-M",
          "quantity": 2, "unit_price": "9.90"}),
    Case("supplier-prices", SUPPLIER_PRICE_SPEC, import_supplier_prices, "supplier_item",
         {"supplier_code": "SZTEX", "sku_code": "TS-RED-M", "unit_price": "3.2500",
          "currency": "CNY", "moq": 10, "pack_multiple": 5, "lead_time_days": 14,
          "preferred": True}),
    Case("shipping-rates", RATE_SPEC, import_rates, "service_rate",
         {"service_code": "POST-REG", "zone": "EU", "max_weight_g": 1000, "price": "6.20",
          "currency": "USD"}),
    Case("shipping-zones", ZONE_SPEC, import_zones, "service_zone",
         {"service_code": "POST-REG", "country": "AT", "zone": "EU"}),
]


# --------------------------------------------------------------------------- world and counts


@pytest.fixture
def world(app, dummy_admin, dummy_sku, create_sku, create_bin, create_category,
          create_supplier, receive_stock, shipping_setup):
    """Committed data every importer can refer to; returns the values to put in good rows."""
    create_category("TOPS", "Tops")
    create_sku("TS-BLUE-M", colour="Blue", size="M")  # not in the count: a counts row adds it
    location = create_bin("A-01-01-01")
    receive_stock(dummy_sku, location, 10)
    create_supplier("SZTEX", "Shenzhen Textiles Co.")
    count = warehouse_services.open_cycle_count(location.warehouse, location_ids=[location.id],
                                                note="fuzz", actor=None)
    db.session.commit()
    return {"actor": dummy_admin, "count": count.number}


def table_counts() -> dict[str, int]:
    """Return the row count of every table, in one query."""
    tables = db.metadata.sorted_tables
    query = union_all(*(select(literal(table.name).label("name"),
                               func.count().label("n")).select_from(table)
                        for table in tables))
    return {name: n for name, n in db.session.execute(query)}


# --------------------------------------------------------------------------- strategies

JUNK_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.text(alphabet=st.sampled_from("\x00\x01\x07\x0b\x1b\t\r\n\u200b\ufeff\u202e"),
            min_size=1, max_size=5),
    st.builds(lambda s, n: s * n, st.sampled_from(["x", "\u00e9", "\U0001f600", "AB-"]),
              st.integers(300, 40_000)),
    st.sampled_from(["=1+1", "=SUM(A1:A9)", "+cmd", "-2+3", "@x", "=HYPERLINK(\"http://x\")",
                     "'=1+1", " ", "N/A", "NaN", "inf", "-0", "1e309", "TRUE", "yes", "12,5",
                     "1.000,50", "2026-02-30", "0000-00-00", "null", "None"]),
)
JUNK_NUMBER = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**20]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=6).map(float),
)
JUNK_CELL = st.one_of(
    st.none(), st.booleans(), JUNK_TEXT, JUNK_NUMBER,
    st.dates(min_value=date(1900, 3, 1), max_value=date(9999, 12, 31)),
    st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
)


def good_value(case: Case, key: str, world: dict) -> Any:
    """The plausible value of a column (blank for those the case leaves out)."""
    good = case.good.get(key)
    return good.format(**world) if isinstance(good, str) else good


@st.composite
def sheets(draw, case: Case, world: dict):
    """Return ``(header, rows, extra_sheets, extra_first)`` for one workbook.

    Rows are clean (every cell plausible), lightly damaged (one or two junk cells) or noisy,
    so both the refusal and the success paths are taken.
    """
    columns = list(case.spec.columns)
    headers = [(column.key, draw(st.sampled_from([str(column.header), str(column.header).upper(),
                                                  f" {column.header} ", column.key])))
               for column in columns]
    layout = draw(st.sampled_from(["as-is"] * 4 + ["shuffled", "shuffled", "missing",
                                                   "duplicate", "unknown"]))
    if layout == "shuffled":
        headers = draw(st.permutations(headers))
    elif layout == "missing" and headers:
        drop = draw(st.integers(0, len(headers) - 1))
        headers = headers[:drop] + headers[drop + 1:]
    elif layout == "duplicate" and headers:
        headers = headers + [draw(st.sampled_from(headers))]
    elif layout == "unknown":
        headers = headers + [("_unknown", draw(JUNK_TEXT.filter(lambda t: len(t) < 50)))]
    rows = []
    for index in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))):
        damage = draw(st.sampled_from(["clean", "clean", "light", "light", "noisy"]))
        positions = range(len(headers))
        if damage == "clean":
            bad: set[int] = set()
        elif damage == "light":
            bad = draw(st.sets(st.sampled_from(positions), min_size=1, max_size=2))
        else:
            bad = draw(st.sets(st.sampled_from(positions), min_size=1))
        row = []
        for position, (key, _) in enumerate(headers):
            if key == "_unknown" or position in bad:
                value = draw(JUNK_CELL)
            else:
                value = good_value(case, key, world)
                if index and key in _UNIQUE_KEYS.get(case.name, ()) and isinstance(value, str):
                    value = f"{value}{index}"  # distinct codes on each row
            row.append(value)
        rows.append(row)
    extra = draw(st.lists(st.sampled_from(["Notes", "Help", str(case.spec.title)[:31], "Sheet 2"]),
                          max_size=2, unique=True))
    return [label for _, label in headers], rows, extra, draw(st.booleans())


_UNIQUE_KEYS = {"brands": ("code",), "categories": ("code",), "skus": ("sku_code",
                                                                          "product_code"),
                "locations": ("code",), "orders": ("order_number",)}


def workbook_bytes(header: list, rows: list[list], extra: list[str], extra_first: bool,
                   title: str) -> bytes:
    """Write a real .xlsx: formulas stay formulas, NaN/inf become error cells."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "nan_inf_to_errors": True,
                                        "default_date_format": "yyyy-mm-dd hh:mm"})
    names = [name for name in extra if name != title[:31]]
    order = ([*names, title[:31]] if extra_first else [title[:31], *names])
    for name in order:
        sheet = book.add_worksheet(name.replace("/", "-"))
        if name != title[:31]:
            sheet.write_row(0, 0, ["something else", 1, None])
            continue
        sheet.write_row(0, 0, header)
        for number, row in enumerate(rows, start=1):
            for column, value in enumerate(row):
                if isinstance(value, int) and not isinstance(value, bool) \
                        and abs(value) > 2**53:
                    value = str(value)  # xlsx numbers are doubles: the text form goes instead
                sheet.write(number, column, value)
    book.close()
    return buffer.getvalue()


def csv_bytes(header: list, rows: list[list]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return text.getvalue().encode("utf-8", "surrogatepass")


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


GARBAGE = st.one_of(
    st.binary(max_size=400),
    st.just(b""),
    st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
    st.binary(max_size=200).map(lambda b: _zip({"[Content_Types].xml": b, "xl/workbook.xml": b})),
    st.binary(max_size=50).map(lambda b: _zip({"hello.txt": b})),
    st.binary(max_size=100).map(lambda b: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b),  # old .xls
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=100).map(lambda t: t.encode("utf-16")),
)


# --------------------------------------------------------------------------- the check


def check_import(case: Case, data: bytes, filename: str, world: dict) -> None:
    """Run the dry run then the import of ``data``; assert the all-or-nothing contract."""
    actor = world["actor"]
    before = table_counts()
    dry = case.run(data, filename=filename, dry_run=True, actor=actor)
    assert isinstance(dry, excel.ImportResult)
    assert table_counts() == before, "a dry run wrote something"
    assert dry.created == dry.updated == 0
    for error in dry.errors:
        assert isinstance(error.row, int)
        assert isinstance(error.message, str)
        assert error.message

    result = case.run(data, filename=filename, dry_run=False, actor=actor)
    assert isinstance(result, excel.ImportResult)
    after = table_counts()
    if currently_in_test_context():  # --hypothesis-show-statistics shows the mix
        event("refused (file)" if any(e.row == 0 for e in result.errors) else
              "refused (cells)" if result.errors else "imported")
    try:
        if result.errors:
            assert after == before, f"refused import wrote rows: {result.errors[:3]}"
            assert result.created == result.updated == 0
        else:
            assert not dry.errors, "the dry run found errors the import did not"
            written = after[case.table] - before[case.table]
            assert written == result.created, (written, result)
    finally:
        db.session.rollback()  # the next example starts from the committed world


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_importer_survives_fuzzed_workbooks(world, case):
    @FUZZ
    @given(sheet=sheets(case, world), as_csv=st.sampled_from([False, False, False, True]))
    def run(sheet, as_csv):
        header, rows, extra, extra_first = sheet
        if as_csv:
            check_import(case, csv_bytes(header, rows), f"{case.name}.csv", world)
        else:
            check_import(case, workbook_bytes(header, rows, extra, extra_first,
                                              case.spec.title),
                         f"{case.name}.xlsx", world)

    run()


def test_good_rows_import_in_every_importer(world):
    """The fuzzer's plausible rows really import: the success path is exercised too."""
    for case in CASES:
        header = [str(column.header) for column in case.spec.columns]
        row = [good_value(case, column.key, world) for column in case.spec.columns]
        data = workbook_bytes(header, [row], [], False, case.spec.title)
        before = table_counts()
        result = case.run(data, filename="good.xlsx", dry_run=False, actor=world["actor"])
        assert not result.errors, (case.name, result.errors)
        assert result.created == 1, (case.name, result)
        assert table_counts()[case.table] == before[case.table] + 1, case.name
        db.session.rollback()


@FUZZ
@given(data=GARBAGE, filename=st.sampled_from(["upload.xlsx", "upload.csv", "upload.xlsm",
                                               "upload.xls", "upload", "upload.txt"]),
       index=st.integers(0, len(CASES) - 1))
def test_importers_refuse_garbage_files_cleanly(world, data, filename, index):
    check_import(CASES[index], data, filename, world)


@FUZZ
@given(index=st.integers(0, len(CASES) - 1), cut=st.floats(0.05, 0.95))
def test_importers_refuse_truncated_workbooks(world, index, cut):
    case = CASES[index]
    header = [str(column.header) for column in case.spec.columns]
    data = workbook_bytes(header, [[case.good.get(c.key) for c in case.spec.columns]], [],
                          False, case.spec.title)
    check_import(case, data[: int(len(data) * cut)], "cut.xlsx", world)


def _edge_file(kind: str, case: Case) -> tuple[str, bytes]:
    header = ",".join(str(column.header) for column in case.spec.columns).encode()
    if kind == "csv-huge-field":
        return "x.csv", header + b"\n" + b"x" * 200_000 + b"\n"
    if kind == "csv-nul":
        return "x.csv", header + b"\nA\x00B,\x00\n"
    if kind == "csv-utf16-no-bom":
        return "x.csv", (header.decode() + "\nAB\n").encode("utf-16-le")
    if kind == "csv-unclosed-quote":
        return "x.csv", header + b'\n"AB,CD\n'
    if kind == "csv-bom-only":
        return "x.csv", b"\xef\xbb\xbf"
    if kind == "csv-cr-lines":
        return "x.csv", header + b"\rAB,CD\r"
    if kind == "empty-zip":
        return "x.xlsx", b"PK\x05\x06" + b"\x00" * 18
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(str(case.spec.title)[:31])
    sheet.write_row(0, 0, [str(column.header) for column in case.spec.columns])
    if kind == "xlsx-wide-merged":
        sheet.write(1, 16383, "far right")
        sheet.merge_range(2, 0, 3, 1, "merged")
    elif kind == "xlsx-only-hidden-sheet":
        sheet.hide()
        book.add_worksheet("Visible").activate()
    book.close()
    return "x.xlsx", buffer.getvalue()


@pytest.mark.parametrize("kind", ["csv-huge-field", "csv-nul", "csv-utf16-no-bom",
                                  "csv-unclosed-quote", "csv-bom-only", "csv-cr-lines",
                                  "empty-zip", "xlsx-wide-merged", "xlsx-only-hidden-sheet"])
def test_importers_handle_edge_files(world, kind):
    for case in CASES:
        filename, data = _edge_file(kind, case)
        check_import(case, data, filename, world)


def test_table_counts_cover_every_table(world):
    counts = table_counts()
    assert set(counts) == {table.name for table in db.metadata.sorted_tables}
    assert counts["sku"] == 2
    assert counts["cycle_count"] == 1
    assert isinstance(Decimal(counts["location"]), Decimal)
