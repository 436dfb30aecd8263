"""Demo catalog: a 3-level category tree with customs defaults and about 200 SKUs.

A few goods carry transport attributes, set on their category and overridden on some SKUs: a
headlamp (battery contained in equipment; its spare pack has a battery packed with it), a power
bank (battery alone, 3 cells), a room perfume (liquid, flammable; its unscented linen water is
not flammable) and a magnetic bottle mount.

The leaf categories carry Chinese export (9610) customs data (illustrative codes: see
shared/reference/china-9610.md). Every demo product's customs data is confirmed except the
merino tees: their T-shirts category declares them "Cotton T-shirt" / 棉制针织T恤, so they stay
on Catalog › Customs review showing that inherited value and its source.
"""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy import select

from erp.brands.models import Brand
from erp.catalog import cn_customs, services
from erp.catalog.models import Category, Product
from erp.core.codes import gtin_check_digit
from erp.extensions import db

# (code, name, parent code, HS code, customs description, origin)
CATEGORIES = [
    ("APP", "Apparel", None, None, None, "CN"),
    ("APP-TOP", "Tops", "APP", "610910", "Cotton T-shirt", None),
    ("APP-TOP-TEE", "T-shirts", "APP-TOP", "61091000", "Cotton T-shirt", None),
    ("APP-TOP-HOOD", "Hoodies", "APP-TOP", "61102000", "Cotton knitted sweatshirt", None),
    ("APP-KID", "Kidswear", "APP", "611120", "Baby garment of cotton", None),
    ("APP-KID-SET", "Baby sets", "APP-KID", "61112090", "Baby clothing set of cotton", None),
    ("HOME", "Home textiles", None, None, None, "CN"),
    ("HOME-BED", "Bedding", "HOME", "630231", "Cotton bed linen", None),
    ("HOME-BED-DUV", "Duvet covers", "HOME-BED", "63023100", "Cotton duvet cover", None),
    ("HOME-BATH", "Bath", "HOME", "630260", "Cotton terry towel", None),
    ("HOME-BATH-TWL", "Towels", "HOME-BATH", "63026000", "Cotton terry towel", None),
    ("OUT", "Outdoor", None, None, None, "VN"),
    ("OUT-BAG", "Bags", "OUT", "420292", "Textile backpack", None),
    ("OUT-BAG-DAY", "Daypacks", "OUT-BAG", "42029291", "Polyester backpack", None),
    ("OUT-ACC", "Accessories", "OUT", None, None, None),
    ("OUT-ACC-BTL", "Bottles", "OUT-ACC", "73239300", "Stainless steel bottle", "CN"),
    ("OUT-ELEC", "Electronics", "OUT", None, None, "CN"),
    ("OUT-ELEC-LAMP", "Headlamps", "OUT-ELEC", "85131000", "Rechargeable LED headlamp", None),
    ("OUT-ELEC-PWR", "Power banks", "OUT-ELEC", "85076000", "Lithium-ion power bank", None),
    ("HOME-SCENT", "Home fragrance", "HOME", "33074900", "Room perfume spray", "FR"),
]

#: the transport attributes a category sets for everything below it
CATEGORY_TRANSPORT = {
    "OUT-ELEC": {"battery": "in_equipment"},
    "OUT-ELEC-PWR": {"battery": "alone"},
    "HOME-SCENT": {"liquid": True, "flammable": True},
}

#: Chinese export customs data per category: HS code, 申报品名, 申报要素 parts, sale unit,
#: (unit1, factor1), (unit2, factor2); a None factor with 035 is the net weight in kg
_TEE = ("6109100021", "棉制针织T恤", ("针织", "棉", "无品牌"), "011", ("011", "1"), ("035", None))
CATEGORY_CN = {
    "APP-TOP-TEE": _TEE,
    "APP-TOP-HOOD": ("6110200090", "棉制针织套头衫", ("针织", "棉", "套头衫", "无品牌"), "011",
                     ("011", "1"), ("035", None)),
    "APP-KID-SET": ("6111200090", "棉制婴儿服装套装", ("针织", "棉", "婴儿套装", "无品牌"), "006",
                    ("006", "1"), ("035", None)),
    "HOME-BED": ("6302310090", "棉制床上用织物制品", ("机织", "棉", "床上用品", "无品牌"), "011",
                 ("035", None), (None, None)),
    "HOME-BED-DUV": ("6302310090", "棉制被套", ("机织", "棉", "被套", "无品牌"), "011",
                     ("035", None), (None, None)),
    "HOME-BATH-TWL": ("6302600090", "棉制毛巾", ("毛圈布", "棉", "毛巾", "无品牌"), "015",
                      ("035", None), (None, None)),
    "OUT-BAG-DAY": ("4202920000", "纺织材料制双肩背包", ("纺织材料", "双肩包", "无品牌"), "007",
                    ("007", "1"), ("035", None)),
    "OUT-ACC-BTL": ("7323930000", "不锈钢保温杯", ("不锈钢", "保温杯", "无品牌"), "007",
                    ("035", None), (None, None)),
    "OUT-ELEC-LAMP": ("8513109000", "充电式LED头灯", ("头灯", "锂电池供电", "LED", "无品牌"), "007",
                      ("007", "1"), (None, None)),
    "OUT-ELEC-PWR": ("8507600090", "锂离子移动电源", ("锂离子", "移动电源", "无品牌"), "007",
                     ("007", "1"), ("035", None)),
    "HOME-SCENT": ("3307490000", "室内香薰喷雾", ("喷雾", "室内用", "无品牌"), "142",
                   ("035", None), (None, None)),
}
#: the styles left unconfirmed on the customs review list (declared as their category says)
UNCONFIRMED = {"NP-TEE", "NP-TEEW"}


def _cn_values(code: str) -> dict:
    data = CATEGORY_CN.get(code)
    if data is None:
        return {}
    hs, name, elements, sale, (unit1, factor1), (unit2, factor2) = data
    return {"cn_hs_code": hs, "cn_name": name, "cn_elements": "|".join(elements),
            "cn_sale_unit": sale, "cn_unit1": unit1, "cn_factor1": factor1, "cn_unit2": unit2,
            "cn_factor2": factor2}


# (style, name, brand code, category code, colours, sizes, weight g, price USD)
PRODUCTS = [
    ("LM-DUV", "Stonewashed linen duvet cover", "LUMA", "HOME-BED-DUV",
     ["Sand", "Sage", "Slate"], ["Single", "Double", "King"], 1400, "89.00"),
    ("LM-TWL", "Organic cotton towel", "LUMA", "HOME-BATH-TWL",
     ["White", "Ochre", "Ink"], ["Hand", "Bath", "Sheet"], 600, "24.00"),
    ("NP-DAY", "Trail daypack 22 L", "NORDPEAK", "OUT-BAG-DAY",
     ["Black", "Moss", "Rust"], ["22L", "30L"], 780, "69.00"),
    ("NP-BTL", "Insulated bottle", "NORDPEAK", "OUT-ACC-BTL",
     ["Steel", "Black", "Glacier"], ["500ml", "750ml", "1000ml"], 390, "29.00"),
    ("NP-TEE", "Merino trail tee", "NORDPEAK", "APP-TOP-TEE",
     ["Black", "Navy", "Moss", "Sand"], ["XS", "S", "M", "L", "XL", "XXL"], 160, "55.00"),
    ("NP-HOOD", "Fleece hoodie", "NORDPEAK", "APP-TOP-HOOD",
     ["Charcoal", "Forest"], ["S", "M", "L", "XL"], 520, "79.00"),
    ("KB-SET", "Organic baby set", "KIBO", "APP-KID-SET",
     ["Cloud", "Peach", "Mint"], ["0-3M", "3-6M", "6-12M", "12-18M", "18-24M"], 210,
     "32.00"),
    ("KB-TEE", "Kids cotton tee", "KIBO", "APP-TOP-TEE",
     ["Yellow", "Sky", "Coral", "White"], ["2Y", "4Y", "6Y", "8Y", "10Y"], 110, "16.00"),
    ("LM-THR", "Waffle throw blanket", "LUMA", "HOME-BED",
     ["Sand", "Sage", "Slate", "Rose"], ["130x170", "150x200"], 900, "59.00"),
    ("LM-PIL", "Linen pillowcase pair", "LUMA", "HOME-BED-DUV",
     ["Sand", "Sage", "Slate", "Rose", "White"], ["50x75", "65x65", "50x90"], 300, "35.00"),
    ("LM-MAT", "Cotton bath mat", "LUMA", "HOME-BATH-TWL",
     ["White", "Ochre", "Ink", "Sage"], ["50x80", "60x100"], 700, "29.00"),
    ("NP-TEEW", "Women's merino tee", "NORDPEAK", "APP-TOP-TEE",
     ["Black", "Berry", "Moss", "Sand"], ["XS", "S", "M", "L", "XL"], 140, "55.00"),
    ("KB-HOOD", "Kids zip hoodie", "KIBO", "APP-TOP-HOOD",
     ["Yellow", "Sky", "Coral", "Grey"], ["2Y", "4Y", "6Y", "8Y", "10Y"], 260, "29.00"),
    ("KB-BAG", "Kids backpack", "KIBO", "OUT-BAG-DAY",
     ["Yellow", "Sky", "Coral", "Mint", "Navy"], ["8L"], 350, "25.00"),
    ("KB-SLEEP", "Baby sleeping bag", "KIBO", "APP-KID-SET",
     ["Cloud", "Peach", "Mint", "Star"], ["0-6M", "6-18M", "18-36M", "3-5Y"], 420, "45.00"),
    ("NP-LAMP", "Rechargeable headlamp", "NORDPEAK", "OUT-ELEC-LAMP",
     ["Black"], ["Standard", "Spare pack"], 120, "39.00"),
    ("NP-PWR", "Solar power bank 10000 mAh", "NORDPEAK", "OUT-ELEC-PWR",
     ["Black", "Orange"], ["10000mAh"], 280, "45.00"),
    ("NP-MAG", "Magnetic bottle mount", "NORDPEAK", "OUT-ACC-BTL",
     ["Black"], ["One size"], 60, "15.00"),
    ("LM-MIST", "Linen room perfume", "LUMA", "HOME-SCENT",
     ["Cedar", "Unscented"], ["100ml", "250ml"], 180, "22.00"),
]

#: SKUs overriding their category's transport attributes (by the start of their code)
SKU_TRANSPORT = {
    "NP-LAMP-BLA-SPAREPACK": {"battery": "with_equipment", "battery_cells": 2},
    "NP-PWR-": {"battery_cells": 3},
    "NP-MAG-": {"magnet": True},
    "LM-MIST-UNS-": {"flammable": False},
}
#: the new styles sell without a purchasing specification
_NO_SPEC = {"NP-LAMP", "NP-PWR", "NP-MAG", "LM-MIST"}


def _sku_transport(code: str) -> dict:
    return next((values for start, values in SKU_TRANSPORT.items() if code.startswith(start)),
                {})


def _ean(seq: int) -> str:
    body = f"690{seq:09d}"  # 690-699: GS1 China prefixes
    return body + str(gtin_check_digit(body))


def load_demo() -> None:
    """Create the demo categories, products and SKUs (idempotent: skips what exists)."""
    by_code: dict[str, Category] = {
        c.code: c for c in db.session.scalars(select(Category))}
    for code, name, parent, hs, desc, origin in CATEGORIES:
        if code not in by_code:
            by_code[code] = services.create_category(
                code=code, name=name, parent=by_code.get(parent), actor=None, hs_code=hs,
                customs_description=desc, origin_country=origin,
                **CATEGORY_TRANSPORT.get(code, {}), **_cn_values(code))
        elif by_code[code].cn_hs_code is None and code in CATEGORY_CN:
            category = by_code[code]  # a database from before the Chinese customs data
            services.update_category(category, name=category.name, actor=None,
                                     **_cn_values(code))
    brands = {b.code: b for b in db.session.scalars(select(Brand))}
    rng = random.Random(2026)
    seq = 0
    created = []
    for style, name, brand_code, cat_code, colours, sizes, weight, price in PRODUCTS:
        brand = brands.get(brand_code)
        if brand is None:
            continue  # brands demo not loaded
        product = db.session.scalar(select(Product).where(Product.code == style))
        if product is None:
            spec = None if style in _NO_SPEC else next(
                (s.current for s in brand.specifications if s.current), None)
            product = services.create_product(
                code=style, name=name, brand=brand, category=by_code[cat_code],
                description=f"{name} by {brand.name}.", spec_version=spec, actor=None)
            created.append(product)
        existing = {s.code for s in product.skus}
        for colour in colours:
            for size in sizes:
                seq += 1
                code = f"{style}-{colour[:3].upper()}-{size.upper().replace(' ', '')}"
                if code in existing:
                    continue
                services.create_sku(
                    product=product, code=code, actor=None, barcode=_ean(seq), colour=colour,
                    size=size, weight_g=weight + rng.randint(-20, 20), length_mm=300,
                    width_mm=220, height_mm=40, list_price=Decimal(price), list_currency="USD",
                    declared_value=(Decimal(price) * Decimal("0.45")).quantize(Decimal("0.01")),
                    declared_currency="USD", reorder_point=rng.choice([5, 10, 20]),
                    reorder_qty=rng.choice([24, 48, 96]), **_sku_transport(code))
    # a person checked these classifications; the merino tees wait on the review list
    db.session.flush()
    cn_customs.confirm_products([p for p in created if p.code not in UNCONFIRMED], actor=None)
