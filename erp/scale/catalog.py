"""Generated catalog data (large demo and benchmarks): brands, categories, products, SKUs, bins.

Everything is deterministic (SKU ``i`` always gets the same values), so a sheet written by
:func:`write_sku_sheet` and rows inserted by :func:`insert_catalog` describe the same catalog.
Brands and categories go through the services (there are few); products and SKUs are bulk
``INSERT`` statements, fast enough for 100,000 SKUs. Call inside an app context; nothing commits.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import xlsxwriter
from sqlalchemy import insert, select

from erp.core.codes import gtin_check_digit

COLOURS = ("Black", "White", "Navy", "Red", "Forest green", "Sand", "Grey marl", "Sky blue")
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
HS_CODES = ("61091000", "61099020", "62034231", "42022290", "64041990", "95069990")
DESCRIPTIONS = ("Cotton T-shirt", "Knitted jumper", "Men's trousers of cotton", "Tote bag",
                "Sports shoes", "Sports equipment")
NAMES = ("Organic cotton tee", "纯棉T恤", "Merino crew jumper", "Chino trousers",
         "Canvas tote", "Trail runner", "Yoga mat")
COUNTRIES = ("CN", "VN", "BD", "TR", "PT")
SKUS_PER_PRODUCT = 5


def create_brands(count: int = 5) -> list[str]:
    """Create ``count`` private brands through the brand service; return their codes."""
    from erp.brands import services

    codes = [f"BR{i + 1:02d}" for i in range(count)]
    for code in codes:
        services.create_brand(code=code, name=f"Bench brand {code}", actor=None)
    return codes


def create_category_tree(widths: tuple[int, ...] = (4, 4, 5)) -> list[str]:
    """Create a category tree (4 x 4 x 5 by default: 3 levels) with customs defaults on top.

    Returns the codes of the leaves, where the products go.
    """
    from erp.catalog import services

    leaves = []

    def grow(parent, prefix: str, level: int) -> None:
        for i in range(widths[level]):
            code = f"{prefix}{i + 1}" if prefix else f"C{i + 1}"
            customs = {"hs_code": HS_CODES[i % len(HS_CODES)], "origin_country": "CN",
                       "customs_description": DESCRIPTIONS[i % len(DESCRIPTIONS)]} \
                if level == 0 else {}
            category = services.create_category(code=code, name=f"Category {code}",
                                                parent=parent, actor=None, **customs)
            if level + 1 < len(widths):
                grow(category, f"{code}-", level + 1)
            else:
                leaves.append(code)

    grow(None, "", 0)
    return leaves


def ean13(number: int) -> str:
    """Return a valid EAN-13 in the internal-use "20" prefix range for ``number``."""
    body = f"20{number:010d}"
    return body + str(gtin_check_digit(body))


def sku_values(i: int, brand_codes: list[str], category_codes: list[str]) -> dict:
    """Return the sheet values of SKU number ``i`` (product ``i // 5``)."""
    p = i // SKUS_PER_PRODUCT
    return {
        "sku_code": f"SKU{i:07d}",
        "product_code": f"P{p:06d}",
        "product_name": f"{NAMES[p % len(NAMES)]} {p}",
        "brand_code": brand_codes[p % len(brand_codes)],
        "category_code": category_codes[p % len(category_codes)],
        "barcode": ean13(i),
        "colour": COLOURS[p % len(COLOURS)],
        "size": SIZES[i % len(SIZES)],
        "weight_g": 100 + i % 900,
        "length_mm": 300,
        "width_mm": 200 + i % 50,
        "height_mm": 20,
        "hs_code": HS_CODES[p % len(HS_CODES)] if i % 3 else None,
        "customs_description": DESCRIPTIONS[p % len(DESCRIPTIONS)] if i % 3 else None,
        "origin_country": COUNTRIES[p % len(COUNTRIES)],
        "declared_value": Decimal(500 + i % 4000).scaleb(-2),
        "declared_currency": "USD",
        "list_price": Decimal(1990 + i % 9000).scaleb(-2),
        "list_currency": "EUR",
        "reorder_point": i % 50,
        "reorder_qty": 100,
        "status": "discontinued" if i % 10 == 0 else "active",
        "description": f"Generated product {p}" if p % 2 else None,
    }


def iter_sku_values(n: int, brand_codes: list[str], category_codes: list[str]) -> Iterator[dict]:
    """Yield :func:`sku_values` for SKUs ``0 .. n - 1``."""
    for i in range(n):
        yield sku_values(i, brand_codes, category_codes)


def write_sku_sheet(path: str, n: int, brand_codes: list[str], category_codes: list[str]) -> None:
    """Write an ``n``-row SKU import sheet (the SKU_SPEC headers) with xlsxwriter."""
    from erp.catalog.excel import SKU_SPEC

    workbook = xlsxwriter.Workbook(path, {"constant_memory": True,
                                          "strings_to_formulas": False,
                                          "strings_to_numbers": False})
    sheet = workbook.add_worksheet("SKUs")
    keys = [column.key for column in SKU_SPEC.columns]
    for col, column in enumerate(SKU_SPEC.columns):
        sheet.write_string(0, col, str(column.header))
    for row, values in enumerate(iter_sku_values(n, brand_codes, category_codes), start=1):
        for col, key in enumerate(keys):
            value = values.get(key)  # the transport columns stay empty: inherit
            if value is None:
                continue
            if isinstance(value, str):
                sheet.write_string(row, col, value)
            else:
                sheet.write_number(row, col, float(value))
    workbook.close()


def insert_catalog(n: int, brand_codes: list[str], category_codes: list[str], *,
                   batch: int = 20_000) -> None:
    """Bulk-insert ``n`` SKUs and their products (as :func:`sku_values` describes them)."""
    from erp.brands.models import Brand
    from erp.catalog.models import Category, Product, Sku
    from erp.core.models import utcnow
    from erp.extensions import db

    brand_ids = dict(db.session.execute(select(Brand.code, Brand.id)).all())
    category_ids = dict(db.session.execute(select(Category.code, Category.id)).all())
    now = utcnow()
    product_ids: dict[str, int] = {}
    for start in range(0, n, batch):
        chunk = [sku_values(i, brand_codes, category_codes)
                 for i in range(start, min(n, start + batch))]
        products = {}
        for v in chunk:
            if v["product_code"] not in product_ids:
                products.setdefault(v["product_code"], {
                    "code": v["product_code"], "name": v["product_name"],
                    "brand_id": brand_ids[v["brand_code"]],
                    "category_id": category_ids[v["category_code"]],
                    "description": v["description"], "spec_version_id": None,
                    "created_at": now})
        if products:
            returned = db.session.execute(
                insert(Product).returning(Product.id, Product.code,
                                          sort_by_parameter_order=True), list(products.values()))
            product_ids.update({code: ident for ident, code in returned})
        db.session.execute(insert(Sku), [{
            "code": v["sku_code"], "product_id": product_ids[v["product_code"]],
            "barcode": v["barcode"], "barcode_kind": "ean13", "colour": v["colour"],
            "size": v["size"], "weight_g": v["weight_g"], "length_mm": v["length_mm"],
            "width_mm": v["width_mm"], "height_mm": v["height_mm"], "hs_code": v["hs_code"],
            "customs_description": v["customs_description"],
            "origin_country": v["origin_country"], "declared_value": v["declared_value"],
            "declared_currency": v["declared_currency"], "list_price": v["list_price"],
            "list_currency": v["list_currency"], "avg_cost": Decimal(0),
            "reorder_point": v["reorder_point"], "reorder_qty": v["reorder_qty"],
            "status": v["status"], "created_at": now, "updated_at": now} for v in chunk])


def sample_catalog(n: int, *, brands: int = 5) -> tuple[list[str], list[str]]:
    """Create brands, the category tree and ``n`` SKUs; return (brand codes, leaf codes)."""
    brand_codes = create_brands(brands)
    leaves = create_category_tree()
    insert_catalog(n, brand_codes, leaves)
    return brand_codes, leaves


def create_bins(warehouse_id: int, count: int) -> list[int]:
    """Bulk-insert ``count`` storage bins ``Z-AAA-BB`` into a warehouse; return their ids."""
    from erp.extensions import db
    from erp.warehouse.models import Location, LocationKind

    rows = [{"warehouse_id": warehouse_id, "code": f"Z-{i // 50:03d}-{i % 50:02d}",
             "kind": LocationKind.storage, "pick_sequence": i * 10, "active": True}
            for i in range(count)]
    db.session.execute(insert(Location), rows)
    return list(db.session.scalars(select(Location.id).where(
        Location.warehouse_id == warehouse_id, Location.code.like("Z-%")).order_by(Location.id)))


__all__ = ["create_bins", "create_brands", "create_category_tree", "ean13", "insert_catalog",
           "iter_sku_values", "sample_catalog", "sku_values", "write_sku_sheet"]
