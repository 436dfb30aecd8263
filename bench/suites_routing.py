"""``routing``: 10,000 allocated orders routed to a service by the active shipping rules.

Also :func:`activate_rules`, which prices the benchmark services and activates a rule version,
so ``dispatch`` runs with routing on (at allocation and again at packing).
"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from bench.runner import BenchDB, bench, log, make_app

#: (zone, up to g, price) for each service: the postal ones cheap and light, express dear
PRICES = {
    "POST-REG": (("EU", 500, "4.50"), ("EU", 2000, "9.80"), ("ROW", 500, "5.10"),
                 ("ROW", 2000, "11.20")),
    "EPACKET": (("EU", 500, "3.90"), ("EU", 2000, "10.40"), ("ROW", 500, "4.70"),
                ("ROW", 2000, "10.90")),
    "EMS": (("EU", 2000, "19.00"), ("EU", 30000, "48.00"), ("ROW", 2000, "24.00"),
            ("ROW", 30000, "61.00")),
    "EXPRESS": (("EU", 2000, "28.00"), ("EU", 30000, "70.00"), ("ROW", 2000, "32.00"),
                ("ROW", 30000, "82.00")),
}
#: the demo's kind of rules: batteries and express class by express, light US parcels by the
#: cheaper postal service, the rest by the postal services up to 2 kg, then EMS or express
RULES = (
    ("Batteries", "EXPRESS", {"goods_required": "battery_in_equipment,battery_with_equipment"}),
    ("Express class", "EXPRESS", {"service_class": "express"}),
    ("US light", "EPACKET, POST-REG", {"countries": "US", "max_weight_g": "500"}),
    ("Dear goods", "EMS, EXPRESS", {"min_value": "300", "value_currency": "USD"}),
    ("Postal", "POST-REG, EPACKET", {"max_weight_g": "2000"}),
    ("Heavy", "EMS, EXPRESS", {}),
)


def activate_rules(services: dict) -> None:
    """Price the benchmark services (:data:`PRICES`) and activate a version of :data:`RULES`."""
    from erp.shipping.services import carriers, routing_rules

    for code, bands in PRICES.items():
        if code in services:
            for zone, band, price in bands:
                carriers.set_rate(services[code], zone=zone, max_weight_g=band, price=price,
                                  currency="USD", actor=None)
    version = routing_rules.create_version(actor=None, note="bench")
    for name, codes, conditions in RULES:
        routing_rules.add_rule(version, {"name": name, "services": codes, **conditions},
                               actor=None)
    routing_rules.activate_version(version, actor=None)


def _setup(n_orders: int) -> list[int]:
    """Catalog, four priced services, an active rule version and ``n_orders`` allocated orders."""
    from sqlalchemy import insert, select

    from bench import data
    from bench.suites_shipping import create_services
    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, CustomerOrderLine

    data.sample_catalog(300)
    services, _box = create_services(10)
    activate_rules(services)
    sku_ids = list(sqla.session.scalars(select(Sku.id).order_by(Sku.id).limit(200)))
    countries = ("DE", "FR", "GB", "US")
    currency = {"DE": "EUR", "FR": "EUR", "GB": "GBP", "US": "USD"}
    classes = (None, "standard", "economy", None, "express")
    placed = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    rows = [{"number": f"ROUTE-{i:06d}", "channel": "webshop", "placed_at": placed,
             "state": "allocated", "priority": 0, "customer_name": "Bench Buyer",
             "phone": "+49 30 123456", "ship_name": "Bench Buyer", "address1": f"Street {i}",
             "city": "City", "postal_code": f"{10000 + i % 90000}", "country": countries[i % 4],
             "currency": currency[countries[i % 4]], "shipping_charge": Decimal("4.90"),
             "shipping_service": "POST-REG", "service_class": classes[i % 5],
             "created_at": placed} for i in range(n_orders)]
    ids = list(sqla.session.scalars(insert(CustomerOrder).returning(CustomerOrder.id), rows))
    lines = []
    for k, order_id in enumerate(ids):
        for j in range(1 + k % 3):
            lines.append({"order_id": order_id, "sku_id": sku_ids[(k * 7 + j) % len(sku_ids)],
                          "quantity": 1 + (k + j) % 2, "unit_price": Decimal("19.90"),
                          "allocated_qty": 1 + (k + j) % 2})
    sqla.session.execute(insert(CustomerOrderLine), lines)
    return ids


@bench("routing")
def routing_bench(db: BenchDB) -> dict:
    """10,000 allocated orders routed by an active version of six rules, committed.

    Measured: reading the rules and services, the orders, their lines and SKUs, choosing each
    order's service, inserting the 10,000 decisions and updating the services that changed,
    then the commit. Each run starts from the storefront's services again (untimed); median of
    3 runs.
    """
    from sqlalchemy import func, select, update

    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder
    from erp.shipping.routing_models import RoutingDecision
    from erp.shipping.services import routing

    n = db.scale(10_000)
    runs = 3
    app = make_app(db)
    with app.app_context():
        ids = _setup(n)
        sqla.session.commit()
    times, changed = [], []
    for _run in range(runs):
        with app.app_context():
            sqla.session.execute(update(CustomerOrder).values(shipping_service="POST-REG"))
            sqla.session.commit()
            start = time.perf_counter()
            choices = routing.route_orders(order_ids=ids, actor=None)
            sqla.session.commit()
            times.append(time.perf_counter() - start)
            changed.append(sum(c.changes for c in choices))
            assert len(choices) == n
    with app.app_context():
        decisions = sqla.session.scalar(select(func.count()).select_from(RoutingDecision))
        assert decisions == n * runs, decisions
        by_service = dict(sqla.session.execute(
            select(CustomerOrder.shipping_service, func.count())
            .group_by(CustomerOrder.shipping_service)).all())
        sqla.engine.dispose()
    seconds = statistics.median(times)
    log(f"   {n:,} orders routed in {seconds:.3f} s (median of {runs}); {changed[-1]:,} changed "
        f"service: {by_service}")
    return {"n": n, "seconds": round(seconds, 4), "per_second": round(n / seconds, 1),
            "changed": changed[-1], "runs": runs}
