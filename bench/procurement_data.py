"""Generated procurement data for the benchmarks: suppliers, price lists and open orders.

Suppliers and exchange rates go through the services (there are few). Supplier items and the
purchase orders standing open behind the replenishment figure are bulk ``INSERT`` statements,
which is the only way to lay down 100,000s of rows in a benchmark's setup time; they obey
every constraint and rule the services would (one preferred item per SKU at most, quantities
in whole packs, received within ordered). Everything is deterministic. Call inside an app
context; nothing commits.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import insert, select

BATCH = 20_000

#: (code, name, country, currency)
SUPPLIERS = (
    ("BENCH-CN1", "Bench textile mill", "CN", "CNY"),
    ("BENCH-VN1", "Bench bag maker", "VN", "USD"),
    ("BENCH-CN2", "Bench bottle factory", "CN", "CNY"),
    ("BENCH-PT1", "Bench linen supplier", "PT", "EUR"),
)
RATES = {"CNY": Decimal("0.1380"), "EUR": Decimal("1.0850")}


def create_suppliers() -> list:
    """Create the bench suppliers (and the rates of their currencies); return them."""
    from erp.core import services as core_services
    from erp.core.settings import base_currency
    from erp.procurement import services

    base = base_currency()
    for currency, rate in RATES.items():
        if currency != base:
            core_services.set_exchange_rate(currency, date(2026, 1, 1), rate, actor=None)
    return [services.create_supplier(code=code, name=name, country=country, currency=currency,
                                     lead_time_days=20 + 5 * n, actor=None)
            for n, (code, name, country, currency) in enumerate(SUPPLIERS)]


def insert_supplier_items(sku_ids: list[int], suppliers: list) -> int:
    """Give most SKUs one or two supplier items; every 20th SKU has no supplier.

    Every third SKU with two items has the dearer one marked preferred, so the ranking is
    exercised both ways. MOQs and pack multiples vary. Returns the items written.
    """
    from erp.extensions import db
    from erp.procurement.models import SupplierItem

    rows = []
    n = len(suppliers)
    for i, sku_id in enumerate(sku_ids):
        if i % 20 == 19:
            continue
        first, second = suppliers[i % n], suppliers[(i + 1) % n]
        price = Decimal(300 + i % 700).scaleb(-2)
        rows.append({"supplier_id": first.id, "sku_id": sku_id, "supplier_code": f"S{i:07d}",
                     "unit_price": price, "currency": first.currency, "moq": (1, 50, 100)[i % 3],
                     "pack_multiple": (1, 6, 12, 24)[i % 4], "lead_time_days": None,
                     "preferred": False})
        if i % 2 == 0:
            rows.append({"supplier_id": second.id, "sku_id": sku_id, "supplier_code": None,
                         "unit_price": price * 2, "currency": second.currency, "moq": 1,
                         "pack_multiple": 1, "lead_time_days": 10,
                         "preferred": i % 3 == 0})
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(SupplierItem), rows[start:start + BATCH])
    return len(rows)


def insert_open_orders(sku_ids: list[int], suppliers: list, orders: int,
                       lines_per_order: int) -> int:
    """Insert purchase orders of every open state, with lines over spread-out SKUs.

    A quarter are drafts or await approval (not incoming), the rest are approved, ordered or
    partly received (incoming). Returns the lines written.
    """
    from erp.core.models import utcnow
    from erp.extensions import db
    from erp.procurement.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState

    states = (PurchaseOrderState.draft, PurchaseOrderState.awaiting_approval,
              PurchaseOrderState.approved, PurchaseOrderState.ordered,
              PurchaseOrderState.ordered, PurchaseOrderState.partially_received,
              PurchaseOrderState.approved, PurchaseOrderState.ordered)
    now = utcnow()
    today = now.date()
    order_rows = []
    for k in range(orders):
        state = states[k % len(states)]
        supplier = suppliers[k % len(suppliers)]
        numbered = state != PurchaseOrderState.draft
        order_rows.append({
            "number": f"PO-BENCH-{k:06d}" if numbered else None, "supplier_id": supplier.id,
            "state": state, "currency": supplier.currency,
            "expected_date": today + timedelta(days=k % 60),
            "ordered_on": today if state in (PurchaseOrderState.ordered,
                                             PurchaseOrderState.partially_received) else None,
            "notes": None, "created_by_id": None, "created_at": now,
            "approved_by_id": None, "approved_at": now if numbered else None,
            "closed_at": None})
    ids = db.session.execute(insert(PurchaseOrder).returning(
        PurchaseOrder.id, sort_by_parameter_order=True), order_rows).scalars().all()
    line_rows = []
    step = max(1, len(sku_ids) // (orders * lines_per_order))
    j = 0
    for k, order_id in enumerate(ids):
        partly = order_rows[k]["state"] == PurchaseOrderState.partially_received
        for _ in range(lines_per_order):
            sku_id = sku_ids[(j * step) % len(sku_ids)]
            quantity = 24 + 12 * (j % 5)
            line_rows.append({"order_id": order_id, "sku_id": sku_id, "supplier_code": None,
                              "quantity": quantity, "unit_price": Decimal("4.2500"),
                              "received_qty": quantity // 2 if partly else 0,
                              "cancelled_qty": 0, "expected_date": None})
            j += 1
    for start in range(0, len(line_rows), BATCH):
        db.session.execute(insert(PurchaseOrderLine), line_rows[start:start + BATCH])
    return len(line_rows)


def sku_ids_in_order() -> list[int]:
    """Return every SKU id, in id order."""
    from erp.catalog.models import Sku
    from erp.extensions import db

    return list(db.session.scalars(select(Sku.id).order_by(Sku.id)))


__all__ = ["create_suppliers", "insert_open_orders", "insert_supplier_items",
           "sku_ids_in_order"]
