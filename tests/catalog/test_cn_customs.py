"""Chinese export (9610) customs data in the catalog.

Inheritance, validation, legal quantities, the code lists, the Excel columns and the forms.
"""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import select

from erp.catalog import cn_customs, services
from erp.catalog.excel import (
    CATEGORY_SPEC,
    export_categories,
    export_skus,
    import_categories,
)
from erp.catalog.models import Category, Sku
from erp.core import settings
from erp.core.errors import ValidationError
from erp.core.models import Setting
from erp.extensions import db
from tests.catalog.test_excel import SKU_HEADERS, errors_of, run, sku_row, xlsx

TEE = {"cn_hs_code": "6109100021", "cn_name": "棉制针织T恤", "cn_elements": "针织|棉|无品牌",
       "cn_sale_unit": "011", "cn_unit1": "011", "cn_factor1": "1", "cn_unit2": "035"}


@pytest.fixture
def tree(create_category, create_product, create_sku):
    """APP (CN name only) > APP-TEE (the T-shirt data) with a tee product and two SKUs."""
    apparel = create_category("APP", "Apparel", cn_name="服装")
    tees = create_category("APP-TEE", "T-shirts", parent=apparel, **{
        k: v for k, v in TEE.items() if k != "cn_name"})
    product = create_product("TEE", category=tees)
    plain = create_sku("TEE-M", product=product, weight_g=180)
    own = create_sku("TEE-L", product=product, weight_g=200, cn_hs_code="6109909050",
                     cn_unit1="035")
    db.session.commit()
    return {"apparel": apparel, "tees": tees, "plain": plain, "own": own}


# --------------------------------------------------------------------------- effective values


def test_a_sku_inherits_each_value_from_the_nearest_category_and_names_the_source(tree):
    data = cn_customs.effective_cn_customs([tree["plain"].id])[tree["plain"].id]
    assert data.hs_code == "6109100021"
    assert data.name == "服装"  # from the root: T-shirts sets no name
    assert data.elements == ("针织", "棉", "无品牌")
    assert data.gmodel == "针织|棉|无品牌"
    assert (data.sale_unit, data.unit1, data.factor1, data.unit2, data.factor2) == (
        "011", "011", Decimal("1"), "035", None)
    assert data.sources["hs_code"] == "Apparel / T-shirts"
    assert data.sources["name"] == "Apparel"
    assert "factor2" not in data.sources  # nothing set: no source


def test_a_sku_value_overrides_and_a_unit_takes_its_factor_along(tree):
    data = cn_customs.effective_cn_customs([tree["own"].id])[tree["own"].id]
    assert data.hs_code == "6109909050"
    assert data.sources["hs_code"] == "SKU"
    # the SKU's own unit1 (kg) comes with its own (empty) factor, not the category's 1
    assert (data.unit1, data.factor1) == ("035", None)
    assert data.sources["unit1"] == "SKU"
    assert "factor1" not in data.sources  # no value: no source
    assert data.sources["unit2"] == "Apparel / T-shirts"


def test_effective_values_of_many_skus_take_few_queries(tree, create_sku, app):
    from sqlalchemy import event

    product = tree["plain"].product
    ids = [create_sku(f"TEE-X{i}", product=product).id for i in range(30)]
    db.session.commit()
    statements = []
    engine = db.engine

    def count(*_args):
        statements.append(1)

    event.listen(engine, "before_cursor_execute", count)
    try:
        result = cn_customs.effective_cn_customs(ids + [999_999])
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(result) == 30
    assert 999_999 not in result
    assert len(statements) <= 3


def test_unknown_ids_and_an_empty_list_give_nothing(app):
    assert cn_customs.effective_cn_customs([]) == {}
    assert cn_customs.effective_cn_customs([12345]) == {}


# --------------------------------------------------------------------------- legal quantity


@pytest.mark.parametrize(("unit", "factor", "sale", "qty", "net", "expected"), [
    ("011", None, "011", "3", 540, Decimal("3")),          # the sale unit: the quantity
    ("011", Decimal("2"), "011", "3", 540, Decimal("3")),  # the sale unit wins over a factor
    ("015", Decimal("2"), "025", "3", 540, Decimal("6")),  # pairs to pieces: quantity x factor
    ("035", None, "011", "3", 540, Decimal("0.54")),       # kg by the line's net weight
    ("035", Decimal("0.2"), "011", "3", 540, Decimal("0.6")),  # kg by a fixed factor
    ("036", None, "011", "2", 90, Decimal("90")),          # grams by net weight
    ("007", None, "011", "2", 90, None),                   # unknown: the gate names it
    (None, None, "011", "2", 90, None),
])
def test_legal_quantity_rules(unit, factor, sale, qty, net, expected):
    assert cn_customs.legal_quantity(unit, factor, sale, Decimal(qty), net) == expected


# --------------------------------------------------------------------------- code lists


def test_code_list_settings_have_the_reference_defaults(app):
    assert cn_customs.unit_codes()["035"] == "千克"
    assert cn_customs.unit_codes()["011"] == "件"
    assert cn_customs.customs_currency("CNY") == "142"
    assert cn_customs.customs_currency("eur") == "300"
    assert cn_customs.customs_currency("CHF") is None
    assert cn_customs.customs_country("DE") == "304"
    assert cn_customs.customs_country("gb") == "303"
    assert cn_customs.customs_country("ZZ") is None
    assert settings.get("customs_review_at_packing") == "warn"
    for key in ("cn_unit_codes", "cn_currency_codes", "cn_country_codes",
                "customs_review_at_packing"):
        definition = settings.SETTINGS[key]
        assert definition.parse(settings.as_text(definition.default)) == definition.default


def test_a_stored_code_list_replaces_the_default_and_a_bad_one_is_refused(app):
    db.session.add(Setting(key="cn_currency_codes", value="CNY 142\nUSD 502\nCHF 330"))
    db.session.commit()
    assert cn_customs.customs_currency("CHF") == "330"
    assert cn_customs.customs_currency("EUR") is None
    with pytest.raises(ValueError, match="line 2"):
        settings.SETTINGS["cn_unit_codes"].parse("011 件\n35 千克")
    with pytest.raises(ValueError, match="line 1"):
        settings.SETTINGS["cn_country_codes"].parse("DE")


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"cn_hs_code": "61091000"}, "cn_hs_code", "exactly 10 digits"),
    ({"cn_hs_code": "61091000AB"}, "cn_hs_code", "exactly 10 digits"),
    ({"cn_unit1": "999"}, "cn_unit1", "not a known customs unit code"),
    ({"cn_sale_unit": "PCS"}, "cn_sale_unit", "not a known customs unit code"),
    ({"cn_unit1": "011", "cn_factor1": "0"}, "cn_factor1", "more than 0"),
    ({"cn_unit1": "011", "cn_factor1": "-1"}, "cn_factor1", "more than 0"),
    ({"cn_unit1": "011", "cn_factor1": "abc"}, "cn_factor1", "must be a number"),
    ({"cn_unit2": "", "cn_factor2": "2"}, "cn_factor2", "needs its unit"),
    ({"cn_name": "名" * 251}, "cn_name", "at most 250"),
    ({"cn_elements": "针织||无品牌"}, "cn_elements", "element 2 is empty"),
    ({"cn_elements": "针织|"}, "cn_elements", "element 2 is empty"),
    ({"cn_elements": "|".join(["棉" * 50] * 6)}, "cn_elements", "at most 250"),
])
def test_bad_values_are_refused_naming_the_field(create_category, values, field, message):
    with pytest.raises(ValidationError, match=message) as info:
        create_category("BAD", **values)
    assert info.value.field == field


def test_values_are_normalised(app):
    cleaned = cn_customs.clean_cn_customs({
        "cn_hs_code": " 6109.1000.21 ", "cn_name": " 棉制针织T恤 ", "cn_elements": "针织 | 棉 ",
        "cn_unit1": "35", "cn_factor1": "", "cn_elements_extra": "ignored"})
    assert cleaned == {"cn_hs_code": "6109100021", "cn_name": "棉制针织T恤",
                       "cn_elements": "针织|棉", "cn_unit1": "035", "cn_factor1": None}
    with pytest.raises(ValidationError, match='may not contain "\\|"'):
        cn_customs.clean_cn_customs({"cn_elements": ["针织", "棉|麻"]})


def test_updating_a_sku_audits_the_change_and_empty_inherits_again(tree):
    from erp.core.models import AuditEvent

    sku = tree["own"]
    services.update_sku(sku, actor=None, cn_hs_code="", cn_unit1="", cn_name="男式T恤")
    db.session.commit()
    data = cn_customs.effective_cn_customs([sku.id])[sku.id]
    assert (data.hs_code, data.unit1, data.factor1, data.name) == (
        "6109100021", "011", Decimal("1"), "男式T恤")
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "sku.updated")
                               .order_by(AuditEvent.id.desc())).first()
    assert event.changes["cn_hs_code"] == ["6109909050", None]


# --------------------------------------------------------------------------- Excel


def _cn_row(code="TEE-RED-M", **values):
    return sku_row(code, **values)


CN_HEADERS = SKU_HEADERS  # the template ends with the Chinese customs columns


def test_sku_sheet_has_the_cn_columns_and_round_trips(tree):
    data = export_skus()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [cell.value for cell in sheet[1]]
    assert header[-8:] == ["CN HS code", "CN customs name", "CN declaration elements",
                           "CN sale unit", "CN first legal unit", "CN first unit factor",
                           "CN second legal unit", "CN second unit factor"]
    rows = {r[0]: dict(zip(header, r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["TEE-L"]["CN HS code"] == "6109909050"
    assert rows["TEE-L"]["CN first legal unit"] == "035"
    assert rows["TEE-M"]["CN HS code"] is None  # inherited: empty in the sheet
    result = run(data)
    assert (result.ok, result.updated, result.skipped) == (True, 0, 2), errors_of(result)


def test_sku_import_sets_and_clears_cn_values(catalog_codes):
    headers = SKU_HEADERS
    row = sku_row("TEE-RED-M")
    row[headers.index("CN HS code")] = "6109.1000.21"
    row[headers.index("CN customs name")] = "棉制针织T恤"
    row[headers.index("CN declaration elements")] = "针织|棉|无品牌"
    row[headers.index("CN sale unit")] = 11  # Excel dropped the zero
    row[headers.index("CN first legal unit")] = "035"
    row[headers.index("CN second legal unit")] = "011"
    row[headers.index("CN second unit factor")] = 1
    result = run(xlsx([headers, row]))
    assert result.ok, errors_of(result)
    db.session.commit()
    sku = db.session.scalar(select(Sku).where(Sku.code == "TEE-RED-M"))
    assert (sku.cn_hs_code, sku.cn_sale_unit, sku.cn_unit1, sku.cn_unit2, sku.cn_factor2) == (
        "6109100021", "011", "035", "011", Decimal("1"))
    assert sku.cn_elements == "针织|棉|无品牌"
    # an empty cell inherits again
    row[headers.index("CN HS code")] = None
    row[headers.index("CN second legal unit")] = None
    row[headers.index("CN second unit factor")] = None
    result = run(xlsx([headers, row]))
    assert result.ok, errors_of(result)
    db.session.commit()
    db.session.refresh(sku)
    assert (sku.cn_hs_code, sku.cn_unit2, sku.cn_factor2) == (None, None, None)
    assert sku.cn_name == "棉制针织T恤"


def test_sku_import_bad_cn_cells_name_row_and_column_and_write_nothing(catalog_codes,
                                                                       catalog_counts):
    headers = SKU_HEADERS
    good = sku_row("TEE-RED-M")
    bad_hs = sku_row("TEE-RED-L", barcode=None)
    bad_hs[headers.index("CN HS code")] = "610910"
    bad_unit = sku_row("TEE-RED-S")
    bad_unit[headers.index("CN first legal unit")] = "999"
    lone_factor = sku_row("TEE-RED-XL")
    lone_factor[headers.index("CN second unit factor")] = 2
    bad_elements = sku_row("TEE-RED-XS")
    bad_elements[headers.index("CN declaration elements")] = "针织||棉"
    before = catalog_counts()
    result = run(xlsx([headers, good, bad_hs, bad_unit, lone_factor, bad_elements]))
    assert not result.ok
    found = errors_of(result)
    assert any(r == 3 and c == "CN HS code" and "exactly 10 digits" in m for r, c, m in found)
    assert any(r == 4 and c == "CN first legal unit" and "999" in m for r, c, m in found)
    assert any(r == 5 and c == "CN second unit factor" and "needs its unit" in m
               for r, c, m in found)
    assert any(r == 6 and c == "CN declaration elements" and "element 2 is empty" in m
               for r, c, m in found)
    db.session.rollback()
    assert catalog_counts() == before


def test_sku_import_dry_run_writes_nothing(catalog_codes, catalog_counts):
    row = sku_row("TEE-RED-M")
    row[SKU_HEADERS.index("CN HS code")] = "6109100021"
    before = catalog_counts()
    result = run(xlsx([SKU_HEADERS, row]), dry_run=True)
    assert result.ok, errors_of(result)
    db.session.rollback()
    assert catalog_counts() == before


def test_category_sheet_round_trips_and_refuses_bad_cells(tree):
    headers = [str(c.header) for c in CATEGORY_SPEC.columns]
    data = export_categories()
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    rows = {r[0]: dict(zip(headers, r, strict=True))
            for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["APP-TEE"]["CN HS code"] == "6109100021"
    assert rows["APP-TEE"]["CN declaration elements"] == "针织|棉|无品牌"
    assert rows["APP"]["CN customs name"] == "服装"
    result = import_categories(data, dry_run=False, actor=None)
    assert (result.ok, result.updated) == (True, 0), errors_of(result)

    bad = [headers, ["APP-TEE", "T-shirts", "APP"] + [None] * (len(headers) - 3)]
    bad[1][headers.index("CN sale unit")] = "PCS"
    bad[1][headers.index("CN first unit factor")] = 0
    result = import_categories(xlsx(bad, "Categories"), dry_run=False, actor=None)
    assert not result.ok
    found = errors_of(result)
    assert any(r == 2 and c == "CN sale unit" for r, c, _m in found), found
    assert any(r == 2 and c == "CN first unit factor" and "more than 0" in m
               for r, c, m in found), found
    db.session.rollback()
    assert db.session.scalar(select(Category.cn_sale_unit).where(
        Category.code == "APP-TEE")) == "011"


# --------------------------------------------------------------------------- screens


def test_category_and_sku_forms_edit_the_cn_fields(client, login_as, tree):
    login_as("purchasing")
    tees = tree["tees"]
    listed = client.get("/catalog/categories").get_data(as_text=True)
    assert "6109100021" in listed
    assert "服装" in listed
    page = client.get(f"/catalog/categories/{tees.id}/edit")
    assert "6109100021" in page.get_data(as_text=True)
    form = {"code": "APP-TEE", "name": "T-shirts", "cn_hs_code": "12345", "cn_unit1": "011"}
    response = client.post(f"/catalog/categories/{tees.id}/edit", data=form)
    assert response.status_code == 200
    assert "exactly 10 digits" in response.get_data(as_text=True)
    sku = tree["plain"]
    response = client.post(f"/catalog/skus/{sku.id}/edit", data={
        "code": sku.code, "weight_g": "180", "status": "active", "cn_name": "女式T恤",
        "cn_elements": "针织|棉"}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert response.status_code == 200, text
    assert "女式T恤" in text
    assert "Apparel / T-shirts" in text  # the inherited HS code's source
    db.session.expire_all()
    assert db.session.get(Sku, sku.id).cn_elements == "针织|棉"
