"""The list searches match part of a code or number, in any case, wildcards taken literally.

Stock, SKUs, bins, purchase orders, orders, parcels and cases, on the demo data: each list's
row count is compared with the rows whose code or number contains the text, counted here in
Python (never with LIKE).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import or_, select

from erp.aftersales.models import AfterSalesCase
from erp.catalog.models import Product, Sku
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.procurement.models import PurchaseOrder, Supplier
from erp.shipping.models import Parcel
from erp.warehouse.models import VIRTUAL_KINDS, Location, StockLevel, Warehouse
from tests import demo_data

# the demo data: loaded once per module on SQLite (see tests/demo_data.py)
demo_template, app_config, demo = demo_data.demo_template, demo_data.app_config, demo_data.demo


def rows_listed(client, url: str, **args) -> int:
    response = client.get(url, query_string=args)
    assert response.status_code == 200, (url, args, response.status_code)
    main = response.get_data(as_text=True).split("<main", 1)[1]
    found = re.search(r"([\d,]+) rows?\b", main)  # the pagination line
    assert found, f"{url} says no number of rows"
    return int(found.group(1).replace(",", ""))


def has(text: str, *values) -> bool:
    """Whether any of ``values`` contains ``text``, ignoring case."""
    return any(text.lower() in (value or "").lower() for value in values)


@pytest.fixture
def staff(client, create_user, login):
    user = create_user("lists-admin", roles=("admin",))
    assert login(user.username).status_code == 302
    return user


def _stock_rows(text: str) -> int:
    rows = db.session.execute(
        select(Sku.code, Sku.barcode, Location.code, Product.name)
        .select_from(StockLevel).join(Sku, Sku.id == StockLevel.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(or_(StockLevel.on_hand != 0, StockLevel.reserved != 0))).all()
    return sum(has(text, sku, bin_code, name) or barcode == text
               for sku, barcode, bin_code, name in rows)


@pytest.mark.parametrize("text", ["np-day", "KB-HOOD", "A-01", "a-01-01"])
def test_stock_list_finds_part_of_a_sku_or_bin_code(client, staff, demo, text):
    expected = _stock_rows(text)
    assert expected > 0
    assert rows_listed(client, "/warehouse/stock", q=text) == expected


def test_sku_list_finds_part_of_a_code_in_any_case(client, staff, demo):
    rows = db.session.execute(select(Sku.code, Product.code, Product.name)
                              .join(Product, Product.id == Sku.product_id)).all()
    for text in ("np-day", "Hood-C"):
        expected = sum(has(text, *row) for row in rows)
        assert expected > 0
        assert rows_listed(client, "/catalog/skus", q=text) == expected


def test_bin_list_finds_part_of_a_code_in_any_case(client, staff, demo):
    warehouse = db.session.scalar(select(Warehouse).order_by(Warehouse.id).limit(1))
    codes = db.session.scalars(select(Location.code).where(
        Location.warehouse_id == warehouse.id, Location.kind.not_in(list(VIRTUAL_KINDS)))).all()
    expected = sum(has("a-01", code) for code in codes)
    assert expected > 0
    assert rows_listed(client, f"/warehouse/warehouses/{warehouse.id}/bins", q="a-01") == \
        expected


def test_purchase_order_list_finds_part_of_a_number(client, staff, demo):
    rows = db.session.execute(select(PurchaseOrder.number, Supplier.code, Supplier.name)
                              .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)).all()
    expected = sum(has("po-2026-00000", *row) for row in rows)
    assert expected > 1
    assert rows_listed(client, "/procurement/purchase-orders", q="po-2026-00000") == expected


def test_order_list_finds_part_of_a_number(client, staff, demo):
    rows = db.session.execute(select(CustomerOrder.number, CustomerOrder.email,
                                     CustomerOrder.customer_name, CustomerOrder.ship_name)
                              .order_by(CustomerOrder.number)).all()
    number = rows[0][0]
    text = number[:-1].lower()
    expected = sum(has(text, *row) for row in rows)
    assert expected > 1
    assert rows_listed(client, "/orders/", q=text) == expected


def test_parcel_list_finds_part_of_a_number(client, staff, demo):
    parcels = db.session.execute(select(Parcel.number, Parcel.tracking_number)
                                 .order_by(Parcel.number)).all()
    text = parcels[0][0][:-1].lower()  # PCL-2026-00000: nine parcels
    expected = sum(has(text, *row) for row in parcels)
    assert expected > 1
    assert rows_listed(client, "/shipping/parcels", q=text) == expected
    tracking = next(row[1] for row in parcels if row[1])
    part = tracking[2:8].lower()
    expected = sum(has(part, row[1]) for row in parcels)
    assert rows_listed(client, "/shipping/parcels", q=part) >= expected > 0


def test_case_list_finds_part_of_an_rma_number(client, staff, demo):
    numbers = db.session.scalars(select(AfterSalesCase.number)
                                 .order_by(AfterSalesCase.number)).all()
    text = numbers[0][:-2].lower()  # RMA-2026-0000: the first 99 cases
    expected = sum(has(text, number) for number in numbers)
    assert expected > 1
    assert rows_listed(client, "/aftersales/cases", q=text) == expected


LISTS = [("/warehouse/stock", "q"), ("/catalog/skus", "q"), ("/procurement/purchase-orders", "q"),
         ("/orders/", "q"), ("/shipping/parcels", "q"), ("/aftersales/cases", "q"),
         ("/aftersales/refunds", "q"), ("/aftersales/returns", "search"),
         ("/shipping/batches", "q")]


@pytest.mark.parametrize("text", ["%", "_", "NP_DAY", "PO-2026-00000_"])
def test_like_wildcards_in_a_list_search_are_taken_literally(client, staff, demo, text):
    for url, param in LISTS:
        response = client.get(url, query_string={param: text})
        assert response.status_code == 200, url
        main = response.get_data(as_text=True).split("<main", 1)[1]
        found = re.search(r"([\d,]+) rows?\b", main)
        assert found is None or found.group(1) == "0", (url, text, found.group(0))
    warehouse = db.session.scalar(select(Warehouse.id).order_by(Warehouse.id).limit(1))
    assert rows_listed(client, f"/warehouse/warehouses/{warehouse}/bins", q=text) == 0
