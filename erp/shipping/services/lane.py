"""The single-item lane and the packing stations.

**Single-item lane.** A wave of kind ``single_item`` holds only one-item orders (one line of
one unit). At its bench the packer scans items only: :func:`lane_scan` takes the oldest order
(placed first) of the wave for the scanned SKU that is picked and not yet packed, packs it
into the SKU's default box (:class:`SkuPacking`) at its default weight, or at the weight the
scale shows (checked against the expected weight, :mod:`pack_checks`), and labels it. The
common case goes the lean way of :mod:`lane_pack` (a dozen statements a scan); anything else
goes through the same :func:`packing.pack_order` and :func:`parcels.label_parcels` as the
packing station. Both give the same parcel, customs lines, box stock, tracking number, order
state and audit.

A scanner that repeats a scan posts the same form twice; the form's one-time key
(:mod:`erp.core.submissions`) answers the repeat without running it, so one physical item never
packs two orders. Two packers scanning the same SKU at once take different orders: the
candidate order is locked with ``SKIP LOCKED`` on PostgreSQL (SQLite serialises writers).

**Packing stations.** A packer works at a station (kept in the session). A station with
``close_on_last_item`` closes an order's parcel at the scan of its last item
(:func:`close_if_complete`) and labels it, with the box typed or scanned at the bench (or the
SKU's default box when the order holds one SKU) and the weight typed (or the expected weight).
A parcel closed at a station (the lane's too) takes its box from the station's warehouse.
"""

from __future__ import annotations

import re

from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    Box,
    PackingStation,
    PackScan,
    Parcel,
    PickTask,
    PickWave,
    PickWaveOrder,
    ShippingService,
    SkuPacking,
    WaveKind,
)
from erp.shipping.services import lane_pack, pack_checks, packing, parcels
from erp.shipping.services.boxes import box_by_code
from erp.warehouse.models import Warehouse
from erp.warehouse.services import find_sku

STATION_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{0,19}$")


# --------------------------------------------------------------------------- stations


def active_stations() -> list[PackingStation]:
    """Return the active packing stations by code."""
    return list(db.session.scalars(select(PackingStation).where(
        PackingStation.active.is_(True)).order_by(PackingStation.code)))


def create_station(*, code: str, name: str, warehouse: Warehouse,
                   close_on_last_item: bool = False, actor) -> PackingStation:
    """Create a packing station.

    :raises ValidationError: for a bad code or name.
    :raises ShippingError: if another station has the code.
    """
    code = (code or "").strip().upper()
    if not STATION_CODE_RE.match(code):
        raise ValidationError(_("%(code)s is not a station code: use 1-20 letters, digits, "
                                "'.', '-' or '_', e.g. PACK-1.", code=repr(code)), field="code")
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise ValidationError(_("A packing station needs a name of at most 80 characters."),
                              field="name")
    if db.session.scalar(select(PackingStation.id).where(PackingStation.code == code)):
        raise ShippingError(_('To create packing station "%(code)s", you must choose another '
                              "code: a station already uses it.", code=code), field="code")
    station = PackingStation(code=code, name=name, warehouse_id=warehouse.id,
                             close_on_last_item=bool(close_on_last_item), active=True)
    db.session.add(station)
    db.session.flush()
    audit.record(station, "packing_station.created", actor=actor, changes={
        "code": code, "name": name, "warehouse": warehouse.code,
        "close_on_last_item": station.close_on_last_item})
    return station


def set_close_on_last_item(station: PackingStation, value: bool, *, actor) -> PackingStation:
    """Turn the station's "close on the last item" setting on or off (audited once)."""
    value = bool(value)
    lock(station)  # read under the lock: two people setting it at once audit one change
    if station.close_on_last_item != value:
        audit.record(station, "packing_station.updated", actor=actor,
                     changes={"close_on_last_item": [station.close_on_last_item, value]})
        station.close_on_last_item = value
        db.session.flush()
    return station


# --------------------------------------------------------------------------- default boxes


def set_sku_packing(sku: Sku, box: Box, *, packed_weight_g: int | None = None,
                    actor) -> SkuPacking:
    """Set the box a SKU packs alone in (and its packed weight; empty = weight + tare)."""
    if packed_weight_g is not None and (not isinstance(packed_weight_g, int)
                                        or not 0 < packed_weight_g <= packing.MAX_WEIGHT_G):
        raise ValidationError(_("The packed weight must be a whole number of grams from 1 to "
                                "1,000,000."), field="packed_weight_g")
    row = db.session.get(SkuPacking, sku.id)
    before = (row.box.code, row.packed_weight_g) if row else (None, None)
    if row is None:
        row = SkuPacking(sku_id=sku.id, box_id=box.id, packed_weight_g=packed_weight_g)
        db.session.add(row)
    else:
        row.box_id, row.packed_weight_g = box.id, packed_weight_g
    db.session.flush()
    if before != (box.code, packed_weight_g):
        audit.record(sku, "sku.packing_set", actor=actor, changes={
            "box": [before[0], box.code], "packed_weight_g": [before[1], packed_weight_g]})
    return row


def set_box_sku(box: Box, sku: Sku | None, *, actor) -> Box:
    """Name the stock SKU a box is (each closed parcel in it uses up one unit), or none."""
    new = sku.id if sku is not None else None
    if box.sku_id != new:
        before = box.sku.code if box.sku is not None else None
        box.sku_id = new
        db.session.flush()
        db.session.expire(box, ["sku"])
        audit.record(box, "box.updated", actor=actor,
                     changes={"sku": [before, sku.code if sku is not None else None]})
    return box


def default_packing(sku: Sku) -> tuple[Box, int]:
    """Return the SKU's default box and the weight of it packed alone.

    :raises ShippingError: if the SKU has no default box.
    """
    row = db.session.scalar(select(SkuPacking).where(SkuPacking.sku_id == sku.id)
                            .options(selectinload(SkuPacking.box)))
    if row is None:
        raise ShippingError(_("SKU %(sku)s has no default box, so the lane cannot pack it: "
                              "put it aside for the packing station, or ask for its default "
                              "box to be set.", sku=sku.code), field="code")
    weight = row.packed_weight_g or pack_checks.expected_weight_g([(sku, 1)], row.box)
    return row.box, max(weight, 1)


# --------------------------------------------------------------------------- the lane


def _oldest_order(wave: PickWave, sku: Sku) -> CustomerOrder | None:
    """Lock and return the wave's oldest picked, unpacked order for ``sku`` (or None)."""
    picked = exists(select(PickTask.id).where(PickTask.order_line_id == CustomerOrderLine.id,
                                              PickTask.picked_qty > 0))
    return db.session.scalar(
        select(CustomerOrder)
        .join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
        .join(CustomerOrderLine, CustomerOrderLine.order_id == CustomerOrder.id)
        .where(PickWaveOrder.wave_id == wave.id, CustomerOrderLine.sku_id == sku.id,
               CustomerOrder.state == OrderState.picking, picked)
        .order_by(CustomerOrder.placed_at, CustomerOrder.id).limit(1)
        .with_for_update(of=CustomerOrder, skip_locked=True))


def lane_waiting(wave: PickWave) -> int:
    """Return how many orders of the wave are still to pack at the lane."""
    return db.session.scalar(
        select(func.count()).select_from(PickWaveOrder)
        .join(CustomerOrder, CustomerOrder.id == PickWaveOrder.order_id)
        .where(PickWaveOrder.wave_id == wave.id,
               CustomerOrder.state == OrderState.picking)) or 0


def _warehouse_of(station: PackingStation | None) -> int | None:
    return station.warehouse_id if station is not None else None


def lane_scan(wave: PickWave, code: str, *, actor, weight_g: int | None = None,
              override: bool = False, station: PackingStation | None = None) -> Parcel:
    """Pack and label the wave's oldest waiting order for the scanned item; return the parcel.

    ``weight_g`` is the scale's weight (checked against the expected weight; ``override``
    confirms a difference above the tolerance, audited); without it the SKU's default packed
    weight is used. The box is taken out of stock in the ``station``'s warehouse when the
    packer chose a station, else in the order's.

    :raises ShippingError: for a wave that is not single-item, an unknown SKU, a SKU no order
        of the wave waits for, a SKU without a default box, a weight outside the tolerance, or
        any refusal of packing or labelling.
    """
    if wave.kind != WaveKind.single_item:
        raise ShippingError(_("Wave %(wave)s is not a single-item wave: pack its orders at the "
                              "packing station.", wave=wave.number))
    parcel = lane_pack.pack_and_label(wave.id, code, actor=actor, weight_g=weight_g,
                                      override=override, warehouse_id=_warehouse_of(station))
    if parcel is not None:
        return parcel
    # the rare case, or a refusal to explain: the normal way (the order found is still locked)
    try:
        sku = find_sku(code, field="code")
    except ValidationError as err:
        raise ShippingError(_("%(error)s Put the item aside.", error=str(err)),
                            field="code") from None
    order = _oldest_order(wave, sku)
    if order is None:
        raise ShippingError(_("No order of wave %(wave)s waits for SKU %(sku)s: it is not in "
                              "the wave, or all its orders are packed. Put the item aside.",
                              wave=wave.number, sku=sku.code), field="code")
    box, weight = default_packing(sku)
    if weight_g:
        check = pack_checks.weigh(pack_checks.expected_weight_g([(sku, 1)], box), weight_g)
        pack_checks.check_weight(order, check, override=override, actor=actor)
        weight = weight_g
    parcel = packing.pack_order(order, weight_g=weight, box=box, actor=actor,
                                box_warehouse_id=_warehouse_of(station))
    route = getattr(parcel, "routing", None)  # not a column: the packer is told of a change
    notice = route.notice if route is not None else None
    parcels.label_parcels([parcel], actor=actor)
    parcel.routing_notice = notice
    return parcel


# --------------------------------------------------------------------------- the bench


def scanned_weight_g(order: CustomerOrder, box: Box | None, *,
                     group: list[CustomerOrder] | None = None) -> int:
    """Return the expected weight of the order's scanned, unassigned units in ``box``.

    ``group`` is the order's packing group when the caller has it already.
    """
    skus = {line.id: line.sku for line in order.lines}
    return pack_checks.expected_weight_g(
        [(skus[s.order_line_id], s.quantity)
         for s in packing.unassigned_scans(order, group=group)], box)


def close_checked(order: CustomerOrder, *, weight_g: int, box: Box | None = None,
                  length_mm: int | None = None, width_mm: int | None = None,
                  height_mm: int | None = None, service: ShippingService | None = None,
                  override: bool = False, station: PackingStation | None = None,
                  actor) -> Parcel:
    """Close the scanned units into a parcel (:func:`packing.close_parcel`), weight checked.

    The box is taken out of stock in the ``station``'s warehouse (else the order's).

    :raises WeightMismatch: when the weight is outside the tolerance and not ``override``.
    """
    lock(order)
    expected = scanned_weight_g(order, box)
    # the parcel's own checks (limits, customs) speak first; a refusal here rolls it back
    parcel = packing.close_parcel(order, weight_g=weight_g, box=box, length_mm=length_mm,
                                  width_mm=width_mm, height_mm=height_mm, service=service,
                                  actor=actor, box_warehouse_id=_warehouse_of(station))
    pack_checks.check_weight(order, pack_checks.weigh(expected, parcel.weight_g),
                             override=override, actor=actor)
    return parcel


def _bench_box(order: CustomerOrder, box_code: str | None) -> Box | None:
    if (box_code or "").strip():
        box = box_by_code(box_code)
        if box is None:
            raise ShippingError(_('No box has the code "%(code)s".', code=box_code.strip()),
                                field="box")
        return box
    sku_ids = {s.sku_id for s in db.session.scalars(select(PackScan).where(
        PackScan.order_id == order.id, PackScan.parcel_id.is_(None)))}
    if len(sku_ids) == 1:
        row = db.session.get(SkuPacking, next(iter(sku_ids)))
        return row.box if row else None
    return None


def close_if_complete(order: CustomerOrder, *, station: PackingStation | None,
                      box_code: str | None = None, weight_g: int | None = None,
                      override: bool = False, actor) -> Parcel | None:
    """At a station that closes on the last item: close and label once every unit is scanned.

    Returns the labelled parcel, or None when the station does not close on the last item,
    units are still to scan, or no box is known (typed, or the default box of the order's one
    SKU): then the packer closes the parcel by hand.

    :raises ShippingError: for an unknown box code, a weight outside the tolerance (not
        ``override``), or any refusal of closing or labelling.
    """
    if station is None or not station.close_on_last_item:
        return None
    rows = packing.packing_status(order)
    if not rows or not all(r["done"] for r in rows) or not any(r["scanned"] for r in rows):
        return None
    box = _bench_box(order, box_code)
    if box is None:
        return None
    expected = scanned_weight_g(order, box)
    parcel = close_checked(order, weight_g=weight_g or max(expected, 1), box=box,
                           override=override, station=station, actor=actor)
    parcels.label_parcels([parcel], actor=actor)
    return parcel


__all__ = ["active_stations", "close_checked", "close_if_complete", "create_station",
           "default_packing", "lane_scan", "lane_waiting", "scanned_weight_g", "set_box_sku",
           "set_close_on_last_item", "set_sku_packing"]
