"""Customer order, order line and API token models, with the customer-order state machine."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.warehouse.models import Warehouse


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


class ApiToken(db.Model):
    """A token the storefront uses for the order API; only its SHA-256 hash is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    created_by: Mapped[User | None] = relationship()

    @property
    def active(self) -> bool:
        """Return whether the token is still accepted."""
        return self.revoked_at is None


class OrderState(StrEnum):
    """Lifecycle of a customer order (DESIGN, "State machines")."""

    new = "new"
    allocated = "allocated"
    backordered = "backordered"
    picking = "picking"
    packed = "packed"
    shipped = "shipped"
    delivered = "delivered"
    on_hold = "on_hold"
    cancelled = "cancelled"


O = OrderState  # noqa: E741 - reads like the other machines' one-letter aliases
BEFORE_SHIPPING = {O.new, O.allocated, O.backordered, O.picking, O.packed}
ORDER_STATES = StateMachine(
    OrderState, initial=O.new, noun=_l("order"),
    transitions={
        (O.new, O.allocated), (O.new, O.backordered),
        (O.backordered, O.allocated), (O.backordered, O.backordered),
        (O.allocated, O.backordered),  # a short pick sends the order back to allocation
        (O.allocated, O.picking), (O.picking, O.packed), (O.picking, O.backordered),
        (O.packed, O.shipped), (O.shipped, O.delivered),
        (O.packed, O.picking),  # a voided parcel's goods go back to be packed again
        *{(s, O.on_hold) for s in BEFORE_SHIPPING},
        (O.on_hold, O.new),  # a release sends the order back to allocation
        # ... or, when goods were picked before the hold, back to where they are: allocation
        # of the rest, the packing bench, or packed
        (O.on_hold, O.backordered), (O.on_hold, O.picking), (O.on_hold, O.packed),
        # a split releases the order's reservations and allocates it again at once
        # (erp.orders.services.splitting)
        (O.allocated, O.new), (O.backordered, O.new),
        *{(s, O.cancelled) for s in BEFORE_SHIPPING | {O.on_hold}},
    },
    colours={O.new: "blue", O.allocated: "purple", O.backordered: "orange", O.picking: "purple",
             O.packed: "purple", O.shipped: "green", O.delivered: "green", O.on_hold: "red",
             O.cancelled: "grey"},
    labels={O.new: _l("new"), O.allocated: _l("allocated"), O.backordered: _l("backordered"),
            O.picking: _l("picking"), O.packed: _l("packed"), O.shipped: _l("shipped"),
            O.delivered: _l("delivered"), O.on_hold: _l("on hold"), O.cancelled: _l("cancelled")},
    groups={"open": BEFORE_SHIPPING | {O.on_hold}, "allocatable": {O.new, O.backordered},
            # nothing picked yet: lines may move to another order (split, merge)
            "splittable": {O.new, O.allocated, O.backordered},
            # a packed order's labels are voided by the change (erp.orders.hooks)
            "address_editable": BEFORE_SHIPPING | {O.on_hold}},
)


class ServiceClass(StrEnum):
    """The class of shipping the buyer chose on the storefront; shipping rules read it."""

    economy = "economy"
    standard = "standard"
    express = "express"


#: what a person reads for each service class
SERVICE_CLASS_LABELS = {ServiceClass.economy: _l("economy"), ServiceClass.standard: _l("standard"),
                        ServiceClass.express: _l("express")}


class CustomerOrder(db.Model):
    """An order placed on the storefront; ``number`` is the storefront's and unique."""

    __tablename__ = "customer_order"
    __table_args__ = (
        CheckConstraint("shipping_charge >= 0", name="shipping_charge_not_negative"),
        Index("ix_customer_order_state_priority", "state", "priority", "placed_at"),
        Index("ix_customer_order_email", "email"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    channel: Mapped[str] = mapped_column(String(40), default="webshop")
    placed_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    state: Mapped[OrderState] = mapped_column(_enum(OrderState), default=O.new)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher goes first
    customer_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(40))
    ship_name: Mapped[str] = mapped_column(String(120))
    address1: Mapped[str] = mapped_column(String(200))
    address2: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str] = mapped_column(String(2), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    shipping_charge: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    shipping_service: Mapped[str | None] = mapped_column(String(40))
    #: the storefront's requested class of shipping (None: not given, read as standard)
    service_class: Mapped[ServiceClass | None] = mapped_column(_enum(ServiceClass))
    #: the warehouse the order ships from, chosen at allocation (None: not yet chosen)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"), index=True)
    #: the storefront's order this one was split from (``W1001-2`` from ``W1001``)
    split_from_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id"),
                                                      index=True)
    #: the order this one ships with, in one parcel (a merge group: same buyer, address and
    #: service); None for an order shipping on its own or heading a group
    #: (erp.orders.services.merging)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id"),
                                                       index=True)
    ioss_number: Mapped[str | None] = mapped_column(String(20))
    #: how the buyer paid: the storefront's short code (card, paypal, alipay...); the
    #: ``payment_fees`` setting prices it (erp.orders.payments)
    payment_method: Mapped[str | None] = mapped_column(String(20))
    buyer_tax_id: Mapped[str | None] = mapped_column(String(40))
    #: the customs trade mode the order is exported under from China ("9610": B2C retail
    #: export; None: not declared as cross-border e-commerce)
    trade_mode: Mapped[str | None] = mapped_column(String(4))
    #: the payment, as the storefront reports it (required under 9610: the receipt, CEB403)
    payment_provider: Mapped[str | None] = mapped_column(String(100))
    payment_transaction: Mapped[str | None] = mapped_column(String(60))
    payment_amount: Mapped[Decimal | None] = mapped_column(Money())
    payment_currency: Mapped[str | None] = mapped_column(String(3))
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    notes: Mapped[str | None] = mapped_column(Text)
    hold_reason: Mapped[str | None] = mapped_column(String(200))
    cancel_reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: any change of the order's own row (state, address, hold): the storefront's
    #: ``GET /api/v1/orders?updated_since=`` reads it
    #: (nullable only because SQLite cannot add a NOT NULL column to a referenced table)
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), default=utcnow,
                                                        onupdate=utcnow, index=True)

    warehouse: Mapped[Warehouse | None] = relationship()
    split_from: Mapped[CustomerOrder | None] = relationship(remote_side=[id],
                                                            foreign_keys=[split_from_id])
    merged_into: Mapped[CustomerOrder | None] = relationship(remote_side=[id],
                                                             foreign_keys=[merged_into_id])
    lines: Mapped[list[CustomerOrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="CustomerOrderLine.id")

    @property
    def goods_total(self) -> Decimal:
        """Return the sum of the lines in the order currency."""
        return sum((line.amount for line in self.lines), Decimal(0))


class CustomerOrderLine(db.Model):
    """A SKU ordered; ``allocated_qty`` is what reservations hold for it."""

    __tablename__ = "customer_order_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("unit_price >= 0", name="price_not_negative"),
        CheckConstraint("allocated_qty >= 0 AND allocated_qty <= quantity",
                        name="allocated_within_quantity"),
        Index("ix_customer_order_line_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id", ondelete="CASCADE"),
                                          index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[Decimal] = mapped_column(Money())
    allocated_qty: Mapped[int] = mapped_column(Integer, default=0)
    #: a made-to-order line: the standard size chosen, or the buyer's measurements as JSON
    #: (``{"chest_cm": "96.5", ...}``, values as decimal strings); both None otherwise
    mto_size: Mapped[str | None] = mapped_column(String(30))
    measurements: Mapped[str | None] = mapped_column(Text)

    order: Mapped[CustomerOrder] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()

    @property
    def amount(self) -> Decimal:
        """Return quantity x unit price."""
        return self.unit_price * self.quantity

    @property
    def measurement_items(self) -> list[tuple[str, str]]:
        """Return the line's measurements as ``[(code, decimal text)]`` sorted by code."""
        if not self.measurements:
            return []
        import json

        return sorted(json.loads(self.measurements).items())
