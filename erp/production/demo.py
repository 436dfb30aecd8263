"""Demo made-to-order production: a contract tailor, a made-to-measure dress, paid orders.

A Suzhou tailor (a supplier reading Chinese) makes the "Linen wrap dress" to order: sizes XS to
XL or made to measure (chest, waist, hips and length in cm, with ranges). Eight paid orders take
its production orders through every state the maker reports: ordered, in production (one of
them late), finished, shipped to the warehouse, received (twice: the dress's specification has
an inspection plan, so one lot waits in QC hold and one was rejected into quarantine, nothing
reserved to either line), and one cancelled after production started (its fee on the order's
audit). The set-up screens belong to the made-to-order products module;
the demo rows are written here. Idempotent: nothing is done when the dress exists.

Loaded last (after the orders demo), so the random storefront orders never pick the dress.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from erp.brands.models import Brand
from erp.catalog import services as catalog_services
from erp.catalog.models import Category, Product
from erp.core.models import utcnow
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.orders import services as order_services
from erp.procurement import services as procurement_services
from erp.procurement.models import Supplier
from erp.production.models import MeasurementField, MtoProduct
from erp.production.services import orders as production
from erp.production.services import receiving
from erp.quality import services as quality
from erp.warehouse.models import Location, LocationKind

STYLE = "LM-DRESS"
MAKER = "CN-SZTLR"
#: code, label, Chinese label, min, max (cm)
FIELDS = [("chest_cm", "Chest", "胸围", "70", "130"), ("waist_cm", "Waist", "腰围", "55", "120"),
          ("hips_cm", "Hips", "臀围", "75", "140"), ("length_cm", "Length", "衣长", "80", "150")]
#: (days since payment, size or measurements, state to reach; "cancel" = cancelled after start)
ORDERS = [
    (1, {"chest_cm": "92", "waist_cm": "74", "hips_cm": "98", "length_cm": "112"}, "ordered"),
    (25, "M", "in_production"),   # due before today: late on the board
    (6, {"chest_cm": "101.5", "waist_cm": "83", "hips_cm": "106", "length_cm": "118"},
     "in_production"),
    (12, "S", "finished"),
    (16, {"chest_cm": "88", "waist_cm": "70", "hips_cm": "95", "length_cm": "105"}, "shipped"),
    (8, "L", "cancel"),
    # received at the warehouse: the dress's specification has an inspection plan, so the
    # goods wait in QC hold (lot pending) or in quarantine (lot rejected), nothing reserved
    (20, "XS", "received"),
    (22, {"chest_cm": "95", "waist_cm": "77", "hips_cm": "101", "length_cm": "115"},
     "rejected"),
]
CUSTOMERS = [("Sophie Laurent", "FR", "EUR", "12 Rue de Rivoli", "Paris", "75001"),
             ("Mia Schneider", "DE", "EUR", "Torstrasse 88", "Berlin", "10119"),
             ("Giulia Romano", "IT", "EUR", "Via Torino 21", "Milano", "20123")]


def _maker() -> Supplier:
    maker = db.session.scalar(select(Supplier).where(Supplier.code == MAKER))
    if maker is None:
        maker = procurement_services.create_supplier(
            code=MAKER, name="Suzhou Silk & Linen Tailors", country="CN", currency="CNY",
            actor=None, contact_name="Zhou Min", email="orders@sztailor.example.com",
            phone="+86 512 6752 8890", address="88 Embroidery Lane\nGusu District, Suzhou 215000",
            payment_terms="Monthly statement", lead_time_days=14, language="zh_Hans_CN")
    return maker


def _dress(maker: Supplier):
    brand = db.session.scalar(select(Brand).where(Brand.code == "LUMA"))
    apparel = db.session.scalar(select(Category).where(Category.code == "APP"))
    if brand is None or apparel is None:
        return None
    category = db.session.scalar(select(Category).where(Category.code == "APP-DRESS"))
    if category is None:
        category = catalog_services.create_category(
            code="APP-DRESS", name="Dresses", parent=apparel, actor=None, hs_code="62044990",
            customs_description="Linen dress")
    spec = next((s.current for s in brand.specifications if s.current), None)
    product = catalog_services.create_product(
        code=STYLE, name="Linen wrap dress", brand=brand, category=category,
        description="Linen wrap dress, made to order by our Suzhou tailor.", spec_version=spec,
        actor=None)
    sku = catalog_services.create_sku(
        product=product, code=f"{STYLE}-SAN", actor=None, colour="Sand", weight_g=420,
        length_mm=350, width_mm=250, height_mm=40, list_price=Decimal("189.00"),
        list_currency="USD", declared_value=Decimal("85.00"), declared_currency="USD")
    product.made_to_order = True
    db.session.add(MtoProduct(product_id=product.id, maker_id=maker.id, production_days=12,
                              sizes="XS S M L XL", made_to_measure=True))
    for position, (code, label, label_zh, low, high) in enumerate(FIELDS):
        db.session.add(MeasurementField(product_id=product.id, position=position, code=code,
                                        label=label, label_zh=label_zh, unit="cm",
                                        min_value=Decimal(low), max_value=Decimal(high)))
    db.session.flush()
    return sku


def _order(i: int, sku, days: int, spec, actor):
    name, country, currency, street, city, postal_code = CUSTOMERS[i % len(CUSTOMERS)]
    paid_at = (utcnow() - timedelta(days=days)).replace(microsecond=0)
    line = {"sku": sku.code, "quantity": 1, "unit_price": "179.00"}
    if isinstance(spec, dict):
        line["measurements"] = spec
    else:
        line["size"] = spec
    payload = {
        "number": f"MTO-{700001 + i}", "placed_at": paid_at.isoformat(),
        "customer_name": name, "email": f"{name.split()[0].lower()}.{i}@example.com",
        "phone": "+49 30 1234567",
        "shipping_address": {"name": name, "address1": street, "city": city,
                             "postal_code": postal_code, "country": country},
        "currency": currency, "shipping_charge": "0", "shipping_service": "dhl-express",
        "trade_mode": "9610",
        "payment": {"provider": "Alipay", "transaction": f"2026{700001 + i:012d}",
                    "amount": "179.00", "currency": currency, "paid_at": paid_at.isoformat()},
        "lines": [line],
    }
    cleaned, errors = order_services.validate_order_payload(payload)
    if errors:
        raise ValueError(f"demo made-to-order order {payload['number']}: {errors}")
    order, _new = order_services.create_order(cleaned, actor=actor)
    # what intake stores once it knows payment and made-to-order lines (kept if it did)
    order.trade_mode = order.trade_mode or "9610"
    order.payment_provider = order.payment_provider or "Alipay"
    order.payment_transaction = order.payment_transaction or payload["payment"]["transaction"]
    order.payment_amount = order.payment_amount or Decimal("179.00")
    order.payment_currency = order.payment_currency or currency
    order.paid_at = order.paid_at or paid_at
    first = order.lines[0]
    if isinstance(spec, dict):
        first.measurements = first.measurements or json.dumps(dict(sorted(spec.items())))
    else:
        first.mto_size = first.mto_size or spec
    db.session.flush()
    return order


def _receive(po, *, reject: bool) -> None:
    """Receive the production order into the first storage bin; reject its lot if asked."""
    bin_ = db.session.scalar(select(Location).where(
        Location.kind == LocationKind.storage, Location.active.is_(True))
        .order_by(Location.warehouse_id, Location.pick_sequence, Location.code).limit(1))
    if bin_ is None:
        return  # the warehouse demo did not run
    clerk = get_user_by_username("warehouse")
    receiving.receive(po, actor=clerk, location=bin_, note="Demo: arrived by express")
    lot = next(iter(receiving.inspections_of(po.id)), None)
    if lot is None or not reject:
        return
    check = next((c for c in lot.spec_version.checks if c.defect_class == "major"), None)
    if check is None:
        return
    quality.record_defects(lot, {check.id: quality.DefectEntry(
        count=lot.sample_size, note="Demo: seam puckered on every piece")}, actor=clerk)
    quality.decide_inspection(lot, actor=clerk, note="Demo: ask the tailor for a remake")


def load_demo() -> None:
    """Create the maker, the made-to-order dress and its paid orders in every state (once)."""
    if db.session.scalar(select(Product.id).where(Product.code == STYLE)) is not None:
        return
    maker = _maker()
    sku = _dress(maker)
    if sku is None:
        return  # the brands or catalog demo did not run
    service = get_user_by_username("service")
    buyer = get_user_by_username("purchasing")
    for i, (days, spec, target) in enumerate(ORDERS):
        order = _order(i, sku, days, spec, service)
        production.create_for_orders([order], actor=service)  # intake's hook: idempotent
        [po] = production.production_orders_of(order.id)
        shipped = [production.start, production.finish, production.ship]
        steps = {"ordered": [], "in_production": [production.start],
                 "finished": [production.start, production.finish],
                 "shipped": shipped, "received": shipped, "rejected": shipped,
                 "cancel": [production.start]}[target]
        for step in steps:
            step(po, actor=buyer)
        if target in ("received", "rejected"):
            _receive(po, reject=target == "rejected")
        if target == "cancel":
            order_services.cancel_order(order, reason="Customer no longer needs the dress",
                                        actor=service)
    db.session.flush()
