"""Read-side purchase order and receipt queries, shared by screens, Excel exports and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import BigInteger, Select, and_, case, exists, func, or_, select, type_coerce

from erp.catalog.models import Product, Sku
from erp.core.i18n import _l
from erp.core.types import Money
from erp.extensions import db
from erp.procurement.models import (
    PURCHASE_ORDER_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
    ReceiptState,
    Supplier,
)
from erp.quality.queries import outcomes_for
from erp.warehouse.models import Location, LocationKind, Warehouse

#: the dates a purchase order list can be filtered on
DATE_FIELDS = {"created": _l("created"), "ordered": _l("ordered"), "expected": _l("expected")}
#: the state filter accepts a state or one of these groups of the state machine
STATE_GROUPS = {"open": _l("open (not closed or cancelled)"), "receivable": _l("to receive"),
                "incoming": _l("incoming (approved, ordered, partly received)")}


@dataclass
class PurchaseOrderFilters:
    """The purchase order list's search and filters.

    :param state: a state value, or a group name of :data:`STATE_GROUPS`.
    :param date_field: which date ``date_from`` / ``date_to`` apply to (:data:`DATE_FIELDS`).
    :param overdue: only orders still to receive whose expected date (of the order, or of a
        line with something left to receive) is before ``today``.
    """

    q: str | None = None
    state: str | None = None
    supplier_id: int | None = None
    date_field: str = "created"
    date_from: date | None = None
    date_to: date | None = None
    overdue: bool = False
    today: date = field(default_factory=date.today)


def _line_amount_raw():
    """Return a line's amount in ten-thousandths, rounded to cents in SQL.

    Rounded as ``PurchaseOrderLine.amount`` rounds (half up), on the non-negative stored
    integer, so a list's totals equal the detail page's to the cent.
    """
    price_raw = type_coerce(PurchaseOrderLine.unit_price, BigInteger)
    raw = price_raw * (PurchaseOrderLine.quantity - PurchaseOrderLine.cancelled_qty)
    cents = raw // 100
    rest = raw - cents * 100
    up = case((rest >= 50, 1), else_=0)
    return (cents + up) * 100


def purchase_order_total_query() -> Select:
    """Return ``(order_id, line_count, total)``: each order's total in its currency."""
    return (select(PurchaseOrderLine.order_id, func.count().label("line_count"),
                   type_coerce(func.sum(_line_amount_raw()), Money()).label("total"))
            .group_by(PurchaseOrderLine.order_id))


def _overdue(today: date):
    late_line = exists().where(
        PurchaseOrderLine.order_id == PurchaseOrder.id,
        PurchaseOrderLine.expected_date < today,
        PurchaseOrderLine.quantity > PurchaseOrderLine.received_qty
        + PurchaseOrderLine.cancelled_qty)
    return and_(PurchaseOrder.state.in_(sorted(PURCHASE_ORDER_STATES.groups["receivable"])),
                or_(PurchaseOrder.expected_date < today, late_line))


def _states(value: str | None) -> list[PurchaseOrderState] | None:
    if not value:
        return None
    if value in STATE_GROUPS:
        return sorted(PURCHASE_ORDER_STATES.groups[value])
    if value in PurchaseOrderState.__members__:
        return [PurchaseOrderState(value)]
    return None


def _filtered(stmt: Select, f: PurchaseOrderFilters) -> Select:
    if f.q:
        text = f.q.strip()
        lower = text.lower()  # part of a number, code or name, any case; wildcards literal
        stmt = stmt.where(or_(PurchaseOrder.number == text.upper(),
                              func.lower(PurchaseOrder.number).contains(lower, autoescape=True),
                              func.lower(Supplier.code).contains(lower, autoescape=True),
                              func.lower(Supplier.name).contains(lower, autoescape=True)))
    states = _states(f.state)
    if states:
        stmt = stmt.where(PurchaseOrder.state.in_(states))
    if f.supplier_id:
        stmt = stmt.where(PurchaseOrder.supplier_id == f.supplier_id)
    if f.date_from or f.date_to:
        if f.date_field == "ordered":
            column, start, end = PurchaseOrder.ordered_on, f.date_from, f.date_to
        elif f.date_field == "expected":
            column, start, end = PurchaseOrder.expected_date, f.date_from, f.date_to
        else:
            column = PurchaseOrder.created_at
            start = datetime.combine(f.date_from, time.min, UTC) if f.date_from else None
            end = datetime.combine(f.date_to + timedelta(days=1), time.min, UTC) \
                if f.date_to else None
        if start is not None:
            stmt = stmt.where(column >= start)
        if end is not None:
            stmt = stmt.where(column < end if f.date_field == "created" else column <= end)
    if f.overdue:
        stmt = stmt.where(_overdue(f.today))
    return stmt


def purchase_order_list_query(f: PurchaseOrderFilters) -> Select:
    """Return purchase orders matching the filters, newest first, one row each.

    Columns: ``id, number, state, currency, created_at, ordered_on, expected_date,
    supplier_id, supplier_code, supplier_name, line_count, total, overdue``.
    """
    totals = purchase_order_total_query().subquery()
    stmt = (select(PurchaseOrder.id, PurchaseOrder.number, PurchaseOrder.state,
                   PurchaseOrder.currency, PurchaseOrder.created_at, PurchaseOrder.ordered_on,
                   PurchaseOrder.expected_date, PurchaseOrder.supplier_id,
                   Supplier.code.label("supplier_code"), Supplier.name.label("supplier_name"),
                   func.coalesce(totals.c.line_count, 0).label("line_count"),
                   totals.c.total, _overdue(f.today).label("overdue"))
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .outerjoin(totals, totals.c.order_id == PurchaseOrder.id)
            .order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc()))
    return _filtered(stmt, f)


def purchase_order_count_query(f: PurchaseOrderFilters) -> Select:
    """Return the number of purchase orders matching the filters."""
    stmt = (select(func.count()).select_from(PurchaseOrder)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id))
    return _filtered(stmt, f)


def purchase_order_line_rows(order_id: int) -> Select:
    """Return an order's lines with SKU, product and barcode, in line order."""
    return (select(PurchaseOrderLine, Sku.code.label("sku_code"), Sku.barcode,
                   Sku.colour, Sku.size, Product.name.label("product_name"))
            .join(Sku, Sku.id == PurchaseOrderLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(PurchaseOrderLine.order_id == order_id).order_by(PurchaseOrderLine.id))


def receipt_rows(order_id: int) -> Select:
    """Return an order's receipts with their bin and total units, oldest first."""
    units = (select(ReceiptLine.receipt_id, func.sum(ReceiptLine.quantity).label("units"))
             .group_by(ReceiptLine.receipt_id).subquery())
    return (select(Receipt, Location.code.label("bin_code"),
                   Warehouse.code.label("warehouse_code"),
                   func.coalesce(units.c.units, 0).label("units"))
            .join(Location, Location.id == Receipt.location_id)
            .outerjoin(Warehouse, Warehouse.id == Location.warehouse_id)
            .outerjoin(units, units.c.receipt_id == Receipt.id)
            .where(Receipt.order_id == order_id).order_by(Receipt.id))


def receipt_line_rows(receipt_id: int) -> Select:
    """Return a receipt's lines with SKU, product and the order line's supplier code."""
    return (select(ReceiptLine, Sku.code.label("sku_code"), Product.name.label("product_name"),
                   PurchaseOrderLine.supplier_code)
            .join(Sku, Sku.id == ReceiptLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(PurchaseOrderLine, PurchaseOrderLine.id == ReceiptLine.order_line_id)
            .where(ReceiptLine.receipt_id == receipt_id).order_by(ReceiptLine.id))


def recent_receipts_query(limit: int = 10) -> Select:
    """Return the latest receipts with their order number."""
    return (select(Receipt.id, Receipt.number, Receipt.state, Receipt.received_at,
                   PurchaseOrder.number.label("order_number"),
                   Supplier.code.label("supplier_code"))
            .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
            .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
            .order_by(Receipt.received_at.desc(), Receipt.id.desc()).limit(limit))


def purchase_order_by_number(text: str) -> PurchaseOrder | None:
    """Return the order whose number was scanned or typed (any case, spaces trimmed)."""
    value = (text or "").strip().upper()
    if not value:
        return None
    return db.session.scalar(select(PurchaseOrder).where(PurchaseOrder.number == value))


def default_receiving_bin() -> Location | None:
    """Return the first active receiving bin of the first active warehouse (by code)."""
    return db.session.scalar(
        select(Location).join(Warehouse, Warehouse.id == Location.warehouse_id)
        .where(Location.kind == LocationKind.receiving, Location.active.is_(True),
               Warehouse.active.is_(True))
        .order_by(Warehouse.code, Location.pick_sequence, Location.code).limit(1))


def awaiting_approval_count() -> int:
    """Return how many purchase orders wait for a manager's approval."""
    return db.session.scalar(select(func.count()).select_from(PurchaseOrder).where(
        PurchaseOrder.state == PurchaseOrderState.awaiting_approval)) or 0


def supplier_options(active_only: bool = False) -> list[tuple[int, str, str, str, bool]]:
    """Return ``(id, code, name, currency, active)`` of suppliers, by code."""
    stmt = select(Supplier.id, Supplier.code, Supplier.name, Supplier.currency,
                  Supplier.active).order_by(Supplier.code)
    if active_only:
        stmt = stmt.where(Supplier.active.is_(True))
    return [tuple(row) for row in db.session.execute(stmt)]


def open_purchase_orders_summary() -> list[dict]:
    """Return the open purchase orders (approved, ordered, partly received) per state and currency.

    Each row: ``state, currency, orders, total`` (the orders' value, cancelled quantities
    excluded) and ``open_value`` (what is still to receive: quantity - received - cancelled,
    never below zero, x unit price, in ten-thousandths summed exactly).
    """
    from decimal import Decimal

    remaining = PurchaseOrderLine.quantity - PurchaseOrderLine.received_qty \
        - PurchaseOrderLine.cancelled_qty
    open_raw = case((remaining > 0, remaining), else_=0) * type_coerce(
        PurchaseOrderLine.unit_price, BigInteger)
    lines = (select(PurchaseOrderLine.order_id,
                    func.sum(_line_amount_raw()).label("total"),
                    func.sum(open_raw).label("open_raw"))
             .group_by(PurchaseOrderLine.order_id).subquery())
    states = sorted(PURCHASE_ORDER_STATES.groups["incoming"])
    rows = db.session.execute(
        select(PurchaseOrder.state, PurchaseOrder.currency, func.count().label("orders"),
               type_coerce(func.sum(func.coalesce(lines.c.total, 0)), Money()).label("total"),
               type_coerce(func.sum(func.coalesce(lines.c.open_raw, 0)), Money())
               .label("open_value"))
        .outerjoin(lines, lines.c.order_id == PurchaseOrder.id)
        .where(PurchaseOrder.state.in_(states))
        .group_by(PurchaseOrder.state, PurchaseOrder.currency)
        .order_by(PurchaseOrder.state, PurchaseOrder.currency)).all()
    return [{"state": PurchaseOrderState(r.state), "currency": r.currency,
             "orders": int(r.orders), "total": r.total or Decimal(0),
             "open_value": r.open_value or Decimal(0)} for r in rows]


@dataclass(frozen=True)
class LineInspection:
    """What inspection made of a PO line's received units: accepted, rejected, still pending.

    Units received without an inspection lot count as accepted; a lot released as a concession
    counts as accepted less what was scrapped of it.
    """

    accepted: int = 0
    rejected: int = 0
    pending: int = 0


def line_inspection_figures(line_ids) -> dict[int, LineInspection]:
    """Return the accepted, rejected and pending units of each PO line (posted receipts)."""
    ids = sorted(set(line_ids))
    rows = []
    for start in range(0, len(ids), 900):
        rows += db.session.execute(
            select(ReceiptLine.id, ReceiptLine.order_line_id, ReceiptLine.quantity)
            .join(Receipt, Receipt.id == ReceiptLine.receipt_id)
            .where(Receipt.state == ReceiptState.posted,
                   ReceiptLine.order_line_id.in_(ids[start:start + 900]))).all()
    outcomes = {}
    receipt_line_ids = [r.id for r in rows]
    for start in range(0, len(receipt_line_ids), 900):
        outcomes.update(outcomes_for("receipt_line", receipt_line_ids[start:start + 900]))
    figures: dict[int, list[int]] = {}
    for rl_id, line_id, quantity in rows:
        totals = figures.setdefault(line_id, [0, 0, 0])
        outcome = outcomes.get(rl_id)
        if outcome is None:
            totals[0] += quantity
        else:
            totals[0] += outcome.accepted
            totals[1] += outcome.rejected
            totals[2] += outcome.pending
    return {line_id: LineInspection(*totals) for line_id, totals in figures.items()}
