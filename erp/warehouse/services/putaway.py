"""Put-away: goods that arrive in a receiving bin are moved on into storage bins.

Tasks are kept by the ledger itself (:func:`sync_putaway_tasks` runs inside every posting that
touches a receiving bin), so whatever brings goods in (a purchase receipt, a return, a
transfer) opens or grows a task, and the warehouse knows nothing of purchase orders.

One open task per (SKU, receiving bin): a second delivery of the same SKU into the same bin
adds to the open task rather than making another, so a scan of the SKU finds one task and the
home page counts what really waits. While a task is open, what it has left equals what the
bin holds of the SKU and can move; a move out of the bin by other means (a receipt reversal,
a transfer) shrinks the task, and closes it when nothing is left (done when part of it was put
away, else cancelled).

A task suggests a storage bin: the first bin in walking order of the same warehouse that
already holds the SKU, else the first empty bin in walking order of the zone where the product
(its other colours and sizes) is kept, else of the receiving bin's zone, else of the
warehouse. The zone is the first part of a bin code (``A`` of ``A-01-02-03``). Bins under an
open cycle count take nothing new until the count is decided.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import insert, select

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.warehouse import queries
from erp.warehouse.labels import kind_label, putaway_state_label
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    PUTAWAY_REF,
    PUTAWAY_STATES,
    CycleCount,
    CycleCountLine,
    Location,
    LocationKind,
    PutawayState,
    PutawayTask,
    StockLevel,
    StockMove,
    putaway_number,
)
from erp.warehouse.services.ledger import lock_levels, transfer
from erp.warehouse.services.locations import find_location
from erp.warehouse.services.lookups import find_sku

P = PutawayState
TASK_NUMBER_RE = re.compile(r"^PA-?0*(\d{1,12})$")
_INSERT_TASKS = insert(PutawayTask.__table__)


class PutawayError(DomainError):
    """A put-away rule refused the scan (wrong bin, too many units, task already done...)."""


# --------------------------------------------------------------------------- tasks from the ledger


def sync_putaway_tasks(waiting: Mapping[tuple[int, int], int],
                       warehouses: Mapping[tuple[int, int], int | None], *, actor,
                       at: datetime | None = None,
                       sku_codes: Mapping[int, str] | None = None) -> None:
    """Make the open tasks of (SKU, receiving bin) pairs match what waits there.

    Called by the ledger under the locks of those stock levels, so two postings into one bin
    never open two tasks.

    :param waiting: ``{(sku id, receiving bin id): units}`` the bin holds and can move now.
    :param warehouses: the warehouse of each pair's bin.
    :param sku_codes: the SKUs' codes, when the caller has them (for the audit trail).
    """
    at = at or utcnow()
    keys = sorted(waiting)
    # Two short IN lists rather than one of pairs: a receipt of many lines has one bin. Read
    # afresh (a copy loaded before the levels were locked may be stale).
    tasks = {(t.sku_id, t.from_location_id): t for t in db.session.scalars(
        select(PutawayTask).where(PutawayTask.state == P.open,
                                  PutawayTask.sku_id.in_({sku for sku, _ in keys}),
                                  PutawayTask.from_location_id.in_({loc for _, loc in keys}))
        .order_by(PutawayTask.id).execution_options(populate_existing=True))
        if (t.sku_id, t.from_location_id) in waiting}
    new = [key for key in keys if waiting[key] > 0 and key not in tasks
           and warehouses.get(key) is not None]
    grown = [key for key, task in tasks.items()
             if waiting[key] > task.left and task.suggested_location_id is None]
    suggested = suggest_bins([(*key, warehouses[key]) for key in new + grown])
    codes = dict(sku_codes) if sku_codes is not None else dict(db.session.execute(
        select(Sku.id, Sku.code).where(Sku.id.in_({key[0] for key in keys}))).all())
    for key, task in sorted(tasks.items()):
        _resize(task, waiting[key], suggested.get(key), codes[key[0]], actor=actor, at=at)
    if tasks:
        db.session.flush()  # the ledger writes with Core: keep no change pending in the ORM
    if not new:
        return
    # One executemany, then the ids read back by key (a key has one open task): RETURNING
    # would make SQLite insert row by row, and a receipt may carry a thousand lines.
    db.session.execute(_INSERT_TASKS, [
        {"sku_id": sku_id, "warehouse_id": warehouses[(sku_id, loc_id)],
         "from_location_id": loc_id, "suggested_location_id": suggested.get((sku_id, loc_id)),
         "quantity": waiting[(sku_id, loc_id)], "done_qty": 0, "state": P.open,
         "created_at": at} for sku_id, loc_id in new])
    locations = {loc_id for _, loc_id in new}
    skus = {sku_id for sku_id, _ in new}
    ids = {(sku_id, loc_id): ident for ident, sku_id, loc_id in db.session.execute(
        select(PutawayTask.id, PutawayTask.sku_id, PutawayTask.from_location_id).where(
            PutawayTask.state == P.open, PutawayTask.from_location_id.in_(locations),
            PutawayTask.sku_id.in_(skus)))}
    # One event for the posting's tasks, as the ledger writes one for its moves: a receipt of
    # a thousand lines would otherwise spend longer on audit rows than on the stock.
    first = min(ids[key] for key in new)
    audit.record_many(PutawayTask.__tablename__, "putaway_task.created", [(first, (
        putaway_number(first) if len(new) == 1 else
        f"{putaway_number(first)} and {len(new) - 1} more"), {
        "tasks": [{"task": ids[key], "sku": codes[key[0]], "from_location_id": key[1],
                   "quantity": waiting[key], "suggested_location_id": suggested.get(key)}
                  for key in new]})], actor=actor)


def _resize(task: PutawayTask, waiting: int, suggestion: int | None, sku_code: str, *, actor,
            at: datetime) -> None:
    """Grow or shrink an open task to ``waiting`` units left; close it at zero."""
    left = task.left
    if waiting == left and suggestion is None:
        return
    if waiting > 0:
        changes = {}
        if waiting != left:
            changes["quantity"] = [task.quantity, task.done_qty + waiting]
            task.quantity = task.done_qty + waiting
        if suggestion is not None:
            changes["suggested_location_id"] = [task.suggested_location_id, suggestion]
            task.suggested_location_id = suggestion
        audit.record(task, "putaway_task.updated", actor=actor, changes=changes)
        return
    # The goods left the receiving bin otherwise (reversed, transferred): nothing to put away.
    target = P.done if task.done_qty else P.cancelled
    transition(task, target, machine=PUTAWAY_STATES, actor=actor,
               changes={"left": [left, 0], "sku": sku_code},
               note="the stock left the receiving bin by another move")
    if target == P.done:
        task.done_at = at


def suggest_bins(needs) -> dict[tuple[int, int], int | None]:
    """Return ``{(sku id, receiving bin id): storage bin id or None}`` for put-away.

    :param needs: ``(sku id, receiving bin id, warehouse id)`` triples. See the module's
        docstring for the rules; two SKUs of one call are never sent to the same empty bin.
    """
    needs = sorted(set(needs))
    if not needs:
        return {}
    warehouse_ids = {wh for _, _, wh in needs}
    holders: dict[tuple[int, int], int] = {}
    for row in db.session.execute(queries.putaway_holders_query(
            {sku for sku, _bin, _wh in needs}, warehouse_ids)):
        holders.setdefault((row.sku_id, row.warehouse_id), row.location_id)
    result: dict[tuple[int, int], int | None] = {}
    missing = []
    for sku_id, loc_id, wh in needs:
        if (sku_id, wh) in holders:
            result[(sku_id, loc_id)] = holders[(sku_id, wh)]
        else:
            missing.append((sku_id, loc_id, wh))
    if not missing:
        return result
    products = dict(db.session.execute(select(Sku.id, Sku.product_id).where(
        Sku.id.in_({sku for sku, _, _ in missing}))).all())
    zones: dict[tuple[int, int], str] = {}
    for row in db.session.execute(queries.product_zones_query(set(products.values()),
                                                              warehouse_ids)):
        zones.setdefault((row.product_id, row.warehouse_id), queries.bin_zone(row.code))
    receiving = dict(db.session.execute(select(Location.id, Location.code).where(
        Location.id.in_({loc for _, loc, _ in missing}))).all())
    candidates: dict[tuple[int, str | None], list[int]] = {}
    taken: set[int] = set()
    for sku_id, loc_id, wh in missing:
        preferred = [zones.get((products[sku_id], wh)), queries.bin_zone(receiving[loc_id])]
        chosen = None
        for zone in [*dict.fromkeys(z for z in preferred if z), None]:
            if (wh, zone) not in candidates:
                candidates[(wh, zone)] = [row.id for row in db.session.execute(
                    queries.empty_storage_bins_query(wh, zone=zone, limit=len(missing)))]
            chosen = next((b for b in candidates[(wh, zone)] if b not in taken), None)
            if chosen is not None:
                break
        result[(sku_id, loc_id)] = chosen
        if chosen is not None:
            taken.add(chosen)
    return result


def sync_receiving_bins(*, actor) -> int:
    """Open, resize or close put-away tasks for every receiving bin; return how many pairs.

    The ledger keeps tasks as stock moves; this catches up stock that lay in receiving bins
    before put-away tasks existed (``erp putaway-sync``).
    """
    keys = {(sku_id, loc_id) for sku_id, loc_id in db.session.execute(
        select(StockLevel.sku_id, StockLevel.location_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Location.kind == LocationKind.receiving, StockLevel.on_hand > 0))}
    keys |= {(sku_id, loc_id) for sku_id, loc_id in db.session.execute(
        select(PutawayTask.sku_id, PutawayTask.from_location_id)
        .where(PutawayTask.state == P.open))}
    if not keys:
        return 0
    levels = lock_levels(keys)
    warehouses = dict(db.session.execute(select(Location.id, Location.warehouse_id).where(
        Location.id.in_({loc for _, loc in keys}))).all())
    sync_putaway_tasks({key: level.on_hand - level.reserved for key, level in levels.items()},
                       {key: warehouses[key[1]] for key in keys}, actor=actor)
    db.session.flush()
    return len(keys)


# --------------------------------------------------------------------------- the scanner screen


def find_putaway_task(text: str, *, field: str = "scan") -> PutawayTask:
    """Return the put-away task a scanner read: its number, or a SKU with one open task.

    The number reads ``PA-000123`` (``PA123`` too); a SKU is scanned by code or barcode.

    :raises ValidationError: if nothing was scanned, or no task or SKU has that number or code.
    :raises PutawayError: if the SKU has no open task, or waits in several receiving bins.
    """
    value = (text or "").strip()
    if not value:
        raise ValidationError(_("Scan a put-away task number, or the SKU's code or barcode."),
                              field=field)
    match = TASK_NUMBER_RE.match(value.upper())
    if match:
        task = db.session.get(PutawayTask, int(match.group(1)))
        if task is not None:
            return task
    try:
        sku = find_sku(value, field=field)
    except ValidationError:
        if match:
            raise ValidationError(_('No put-away task has the number "%(value)s".',
                                    value=value), field=field) from None
        raise
    tasks = db.session.scalars(select(PutawayTask).where(
        PutawayTask.sku_id == sku.id, PutawayTask.state == P.open)
        .order_by(PutawayTask.id)).all()
    if not tasks:
        raise PutawayError(_('SKU "%(sku)s" has no open put-away task: none of it waits in a '
                             "receiving bin.", sku=sku.code), field=field)
    if len(tasks) > 1:
        bins = ", ".join(_("%(task)s in %(bin)s", task=t.number, bin=t.from_location.label)
                           for t in tasks)
        raise PutawayError(_('SKU "%(sku)s" waits in several receiving bins (%(bins)s); scan '
                             "the task number instead.", sku=sku.code, bins=bins), field=field)
    return tasks[0]


def find_putaway_bin(text: str, task: PutawayTask, *, field: str = "bin") -> Location:
    """Return the bin scanned to put a task's goods into (``A-01-02-03`` or ``WH1/A-01-...``).

    A bare code is looked up in the task's warehouse.

    :raises ValidationError: if nothing was scanned, or no active bin has that code (an
        inactive one is named as such).
    """
    if not (text or "").strip():
        raise ValidationError(_("Scan the bin to put the goods into."), field=field)
    try:
        return find_location(text, warehouse=task.warehouse)
    except ValidationError as err:
        inactive = queries.inactive_bin_by_code(text)
        if inactive is None and "/" not in text:
            inactive = db.session.scalar(select(Location).where(
                Location.warehouse_id == task.warehouse_id,
                Location.code == text.strip().upper(), Location.active.is_(False)))
        if inactive is not None:
            raise PutawayError(_("To put away task %(task)s into bin %(bin)s, you must choose "
                                 "an active bin: this one is inactive.", task=task.number,
                                 bin=inactive.label), field=field) from None
        raise ValidationError(str(err), field=field) from None


def can_confirm_putaway(task: PutawayTask, actor=None) -> bool:
    """Return whether :func:`confirm_putaway` would accept the task's state."""
    return PUTAWAY_STATES.can(task.state, P.done)


def _check_target(task: PutawayTask, location: Location) -> None:
    """Refuse a bin that may not take the task's goods, naming why."""
    names = {"task": task.number, "bin": location.label}
    if location.warehouse_id != task.warehouse_id:
        raise PutawayError(_("To put away task %(task)s into bin %(bin)s, you must choose a bin "
                             "of warehouse %(warehouse)s, where the goods are.",
                             warehouse=task.warehouse.code, **names), field="bin")
    if location.kind != LocationKind.storage:
        raise PutawayError(_("To put away task %(task)s into bin %(bin)s, you must choose a "
                             "storage bin; this one is a %(kind)s bin.",
                             kind=kind_label(LocationKind(location.kind)), **names), field="bin")
    if not location.active:
        raise PutawayError(_("To put away task %(task)s into bin %(bin)s, you must choose an "
                             "active bin: this one is inactive.", **names), field="bin")
    count = db.session.scalar(
        select(CycleCount.number).join(CycleCountLine, CycleCountLine.count_id == CycleCount.id)
        .where(CycleCountLine.location_id == location.id,
               CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])))
        .limit(1))
    if count:
        raise PutawayError(_("To put away task %(task)s into bin %(bin)s, you must choose "
                             "another bin: it is frozen by cycle count %(count)s until that "
                             "count is decided.", count=count, **names), field="bin")


def confirm_putaway(task: PutawayTask, location: Location, quantity: int | None = None, *,
                    actor) -> StockMove:
    """Move a task's goods (all that is left, or ``quantity``) from receiving into ``location``.

    The stock moves through the ledger's transfer; the task is done once nothing is left.
    The stock levels and then the task are locked before anything is read, so a repeated scan
    finds the task done and moves nothing twice.

    :raises ValidationError: for a quantity that is not a whole number above zero.
    :raises PutawayError: if the bin is in another warehouse, not a storage bin, inactive or
        under an open count; if the task is done or cancelled; or if the quantity is more than
        the task has left.
    :raises StockError: if the receiving bin cannot give the units (e.g. reserved or frozen).
    """
    if quantity is not None and (not isinstance(quantity, int) or isinstance(quantity, bool)
                                 or quantity <= 0):
        raise ValidationError(_("To put away task %(task)s, you must give a whole quantity "
                                "above zero, or none for all that is left; got %(value)r.",
                                task=task.number, value=quantity), field="quantity")
    if not can_confirm_putaway(task, actor):  # read again under the lock below
        raise PutawayError(_("Put-away task %(task)s is %(state)s; nothing is left to put away.",
                             task=task.number, state=putaway_state_label(task.state)),
                           field="scan")
    _check_target(task, location)
    # The ledger takes level locks before it touches a task: lock in that order here too.
    lock_levels([(task.sku_id, task.from_location_id), (task.sku_id, location.id)])
    lock(task)
    if not can_confirm_putaway(task, actor):
        raise PutawayError(_("Put-away task %(task)s is %(state)s; nothing is left to put away.",
                             task=task.number, state=putaway_state_label(task.state)),
                           field="scan")
    left = task.left
    amount = left if quantity is None else quantity
    if amount > left:
        raise PutawayError(_('To put away %(amount)s of SKU "%(sku)s" with task %(task)s, you '
                             "must stay within what is left: %(left)s.", amount=amount,
                             sku=task.sku.code, task=task.number, left=left), field="quantity")
    move = transfer(task.sku, task.from_location, location, amount, actor=actor,
                    note=f"put-away {task.number}", ref_type=PUTAWAY_REF, ref_id=task.id)
    task.done_qty += amount
    changes = {"put_away": amount, "bin": location.label, "left": [left, left - amount]}
    if task.done_qty == task.quantity:
        transition(task, P.done, machine=PUTAWAY_STATES, actor=actor, changes=changes)
        task.done_at = utcnow()
        task.done_by_id = getattr(actor, "id", None)
    else:
        audit.record(task, "putaway_task.put_away", actor=actor, changes=changes)
    db.session.flush()
    return move
