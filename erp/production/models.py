"""Made-to-order products' maker and measurement template, and production orders."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
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
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.brands.models import SpecificationVersion
from erp.catalog.models import Product, Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, ScaledDecimal, UtcDateTime
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.procurement.models import Supplier


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=20, validate_strings=True)


class MtoProduct(db.Model):
    """How a made-to-order product (``product.made_to_order``) is made: by whom, how fast.

    ``sizes`` lists the standard sizes a line may choose (space-separated, e.g. ``XS S M L``);
    ``made_to_measure`` allows a line to carry measurements instead, validated against the
    product's :class:`MeasurementField` rows.
    """

    __tablename__ = "mto_product"
    __table_args__ = (CheckConstraint("production_days > 0", name="production_days_positive"),)

    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    maker_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    #: the maker's production time in business days (Monday to Friday)
    production_days: Mapped[int] = mapped_column(Integer, default=12)
    sizes: Mapped[str | None] = mapped_column(String(300))
    made_to_measure: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    product: Mapped[Product] = relationship()
    maker: Mapped[Supplier] = relationship()
    fields: Mapped[list[MeasurementField]] = relationship(
        primaryjoin="MtoProduct.product_id == foreign(MeasurementField.product_id)",
        order_by="MeasurementField.position", viewonly=True)


class MeasurementField(db.Model):
    """One measurement of a product's template: its code, unit and allowed range."""

    __tablename__ = "measurement_field"
    __table_args__ = (
        UniqueConstraint("product_id", "code"),
        CheckConstraint("min_value IS NULL OR max_value IS NULL OR min_value <= max_value",
                        name="range_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    code: Mapped[str] = mapped_column(String(30))        # e.g. chest_cm: the API's key
    label: Mapped[str] = mapped_column(String(100))      # e.g. Chest
    label_zh: Mapped[str | None] = mapped_column(String(100))  # for the maker's PDF
    unit: Mapped[str] = mapped_column(String(10), default="cm")
    min_value: Mapped[Decimal | None] = mapped_column(ScaledDecimal(2))
    max_value: Mapped[Decimal | None] = mapped_column(ScaledDecimal(2))
    required: Mapped[bool] = mapped_column(default=True, server_default=sa_true())


class ProductionState(StrEnum):
    """Lifecycle of a production order."""

    ordered = "ordered"
    in_production = "in_production"
    finished = "finished"
    shipped = "shipped"        # shipped by the maker to the warehouse
    received = "received"      # received (and inspected) at the warehouse, reserved to its line
    cancelled = "cancelled"


PS = ProductionState
PRODUCTION_STATES = StateMachine(
    ProductionState, initial=PS.ordered, noun=_l("production order"),
    labels={PS.ordered: _l("ordered"), PS.in_production: _l("in production"),
            PS.finished: _l("finished"), PS.shipped: _l("shipped to warehouse"),
            PS.received: _l("received"), PS.cancelled: _l("cancelled")},
    transitions={(PS.ordered, PS.in_production), (PS.in_production, PS.finished),
                 (PS.finished, PS.shipped), (PS.shipped, PS.received),
                 (PS.ordered, PS.cancelled), (PS.in_production, PS.cancelled),
                 (PS.finished, PS.cancelled), (PS.shipped, PS.cancelled)},
    colours={PS.ordered: "blue", PS.in_production: "purple", PS.finished: "orange",
             PS.shipped: "orange", PS.received: "green", PS.cancelled: "grey"},
    groups={"open": {PS.ordered, PS.in_production, PS.finished, PS.shipped},
            "started": {PS.in_production, PS.finished, PS.shipped, PS.received}},
)


class ProductionOrder(db.Model):
    """An order to the contract maker to make one made-to-order line, after payment."""

    __tablename__ = "production_order"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("received_qty >= 0 AND received_qty <= quantity",
                        name="received_within_quantity"),
        CheckConstraint("cancel_fee IS NULL OR cancel_fee >= 0", name="fee_not_negative"),
        Index("ix_production_order_state_due", "state", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_line.id"),
                                               unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    maker_id: Mapped[int] = mapped_column(ForeignKey("supplier.id"), index=True)
    spec_version_id: Mapped[int | None] = mapped_column(ForeignKey("specification_version.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    mto_size: Mapped[str | None] = mapped_column(String(30))
    measurements: Mapped[str | None] = mapped_column(Text)   # JSON, as on the order line
    state: Mapped[ProductionState] = mapped_column(_enum(ProductionState), default=PS.ordered,
                                                   index=True)
    due_date: Mapped[date] = mapped_column(Date)
    ordered_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_qty: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    #: what cancelling after production started costs (None: cancelled free, or not cancelled)
    cancel_fee: Mapped[Decimal | None] = mapped_column(Money())
    fee_currency: Mapped[str | None] = mapped_column(String(3))
    note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    order_line: Mapped[CustomerOrderLine] = relationship()
    order: Mapped[CustomerOrder] = relationship()
    product: Mapped[Product] = relationship()
    sku: Mapped[Sku] = relationship()
    maker: Mapped[Supplier] = relationship()
    spec_version: Mapped[SpecificationVersion | None] = relationship()
    created_by: Mapped[User | None] = relationship()
