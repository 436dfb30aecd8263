"""Catalog screens: lists, details, forms with their errors, moves and bulk status."""

import pytest
from sqlalchemy import select

from erp.catalog.models import Category, Product, Sku, SkuStatus
from erp.extensions import db


@pytest.fixture
def purchasing(login_as):
    return login_as("purchasing")


def test_sku_list_search_by_code_barcode_and_name(client, purchasing, create_sku,
                                                  create_product):
    create_sku("TS-RED-M", barcode="4006381333931")
    create_sku("MUG-01", product=create_product(name="Ceramic mug"))
    db.session.commit()
    assert "MUG-01" not in client.get("/catalog/skus?q=4006381333931").get_data(as_text=True)
    page = client.get("/catalog/skus?q=4006381333931").get_data(as_text=True)
    assert "TS-RED-M" in page
    page = client.get("/catalog/skus?q=ceramic").get_data(as_text=True)
    assert "MUG-01" in page
    assert "TS-RED-M" not in page


def test_sku_list_filters_by_category_subtree_and_status(client, purchasing, create_sku,
                                                         create_product, create_category):
    apparel = create_category("APP", "Apparel")
    tees = create_category("APP-TEE", "Tees", parent=apparel)
    home = create_category("HOME", "Home")
    create_sku("TEE-1", product=create_product(category=tees))
    create_sku("TOWEL-1", product=create_product(category=home))
    gone = create_sku("TEE-2", product=create_product(category=tees))
    gone.status = SkuStatus.discontinued
    db.session.commit()
    page = client.get(f"/catalog/skus?category={apparel.id}").get_data(as_text=True)
    assert "TEE-1" in page
    assert "TEE-2" in page
    assert "TOWEL-1" not in page
    page = client.get(f"/catalog/skus?category={apparel.id}&status=active").get_data(as_text=True)
    assert "TEE-1" in page
    assert "TEE-2" not in page


def test_sku_list_query_count_does_not_grow_with_rows(client, purchasing, create_sku,
                                                      count_queries):
    create_sku()
    db.session.commit()
    with count_queries() as few:
        assert client.get("/catalog/skus").status_code == 200
    for _ in range(30):
        create_sku()
    db.session.commit()
    with count_queries() as many:
        assert client.get("/catalog/skus").status_code == 200
    assert many.count == few.count


def test_sku_detail_shows_where_customs_values_come_from(client, purchasing, create_sku,
                                                         create_product, create_category):
    cat = create_category("APP", "Apparel", hs_code="610910", origin_country="CN")
    sku = create_sku(product=create_product(category=cat), origin_country="VN")
    db.session.commit()
    page = client.get(f"/catalog/skus/{sku.id}").get_data(as_text=True)
    assert "6109.10" in page
    assert "Category APP (Apparel)" in page
    assert "VN" in page
    assert "not set" in page


def test_create_sku_form_shows_service_error_on_field(client, purchasing, create_product):
    product = create_product()
    db.session.commit()
    response = client.post(f"/catalog/products/{product.id}/skus/new",
                           data={"code": "NEW-1", "barcode": "4006381333932", "status": "active"})
    assert response.status_code == 200
    assert "check digit should be 1" in response.get_data(as_text=True)
    assert db.session.scalar(select(Sku).where(Sku.code == "NEW-1")) is None


def test_create_and_edit_sku_through_forms(client, purchasing, create_product):
    product = create_product()
    db.session.commit()
    response = client.post(f"/catalog/products/{product.id}/skus/new", data={
        "code": "new-1", "barcode": "4006381333931", "weight_g": "250", "hs_code": "6109.10",
        "status": "active", "list_price": "12.50", "list_currency": "EUR"})
    assert response.status_code == 302
    sku = db.session.scalar(select(Sku).where(Sku.code == "NEW-1"))
    assert sku.weight_g == 250
    assert sku.hs_code == "610910"
    response = client.post(f"/catalog/skus/{sku.id}/edit", data={
        "code": "IGNORED", "weight_g": "260", "status": "discontinued", "list_price": "12.50",
        "list_currency": "EUR"})
    assert response.status_code == 302
    db.session.expire_all()
    sku = db.session.get(Sku, sku.id)
    assert sku.code == "NEW-1"
    assert sku.weight_g == 260
    assert sku.status == SkuStatus.discontinued


def test_create_product_and_category_through_forms(client, purchasing, catalog_brand):
    db.session.commit()
    response = client.post("/catalog/categories/new", data={
        "code": "app", "name": "Apparel", "parent_id": "", "hs_code": "6109.10.00",
        "origin_country": "China"})
    assert response.status_code == 302
    cat = db.session.scalar(select(Category).where(Category.code == "APP"))
    assert cat.hs_code == "61091000"
    assert cat.origin_country == "CN"
    response = client.post("/catalog/products/new", data={
        "code": "tee", "name": "Tee", "brand_id": str(catalog_brand.id),
        "category_id": str(cat.id), "spec_version_id": ""})
    assert response.status_code == 302
    assert db.session.scalar(select(Product).where(Product.code == "TEE")).name == "Tee"


def test_move_category_view_refuses_own_subtree(client, purchasing, create_category):
    apparel = create_category("APP", "Apparel")
    tops = create_category("APP-TOP", "Tops", parent=apparel)
    db.session.commit()
    response = client.post(f"/catalog/categories/{apparel.id}/move",
                           data={"parent_id": str(tops.id)},
                           headers={"Referer": "/catalog/categories"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Category, apparel.id).parent_id is None
    page = client.get("/catalog/categories").get_data(as_text=True)
    assert "outside its own subtree" in page


def test_bulk_status_change_from_the_list(client, purchasing, create_sku):
    a, b, c = create_sku(), create_sku(), create_sku()
    db.session.commit()
    response = client.post("/catalog/skus/status", data={
        "sku_ids": [str(a.id), str(b.id)], "status": "discontinued"})
    assert response.status_code == 302
    db.session.expire_all()
    statuses = {s.code: s.status for s in db.session.scalars(select(Sku))}
    assert statuses[a.code] == statuses[b.code] == SkuStatus.discontinued
    assert statuses[c.code] == SkuStatus.active


def test_warehouse_may_read_but_not_edit_the_catalog(client, login_as, dummy_sku):
    login_as("warehouse")
    assert client.get(f"/catalog/skus/{dummy_sku.id}").status_code == 200
    assert client.get(f"/catalog/skus/{dummy_sku.id}/edit").status_code == 403
    assert client.post("/catalog/skus/status", data={"sku_ids": [str(dummy_sku.id)],
                                                     "status": "discontinued"}).status_code == 403
