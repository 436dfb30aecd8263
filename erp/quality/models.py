"""Inspection lots at receiving, their plans per defect class, defects, photos and switching.

A lot is what one receipt line brought of a SKU whose specification version has an inspection
plan. Quality sits below procurement: it refers to the receipt line and the supplier by opaque
ids (``ref_type``/``ref_id`` and ``supplier_id``), as the stock ledger does, and never imports
procurement.
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
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from erp.brands.models import DefectClass, SpecificationVersion
from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import UtcDateTime
from erp.extensions import db
from erp.quality.sampling import Severity
from erp.warehouse.models import Location, Warehouse


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=20, validate_strings=True)


class InspectionState(StrEnum):
    """Where a lot stands: waiting for its inspection, decided, or released by concession."""

    pending = "pending"
    accepted = "accepted"
    rejected = "rejected"
    released = "released"
    cancelled = "cancelled"


I = InspectionState  # noqa: E741 - the enum's short name, as the other state tables use
INSPECTION_STATES = StateMachine(
    InspectionState, initial=I.pending, noun=_l("inspection lot"),
    transitions={(I.pending, I.accepted), (I.pending, I.rejected), (I.rejected, I.released),
                 (I.pending, I.cancelled)},
    labels={I.pending: _l("pending"), I.accepted: _l("accepted"), I.rejected: _l("rejected"),
            I.released: _l("released by concession"), I.cancelled: _l("cancelled")},
    colours={I.pending: "orange", I.accepted: "green", I.rejected: "red", I.released: "blue",
             I.cancelled: "grey"},
    groups={"decided": {I.accepted, I.rejected, I.released}, "open": {I.pending},
            "rejected": {I.rejected, I.released}},
)


SEVERITY_LABELS = {Severity.normal: _l("normal"), Severity.tightened: _l("tightened"),
                   Severity.reduced: _l("reduced")}


class Inspection(db.Model):
    """One lot inspected against a specification version's plan.

    ``lot_size`` units wait in ``hold_location`` until the decision. The record keeps what
    ISO 2859-1 asks for: the standard, the inspection level, and per defect class the AQL, the
    severity, the code letters looked up and used, n, Ac, Re and the count found
    (:class:`InspectionPlanLine`).
    """

    __tablename__ = "inspection"
    __table_args__ = (
        CheckConstraint("lot_size > 0", name="lot_size_positive"),
        CheckConstraint("sample_size >= 0", name="sample_size_not_negative"),
        CheckConstraint("scrapped_qty >= 0 AND scrapped_qty <= lot_size",
                        name="scrapped_within_lot"),
        Index("ix_inspection_ref", "ref_type", "ref_id"),
        Index("ix_inspection_state_opened", "state", "opened_at"),
        Index("ix_inspection_decided", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    state: Mapped[InspectionState] = mapped_column(_enum(InspectionState), default=I.pending)
    #: the receipt line the lot came in on, opaque (quality does not know procurement)
    ref_type: Mapped[str] = mapped_column(String(30))
    ref_id: Mapped[int] = mapped_column(Integer)
    #: what a person reads of the reference, e.g. "RCV-2026-000001 · PO-2026-000004"
    reference: Mapped[str | None] = mapped_column(String(80))
    #: the supplier, opaque (procurement's supplier id)
    supplier_id: Mapped[int | None] = mapped_column(Integer, index=True)
    supplier_name: Mapped[str | None] = mapped_column(String(200))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), index=True)
    spec_version_id: Mapped[int] = mapped_column(ForeignKey("specification_version.id"),
                                                 index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    #: where the lot waits for its decision (a quarantine-kind QC hold bin)
    hold_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    #: where accepted (or released) goods go: the bin the receipt was posted to
    release_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    #: where a rejected lot went
    quarantine_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    lot_size: Mapped[int] = mapped_column(Integer)
    #: the largest n of the classes: every class is judged on the same sample
    sample_size: Mapped[int] = mapped_column(Integer)
    standard: Mapped[str] = mapped_column(String(60))
    level: Mapped[str] = mapped_column(String(4))
    scrapped_qty: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    note: Mapped[str | None] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    release_reason: Mapped[str | None] = mapped_column(Text)

    sku: Mapped[Sku] = relationship()
    spec_version: Mapped[SpecificationVersion] = relationship()
    warehouse: Mapped[Warehouse] = relationship()
    hold_location: Mapped[Location] = relationship(foreign_keys=[hold_location_id])
    release_location: Mapped[Location] = relationship(foreign_keys=[release_location_id])
    quarantine_location: Mapped[Location | None] = relationship(
        foreign_keys=[quarantine_location_id])
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    released_by: Mapped[User | None] = relationship(foreign_keys=[released_by_id])
    plans: Mapped[list[InspectionPlanLine]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan",
        order_by="InspectionPlanLine.id")
    defects: Mapped[list[InspectionDefect]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan",
        order_by="(InspectionDefect.sequence, InspectionDefect.id)")
    photos: Mapped[list[InspectionPhoto]] = relationship(
        back_populates="inspection", cascade="all, delete-orphan", order_by="InspectionPhoto.id")

    @property
    def is_pending(self) -> bool:
        """Return whether the lot still waits for its decision."""
        return self.state == I.pending

    def plan_for(self, defect_class) -> InspectionPlanLine | None:
        """Return the plan line of ``defect_class``, if the lot has one."""
        return next((p for p in self.plans if p.defect_class == defect_class), None)

    def __repr__(self) -> str:
        return f"<Inspection {self.number}>"


class InspectionPlanLine(db.Model):
    """The sampling plan of one defect class for a lot, and what the sample showed.

    ``aql`` None is the "0" plan (Ac 0, Re 1). ``found`` and ``passed`` are set at the decision:
    the class passes when ``found <= ac``.
    """

    __tablename__ = "inspection_plan_line"
    __table_args__ = (
        UniqueConstraint("inspection_id", "defect_class"),
        CheckConstraint("n >= 0 AND ac >= 0 AND re > ac", name="plan_figures"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id", ondelete="CASCADE"),
                                               index=True)
    defect_class: Mapped[DefectClass] = mapped_column(_enum(DefectClass))
    aql: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    severity: Mapped[Severity] = mapped_column(_enum(Severity))
    code_letter: Mapped[str] = mapped_column(String(2))
    used_letter: Mapped[str] = mapped_column(String(2))
    table_n: Mapped[int] = mapped_column(Integer)
    n: Mapped[int] = mapped_column(Integer)
    ac: Mapped[int] = mapped_column(Integer)
    re: Mapped[int] = mapped_column(Integer)
    found: Mapped[int | None] = mapped_column(Integer)
    passed: Mapped[bool | None] = mapped_column()

    inspection: Mapped[Inspection] = relationship(back_populates="plans")


class InspectionDefect(db.Model):
    """The defects one check of the plan found in the sample (count, note, measurements)."""

    __tablename__ = "inspection_defect"
    __table_args__ = (
        UniqueConstraint("inspection_id", "check_id"),
        CheckConstraint("count >= 0", name="count_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id", ondelete="CASCADE"),
                                               index=True)
    check_id: Mapped[int | None] = mapped_column(
        ForeignKey("specification_check.id", ondelete="SET NULL"))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    #: the check as it read when the lot was opened (the version cannot change once approved,
    #: but a copy keeps the record whole)
    kind: Mapped[str] = mapped_column(String(20))
    defect_class: Mapped[DefectClass] = mapped_column(_enum(DefectClass))
    description: Mapped[str] = mapped_column(String(300))
    count: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(500))
    #: measured values, space separated, as entered (optional)
    measurements: Mapped[str | None] = mapped_column(String(500))
    recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    inspection: Mapped[Inspection] = relationship(back_populates="defects")
    recorded_by: Mapped[User | None] = relationship()


class InspectionPhoto(db.Model):
    """A photo of the lot or of a defect (uploaded image, size-limited)."""

    __tablename__ = "inspection_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    inspection_id: Mapped[int] = mapped_column(ForeignKey("inspection.id", ondelete="CASCADE"),
                                               index=True)
    defect_id: Mapped[int | None] = mapped_column(
        ForeignKey("inspection_defect.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    inspection: Mapped[Inspection] = relationship(back_populates="photos")


class SwitchingPolicy(db.Model):
    """A manager's switching choices for one supplier and specification.

    ``reduced_allowed`` is ISO 2859-1's "reduced inspection considered desirable by the
    responsible authority" (clause 9.3.3 d); without it a lot never goes to reduced.
    """

    __tablename__ = "inspection_policy"
    __table_args__ = (UniqueConstraint("supplier_id", "specification_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(Integer)
    specification_id: Mapped[int] = mapped_column(
        ForeignKey("specification.id", ondelete="CASCADE"), index=True)
    reduced_allowed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))


class SwitchingState(db.Model):
    """The switching state of one supplier, specification and defect class (ISO 2859-1 §9).

    ``recent`` holds the last original decisions, oldest first, ``1`` accepted and ``0``
    rejected. ``discontinued``: inspection is refused until a manager resumes it at tightened.
    """

    __tablename__ = "inspection_switching"
    __table_args__ = (UniqueConstraint("supplier_id", "specification_id", "defect_class"),
                      CheckConstraint("score >= 0", name="score_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    supplier_id: Mapped[int] = mapped_column(Integer)
    specification_id: Mapped[int] = mapped_column(
        ForeignKey("specification.id", ondelete="CASCADE"), index=True)
    defect_class: Mapped[DefectClass] = mapped_column(_enum(DefectClass))
    severity: Mapped[Severity] = mapped_column(_enum(Severity), default=Severity.normal)
    score: Mapped[int] = mapped_column(Integer, default=0)
    recent: Mapped[str] = mapped_column(String(20), default="")
    rejected_on_tightened: Mapped[int] = mapped_column(Integer, default=0)
    accepted_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    discontinued: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
