"""Read-side queries of supplier returns, claims, payments, quarantine stock and the statement."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Select, func, or_, select

from erp.catalog.models import Product, Sku
from erp.core.money import CENT, convert, round_amount
from erp.extensions import db
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
    ReceiptState,
    Supplier,
    SupplierItem,
)
from erp.procurement.return_models import (
    SupplierClaim,
    SupplierClaimState,
    SupplierPayment,
    SupplierReturn,
    SupplierReturnLine,
    SupplierReturnState,
)
from erp.warehouse.models import Location, LocationKind, StockLevel, StockMove, Warehouse


@dataclass
class ReturnFilters:
    """The supplier return list's search and filters."""

    q: str | None = None
    state: str | None = None
    supplier_id: int | None = None


def _return_where(stmt: Select, f: ReturnFilters) -> Select:
    if f.state:
        stmt = stmt.where(SupplierReturn.state == f.state)
    if f.supplier_id:
        stmt = stmt.where(SupplierReturn.supplier_id == f.supplier_id)
    if f.q:
        text = f.q.strip()
        stmt = stmt.where(or_(
            func.upper(SupplierReturn.number).contains(text.upper(), autoescape=True),
            func.upper(Supplier.code).contains(text.upper(), autoescape=True),
            func.lower(Supplier.name).contains(text.lower(), autoescape=True)))
    return stmt


def supplier_return_list_query(f: ReturnFilters) -> Select:
    """Return rows of returns, newest first: the return, supplier, units and claim."""
    units = (select(func.coalesce(func.sum(SupplierReturnLine.quantity), 0))
             .where(SupplierReturnLine.return_id == SupplierReturn.id)
             .correlate(SupplierReturn).scalar_subquery())
    stmt = (select(SupplierReturn, Supplier.code.label("supplier_code"),
                   Supplier.name.label("supplier_name"), units.label("units"),
                   SupplierClaim.number.label("claim_number"),
                   SupplierClaim.amount.label("claim_amount"),
                   SupplierClaim.state.label("claim_state"))
            .join(Supplier, Supplier.id == SupplierReturn.supplier_id)
            .outerjoin(SupplierClaim, SupplierClaim.return_id == SupplierReturn.id)
            .order_by(SupplierReturn.id.desc()))
    return _return_where(stmt, f)


def supplier_return_count_query(f: ReturnFilters) -> Select:
    """Return the number of returns the filters match."""
    stmt = (select(func.count(SupplierReturn.id))
            .join(Supplier, Supplier.id == SupplierReturn.supplier_id))
    return _return_where(stmt, f)


def supplier_return_lines_query(return_id: int) -> Select:
    """Return a return's lines with SKU code, product name and bin label parts."""
    return (select(SupplierReturnLine, Sku.code.label("sku_code"),
                   Product.name.label("product_name"), Location.code.label("bin_code"),
                   Warehouse.code.label("warehouse_code"))
            .join(Sku, Sku.id == SupplierReturnLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Location, Location.id == SupplierReturnLine.location_id)
            .outerjoin(Warehouse, Warehouse.id == Location.warehouse_id)
            .where(SupplierReturnLine.return_id == return_id)
            .order_by(SupplierReturnLine.id))


@dataclass
class ClaimFilters:
    """The claim list's filters."""

    q: str | None = None
    state: str | None = None
    supplier_id: int | None = None


def _claim_where(stmt: Select, f: ClaimFilters) -> Select:
    if f.state == "outstanding":
        stmt = stmt.where(SupplierClaim.state.in_([SupplierClaimState.open,
                                                   SupplierClaimState.approved]))
    elif f.state:
        stmt = stmt.where(SupplierClaim.state == f.state)
    if f.supplier_id:
        stmt = stmt.where(SupplierClaim.supplier_id == f.supplier_id)
    if f.q:
        text = f.q.strip().upper()
        stmt = stmt.where(or_(
            func.upper(SupplierClaim.number).contains(text, autoescape=True),
            func.upper(SupplierReturn.number).contains(text, autoescape=True),
            func.upper(Supplier.code).contains(text, autoescape=True)))
    return stmt


def claim_list_query(f: ClaimFilters) -> Select:
    """Return rows of claims, newest first, with the supplier and the return."""
    stmt = (select(SupplierClaim, Supplier.code.label("supplier_code"),
                   Supplier.name.label("supplier_name"),
                   SupplierReturn.number.label("return_number"),
                   SupplierPayment.paid_on.label("paid_on"))
            .join(Supplier, Supplier.id == SupplierClaim.supplier_id)
            .outerjoin(SupplierReturn, SupplierReturn.id == SupplierClaim.return_id)
            .outerjoin(SupplierPayment, SupplierPayment.id == SupplierClaim.payment_id)
            .order_by(SupplierClaim.id.desc()))
    return _claim_where(stmt, f)


def claim_count_query(f: ClaimFilters) -> Select:
    """Return the number of claims the filters match."""
    stmt = (select(func.count(SupplierClaim.id))
            .join(Supplier, Supplier.id == SupplierClaim.supplier_id)
            .outerjoin(SupplierReturn, SupplierReturn.id == SupplierClaim.return_id))
    return _claim_where(stmt, f)


def deductible_claims(supplier_id: int) -> list[SupplierClaim]:
    """Return the supplier's approved claims, which a payment may deduct, oldest first."""
    return list(db.session.scalars(
        select(SupplierClaim).where(SupplierClaim.supplier_id == supplier_id,
                                    SupplierClaim.state == SupplierClaimState.approved)
        .order_by(SupplierClaim.id)))


def supplier_sku_ids(supplier_id: int):
    """Return a select of the SKU ids a supplier sells or was ordered from."""
    listed = select(SupplierItem.sku_id).where(SupplierItem.supplier_id == supplier_id)
    ordered = (select(PurchaseOrderLine.sku_id)
               .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
               .where(PurchaseOrder.supplier_id == supplier_id))
    return listed.union(ordered)


@dataclass
class QuarantineRow:
    """Stock of one SKU in one quarantine bin, and what last brought it there."""

    sku_id: int
    sku_code: str
    product_name: str
    location_id: int
    bin_label: str
    on_hand: int
    available: int
    taken: int  #: units already on draft returns from this bin
    ref_type: str | None
    ref_id: int | None


def quarantine_stock(supplier_id: int) -> list[QuarantineRow]:
    """Return the quarantine stock of the supplier's SKUs (any quarantine-kind bin).

    Each row names the last move into the bin: a rejected inspection lot carries
    ``ref_type`` "inspection"; other stock is named by its bin ("quarantine", bin id).
    """
    sku_ids = supplier_sku_ids(supplier_id).subquery()
    rows = db.session.execute(
        select(StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand,
               StockLevel.reserved, Sku.code, Product.name, Location.code.label("bin_code"),
               Warehouse.code.label("warehouse_code"))
        .join(Sku, Sku.id == StockLevel.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Location, Location.id == StockLevel.location_id)
        .join(Warehouse, Warehouse.id == Location.warehouse_id)
        .where(Location.kind == LocationKind.quarantine, StockLevel.on_hand > 0,
               StockLevel.sku_id.in_(select(sku_ids.c[0])))
        .order_by(Warehouse.code, Location.code, Sku.code)).all()
    drafts = dict(((r.sku_id, r.location_id), int(r.qty)) for r in db.session.execute(
        select(SupplierReturnLine.sku_id, SupplierReturnLine.location_id,
               func.sum(SupplierReturnLine.quantity).label("qty"))
        .join(SupplierReturn, SupplierReturn.id == SupplierReturnLine.return_id)
        .where(SupplierReturn.state == SupplierReturnState.draft)
        .group_by(SupplierReturnLine.sku_id, SupplierReturnLine.location_id)))
    result = []
    for r in rows:
        last = db.session.execute(
            select(StockMove.ref_type, StockMove.ref_id)
            .where(StockMove.sku_id == r.sku_id, StockMove.to_location_id == r.location_id)
            .order_by(StockMove.id.desc()).limit(1)).first()
        ref_type, ref_id = ("inspection", last.ref_id) if last and last.ref_type == "inspection" \
            else ("quarantine", r.location_id)
        result.append(QuarantineRow(
            r.sku_id, r.code, r.name, r.location_id, f"{r.warehouse_code}/{r.bin_code}",
            r.on_hand, r.on_hand - r.reserved, drafts.get((r.sku_id, r.location_id), 0),
            ref_type, ref_id))
    return result


# --------------------------------------------------------------------------- statement


@dataclass
class StatementLine:
    """One dated entry of a supplier statement, in the supplier's currency.

    ``amount`` is what it adds to what is owed (a receipt) or takes off (negative: a payment,
    a claim); a purchase order adds nothing (it is listed for reference).
    """

    on: date
    kind: str  #: "order", "receipt", "claim", "payment"
    reference: str
    description: str
    state: str | None
    document_amount: Decimal | None
    amount: Decimal


@dataclass
class Statement:
    """A supplier's account over ``[start, end]``: what it was owed before, what moved, after."""

    supplier: Supplier
    start: date
    end: date
    currency: str
    opening: Decimal
    orders: list[StatementLine] = field(default_factory=list)
    receipts: list[StatementLine] = field(default_factory=list)
    claims: list[StatementLine] = field(default_factory=list)
    payments: list[StatementLine] = field(default_factory=list)

    @property
    def received(self) -> Decimal:
        """Return the value received in the period."""
        return sum((line.amount for line in self.receipts), Decimal(0))

    @property
    def paid(self) -> Decimal:
        """Return the money paid in the period (a positive figure)."""
        return -sum((line.amount for line in self.payments), Decimal(0))

    @property
    def claimed(self) -> Decimal:
        """Return the claims raised in the period and not cancelled (a positive figure)."""
        return -sum((line.amount for line in self.claims), Decimal(0))

    @property
    def open_claims(self) -> Decimal:
        """Return the claims of the period still open or approved (not yet deducted)."""
        return -sum((line.amount for line in self.claims if line.state in (
            SupplierClaimState.open.value, SupplierClaimState.approved.value)), Decimal(0))

    @property
    def owed(self) -> Decimal:
        """Return what is owed at the end: opening + received - paid - claims."""
        return self.opening + self.received - self.paid - self.claimed

    @property
    def entries(self) -> list[StatementLine]:
        """Return every entry of the period by date (orders first on a day)."""
        order = {"order": 0, "receipt": 1, "claim": 2, "payment": 3}
        return sorted(self.orders + self.receipts + self.claims + self.payments,
                      key=lambda e: (e.on, order[e.kind], e.reference))


def _utc_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _receipt_values(supplier: Supplier, *, before: date | None = None,
                    start: date | None = None, end: date | None = None) -> list[StatementLine]:
    stmt = (select(Receipt.id, Receipt.number, Receipt.received_at, PurchaseOrder.number,
                   PurchaseOrder.currency, ReceiptLine.quantity, PurchaseOrderLine.unit_price)
            .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
            .join(ReceiptLine, ReceiptLine.receipt_id == Receipt.id)
            .join(PurchaseOrderLine, PurchaseOrderLine.id == ReceiptLine.order_line_id)
            .where(PurchaseOrder.supplier_id == supplier.id,
                   Receipt.state == ReceiptState.posted)
            .order_by(Receipt.id, ReceiptLine.id))
    if before is not None:
        stmt = stmt.where(Receipt.received_at < _utc_start(before))
    if start is not None:
        stmt = stmt.where(Receipt.received_at >= _utc_start(start),
                          Receipt.received_at < _utc_start(end + timedelta(days=1)))
    receipts: dict[int, list] = {}
    for rid, number, at, po_number, currency, qty, price in db.session.execute(stmt):
        entry = receipts.setdefault(rid, [number, at, po_number, currency, Decimal(0)])
        entry[4] += round_amount(price * qty)
    lines = []
    for number, at, po_number, currency, value in receipts.values():
        on = at.date()
        amount = value if currency == supplier.currency else convert(
            value, currency, supplier.currency, on=on, places=CENT)
        lines.append(StatementLine(on, "receipt", number, po_number, None, value
                                   if currency != supplier.currency else None, amount))
    return lines


def supplier_statement(supplier: Supplier, start: date, end: date) -> Statement:
    """Return the supplier's statement over ``[start, end]`` (dates inclusive).

    Receipts are valued at their order lines' prices, converted to the supplier's currency at
    the receipt date when the order is in another; reversed receipts count nothing. Claims
    count from the day raised unless cancelled; payments by the day paid. What is owed is the
    opening balance (the same sum before ``start``) plus received, less paid, less claims.

    :raises ValidationError: if a conversion needs a missing exchange rate.
    """
    cancelled = SupplierClaimState.cancelled
    opening_claims = db.session.scalars(select(SupplierClaim.amount).where(
        SupplierClaim.supplier_id == supplier.id, SupplierClaim.state != cancelled,
        SupplierClaim.raised_on < start)).all()
    opening_paid = db.session.scalars(select(SupplierPayment.amount).where(
        SupplierPayment.supplier_id == supplier.id, SupplierPayment.paid_on < start)).all()
    opening = (sum((line.amount for line in _receipt_values(supplier, before=start)),
                   Decimal(0)) - sum(opening_paid, Decimal(0)) - sum(opening_claims, Decimal(0)))
    statement = Statement(supplier, start, end, supplier.currency, opening)
    statement.receipts = _receipt_values(supplier, start=start, end=end)
    orders = db.session.scalars(
        select(PurchaseOrder).where(
            PurchaseOrder.supplier_id == supplier.id,
            PurchaseOrder.state.not_in([PurchaseOrderState.draft, PurchaseOrderState.cancelled]),
            PurchaseOrder.ordered_on >= start, PurchaseOrder.ordered_on <= end)
        .order_by(PurchaseOrder.ordered_on, PurchaseOrder.id)).all()
    statement.orders = [StatementLine(po.ordered_on, "order", po.number, po.currency,
                                      po.state.value, round_amount(po.total), Decimal(0))
                        for po in orders]
    claims = db.session.execute(
        select(SupplierClaim, SupplierReturn.number)
        .outerjoin(SupplierReturn, SupplierReturn.id == SupplierClaim.return_id)
        .where(SupplierClaim.supplier_id == supplier.id, SupplierClaim.state != cancelled,
               SupplierClaim.raised_on >= start, SupplierClaim.raised_on <= end)
        .order_by(SupplierClaim.id)).all()
    statement.claims = [StatementLine(c.raised_on, "claim", c.number, number or "",
                                      c.state.value, c.amount, -c.amount) for c, number in claims]
    payments = db.session.scalars(
        select(SupplierPayment).where(SupplierPayment.supplier_id == supplier.id,
                                      SupplierPayment.paid_on >= start,
                                      SupplierPayment.paid_on <= end)
        .order_by(SupplierPayment.paid_on, SupplierPayment.id)).all()
    statement.payments = [StatementLine(
        p.paid_on, "payment", p.reference or f"#{p.id}",
        ", ".join(c.number for c in p.claims), None, p.deducted or None, -p.amount)
        for p in payments]
    return statement


@dataclass
class Account:
    """A supplier's account at a glance: what is owed today, and what is still open."""

    currency: str
    owed: Decimal | None  #: None when an exchange rate to value a receipt is missing
    open_claims: int
    open_claims_amount: Decimal
    draft_returns: int


def supplier_account(supplier: Supplier, today: date) -> Account:
    """Return the supplier's account on ``today`` (the statement's closing figure)."""
    from erp.core.errors import ValidationError

    try:
        owed = supplier_statement(supplier, today, today).owed
    except ValidationError:
        owed = None
    amounts = db.session.scalars(select(SupplierClaim.amount).where(
        SupplierClaim.supplier_id == supplier.id,
        SupplierClaim.state.in_([SupplierClaimState.open, SupplierClaimState.approved]))).all()
    drafts = db.session.scalar(select(func.count(SupplierReturn.id)).where(
        SupplierReturn.supplier_id == supplier.id,
        SupplierReturn.state == SupplierReturnState.draft)) or 0
    return Account(supplier.currency, owed, len(amounts), sum(amounts, Decimal(0)), drafts)
