"""Read-side customer order queries, shared by the order screens, Excel exports and reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import BigInteger, Select, exists, func, or_, select, type_coerce

from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.types import Money
from erp.extensions import db
from erp.orders import hooks
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.warehouse.models import Warehouse

#: the state filter accepts a state or one of these groups of the state machine
STATE_GROUPS = {"open": _l("open (not shipped or cancelled)"),
                "allocatable": _l("to allocate (new or backordered)")}


@dataclass
class OrderFilters:
    """The order list's search and filters.

    :param q: an order number, email or customer name (or part of one), or a tracking or
        parcel number that a package above orders recognises (see :mod:`erp.orders.hooks`).
    :param sku: a SKU code: orders having a line of it.
    :param state: a state value, or a group name of :data:`STATE_GROUPS`.
    :param date_from: placed on or after this day (UTC); ``date_to`` placed on or before it.
    :param country: an ISO 3166-1 alpha-2 code of the shipping address.
    :param warehouse: the id of the warehouse the order ships from.
    """

    q: str | None = None
    sku: str | None = None
    state: str | None = None
    country: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    warehouse: int | None = None


def _states(value: str | None) -> list[OrderState] | None:
    if not value:
        return None
    if value in STATE_GROUPS:
        return sorted(ORDER_STATES.groups[value])
    if value in OrderState.__members__:
        return [OrderState(value)]
    return None


def _filtered(stmt: Select, f: OrderFilters) -> Select:
    if f.q:
        text = f.q.strip()
        lower = text.lower()  # part of a number, e-mail or name, any case; wildcards literal
        matches = [CustomerOrder.number == text,
                   func.lower(CustomerOrder.number).contains(lower, autoescape=True),
                   func.lower(CustomerOrder.email).contains(lower, autoescape=True),
                   func.lower(CustomerOrder.customer_name).contains(lower, autoescape=True),
                   func.lower(CustomerOrder.ship_name).contains(lower, autoescape=True)]
        for search in hooks.order_id_searches:
            ids = search(text)
            if ids is not None:
                matches.append(CustomerOrder.id.in_(ids))
        stmt = stmt.where(or_(*matches))
    if f.sku:
        stmt = stmt.where(exists().where(
            CustomerOrderLine.order_id == CustomerOrder.id,
            CustomerOrderLine.sku_id == Sku.id,
            func.upper(Sku.code) == f.sku.strip().upper()))
    states = _states(f.state)
    if states:
        stmt = stmt.where(CustomerOrder.state.in_(states))
    if f.country:
        stmt = stmt.where(CustomerOrder.country == f.country.strip().upper())
    if f.warehouse:
        stmt = stmt.where(CustomerOrder.warehouse_id == f.warehouse)
    if f.date_from:
        stmt = stmt.where(CustomerOrder.placed_at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(CustomerOrder.placed_at < datetime.combine(
            f.date_to + timedelta(days=1), time.min, UTC))
    return stmt


def order_total_query() -> Select:
    """Return ``(order_id, line_count, units, allocated, goods_total)`` per order."""
    raw = type_coerce(CustomerOrderLine.unit_price, BigInteger) * CustomerOrderLine.quantity
    return (select(CustomerOrderLine.order_id, func.count().label("line_count"),
                   func.sum(CustomerOrderLine.quantity).label("units"),
                   func.sum(CustomerOrderLine.allocated_qty).label("allocated"),
                   type_coerce(func.sum(raw), Money()).label("goods_total"))
            .group_by(CustomerOrderLine.order_id))


def order_list_query(f: OrderFilters) -> Select:
    """Return the orders matching the filters, newest placed first, one row each.

    Columns: ``id, number, channel, state, placed_at, customer_name, email, country, city,
    postal_code, currency, shipping_charge, hold_reason, trade_mode, payment_provider,
    payment_transaction, payment_amount, payment_currency, paid_at, line_count, units,
    allocated, goods_total, warehouse`` (the code of the warehouse it ships from).
    """
    totals = order_total_query().subquery()
    stmt = (select(CustomerOrder.id, CustomerOrder.number, CustomerOrder.channel,
                   CustomerOrder.state, CustomerOrder.placed_at, CustomerOrder.customer_name,
                   CustomerOrder.email, CustomerOrder.country, CustomerOrder.city,
                   CustomerOrder.postal_code, CustomerOrder.currency,
                   CustomerOrder.shipping_charge, CustomerOrder.hold_reason,
                   CustomerOrder.trade_mode, CustomerOrder.payment_provider,
                   CustomerOrder.payment_transaction, CustomerOrder.payment_amount,
                   CustomerOrder.payment_currency, CustomerOrder.paid_at,
                   func.coalesce(totals.c.line_count, 0).label("line_count"),
                   func.coalesce(totals.c.units, 0).label("units"),
                   func.coalesce(totals.c.allocated, 0).label("allocated"),
                   totals.c.goods_total, Warehouse.code.label("warehouse"))
            .outerjoin(totals, totals.c.order_id == CustomerOrder.id)
            .outerjoin(Warehouse, Warehouse.id == CustomerOrder.warehouse_id)
            .order_by(CustomerOrder.placed_at.desc(), CustomerOrder.id.desc()))
    return _filtered(stmt, f)


def order_count_query(f: OrderFilters) -> Select:
    """Return the number of orders matching the filters."""
    return _filtered(select(func.count()).select_from(CustomerOrder), f)


def count_in_states(*states: OrderState) -> int:
    """Return how many orders are in any of ``states``."""
    return db.session.scalar(select(func.count()).select_from(CustomerOrder)
                             .where(CustomerOrder.state.in_(list(states)))) or 0


def country_options() -> list[str]:
    """Return the shipping countries that occur in orders, sorted."""
    return list(db.session.scalars(select(CustomerOrder.country).distinct()
                                   .order_by(CustomerOrder.country)))


def warehouse_options() -> list[tuple[int, str]]:
    """Return ``(id, code)`` of every warehouse, for the list's warehouse filter."""
    return [tuple(r) for r in db.session.execute(select(Warehouse.id, Warehouse.code)
                                                 .order_by(Warehouse.code))]


def backordered_orders_query() -> Select:
    """Return the backordered orders, oldest placed first, with their units short.

    Columns: ``id, number, placed_at, customer_name, country, units, allocated``. The line
    totals are summed for the backordered orders only (not over every order's lines).
    """
    totals = (select(CustomerOrderLine.order_id,
                     func.sum(CustomerOrderLine.quantity).label("units"),
                     func.sum(CustomerOrderLine.allocated_qty).label("allocated"))
              .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
              .where(CustomerOrder.state == OrderState.backordered)
              .group_by(CustomerOrderLine.order_id).subquery())
    return (select(CustomerOrder.id, CustomerOrder.number, CustomerOrder.placed_at,
                   CustomerOrder.customer_name, CustomerOrder.country,
                   func.coalesce(totals.c.units, 0).label("units"),
                   func.coalesce(totals.c.allocated, 0).label("allocated"))
            .outerjoin(totals, totals.c.order_id == CustomerOrder.id)
            .where(CustomerOrder.state == OrderState.backordered)
            .order_by(CustomerOrder.placed_at, CustomerOrder.id))
