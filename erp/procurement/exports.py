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
from erp.core.i18n import _, _l
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
from erp.procurement.queries import (
    LineInspection,
    PurchaseOrderFilters,
    line_inspection_figures,
    purchase_order_list_query,
)
from erp.procurement.replenishment_queries import ReplenishmentFilters, suggestion_query
from erp.procurement.services.replenishment import suggestion_from_row
from erp.warehouse.models import Location, Warehouse

SUGGESTION_SPEC = Spec("replenishment", _l("Suggestions"), (
    Column("supplier_code", _l("Supplier"), width=12),
    Column("supplier_name", _l("Supplier name"), width=28),
    Column("sku_code", _l("SKU"), width=20),
    Column("supplier_sku_code", _l("Supplier's code"), width=16),
    Column("product_name", _l("Product"), width=32),
    Column("colour", _l("Colour"), width=12),
    Column("size", _l("Size"), width=10),
    Column("brand_code", _l("Brand"), width=10),
    Column("category_name", _l("Category"), width=28),
    Column("on_hand", _l("On hand"), type="int", width=10),
    Column("reserved", _l("Reserved"), type="int", width=10),
    Column("available", _l("Available"), type="int", width=10),
    Column("incoming", _l("Incoming"), type="int", width=10),
    Column("position", _l("Available + incoming"), type="int", width=12),
    Column("drafted", _l("On draft orders"), type="int", width=10),
    Column("reorder_point", _l("Reorder point"), type="int", width=10),
    Column("reorder_qty", _l("Reorder quantity"), type="int", width=10),
    Column("moq", _l("MOQ"), type="int", width=8),
    Column("pack_multiple", _l("Pack multiple"), type="int", width=8),
    Column("quantity", _l("Suggested quantity"), type="int", width=12),
    Column("unit_price", _l("Unit price"), type="decimal", decimals=4, width=12),
    Column("currency", _l("Currency"), width=8),
    Column("amount", _l("Amount"), type="decimal", width=14),
    Column("lead_time_days", _l("Lead time (days)"), type="int", width=10),
))


def export_suggestions(filters: ReplenishmentFilters) -> bytes:
    """Return the replenishment suggestions matching ``filters`` as an .xlsx workbook."""
    rows = db.session.execute(suggestion_query(filters))
    return export_workbook(SUGGESTION_SPEC, (suggestion_from_row(row) for row in rows))


# --------------------------------------------------------------------------- purchase orders


def _order_ref(number: str | None, order_id: int) -> str:
    """Return an order's number, or "draft #id" for a draft that has none yet."""
    return number or _("draft #%(id)s", id=order_id)


PURCHASE_ORDER_SPEC = Spec("purchase-orders", _l("Purchase orders"), (
    Column("number", _l("Number"), width=18),
    Column("state", _l("State"), width=18),
    Column("supplier_code", _l("Supplier"), width=12),
    Column("supplier_name", _l("Supplier name"), width=28),
    Column("currency", _l("Currency"), width=8),
    Column("line_count", _l("Lines"), type="int", width=8),
    Column("total", _l("Total"), type="decimal", width=14),
    Column("created_on", _l("Created"), type="date", width=12),
    Column("ordered_on", _l("Ordered on"), type="date", width=12),
    Column("expected_date", _l("Expected"), type="date", width=12),
    Column("overdue", _l("Overdue"), type="bool", width=8),
))


def export_purchase_orders(filters: PurchaseOrderFilters) -> bytes:
    """Return the purchase orders matching the PO list's filters as an .xlsx workbook."""
    rows = db.session.execute(purchase_order_list_query(filters))
    return export_workbook(PURCHASE_ORDER_SPEC, ({
        "number": _order_ref(r.number, r.id),
        "state": str(PURCHASE_ORDER_STATES.label(r.state)),
        "supplier_code": r.supplier_code, "supplier_name": r.supplier_name,
        "currency": r.currency, "line_count": r.line_count, "total": r.total,
        "created_on": r.created_at.date(), "ordered_on": r.ordered_on,
        "expected_date": r.expected_date, "overdue": bool(r.overdue)} for r in rows))


def _matching_order_ids(filters: PurchaseOrderFilters) -> Select:
    """Return a select of the ids of the orders the PO list shows with ``filters``."""
    orders = purchase_order_list_query(filters).order_by(None).subquery()
    return select(orders.c.id)


PURCHASE_ORDER_LINE_SPEC = Spec("purchase-order-lines", _l("Purchase order lines"), (
    Column("number", _l("Order"), width=18),
    Column("state", _l("State"), width=18),
    Column("supplier_code", _l("Supplier"), width=12),
    Column("sku_code", _l("SKU"), width=20),
    Column("supplier_sku_code", _l("Supplier's code"), width=16),
    Column("product_name", _l("Product"), width=32),
    Column("colour", _l("Colour"), width=12),
    Column("size", _l("Size"), width=10),
    Column("quantity", _l("Ordered"), type="int", width=10),
    Column("received_qty", _l("Received"), type="int", width=10),
    Column("accepted_qty", _l("Accepted"), type="int", width=10),
    Column("rejected_qty", _l("Rejected"), type="int", width=10),
    Column("inspecting_qty", _l("In inspection"), type="int", width=10),
    Column("cancelled_qty", _l("Cancelled"), type="int", width=10),
    Column("remaining_qty", _l("Remaining"), type="int", width=10),
    Column("unit_price", _l("Unit price"), type="decimal", decimals=4, width=12),
    Column("currency", _l("Currency"), width=8),
    Column("amount", _l("Amount"), type="decimal", width=14),
    Column("expected_date", _l("Expected"), type="date", width=12),
))


def purchase_order_lines_export_query(filters: PurchaseOrderFilters) -> Select:
    """Return the lines of the orders matching the PO list's filters, by order then line."""
    line = PurchaseOrderLine
    return (select(PurchaseOrder.id, line.id.label("line_id"), PurchaseOrder.number,
                   PurchaseOrder.state,
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
    rows = db.session.execute(purchase_order_lines_export_query(filters)).all()
    inspected = line_inspection_figures([r.line_id for r in rows])
    none = LineInspection()
    return export_workbook(PURCHASE_ORDER_LINE_SPEC, ({
        "number": _order_ref(r.number, r.id),
        "state": str(PURCHASE_ORDER_STATES.label(r.state)),
        "supplier_code": r.supplier_code, "sku_code": r.sku_code,
        "supplier_sku_code": r.supplier_sku_code, "product_name": r.product_name,
        "colour": r.colour, "size": r.size, "quantity": r.quantity,
        "received_qty": r.received_qty,
        "accepted_qty": inspected.get(r.line_id, none).accepted,
        "rejected_qty": inspected.get(r.line_id, none).rejected,
        "inspecting_qty": inspected.get(r.line_id, none).pending,
        "cancelled_qty": r.cancelled_qty,
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


RECEIPT_SPEC = Spec("receipts", _l("Receipts"), (
    Column("receipt_number", _l("Receipt"), width=18),
    Column("received_at", _l("Received at"), type="auto", width=18),
    Column("receipt_state", _l("Receipt state"), width=10),
    Column("order_number", _l("Order"), width=18),
    Column("supplier_code", _l("Supplier"), width=12),
    Column("bin", _l("Bin"), width=16),
    Column("sku_code", _l("SKU"), width=20),
    Column("product_name", _l("Product"), width=32),
    Column("quantity", _l("Quantity"), type="int", width=10),
    Column("unit_cost_base", _l("Unit cost (base)"), type="decimal", decimals=4, width=14),
    Column("value_base", _l("Value (base)"), type="decimal", width=14),
    Column("received_by", _l("Received by"), width=20),
    Column("note", _l("Note"), width=30),
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
        "receipt_state": str(RECEIPT_STATES.label(r.receipt_state)),
        "order_number": _order_ref(r.order_number, r.order_id),
        "supplier_code": r.supplier_code,
        "bin": f"{r.warehouse_code}/{r.bin_code}" if r.warehouse_code else r.bin_code,
        "sku_code": r.sku_code, "product_name": r.product_name, "quantity": r.quantity,
        "unit_cost_base": r.unit_cost_base,
        "value_base": round_amount(r.unit_cost_base * r.quantity),
        "received_by": r.received_by, "note": r.note} for r in rows))
