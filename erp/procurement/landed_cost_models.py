"""Landed cost models: freight, duty and other charges spread over the lines of receipts.

Imported by :mod:`erp.procurement.models` (which re-exports the names), so the tables are
part of the procurement metadata.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, Rate, UtcDateTime
from erp.extensions import db
from erp.procurement.models import Receipt, ReceiptLine, _enum


class LandedCostState(StrEnum):
    """A landed cost is drafted, posted (stock revalued), and may be reversed."""

    draft = "draft"
    posted = "posted"
    reversed = "reversed"


class SplitMethod(StrEnum):
    """How the charges are spread over the receipt lines."""

    value = "value"        # line quantity x unit cost in the base currency
    weight = "weight"      # SKU weight (g) x quantity
    quantity = "quantity"  # units


class ChargeKind(StrEnum):
    """What a charge is for."""

    freight = "freight"
    duty = "duty"
    insurance = "insurance"
    other = "other"


L = LandedCostState
LANDED_COST_STATES = StateMachine(
    LandedCostState, initial=L.draft, noun=_l("landed cost"),
    transitions={(L.draft, L.posted), (L.posted, L.reversed)},
    labels={L.draft: _l("draft"), L.posted: _l("posted"), L.reversed: _l("reversed")},
    colours={L.draft: "grey", L.posted: "green", L.reversed: "red"},
    groups={"editable": {L.draft}})

SPLIT_METHOD_LABELS = {SplitMethod.value: _l("by value"), SplitMethod.weight: _l("by weight"),
                       SplitMethod.quantity: _l("by quantity")}
CHARGE_KIND_LABELS = {ChargeKind.freight: _l("freight"), ChargeKind.duty: _l("duty"),
                      ChargeKind.insurance: _l("insurance"), ChargeKind.other: _l("other")}


class LandedCost(db.Model):
    """Charges on one or more receipts, spread over their lines by a method.

    Posting converts the charges to the base currency at the rates of the posting date, stores
    the allocation per charge and receipt line (the shares of a charge sum to it exactly) and
    has the warehouse revalue the stock; ``total_base`` is then the sum of the charges.
    """

    __tablename__ = "landed_cost"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    state: Mapped[LandedCostState] = mapped_column(_enum(LandedCostState), default=L.draft,
                                                   index=True)
    method: Mapped[SplitMethod] = mapped_column(_enum(SplitMethod), default=SplitMethod.value)
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    posting_date: Mapped[date | None] = mapped_column(Date)
    total_base: Mapped[Decimal | None] = mapped_column(Money())
    posted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    posted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reversed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    reversed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reversal_reason: Mapped[str | None] = mapped_column(String(500))

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    posted_by: Mapped[User | None] = relationship(foreign_keys=[posted_by_id])
    reversed_by: Mapped[User | None] = relationship(foreign_keys=[reversed_by_id])
    charges: Mapped[list[LandedCostCharge]] = relationship(
        back_populates="landed_cost", cascade="all, delete-orphan",
        order_by="LandedCostCharge.id")
    receipt_links: Mapped[list[LandedCostReceipt]] = relationship(
        back_populates="landed_cost", cascade="all, delete-orphan",
        order_by="LandedCostReceipt.receipt_id")
    allocations: Mapped[list[LandedCostAllocation]] = relationship(
        back_populates="landed_cost", cascade="all, delete-orphan",
        order_by="LandedCostAllocation.id")

    @property
    def receipts(self) -> list[Receipt]:
        """Return the receipts the charges apply to, by id."""
        return [link.receipt for link in self.receipt_links]


class LandedCostCharge(db.Model):
    """One charge: an amount in a currency, for a kind of cost, maybe billed by someone."""

    __tablename__ = "landed_cost_charge"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    landed_cost_id: Mapped[int] = mapped_column(
        ForeignKey("landed_cost.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ChargeKind] = mapped_column(_enum(ChargeKind))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    vendor: Mapped[str | None] = mapped_column(String(120))
    #: base units per unit of ``currency`` on the posting date, and the amount converted
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    amount_base: Mapped[Decimal | None] = mapped_column(Money())

    landed_cost: Mapped[LandedCost] = relationship(back_populates="charges")


class LandedCostReceipt(db.Model):
    """A receipt a landed cost applies to."""

    __tablename__ = "landed_cost_receipt"

    landed_cost_id: Mapped[int] = mapped_column(
        ForeignKey("landed_cost.id", ondelete="CASCADE"), primary_key=True)
    receipt_id: Mapped[int] = mapped_column(ForeignKey("receipt.id"), primary_key=True,
                                            index=True)

    landed_cost: Mapped[LandedCost] = relationship(back_populates="receipt_links")
    receipt: Mapped[Receipt] = relationship()


class LandedCostAllocation(db.Model):
    """The share of one charge that one receipt line carries (base currency), set at posting."""

    __tablename__ = "landed_cost_allocation"
    __table_args__ = (Index("ix_landed_cost_allocation_line", "receipt_line_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    landed_cost_id: Mapped[int] = mapped_column(
        ForeignKey("landed_cost.id", ondelete="CASCADE"), index=True)
    charge_id: Mapped[int] = mapped_column(
        ForeignKey("landed_cost_charge.id", ondelete="CASCADE"))
    receipt_line_id: Mapped[int] = mapped_column(ForeignKey("receipt_line.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    basis: Mapped[Decimal] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())

    landed_cost: Mapped[LandedCost] = relationship(back_populates="allocations")
    charge: Mapped[LandedCostCharge] = relationship()
    receipt_line: Mapped[ReceiptLine] = relationship()
    sku: Mapped[Sku] = relationship()
