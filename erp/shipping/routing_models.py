"""Shipping rules: versions of ordered rules that choose an order's service, and their decisions.

A :class:`RuleVersion` is edited while ``draft``, then activated (or discarded); at most one
version is ``active`` (a partial unique index holds it even against two activations at once).
Activating another retires it, and rolling back reactivates the version retired last.

Each :class:`Rule` has conditions (all those set must hold) and the services it allows
(:class:`RuleService`, in order); routing (:mod:`erp.shipping.services.routing`) takes the first
rule whose conditions hold and which has a service able to carry the parcel, and among those
services the cheapest by the rate tables. A :class:`RoutingDecision` is kept per order and stage
(allocation, packing) with why every other service was rejected.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.orders.models import ServiceClass
from erp.shipping.models import ShippingService


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


class RuleVersionState(StrEnum):
    """Lifecycle of a version of the shipping rules."""

    draft = "draft"
    active = "active"
    retired = "retired"
    discarded = "discarded"


V = RuleVersionState
RULE_VERSION_STATES = StateMachine(
    RuleVersionState, initial=V.draft, noun=_l("shipping rule version"),
    labels={V.draft: _l("draft"), V.active: _l("active"), V.retired: _l("retired"),
            V.discarded: _l("discarded")},
    transitions={(V.draft, V.active), (V.active, V.retired),
                 (V.retired, V.active),  # roll back: the version retired last is active again
                 # a draft given up, or a retired version no roll back may return to; kept
                 (V.draft, V.discarded), (V.retired, V.discarded)},
    colours={V.draft: "grey", V.active: "green", V.retired: "blue", V.discarded: "grey"},
    groups={"editable": {V.draft}},
)


class RuleVersion(db.Model):
    """A numbered set of shipping rules; at most one is active (partial unique index)."""

    __tablename__ = "rule_version"
    __table_args__ = (
        Index("uq_rule_version_one_active", "state", unique=True,
              sqlite_where=text("state = 'active'"), postgresql_where=text("state = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    state: Mapped[RuleVersionState] = mapped_column(_enum(RuleVersionState), default=V.draft)
    note: Mapped[str | None] = mapped_column(String(200))
    copied_from_id: Mapped[int | None] = mapped_column(ForeignKey("rule_version.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    activated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    activated_by: Mapped[User | None] = relationship(foreign_keys=[activated_by_id])
    rules: Mapped[list[Rule]] = relationship(
        back_populates="version", cascade="all, delete-orphan", order_by="Rule.position")

    @property
    def code(self) -> str:
        """Return what the screens and messages call the version ("v3")."""
        return f"v{self.number}"


class Rule(db.Model):
    """One shipping rule: conditions (those left empty always hold) and its allowed services.

    Lists are stored comma-separated: ``countries`` (ISO codes), ``regions`` (as the order
    writes them, compared case-insensitively), ``postcode_prefixes``, ``goods_required`` and
    ``goods_excluded`` (goods attributes, :class:`~erp.shipping.models.GoodsAttribute`),
    ``sku_codes`` and ``brand_codes`` (an order matches when one of its SKUs does). Weights are
    the goods' grams (catalog at allocation, weighed at packing); values are the order's goods
    in ``value_currency`` (converted at the day's rate when the order is in another currency).
    """

    __tablename__ = "routing_rule"
    __table_args__ = (
        CheckConstraint("min_weight_g IS NULL OR min_weight_g >= 0", name="min_weight_ok"),
        CheckConstraint("max_weight_g IS NULL OR max_weight_g >= 0", name="max_weight_ok"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("rule_version.id", ondelete="CASCADE"),
                                            index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(120))
    countries: Mapped[str | None] = mapped_column(Text)
    regions: Mapped[str | None] = mapped_column(Text)
    postcode_prefixes: Mapped[str | None] = mapped_column(Text)
    min_weight_g: Mapped[int | None] = mapped_column(Integer)
    max_weight_g: Mapped[int | None] = mapped_column(Integer)
    min_value: Mapped[Decimal | None] = mapped_column(Money())
    max_value: Mapped[Decimal | None] = mapped_column(Money())
    value_currency: Mapped[str | None] = mapped_column(String(3))
    goods_required: Mapped[str | None] = mapped_column(String(200))
    goods_excluded: Mapped[str | None] = mapped_column(String(200))
    service_class: Mapped[ServiceClass | None] = mapped_column(_enum(ServiceClass))
    sku_codes: Mapped[str | None] = mapped_column(Text)
    brand_codes: Mapped[str | None] = mapped_column(String(200))

    version: Mapped[RuleVersion] = relationship(back_populates="rules")
    services: Mapped[list[RuleService]] = relationship(
        back_populates="rule", cascade="all, delete-orphan", order_by="RuleService.position")


class RuleService(db.Model):
    """A service a rule allows; with several, the cheapest that can carry the parcel is chosen."""

    __tablename__ = "routing_rule_service"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("routing_rule.id", ondelete="CASCADE"),
                                         index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_service.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)

    rule: Mapped[Rule] = relationship(back_populates="services")
    service: Mapped[ShippingService] = relationship()


class RoutingStage(StrEnum):
    """When routing chose: at allocation (catalog weight) or at packing (weighed, boxed)."""

    allocation = "allocation"
    packing = "packing"


ROUTING_STAGE_LABELS = {RoutingStage.allocation: _l("allocation"),
                        RoutingStage.packing: _l("packing")}


class RoutingDecision(db.Model):
    """What routing chose for an order at one stage, and why (``explanation``, JSON).

    ``service_id`` is None when no service of the rules can carry the order; ``rule_id`` is None
    when no rule matched (the order keeps the storefront's service, ``previous_service``).
    The explanation lists each service considered with its outcome (chosen, dearer, not served,
    too heavy, goods refused, not from this warehouse, no rate, ...).
    """

    __tablename__ = "routing_decision"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"),
                                          index=True)
    # No foreign keys on the version, rule and service: a decision is a record written 10,000
    # at a time (the ``routing`` benchmark), and PostgreSQL checks each key row by row. The ids
    # come from the rule set just read, and versions, their rules and services are never
    # deleted (a draft is discarded, not deleted, and has no decisions).
    version_id: Mapped[int | None] = mapped_column(Integer)
    rule_id: Mapped[int | None] = mapped_column(Integer)
    service_id: Mapped[int | None] = mapped_column(Integer)
    previous_service: Mapped[str | None] = mapped_column(String(40))
    stage: Mapped[RoutingStage] = mapped_column(_enum(RoutingStage))
    weight_g: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal | None] = mapped_column(Money())
    currency: Mapped[str | None] = mapped_column(String(3))
    explanation: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    version: Mapped[RuleVersion | None] = relationship(
        primaryjoin="foreign(RoutingDecision.version_id) == RuleVersion.id", viewonly=True)
    rule: Mapped[Rule | None] = relationship(
        primaryjoin="foreign(RoutingDecision.rule_id) == Rule.id", viewonly=True)
    service: Mapped[ShippingService | None] = relationship(
        primaryjoin="foreign(RoutingDecision.service_id) == ShippingService.id", viewonly=True)
