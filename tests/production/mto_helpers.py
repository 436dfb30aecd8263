"""Helpers of the made-to-order tests: a set-up product and a shipped production order.

prod's production-order services are not on this branch: the tests create ProductionOrder rows
directly in the state the maker's shipment leaves them (``shipped``).
"""

from __future__ import annotations

import json
from datetime import date

from erp.extensions import db
from erp.production.models import ProductionOrder, ProductionState
from erp.production.services import products

TEMPLATE = [
    products.FieldRow("chest_cm", "Chest", "胸围", "cm", "70", "140", True),
    products.FieldRow("waist_cm", "Waist", "腰围", "cm", "60", "130", True),
    products.FieldRow("sleeve_cm", "Sleeve", "袖长", "cm", "50", "75", False),
]


def set_up_suit(create_product, create_sku, maker, *, code="SUIT", sku_code="SUIT-MTM"):
    """Return ``(product, sku)``: a made-to-order suit in sizes 46 48 50 and made to measure."""
    product = create_product(code, name="Tailored suit")
    sku = create_sku(sku_code, product=product, hs_code="620311",
                     customs_description="Men's wool suit", origin_country="CN")
    products.set_up_product(product, actor=None, made_to_order=True, maker_id=maker.id,
                            production_days=12, sizes="46 48 50", made_to_measure=True,
                            fields=TEMPLATE)
    db.session.flush()
    return product, sku


def shipped_production_order(order, line, maker, *, number="MO-00001") -> ProductionOrder:
    """Return a production order for ``line`` as the maker shipped it (state shipped)."""
    po = ProductionOrder(number=number, order_line_id=line.id, order_id=order.id,
                         product_id=line.sku.product_id, sku_id=line.sku_id, maker_id=maker.id,
                         quantity=line.quantity, mto_size=line.mto_size,
                         measurements=line.measurements, state=ProductionState.shipped,
                         due_date=date(2026, 1, 20))
    db.session.add(po)
    db.session.flush()
    return po


def measurements(**values) -> str:
    """Return measurements as the order line stores them (JSON of decimal strings)."""
    return json.dumps({k: str(v) for k, v in sorted(values.items())})
