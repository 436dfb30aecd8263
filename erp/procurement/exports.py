"""Procurement's Excel exports: replenishment suggestions, purchase orders, lines, receipts.

Each export declares its columns once on the core framework (:mod:`erp.core.excel`), which
writes text as text and neutralises anything a spreadsheet could run as a formula. Every export
takes the same filters as the screen it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, select

from erp.catalog.models import Product, Sku
from erp.core.excel import Column, Spec, export_workbook
from erp.core.models import User
from erp.core.money import round_amount
from erp.extensions import db
from erp.procurement.models import (
    PURCHASE_ORDER_STATES,
    RECEIPT_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    Receipt,
    ReceiptLine,
    Supplier,
)
from erp.procurement.queries import PurchaseOrderFilters, purchase_order_list_query
from erp.procurement.replenishment_queries import ReplenishmentFilters, suggestion_query
from erp.procurement.services.replenishment import suggestion_from_row
from erp.warehouse.models import Location, Warehouse

SUGGESTION_SPEC = Spec("replenishment", "Suggestions", (
    Column("supplier_code", "Supplier", width=12),
    Column("supplier_name", "Supplier name", width=28),
    Column("sku_code", "SKU", width=20),
    Column("supplier_sku_code", "Supplier's code", width=16),
    Column("product_name", "Product", width=32),
    Column("colour", "Colour", width=12),
    Column("size", "Size", width=10),
    Column("brand_code", "Brand", width=10),
    Column("category_name", "Category", width=28),
    Column("on_hand", "On hand", type="int", width=10),
    Column("reserved", "Reserved", type="int", width=10),
    Column("available", "Available", type="int", width=10),
    Column("incoming", "Incoming", type="int", width=10),
    Column("position", "Available + incoming", type="int", width=12),
    Column("drafted", "On draft orders", type="int", width=10),
    Column("reorder_point", "Reorder point", type="int", width=10),
    Column("reorder_qty", "Reorder quantity", type="int", width=10),
    Column("moq", "MOQ", type="int", width=8),
    Column("pack_multiple", "Pack multiple", type="int", width=8),
    Column("quantity", "Suggested quantity", type="int", width=12),
    Column("unit_price", "Unit price", type="decimal", decimals=4, width=12),
    Column("currency", "Currency", width=8),
    Column("amount", "Amount", type="decimal", width=14),
    Column("lead_time_days", "Lead time (days)", type="int", width=10),
))


def export_suggestions(filters: ReplenishmentFilters) -> bytes:
    """Return the replenishment suggestions matching ``filters`` as an .xlsx workbook."""
    rows = db.session.execute(suggestion_query(filters))
    return export_workbook(SUGGESTION_SPEC, (suggestion_from_row(row) for row in rows))


# --------------------------------------------------------------------------- purchase orders


def _order_ref(number: str | None, order_id: int) -> str:
    """Return an order's number, or "draft #id" for a draft that has none yet."""
    return number or f"draft #{order_id}"


PURCHASE_ORDER_SPEC = Spec("purchase-orders", "Purchase orders", (
    Column("number", "Number", width=18),
    Column("state", "State", width=18),
    Column("supplier_code", "Supplier", width=12),
    Column("supplier_name", "Supplier name", width=28),
    Column("currency", "Currency", width=8),
    Column("line_count", "Lines", type="int", width=8),
    Column("total", "Total", type="decimal", width=14),
    Column("created_on", "Created", type="date", width=12),
    Column("ordered_on", "Ordered", type="date", width=12),
    Column("expected_date", "Expected", type="date", width=12),
    Column("overdue", "Overdue", type="bool", width=8),
))


def export_purchase_orders(filters: PurchaseOrderFilters) -> bytes:
    """Return the purchase orders matching the PO list's filters as an .xlsx workbook."""
    rows = db.session.execute(purchase_order_list_query(filters))
    return export_workbook(PURCHASE_ORDER_SPEC, ({
        "number": _order_ref(r.number, r.id), "state": PURCHASE_ORDER_STATES.label(r.state),
        "supplier_code": r.supplier_code, "supplier_name": r.supplier_name,
        "currency": r.currency, "line_count": r.line_count, "total": r.total,
        "created_on": r.created_at.date(), "ordered_on": r.ordered_on,
        "expected_date": r.expected_date, "overdue": bool(r.overdue)} for r in rows))


def _matching_order_ids(filters: PurchaseOrderFilters) -> Select:
    """Return a select of the ids of the orders the PO list shows with ``filters``."""
    orders = purchase_order_list_query(filters).order_by(None).subquery()
    return select(orders.c.id)


PURCHASE_ORDER_LINE_SPEC = Spec("purchase-order-lines", "Purchase order lines", (
    Column("number", "Order", width=18),
    Column("state", "State", width=18),
    Column("supplier_code", "Supplier", width=12),
    Column("sku_code", "SKU", width=20),
    Column("supplier_sku_code", "Supplier's code", width=16),
    Column("product_name", "Product", width=32),
    Column("colour", "Colour", width=12),
    Column("size", "Size", width=10),
    Column("quantity", "Ordered", type="int", width=10),
    Column("received_qty", "Received", type="int", width=10),
    Column("cancelled_qty", "Cancelled", type="int", width=10),
    Column("remaining_qty", "Remaining", type="int", width=10),
    Column("unit_price", "Unit price", type="decimal", decimals=4, width=12),
    Column("currency", "Currency", width=8),
    Column("amount", "Amount", type="decimal", width=14),
    Column("expected_date", "Expected", type="date", width=12),
))


def purchase_order_lines_export_query(filters: PurchaseOrderFilters) -> Select:
    """Return the lines of the orders matching the PO list's filters, by order then line."""
    line = PurchaseOrderLine
    return (select(PurchaseOrder.id, PurchaseOrder.number, PurchaseOrder.state,
                   PurchaseOrder.currency, Supplier.code.label("supplier_code"),
                   Sku.code.label("sku_code"), line.supplier_code.label("supplier_sku_code"),
                   Product.name.label("product_name"), Sku.colour, Sku.size, line.quantity,
                   line.received_qty, line.cancelled_qty, line.unit_price,
                   func.coalesce(line.expected_date, PurchaseOrder.expected_date)
                   .label("expected_date"))
            .join(PurchaseOrder, PurchaseOrder.id == line.order_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .join(Sku, Sku.id == line.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(line.order_id.in_(_matching_order_ids(filters)))
            .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc(), line.id))


def export_purchase_order_lines(filters: PurchaseOrderFilters) -> bytes:
    """Return the lines of the orders matching the PO list's filters as an .xlsx workbook."""
    rows = db.session.execute(purchase_order_lines_export_query(filters))
    return export_workbook(PURCHASE_ORDER_LINE_SPEC, ({
        "number": _order_ref(r.number, r.id), "state": PURCHASE_ORDER_STATES.label(r.state),
        "supplier_code": r.supplier_code, "sku_code": r.sku_code,
        "supplier_sku_code": r.supplier_sku_code, "product_name": r.product_name,
        "colour": r.colour, "size": r.size, "quantity": r.quantity,
        "received_qty": r.received_qty, "cancelled_qty": r.cancelled_qty,
        "remaining_qty": max(0, r.quantity - r.received_qty - r.cancelled_qty),
        "unit_price": r.unit_price, "currency": r.currency,
        "amount": round_amount(r.unit_price * (r.quantity - r.cancelled_qty)),
        "expected_date": r.expected_date} for r in rows))


# --------------------------------------------------------------------------- receipts


@dataclass
class ReceiptFilters:
    """The receipts export's filters: the PO list's, and when the goods were received."""

    orders: PurchaseOrderFilters
    received_from: date | None = None
    received_to: date | None = None


RECEIPT_SPEC = Spec("receipts", "Receipts", (
    Column("receipt_number", "Receipt", width=18),
    Column("received_at", "Received", type="auto", width=18),
    Column("receipt_state", "Receipt state", width=10),
    Column("order_number", "Order", width=18),
    Column("supplier_code", "Supplier", width=12),
    Column("bin", "Bin", width=16),
    Column("sku_code", "SKU", width=20),
    Column("product_name", "Product", width=32),
    Column("quantity", "Quantity", type="int", width=10),
    Column("unit_cost_base", "Unit cost (base)", type="decimal", decimals=4, width=14),
    Column("value_base", "Value (base)", type="decimal", width=14),
    Column("received_by", "Received by", width=20),
    Column("note", "Note", width=30),
))


def receipt_lines_export_query(filters: ReceiptFilters) -> Select:
    """Return receipt lines of the matching orders received in the date range, oldest first."""
    stmt = (select(Receipt.number.label("receipt_number"), Receipt.received_at,
                   Receipt.state.label("receipt_state"), Receipt.note, Receipt.order_id,
                   PurchaseOrder.number.label("order_number"),
                   Supplier.code.label("supplier_code"), Location.code.label("bin_code"),
                   Warehouse.code.label("warehouse_code"), Sku.code.label("sku_code"),
                   Product.name.label("product_name"), ReceiptLine.quantity,
                   ReceiptLine.unit_cost_base, User.full_name.label("received_by"))
            .join(Receipt, Receipt.id == ReceiptLine.receipt_id)
            .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .join(Location, Location.id == Receipt.location_id)
            .outerjoin(Warehouse, Warehouse.id == Location.warehouse_id)
            .join(Sku, Sku.id == ReceiptLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .outerjoin(User, User.id == Receipt.received_by_id)
            .where(Receipt.order_id.in_(_matching_order_ids(filters.orders)))
            .order_by(Receipt.received_at, Receipt.id, ReceiptLine.id))
    if filters.received_from:
        stmt = stmt.where(Receipt.received_at >= datetime.combine(filters.received_from,
                                                                  time.min, UTC))
    if filters.received_to:
        stmt = stmt.where(Receipt.received_at < datetime.combine(
            filters.received_to + timedelta(days=1), time.min, UTC))
    return stmt


def export_receipts(filters: ReceiptFilters) -> bytes:
    """Return one row per receipt line (matching ``filters``) as an .xlsx workbook."""
    rows = db.session.execute(receipt_lines_export_query(filters))
    return export_workbook(RECEIPT_SPEC, ({
        "receipt_number": r.receipt_number, "received_at": r.received_at,
        "receipt_state": RECEIPT_STATES.label(r.receipt_state),
        "order_number": _order_ref(r.order_number, r.order_id),
        "supplier_code": r.supplier_code,
        "bin": f"{r.warehouse_code}/{r.bin_code}" if r.warehouse_code else r.bin_code,
        "sku_code": r.sku_code, "product_name": r.product_name, "quantity": r.quantity,
        "unit_cost_base": r.unit_cost_base,
        "value_base": round_amount(r.unit_cost_base * r.quantity),
        "received_by": r.received_by, "note": r.note} for r in rows))
