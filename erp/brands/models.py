"""Brand, trademark and purchasing-specification models, with the specification state machine."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import ScaledDecimal, UtcDateTime
from erp.extensions import db


class BrandKind(StrEnum):
    """Whether the retailer owns the brand or resells someone else's."""

    private = "private"
    third_party = "third_party"


#: what a person reads for each kind
BRAND_KIND_LABELS = {BrandKind.private: _l("Private brand"),
                     BrandKind.third_party: _l("Third-party brand")}


class Brand(db.Model):
    """A brand; ``code`` is unique and upper-case."""

    __tablename__ = "brand"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[BrandKind] = mapped_column(
        Enum(BrandKind, native_enum=False, length=20, validate_strings=True),
        default=BrandKind.private)
    owner_company: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    logo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    logo_mime: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    trademarks: Mapped[list[Trademark]] = relationship(
        back_populates="brand", cascade="all, delete-orphan", order_by="Trademark.country")
    specifications: Mapped[list[Specification]] = relationship(
        back_populates="brand", order_by="Specification.number")

    def __repr__(self) -> str:
        return f"<Brand {self.code}>"


class Trademark(db.Model):
    """A trademark registration of a brand in one country (ISO 3166-1 alpha-2)."""

    __tablename__ = "trademark"
    __table_args__ = (UniqueConstraint("brand_id", "country", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(40))
    country: Mapped[str] = mapped_column(String(2))
    registered_on: Mapped[date | None] = mapped_column(Date)
    classes: Mapped[str | None] = mapped_column(String(80))

    brand: Mapped[Brand] = relationship(back_populates="trademarks")


class SpecificationState(StrEnum):
    """Lifecycle of one specification version."""

    draft = "draft"
    approved = "approved"
    retired = "retired"


S = SpecificationState
SPECIFICATION_STATES = StateMachine(
    SpecificationState, initial=S.draft, noun=_l("specification version"),
    transitions={(S.draft, S.approved), (S.approved, S.retired)},
    colours={S.draft: "orange", S.approved: "green", S.retired: "grey"},
    labels={S.draft: _l("draft"), S.approved: _l("approved"), S.retired: _l("retired")},
    groups={"editable": {S.draft}, "usable": {S.approved}},
)


class Specification(db.Model):
    """A purchasing specification of a brand: a numbered family of versions."""

    __tablename__ = "specification"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brand.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    brand: Mapped[Brand] = relationship(back_populates="specifications")
    versions: Mapped[list[SpecificationVersion]] = relationship(
        back_populates="specification", order_by="SpecificationVersion.version",
        cascade="all, delete-orphan")

    @property
    def latest(self) -> SpecificationVersion:
        """Return the highest version."""
        return self.versions[-1]

    @property
    def current(self) -> SpecificationVersion | None:
        """Return the approved version in force, if any."""
        return next((v for v in self.versions if v.state == S.approved), None)


class SpecificationVersion(db.Model):
    """One version of a specification. Only a draft may change; an approved one is read-only."""

    __tablename__ = "specification_version"
    __table_args__ = (
        UniqueConstraint("specification_id", "version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    specification_id: Mapped[int] = mapped_column(
        ForeignKey("specification.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[SpecificationState] = mapped_column(
        Enum(SpecificationState, native_enum=False, length=20, validate_strings=True),
        default=S.draft)
    title: Mapped[str] = mapped_column(String(200))
    product_type: Mapped[str | None] = mapped_column(String(120))
    material: Mapped[str | None] = mapped_column(Text)
    composition: Mapped[str | None] = mapped_column(Text)
    dimensions: Mapped[str | None] = mapped_column(Text)
    tolerances: Mapped[str | None] = mapped_column(Text)
    packaging: Mapped[str | None] = mapped_column(Text)
    labelling: Mapped[str | None] = mapped_column(Text)
    care_label: Mapped[str | None] = mapped_column(Text)
    quality_standard: Mapped[str | None] = mapped_column(String(200))
    inspection_level: Mapped[str | None] = mapped_column(String(80))
    notes: Mapped[str | None] = mapped_column(Text)
    #: the inspection plan: ISO 2859-1 inspection level (S-1...S-4, I, II, III; None: no plan)
    #: and the AQL of each defect class (critical None: "0", nothing critical accepted)
    sampling_level: Mapped[str | None] = mapped_column(String(4))
    aql_critical: Mapped[Decimal | None] = mapped_column(ScaledDecimal(3))
    aql_major: Mapped[Decimal | None] = mapped_column(ScaledDecimal(3))
    aql_minor: Mapped[Decimal | None] = mapped_column(ScaledDecimal(3))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    specification: Mapped[Specification] = relationship(back_populates="versions")
    attachments: Mapped[list[SpecificationAttachment]] = relationship(
        back_populates="version", cascade="all, delete-orphan",
        order_by="SpecificationAttachment.id")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    approved_by: Mapped[User | None] = relationship(foreign_keys=[approved_by_id])
    checks: Mapped[list[SpecificationCheck]] = relationship(
        back_populates="version", cascade="all, delete-orphan",
        order_by="(SpecificationCheck.sequence, SpecificationCheck.id)")

    #: the fields a draft's editor changes, and a new version copies
    CONTENT_FIELDS = ("title", "product_type", "material", "composition", "dimensions",
                      "tolerances", "packaging", "labelling", "care_label", "quality_standard",
                      "inspection_level", "notes")
    #: the inspection plan's fields (edited with the checks; a new version copies them too)
    PLAN_FIELDS = ("sampling_level", "aql_critical", "aql_major", "aql_minor")

    @property
    def has_inspection_plan(self) -> bool:
        """Return whether goods made to this version are inspected at receiving.

        The version must be approved, name an inspection level and hold at least one check.
        """
        return (self.state == S.approved and self.sampling_level is not None
                and bool(self.checks))

    @property
    def label(self) -> str:
        """Return e.g. ``SPEC-2026-000001 v2``."""
        return f"{self.specification.number} v{self.version}"

    @property
    def is_editable(self) -> bool:
        """Return whether this version may still change (only drafts may)."""
        return self.state == S.draft


class CheckKind(StrEnum):
    """What a check of an inspection plan looks at."""

    measurement = "measurement"
    visual = "visual"
    functional = "functional"
    packaging = "packaging"
    labelling = "labelling"


CHECK_KIND_LABELS = {CheckKind.measurement: _l("measurement"), CheckKind.visual: _l("visual"),
                     CheckKind.functional: _l("functional"),
                     CheckKind.packaging: _l("packaging"), CheckKind.labelling: _l("labelling")}


class DefectClass(StrEnum):
    """How serious a nonconformity is (ISO 2859-1 classes; MIL-STD-105E names)."""

    critical = "critical"
    major = "major"
    minor = "minor"


DEFECT_CLASS_LABELS = {DefectClass.critical: _l("critical"), DefectClass.major: _l("major"),
                       DefectClass.minor: _l("minor")}


def _plain(number: Decimal) -> str:
    """Return a decimal without trailing zeros and never in exponent form."""
    return f"{number.normalize():f}"


class SpecificationCheck(db.Model):
    """One check of a version's inspection plan, and the class of defect it finds.

    A measurement passes when ``nominal - tolerance_minus <= value <= nominal + tolerance_plus``.
    """

    __tablename__ = "specification_check"
    __table_args__ = (
        CheckConstraint("sequence >= 0", name="sequence_not_negative"),
        CheckConstraint("tolerance_minus >= 0", name="tolerance_minus_not_negative"),
        CheckConstraint("tolerance_plus >= 0", name="tolerance_plus_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("specification_version.id", ondelete="CASCADE"), index=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[CheckKind] = mapped_column(
        Enum(CheckKind, native_enum=False, length=20, validate_strings=True))
    defect_class: Mapped[DefectClass] = mapped_column(
        Enum(DefectClass, native_enum=False, length=20, validate_strings=True))
    description: Mapped[str] = mapped_column(String(300))
    method: Mapped[str | None] = mapped_column(String(300))
    nominal: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))
    tolerance_minus: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))
    tolerance_plus: Mapped[Decimal | None] = mapped_column(ScaledDecimal(4))
    unit: Mapped[str | None] = mapped_column(String(16))

    version: Mapped[SpecificationVersion] = relationship(back_populates="checks")

    @property
    def low(self) -> Decimal | None:
        """Return the smallest accepted measurement, if the check is one."""
        if self.nominal is None:
            return None
        return self.nominal - (self.tolerance_minus or 0)

    @property
    def high(self) -> Decimal | None:
        """Return the largest accepted measurement, if the check is one."""
        if self.nominal is None:
            return None
        return self.nominal + (self.tolerance_plus or 0)

    @property
    def range_text(self) -> str | None:
        """Return the accepted range as people write it, e.g. ``198.5 – 202 cm``."""
        if self.low is None or self.high is None:
            return None
        return f"{_plain(self.low)} – {_plain(self.high)} {self.unit or ''}".strip()

    def passes(self, value: Decimal) -> bool:
        """Return whether a measured value lies within the tolerance (inclusive)."""
        low, high = self.low, self.high
        return low is not None and high is not None and low <= Decimal(value) <= high


class SpecificationAttachment(db.Model):
    """A file attached to a specification version (drawing, photo, test report)."""

    __tablename__ = "specification_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("specification_version.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    version: Mapped[SpecificationVersion] = relationship(back_populates="attachments")
