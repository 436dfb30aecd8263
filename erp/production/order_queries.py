"""Read-side queries of production orders: the list (search, state), its export, the board."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, func, or_, select

from erp.catalog.models import Product, Sku
from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _l
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.procurement.models import Supplier
from erp.production.models import PRODUCTION_STATES, ProductionOrder, ProductionState

PS = ProductionState
#: not late, not due: the production order's work is over
DONE = (PS.received, PS.cancelled)
#: the customer order of an arrived production order has left (or will not)
ORDER_DONE = (OrderState.shipped, OrderState.delivered, OrderState.cancelled)


@dataclass
class ProductionOrderFilters:
    """The production order list's search (number, order or maker), state and lateness."""

    q: str | None = None
    state: str | None = None
    late: bool = False


def _columns() -> Select:
    return (select(ProductionOrder.id, ProductionOrder.number, ProductionOrder.state,
                   ProductionOrder.due_date, ProductionOrder.quantity, ProductionOrder.mto_size,
                   ProductionOrder.measurements, ProductionOrder.ordered_at,
                   ProductionOrder.shipped_at, ProductionOrder.received_at,
                   ProductionOrder.cancel_fee, ProductionOrder.fee_currency,
                   ProductionOrder.order_id, CustomerOrder.number.label("order_number"),
                   CustomerOrder.state.label("order_state"),
                   Supplier.code.label("maker_code"), Supplier.name.label("maker_name"),
                   Sku.code.label("sku_code"), Product.name.label("product_name"))
            .join(CustomerOrder, CustomerOrder.id == ProductionOrder.order_id)
            .join(Supplier, Supplier.id == ProductionOrder.maker_id)
            .join(Sku, Sku.id == ProductionOrder.sku_id)
            .join(Product, Product.id == ProductionOrder.product_id))


def _filtered(stmt: Select, filters: ProductionOrderFilters, *, joined: bool) -> Select:
    if filters.state in PS.__members__:
        stmt = stmt.where(ProductionOrder.state == filters.state)
    if filters.late:
        stmt = stmt.where(ProductionOrder.due_date < date.today(),
                          ProductionOrder.state.not_in(DONE))
    if filters.q:
        text = filters.q.strip().lower()
        if not joined:
            stmt = (stmt.join(CustomerOrder, CustomerOrder.id == ProductionOrder.order_id)
                    .join(Supplier, Supplier.id == ProductionOrder.maker_id))
        # part of a number or name, in any case; % and _ are taken literally
        stmt = stmt.where(or_(*(func.lower(column).contains(text, autoescape=True)
                                for column in (ProductionOrder.number, CustomerOrder.number,
                                               Supplier.code, Supplier.name))))
    return stmt


def production_order_list_query(filters: ProductionOrderFilters) -> Select:
    """Return production orders matching ``filters``, by due date then number."""
    return _filtered(_columns(), filters, joined=True).order_by(
        ProductionOrder.due_date, ProductionOrder.number)


def production_order_count_query(filters: ProductionOrderFilters) -> Select:
    """Return the number of production orders matching ``filters``."""
    return _filtered(select(func.count(ProductionOrder.id)), filters, joined=False)


@dataclass
class Board:
    """The production board's three buckets (rows of :func:`production_order_list_query`)."""

    today: date
    days: int
    due: list
    late: list
    arrived: list


def board(days: int = 7, *, today: date | None = None, limit: int = 200) -> Board:
    """Return the production orders due in the next ``days`` days, late, and arrived.

    Due: due from today to ``today + days`` and neither received nor cancelled. Late: due
    before today and neither received nor cancelled. Arrived: received at the warehouse and
    waiting to ship (the customer order neither shipped, delivered nor cancelled).
    """
    today = today or date.today()
    base = _columns()
    due = db.session.execute(
        base.where(ProductionOrder.state.not_in(DONE), ProductionOrder.due_date >= today,
                   ProductionOrder.due_date <= today + timedelta(days=days))
        .order_by(ProductionOrder.due_date, ProductionOrder.number).limit(limit)).all()
    late = db.session.execute(
        base.where(ProductionOrder.state.not_in(DONE), ProductionOrder.due_date < today)
        .order_by(ProductionOrder.due_date, ProductionOrder.number).limit(limit)).all()
    arrived = db.session.execute(
        base.where(ProductionOrder.state == PS.received,
                   CustomerOrder.state.not_in(ORDER_DONE))
        .order_by(ProductionOrder.received_at, ProductionOrder.number).limit(limit)).all()
    return Board(today=today, days=days, due=due, late=late, arrived=arrived)


LIST_SPEC = Spec("production-orders", _l("Production orders"), (
    Column("number", _l("Number"), width=18),
    Column("state", _l("State"), width=16),
    Column("order_number", _l("Order"), width=18),
    Column("maker", _l("Maker"), width=24),
    Column("sku_code", _l("SKU"), width=18),
    Column("product_name", _l("Product"), width=28),
    Column("quantity", _l("Quantity"), type="int", width=10),
    Column("spec", _l("Size or measurements"), width=40),
    Column("due_date", _l("Due date"), type="auto", width=12),
    Column("ordered_at", _l("Ordered"), type="auto", width=18),
    Column("received_at", _l("Received"), type="auto", width=18),
    Column("cancel_fee", _l("Cancellation fee"), type="decimal", width=14),
    Column("fee_currency", _l("Fee currency"), width=10),
))


def spec_text(size: str | None, measurements: str | None) -> str:
    """Return a line's size, or its measurements as ``chest_cm=96.5; waist_cm=80``."""
    if size:
        return size
    if not measurements:
        return ""
    try:
        values = json.loads(measurements)
    except ValueError:
        return measurements
    return "; ".join(f"{code}={value}" for code, value in sorted(values.items()))


def export_production_orders(filters: ProductionOrderFilters, progress=None) -> bytes:
    """Return the production orders matching ``filters`` as an .xlsx workbook (one row each)."""
    rows = db.session.execute(production_order_list_query(filters))
    return export_workbook(LIST_SPEC, exports.counted(({
        "number": r.number, "state": str(PRODUCTION_STATES.label(r.state)),
        "order_number": r.order_number, "maker": f"{r.maker_name} ({r.maker_code})",
        "sku_code": r.sku_code, "product_name": r.product_name, "quantity": r.quantity,
        "spec": spec_text(r.mto_size, r.measurements), "due_date": r.due_date,
        "ordered_at": r.ordered_at, "received_at": r.received_at,
        "cancel_fee": r.cancel_fee, "fee_currency": r.fee_currency} for r in rows), progress))


LIST_EXPORT = exports.register(exports.ListExport(
    "production_orders", _l("Production orders"), "production.view", ProductionOrderFilters,
    count=lambda f: db.session.scalar(production_order_count_query(f)),
    build=lambda f, *, user, progress: export_production_orders(f, progress=progress),
    filename="production-orders"))
