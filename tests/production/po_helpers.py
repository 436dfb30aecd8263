"""Building made-to-order products and paid orders for the production order tests.

Plain functions taking the factory fixtures (``create_sku``, ``create_supplier``,
``create_order``), so the concurrency scenarios can use them through ``get(name)`` too.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from erp.extensions import db
from erp.production.models import MeasurementField, MtoProduct

#: the demo dress's template: code, English and Chinese label, range in cm
FIELDS = (("chest_cm", "Chest", "胸围", "70", "130"), ("waist_cm", "Waist", "腰围", "55", "120"),
          ("hips_cm", "Hips", "臀围", "75", "140"), ("length_cm", "Length", "衣长", "80", "150"))


def made_to_order_sku(create_sku, create_supplier, *, code: str = "MTO-DRESS",
                      days: int = 10, language: str = "zh_Hans_CN", maker=True):
    """Return a SKU of a made-to-order dress with its maker and measurement template.

    ``maker=False`` leaves the product without its :class:`MtoProduct` (no maker set up).
    """
    sku = create_sku(code)
    product = sku.product
    product.made_to_order = True
    product.name = "Silk dress"
    if maker:
        supplier = create_supplier(name="Suzhou Silk Tailors", language=language)
        db.session.add(MtoProduct(product_id=product.id, maker_id=supplier.id,
                                  production_days=days, sizes="XS S M L XL",
                                  made_to_measure=True))
        for position, (field_code, label, label_zh, low, high) in enumerate(FIELDS):
            db.session.add(MeasurementField(product_id=product.id, position=position,
                                            code=field_code, label=label, label_zh=label_zh,
                                            unit="cm", min_value=Decimal(low),
                                            max_value=Decimal(high)))
    db.session.flush()
    return sku


def paid_order(create_order, sku, *, paid_at: datetime | None = None, size: str | None = None,
               measurements: dict | None = None, quantity: int = 1, price: str = "120.00",
               **values):
    """Return an order of ``quantity`` × ``sku`` paid at ``paid_at`` (a Monday by default)."""
    paid_at = paid_at or datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    order = create_order([(sku, quantity, price)], trade_mode="9610", payment_provider="alipay",
                         payment_transaction=f"T{sku.id}-{paid_at.timestamp():.0f}",
                         payment_amount=Decimal(price) * quantity, payment_currency="EUR",
                         paid_at=paid_at, **values)
    line = order.lines[0]
    line.mto_size = size
    if measurements is not None:
        line.measurements = json.dumps({k: str(v) for k, v in sorted(measurements.items())})
    elif size is None:
        line.mto_size = "M"
    db.session.flush()
    return order


MEASURED = {"chest_cm": "96.5", "waist_cm": "80", "hips_cm": "102", "length_cm": "110"}
