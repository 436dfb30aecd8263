"""After-sales models: cases (RMA), returned items, refunds and reason codes.

Cases have lines, notes and attachments; returned items are received and inspected.

A case concerns one shipped customer order. Returned goods enter the warehouse through the
ledger (customer -> returns location) and leave the returns location by grade: A to a storage
bin, B to quarantine, C to scrap, each a stock move with the opaque reference of the item.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.warehouse.models import Location, Warehouse


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


class ReasonCode(db.Model):
    """A reason a customer gives (wrong size, not as described, defective, lost...)."""

    __tablename__ = "reason_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(30), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)


class CaseType(StrEnum):
    """What the customer wants, or what went wrong."""

    return_refund = "return_refund"
    return_replacement = "return_replacement"
    refund_only = "refund_only"
    replacement_only = "replacement_only"
    lost_parcel = "lost_parcel"
    damaged = "damaged"
    wrong_item = "wrong_item"


#: what a person reads for each case type, in their language
CASE_TYPE_LABELS = {
    CaseType.return_refund: _l("Return refund"),
    CaseType.return_replacement: _l("Return replacement"),
    CaseType.refund_only: _l("Refund only"),
    CaseType.replacement_only: _l("Replacement only"),
    CaseType.lost_parcel: _l("Lost parcel"),
    CaseType.damaged: _l("Damaged"),
    CaseType.wrong_item: _l("Wrong item"),
}


#: case types whose goods come back to the warehouse
RETURN_TYPES = frozenset({CaseType.return_refund, CaseType.return_replacement,
                          CaseType.wrong_item})


class CaseState(StrEnum):
    """Lifecycle of an after-sales case (DESIGN, "State machines")."""

    open = "open"
    awaiting_return = "awaiting_return"
    received = "received"
    inspected = "inspected"
    resolved = "resolved"
    closed = "closed"
    rejected = "rejected"


C = CaseState
CASE_STATES = StateMachine(
    CaseState, initial=C.open, noun=_l("after-sales case"),
    transitions={
        (C.open, C.awaiting_return), (C.awaiting_return, C.received),
        (C.received, C.inspected), (C.inspected, C.resolved), (C.resolved, C.closed),
        (C.open, C.resolved),  # refund or replacement without a return
        (C.open, C.rejected), (C.awaiting_return, C.rejected),
        (C.rejected, C.closed),
    },
    colours={C.open: "blue", C.awaiting_return: "orange", C.received: "purple",
             C.inspected: "purple", C.resolved: "green", C.closed: "grey", C.rejected: "red"},
    groups={"active": {C.open, C.awaiting_return, C.received, C.inspected},
            "finished": {C.resolved, C.closed, C.rejected}},
    labels={C.open: _l("open"), C.awaiting_return: _l("awaiting return"),
           C.received: _l("received"), C.inspected: _l("inspected"),
           C.resolved: _l("resolved"), C.closed: _l("closed"), C.rejected: _l("rejected")},
)


class AfterSalesCase(db.Model):
    """A customer's return, refund, replacement or carrier claim about one shipped order."""

    __tablename__ = "aftersales_case"
    __table_args__ = (Index("ix_aftersales_case_state_due", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)  # RMA-2026-000001
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcel.id"))  # lost / damaged
    case_type: Mapped[CaseType] = mapped_column(_enum(CaseType))
    reason_id: Mapped[int] = mapped_column(ForeignKey("reason_code.id"))
    state: Mapped[CaseState] = mapped_column(_enum(CaseState), default=C.open, index=True)
    contact_name: Mapped[str] = mapped_column(String(120))
    contact_email: Mapped[str | None] = mapped_column(String(254), index=True)
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    assigned_to_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    due_at: Mapped[datetime] = mapped_column(UtcDateTime())
    return_tracking: Mapped[str | None] = mapped_column(String(40), index=True)  # their return
    #: the warehouse the goods come back to (None: the first with a returns bin)
    return_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"))
    window_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    window_override_note: Mapped[str | None] = mapped_column(String(200))
    replacement_order_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id"))
    resolution: Mapped[str | None] = mapped_column(String(500))
    rejection_reason: Mapped[str | None] = mapped_column(String(200))
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    order: Mapped[CustomerOrder] = relationship(foreign_keys=[order_id])
    replacement_order: Mapped[CustomerOrder | None] = relationship(
        foreign_keys=[replacement_order_id])
    reason: Mapped[ReasonCode] = relationship()
    return_warehouse: Mapped[Warehouse | None] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    window_override_by: Mapped[User | None] = relationship(foreign_keys=[window_override_by_id])
    lines: Mapped[list[CaseLine]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseLine.id")
    notes: Mapped[list[CaseNote]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseNote.id")
    attachments: Mapped[list[CaseAttachment]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseAttachment.id")
    items: Mapped[list[ReturnItem]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="ReturnItem.id")
    refunds: Mapped[list[Refund]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Refund.id")

    @property
    def expects_return(self) -> bool:
        """Return whether the goods come back to the warehouse."""
        return self.case_type in RETURN_TYPES


class CaseLine(db.Model):
    """A quantity of one shipped order line that the case concerns."""

    __tablename__ = "case_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"),
                                         index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_line.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)

    case: Mapped[AfterSalesCase] = relationship(back_populates="lines")
    order_line: Mapped[CustomerOrderLine] = relationship()
    sku: Mapped[Sku] = relationship()


class NoteVisibility(StrEnum):
    """Who a case note is for."""

    internal = "internal"
    customer = "customer"


class CaseNote(db.Model):
    """An entry of the case's timeline."""

    __tablename__ = "case_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"),
                                         index=True)
    visibility: Mapped[NoteVisibility] = mapped_column(_enum(NoteVisibility),
                                                       default=NoteVisibility.internal)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    case: Mapped[AfterSalesCase] = relationship(back_populates="notes")
    author: Mapped[User | None] = relationship()


class CaseAttachment(db.Model):
    """A photo or document attached to a case (e.g. a picture of the damage)."""

    __tablename__ = "case_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"),
                                         index=True)
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    case: Mapped[AfterSalesCase] = relationship(back_populates="attachments")


class Grade(StrEnum):
    """Inspection grade of returned units: A restock, B quarantine, C scrap."""

    A = "A"
    B = "B"
    C = "C"


class ReturnItem(db.Model):
    """Units received back for a case: expected (a case line) or unexpected (recorded as found).

    ``grade`` is empty until inspected; ``location_id`` is where the units went then.
    """

    __tablename__ = "return_item"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"),
                                         index=True)
    case_line_id: Mapped[int | None] = mapped_column(ForeignKey("case_line.id"))
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("sku.id"))
    description: Mapped[str | None] = mapped_column(String(200))  # for an unknown item
    quantity: Mapped[int] = mapped_column(Integer)
    unexpected: Mapped[bool] = mapped_column(default=False)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    grade: Mapped[Grade | None] = mapped_column(_enum(Grade))
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    inspected_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    inspected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    inspection_note: Mapped[str | None] = mapped_column(String(200))

    case: Mapped[AfterSalesCase] = relationship(back_populates="items")
    case_line: Mapped[CaseLine | None] = relationship()
    sku: Mapped[Sku | None] = relationship()
    location: Mapped[Location | None] = relationship()


class RefundKind(StrEnum):
    """A refund after a return or without one; "keep it" when return postage costs more."""

    refund = "refund"
    keep_it = "keep_it"
    #: part of a made-to-measure line refunded because it does not fit and is altered locally
    alteration = "alteration"


#: what a person reads for each refund kind, in their language
REFUND_KIND_LABELS = {RefundKind.refund: _l("Refund"),
                      RefundKind.keep_it: _l("Keep it (no return)"),
                      RefundKind.alteration: _l("Alteration refund (made to measure)")}


class RefundState(StrEnum):
    """A refund above the threshold waits for a manager."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


R = RefundState
REFUND_STATES = StateMachine(
    RefundState, initial=R.pending, noun=_l("refund"),
    transitions={(R.pending, R.approved), (R.pending, R.rejected)},
    colours={R.pending: "orange", R.approved: "green", R.rejected: "red"},
    labels={R.pending: _l("pending"), R.approved: _l("approved"), R.rejected: _l("rejected")},
)


class Refund(db.Model):
    """Money owed back to the customer; paid outside the ERP, exported for finance."""

    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("aftersales_case.id", ondelete="CASCADE"),
                                         index=True)
    kind: Mapped[RefundKind] = mapped_column(_enum(RefundKind), default=RefundKind.refund)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    state: Mapped[RefundState] = mapped_column(_enum(RefundState), default=R.pending,
                                               index=True)
    over_value_override: Mapped[bool] = mapped_column(default=False)
    note: Mapped[str | None] = mapped_column(String(500))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    exported_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    case: Mapped[AfterSalesCase] = relationship(back_populates="refunds")
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
