"""Excel export of the customer order list, with the list's filters."""

from __future__ import annotations

from collections.abc import Callable

from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _l
from erp.extensions import db
from erp.orders.models import ORDER_STATES
from erp.orders.queries import OrderFilters, order_count_query, order_list_query

ORDER_SPEC = Spec("customer-orders", _l("Orders"), (
    Column("number", _l("Order"), width=18),
    Column("placed_at", _l("Placed (UTC)"), type="auto", width=18),
    Column("state", _l("State"), width=14),
    Column("channel", _l("Channel"), width=12),
    Column("customer_name", _l("Customer"), width=28),
    Column("email", _l("Email"), width=30),
    Column("country", _l("Country"), width=8),
    Column("city", _l("City"), width=20),
    Column("postal_code", _l("Postal code"), width=12),
    Column("currency", _l("Currency"), width=8),
    Column("line_count", _l("Lines"), type="int", width=8),
    Column("units", _l("Units"), type="int", width=8),
    Column("allocated", _l("Allocated"), type="int", width=10),
    Column("goods_total", _l("Goods total"), type="decimal", width=14),
    Column("shipping_charge", _l("Shipping"), type="decimal", width=12),
    Column("hold_reason", _l("Hold reason"), width=28),
    Column("warehouse", _l("Warehouse"), width=12),
    Column("trade_mode", _l("Trade mode"), width=10),
    Column("payment_provider", _l("Payment provider"), width=16),
    Column("payment_transaction", _l("Payment transaction"), width=24),
    Column("payment_amount", _l("Paid amount"), type="decimal", width=12),
    Column("payment_currency", _l("Paid currency"), width=8),
    Column("paid_at", _l("Paid (UTC)"), type="auto", width=18),
))


def export_orders(filters: OrderFilters, *,
                  progress: Callable[[int], None] | None = None) -> bytes:
    """Return the orders matching the order list's filters as an .xlsx workbook.

    ``progress(rows written)`` is called every few thousand rows (a background export).
    """
    rows = exports.counted(db.session.execute(
        order_list_query(filters).execution_options(yield_per=2000)), progress)
    return export_workbook(ORDER_SPEC, ({
        "number": r.number, "placed_at": r.placed_at, "state": ORDER_STATES.label(r.state),
        "channel": r.channel, "customer_name": r.customer_name, "email": r.email,
        "country": r.country, "city": r.city, "postal_code": r.postal_code,
        "currency": r.currency, "line_count": r.line_count, "units": r.units,
        "allocated": r.allocated, "goods_total": r.goods_total,
        "shipping_charge": r.shipping_charge, "hold_reason": r.hold_reason,
        "warehouse": r.warehouse, "trade_mode": r.trade_mode,
        "payment_provider": r.payment_provider, "payment_transaction": r.payment_transaction,
        "payment_amount": r.payment_amount, "payment_currency": r.payment_currency,
        "paid_at": r.paid_at} for r in rows))


LIST_EXPORT = exports.register(exports.ListExport(
    "orders", _l("Orders"), "orders.view", OrderFilters,
    count=lambda f: db.session.scalar(order_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_orders(f, progress=progress),
    filename="orders"))
