"""Supplier price lists in Excel: import corpus, all or nothing, round trip, exports, CLI."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.catalog.models import Sku
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.procurement import excel as procurement_excel
from erp.procurement import services
from erp.procurement.models import SupplierItem
from erp.procurement.supplier_queries import PriceListFilters, SupplierPerformance

HEADERS = ["Supplier code", "SKU code", "Supplier item code", "Unit price", "Currency", "MOQ",
           "Pack multiple", "Lead time (days)", "Preferred"]
INJECTION = "=HYPERLINK(\"http://evil.example\",\"click\")"


def xlsx(*rows, headers=HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Supplier prices"
    sheet.append(headers)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def row(supplier="SZTEX", sku="TEE-RED-M", code=None, price=12.5, currency=None, moq=None,
        pack=None, lead=None, preferred=None) -> list:
    return [supplier, sku, code, price, currency, moq, pack, lead, preferred]


def run(data: bytes, *, dry_run: bool = False):
    result = procurement_excel.import_supplier_prices(data, filename="prices.xlsx",
                                                      dry_run=dry_run, actor=None)
    if result.ok and not dry_run:
        db.session.commit()
    else:
        db.session.rollback()
    return result


def snapshot() -> list[tuple]:
    db.session.expire_all()
    return [(i.id, i.supplier_id, i.sku_id, i.supplier_code, i.unit_price, i.currency, i.moq,
             i.pack_multiple, i.lead_time_days, i.preferred)
            for i in db.session.scalars(select(SupplierItem).order_by(SupplierItem.id))]


def sku(code: str) -> Sku:
    return db.session.scalar(select(Sku).where(Sku.code == code))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def errors_of(result) -> dict[tuple[int, str], str]:
    return {(e.row, e.column): e.message for e in result.errors}


@pytest.fixture
def codes(create_supplier, create_sku):
    """Suppliers SZTEX (CNY, 21 days) and NINGBO (USD), inactive OLD; SKUs TEE-RED-M/L."""
    create_supplier("SZTEX", "Shenzhen Textiles", currency="CNY", lead_time_days=21)
    create_supplier("NINGBO", "Ningbo Knits", currency="USD")
    create_supplier("OLD", "Old Supplier", active=False)
    create_sku("TEE-RED-M")
    create_sku("TEE-RED-L")
    db.session.commit()


# --------------------------------------------------------------------------- import


def test_import_dry_run_checks_everything_and_writes_nothing(codes):
    before = audit_count()
    result = run(xlsx(row(), row("NINGBO", price="3.10")), dry_run=True)
    assert result.ok, result.errors
    assert result.dry_run
    assert result.row_count == 2
    assert "2 new supplier items, 0 existing ones" in " ".join(result.messages)
    assert snapshot() == []
    assert audit_count() == before


def test_import_creates_with_defaults_then_updates_keeping_empty_cells(codes):
    result = run(xlsx(row(code="ST-1", moq=100, pack=10, preferred="yes"),
                      row("NINGBO", price="3.1", currency="usd", lead=30),
                      row("sztex", "tee-red-l", price=0)))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (3, 0, 0)
    items = {(i.supplier.code, i.sku.code): i for i in db.session.scalars(select(SupplierItem))}
    first = items[("SZTEX", "TEE-RED-M")]
    assert (first.supplier_code, first.unit_price, first.currency, first.moq,
            first.pack_multiple, first.lead_time_days, first.preferred) == (
        "ST-1", Decimal("12.5000"), "CNY", 100, 10, None, True)
    ningbo = items[("NINGBO", "TEE-RED-M")]
    assert (ningbo.unit_price, ningbo.currency, ningbo.lead_time_days, ningbo.preferred) == (
        Decimal("3.1000"), "USD", 30, False)
    assert items[("SZTEX", "TEE-RED-L")].unit_price == Decimal("0.0000")
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "supplier_item.created")) == 3

    # second file: a new price (code, MOQ, pack, preference kept), one untouched row, NINGBO
    # becomes preferred for TEE-RED-M, which un-marks SZTEX
    result = run(xlsx(row(price="11.90"), row("NINGBO", price="3.1", preferred="yes"),
                      row("SZTEX", "TEE-RED-L", price=0)))
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (0, 2, 1)
    db.session.expire_all()
    assert (first.unit_price, first.supplier_code, first.moq, first.pack_multiple) == (
        Decimal("11.9000"), "ST-1", 100, 10)
    assert (first.preferred, ningbo.preferred) == (False, True)


def test_import_reports_unknown_codes_by_row_and_column(codes):
    result = run(xlsx(row(), row("NOPE"), row(sku="NO-SUCH-SKU"), row("X", "bad code!")))
    found = errors_of(result)
    assert set(found) == {(3, "Supplier code"), (4, "SKU code"), (5, "Supplier code"),
                          (5, "SKU code")}
    assert 'no supplier has the code "NOPE"' in found[(3, "Supplier code")]
    assert 'no SKU has the code "NO-SUCH-SKU"' in found[(4, "SKU code")]
    assert "is not a supplier code" in found[(5, "Supplier code")]
    assert "SKU code must be 1-40 letters" in found[(5, "SKU code")]
    assert snapshot() == []


@pytest.mark.parametrize(("cells", "column", "message"), [
    ({"price": -1}, "Unit price", "must be zero or more, got -1"),
    ({"price": "cheap"}, "Unit price", "must be a number"),
    ({"price": "12,50"}, "Unit price", "use a dot as the decimal separator"),
    ({"price": "1.23456"}, "Unit price", "at most 4 decimal places"),
    ({"price": None}, "Unit price", "is required"),
    ({"moq": 0}, "MOQ", "must be a whole number from 1"),
    ({"moq": 2.5}, "MOQ", "must be a whole number"),
    ({"pack": 0}, "Pack multiple", "must be a whole number from 1"),
    ({"lead": -3}, "Lead time (days)", "from 0 to 999"),
    ({"currency": "DOLLARS"}, "Currency", "not an ISO 4217 currency"),
    ({"preferred": "maybe"}, "Preferred", "must be yes or no"),
    ({"code": "C" * 61}, "Supplier item code", "at most 60 characters"),
])
def test_import_refuses_bad_cells(codes, cells, column, message):
    before = audit_count()
    result = run(xlsx(row("NINGBO", "TEE-RED-L"), row(**cells)))
    assert [(e.row, e.column) for e in result.errors] == [(3, column)], result.errors
    assert message in result.errors[0].message
    assert snapshot() == []
    assert audit_count() == before


def test_import_refuses_duplicate_supplier_and_sku_rows(codes):
    result = run(xlsx(row(), row("NINGBO"), row("sztex", " tee-red-m ", price=9)))
    assert errors_of(result) == {
        (4, "SKU code"): "SKU TEE-RED-M of supplier SZTEX is also in row 2; give each "
                         "supplier's SKU one row"}
    assert snapshot() == []


def test_import_refuses_two_preferred_suppliers_for_one_sku(codes):
    result = run(xlsx(row(preferred="yes"), row("NINGBO", preferred="yes"),
                      row("SZTEX", "TEE-RED-L", preferred="yes")))
    found = errors_of(result)
    assert list(found) == [(3, "Preferred")]
    assert "already marked preferred for supplier SZTEX in row 2" in found[(3, "Preferred")]


def test_import_refuses_to_prefer_an_inactive_supplier(codes):
    result = run(xlsx(row("OLD", preferred="yes"), row("OLD", "TEE-RED-L")))
    found = errors_of(result)
    assert list(found) == [(2, "Preferred")]
    assert "supplier OLD is inactive" in found[(2, "Preferred")]


def test_import_refuses_a_file_without_a_required_column(codes):
    result = run(xlsx(["SZTEX", "TEE-RED-M"], headers=["Supplier code", "SKU code"]))
    assert not result.ok
    assert 'missing required columns: "Unit price"' in result.errors[0].message
    assert snapshot() == []


def test_import_refuses_a_file_that_is_not_a_workbook(codes):
    result = run(b"PK\x03\x04 not really a zip")
    assert not result.ok
    assert result.errors[0].row == 0


def test_import_is_all_or_nothing_when_a_write_fails(codes, create_supplier_item, monkeypatch):
    existing = create_supplier_item(services.get_supplier_by_code("NINGBO"), sku("TEE-RED-L"),
                                    unit_price="1.00")
    before, events = snapshot(), audit_count()
    real = services.set_supplier_item
    calls = []

    def failing(supplier, sku, **kwargs):
        calls.append(sku.code)
        if len(calls) == 3:
            raise services.SupplierError("the database said no", field="unit_price")
        return real(supplier, sku, **kwargs)

    monkeypatch.setattr(services, "set_supplier_item", failing)
    result = run(xlsx(row(), row("NINGBO", "TEE-RED-L", price="2.00"), row("NINGBO")))
    assert calls == ["TEE-RED-M", "TEE-RED-L", "TEE-RED-M"]
    assert errors_of(result) == {(4, "Unit price"): "the database said no"}
    assert snapshot() == before  # the first two rows were rolled back too
    assert audit_count() == events
    assert existing.unit_price == Decimal("1.0000")


# --------------------------------------------------------------------------- export


def test_export_then_import_changes_nothing(codes, create_supplier_item):
    sztex, ningbo = (services.get_supplier_by_code(c) for c in ("SZTEX", "NINGBO"))
    old = services.get_supplier_by_code("OLD")
    m, l_ = sku("TEE-RED-M"), sku("TEE-RED-L")
    create_supplier_item(sztex, m, unit_price="12.3456", supplier_code=INJECTION, moq=120,
                         pack_multiple=12, lead_time_days=30, preferred=True)
    create_supplier_item(ningbo, m, unit_price="0.0001", currency="EUR")
    create_supplier_item(ningbo, l_, unit_price="1999.99", supplier_code="00123")
    services.set_supplier_active(old, True, actor=None)
    services.set_supplier_item(old, l_, unit_price="5", preferred=True, actor=None)
    services.set_supplier_active(old, False, actor=None)  # keeps its preferred flag
    db.session.commit()
    before, events = snapshot(), audit_count()

    data = procurement_excel.export_supplier_prices()
    result = run(data)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (0, 0, 4)
    assert snapshot() == before
    assert audit_count() == events


def test_export_neutralises_formula_injection(codes, create_supplier, create_supplier_item):
    evil = create_supplier("EVIL", INJECTION, contact_name="+1 555 0100",
                           payment_terms="@SUM(A1:A9)")
    create_supplier_item(evil, None, unit_price="1.00", supplier_code="-2+3")
    for data in (procurement_excel.export_supplier_prices(),
                 procurement_excel.export_suppliers()):
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        cells = [cell for line in sheet.iter_rows() for cell in line]
        assert not any(cell.data_type == "f" for cell in cells)
        texts = {cell.value for cell in cells if isinstance(cell.value, str)}
        assert not any(text.startswith(("=", "+", "-", "@")) for text in texts)
    prices = openpyxl.load_workbook(io.BytesIO(procurement_excel.export_supplier_prices(
        PriceListFilters(supplier_id=evil.id)))).active
    assert [c.value for c in prices[2]][:4] == ["EVIL", prices["B2"].value, "'-2+3", 1]
    suppliers = openpyxl.load_workbook(io.BytesIO(procurement_excel.export_suppliers())).active
    evil_row = next(r for r in suppliers.iter_rows(min_row=2, values_only=True)
                    if r[0] == "EVIL")
    assert evil_row[1] == "'" + INJECTION
    assert evil_row[2] == "'+1 555 0100"


def test_export_supplier_prices_applies_filters(codes, create_supplier_item):
    sztex, ningbo = (services.get_supplier_by_code(c) for c in ("SZTEX", "NINGBO"))
    create_supplier_item(sztex, None, unit_price="1.00")
    create_supplier_item(ningbo, None, unit_price="2.00", supplier_code="NB-XYZ")
    only = openpyxl.load_workbook(io.BytesIO(procurement_excel.export_supplier_prices(
        PriceListFilters(supplier_id=ningbo.id)))).active
    assert [r[0] for r in only.iter_rows(min_row=2, values_only=True)] == ["NINGBO"]
    searched = openpyxl.load_workbook(io.BytesIO(procurement_excel.export_supplier_prices(
        PriceListFilters(q="xyz")))).active
    assert [r[2] for r in searched.iter_rows(min_row=2, values_only=True)] == ["NB-XYZ"]
    assert [c.value for c in only[1]] == HEADERS


def test_export_supplier_performance_writes_rates_as_numbers(app):
    row_ = SupplierPerformance(1, "SZTEX", "Shenzhen Textiles", receipts=4, timed_receipts=3,
                               on_time_receipts=2, lead_time_receipts=3,
                               lead_time_days_total=46, completed_orders=2, ordered_qty=350,
                               received_qty=300)
    sheet = openpyxl.load_workbook(io.BytesIO(
        procurement_excel.export_supplier_performance([row_]))).active
    values = [c.value for c in sheet[2]]
    assert values[:5] == ["SZTEX", "Shenzhen Textiles", 4, 3, 2]
    assert values[5] == pytest.approx(0.6667)
    assert values[6] == pytest.approx(15.3)
    assert values[-1] == pytest.approx(0.8571)


# --------------------------------------------------------------------------- screens


def _upload(client, data: bytes, action: str):
    return client.post("/procurement/suppliers/prices/import",
                       data={"file": (io.BytesIO(data), "prices.xlsx"), "action": action},
                       content_type="multipart/form-data")


def test_import_screen_dry_run_error_report_then_import(client, login_as, codes):
    login_as("purchasing")
    page = client.get("/procurement/suppliers/prices/import")
    assert page.status_code == 200
    assert "autofocus" in page.get_data(as_text=True)
    template = client.get("/procurement/suppliers/prices/import/template.xlsx")
    assert [c.value for c in openpyxl.load_workbook(io.BytesIO(template.data)).active[1]] == \
        HEADERS

    bad = _upload(client, xlsx(row(), row(moq=0)), "import")
    assert bad.status_code == 200
    body = bad.get_data(as_text=True)
    assert "1 error in prices.xlsx" in body
    assert "must be a whole number from 1" in body
    url = re.search(r'href="(/procurement/suppliers/prices/import/errors/[^"]+\.xlsx)"',
                    body).group(1)
    report = openpyxl.load_workbook(io.BytesIO(client.get(url).data)).active
    assert report.cell(row=1, column=len(HEADERS) + 1).value == "Errors"
    assert snapshot() == []

    checked = _upload(client, xlsx(row()), "dry_run")
    assert "No errors in prices.xlsx" in checked.get_data(as_text=True)
    assert snapshot() == []
    done = _upload(client, xlsx(row()), "import")
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/procurement/suppliers")
    assert len(snapshot()) == 1


@pytest.mark.parametrize("role", ["warehouse", "manager"])
def test_import_is_refused_to_roles_that_may_only_read(client, login_as, codes, role):
    login_as(role)
    assert client.get("/procurement/suppliers/prices/export.xlsx").status_code == 200
    assert client.get("/procurement/suppliers/prices/import").status_code == 403
    assert _upload(client, xlsx(row()), "import").status_code == 403
    assert snapshot() == []


def test_price_export_screen_takes_the_supplier_filter(client, login_as, codes,
                                                      create_supplier_item):
    ningbo = services.get_supplier_by_code("NINGBO")
    create_supplier_item(ningbo, None, unit_price="2.00")
    create_supplier_item(services.get_supplier_by_code("SZTEX"), None, unit_price="1.00")
    login_as("purchasing")
    response = client.get(f"/procurement/suppliers/prices/export.xlsx?supplier={ningbo.id}")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert [r[0] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["NINGBO"]


# --------------------------------------------------------------------------- command line


def test_cli_import_supplier_prices_dry_run_then_import(runner, codes, tmp_path):
    path = tmp_path / "prices.xlsx"
    path.write_bytes(xlsx(row(), row("NINGBO", price="3.10", preferred="yes")))
    result = runner.invoke(args=["import", "supplier-prices", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "no errors; nothing was written (dry run)" in result.output
    assert snapshot() == []
    result = runner.invoke(args=["import", "supplier-prices", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged" in result.output
    assert len(snapshot()) == 2
    result = runner.invoke(args=["import", "supplier-prices", str(path)])
    assert result.exit_code == 0, result.output
    assert "0 created, 0 updated, 2 unchanged" in result.output


def test_cli_import_supplier_prices_with_errors_exits_1_and_writes_nothing(runner, codes,
                                                                          tmp_path):
    path = tmp_path / "prices.xlsx"
    path.write_bytes(xlsx(row(), row("NOPE", "TEE-RED-L"), row(sku="TEE-RED-L", price=-5)))
    before = audit_count()
    result = runner.invoke(args=["import", "supplier-prices", str(path)])
    assert result.exit_code == 1
    assert 'Row 3, column "Supplier code": no supplier has the code "NOPE"' in result.output
    assert 'Row 4, column "Unit price": must be zero or more, got -5' in result.output
    assert "2 error(s)" in result.output
    assert snapshot() == []
    assert audit_count() == before

    path.write_bytes(b"not a workbook at all")
    result = runner.invoke(args=["import", "supplier-prices", str(path), "--dry-run"])
    assert result.exit_code == 1
    assert result.output.startswith("File: ")
    assert runner.invoke(args=["import", "supplier-prices", str(tmp_path / "missing.xlsx")]
                         ).exit_code == 2

