"""Returns to suppliers, the claims (debit notes) they raise, and supplier payments.

A supplier return takes goods out of the warehouse by stock moves to the virtual supplier
location when it is shipped; shipping raises one claim for the return's claim amount on the
supplier's account. A claim is deducted from a supplier payment (and is then settled).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.procurement.models import Supplier
from erp.warehouse.models import Location, StockMove


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


class SupplierReturnState(StrEnum):
    """Lifecycle of a supplier return."""

    draft = "draft"
    shipped = "shipped"
    closed = "closed"
    cancelled = "cancelled"


SR = SupplierReturnState
SUPPLIER_RETURN_STATES = StateMachine(
    SupplierReturnState, initial=SR.draft, noun=_l("supplier return"),
    transitions={(SR.draft, SR.shipped), (SR.shipped, SR.closed), (SR.draft, SR.cancelled)},
    colours={SR.draft: "grey", SR.shipped: "blue", SR.closed: "green", SR.cancelled: "red"},
    labels={SR.draft: _l("draft"), SR.shipped: _l("shipped"), SR.closed: _l("closed"),
            SR.cancelled: _l("cancelled")},
    groups={"editable": {SR.draft}, "open": {SR.draft, SR.shipped}},
)


class SupplierReturn(db.Model):
    """Goods going back to one supplier; its amounts are in the supplier's currency."""

    __tablename__ = "supplier_return"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # SR-2026-000001
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    state: Mapped[SupplierReturnState] = mapped_column(_enum(SupplierReturnState),
                                                       default=SR.draft, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    supplier: Mapped[Supplier] = relationship()
    created_by: Mapped[User | None] = relationship()
    lines: Mapped[list[SupplierReturnLine]] = relationship(
        back_populates="supplier_return", cascade="all, delete-orphan",
        order_by="SupplierReturnLine.id")

    @property
    def claim_amount(self) -> Decimal:
        """Return the sum of the lines' claim amounts, in the return's currency."""
        return sum((line.amount for line in self.lines), Decimal(0))

    @property
    def quantity(self) -> int:
        """Return the units on the return."""
        return sum(line.quantity for line in self.lines)


class SupplierReturnLine(db.Model):
    """A quantity of one SKU taken from one bin, claimed at a unit price, with its source.

    ``ref_type``/``ref_id`` name where the goods come from: ``inspection`` (a rejected lot),
    ``quarantine`` (quarantine stock, the bin's id) or ``return_item`` (a customer return).
    """

    __tablename__ = "supplier_return_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        Index("ix_supplier_return_line_ref", "ref_type", "ref_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    return_id: Mapped[int] = mapped_column(
        ForeignKey("supplier_return.id", ondelete="CASCADE"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str | None] = mapped_column(String(200))
    ref_type: Mapped[str | None] = mapped_column(String(30))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    #: the moving-average cost (base currency) the goods left at, set when shipped
    unit_cost_base: Mapped[Decimal | None] = mapped_column(Money())
    move_id: Mapped[int | None] = mapped_column(ForeignKey("stock_move.id"))

    supplier_return: Mapped[SupplierReturn] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()
    location: Mapped[Location] = relationship()
    move: Mapped[StockMove | None] = relationship()

    @property
    def amount(self) -> Decimal:
        """Return the claim amount of the line, rounded half up to cents."""
        return (self.unit_price * self.quantity).quantize(Decimal("0.01"),
                                                          rounding=ROUND_HALF_UP)


class SupplierClaimState(StrEnum):
    """A claim is open, approved by a manager, settled by a payment, or cancelled."""

    open = "open"
    approved = "approved"
    settled = "settled"
    cancelled = "cancelled"


CS = SupplierClaimState
SUPPLIER_CLAIM_STATES = StateMachine(
    SupplierClaimState, initial=CS.open, noun=_l("claim"),
    transitions={(CS.open, CS.approved), (CS.approved, CS.settled), (CS.open, CS.cancelled),
                 (CS.approved, CS.cancelled)},
    colours={CS.open: "orange", CS.approved: "blue", CS.settled: "green", CS.cancelled: "red"},
    labels={CS.open: _l("open"), CS.approved: _l("approved"), CS.settled: _l("settled"),
            CS.cancelled: _l("cancelled")},
    groups={"outstanding": {CS.open, CS.approved}, "deductible": {CS.approved}},
)


class SupplierClaim(db.Model):
    """A debit note: what the supplier owes back for a shipped return, in its currency."""

    __tablename__ = "supplier_claim"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # DN-2026-000001
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    return_id: Mapped[int | None] = mapped_column(ForeignKey("supplier_return.id"),
                                                  unique=True)
    state: Mapped[SupplierClaimState] = mapped_column(_enum(SupplierClaimState),
                                                      default=CS.open, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money())
    raised_on: Mapped[date] = mapped_column(Date)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("supplier_payment.id"),
                                                   index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    note: Mapped[str | None] = mapped_column(String(500))

    supplier: Mapped[Supplier] = relationship()
    supplier_return: Mapped[SupplierReturn | None] = relationship()
    payment: Mapped[SupplierPayment | None] = relationship(back_populates="claims")


class SupplierPayment(db.Model):
    """Money paid to a supplier; the claims deducted from it are settled by it.

    ``amount`` is what was paid; the claims it deducted count as paid too.
    """

    __tablename__ = "supplier_payment"
    __table_args__ = (CheckConstraint("amount >= 0", name="amount_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    paid_on: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money())
    reference: Mapped[str | None] = mapped_column(String(60))
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    supplier: Mapped[Supplier] = relationship()
    claims: Mapped[list[SupplierClaim]] = relationship(back_populates="payment",
                                                       order_by="SupplierClaim.id")

    @property
    def deducted(self) -> Decimal:
        """Return the total of the claims deducted from this payment."""
        return sum((c.amount for c in self.claims), Decimal(0))
