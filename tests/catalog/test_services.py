"""Catalog services: the category tree, customs inheritance, products and SKUs."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.catalog import services
from erp.catalog.models import Category, Sku, SkuStatus
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db


def _events(action: str) -> list[AuditEvent]:
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)).all()


# --- categories -------------------------------------------------------------------------------

def test_create_category_tree_gives_paths_and_full_names(create_category):
    apparel = create_category("APP", "Apparel")
    tops = create_category("APP-TOP", "Tops", parent=apparel)
    tees = create_category("APP-TOP-TEE", "T-shirts", parent=tops)
    assert tees.full_name == "Apparel / Tops / T-shirts"
    assert tees.path == f"/{apparel.id}/{tops.id}/{tees.id}/"
    assert tees.depth == 2
    assert _events("category.created")[-1].changes["parent"] == [None, "APP-TOP"]


def test_create_category_duplicate_code_is_refused(create_category):
    create_category("APP", "Apparel")
    with pytest.raises(services.CatalogError, match='category "APP".*taken'):
        create_category("app", "Other")
    assert db.session.scalar(select(func.count()).select_from(Category)) == 1


@pytest.mark.parametrize(("customs", "message"), [
    ({"hs_code": "61.09"}, "HS code"),
    ({"hs_code": "6109ABCD"}, "HS code"),
    ({"origin_country": "Atlantis"}, "Origin country"),
    ({"customs_description": "纯棉T恤"}, "English"),
])
def test_create_category_bad_customs_default_is_refused(create_category, customs, message):
    with pytest.raises(ValidationError, match=message):
        create_category("APP", "Apparel", **customs)


def test_customs_values_are_normalised(create_category):
    cat = create_category("APP", "Apparel", hs_code="6109.10.00", origin_country="china")
    assert cat.hs_code == "61091000"
    assert cat.origin_country == "CN"


def test_move_subtree_rewrites_descendants(create_category):
    apparel = create_category("APP", "Apparel")
    home = create_category("HOME", "Home")
    tops = create_category("APP-TOP", "Tops", parent=apparel)
    tees = create_category("APP-TOP-TEE", "T-shirts", parent=tops)
    services.move_category(tops, home, actor=None)
    assert tees.full_name == "Home / Tops / T-shirts"
    assert tees.path == f"/{home.id}/{tops.id}/{tees.id}/"
    assert tees.depth == 2
    services.move_category(tops, None, actor=None)
    assert tops.depth == 0
    assert tees.depth == 1
    assert tees.full_name == "Tops / T-shirts"
    assert [e.changes["parent"] for e in _events("category.moved")] == [["APP", "HOME"],
                                                                          ["HOME", None]]


def test_move_category_under_its_own_descendant_is_refused(create_category):
    apparel = create_category("APP", "Apparel")
    tops = create_category("APP-TOP", "Tops", parent=apparel)
    with pytest.raises(services.CatalogError, match="outside its own subtree"):
        services.move_category(apparel, tops, actor=None)
    with pytest.raises(services.CatalogError, match="outside its own subtree"):
        services.move_category(apparel, apparel, actor=None)
    assert apparel.parent_id is None
    assert tops.parent_id == apparel.id


def test_rename_category_updates_full_names_below(create_category):
    apparel = create_category("APP", "Apparel")
    tops = create_category("APP-TOP", "Tops", parent=apparel)
    services.update_category(apparel, name="Clothing", actor=None)
    assert tops.full_name == "Clothing / Tops"


# --- customs inheritance ----------------------------------------------------------------------

def test_effective_customs_inherits_nearest_category_default(create_category, create_product,
                                                             create_sku):
    apparel = create_category("APP", "Apparel", hs_code="610000", origin_country="CN",
                              customs_description="Clothing")
    tees = create_category("APP-TEE", "T-shirts", parent=apparel, hs_code="610910")
    sku = create_sku(product=create_product(category=tees))
    customs = services.effective_customs(sku)
    assert customs["hs_code"].value == "610910"
    assert customs["hs_code"].source_label.startswith("Category APP-TEE")
    assert customs["origin_country"].value == "CN"
    assert customs["origin_country"].source_label.startswith("Category APP ")
    assert customs["customs_description"].value == "Clothing"


def test_effective_customs_prefers_the_skus_own_value(create_category, create_product,
                                                      create_sku):
    cat = create_category("APP", "Apparel", hs_code="610910", origin_country="CN")
    sku = create_sku(product=create_product(category=cat), hs_code="6109.90", origin_country="VN")
    customs = services.effective_customs(sku)
    assert customs["hs_code"].value == "610990"
    assert customs["hs_code"].source == "sku"
    assert customs["origin_country"].value == "VN"
    assert customs["customs_description"].source == "missing"


def test_moving_a_category_changes_what_its_skus_inherit(create_category, create_product,
                                                         create_sku):
    a = create_category("A", "A", hs_code="610910")
    b = create_category("B", "B", hs_code="420222")
    child = create_category("A-1", "Child", parent=a)
    sku = create_sku(product=create_product(category=child))
    assert services.effective_customs(sku)["hs_code"].value == "610910"
    services.move_category(child, b, actor=None)
    assert services.effective_customs(sku)["hs_code"].value == "420222"


# --- products and SKUs ------------------------------------------------------------------------

def test_create_product_requires_brand_and_category(create_category):
    cat = create_category("APP", "Apparel")
    with pytest.raises(ValidationError, match="brand"):
        services.create_product(code="P1", name="Tee", brand=None, category=cat, actor=None)


def test_create_product_duplicate_code_refused(create_product):
    create_product("P1")
    with pytest.raises(services.CatalogError, match='product "P1"'):
        create_product("p1")


def test_create_sku_stores_normalised_values_and_audits(create_sku):
    sku = create_sku("ts-red-m", barcode=" 4006381333931 ", weight_g="180", length_mm="300.0",
                     hs_code="6109.10.00", origin_country="China", list_price="19.90",
                     list_currency="usd", declared_value="8.5", declared_currency="USD")
    assert sku.code == "TS-RED-M"
    assert sku.barcode == "4006381333931"
    assert sku.barcode_kind == "ean13"
    assert sku.weight_g == 180
    assert sku.length_mm == 300
    assert sku.hs_code == "61091000"
    assert sku.origin_country == "CN"
    assert sku.list_price == Decimal("19.9000")
    assert sku.list_currency == "USD"
    event = _events("sku.created")[-1]
    assert event.entity_ref == "TS-RED-M"
    assert event.changes["barcode"] == [None, "4006381333931"]


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"barcode": "4006381333932"}, "barcode", "check digit should be 1"),
    ({"barcode": "036000291453"}, "barcode", "UPC-A"),
    ({"barcode": "ab"}, "barcode", "not a barcode"),
    ({"weight_g": "12.5"}, "weight_g", "whole number"),
    ({"weight_g": "-1"}, "weight_g", "between 0"),
    ({"length_mm": "lots"}, "length_mm", "whole number"),
    ({"hs_code": "12345"}, "hs_code", "6 to 10 digits"),
    ({"list_price": "9.99"}, "list_currency", "needs a currency"),
    ({"list_price": "9.99", "list_currency": "XXQ"}, "list_currency", "ISO 4217"),
    ({"declared_value": "abc", "declared_currency": "USD"}, "declared_value", "number"),
    ({"status": "archived"}, "status", "active or discontinued"),
])
def test_create_sku_bad_field_is_refused_and_nothing_written(create_product, values, field,
                                                             message):
    product = create_product()
    with pytest.raises(ValidationError, match=message) as info:
        services.create_sku(product=product, code="X1", actor=None, **values)
    assert info.value.field == field
    assert db.session.scalar(select(func.count()).select_from(Sku)) == 0


def test_duplicate_sku_code_and_barcode_refused(create_sku):
    create_sku("A1", barcode="4006381333931")
    with pytest.raises(services.CatalogError, match='SKU "A1".*taken'):
        create_sku("a1")
    with pytest.raises(services.CatalogError, match='remove it from SKU "A1"'):
        create_sku("A2", barcode="4006381333931")


def test_update_sku_records_before_and_after(dummy_sku):
    services.update_sku(dummy_sku, actor=None, weight_g=200, colour="Blue")
    event = _events("sku.updated")[-1]
    assert event.changes == {"weight_g": [180, 200], "colour": ["Red", "Blue"]}


def test_update_sku_cost_is_refused(dummy_sku):
    with pytest.raises(services.CatalogError, match="kept by the warehouse"):
        services.update_sku(dummy_sku, actor=None, avg_cost="3.2")


def test_set_sku_cost_is_the_warehouse_path(dummy_sku):
    services.set_sku_cost(dummy_sku.id, Decimal("3.1234"), actor=None, reason="receipt")
    db.session.expire_all()
    assert db.session.get(Sku, dummy_sku.id).avg_cost == Decimal("3.1234")
    assert _events("sku.cost_changed")[-1].changes["avg_cost"] == ["0.0000", "3.1234"]


def test_bulk_status_change_counts_and_audits_only_changes(create_sku):
    skus = [create_sku() for _ in range(3)]
    skus[0].status = SkuStatus.discontinued
    assert services.set_sku_status(skus, "discontinued", actor=None) == 2
    assert all(s.status == SkuStatus.discontinued for s in skus)
    assert len(_events("sku.status_changed")) == 2
    with pytest.raises(ValidationError):
        services.set_sku_status(skus, "gone", actor=None)
