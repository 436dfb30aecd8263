"""Pick waves: group allocated orders, pick them along the bins, report short picks.

A wave takes allocated orders (chosen by filters), puts them in ``picking`` and gives each a
slot (its tote). Its pick tasks are the orders' line reservations, one task per reservation,
in the bins' pick sequence. Confirming a pick releases that much of the reservation and posts a
``pick`` move from the bin to the wave's packing location; a short pick moves what was found,
releases the rest, sends the order back to allocation and opens a cycle count of the SKU in
that bin, so the phantom stock is counted instead of being reserved again.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime

from sqlalchemy import bindparam, func, insert, or_, select, update
from sqlalchemy.orm import aliased, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from erp.core import audit, numbering
from erp.core.errors import ValidationError
from erp.core.i18n import _, format_datetime, format_number, ngettext
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services import merging
from erp.orders.services.allocation import LINE_REF
from erp.orders.services.fulfilment import mark_picking, short_picked
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    PICK_TASK_LABELS,
    WAVE_STATES,
    PickTask,
    PickTaskState,
    PickWave,
    PickWaveOrder,
    WaveKind,
    WaveState,
)
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    CycleCount,
    CycleCountLine,
    Location,
    LocationKind,
    MoveKind,
    Reservation,
    Warehouse,
)
from erp.warehouse.services import (
    MoveSpec,
    find_bin,
    find_sku,
    open_count_for,
    open_cycle_count,
    post_moves,
    release,
    reservations_for,
)

#: the ``ref_type`` of the pick moves a wave posts
WAVE_REF = "pick_wave"
#: the most orders one wave may take
MAX_WAVE_ORDERS = 5000
T = PickTaskState
#: orders taken off the floor while picking: their tasks close without moving anything
_STOPPED = frozenset({OrderState.on_hold, OrderState.cancelled})


# --------------------------------------------------------------------------- choosing orders


@dataclass
class WaveFilters:
    """Which allocated orders a wave takes; ``None`` means any."""

    service_code: str | None = None
    country: str | None = None
    single_item: bool | None = None     # True: one unit in all; False: more than one unit
    placed_before: datetime | None = None   # the cut-off
    max_orders: int = 200
    #: the warehouse whose orders the wave takes; None: that of the first order waiting
    warehouse_id: int | None = None

    def to_json(self) -> str:
        """Return the filters as JSON (stored on the wave)."""
        data = asdict(self)
        if self.placed_before is not None:
            data["placed_before"] = self.placed_before.isoformat()
        return json.dumps(data, sort_keys=True)

    def describe(self) -> str:
        """Return the filters in words, for messages (in the reader's language)."""
        parts = []
        if self.service_code:
            parts.append(_("service %(code)s", code=self.service_code))
        if self.country:
            parts.append(_("country %(country)s", country=self.country))
        if self.single_item is not None:
            parts.append(_("single-item orders") if self.single_item
                         else _("multi-item orders"))
        if self.placed_before is not None:
            parts.append(_("placed before %(time)s",
                           time=format_datetime(self.placed_before)))
        if self.warehouse_id is not None:
            code = db.session.scalar(select(Warehouse.code)
                                     .where(Warehouse.id == self.warehouse_id))
            parts.append(_("warehouse %(code)s", code=code or self.warehouse_id))
        return _(", ").join(parts) or _("no filter")


def filters_from_json(text: str | None) -> WaveFilters:
    """Return the filters a wave was built with (empty filters for an unreadable value)."""
    try:
        data = json.loads(text or "{}")
        if data.get("placed_before"):
            data["placed_before"] = datetime.fromisoformat(data["placed_before"])
        return WaveFilters(**data)
    except (TypeError, ValueError):
        return WaveFilters()


def _clean(filters: WaveFilters) -> WaveFilters:
    max_orders = filters.max_orders
    if not isinstance(max_orders, int) or isinstance(max_orders, bool) \
            or not 0 < max_orders <= MAX_WAVE_ORDERS:
        raise ValidationError(_("A wave takes 1 to %(most)s orders, not %(value)s.",
                                most=format_number(MAX_WAVE_ORDERS), value=repr(max_orders)),
                              field="max_orders")
    country = (filters.country or "").strip().upper() or None
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise ValidationError(_('"%(country)s" is not a two-letter country code.',
                                country=filters.country), field="country")
    service = (filters.service_code or "").strip().upper() or None
    warehouse_id = filters.warehouse_id
    if warehouse_id is not None and db.session.get(Warehouse, warehouse_id) is None:
        raise ValidationError(_("Choose a warehouse from the list."), field="warehouse_id")
    return WaveFilters(service_code=service, country=country, single_item=filters.single_item,
                       placed_before=filters.placed_before, max_orders=max_orders,
                       warehouse_id=warehouse_id)


def _unfinished_wave_orders():
    return (select(PickWaveOrder.order_id).join(PickWave, PickWave.id == PickWaveOrder.wave_id)
            .where(PickWave.state != WaveState.done))


def _candidate_query(filters: WaveFilters):
    # an order merged into another comes with it (_with_merged), never on its own
    stmt = select(CustomerOrder).where(
        CustomerOrder.state == OrderState.allocated, CustomerOrder.merged_into_id.is_(None),
        CustomerOrder.id.not_in(_unfinished_wave_orders()))
    if filters.service_code:
        stmt = stmt.where(func.upper(CustomerOrder.shipping_service) == filters.service_code)
    if filters.country:
        stmt = stmt.where(CustomerOrder.country == filters.country)
    if filters.placed_before is not None:
        stmt = stmt.where(CustomerOrder.placed_at < filters.placed_before)
    if filters.warehouse_id is not None:
        stmt = stmt.where(CustomerOrder.warehouse_id == filters.warehouse_id)
    if filters.single_item is not None:
        units = _group_units()
        stmt = stmt.where(units == 1 if filters.single_item else units > 1)
    return stmt


def _group_units():
    """Return the correlated units of an order and of the orders merged into it (one parcel)."""
    merged = aliased(CustomerOrder)
    group = select(merged.id).where(merged.merged_into_id == CustomerOrder.id)
    return (select(func.coalesce(func.sum(CustomerOrderLine.quantity), 0))
            .where(or_(CustomerOrderLine.order_id == CustomerOrder.id,
                       CustomerOrderLine.order_id.in_(group)))
            .correlate(CustomerOrder).scalar_subquery())


def _with_merged(orders: list[CustomerOrder]) -> tuple[list[CustomerOrder], dict[int, int]]:
    """Return the wave's orders with the orders merged into each, and ``{member: primary}``.

    A merge group is picked into its primary's tote: only the primary gets a slot.
    """
    members = merging.members_of([o.id for o in orders], state=OrderState.allocated,
                                 for_update=True)
    if not members:
        return orders, {}
    db.session.scalars(select(CustomerOrder).where(CustomerOrder.id.in_(
        [m.id for group in members.values() for m in group]))
        .options(selectinload(CustomerOrder.lines))).all()
    out, primary_of = [], {}
    for order in orders:
        out.append(order)
        for member in members.get(order.id, ()):
            out.append(member)
            primary_of[member.id] = order.id
    return out, primary_of


def count_candidates(filters: WaveFilters) -> int:
    """Return how many orders match the filters (ignoring the wave's maximum): the preview."""
    filters = _clean(filters)
    return db.session.scalar(select(func.count()).select_from(
        _candidate_query(filters).subquery())) or 0


def wave_candidates(filters: WaveFilters, *, lock: bool = False) -> list[CustomerOrder]:
    """Return allocated orders not in an unfinished wave, highest priority then oldest first.

    :raises ValidationError: for a bad maximum or country.
    """
    filters = _clean(filters)
    stmt = (_candidate_query(filters)
            .order_by(CustomerOrder.priority.desc(), CustomerOrder.placed_at, CustomerOrder.id)
            .limit(filters.max_orders).options(selectinload(CustomerOrder.lines)))
    if lock:
        stmt = stmt.with_for_update(of=CustomerOrder)
    return list(db.session.scalars(stmt))


def packing_location(warehouse_id: int | None = None) -> Location:
    """Return the first active packing location (of the warehouse), where picked goods go.

    :raises ShippingError: if the warehouse has none.
    """
    stmt = select(Location).where(Location.kind == LocationKind.packing,
                                  Location.active.is_(True))
    if warehouse_id is not None:
        stmt = stmt.where(Location.warehouse_id == warehouse_id)
    location = db.session.scalar(stmt.order_by(Location.id).limit(1))
    if location is None and warehouse_id is not None:
        code = db.session.scalar(select(Warehouse.code).where(Warehouse.id == warehouse_id))
        raise ShippingError(_("To build a pick wave in warehouse %(code)s, you must set up a "
                              "packing location there (a bin of kind packing) for picked goods "
                              "to go to.", code=code))
    if location is None:
        raise ShippingError(_("To build a pick wave, you must set up a packing location (a bin "
                              "of kind packing) for picked goods to go to."))
    return location


# --------------------------------------------------------------------------- building


def _one_warehouse(filters: WaveFilters) -> WaveFilters:
    """Return the filters bound to one warehouse: a wave is picked in one building.

    Without a warehouse chosen, the wave takes the warehouse of the first order it would take.
    """
    if filters.warehouse_id is not None:
        return filters
    first = db.session.execute(
        _candidate_query(filters).with_only_columns(CustomerOrder.warehouse_id)
        .order_by(CustomerOrder.priority.desc(), CustomerOrder.placed_at, CustomerOrder.id)
        .limit(1)).first()
    if first is None or first.warehouse_id is None:
        return filters
    return replace(filters, warehouse_id=first.warehouse_id)


def build_wave(filters: WaveFilters, *, actor,
               kind: WaveKind | str = WaveKind.standard) -> PickWave:
    """Build a wave of the matching allocated orders; they go to picking.

    Each order gets a slot (1, 2, ... in the order taken); each reservation of its lines
    becomes a pick task whose sequence is its bin's pick sequence. A ``single_item`` wave
    takes only one-item orders (one line of one unit), whatever the filters say, and is
    packed at the single-item lane.

    :raises ShippingError: if no order matches, or there is no packing location.
    :raises ValidationError: for bad filters.
    """
    kind = WaveKind(kind)
    if kind == WaveKind.single_item:
        filters = replace(filters, single_item=True)
    filters = _one_warehouse(_clean(filters))
    location = packing_location(filters.warehouse_id)
    orders = wave_candidates(filters, lock=True)
    if not orders:
        raise ShippingError(_("No allocated order waiting for a wave matches these filters "
                              "(%(filters)s); change the filters or allocate orders first.",
                              filters=filters.describe()))
    wave = PickWave(number=numbering.next_number("WAVE"), state=WaveState.open, kind=kind,
                    filters=filters.to_json(), packing_location_id=location.id,
                    created_by_id=getattr(actor, "id", None))
    db.session.add(wave)
    db.session.flush()
    primaries = orders
    orders, _merged = _with_merged(orders)
    mark_picking(orders, actor=actor, wave=wave.number)
    db.session.execute(insert(PickWaveOrder.__table__), [
        {"wave_id": wave.id, "order_id": order.id, "slot": slot}
        for slot, order in enumerate(primaries, start=1)])
    line_order = {line.id: order.id for order in orders for line in order.lines}
    held: list[Reservation] = []
    ids = sorted(line_order)
    for start in range(0, len(ids), 5000):
        held.extend(reservations_for(LINE_REF, ids[start:start + 5000]))
    sequence = dict(db.session.execute(select(Location.id, Location.pick_sequence).where(
        Location.id.in_(sorted({r.location_id for r in held})))).all()) if held else {}
    rows = [{"wave_id": wave.id, "order_id": line_order[r.ref_id], "order_line_id": r.ref_id,
             "sku_id": r.sku_id, "location_id": r.location_id,
             "sequence": sequence[r.location_id], "quantity": r.quantity, "picked_qty": 0,
             "state": T.open.value} for r in held]
    if rows:
        db.session.execute(insert(PickTask.__table__), rows)
    db.session.expire(wave, ["orders", "tasks"])
    audit.record(wave, "pick_wave.created", actor=actor, changes={
        "filters": json.loads(wave.filters), "kind": kind.value, "orders": len(orders),
        "tasks": len(rows), "units": sum(r["quantity"] for r in rows),
        "packing_location": location.code})
    return wave


def start_wave(wave: PickWave, *, actor) -> PickWave:
    """Start picking a wave (open -> picking).

    :raises InvalidTransition: if the wave is not open.
    """
    lock(wave)  # the wave owns its state: two pickers pressing Start start it once
    transition(wave, WaveState.picking, machine=WAVE_STATES, actor=actor)
    wave.started_at = utcnow()
    db.session.flush()
    return wave


def _ensure_picking(wave: PickWave, action: str, *, actor) -> None:
    """Start an open wave on its first pick; refuse a finished one (the wave locked first).

    ``action`` is ``"pick"``, ``"confirm all picks"`` or ``"report a short pick"``.
    """
    lock(wave)
    if wave.state == WaveState.open:
        start_wave(wave, actor=actor)
    elif wave.state != WaveState.picking:
        names = {"wave": wave.number, "state": WAVE_STATES.label(wave.state)}
        if action == "confirm all picks":
            message = _('To confirm all picks in wave "%(wave)s", it must still be picking; it '
                        "is %(state)s.", **names)
        elif action == "report a short pick":
            message = _('To report a short pick in wave "%(wave)s", it must still be picking; '
                        "it is %(state)s.", **names)
        else:
            message = _('To pick in wave "%(wave)s", it must still be picking; it is '
                        "%(state)s.", **names)
        raise ShippingError(message)


def _ensure_open_task(task: PickTask, action: str) -> None:
    """Lock the task's row (two pickers on one task queue), re-read it, and check it is open.

    ``action`` is ``"confirm"`` or ``"report short"``.
    """
    db.session.flush()
    lock(task)
    if task.state != T.open:
        names = {"sku": task.sku.code, "bin": task.location.code, "order": task.order.number,
                 "state": PICK_TASK_LABELS[T(task.state)]}
        if action == "report short":
            message = _("To report short this task (SKU %(sku)s from bin %(bin)s for order "
                        "%(order)s), it must be open; it was already %(state)s.", **names)
        else:
            message = _("To confirm this task (SKU %(sku)s from bin %(bin)s for order "
                        "%(order)s), it must be open; it was already %(state)s.", **names)
        raise ShippingError(message)


# --------------------------------------------------------------------------- picking


def _frozen(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Return ``{(sku id, bin id): count number}`` of the keys an open cycle count freezes."""
    keys = sorted(set(keys))
    found: dict[tuple[int, int], str] = {}
    if not keys:
        return found
    sku_ids = sorted({k[0] for k in keys})
    loc_ids = sorted({k[1] for k in keys})
    rows = db.session.execute(
        select(CycleCountLine.sku_id, CycleCountLine.location_id, CycleCount.number)
        .join(CycleCount, CycleCount.id == CycleCountLine.count_id)
        .where(CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])),
               CycleCountLine.sku_id.in_(sku_ids), CycleCountLine.location_id.in_(loc_ids)))
    wanted = set(keys)
    for sku_id, loc_id, number in rows:
        if (sku_id, loc_id) in wanted:
            found[(sku_id, loc_id)] = number
    return found


def _frozen_error(task: PickTask, count_number: str) -> ShippingError:
    return ShippingError(_(
        "Bin %(bin)s is frozen for SKU %(sku)s by cycle count %(count)s (opened after a short "
        "pick). Leave the units there and report this task short with 0 found, or finish the "
        "count first.", bin=task.location.code, sku=task.sku.code, count=count_number))


def _release_for(needs: dict[tuple[int, int], int], *, actor) -> None:
    """Release ``qty`` units of the reservations of each ``(line id, bin id)``.

    Whole reservations go in one release call; a reservation taken in part is released alone.
    """
    if not needs:
        return
    by_key: dict[tuple[int, int], list[Reservation]] = defaultdict(list)
    for reservation in reservations_for(LINE_REF, sorted({k[0] for k in needs})):
        by_key[(reservation.ref_id, reservation.location_id)].append(reservation)
    whole: list[Reservation] = []
    partial: list[tuple[Reservation, int]] = []
    for key, qty in sorted(needs.items()):
        left = qty
        for reservation in by_key.get(key, ()):
            if left <= 0:
                break
            take = min(left, reservation.quantity)
            (whole.append(reservation) if take == reservation.quantity
             else partial.append((reservation, take)))
            left -= take
        if left > 0:
            raise ShippingError(_(
                "Order line %(line)s holds %(held)s reserved in that bin, not the %(qty)s to "
                "pick; the reservation changed since the wave was built. Report the task short "
                "and let allocation retry.", line=key[0], held=qty - left, qty=qty))
    release(whole, actor=actor)
    for reservation, take in partial:
        release([reservation], actor=actor, quantity=take)


def _post_picks(wave: PickWave, picks: Sequence[tuple[PickTask, int]], *, actor) -> None:
    """Release and move ``qty`` of each task's SKU from its bin to the packing location."""
    picks = [(task, qty) for task, qty in picks if qty > 0]
    if not picks:
        return
    needs: dict[tuple[int, int], int] = defaultdict(int)
    for task, qty in picks:
        needs[(task.order_line_id, task.location_id)] += qty
    _release_for(needs, actor=actor)
    post_moves([MoveSpec(task.sku_id, task.location_id, wave.packing_location_id, qty,
                         MoveKind.pick, ref_type=WAVE_REF, ref_id=wave.id,
                         note=f"wave {wave.number}") for task, qty in picks], actor=actor)


def _check_scan(task: PickTask, bin_code: str, sku_code: str) -> None:
    try:
        location = find_bin(bin_code, field="bin_code")
    except ValidationError as err:
        raise ShippingError(_("%(error)s Scan bin %(bin)s.", error=str(err),
                              bin=task.location.code), field="bin_code") from None
    if location.id != task.location_id:
        raise ShippingError(_("Wrong bin: you scanned %(scanned)s, but this task is in bin "
                              "%(bin)s. Go to bin %(bin)s and scan it.", scanned=location.code,
                              bin=task.location.code), field="bin_code")
    try:
        sku = find_sku(sku_code, field="sku_code")
    except ValidationError as err:
        raise ShippingError(_("%(error)s Scan SKU %(sku)s.", error=str(err),
                              sku=task.sku.code), field="sku_code") from None
    if sku.id != task.sku_id:
        raise ShippingError(_("Wrong item: you scanned SKU %(scanned)s, but this task takes SKU "
                              "%(sku)s from bin %(bin)s.", scanned=sku.code, sku=task.sku.code,
                              bin=task.location.code), field="sku_code")


def _check_qty(value, *, most: int, field: str, least: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise ValidationError(_("Enter a whole quantity from %(least)s to %(most)s, not "
                                "%(value)s.", least=least, most=most, value=repr(value)),
                              field=field)
    return value


def confirm_pick(task: PickTask, *, bin_code: str, sku_code: str, quantity: int | None = None,
                 actor) -> PickTask:
    """Confirm a pick by scan: the bin and SKU must be the task's; default the whole task.

    A quantity below what is left keeps the task open for the rest (or a short report).

    :raises ShippingError: for a wrong bin or SKU (naming what was expected), a closed task or
        wave, or a bin frozen by a cycle count.
    :raises ValidationError: for a bad quantity.
    """
    wave = task.wave
    _ensure_open_task(task, "confirm")
    if task.order.state in _STOPPED:
        raise ShippingError(_("Order %(order)s is %(state)s: leave SKU %(sku)s in bin %(bin)s "
                              "and report this task short with 0 found.",
                              order=task.order.number, state=ORDER_STATES.label(task.order.state),
                              sku=task.sku.code, bin=task.location.code))
    _check_scan(task, bin_code, sku_code)
    left = task.quantity - task.picked_qty
    qty = left if quantity is None else _check_qty(quantity, most=left, field="quantity")
    frozen = _frozen([(task.sku_id, task.location_id)])
    if frozen:
        raise _frozen_error(task, next(iter(frozen.values())))
    _ensure_picking(wave, "pick", actor=actor)
    _post_picks(wave, [(task, qty)], actor=actor)
    before = task.picked_qty
    task.picked_qty += qty
    if task.picked_qty == task.quantity:
        task.state = T.picked
    task.picked_by_id = getattr(actor, "id", None)
    task.picked_at = utcnow()
    db.session.flush()
    audit.record(task, f"pick_task.{'picked' if task.state == T.picked else 'part_picked'}",
                 actor=actor, changes={"wave": wave.number, "order": task.order.number,
                                       "sku": task.sku.code, "bin": task.location.code,
                                       "picked_qty": [before, task.picked_qty]})
    return task


def report_short(task: PickTask, *, found_qty: int, actor) -> PickTask:
    """Report that only ``found_qty`` of what is left of a task was in the bin.

    What was found goes to packing; the rest of the reservation is released, the line's
    allocation lowered and the order backordered (allocation retries it), and a cycle count of
    the SKU in that bin is opened unless one is open already.

    :raises ShippingError: for a closed task or wave, or found units in a frozen bin.
    :raises ValidationError: if ``found_qty`` is not below what is left to pick.
    """
    wave = task.wave
    _ensure_open_task(task, "report short")
    if task.order.state in _STOPPED:
        _ensure_picking(wave, "report a short pick", actor=actor)
        return _drop(task, found_qty, actor=actor)
    left = task.quantity - task.picked_qty
    found = _check_qty(found_qty, least=0, most=left - 1, field="found_qty")
    key = (task.sku_id, task.location_id)
    if found:
        frozen = _frozen([key])
        if frozen:
            raise _frozen_error(task, frozen[key])
    _ensure_picking(wave, "report a short pick", actor=actor)
    _post_picks(wave, [(task, found)], actor=actor)
    short = left - found
    _release_for({(task.order_line_id, task.location_id): short}, actor=actor)
    before = task.picked_qty
    task.picked_qty += found
    task.state = T.short
    task.picked_by_id = getattr(actor, "id", None)
    task.picked_at = utcnow()
    short_picked(task.order, {task.order_line: short}, actor=actor, wave=wave.number)
    count = open_count_for(*key)
    opened = None
    if count is None:
        location = task.location
        count = open_cycle_count(
            location.warehouse, location_ids=[location.id], sku_ids=[task.sku_id],
            note=f"Short pick in wave {wave.number}: SKU {task.sku.code} in bin "
                 f"{location.code}, {short} missing for order {task.order.number}.",
            actor=actor)
        opened = count.number
    db.session.flush()
    audit.record(task, "pick_task.short", actor=actor, changes={
        "wave": wave.number, "order": task.order.number, "sku": task.sku.code,
        "bin": task.location.code, "picked_qty": [before, task.picked_qty], "short": short,
        "cycle_count": count.number, "count_opened": bool(opened)})
    return task


def _drop(task: PickTask, found_qty: int, *, actor) -> PickTask:
    """Close the task of an order put on hold or cancelled while picking; nothing moves.

    Holding or cancelling released the order's reservations already; its goods stay in the bin.
    """
    if found_qty:
        raise ShippingError(_("Order %(order)s is %(state)s: leave SKU %(sku)s in bin %(bin)s "
                              "and report 0 found.", order=task.order.number,
                              state=ORDER_STATES.label(task.order.state), sku=task.sku.code,
                              bin=task.location.code), field="found_qty")
    task.state = T.short
    task.picked_by_id = getattr(actor, "id", None)
    task.picked_at = utcnow()
    db.session.flush()
    audit.record(task, "pick_task.dropped", actor=actor, changes={
        "wave": task.wave.number, "order": task.order.number,
        "order_state": task.order.state.value, "sku": task.sku.code,
        "bin": task.location.code, "not_picked": task.quantity - task.picked_qty})
    return task


def pick_all(wave: PickWave, *, actor) -> int:
    """Confirm every open task of a wave in full, in one posting; return how many.

    Tasks in a bin frozen by a cycle count are left open (report them short); tasks of orders
    put on hold or cancelled meanwhile are closed without moving anything. Starts an open wave.

    :raises ShippingError: if the wave is done.
    """
    _ensure_picking(wave, "confirm all picks", actor=actor)
    tasks = list(db.session.scalars(select(PickTask).where(
        PickTask.wave_id == wave.id, PickTask.state == T.open)
        .order_by(PickTask.id).with_for_update()
        .execution_options(populate_existing=True)))
    stopped_orders = set(db.session.scalars(select(CustomerOrder.id).where(
        CustomerOrder.id.in_(sorted({t.order_id for t in tasks})),
        CustomerOrder.state.in_(sorted(_STOPPED))))) if tasks else set()
    for task in [t for t in tasks if t.order_id in stopped_orders]:
        _drop(task, 0, actor=actor)
    frozen = _frozen((t.sku_id, t.location_id) for t in tasks)
    tasks = [t for t in tasks
             if (t.sku_id, t.location_id) not in frozen and t.order_id not in stopped_orders]
    if not tasks:
        return 0
    _post_picks(wave, [(t, t.quantity - t.picked_qty) for t in tasks], actor=actor)
    now, actor_id = utcnow(), getattr(actor, "id", None)
    table = PickTask.__table__
    db.session.execute(
        update(table).where(table.c.id == bindparam("task_id"))
        .values(picked_qty=bindparam("qty"), state=T.picked.value, picked_by_id=actor_id,
                picked_at=now),
        [{"task_id": t.id, "qty": t.quantity} for t in tasks])
    events = []
    for t in tasks:
        events.append((t.id, None, {"wave": wave.number, "picked_qty": [t.picked_qty,
                                                                         t.quantity]}))
        set_committed_value(t, "picked_qty", t.quantity)
        set_committed_value(t, "state", T.picked)
        set_committed_value(t, "picked_by_id", actor_id)
        set_committed_value(t, "picked_at", now)
    audit.record_many("pick_task", "pick_task.picked", events, actor=actor)
    audit.record(wave, "pick_wave.picked_all", actor=actor, changes={
        "tasks": len(tasks), "units": sum(t.quantity for t in tasks),
        "left_frozen": len(frozen)})
    return len(tasks)


def finish_wave(wave: PickWave, actor) -> PickWave:
    """Close a wave once no task is open (picking or open -> done).

    :raises ShippingError: while a task is open, naming how many and the first.
    """
    lock(wave)  # a second finish waits here, then finds the wave done
    first = db.session.scalar(select(PickTask).where(
        PickTask.wave_id == wave.id, PickTask.state == T.open)
        .order_by(PickTask.sequence, PickTask.id).limit(1))
    if first is not None:
        left = db.session.scalar(select(func.count()).select_from(PickTask).where(
            PickTask.wave_id == wave.id, PickTask.state == T.open))
        raise ShippingError(ngettext(
            'To finish wave "%(wave)s", you must pick or report short every task; %(count)s is '
            "still open (next: SKU %(sku)s from bin %(bin)s for order %(order)s).",
            'To finish wave "%(wave)s", you must pick or report short every task; %(count)s are '
            "still open (next: SKU %(sku)s from bin %(bin)s for order %(order)s).",
            left, count=format_number(left), wave=wave.number, sku=first.sku.code,
            bin=first.location.code, order=first.order.number))
    WAVE_STATES.check(wave, WaveState.done)
    tasks = db.session.execute(select(
        func.count(), func.coalesce(func.sum(PickTask.picked_qty), 0),
        func.coalesce(func.sum(PickTask.quantity), 0)).where(PickTask.wave_id == wave.id)).one()
    transition(wave, WaveState.done, machine=WAVE_STATES, actor=actor,
               changes={"tasks": tasks[0], "picked": int(tasks[1]),
                        "short": int(tasks[2]) - int(tasks[1])})
    wave.done_at = utcnow()
    db.session.flush()
    return wave


# --------------------------------------------------------------------------- reading


def next_task(wave: PickWave) -> PickTask | None:
    """Return the wave's next open task in pick sequence, or None."""
    return db.session.scalar(select(PickTask).where(
        PickTask.wave_id == wave.id, PickTask.state == T.open)
        .order_by(PickTask.sequence, PickTask.id).limit(1))


@dataclass
class WaveProgress:
    """Task and unit figures of a wave."""

    tasks: int = 0
    open: int = 0
    picked: int = 0
    short: int = 0
    units: int = 0
    units_picked: int = 0

    @property
    def percent(self) -> int:
        """Return the share of tasks closed (picked or short), 0-100."""
        return 100 if not self.tasks else round(100 * (self.tasks - self.open) / self.tasks)


def wave_progress(wave_ids: Sequence[int]) -> dict[int, WaveProgress]:
    """Return ``{wave id: WaveProgress}`` for the given waves, in one query."""
    out = {wave_id: WaveProgress() for wave_id in wave_ids}
    if not wave_ids:
        return out
    rows = db.session.execute(
        select(PickTask.wave_id, PickTask.state, func.count(), func.sum(PickTask.quantity),
               func.sum(PickTask.picked_qty))
        .where(PickTask.wave_id.in_(list(wave_ids)))
        .group_by(PickTask.wave_id, PickTask.state))
    for wave_id, state, n, units, picked in rows:
        progress = out[wave_id]
        progress.tasks += n
        setattr(progress, PickTaskState(state).value, n)
        progress.units += int(units or 0)
        progress.units_picked += int(picked or 0)
    return out


def wave_list_query(*, state: str | None = None, q: str | None = None):
    """Return the select of waves (newest first) with their order counts, for the list."""
    orders = (select(func.count()).where(PickWaveOrder.wave_id == PickWave.id)
              .correlate(PickWave).scalar_subquery())
    stmt = select(PickWave.id, PickWave.number, PickWave.state, PickWave.created_at,
                  PickWave.started_at, PickWave.done_at, PickWave.filters,
                  orders.label("order_count"))
    if state:
        stmt = stmt.where(PickWave.state == state)
    if q:
        stmt = stmt.where(PickWave.number.ilike(f"%{q}%"))
    return stmt.order_by(PickWave.created_at.desc(), PickWave.id.desc())


def wave_count_query(*, state: str | None = None, q: str | None = None):
    """Return the select of the number of waves the list shows."""
    stmt = select(func.count()).select_from(PickWave)
    if state:
        stmt = stmt.where(PickWave.state == state)
    if q:
        stmt = stmt.where(PickWave.number.ilike(f"%{q}%"))
    return stmt


def load_tasks(wave: PickWave) -> list[PickTask]:
    """Return the wave's tasks in pick sequence with their SKU, bin and order loaded."""
    return list(db.session.scalars(
        select(PickTask).where(PickTask.wave_id == wave.id)
        .order_by(PickTask.sequence, PickTask.id)
        .options(selectinload(PickTask.sku), selectinload(PickTask.location),
                 selectinload(PickTask.order))))


def slots_by_order(wave: PickWave) -> dict[int, int]:
    """Return ``{order id: slot}`` of the wave (an order merged into another: its primary's)."""
    slots = dict(db.session.execute(select(PickWaveOrder.order_id, PickWaveOrder.slot)
                                    .where(PickWaveOrder.wave_id == wave.id)).all())
    if slots:
        for primary_id, members in merging.members_of(slots).items():
            for member in members:
                slots.setdefault(member.id, slots[primary_id])
    return slots


__all__ = [
    "MAX_WAVE_ORDERS", "WAVE_REF", "WaveFilters", "WaveProgress", "build_wave",
    "confirm_pick", "count_candidates", "filters_from_json", "finish_wave", "load_tasks",
    "next_task", "packing_location", "pick_all", "report_short", "slots_by_order",
    "start_wave", "wave_candidates", "wave_count_query", "wave_list_query", "wave_progress",
]
