"""Warehouse Excel: the locations import (all or nothing, dry run, round trip) and every export."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, insert, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import excel as warehouse_excel
from erp.warehouse import queries, services
from erp.warehouse.models import Location, LocationKind, StockLevel

HEADERS = ["Warehouse code", "Bin code", "Kind", "Pick sequence", "Active"]
INJECTION = "=HYPERLINK(\"http://evil.example\",\"x\")"


def xlsx(rows, headers=HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Locations"
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def sheet_rows(data: bytes) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def assert_no_formulas(data: bytes) -> None:
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)


def bins() -> list[tuple]:
    db.session.expire_all()
    return [(loc.warehouse.code, loc.code, loc.kind.value, loc.pick_sequence, loc.active)
            for loc in db.session.scalars(select(Location).where(
                Location.warehouse_id.is_not(None)).order_by(Location.id))]


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def run(data: bytes, *, dry_run: bool = False):
    result = warehouse_excel.import_locations(data, filename="locations.xlsx", dry_run=dry_run,
                                              actor=None)
    if result.ok and not dry_run:
        db.session.commit()
    else:
        db.session.rollback()
    return result


def errors(result) -> dict[tuple[int, str], str]:
    return {(e.row, e.column): e.message for e in result.errors}


@pytest.fixture
def wh1(dummy_warehouse):
    db.session.commit()
    return dummy_warehouse


# --------------------------------------------------------------------------- locations export


def test_locations_export_has_the_import_columns_in_walking_order(wh1, create_bin):
    create_bin("B-01", pick_sequence=20)
    create_bin("A-01", kind="receiving", pick_sequence=10)
    db.session.commit()
    assert sheet_rows(warehouse_excel.export_locations()) == [
        HEADERS, ["WH1", "A-01", "receiving", 10, True], ["WH1", "B-01", "storage", 20, True]]


def test_locations_export_applies_the_list_filters(wh1, create_bin):
    create_bin("A-01")
    create_bin("A-02", kind="packing")
    create_bin("B-01")
    db.session.commit()
    data = warehouse_excel.export_locations(queries.LocationFilters(
        warehouse_id=wh1.id, q="a-0", kind="storage"))
    assert [r[1] for r in sheet_rows(data)[1:]] == ["A-01"]


def test_locations_export_neutralises_formula_injection(wh1):
    # The services never accept such a code; planted directly, the export must still be safe.
    db.session.execute(insert(Location).values(warehouse_id=wh1.id, code="=1+2",
                                               kind=LocationKind.storage, pick_sequence=0,
                                               active=True))
    db.session.commit()
    data = warehouse_excel.export_locations()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    cell = sheet.cell(row=2, column=2)
    assert (cell.value, cell.data_type) == ("'=1+2", "s")
    assert_no_formulas(data)


# --------------------------------------------------------------------------- locations import


def test_import_creates_bins_with_defaults_for_empty_cells(wh1):
    result = run(xlsx([["wh1", "a-01-01-01", "storage", 10, "yes"],
                       ["WH1", "RCV-01", "receiving", None, None],
                       ["WH1", "Q-01", None, 5, "no"]]))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (3, 0, 0)
    assert bins() == [("WH1", "A-01-01-01", "storage", 10, True),
                      ("WH1", "RCV-01", "receiving", 0, True),
                      ("WH1", "Q-01", "storage", 5, False)]
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "location")).all()
    assert actions.count("location.created") == 3


def test_import_updates_existing_bins_and_keeps_values_of_empty_cells(wh1, create_bin):
    create_bin("A-01", kind="storage", pick_sequence=10)
    create_bin("A-02", kind="storage", pick_sequence=20)
    db.session.commit()
    result = run(xlsx([["WH1", "A-01", "packing", None, None],
                       ["WH1", "A-02", None, None, None]]))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (0, 1, 1)
    assert bins() == [("WH1", "A-01", "packing", 10, True), ("WH1", "A-02", "storage", 20, True)]


def test_import_dry_run_writes_nothing(wh1):
    before = audit_count()
    result = run(xlsx([["WH1", "A-01", "storage", 1, "yes"]]), dry_run=True)
    assert result.ok
    assert result.dry_run
    assert result.row_count == 1
    assert bins() == []
    assert audit_count() == before


@pytest.mark.parametrize(("row", "column", "message"), [
    (["WH1", "A-01", "shelf", 1, "yes"], "Kind", "must be one of: receiving, storage"),
    (["WH1", "A-01", "supplier", 1, "yes"], "Kind", "must be one of"),
    (["WH9", "A-01", "storage", 1, "yes"], "Warehouse code", 'no warehouse has the code "WH9"'),
    (["WH1", "A 01", "storage", 1, "yes"], "Bin code", "letters, digits or dashes"),
    (["WH1", "A-01", "storage", -1, "yes"], "Pick sequence", "from 0 to 1,000,000,000"),
    (["WH1", "A-01", "storage", 10**12, "yes"], "Pick sequence", "from 0 to 1,000,000,000"),
    (["WH1", "A-01", "storage", 2.5, "yes"], "Pick sequence", "whole number"),
    (["WH1", "A-01", "storage", 1, "maybe"], "Active", ""),
    ([None, "A-01", "storage", 1, "yes"], "Warehouse code", "is required"),
    (["WH1", None, "storage", 1, "yes"], "Bin code", "is required"),
])
def test_import_refuses_a_bad_cell_naming_row_and_column(wh1, row, column, message):
    result = run(xlsx([["WH1", "OK-01", "storage", 1, "yes"], row]))
    assert not result.ok
    found = errors(result)
    assert list(found) == [(3, column)]
    assert message in found[(3, column)]
    assert bins() == []  # all or nothing: the good first row is not written either


def test_import_refuses_duplicate_codes_in_the_file(wh1):
    wh2 = services.create_warehouse(code="WH2", name="Second", country="DE", actor=None)
    db.session.commit()
    assert wh2.id
    result = run(xlsx([["WH1", "A-01", "storage", 1, "yes"],
                       ["WH2", "A-01", "storage", 1, "yes"],   # same code, other warehouse: fine
                       ["wh1", "a-01", "packing", 2, "yes"]]))  # same bin, other case
    assert errors(result) == {(4, "Bin code"): "WH1/A-01 is also in row 2"}
    assert bins() == []


def test_import_refuses_to_deactivate_a_bin_holding_stock_already_in_the_dry_run(
        wh1, create_bin, dummy_sku, receive_stock):
    full = create_bin("A-01")
    receive_stock(dummy_sku, full, 3)
    create_bin("A-02")
    db.session.commit()
    data = xlsx([["WH1", "A-02", None, None, "no"], ["WH1", "A-01", None, None, "no"]])
    result = run(data, dry_run=True)
    assert errors(result) == {
        (3, "Active"): "bin WH1/A-01 holds stock; move it out before deactivating the bin"}
    result = run(data)
    assert not result.ok
    assert [b[4] for b in bins()] == [True, True]


def test_import_of_a_file_that_is_not_a_workbook_is_one_error(wh1):
    result = run(b"not a spreadsheet at all", dry_run=False)
    assert not result.ok
    assert result.errors[0].row == 0
    assert bins() == []


def test_round_trip_export_then_import_changes_nothing(wh1, create_bin):
    create_bin("A-01", pick_sequence=10)
    create_bin("RCV-01", kind="receiving", pick_sequence=5)
    gone = create_bin("OLD-01", pick_sequence=99)
    services.update_location(gone, kind="storage", pick_sequence=99, active=False, actor=None)
    db.session.commit()
    before, audits = bins(), audit_count()
    result = run(warehouse_excel.export_locations(), dry_run=False)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (0, 0, 3)
    assert bins() == before
    assert audit_count() == audits


def test_template_has_the_columns_and_a_help_sheet(app):
    from erp.core import excel
    workbook = openpyxl.load_workbook(io.BytesIO(
        excel.template_workbook(warehouse_excel.LOCATION_SPEC)))
    assert [c.value for c in workbook.active[1]] == HEADERS
    assert "Help" in workbook.sheetnames


# --------------------------------------------------------------------------- stock exports


@pytest.fixture
def evil_stock(wh1, create_sku, create_product, create_bin, receive_stock):
    """Stock of a SKU whose product name and move note would run as formulas."""
    sku = create_sku("EVIL-1", product=create_product(name=INJECTION))
    a, b = create_bin("A-01"), create_bin("A-02")
    receive_stock(sku, a, 10, "1.2345")
    services.transfer(sku, a, b, 4, actor=None, note="@SUM(1+1)")
    db.session.commit()
    return sku, a, b


def test_stock_export_neutralises_formula_injection_and_values_stock(evil_stock):
    data = warehouse_excel.export_stock(queries.StockFilters())
    rows = sheet_rows(data)
    assert rows[0] == ["Warehouse", "Bin", "Bin kind", "SKU", "Product", "On hand", "Reserved",
                       "Available", "Average cost", "Value"]
    assert rows[1] == ["WH1", "A-01", "storage", "EVIL-1", "'" + INJECTION, 6, 0, 6, 1.2345, 7.41]
    assert rows[2][:8] == ["WH1", "A-02", "storage", "EVIL-1", "'" + INJECTION, 4, 0, 4]
    assert_no_formulas(data)


def test_stock_export_applies_the_list_filters(evil_stock, create_sku, create_bin,
                                               receive_stock, dummy_sku):
    _, a, _ = evil_stock
    receive_stock(dummy_sku, a, 2)
    db.session.commit()
    rows = sheet_rows(warehouse_excel.export_stock(queries.StockFilters(q="TS-RED-M")))
    assert [r[3] for r in rows[1:]] == ["TS-RED-M"]
    services.reserve(dummy_sku, a, 2, ref_type="test", ref_id=1, actor=None)
    db.session.commit()
    rows = sheet_rows(warehouse_excel.export_stock(queries.StockFilters(available_only=True)))
    assert [(r[1], r[3]) for r in rows[1:]] == [("A-01", "EVIL-1"), ("A-02", "EVIL-1")]


def test_moves_export_neutralises_formula_injection_and_applies_filters(evil_stock):
    sku, a, b = evil_stock
    data = warehouse_excel.export_moves(queries.MoveFilters(kind="transfer"))
    rows = sheet_rows(data)
    assert rows[0] == ["When (UTC)", "Kind", "SKU", "Product", "Quantity", "From", "To",
                       "Unit cost", "Reference", "User", "Note"]
    assert len(rows) == 2
    assert rows[1][1:] == ["transfer", "EVIL-1", "'" + INJECTION, 4, "WH1/A-01", "WH1/A-02",
                           1.2345, None, "system", "'@SUM(1+1)"]
    assert_no_formulas(data)
    all_rows = sheet_rows(warehouse_excel.export_moves(queries.MoveFilters(sku_id=sku.id)))
    assert [r[1] for r in all_rows[1:]] == ["transfer", "receipt"]
    assert all_rows[2][8] == "test:1"


@pytest.mark.parametrize(("group", "first"), [("sku", "EVIL-1"), ("brand", "TESTBR"),
                                              ("category", "GEN")])
def test_valuation_export_per_group_neutralises_formula_injection(evil_stock, group, first):
    data = warehouse_excel.export_valuation(group, "USD")
    rows = sheet_rows(data)
    assert rows[1][0] == first
    assert rows[1][-1] == pytest.approx(12.35)  # 10 x 1.2345, rounded to cents
    assert rows[0][-1] == "Value (USD)"
    if group == "sku":
        assert rows[1][1] == "'" + INJECTION
        assert rows[1][3] == pytest.approx(1.2345)
    assert_no_formulas(data)


def test_valuation_total_is_exact(evil_stock, dummy_sku, create_bin, receive_stock):
    receive_stock(dummy_sku, create_bin("C-01"), 3, "0.3333")
    db.session.commit()
    units, value = queries.valuation_total()
    assert units == 13
    assert value == Decimal("10") * Decimal("1.2345") + Decimal("3") * Decimal("0.3333")
    assert db.session.scalar(select(func.count()).select_from(StockLevel)) == 3
