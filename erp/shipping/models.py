"""Shipping models: carriers to dispatch batches.

Carriers and their services, tracking-number ranges, boxes, pick waves and pick tasks, packing
scans, parcels with their customs lines, and dispatch batches.

Weights are whole grams and dimensions whole millimetres (DESIGN, "Units"); money is ``Money``.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.i18n import _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.shipping.carriers.base import TrackingStatus
from erp.warehouse.models import Location, Warehouse


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


# --- carriers, services, rates, tracking numbers, boxes ---------------------------------------

class CarrierKind(StrEnum):
    """A postal operator files CN22/CN23; an express courier wants a commercial invoice."""

    postal = "postal"
    express = "express"


#: what the screens call a carrier kind
CARRIER_KIND_LABELS = {CarrierKind.postal: _l("postal"), CarrierKind.express: _l("express")}


class CarrierAdapterKind(StrEnum):
    """How erp books parcels with a carrier (:mod:`erp.shipping.carriers.registry`)."""

    postal = "postal"   # numbers from the loaded ranges, erp's own label
    http = "http"       # the carrier's JSON-over-HTTP API: its number and its label


#: what the screens call the adapters
CARRIER_ADAPTER_LABELS = {
    CarrierAdapterKind.postal: _l("Tracking ranges and erp's label (postal)"),
    CarrierAdapterKind.http: _l("Carrier API (JSON over HTTP): the carrier's number and label")}


class Carrier(db.Model):
    """A postal operator or express courier the retailer hands parcels to."""

    __tablename__ = "carrier"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[CarrierKind] = mapped_column(_enum(CarrierKind), default=CarrierKind.postal)
    account_number: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(default=True)
    adapter: Mapped[CarrierAdapterKind] = mapped_column(
        _enum(CarrierAdapterKind), default=CarrierAdapterKind.postal,
        server_default=CarrierAdapterKind.postal.value)
    api_endpoint: Mapped[str | None] = mapped_column(String(200))   # base URL of the API
    api_token: Mapped[str | None] = mapped_column(String(200))      # bearer token (a secret)
    api_timeout_s: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    #: the shared secret of the carrier's tracking webhook (HMAC-SHA256 key or bearer secret);
    #: empty: the webhook refuses every call for this carrier
    tracking_secret: Mapped[str | None] = mapped_column(String(128))

    services: Mapped[list[ShippingService]] = relationship(
        back_populates="carrier", order_by="ShippingService.code")


class TrackingKind(StrEnum):
    """How the service's tracking numbers look."""

    s10 = "s10"        # UPU S10: AA + 8 digits + check digit + country
    free = "free"      # a courier's own format: prefix + serial, validated by length/characters


class CustomsDocs(StrEnum):
    """Which customs document a service needs."""

    cn22_cn23 = "cn22_cn23"                     # postal: CN22 up to the limit, else CN23
    cn23 = "cn23"                               # postal parcels and EMS: always CN23
    commercial_invoice = "commercial_invoice"   # express couriers


#: what the screens call the tracking number kinds and customs documents of a service
TRACKING_KIND_LABELS = {TrackingKind.s10: _l("S10 (UPU, with check digit)"),
                        TrackingKind.free: _l("Courier's own format")}
CUSTOMS_DOCS_LABELS = {CustomsDocs.cn22_cn23: _l("CN22, or CN23 above the limits"),
                       CustomsDocs.cn23: _l("Always CN23"),
                       CustomsDocs.commercial_invoice: _l("Commercial invoice")}


class ShippingService(db.Model):
    """A carrier's service (``code`` matches the order's requested shipping service).

    Limits are per parcel: ``max_weight_g`` of chargeable weight (the greater of actual and
    volumetric, when ``volumetric_divisor`` is set), the longest side and the sum of the three
    sides in millimetres. Zero means no limit.
    """

    __tablename__ = "shipping_service"
    __table_args__ = (
        CheckConstraint("max_weight_g >= 0", name="max_weight_not_negative"),
        CheckConstraint("max_longest_mm >= 0 AND max_sum_mm >= 0", name="max_dims_not_negative"),
        CheckConstraint("volumetric_divisor >= 0", name="divisor_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    tracking_kind: Mapped[TrackingKind] = mapped_column(_enum(TrackingKind))
    customs_docs: Mapped[CustomsDocs] = mapped_column(_enum(CustomsDocs))
    max_weight_g: Mapped[int] = mapped_column(Integer, default=0)
    max_longest_mm: Mapped[int] = mapped_column(Integer, default=0)
    max_sum_mm: Mapped[int] = mapped_column(Integer, default=0)
    volumetric_divisor: Mapped[int] = mapped_column(Integer, default=0)  # cm3 per kg; 0 = none
    cutoff: Mapped[str] = mapped_column(String(5), default="15:00")  # local HH:MM hand-over
    requires_phone: Mapped[bool] = mapped_column(default=False)
    #: a dispatched parcel with no tracking event for this many days opens a lost-parcel case
    lost_after_days: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    active: Mapped[bool] = mapped_column(default=True)
    #: the carrier's own code of the service (its API); empty: the same as ``code``
    carrier_service_code: Mapped[str | None] = mapped_column(String(40))

    carrier: Mapped[Carrier] = relationship(back_populates="services")
    #: the warehouses it ships from; none listed: every warehouse
    warehouses: Mapped[list[Warehouse]] = relationship(secondary="shipping_service_warehouse",
                                                       order_by="Warehouse.code")
    #: the goods attributes it accepts (batteries, liquids, ...), each with its parcel limit
    goods_limits: Mapped[list[ServiceGoodsLimit]] = relationship(
        back_populates="service", cascade="all, delete-orphan",
        order_by="ServiceGoodsLimit.attribute")
    zones: Mapped[list[ServiceZone]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="ServiceZone.country")
    rates: Mapped[list[ServiceRate]] = relationship(
        back_populates="service", cascade="all, delete-orphan",
        order_by="(ServiceRate.zone, ServiceRate.max_weight_g)")


class ShippingServiceWarehouse(db.Model):
    """A warehouse a shipping service ships from."""

    __tablename__ = "shipping_service_warehouse"

    service_id: Mapped[int] = mapped_column(
        ForeignKey("shipping_service.id", ondelete="CASCADE"), primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), primary_key=True)


class GoodsAttribute(StrEnum):
    """A goods attribute a shipping service may accept (erp.catalog.transport.Transport)."""

    battery_in_equipment = "battery_in_equipment"
    battery_with_equipment = "battery_with_equipment"
    battery_alone = "battery_alone"
    liquid = "liquid"
    powder = "powder"
    magnet = "magnet"
    flammable = "flammable"
    sharp = "sharp"


#: what a person reads for each goods attribute
GOODS_ATTRIBUTE_LABELS = {
    GoodsAttribute.battery_in_equipment: _l("battery contained in equipment"),
    GoodsAttribute.battery_with_equipment: _l("battery packed with equipment"),
    GoodsAttribute.battery_alone: _l("battery alone"),
    GoodsAttribute.liquid: _l("liquid"),
    GoodsAttribute.powder: _l("powder"),
    GoodsAttribute.magnet: _l("magnet"),
    GoodsAttribute.flammable: _l("flammable (perfume)"),
    GoodsAttribute.sharp: _l("sharp"),
}
#: the attributes whose limit counts lithium cells rather than units
CELL_ATTRIBUTES = frozenset({GoodsAttribute.battery_in_equipment,
                             GoodsAttribute.battery_with_equipment, GoodsAttribute.battery_alone})


class ServiceGoodsLimit(db.Model):
    """A goods attribute a service accepts, with its limit per parcel.

    A service refuses every attribute it has no row for. ``max_per_parcel`` counts lithium cells
    for the battery attributes and units for the others; 0 means no limit.
    """

    __tablename__ = "service_goods_limit"
    __table_args__ = (
        UniqueConstraint("service_id", "attribute"),
        CheckConstraint("max_per_parcel >= 0", name="max_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_service.id", ondelete="CASCADE"))
    attribute: Mapped[GoodsAttribute] = mapped_column(_enum(GoodsAttribute))
    max_per_parcel: Mapped[int] = mapped_column(Integer, default=0)

    service: Mapped[ShippingService] = relationship(back_populates="goods_limits")


class ServiceZone(db.Model):
    """A destination country the service serves, and its rate zone."""

    __tablename__ = "service_zone"
    __table_args__ = (UniqueConstraint("service_id", "country"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_service.id", ondelete="CASCADE"))
    country: Mapped[str] = mapped_column(String(2))
    zone: Mapped[str] = mapped_column(String(20))

    service: Mapped[ShippingService] = relationship(back_populates="zones")


class ServiceRate(db.Model):
    """The price of a parcel up to ``max_weight_g`` (chargeable) in a zone."""

    __tablename__ = "service_rate"
    __table_args__ = (
        UniqueConstraint("service_id", "zone", "max_weight_g"),
        CheckConstraint("max_weight_g > 0", name="band_positive"),
        CheckConstraint("price >= 0", name="price_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_service.id", ondelete="CASCADE"))
    zone: Mapped[str] = mapped_column(String(20))
    max_weight_g: Mapped[int] = mapped_column(Integer)
    price: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))

    service: Mapped[ShippingService] = relationship(back_populates="rates")


class TrackingRange(db.Model):
    """A block of tracking numbers the carrier allocated for one service.

    S10: ``prefix`` is the two service letters and ``suffix`` the country; each serial gets the
    UPU check digit. Free-form: the number is ``prefix + serial`` (zero-padded to ``width``) +
    ``suffix``. ``next_serial`` only grows, so a number is never drawn twice.
    """

    __tablename__ = "tracking_range"
    __table_args__ = (
        CheckConstraint("first_serial >= 0 AND last_serial >= first_serial",
                        name="serials_ordered"),
        CheckConstraint("next_serial >= first_serial AND next_serial <= last_serial + 1",
                        name="next_within_range"),
        CheckConstraint("warn_below >= 0", name="warn_below_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_service.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(20))
    suffix: Mapped[str] = mapped_column(String(20), default="")
    width: Mapped[int] = mapped_column(Integer, default=8)
    first_serial: Mapped[int] = mapped_column(Integer)
    last_serial: Mapped[int] = mapped_column(Integer)
    next_serial: Mapped[int] = mapped_column(Integer)
    warn_below: Mapped[int] = mapped_column(Integer, default=500)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    service: Mapped[ShippingService] = relationship()

    @property
    def remaining(self) -> int:
        """Return how many numbers are left to draw."""
        return self.last_serial + 1 - self.next_serial


class Box(db.Model):
    """A carton size the packing station offers (inner dimensions, tare weight)."""

    __tablename__ = "box"
    __table_args__ = (
        CheckConstraint("length_mm > 0 AND width_mm > 0 AND height_mm > 0", name="dims_positive"),
        CheckConstraint("tare_g >= 0", name="tare_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    length_mm: Mapped[int] = mapped_column(Integer)
    width_mm: Mapped[int] = mapped_column(Integer)
    height_mm: Mapped[int] = mapped_column(Integer)
    tare_g: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # the stock SKU of this carton or mailer: each closed parcel consumes one unit of it
    sku_id: Mapped[int | None] = mapped_column(ForeignKey("sku.id"))

    sku: Mapped[Sku | None] = relationship()


class SkuPacking(db.Model):
    """How a SKU packs alone (single-item lane): its default box and packed weight.

    ``packed_weight_g`` empty means the SKU's weight plus the box's tare.
    """

    __tablename__ = "sku_packing"
    __table_args__ = (
        CheckConstraint("packed_weight_g IS NULL OR packed_weight_g > 0",
                        name="packed_weight_positive"),
    )

    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), primary_key=True)
    box_id: Mapped[int] = mapped_column(ForeignKey("box.id"))
    packed_weight_g: Mapped[int | None] = mapped_column(Integer)

    sku: Mapped[Sku] = relationship()
    box: Mapped[Box] = relationship()


class PackingStation(db.Model):
    """A packing bench a packer works at (chosen at the bench, kept in the session)."""

    __tablename__ = "packing_station"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    # the scan of an order's last item closes its parcel and prints the label
    close_on_last_item: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)

    warehouse: Mapped[Warehouse] = relationship()


# --- pick waves --------------------------------------------------------------------------------

class WaveState(StrEnum):
    """Lifecycle of a pick wave (DESIGN, "State machines")."""

    open = "open"
    picking = "picking"
    done = "done"


W = WaveState
WAVE_STATES = StateMachine(
    WaveState, initial=W.open, noun=_l("pick wave"),
    labels={W.open: _l("open"), W.picking: _l("picking"), W.done: _l("done")},
    transitions={(W.open, W.picking), (W.picking, W.done), (W.open, W.done)},
    colours={W.open: "blue", W.picking: "purple", W.done: "green"},
)


class WaveKind(StrEnum):
    """What a wave holds: any orders, or only one-item orders packed at the lane."""

    standard = "standard"
    single_item = "single_item"


WAVE_KIND_LABELS = {WaveKind.standard: _l("standard"), WaveKind.single_item: _l("single-item")}


class PickWave(db.Model):
    """A group of allocated orders picked together along the bins."""

    __tablename__ = "pick_wave"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[WaveKind] = mapped_column(_enum(WaveKind), default=WaveKind.standard,
                                           server_default=WaveKind.standard.value)
    state: Mapped[WaveState] = mapped_column(_enum(WaveState), default=W.open, index=True)
    filters: Mapped[str | None] = mapped_column(Text)  # JSON of the filters it was built with
    packing_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    packing_location: Mapped[Location] = relationship()
    created_by: Mapped[User | None] = relationship()
    orders: Mapped[list[PickWaveOrder]] = relationship(
        back_populates="wave", cascade="all, delete-orphan", order_by="PickWaveOrder.slot")
    tasks: Mapped[list[PickTask]] = relationship(
        back_populates="wave", cascade="all, delete-orphan",
        order_by="(PickTask.sequence, PickTask.id)")


class PickWaveOrder(db.Model):
    """An order in a wave; ``slot`` is its tote or pigeon-hole number (1, 2, ...)."""

    __tablename__ = "pick_wave_order"
    __table_args__ = (UniqueConstraint("wave_id", "order_id"), UniqueConstraint("wave_id", "slot"))

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("pick_wave.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    slot: Mapped[int] = mapped_column(Integer)

    wave: Mapped[PickWave] = relationship(back_populates="orders")
    order: Mapped[CustomerOrder] = relationship()


class PickTaskState(StrEnum):
    """A pick task is open until confirmed in full, or reported short."""

    open = "open"
    picked = "picked"
    short = "short"


#: what the screens call a pick task's state
PICK_TASK_LABELS = {PickTaskState.open: _l("open"), PickTaskState.picked: _l("picked"),
                    PickTaskState.short: _l("short")}


class PickTask(db.Model):
    """Take ``quantity`` of a SKU from a bin for an order line (from its reservation)."""

    __tablename__ = "pick_task"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("picked_qty >= 0 AND picked_qty <= quantity", name="picked_within"),
        Index("ix_pick_task_wave_sequence", "wave_id", "sequence"),
        # the single-item lane: a wave's tasks of the SKU scanned (issue 18)
        Index("ix_pick_task_wave_sku", "wave_id", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    wave_id: Mapped[int] = mapped_column(ForeignKey("pick_wave.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_line.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # the bin's pick sequence
    quantity: Mapped[int] = mapped_column(Integer)
    picked_qty: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[PickTaskState] = mapped_column(_enum(PickTaskState), default=PickTaskState.open)
    picked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    picked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    wave: Mapped[PickWave] = relationship(back_populates="tasks")
    order: Mapped[CustomerOrder] = relationship()
    order_line: Mapped[CustomerOrderLine] = relationship()
    sku: Mapped[Sku] = relationship()
    location: Mapped[Location] = relationship()


# --- packing and parcels -----------------------------------------------------------------------

class PackScan(db.Model):
    """Units of an order line scanned at the packing station.

    ``parcel_id`` is empty until the units are closed into a parcel.
    """

    __tablename__ = "pack_scan"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_line.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcel.id"), index=True)
    scanned_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    scanned_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    order_line: Mapped[CustomerOrderLine] = relationship()
    sku: Mapped[Sku] = relationship()


class ParcelState(StrEnum):
    """Lifecycle of a parcel (DESIGN, "State machines")."""

    packed = "packed"
    labelled = "labelled"
    dispatched = "dispatched"
    voided = "voided"


P = ParcelState
PARCEL_STATES = StateMachine(
    ParcelState, initial=P.packed, noun=_l("parcel"),
    labels={P.packed: _l("packed"), P.labelled: _l("labelled"), P.dispatched: _l("dispatched"),
            P.voided: _l("voided")},
    transitions={(P.packed, P.labelled), (P.labelled, P.dispatched),
                 (P.packed, P.voided), (P.labelled, P.voided),
                 (P.labelled, P.packed)},  # label voided (address changed): needs a new one
    colours={P.packed: "blue", P.labelled: "purple", P.dispatched: "green", P.voided: "grey"},
    groups={"open": {P.packed, P.labelled}},
)


T = TrackingStatus
#: where a dispatched parcel is, as the carriers report it. A separate column from the parcel's
#: ``state``: ``dispatched`` keeps meaning "left the warehouse" for every rule and report that
#: reads it (a cancel is refused, customs and period reports count it), while this says where the
#: carrier has it. Delivered and returned are final; anything else may follow anything else
#: (carriers report in_transit after an exception, a returning parcel may be re-routed).
TRACKING_STATES = StateMachine(
    TrackingStatus, initial=T.in_transit, noun=_l("tracking status"),
    labels={T.in_transit: _l("in transit"), T.out_for_delivery: _l("out for delivery"),
            T.delivered: _l("delivered"), T.exception: _l("exception"),
            T.returning: _l("returning to sender"), T.returned: _l("returned to sender")},
    transitions={(a, b) for a in TrackingStatus for b in TrackingStatus
                 if a != b and a not in (T.delivered, T.returned)},
    colours={T.in_transit: "blue", T.out_for_delivery: "purple", T.delivered: "green",
             T.exception: "red", T.returning: "orange", T.returned: "grey"},
    groups={"final": {T.delivered, T.returned}},
)
#: the tracking statuses after which nothing moves the parcel any more
FINAL_TRACKING = frozenset({T.delivered, T.returned})


class CustomsForm(StrEnum):
    """The customs declaration the parcel carries."""

    cn22 = "cn22"
    cn23 = "cn23"
    invoice = "invoice"   # express: commercial invoice only


#: what the screens call a parcel's customs declaration
CUSTOMS_FORM_LABELS = {CustomsForm.cn22: "CN22", CustomsForm.cn23: "CN23",
                       CustomsForm.invoice: _l("Commercial invoice")}


class Parcel(db.Model):
    """A box handed to a carrier, with its tracking number and customs declaration."""

    __tablename__ = "parcel"
    __table_args__ = (
        CheckConstraint("weight_g > 0", name="weight_positive"),
        CheckConstraint("length_mm > 0 AND width_mm > 0 AND height_mm > 0", name="dims_positive"),
        CheckConstraint("declared_value >= 0", name="declared_value_not_negative"),
        Index("ix_parcel_state_service", "state", "service_id"),
        Index("ix_parcel_state_dispatched", "state", "dispatched_at"),  # period reports
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("customer_order.id"), index=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("shipping_service.id"))
    box_id: Mapped[int | None] = mapped_column(ForeignKey("box.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("dispatch_batch.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer, default=1)  # 1 of n parcels of the order
    state: Mapped[ParcelState] = mapped_column(_enum(ParcelState), default=P.packed, index=True)
    tracking_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    weight_g: Mapped[int] = mapped_column(Integer)
    length_mm: Mapped[int] = mapped_column(Integer)
    width_mm: Mapped[int] = mapped_column(Integer)
    height_mm: Mapped[int] = mapped_column(Integer)
    declared_value: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    customs_form: Mapped[CustomsForm] = mapped_column(_enum(CustomsForm))
    customs_category: Mapped[str] = mapped_column(String(40), default="sale_of_goods")
    ioss_number: Mapped[str | None] = mapped_column(String(20))
    dutiable: Mapped[bool] = mapped_column(default=False)
    packed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    packed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    labelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    void_reason: Mapped[str | None] = mapped_column(String(200))
    #: where the carrier has it (None: dispatched, no event yet); see TRACKING_STATES
    tracking_status: Mapped[TrackingStatus | None] = mapped_column(_enum(TrackingStatus),
                                                                   index=True)
    #: when the latest tracking event happened (the carrier's time) and when it was delivered
    last_tracking_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: when the returned parcel was scanned back in at the warehouse
    returned_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: the rate table's quote at labelling (erp.shipping.services.carriers.quote) and the
    #: chargeable weight it was quoted for; None: no rate band fits (or labelled before)
    quoted_cost: Mapped[Decimal | None] = mapped_column(Money())
    quoted_currency: Mapped[str | None] = mapped_column(String(3))
    chargeable_g: Mapped[int | None] = mapped_column(Integer)
    #: what the carrier billed (freight and surcharges), set when a carrier-bill line is
    #: matched; the shipping cost of the parcel is the billed one when set, else the quote
    billed_cost: Mapped[Decimal | None] = mapped_column(Money())
    billed_currency: Mapped[str | None] = mapped_column(String(3))
    billed_weight_g: Mapped[int | None] = mapped_column(Integer)
    billed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    order: Mapped[CustomerOrder] = relationship()
    service: Mapped[ShippingService] = relationship()
    box: Mapped[Box | None] = relationship()
    batch: Mapped[DispatchBatch | None] = relationship(back_populates="parcels")
    packed_by: Mapped[User | None] = relationship()
    lines: Mapped[list[ParcelLine]] = relationship(
        back_populates="parcel", cascade="all, delete-orphan", order_by="ParcelLine.id")


class ParcelLine(db.Model):
    """A customs line of a parcel: copied from the catalog when the parcel is closed."""

    __tablename__ = "parcel_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("net_weight_g >= 0", name="net_weight_not_negative"),
        CheckConstraint("unit_value >= 0", name="unit_value_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id", ondelete="CASCADE"),
                                           index=True)
    order_line_id: Mapped[int] = mapped_column(ForeignKey("customer_order_line.id"), index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(200))
    hs_code: Mapped[str] = mapped_column(String(10))
    origin_country: Mapped[str] = mapped_column(String(2))
    net_weight_g: Mapped[int] = mapped_column(Integer)   # of the whole line
    unit_value: Mapped[Decimal] = mapped_column(Money())

    parcel: Mapped[Parcel] = relationship(back_populates="lines")
    order_line: Mapped[CustomerOrderLine] = relationship()
    sku: Mapped[Sku] = relationship()

    @property
    def value(self) -> Decimal:
        """Return quantity x unit value."""
        return self.unit_value * self.quantity


class ParcelLabel(db.Model):
    """A booking with a carrier's API: its tracking number, its own id and its label PDF.

    A parcel has at most one live booking (``cancelled_at`` empty); a voided label keeps its
    row, cancelled, so ``attempt`` counts the bookings and the next one sends a new
    idempotency key.
    """

    __tablename__ = "parcel_label"
    __table_args__ = (UniqueConstraint("parcel_id", "attempt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id", ondelete="CASCADE"),
                                           index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    idempotency_key: Mapped[str] = mapped_column(String(60))
    tracking_number: Mapped[str] = mapped_column(String(40))
    carrier_reference: Mapped[str | None] = mapped_column(String(80))
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    booked_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
class TrackingSource(StrEnum):
    """Where a tracking event came from."""

    poll = "poll"
    webhook = "webhook"
    file = "import"


class ParcelTrackingEvent(db.Model):
    """One carrier event of a dispatched parcel, stored once whatever reported it first.

    ``(parcel_id, occurred_at, code)`` is unique: the same event polled, pushed by the webhook and
    imported from the carrier's file is one row (the first source wins).
    """

    __tablename__ = "tracking_event"
    __table_args__ = (UniqueConstraint("parcel_id", "occurred_at", "code",
                                       name="uq_tracking_event_parcel_time_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parcel_id: Mapped[int] = mapped_column(ForeignKey("parcel.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[TrackingStatus] = mapped_column(_enum(TrackingStatus))
    code: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(300), default="")
    location: Mapped[str | None] = mapped_column(String(120))
    source: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    parcel: Mapped[Parcel] = relationship()


# --- dispatch ----------------------------------------------------------------------------------

class BatchState(StrEnum):
    """A dispatch batch is filled while open and handed over when closed."""

    open = "open"
    closed = "closed"


DISPATCH_BATCH_STATES = StateMachine(
    BatchState, initial=BatchState.open, noun=_l("dispatch batch"),
    labels={BatchState.open: _l("open"), BatchState.closed: _l("closed")},
    transitions={(BatchState.open, BatchState.closed)},
    colours={BatchState.open: "blue", BatchState.closed: "green"},
)


class DispatchBatch(db.Model):
    """Parcels handed to one carrier together, with a manifest."""

    __tablename__ = "dispatch_batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id"), index=True)
    state: Mapped[BatchState] = mapped_column(_enum(BatchState), default=BatchState.open,
                                              index=True)
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    note: Mapped[str | None] = mapped_column(String(500))

    carrier: Mapped[Carrier] = relationship()
    opened_by: Mapped[User | None] = relationship(foreign_keys=[opened_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])
    parcels: Mapped[list[Parcel]] = relationship(back_populates="batch", order_by="Parcel.id")



class CarrierBill(db.Model):
    """A carrier's bill for a period, imported from its spreadsheet (once per reference)."""

    __tablename__ = "carrier_bill"
    __table_args__ = (
        UniqueConstraint("carrier_id", "reference", name="uq_carrier_bill_reference"),
        CheckConstraint("period_start <= period_end", name="period_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carrier.id"), index=True)
    reference: Mapped[str] = mapped_column(String(60))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    filename: Mapped[str] = mapped_column(String(200))
    file_sha256: Mapped[str] = mapped_column(String(64), index=True)
    imported_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    line_count: Mapped[int] = mapped_column(Integer, default=0)
    matched_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))

    carrier: Mapped[Carrier] = relationship()
    imported_by: Mapped[User | None] = relationship()


class CarrierBillLine(db.Model):
    """One charge of a carrier bill: freight (``charge`` empty) or a surcharge of a parcel.

    ``parcel_id`` is the parcel of the bill's carrier with this tracking number (None: unknown
    to erp). ``duplicate`` marks a freight line of a tracking number billed already, earlier in
    the bill or in an earlier bill; it is not added to the parcel's billed cost.
    """

    __tablename__ = "carrier_bill_line"
    __table_args__ = (
        CheckConstraint("billed_weight_g IS NULL OR billed_weight_g >= 0",
                        name="billed_weight_not_negative"),
        Index("ix_carrier_bill_line_bill_parcel", "bill_id", "parcel_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(ForeignKey("carrier_bill.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(Integer)  # the sheet's row number
    tracking_number: Mapped[str] = mapped_column(String(40), index=True)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("parcel.id"), index=True)
    charge: Mapped[str | None] = mapped_column(String(40))  # None: freight
    billed_weight_g: Mapped[int | None] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())
    shipped_on: Mapped[date | None] = mapped_column(Date)
    line_reference: Mapped[str | None] = mapped_column(String(60))
    duplicate: Mapped[bool] = mapped_column(Boolean, default=False)

    bill: Mapped[CarrierBill] = relationship()
    parcel: Mapped[Parcel | None] = relationship()


# the shipping rules' tables live in their own module; imported here so the metadata has them
from erp.shipping import routing_models  # noqa: E402,F401
