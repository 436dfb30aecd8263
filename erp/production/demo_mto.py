"""Demo made-to-order set-up: a tailored suit (sizes or made to measure) by a Suzhou tailor.

Idempotent: loads nothing when the product exists. The demo orders of made-to-order lines and
their production orders come from the orders and production demos.
"""

from __future__ import annotations

from sqlalchemy import select

from erp.brands.models import Brand
from erp.catalog import services as catalog
from erp.catalog.models import Category, Product
from erp.extensions import db
from erp.procurement.models import Supplier
from erp.procurement.services import create_supplier
from erp.production.services import products

PRODUCT, SKU, MAKER = "TL-SUIT", "TL-SUIT-MTM", "SZTAILOR"
TEMPLATE = [
    products.FieldRow("chest_cm", "Chest", "胸围", "cm", "70", "140", True),
    products.FieldRow("waist_cm", "Waist", "腰围", "cm", "60", "130", True),
    products.FieldRow("hip_cm", "Hip", "臀围", "cm", "75", "150", True),
    products.FieldRow("sleeve_cm", "Sleeve length", "袖长", "cm", "50", "75", False),
    products.FieldRow("inseam_cm", "Inseam", "内长", "cm", "65", "95", False),
]


def load_demo() -> None:
    """Set up the made-to-order suit and its maker (once)."""
    if db.session.scalar(select(Product.id).where(Product.code == PRODUCT)):
        return
    brand = db.session.scalars(select(Brand).order_by(Brand.id)).first()
    category = db.session.scalars(select(Category).where(Category.code == "APP-TOP")).first() \
        or db.session.scalars(select(Category).order_by(Category.id)).first()
    if brand is None or category is None:
        return  # no catalog to add it to
    maker = db.session.scalar(select(Supplier).where(Supplier.code == MAKER)) or create_supplier(
        code=MAKER, name="Suzhou Bespoke Tailoring Co.", country="CN", currency="CNY",
        contact_name="Chen Jing", email="orders@sztailor.example.com", lead_time_days=20,
        language="zh", actor=None)
    product = catalog.create_product(code=PRODUCT, name="Tailored wool suit", brand=brand,
                                     category=category, actor=None)
    catalog.create_sku(product=product, code=SKU, weight_g=1600, hs_code="6203310000",
                       customs_description="Men's wool suit", origin_country="CN", actor=None)
    products.set_up_product(product, actor=None, made_to_order=True, maker_id=maker.id,
                            production_days=12, sizes="46 48 50 52 54", made_to_measure=True,
                            fields=TEMPLATE)
    db.session.flush()
