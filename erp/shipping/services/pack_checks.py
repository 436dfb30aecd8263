"""Packing checks: the weighed weight against the expected one, and the boxes a parcel uses up.

**Weight.** A parcel's expected weight is its goods' catalog weights plus its box's tare. When
the weighed weight differs from it by more than the tolerance (settings
``pack_weight_tolerance_g`` and ``pack_weight_tolerance_pct``: the larger of the two allowances
applies), closing is refused with "weight differs by X g, recount" unless the packer confirms an
override, which is audited (``customer_order.weight_override``).

**Boxes.** A box (or mailer) may name its stock SKU (``Box.sku_id``). Each closed parcel
consumes one unit of it through the ledger: a ``ship`` move (the carton leaves with the parcel)
from a bin of the order's warehouse to the customer, referencing the parcel, taken from a
packing location first, then from any other bin with free stock. So the box SKU's stock goes
down as parcels close, and replenishment (reorder point and quantity on the box SKU) buys more.

When no bin of the warehouse has a free unit of the box SKU, the parcel still closes: the
packer is holding the carton, the count is what is wrong. The ledger never goes negative, so
nothing moves; a ``parcel.box_shortfall`` audit event records the parcel, box and SKU, for
the warehouse to count and correct the stock. A voided parcel does not give its box back (the
carton is opened and used; packing again takes another).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import case, select

from erp.core import audit
from erp.core import settings as core_settings
from erp.core.i18n import _, format_number
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping.errors import ShippingError
from erp.shipping.models import Box
from erp.warehouse.models import Location, LocationKind, MoveKind, StockLevel
from erp.warehouse.services import MoveSpec, lock_levels, post_moves, virtual_location

#: the ``ref_type`` of the box moves
PARCEL_REF = "parcel"


class WeightMismatch(ShippingError):
    """The weighed weight is outside the tolerance around the expected weight."""


# --------------------------------------------------------------------------- weight


@dataclass(frozen=True)
class WeightCheck:
    """The expected and weighed weights of a parcel and what the tolerance allows."""

    expected_g: int
    weighed_g: int
    allowed_g: int

    @property
    def difference_g(self) -> int:
        """Return weighed minus expected (negative: lighter than expected)."""
        return self.weighed_g - self.expected_g

    @property
    def ok(self) -> bool:
        """Return whether the difference is within the tolerance."""
        return abs(self.difference_g) <= self.allowed_g


def tolerance() -> tuple[Decimal, int]:
    """Return the weight tolerance settings: ``(percent, grams)``."""
    return (core_settings.get("pack_weight_tolerance_pct"),
            core_settings.get("pack_weight_tolerance_g"))


def expected_weight_g(items: Iterable[tuple[object, int]], box: Box | None) -> int:
    """Return the catalog weight of ``(sku, quantity)`` items plus the box's tare."""
    goods = sum(int(sku.weight_g or 0) * int(qty) for sku, qty in items)
    return goods + (box.tare_g if box is not None else 0)


def weigh(expected_g: int, weighed_g: int, *, limits: tuple[Decimal, int] | None = None
          ) -> WeightCheck:
    """Return the check of ``weighed_g`` against ``expected_g`` under the tolerance."""
    pct, grams = limits or tolerance()
    share = (Decimal(expected_g) * pct / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return WeightCheck(expected_g, int(weighed_g), max(int(grams), int(share)))


def check_weight(order: CustomerOrder, check: WeightCheck, *, override: bool, actor) -> None:
    """Refuse a weight outside the tolerance, or audit the packer's override of it.

    :raises WeightMismatch: "weight differs by X g, recount", unless ``override``.
    """
    if check.ok:
        return
    if not override:
        raise WeightMismatch(_(
            "The weight differs by %(diff)s g from the expected %(expected)s g (weighed "
            "%(weighed)s g, %(allowed)s g allowed): recount the items, or confirm the weight "
            "if it is right.", diff=format_number(check.difference_g),
            expected=format_number(check.expected_g), weighed=format_number(check.weighed_g),
            allowed=format_number(check.allowed_g)), field="weight_g")
    audit.record(order, "customer_order.weight_override", actor=actor, changes={
        "expected_g": check.expected_g, "weighed_g": check.weighed_g,
        "difference_g": check.difference_g, "allowed_g": check.allowed_g})


# --------------------------------------------------------------------------- boxes


def _default_warehouse_id() -> int | None:
    return db.session.scalar(select(Location.warehouse_id).where(
        Location.kind == LocationKind.packing, Location.active.is_(True))
        .order_by(Location.id).limit(1))


def consume_boxes(closed: Sequence[tuple[int, str, Box | None, CustomerOrder]], *,
                  actor) -> int:
    """Take one unit of each closed parcel's box SKU out of stock; return the units moved.

    ``closed`` holds ``(parcel id, parcel number, box, order)``. Parcels without a box, or
    whose box names no SKU, use nothing. Units are taken from the order's warehouse (the first
    packing location's when the order names none), packing locations first; a parcel for which
    no unit is free is recorded as a shortfall (see the module's docstring).
    """
    wanted = [(pid, number, box, order) for pid, number, box, order in closed
              if box is not None and box.sku_id is not None]
    if not wanted:
        return 0
    default_wh = None
    need: dict[tuple[int, int], list[tuple[int, str, Box]]] = defaultdict(list)
    for pid, number, box, order in wanted:
        wh = order.warehouse_id
        if wh is None:
            default_wh = default_wh or _default_warehouse_id()
            wh = default_wh
        need[(box.sku_id, wh)].append((pid, number, box))
    sku_ids = sorted({k[0] for k in need})
    wh_ids = sorted({k[1] for k in need if k[1] is not None})
    packing_first = case((Location.kind == LocationKind.packing, 0), else_=1)
    candidates = db.session.execute(
        select(StockLevel.sku_id, StockLevel.location_id, Location.warehouse_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(StockLevel.sku_id.in_(sku_ids), Location.warehouse_id.in_(wh_ids),
               Location.active.is_(True), StockLevel.on_hand > StockLevel.reserved)
        .order_by(StockLevel.sku_id, packing_first, Location.id)).all() if wh_ids else []
    levels = lock_levels([(r.sku_id, r.location_id) for r in candidates])  # read under lock
    free: dict[tuple[int, int], list[list]] = defaultdict(list)
    for r in candidates:
        level = levels[(r.sku_id, r.location_id)]
        if level.on_hand > level.reserved:
            free[(r.sku_id, r.warehouse_id)].append([r.location_id, level.on_hand - level.reserved])
    customer = virtual_location(LocationKind.customer)
    specs: list[MoveSpec] = []
    short: list[tuple[int, str, dict]] = []
    for (sku_id, wh), parcels in need.items():
        bins = free.get((sku_id, wh), [])
        for pid, number, box in parcels:
            while bins and bins[0][1] == 0:
                bins.pop(0)
            if not bins:
                short.append((pid, number, {"box": box.code, "sku_id": sku_id,
                                            "warehouse_id": wh}))
                continue
            bins[0][1] -= 1
            specs.append(MoveSpec(sku_id, bins[0][0], customer.id, 1, MoveKind.ship,
                                  ref_type=PARCEL_REF, ref_id=pid,
                                  note=f"box {box.code} for parcel {number}"))
    if specs:
        post_moves(specs, actor=actor)
    if short:
        audit.record_many("parcel", "parcel.box_shortfall", short, actor=actor)
    return len(specs)


__all__ = ["PARCEL_REF", "WeightCheck", "WeightMismatch", "check_weight", "consume_boxes",
           "expected_weight_g", "tolerance", "weigh"]
