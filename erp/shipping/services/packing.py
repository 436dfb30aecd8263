"""Packing: scan an order's picked items at the bench and close them into parcels.

An order is packed while it is ``picking`` (its wave put the goods at the packing bench). Each
scanned unit is a :class:`PackScan` row without a parcel; closing a parcel takes the order's
unassigned scans, checks the service's limits, copies the customs lines from the catalog and
gives the parcel its number. When every unit of the order is in a closed parcel the order is
``packed``.

Per order line: ``picked`` units are those its pick tasks confirmed (every wave), ``scanned``
those scanned but not yet closed into a parcel, ``packed`` those in closed parcels (a voided
parcel's scans become unassigned again). A scan is refused when the SKU is not in the order, or
when every picked unit of it is already scanned (an extra item, or one not picked yet).

:func:`pack_orders` is the bulk path (the benchmark, and "pack everything" of a wave): it reads
what it needs in a few queries, draws the parcel numbers in one statement and flushes once.

Every change locks the order first (then reads its state and counts), so a hold or cancel
and a scan or close of the same order queue: the one that comes second sees the other's
outcome.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, insert, select, update
from sqlalchemy.orm import selectinload

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.locking import lock, lock_rows
from erp.core.models import Sequence as NumberSequence
from erp.core.models import utcnow
from erp.core.numbering import next_value
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services import fulfilment, mark_packed, merging
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    Box,
    PackScan,
    Parcel,
    ParcelLine,
    ParcelState,
    PickTask,
    PickWave,
    PickWaveOrder,
    ShippingService,
)
from erp.shipping.services import carriers, pack_checks, routing
from erp.shipping.services.customs import (
    CustomsContext,
    choose_customs_form,
    customs_line_values,
    declared_value,
    ioss_for,
    is_dutiable,
)
from erp.warehouse.services import find_sku

O = OrderState  # noqa: E741 - as in erp.orders.models
PARCEL_PREFIX = "PCL"
WAVE_SLOT_RE = re.compile(r"^\s*(WAVE-\d{4}-\d+)\s*/\s*(\d+)\s*$", re.IGNORECASE)
CHUNK = 900  # ids per IN list (SQLite's bound-parameter limit is far above)
MAX_WEIGHT_G = 1_000_000
MAX_SIDE_MM = 10_000


# --------------------------------------------------------------------------- finding the order


def packing_refusal(order: CustomerOrder) -> str | None:
    """Return why the order cannot be packed now (a message for the bench), or None."""
    if order.merged_into_id is not None:
        return _("Order %(order)s ships in one parcel with order %(primary)s: pack them together "
                 "under order %(primary)s.", order=order.number,
                 primary=order.merged_into.number)
    state = O(order.state)
    if state == O.picking:
        return None
    number = order.number
    if state == O.on_hold:
        if order.hold_reason:
            return _("Order %(order)s is on hold (%(reason)s): do not pack it; put the goods "
                     "aside and tell customer service.", order=number, reason=order.hold_reason)
        return _("Order %(order)s is on hold: do not pack it; put the goods aside and tell "
                 "customer service.", order=number)
    if state == O.cancelled:
        return _("Order %(order)s is cancelled: do not pack it; put the goods aside to go back "
                 "to stock.", order=number)
    if state == O.packed:
        return _("Order %(order)s is already packed; void one of its parcels to pack it again.",
                 order=number)
    if state in (O.shipped, O.delivered):
        return _("Order %(order)s is already %(state)s: do not pack it again.", order=number,
                 state=ORDER_STATES.label(state))
    if state == O.backordered:
        return _("Order %(order)s is backordered (short picked): keep its picked goods at the "
                 "bench until the rest is allocated and picked.", order=number)
    return _("Order %(order)s is %(state)s: it has not been picked in a wave yet, so it cannot "
             "be packed.", order=number, state=ORDER_STATES.label(state))


def check_packable(order: CustomerOrder) -> None:
    """Refuse an order that is not being picked (on hold, cancelled, packed...).

    :raises ShippingError: saying what to do with the goods.
    """
    message = packing_refusal(order)
    if message:
        raise ShippingError(message, field="order")


def find_order_for_packing(text: str) -> CustomerOrder:
    """Return the order scanned at the bench: its number, or ``WAVE-YYYY-NNNNNN/slot`` (tote).

    :raises ShippingError: if nothing matches, or the order may not be packed now.
    """
    value = (text or "").strip()
    if not value:
        raise ShippingError(_("Scan or type an order number or a tote (WAVE-…/slot)."),
                            field="order")
    match = WAVE_SLOT_RE.match(value)
    if match:
        wave_number, slot = match.group(1).upper(), int(match.group(2))
        order = db.session.scalar(
            select(CustomerOrder).join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
            .join(PickWave, PickWave.id == PickWaveOrder.wave_id)
            .where(PickWave.number == wave_number, PickWaveOrder.slot == slot))
        if order is None:
            raise ShippingError(_("Tote %(slot)s of wave %(wave)s holds no order; check the "
                                  "wave number and the slot.", slot=slot, wave=wave_number),
                                field="order")
    else:
        order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == value))
        if order is None:
            order = db.session.scalar(select(CustomerOrder).where(
                func.upper(CustomerOrder.number) == value.upper()).limit(1))
        if order is None:
            raise ShippingError(_('No order has the number "%(number)s".', number=value),
                                field="order")
    if order.merged_into_id is not None and O(order.state) == O.picking:
        order = order.merged_into  # a merge group is packed under its primary
    check_packable(order)
    return order


# --------------------------------------------------------------------------- what is where


@dataclass
class LineCounts:
    """Units of an order line at each step of packing."""

    picked: int = 0
    scanned: int = 0   # scanned, not yet in a parcel
    packed: int = 0    # in closed (not voided) parcels

    @property
    def to_scan(self) -> int:
        """Return the picked units not scanned yet."""
        return max(self.picked - self.scanned - self.packed, 0)


# --- merge groups (erp.orders.services.merging): one parcel for the primary and its members


def packing_group(order: CustomerOrder) -> list[CustomerOrder]:
    """Return the orders packed together with ``order``: itself, then those merged into it."""
    return [order, *merging.members_of([order.id], state=O.picking).get(order.id, [])]


def _group_lines(orders: Iterable[CustomerOrder]) -> list[CustomerOrderLine]:
    return [line for order in orders for line in order.lines]


def _goods_total(orders: Iterable[CustomerOrder]) -> Decimal:
    """Return the goods of the orders packed together: the IOSS consignment's value."""
    return sum((order.goods_total for order in orders), Decimal(0))


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def line_counts(order_ids: Iterable[int]) -> dict[int, LineCounts]:
    """Return ``{order line id: LineCounts}`` for the orders, in two queries per chunk."""
    out: dict[int, LineCounts] = defaultdict(LineCounts)
    for ids in _chunks(sorted(set(order_ids))):
        for line_id, picked in db.session.execute(
                select(PickTask.order_line_id, func.sum(PickTask.picked_qty))
                .where(PickTask.order_id.in_(ids)).group_by(PickTask.order_line_id)):
            out[line_id].picked = int(picked or 0)
        unassigned = PackScan.parcel_id.is_(None)
        for line_id, scanned, packed in db.session.execute(
                select(PackScan.order_line_id,
                       func.sum(case((unassigned, PackScan.quantity), else_=0)),
                       func.sum(case((unassigned, 0), else_=PackScan.quantity)))
                .where(PackScan.order_id.in_(ids)).group_by(PackScan.order_line_id)):
            out[line_id].scanned = int(scanned or 0)
            out[line_id].packed = int(packed or 0)
    return out


def packing_status(order: CustomerOrder, *,
                   group: list[CustomerOrder] | None = None) -> list[dict]:
    """Return one row per order line: ``line, sku, ordered, picked, scanned, packed, to_scan``.

    ``done`` is true when every ordered unit is scanned or packed. ``group`` is the order's
    :func:`packing_group` when the caller has it already.
    """
    group = packing_group(order) if group is None else group
    counts = line_counts([o.id for o in group])
    rows = []
    for line in _group_lines(group):
        c = counts.get(line.id, LineCounts())
        rows.append({"line": line, "sku": line.sku, "ordered": line.quantity,
                     "order": line.order if len(group) > 1 else None,
                     "picked": c.picked, "scanned": c.scanned, "packed": c.packed,
                     "to_scan": c.to_scan, "done": c.scanned + c.packed >= line.quantity})
    return rows


def unassigned_scans(order: CustomerOrder, *,
                     group: list[CustomerOrder] | None = None) -> list[PackScan]:
    """Return the order's scans not yet closed into a parcel (its merge group's), oldest first.

    ``group`` is the order's :func:`packing_group` when the caller has it already.
    """
    ids = [o.id for o in (packing_group(order) if group is None else group)]
    return list(db.session.scalars(select(PackScan).where(
        PackScan.order_id.in_(ids), PackScan.parcel_id.is_(None)).order_by(PackScan.id)))


def order_parcels(order: CustomerOrder) -> list[Parcel]:
    """Return the order's parcels (voided ones too), in sequence."""
    return list(db.session.scalars(select(Parcel).where(Parcel.order_id == order.id)
                                   .options(selectinload(Parcel.lines))
                                   .order_by(Parcel.sequence, Parcel.id)))


def _fully_packed(order: CustomerOrder, counts: Mapping[int, LineCounts]) -> bool:
    return all(counts.get(line.id, LineCounts()).packed >= line.quantity for line in order.lines)


def is_fully_packed(order: CustomerOrder) -> bool:
    """Return whether every unit of the order is in a closed parcel that is not voided."""
    return _group_packed(packing_group(order))


def _group_packed(group: list[CustomerOrder]) -> bool:
    counts = line_counts([o.id for o in group])
    return all(_fully_packed(o, counts) for o in group)


# --------------------------------------------------------------------------- scanning


def _quantity(value, *, field: str = "quantity") -> int:
    try:
        qty = int(value)
    except (TypeError, ValueError):
        raise ShippingError(_("The quantity must be a whole number, got %(value)s.",
                              value=repr(value)), field=field) from None
    if qty <= 0:
        raise ShippingError(_("The quantity must be at least 1."), field=field)
    return qty


def scan_item(order: CustomerOrder, code: str, *, actor, quantity: int = 1) -> PackScan:
    """Record ``quantity`` units of the SKU scanned (code or barcode) for the order.

    :raises ShippingError: loudly, when the SKU is unknown, not in the order, already scanned
        in full (an extra item) or not picked for the order; or the order may not be packed.
    """
    lock(order)
    check_packable(order)
    qty = _quantity(quantity)
    try:
        sku = find_sku(code, field="code")
    except ValidationError as err:
        raise ShippingError(_("%(error)s Put the item aside.", error=str(err)),
                            field="code") from None
    group = packing_group(order)
    lines = [line for line in _group_lines(group) if line.sku_id == sku.id]
    if not lines:
        raise ShippingError(_("SKU %(sku)s is not in order %(order)s: wrong item. Put it aside; "
                              "it belongs to another order.", sku=sku.code, order=order.number),
                            field="code")
    counts = line_counts([o.id for o in group])
    target = next((line for line in lines if counts[line.id].to_scan >= qty), None)
    if target is None:
        ordered = sum(line.quantity for line in lines)
        done = sum(counts[line.id].scanned + counts[line.id].packed for line in lines)
        picked = sum(counts[line.id].picked for line in lines)
        if done + qty > ordered:
            raise ShippingError(_("All %(ordered)s of SKU %(sku)s in order %(order)s are "
                                  "already scanned or packed: this one is extra. Put it aside.",
                                  ordered=ordered, sku=sku.code, order=order.number),
                                field="code")
        raise ShippingError(_("Only %(picked)s of %(ordered)s of SKU %(sku)s were picked for "
                              "order %(order)s and %(done)s are scanned: this one was not "
                              "picked for the order. Put it aside and check the pick.",
                              picked=picked, ordered=ordered, sku=sku.code, order=order.number,
                              done=done), field="code")
    scan = PackScan(order_id=target.order_id, order_line_id=target.id, sku_id=sku.id,
                    quantity=qty,
                    scanned_by_id=getattr(actor, "id", None))
    db.session.add(scan)
    db.session.flush()
    return scan


def unscan_item(order: CustomerOrder, code: str, *, actor, quantity: int = 1) -> int:
    """Take back ``quantity`` scanned units of a SKU not yet in a parcel (a scanning mistake).

    :returns: the units taken back.
    :raises ShippingError: if no unassigned scan of that SKU is left.
    """
    lock(order)
    check_packable(order)
    qty = _quantity(quantity)
    try:
        sku = find_sku(code, field="code")
    except ValidationError as err:
        raise ShippingError(str(err), field="code") from None
    scans = [s for s in unassigned_scans(order) if s.sku_id == sku.id]
    available = sum(s.quantity for s in scans)
    if available < qty:
        raise ShippingError(ngettext(
            "Only %(count)s unit of SKU %(sku)s is scanned and not in a parcel of order "
            "%(order)s; nothing to take back.",
            "Only %(count)s units of SKU %(sku)s are scanned and not in a parcel of order "
            "%(order)s; nothing to take back.", available, count=format_number(available),
            sku=sku.code, order=order.number), field="code")
    left = qty
    for scan in reversed(scans):  # newest first
        take = min(left, scan.quantity)
        if take == scan.quantity:
            db.session.delete(scan)
        else:
            scan.quantity -= take
        left -= take
        if not left:
            break
    audit.record(order, "customer_order.unscanned", actor=actor,
                 changes={"sku": sku.code, "quantity": qty})
    db.session.flush()
    return qty


def clear_scans(order: CustomerOrder, *, actor) -> int:
    """Drop every scan of the order not yet closed into a parcel; return the units dropped."""
    lock(order)
    scans = unassigned_scans(order)
    units = sum(s.quantity for s in scans)
    for scan in scans:
        db.session.delete(scan)
    if scans:
        audit.record(order, "customer_order.scans_cleared", actor=actor,
                     changes={"units": units})
    db.session.flush()
    return units


# --------------------------------------------------------------------------- closing parcels


#: what the parcel's measures are called in messages
_MEASURES = {"weight_g": _l("weight (g)"), "length_mm": _l("length (mm)"),
             "width_mm": _l("width (mm)"), "height_mm": _l("height (mm)")}


def _whole(value, *, field: str, maximum: int) -> int:
    """Return a whole measure of the parcel (``field`` names it in the messages)."""
    label = _MEASURES[field]
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ShippingError(_("Enter the parcel's %(measure)s as a whole number.",
                              measure=label), field=field) from None
    if number <= 0 or number > maximum:
        raise ShippingError(_("The parcel's %(measure)s must be between 1 and %(most)s.",
                              measure=label, most=format_number(maximum)), field=field)
    return number


def _dimensions(box: Box | None, length_mm, width_mm, height_mm) -> tuple[int, int, int]:
    given = [v for v in (length_mm, width_mm, height_mm) if v not in (None, "")]
    if given:
        if len(given) != 3:
            raise ShippingError(_("Enter all three dimensions (length, width, height in mm), "
                                  "or pick a box."), field="length_mm")
        return (_whole(length_mm, field="length_mm", maximum=MAX_SIDE_MM),
                _whole(width_mm, field="width_mm", maximum=MAX_SIDE_MM),
                _whole(height_mm, field="height_mm", maximum=MAX_SIDE_MM))
    if box is None:
        raise ShippingError(_("Pick a box or enter the parcel's dimensions."), field="box")
    return box.length_mm, box.width_mm, box.height_mm


def draw_parcel_numbers(count: int, *, on: date) -> list[str]:
    """Draw ``count`` consecutive parcel numbers ``PCL-YYYY-NNNNNN`` in two statements."""
    if count <= 0:
        return []
    name = f"{PARCEL_PREFIX}-{on.year}"
    last = next_value(name)  # creates the counter if new; the row stays locked from here
    if count > 1:
        last = db.session.execute(
            update(NumberSequence).where(NumberSequence.name == name)
            .values(last_value=NumberSequence.last_value + count - 1)
            .returning(NumberSequence.last_value)).scalar_one()
    return [f"{name}-{value:06d}" for value in range(last - count + 1, last + 1)]


def _next_sequences(order_ids: Sequence[int]) -> dict[int, int]:
    """Return ``{order id: highest sequence of its parcels not voided}``."""
    out: dict[int, int] = {}
    for ids in _chunks(order_ids):
        out.update(db.session.execute(
            select(Parcel.order_id, func.max(Parcel.sequence))
            .where(Parcel.order_id.in_(ids), Parcel.state != ParcelState.voided)
            .group_by(Parcel.order_id)).all())
    return out


@dataclass
class _Planned:
    """A parcel checked and ready to insert: column values, customs lines, scans to assign."""

    order: CustomerOrder
    values: dict
    lines: list[dict]
    new_scans: list[tuple[CustomerOrderLine, int]] = field(default_factory=list)
    open_scans: list[PackScan] = field(default_factory=list)


def plan_parcel(order: CustomerOrder, items: list[tuple[CustomerOrderLine, int]], *,
                 weight_g, box: Box | None, dims: tuple, service: ShippingService | None,
                 ctx: CustomsContext, actor, at, goods_total: Decimal | None = None,
                 router: routing.ParcelRouter | None = None) -> _Planned:
    """Check a parcel of ``items`` (limits, customs data) and return its values, unnumbered.

    ``items`` may hold lines of the orders merged into ``order`` (one parcel for the group);
    ``goods_total`` is then the group's goods, the IOSS consignment. Without a ``service``
    chosen by the packer, the shipping rules (``router``) choose one with the parcel's weight
    and box; the goods are checked against the service either way.

    Reads only attributes: the single-item lane passes the order, its line and SKU as rows
    read in one statement (:mod:`erp.shipping.services.lane_pack`), so both pack alike.
    """
    weight = _whole(weight_g, field="weight_g", maximum=MAX_WEIGHT_G)
    length, width, height = _dimensions(box, *dims)
    routed = None
    if service is None and router is not None:
        routed = router.route(order, [(line.sku_id, qty, line.unit_price) for line, qty in items],
                              weight_g=weight, dims=(length, width, height))
        if routed is not None:
            service = routed.service
    service = service or carriers.service_for_order(order)
    if router is not None:
        refusal = router.goods_refusal(service, [(line.sku_id, qty) for line, qty in items])
        if refusal:
            raise ShippingError(refusal, field="service")
    carriers.check_parcel_limits(service, weight_g=weight, length_mm=length, width_mm=width,
                                 height_mm=height)
    if service.requires_phone and not (order.phone or "").strip():
        raise ShippingError(_("%(service)s needs the addressee's phone number, and order "
                              "%(order)s has none; add it to the order or choose another "
                              "service.", service=service.name, order=order.number),
                            field="service")
    lines = customs_line_values(items, defaults=ctx.category_defaults())
    value = declared_value(lines)
    values = {
        "order_id": order.id, "service_id": service.id, "box_id": box.id if box else None,
        "state": ParcelState.packed.value, "weight_g": weight, "length_mm": length,
        "width_mm": width, "height_mm": height, "declared_value": value,
        "currency": order.currency,
        "customs_form": choose_customs_form(service, value, order.currency, weight, ctx.on,
                                            ctx=ctx).value,
        "customs_category": "sale_of_goods",
        "ioss_number": ioss_for(order, order.goods_total if goods_total is None else goods_total,
                                order.currency, ctx.on, ctx=ctx),
        "dutiable": is_dutiable(order.country, ctx=ctx),
        "packed_by_id": getattr(actor, "id", None), "packed_at": at}
    # "_service" and "_box" ride along for the audit event, "_route" for the packer; they are
    # no columns
    return _Planned(order, {**values, "_service": service, "_box": box, "_route": routed,
                            "_skus": {line.id: line.sku.code for line, _qty in items},
                            "_orders": sorted({line.order_id for line, _qty in items})}, lines)


def packed_event(plan: _Planned) -> dict:
    """Return the changes of a parcel's ``parcel.packed`` event (numbered and sequenced)."""
    v = plan.values
    skus = v["_skus"]
    merged = [n for n in _order_numbers(v["_orders"]) if n != plan.order.number]
    event = {"state": [None, ParcelState.packed.value], "order": plan.order.number,
             "service": v["_service"].code, "weight_g": v["weight_g"],
             "dimensions_mm": f"{v['length_mm']}x{v['width_mm']}x{v['height_mm']}",
             "box": v["_box"].code if v["_box"] else None,
             "declared_value": f"{v['declared_value']} {v['currency']}",
             "customs_form": v["customs_form"], "ioss": bool(v["ioss_number"]),
             "dutiable": v["dutiable"], "sequence": v["sequence"],
             "contents": {skus[ln["order_line_id"]]: ln["quantity"] for ln in plan.lines}}
    if merged:
        event["merged_orders"] = merged
    return event


def _insert(plans: list[_Planned], *, actor, at,
            box_warehouse_id: int | None = None) -> list[Parcel]:
    """Number, insert and audit the planned parcels; return them loaded, in plan order.

    Core statements (one executemany each for parcels, lines and scans), then one query that
    loads the parcels with their lines: far cheaper than the ORM unit of work for a wave.
    """
    day = at.date()
    sequences = _next_sequences([plan.order.id for plan in plans])
    for plan, number in zip(plans, draw_parcel_numbers(len(plans), on=day), strict=True):
        plan.values["number"] = number
        sequences[plan.order.id] = sequences.get(plan.order.id, 0) + 1
        plan.values["sequence"] = sequences[plan.order.id]
    columns = {c.name for c in Parcel.__table__.columns}
    db.session.flush()  # pending changes (open scans loaded) go first
    db.session.execute(insert(Parcel.__table__), [
        {k: v for k, v in plan.values.items() if k in columns} for plan in plans])
    numbers = [plan.values["number"] for plan in plans]
    ids: dict[str, int] = {}
    for chunk in _chunks(numbers):
        ids.update(db.session.execute(select(Parcel.number, Parcel.id)
                                      .where(Parcel.number.in_(chunk))).all())
    line_rows, scan_rows = [], []
    actor_id = getattr(actor, "id", None)
    for plan in plans:
        parcel_id = ids[plan.values["number"]]
        plan.values["id"] = parcel_id
        line_rows.extend({**ln, "parcel_id": parcel_id} for ln in plan.lines)
        scan_rows.extend({"order_id": line.order_id, "order_line_id": line.id,
                          "sku_id": line.sku_id, "quantity": qty, "parcel_id": parcel_id,
                          "scanned_by_id": actor_id, "scanned_at": at}
                         for line, qty in plan.new_scans)
        for scan in plan.open_scans:
            scan.parcel_id = parcel_id
    db.session.execute(insert(ParcelLine.__table__), line_rows)
    if scan_rows:
        db.session.execute(insert(PackScan.__table__), scan_rows)
    audit.record_many("parcel", "parcel.packed", [
        (plan.values["id"], plan.values["number"], packed_event(plan)) for plan in plans],
        actor=actor)
    # packing checks (issue 18): each parcel uses up one unit of its box's stock SKU
    pack_checks.consume_boxes([(plan.values["id"], plan.values["number"], plan.values["_box"],
                                plan.order) for plan in plans], actor=actor,
                              warehouse_id=box_warehouse_id)
    db.session.flush()
    loaded: dict[int, Parcel] = {}
    for chunk in _chunks([plan.values["id"] for plan in plans]):
        for parcel in db.session.scalars(select(Parcel).where(Parcel.id.in_(chunk)).options(
                selectinload(Parcel.lines))):
            loaded[parcel.id] = parcel
    return [loaded[plan.values["id"]] for plan in plans]


def close_parcel(order: CustomerOrder, *, weight_g: int, box: Box | None = None,
                 length_mm: int | None = None, width_mm: int | None = None,
                 height_mm: int | None = None, service: ShippingService | None = None,
                 actor, box_warehouse_id: int | None = None) -> Parcel:
    """Close the order's scanned, unassigned units into a parcel and return it.

    Dimensions come from ``box`` unless all three are given. The service is the one the order
    asks for unless given. When every unit of the order is then in a parcel, the order is
    packed. The box is taken out of stock in ``box_warehouse_id`` (the packing station's
    warehouse), else in the order's (:func:`pack_checks.consume_boxes`).

    :raises ShippingError: if nothing is scanned, a limit of the service is broken (naming it),
        the catalog lacks customs data for a SKU, an exchange rate is missing, or the order may
        not be packed.
    """
    lock(order)
    check_packable(order)
    scans = unassigned_scans(order)
    if not scans:
        raise ShippingError(_("Scan the items of this parcel of order %(order)s before closing "
                              "it.", order=order.number), field="code")
    pack_checks.check_customs_review(s.sku_id for s in scans)
    group = packing_group(order)
    by_line = {line.id: line for line in _group_lines(group)}
    at = utcnow()
    ctx = CustomsContext(at.date())
    router = routing.ParcelRouter([s.sku_id for s in scans], actor=actor,
                                  load_rules=service is None)
    plan = plan_parcel(order, [(by_line[s.order_line_id], s.quantity) for s in scans],
                        weight_g=weight_g, box=box, dims=(length_mm, width_mm, height_mm),
                        service=service, ctx=ctx, actor=actor, at=at,
                        goods_total=_goods_total(group), router=router)
    plan.open_scans = scans
    router.finish()
    parcel = _insert([plan], actor=actor, at=at, box_warehouse_id=box_warehouse_id)[0]
    route = plan.values["_route"]  # not a column: the packer's flash when it changed
    parcel.routing_notice = route.notice if route is not None else None
    if _group_packed(group):
        mark_packed(order, actor=actor)  # the orders merged into it are packed with it
    return parcel


def estimated_weight_g(order: CustomerOrder, box: Box | None,
                       lines: Iterable[CustomerOrderLine] | None = None) -> int:
    """Return the catalog weight of the order's goods plus the box's tare (at least 1 g).

    ``lines`` are those of the whole parcel when other orders are merged into it.
    """
    lines = order.lines if lines is None else lines
    goods = sum(int(line.sku.weight_g or 0) * line.quantity for line in lines)
    return max(goods + (box.tare_g if box else 0), 1)


def pack_orders(orders: Iterable[CustomerOrder], *, box: Box | None, actor,
                weights: Mapping[int, int] | None = None,
                service: ShippingService | None = None,
                box_warehouse_id: int | None = None) -> list[Parcel]:
    """Pack each order's picked, unpacked units into one parcel (scan everything and close).

    ``weights`` maps order ids to the weighed grams; an order without one gets
    :func:`estimated_weight_g`. All or nothing: the first refusal raises before anything is
    written. Orders whose every unit is then packed become packed. ``box_warehouse_id`` (the
    packing station's warehouse) is where the boxes are taken from, else each order's.

    :raises ShippingError: naming the order, as :func:`close_parcel` does, or when an order has
        nothing at the bench to pack.
    """
    orders = list(dict.fromkeys(orders))
    if not orders:
        return []
    ids = [order.id for order in orders]
    # the orders locked in id order; one whose state changed since it was loaded is re-read
    current = lock_rows(CustomerOrder, ids, CustomerOrder.state, CustomerOrder.hold_reason)
    for order in orders:
        if (order.state, order.hold_reason) != tuple(current[order.id][1:]):
            db.session.refresh(order)
        check_packable(order)
    groups = _merged_into(orders)
    primary_of = {m.id: order_id for order_id, members in groups.items() for m in members}
    all_ids = ids + sorted(primary_of)
    for chunk in _chunks(all_ids):  # lines, SKUs and products in a few queries
        db.session.scalars(select(CustomerOrder).where(CustomerOrder.id.in_(chunk)).options(
            selectinload(CustomerOrder.lines).selectinload(CustomerOrderLine.sku)
            .selectinload(Sku.product))).all()
    counts = line_counts(all_ids)
    pack_checks.check_customs_review(line.sku_id for order in orders for line in order.lines)
    open_scans: dict[int, list[PackScan]] = defaultdict(list)
    for chunk in _chunks(all_ids):
        for scan in db.session.scalars(select(PackScan).where(
                PackScan.order_id.in_(chunk), PackScan.parcel_id.is_(None))):
            open_scans[primary_of.get(scan.order_id, scan.order_id)].append(scan)
    at = utcnow()
    ctx = CustomsContext(at.date())
    services: dict[tuple, ShippingService] = {}
    weights = weights or {}
    plans: list[_Planned] = []
    router = routing.ParcelRouter(
        [line.sku_id for order in orders
         for line in _group_lines([order, *groups.get(order.id, [])])],
        actor=actor, load_rules=service is None)
    for order in orders:
        items, new = [], []
        group = [order, *groups.get(order.id, [])]
        for line in _group_lines(group):
            c = counts[line.id]
            if c.scanned + c.to_scan:
                items.append((line, c.scanned + c.to_scan))
            if c.to_scan:
                new.append((line, c.to_scan))
        if not items:
            raise ShippingError(_("Order %(order)s has nothing at the bench to pack.",
                                  order=order.number))
        chosen = service
        if chosen is None and not router.active:  # else the rules choose, parcel by parcel
            key = (order.shipping_service, order.country)
            if key not in services:
                services[key] = carriers.service_for_order(order)
            chosen = services[key]
        plan = plan_parcel(order, items, weight_g=weights.get(order.id) or
                            estimated_weight_g(order, box, _group_lines(group)), box=box,
                            dims=(None, None, None), service=chosen, ctx=ctx, actor=actor,
                            at=at, goods_total=_goods_total(group), router=router)
        plan.new_scans, plan.open_scans = new, open_scans.get(order.id, [])
        plans.append(plan)
    router.finish()
    parcels = _insert(plans, actor=actor, at=at, box_warehouse_id=box_warehouse_id)
    for plan, parcel in zip(plans, parcels, strict=True):
        parcel.routing = plan.values["_route"]  # not a column: ``.notice`` says what changed
    # every picked unit is now packed: an order is done when every unit of it was picked
    _mark_packed([order for order in orders
                  if all(counts[line.id].picked >= line.quantity
                         for line in _group_lines([order, *groups.get(order.id, [])]))],
                 actor=actor)
    return parcels


def _merged_into(orders: list[CustomerOrder]) -> dict[int, list[CustomerOrder]]:
    """Return ``{order id: [orders merged into it, at the bench with it]}`` (locked)."""
    return merging.members_of([o.id for o in orders], state=O.picking, for_update=True)


def _order_numbers(ids: Sequence[int]) -> list[str]:
    if len(ids) < 2:
        return []
    return list(db.session.scalars(select(CustomerOrder.number)
                                   .where(CustomerOrder.id.in_(ids)).order_by(CustomerOrder.id)))


def _mark_packed(orders: list[CustomerOrder], *, actor) -> None:
    """Mark orders packed in one flush."""
    if orders:
        fulfilment.mark_packed_many(orders, actor=actor)


def pack_order(order: CustomerOrder, *, weight_g: int | None, box: Box | None, actor,
               service: ShippingService | None = None,
               box_warehouse_id: int | None = None) -> Parcel:
    """Scan every picked unit of the order not yet packed and close it into one parcel."""
    weights = {order.id: weight_g} if weight_g else None
    return pack_orders([order], box=box, actor=actor, weights=weights, service=service,
                       box_warehouse_id=box_warehouse_id)[0]
