"""Warehouse models: bins, the ledger, levels, reservations, adjustments, counts, transfers."""

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
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.catalog.models import Sku
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.core.models import User, utcnow
from erp.core.states import StateMachine
from erp.core.types import Money, UtcDateTime
from erp.extensions import db


def _enum(enum_cls) -> Enum:
    return Enum(enum_cls, native_enum=False, length=24, validate_strings=True)


class Warehouse(db.Model):
    """A physical warehouse."""

    __tablename__ = "warehouse"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    address: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str] = mapped_column(String(2))
    active: Mapped[bool] = mapped_column(default=True)

    locations: Mapped[list[Location]] = relationship(back_populates="warehouse")


class LocationKind(StrEnum):
    """What a location is for; the last three are virtual (no stock level is kept there)."""

    receiving = "receiving"
    storage = "storage"
    packing = "packing"
    shipping = "shipping"
    returns = "returns"
    quarantine = "quarantine"
    scrap = "scrap"
    supplier = "supplier"
    customer = "customer"
    adjustment = "adjustment"
    #: goods shipped by a transfer and not yet received; one per destination warehouse, made
    #: on demand by the transfer service (never by hand)
    in_transit = "in_transit"


VIRTUAL_KINDS = frozenset({LocationKind.supplier, LocationKind.customer, LocationKind.adjustment})


class Location(db.Model):
    """A bin (``A-01-02-03``: zone-aisle-rack-bin) or a virtual location.

    Virtual locations (supplier, customer, inventory adjustment) have no warehouse and no stock
    level: they are where stock comes from and goes to.
    """

    __tablename__ = "location"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "code"),
        CheckConstraint("pick_sequence >= 0", name="pick_sequence_not_negative"),
        Index("ix_location_kind_sequence", "kind", "pick_sequence"),
        # the walking order of the stock list: read in order, so a page stops early
        Index("ix_location_warehouse_sequence", "warehouse_id", "pick_sequence", "code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouse.id"), index=True)
    code: Mapped[str] = mapped_column(String(40), index=True)
    kind: Mapped[LocationKind] = mapped_column(_enum(LocationKind))
    pick_sequence: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)

    warehouse: Mapped[Warehouse | None] = relationship(back_populates="locations")

    @property
    def is_virtual(self) -> bool:
        """Return whether the location is virtual (no stock level kept)."""
        return self.kind in VIRTUAL_KINDS

    @property
    def label(self) -> str:
        """Return ``WH1/A-01-02-03`` (or the bare code of a virtual location)."""
        return f"{self.warehouse.code}/{self.code}" if self.warehouse else self.code

    def __repr__(self) -> str:
        return f"<Location {self.code}>"


class MoveKind(StrEnum):
    """Why stock moved."""

    receipt = "receipt"
    receipt_reversal = "receipt_reversal"
    transfer = "transfer"
    adjustment = "adjustment"
    count = "count"
    pick = "pick"
    ship = "ship"
    return_receipt = "return_receipt"
    scrap = "scrap"
    opening = "opening"
    #: goods sent back to their supplier (a supplier return), at the moving-average cost
    supplier_return = "supplier_return"


class StockMove(db.Model):
    """One immutable movement of a positive quantity of a SKU from one location to another.

    A mistake is corrected by a new move, never by an edit: the ORM refuses updates and deletes.
    """

    __tablename__ = "stock_move"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("from_location_id <> to_location_id", name="locations_differ"),
        CheckConstraint("unit_cost >= 0", name="unit_cost_not_negative"),
        Index("ix_stock_move_sku_at", "sku_id", "at"),
        Index("ix_stock_move_kind_at", "kind", "at"),  # period figures by kind (reports)
        Index("ix_stock_move_ref", "ref_type", "ref_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    from_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    to_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_cost: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    kind: Mapped[MoveKind] = mapped_column(_enum(MoveKind), index=True)
    ref_type: Mapped[str | None] = mapped_column(String(40))
    ref_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    note: Mapped[str | None] = mapped_column(String(500))

    sku: Mapped[Sku] = relationship()
    from_location: Mapped[Location] = relationship(foreign_keys=[from_location_id])
    to_location: Mapped[Location] = relationship(foreign_keys=[to_location_id])
    actor: Mapped[User | None] = relationship()


class LedgerImmutable(DomainError):
    """Someone tried to change or delete a posted stock move."""


@event.listens_for(StockMove, "before_update")
def _deny_update(mapper, connection, target):
    raise LedgerImmutable(_("Stock move %(id)s is posted and cannot be changed; post a "
                            "correcting move instead.", id=target.id))


@event.listens_for(StockMove, "before_delete")
def _deny_delete(mapper, connection, target):
    raise LedgerImmutable(_("Stock move %(id)s is posted and cannot be deleted; post a "
                            "correcting move instead.", id=target.id))


class StockLevel(db.Model):
    """Stock of one SKU in one physical bin.

    ``on_hand`` equals the sum of moves into the bin minus the moves out of it; ``reserved`` is
    what reservations hold, never more than on hand.
    """

    __tablename__ = "stock_level"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
        Index("ix_stock_level_location", "location_id"),
    )

    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"), primary_key=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)

    sku: Mapped[Sku] = relationship()
    location: Mapped[Location] = relationship()

    @property
    def available(self) -> int:
        """Return on hand minus reserved."""
        return self.on_hand - self.reserved


class Reservation(db.Model):
    """Stock of a SKU in a bin held for an opaque reference (e.g. a customer order line)."""

    __tablename__ = "reservation"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_reservation_ref", "ref_type", "ref_id"),
        Index("ix_reservation_level", "sku_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    ref_type: Mapped[str] = mapped_column(String(40))
    ref_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    sku: Mapped[Sku] = relationship()
    location: Mapped[Location] = relationship()


class AdjustmentReason(StrEnum):
    """Why stock was adjusted."""

    damaged = "damaged"
    lost = "lost"
    found = "found"
    expired = "expired"
    sample = "sample"
    data_correction = "data_correction"
    other = "other"


class AdjustmentState(StrEnum):
    """An adjustment above the value threshold waits for a manager."""

    pending = "pending"
    approved = "approved"
    rejected = "rejected"


A = AdjustmentState
ADJUSTMENT_STATES = StateMachine(
    AdjustmentState, initial=A.pending, noun=_l("stock adjustment"),
    transitions={(A.pending, A.approved), (A.pending, A.rejected)},
    colours={A.pending: "orange", A.approved: "green", A.rejected: "red"},
)


class StockAdjustment(db.Model):
    """A requested change of on-hand stock in a bin, with its reason and value."""

    __tablename__ = "stock_adjustment"
    __table_args__ = (CheckConstraint("quantity <> 0", name="quantity_not_zero"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)  # signed: + found, - lost
    reason: Mapped[AdjustmentReason] = mapped_column(_enum(AdjustmentReason))
    note: Mapped[str | None] = mapped_column(String(500))
    value: Mapped[Decimal] = mapped_column(Money())
    state: Mapped[AdjustmentState] = mapped_column(_enum(AdjustmentState), default=A.pending)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    sku: Mapped[Sku] = relationship()
    location: Mapped[Location] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])


class CycleCountState(StrEnum):
    """Lifecycle of a cycle count."""

    open = "open"
    review = "review"
    accepted = "accepted"
    cancelled = "cancelled"


C = CycleCountState
CYCLE_COUNT_STATES = StateMachine(
    CycleCountState, initial=C.open, noun=_l("cycle count"),
    transitions={(C.open, C.review), (C.review, C.open), (C.review, C.accepted),
                 (C.open, C.cancelled), (C.review, C.cancelled)},
    colours={C.open: "blue", C.review: "orange", C.accepted: "green", C.cancelled: "grey"},
    groups={"frozen": {C.open, C.review}},
)


class CycleCount(db.Model):
    """A count of a set of bins or SKUs; its lines' stock is frozen until accepted or cancelled."""

    __tablename__ = "cycle_count"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    state: Mapped[CycleCountState] = mapped_column(_enum(CycleCountState), default=C.open,
                                                   index=True)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    warehouse: Mapped[Warehouse] = relationship()
    lines: Mapped[list[CycleCountLine]] = relationship(
        back_populates="count", cascade="all, delete-orphan", order_by="CycleCountLine.id")


class CycleCountLine(db.Model):
    """One SKU in one bin to count: the quantity expected when the count opened, and counted."""

    __tablename__ = "cycle_count_line"
    __table_args__ = (
        UniqueConstraint("count_id", "sku_id", "location_id"),
        CheckConstraint("counted_qty IS NULL OR counted_qty >= 0", name="counted_not_negative"),
        Index("ix_cycle_count_line_level", "sku_id", "location_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    count_id: Mapped[int] = mapped_column(ForeignKey("cycle_count.id", ondelete="CASCADE"),
                                          index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    expected_qty: Mapped[int] = mapped_column(Integer)
    counted_qty: Mapped[int | None] = mapped_column(Integer)
    counted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    counted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    count: Mapped[CycleCount] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()
    location: Mapped[Location] = relationship()

    @property
    def variance(self) -> int | None:
        """Return counted minus expected, or None before counting."""
        return None if self.counted_qty is None else self.counted_qty - self.expected_qty


class PutawayState(StrEnum):
    """Lifecycle of a put-away task."""

    open = "open"
    done = "done"
    cancelled = "cancelled"


P = PutawayState
#: the stock-move reference of a put-away (``ref_id`` is the task's id)
PUTAWAY_REF = "putaway_task"
PUTAWAY_STATES = StateMachine(
    PutawayState, initial=P.open, noun=_l("put-away task"),
    transitions={(P.open, P.done), (P.open, P.cancelled)},
    colours={P.open: "blue", P.done: "green", P.cancelled: "grey"},
    groups={"final": {P.done, P.cancelled}},
)


class PutawayTask(db.Model):
    """Stock of one SKU waiting in a receiving bin to be put away into a storage bin.

    There is at most one open task per (SKU, receiving bin): a later arrival adds to it. While
    the task is open, what is left (``quantity - done_qty``) equals what the receiving bin holds
    of the SKU and can move (on hand less reserved); the ledger keeps it so on every posting
    that touches the bin, under the lock of that stock level.
    """

    __tablename__ = "putaway_task"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("done_qty >= 0 AND done_qty <= quantity", name="done_within_quantity"),
        Index("ix_putaway_task_level", "sku_id", "from_location_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))
    from_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    suggested_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    done_qty: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[PutawayState] = mapped_column(_enum(PutawayState), default=P.open, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    sku: Mapped[Sku] = relationship()
    warehouse: Mapped[Warehouse] = relationship()
    from_location: Mapped[Location] = relationship(foreign_keys=[from_location_id])
    suggested_location: Mapped[Location | None] = relationship(
        foreign_keys=[suggested_location_id])
    done_by: Mapped[User | None] = relationship()

    @property
    def number(self) -> str:
        """Return the task number a scanner reads, ``PA-000123`` (from the id)."""
        return putaway_number(self.id)

    @property
    def left(self) -> int:
        """Return the units still to put away."""
        return self.quantity - self.done_qty


def putaway_number(task_id: int) -> str:
    """Return the number of put-away task ``task_id``: ``PA-000123``."""
    return f"PA-{task_id:06d}"


#: a route's area that matches any region and postcode
ANY_AREA = "*"


class WarehouseRoute(db.Model):
    """Where orders to a destination ship from: warehouses in priority order.

    Routes are read in ``position`` order and the first that matches an order's address wins:
    its country (``*``: any) and its area, a region name or a postcode prefix (``*``: any).
    Allocation takes the first of its warehouses that can fill the whole order.
    """

    __tablename__ = "warehouse_route"
    __table_args__ = (UniqueConstraint("country", "area"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, index=True)
    country: Mapped[str] = mapped_column(String(2))
    area: Mapped[str] = mapped_column(String(20), default=ANY_AREA)
    note: Mapped[str | None] = mapped_column(String(200))

    stops: Mapped[list[WarehouseRouteStop]] = relationship(
        back_populates="route", order_by="WarehouseRouteStop.rank",
        cascade="all, delete-orphan")

    @property
    def warehouses(self) -> list[Warehouse]:
        """Return the route's warehouses, first choice first."""
        return [stop.warehouse for stop in self.stops]

    def matches(self, country: str | None, region: str | None, postal_code: str | None) -> bool:
        """Return whether an address in ``country``/``region``/``postal_code`` takes this route."""
        if self.country != ANY_AREA and self.country != (country or "").upper():
            return False
        if self.area == ANY_AREA:
            return True
        area = self.area.upper()
        return ((region or "").strip().upper() == area
                or (postal_code or "").replace(" ", "").upper().startswith(area))


class WarehouseRouteStop(db.Model):
    """One warehouse of a route, at its rank (0 is the first choice)."""

    __tablename__ = "warehouse_route_stop"

    route_id: Mapped[int] = mapped_column(ForeignKey("warehouse_route.id", ondelete="CASCADE"),
                                          primary_key=True)
    rank: Mapped[int] = mapped_column(Integer, primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"))

    route: Mapped[WarehouseRoute] = relationship(back_populates="stops")
    warehouse: Mapped[Warehouse] = relationship()


class TransferState(StrEnum):
    """Lifecycle of a transfer between two warehouses."""

    draft = "draft"
    picked = "picked"
    shipped = "shipped"
    received = "received"
    cancelled = "cancelled"


T = TransferState
#: the stock-move reference of a transfer's moves (``ref_id`` is the transfer's id)
TRANSFER_REF = "transfer_order"
TRANSFER_STATES = StateMachine(
    TransferState, initial=T.draft, noun=_l("transfer"),
    transitions={(T.draft, T.picked), (T.picked, T.shipped), (T.shipped, T.received),
                 (T.draft, T.cancelled)},
    colours={T.draft: "grey", T.picked: "blue", T.shipped: "orange", T.received: "green",
             T.cancelled: "red"},
    groups={"open": {T.draft, T.picked, T.shipped}, "final": {T.received, T.cancelled}},
)


class TransferOrder(db.Model):
    """Goods sent from one warehouse to another: picked, shipped into transit, received.

    Picking moves the lines' stock from their storage bins to the source warehouse's transfer
    staging bin; shipping moves it to the destination's in-transit location; receiving moves it
    into a receiving bin of the destination (where a put-away task picks it up). The stock is
    ledger stock all the way.
    """

    __tablename__ = "transfer_order"
    __table_args__ = (
        CheckConstraint("from_warehouse_id <> to_warehouse_id", name="warehouses_differ"),
        CheckConstraint("cartons IS NULL OR cartons > 0", name="cartons_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    from_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), index=True)
    to_warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouse.id"), index=True)
    state: Mapped[TransferState] = mapped_column(_enum(TransferState), default=T.draft,
                                                 index=True)
    carrier: Mapped[str | None] = mapped_column(String(80))
    reference: Mapped[str | None] = mapped_column(String(80))
    cartons: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(String(500))
    #: where the goods wait while in transit (set when shipped)
    in_transit_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    #: the destination bin the goods were received into
    receive_location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    picked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    picked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    shipped_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    shipped_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    from_warehouse: Mapped[Warehouse] = relationship(foreign_keys=[from_warehouse_id])
    to_warehouse: Mapped[Warehouse] = relationship(foreign_keys=[to_warehouse_id])
    in_transit_location: Mapped[Location | None] = relationship(
        foreign_keys=[in_transit_location_id])
    receive_location: Mapped[Location | None] = relationship(foreign_keys=[receive_location_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    picked_by: Mapped[User | None] = relationship(foreign_keys=[picked_by_id])
    shipped_by: Mapped[User | None] = relationship(foreign_keys=[shipped_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    cancelled_by: Mapped[User | None] = relationship(foreign_keys=[cancelled_by_id])
    lines: Mapped[list[TransferLine]] = relationship(
        back_populates="transfer", cascade="all, delete-orphan", order_by="TransferLine.id")

    @property
    def quantity(self) -> int:
        """Return the units asked for."""
        return sum(line.quantity for line in self.lines)

    @property
    def picked_qty(self) -> int:
        """Return the units picked (and, once shipped, in transit or received)."""
        return sum(line.picked_qty for line in self.lines)

    @property
    def received_qty(self) -> int:
        """Return the units received."""
        return sum(line.received_qty for line in self.lines)


class TransferLine(db.Model):
    """One SKU of a transfer, taken from one bin of the source warehouse.

    ``picked_qty`` is what left the bin (and was shipped); ``received_qty`` what arrived. A
    short receipt keeps its reason in ``discrepancy_reason``.
    """

    __tablename__ = "transfer_line"
    __table_args__ = (
        UniqueConstraint("transfer_id", "sku_id", "from_location_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("picked_qty >= 0 AND picked_qty <= quantity", name="picked_within"),
        CheckConstraint("received_qty >= 0 AND received_qty <= picked_qty",
                        name="received_within_picked"),
        Index("ix_transfer_line_sku", "sku_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("transfer_order.id", ondelete="CASCADE"),
                                             index=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    from_location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    quantity: Mapped[int] = mapped_column(Integer)
    picked_qty: Mapped[int] = mapped_column(Integer, default=0)
    received_qty: Mapped[int] = mapped_column(Integer, default=0)
    discrepancy_reason: Mapped[str | None] = mapped_column(String(200))

    transfer: Mapped[TransferOrder] = relationship(back_populates="lines")
    sku: Mapped[Sku] = relationship()
    from_location: Mapped[Location] = relationship()

    @property
    def short_qty(self) -> int:
        """Return the units shipped and not received (once received)."""
        return self.picked_qty - self.received_qty


class ValueAdjustmentKind(StrEnum):
    """What a value adjustment does to stock value."""

    #: the units on hand are worth more (or less): the SKU's average cost changed
    revaluation = "revaluation"
    #: the part that fell on units already gone: an expense, stock value is unchanged
    variance = "variance"


class ValueAdjustment(db.Model):
    """One immutable change of stock value of a SKU in the base currency, without a move.

    A revaluation row moves the SKU's average cost from ``cost_before`` to ``cost_after`` over
    ``quantity`` units on hand: ``amount == quantity x (cost_after - cost_before)`` exactly. A
    variance row is the part that fell on ``quantity`` units already consumed. The reference is
    opaque (``ref_type``, ``ref_id``), as a stock move's is. Like the moves, rows are never
    edited or deleted: a mistake is corrected by new rows.
    """

    __tablename__ = "value_adjustment"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
        Index("ix_value_adjustment_sku_at", "sku_id", "at"),
        Index("ix_value_adjustment_ref", "ref_type", "ref_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sku_id: Mapped[int] = mapped_column(ForeignKey("sku.id"))
    kind: Mapped[ValueAdjustmentKind] = mapped_column(_enum(ValueAdjustmentKind))
    amount: Mapped[Decimal] = mapped_column(Money())
    quantity: Mapped[int] = mapped_column(Integer)
    cost_before: Mapped[Decimal | None] = mapped_column(Money())
    cost_after: Mapped[Decimal | None] = mapped_column(Money())
    ref_type: Mapped[str] = mapped_column(String(40))
    ref_id: Mapped[int] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    note: Mapped[str | None] = mapped_column(String(500))

    sku: Mapped[Sku] = relationship()
    actor: Mapped[User | None] = relationship()


@event.listens_for(ValueAdjustment, "before_update")
def _deny_value_update(mapper, connection, target):
    raise LedgerImmutable(_("Value adjustment %(id)s is posted and cannot be changed; post a "
                            "correcting adjustment instead.", id=target.id))


@event.listens_for(ValueAdjustment, "before_delete")
def _deny_value_delete(mapper, connection, target):
    raise LedgerImmutable(_("Value adjustment %(id)s is posted and cannot be deleted; post a "
                            "correcting adjustment instead.", id=target.id))
