"""Supplier, supplier item, purchase order, receipt models and the purchase-order state machine."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.i18n import _, _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.warehouse.models import Location, StockMove


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


class Supplier(db.Model):
    """A supplier the retailer buys from, in the supplier's currency."""

    __tablename__ = "supplier"
    __table_args__ = (CheckConstraint("lead_time_days >= 0", name="lead_time_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    address: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    payment_terms: Mapped[str | None] = mapped_column(String(120))
    lead_time_days: Mapped[int] = mapped_column(Integer, default=14)
    #: the language purchase orders are printed in ("en" or "zh_Hans_CN"; Chinese orders
    #: carry the English too)
    language: Mapped[str] = mapped_column(String(16), default="en", server_default="en")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    items: Mapped[list[SupplierItem]] = relationship(back_populates="supplier")

    def __repr__(self) -> str:
        return f"<Supplier {self.code}>"


class SupplierItem(db.Model):
    """A SKU as one supplier sells it: their code, price, minimum order and pack multiple."""

    __tablename__ = "supplier_item"
    __table_args__ = (
        UniqueConstraint("supplier_id", "sku_id"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        CheckConstraint("moq >= 1", name="moq_positive"),
        CheckConstraint("pack_multiple >= 1", name="pack_multiple_positive"),
        Index("ix_supplier_item_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    supplier_code: Mapped[str | None] = mapped_column(String(60))
    unit_price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    moq: Mapped[int] = mapped_column(Integer, default=1)
    pack_multiple: Mapped[int] = mapped_column(Integer, default=1)
    lead_time_days: Mapped[int | None] = mapped_column(Integer)
    preferred: Mapped[bool] = mapped_column(default=False)

    supplier: Mapped[Supplier] = relationship(back_populates="items")
    sku: Mapped[Sku] = relationship()


class PurchaseOrderState(StrEnum):
    """Lifecycle of a purchase order (DESIGN, "State machines")."""

    draft = "draft"
    awaiting_approval = "awaiting_approval"
    approved = "approved"
    ordered = "ordered"
    partially_received = "partially_received"
    received = "received"
    closed = "closed"
    cancelled = "cancelled"


S = PurchaseOrderState
PURCHASE_ORDER_STATES = StateMachine(
    PurchaseOrderState, initial=S.draft, noun=_l("purchase order"),
    transitions={
        (S.draft, S.awaiting_approval), (S.draft, S.approved),  # approved directly under threshold
        (S.awaiting_approval, S.approved), (S.awaiting_approval, S.draft),  # sent back
        (S.approved, S.ordered),
        (S.ordered, S.partially_received), (S.ordered, S.received),
        (S.partially_received, S.partially_received), (S.partially_received, S.received),
        (S.partially_received, S.ordered),  # a receipt reversed back to nothing received
        (S.received, S.partially_received),  # a receipt reversed
        (S.partially_received, S.closed), (S.received, S.closed),  # closed short / closed
        (S.draft, S.cancelled), (S.awaiting_approval, S.cancelled),
        (S.approved, S.cancelled), (S.ordered, S.cancelled),
    },
    colours={S.draft: "grey", S.awaiting_approval: "orange", S.approved: "blue",
             S.ordered: "purple", S.partially_received: "orange", S.received: "green",
             S.closed: "green", S.cancelled: "red"},
    labels={S.draft: _l("draft"), S.awaiting_approval: _l("awaiting approval"),
            S.approved: _l("approved"), S.ordered: _l("ordered"),
            S.partially_received: _l("partially received"), S.received: _l("received"),
            S.closed: _l("closed"), S.cancelled: _l("cancelled")},
    groups={"open": {S.draft, S.awaiting_approval, S.approved, S.ordered,
                     S.partially_received},
            "editable": {S.draft},
            "receivable": {S.ordered, S.partially_received},
            "incoming": {S.approved, S.ordered, S.partially_received}},
)


class PurchaseOrder(db.Model):
    """An order to one supplier in one currency; numbered when it leaves draft."""

    __tablename__ = "purchase_order"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(24), unique=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    state: Mapped[PurchaseOrderState] = mapped_column(_enum(PurchaseOrderState), default=S.draft,
                                                      index=True)
    currency: Mapped[str] = mapped_column(String(3))
    expected_date: Mapped[date | None] = mapped_column(Date)
    ordered_on: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    supplier: Mapped[Supplier] = relationship()
    lines: Mapped[list[PurchaseOrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="PurchaseOrderLine.id")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    receipts: Mapped[list[Receipt]] = relationship(back_populates="order",
                                                   order_by="Receipt.id")

    @property
    def reference(self) -> str:
        """Return the number, or ``draft #id`` before numbering."""
        return self.number or _("draft #%(id)s", id=self.id)

    @property
    def total(self) -> Decimal:
        """Return the order total in its currency (cancelled quantities excluded)."""
        return sum((line.amount for line in self.lines), Decimal(0))


class PurchaseOrderLine(db.Model):
    """A SKU ordered at a price; received and cancelled quantities never exceed it."""

    __tablename__ = "purchase_order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        CheckConstraint("received_qty >= 0", name="received_not_negative"),
        CheckConstraint("cancelled_qty >= 0", name="cancelled_not_negative"),
        Index("ix_purchase_order_line_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id", ondelete="CASCADE"),
                                          index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    supplier_code: Mapped[str | None] = mapped_column(String(60))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money())
    received_qty: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_qty: Mapped[int] = mapped_column(Integer, default=0)
    expected_date: Mapped[date | None] = mapped_column(Date)

    order: Mapped[PurchaseOrder] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()

    @property
    def remaining_qty(self) -> int:
        """Return what is still to be received."""
        return max(0, self.quantity - self.received_qty - self.cancelled_qty)

    @property
    def amount(self) -> Decimal:
        """Return the line amount in the order currency (cancelled quantity excluded)."""
        return (self.unit_price * (self.quantity - self.cancelled_qty)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP)  # DESIGN: amounts round half up


class ReceiptState(StrEnum):
    """A receipt is posted, or reversed by counter-moves."""

    posted = "posted"
    reversed = "reversed"


R = ReceiptState
RECEIPT_STATES = StateMachine(
    ReceiptState, initial=R.posted, noun=_l("receipt"), transitions={(R.posted, R.reversed)},
    labels={R.posted: _l("posted"), R.reversed: _l("reversed")},
    colours={R.posted: "green", R.reversed: "red"})


class Receipt(db.Model):
    """One delivery received against a purchase order, into one bin."""

    __tablename__ = "receipt"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("purchase_order.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    state: Mapped[ReceiptState] = mapped_column(_enum(ReceiptState), default=R.posted)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str | None] = mapped_column(String(500))
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    order: Mapped[PurchaseOrder] = relationship(back_populates="receipts")
    location: Mapped[Location] = relationship()
    received_by: Mapped[User | None] = relationship()
    lines: Mapped[list[ReceiptLine]] = relationship(back_populates="receipt",
                                                    cascade="all, delete-orphan",
                                                    order_by="ReceiptLine.id")


class ReceiptLine(db.Model):
    """A quantity of one order line received, at the line's cost converted to base currency."""

    __tablename__ = "receipt_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id", ondelete="CASCADE"),
                                            index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("purchase_order_line.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_cost_base: Mapped[Decimal] = mapped_column(Money())
    move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))

    receipt: Mapped[Receipt] = relationship(back_populates="lines")
    order_line: Mapped[PurchaseOrderLine] = relationship()
    sku: Mapped[Sku] = relationship()
    move: Mapped[StockMove | None] = relationship()


# returns to suppliers, claims and payments live in their own module; imported here so the
# metadata has them
from erp.procurement import return_models  # noqa: E402,F401
from erp.procurement.landed_cost_models import (  # noqa: E402,F401 - landed cost tables
    CHARGE_KIND_LABELS,
    LANDED_COST_STATES,
    SPLIT_METHOD_LABELS,
    ChargeKind,
    LandedCost,
    LandedCostAllocation,
    LandedCostCharge,
    LandedCostReceipt,
    LandedCostState,
    SplitMethod,
)
