"""Packing checks: the weighed weight against the expected one, and the boxes a parcel uses up.

**Weight.** A parcel's expected weight is its goods' catalog weights plus its box's tare. When
the weighed weight differs from it by more than the tolerance (settings
``pack_weight_tolerance_g`` and ``pack_weight_tolerance_pct``: the larger of the two allowances
applies), closing is refused with "weight differs by X g, recount" unless the packer confirms an
override, which is audited (``customer_order.weight_override``).

**Boxes.** A box (or mailer) may name its stock SKU (``Box.sku_id``). Each closed parcel
consumes one unit of it through the ledger: a ``ship`` move (the carton leaves with the parcel)
from a bin of the packing station's warehouse (else the order's) to the customer, referencing
the parcel, taken from a packing location first, then from a storage bin with free stock and no
open count (:mod:`erp.warehouse.services.supplies`). So the box SKU's stock goes down as parcels
close, and replenishment (reorder point and quantity on the box SKU) buys more.

When no bin of the warehouse has a free unit of the box SKU, the parcel still closes: the
packer is holding the carton, the count is what is wrong. The ledger never goes negative, so
nothing moves; a ``parcel.box_shortfall`` audit event records the parcel, box and SKU, for
the warehouse to count and correct the stock. A voided parcel does not give its box back (the
carton is opened and used; packing again takes another).

**Customs review.** A parcel holding products whose customs data nobody confirmed, or that
changed since it was confirmed (:mod:`erp.catalog.cn_customs`), is named on the packing screen
(:func:`customs_review_warning`); with the setting ``customs_review_at_packing`` = ``refuse``
closing it is refused (:func:`check_customs_review`) until they are confirmed in Catalog ›
Customs review.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from erp.core import audit
from erp.core import settings as core_settings
from erp.core.i18n import _, format_number
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping.errors import ShippingError
from erp.shipping.models import Box
from erp.warehouse.models import Location, LocationKind, MoveKind
from erp.warehouse.services import (
    MoveSpec,
    lock_levels,
    post_moves,
    supply_bins,
    take_supply,
    virtual_location,
)

#: the ``ref_type`` of the box moves
PARCEL_REF = "parcel"


# --------------------------------------------------------------------------- customs review


def _unreviewed(sku_ids: Iterable[int]) -> list[tuple[str, str]]:
    """Return ``(product code, state label)`` of the SKUs' products not confirmed as they are."""
    from erp.catalog.models import Product, Sku

    ids = sorted({int(i) for i in sku_ids})
    if not ids:
        return []
    products = dict(db.session.execute(
        select(Product.id, Product.code).join(Sku, Sku.product_id == Product.id)
        .where(Sku.id.in_(ids)).distinct()).all())
    return _unreviewed_of(products)


def _unreviewed_of(products: dict[int, str]) -> list[tuple[str, str]]:
    """Return ``(product code, state label)`` of the products (``{id: code}``) not confirmed."""
    from erp.catalog.cn_customs import unreviewed_products

    if not products:
        return []
    states = unreviewed_products(list(products))
    labels = {"unconfirmed": _("unconfirmed"), "changed": _("changed since confirmation")}
    return sorted((products[pid], labels[state]) for pid, state in states.items())


def _named(found: list[tuple[str, str]]) -> str:
    return ", ".join(f"{code} ({state})" for code, state in found)


def _warning(found: list[tuple[str, str]]) -> str | None:
    if not found:
        return None
    return _("The customs data of %(products)s is not confirmed; confirm it in Catalog › "
             "Customs review.", products=_named(found))


def customs_review_warning(sku_ids: Iterable[int]) -> str | None:
    """Return the packing screen's warning naming the products not confirmed, or None."""
    return _warning(_unreviewed(sku_ids))


def customs_review_warning_of(skus: Iterable) -> str | None:
    """Return :func:`customs_review_warning` for SKUs already loaded with their products.

    The packing screen has them (its lines'), so their products need no query of their own.
    """
    return _warning(_unreviewed_of({sku.product_id: sku.product.code for sku in skus}))


def check_customs_review(sku_ids: Iterable[int]) -> None:
    """Refuse a parcel of products not confirmed, when ``customs_review_at_packing`` says so.

    :raises ShippingError: naming the products and where to confirm them.
    """
    if core_settings.get("customs_review_at_packing") != "refuse":
        return
    found = _unreviewed(sku_ids)
    if found:
        raise ShippingError(_("This parcel cannot be closed: the customs data of %(products)s "
                              "is not confirmed. Confirm them in Catalog › Customs review, "
                              "then close the parcel again.", products=_named(found)),
                            field="code")


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
    return db.session.scalar(DEFAULT_WAREHOUSE)


#: the warehouse of the first active packing location: where an order naming none is packed
DEFAULT_WAREHOUSE = (select(Location.warehouse_id).where(
    Location.kind == LocationKind.packing, Location.active.is_(True))
    .order_by(Location.id).limit(1))


def _note(box_code: str, number: str) -> str:
    return f"box {box_code} for parcel {number}"


def consume_box(parcel_id: int, number: str, *, box_code: str, sku_id: int,
                warehouse_id: int | None, actor, customer_id: int | None = None) -> bool:
    """Take one unit of a box's stock SKU for a parcel, or record a shortfall; say if it moved.

    The one-parcel form of :func:`consume_boxes` (the bench, the single-item lane):
    :func:`~erp.warehouse.services.take_supply`, three statements. ``customer_id`` is the
    customer location's id when the caller read it already.
    """
    move = None
    if warehouse_id is not None:
        if customer_id is None:
            customer_id = virtual_location(LocationKind.customer).id
        move = take_supply(sku_id, warehouse_id, to_location_id=customer_id,
                           ref_type=PARCEL_REF, ref_id=parcel_id, note=_note(box_code, number),
                           actor=actor)
    if move is None:
        audit.record_many("parcel", "parcel.box_shortfall", [(parcel_id, number, {
            "box": box_code, "sku_id": sku_id, "warehouse_id": warehouse_id})], actor=actor)
    return move is not None


def consume_boxes(closed: Sequence[tuple[int, str, Box | None, CustomerOrder]], *,
                  actor, warehouse_id: int | None = None) -> int:
    """Take one unit of each closed parcel's box SKU out of stock; return the units moved.

    ``closed`` holds ``(parcel id, parcel number, box, order)``. Parcels without a box, or
    whose box names no SKU, use nothing. Units are taken from ``warehouse_id`` (the packing
    station's warehouse) when given, else from the order's warehouse (the first packing
    location's when the order names none): from its packing locations first, then its storage
    bins (:mod:`erp.warehouse.services.supplies`). A parcel for which no unit is free is
    recorded as a shortfall (see the module's docstring).
    """
    wanted = [(pid, number, box, order) for pid, number, box, order in closed
              if box is not None and box.sku_id is not None]
    if not wanted:
        return 0
    default_wh = None

    def warehouse_of(order) -> int | None:
        nonlocal default_wh
        if warehouse_id is not None:
            return warehouse_id
        if order.warehouse_id is not None:
            return order.warehouse_id
        default_wh = default_wh or _default_warehouse_id()
        return default_wh

    if len(wanted) == 1:
        pid, number, box, order = wanted[0]
        return int(consume_box(pid, number, box_code=box.code, sku_id=box.sku_id,
                               warehouse_id=warehouse_of(order), actor=actor))
    need: dict[tuple[int, int | None], list[tuple[int, str, Box]]] = defaultdict(list)
    for pid, number, box, order in wanted:
        need[(box.sku_id, warehouse_of(order))].append((pid, number, box))
    candidates = supply_bins({k[0] for k in need}, {k[1] for k in need if k[1] is not None})
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
                                  ref_type=PARCEL_REF, ref_id=pid, note=_note(box.code, number)))
    if specs:
        post_moves(specs, actor=actor)
    if short:
        audit.record_many("parcel", "parcel.box_shortfall", short, actor=actor)
    return len(specs)


__all__ = ["DEFAULT_WAREHOUSE", "PARCEL_REF", "WeightCheck", "WeightMismatch", "check_weight",
           "consume_box", "consume_boxes", "expected_weight_g", "tolerance", "weigh"]
