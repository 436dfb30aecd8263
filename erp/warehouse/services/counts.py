"""Cycle counts: open a count over bins or SKUs, count (by hand, scanner or Excel), review, accept.

While a count is open or in review, the stock of its lines (each a SKU in a bin) is *frozen*:
:func:`~erp.warehouse.services.ledger.post_moves` refuses to move it. Accepting posts one
``count`` move per line whose counted quantity differs from the bin's on hand, between the bin
and the virtual inventory-adjustment location, in one posting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal

from sqlalchemy import and_, func, or_, select, tuple_

from erp.catalog.models import Sku
from erp.core import audit, numbering
from erp.core.errors import DomainError, PermissionDenied, ValidationError
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.locking import lock
from erp.core.models import Role, utcnow
from erp.core.states import transition
from erp.extensions import db
from erp.warehouse.labels import count_state_label
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    CycleCount,
    CycleCountLine,
    CycleCountState,
    Location,
    LocationKind,
    MoveKind,
    StockLevel,
    Warehouse,
)
from erp.warehouse.services.ledger import MoveSpec, lock_levels, post_moves, virtual_location
from erp.warehouse.services.locations import find_location
from erp.warehouse.services.lookups import find_sku

#: the ``ref_type`` of the moves an accepted count posts
COUNT_REF = "cycle_count"
#: a count is a walk through part of the warehouse; a larger one should be split
MAX_COUNT_LINES = 5_000
#: a typed scan or line quantity above this is taken for a mistyped barcode
MAX_COUNTED = 1_000_000

_SPLIT_RE = re.compile(r"[\s,;]+")


class CountError(DomainError):
    """A cycle count rule was broken (overlapping counts, uncounted lines, reserved stock...)."""


# --------------------------------------------------------------------------- choosing what to count


def bins_from_text(warehouse: Warehouse, text: str | None) -> list[Location]:
    """Return the bins of ``warehouse`` that a typed list names, in pick sequence.

    Items are separated by spaces, commas or new lines; each is a bin code (``A-01-02-03``), a
    range of codes (``A-01-01-01..A-01-02-04``, both ends included, in code order) or a prefix
    ending in ``*`` (``A-01-*``).

    :raises ValidationError: naming an item that matches no active bin of the warehouse.
    """
    ids: dict[int, Location] = {}
    for item in _items(text):
        upper = item.upper()
        stmt = select(Location).where(Location.warehouse_id == warehouse.id,
                                      Location.active.is_(True))
        if ".." in upper:
            low, high = (part.strip() for part in upper.split("..", 1))
            if not low or not high:
                raise ValidationError(_('The bin range "%(range)s" needs a code on both sides '
                                        'of "..", e.g. A-01-01-01..A-01-02-04.', range=item),
                                      field="bins")
            stmt = stmt.where(Location.code >= min(low, high), Location.code <= max(low, high))
        elif upper.endswith("*"):
            prefix = upper.rstrip("*")
            stmt = stmt.where(Location.code.startswith(prefix, autoescape=True))
        else:
            stmt = stmt.where(Location.code == upper)
        found = db.session.scalars(stmt).all()
        if not found:
            raise ValidationError(_('No active bin of warehouse %(warehouse)s matches '
                                    '"%(item)s".', warehouse=warehouse.code, item=item),
                                  field="bins")
        ids.update({loc.id: loc for loc in found
                    if not loc.is_virtual and loc.kind != LocationKind.in_transit})
    return sorted(ids.values(), key=lambda loc: (loc.pick_sequence, loc.code))


def skus_from_text(text: str | None) -> list[Sku]:
    """Return the SKUs a typed list names (codes or barcodes, separated by spaces or new lines).

    :raises ValidationError: naming the first code that matches no SKU.
    """
    skus: dict[int, Sku] = {}
    for item in _items(text):
        sku = find_sku(item, field="skus")
        skus[sku.id] = sku
    return list(skus.values())


def _items(text: str | None) -> list[str]:
    # "A..B" may be typed with spaces around the dots; join it back before splitting
    cleaned = re.sub(r"\s*\.\.\s*", "..", text or "")
    return [item for item in _SPLIT_RE.split(cleaned) if item]


# --------------------------------------------------------------------------- opening


def _frozen_elsewhere(keys: Iterable[tuple[int, int]], *, count_id: int | None
                      ) -> dict[tuple[int, int], str]:
    """Return ``{(sku id, bin id): count number}`` of the keys held by another open count."""
    keys = sorted(set(keys))
    if not keys:
        return {}
    stmt = (select(CycleCountLine.sku_id, CycleCountLine.location_id, CycleCount.number)
            .join(CycleCount, CycleCount.id == CycleCountLine.count_id)
            .where(CycleCount.state.in_(list(CYCLE_COUNT_STATES.groups["frozen"]))))
    if count_id is not None:
        stmt = stmt.where(CycleCount.id != count_id)
    found: dict[tuple[int, int], str] = {}
    # chunked: SQLite limits the number of bound parameters of one statement
    for start in range(0, len(keys), 400):
        chunk = keys[start:start + 400]
        rows = db.session.execute(stmt.where(
            tuple_(CycleCountLine.sku_id, CycleCountLine.location_id).in_(chunk))).all()
        found.update({(r.sku_id, r.location_id): r.number for r in rows})
    return found


def _describe_key(key: tuple[int, int]) -> str:
    sku = db.session.get(Sku, key[0])
    location = db.session.get(Location, key[1])
    return _('SKU "%(sku)s" in bin %(bin)s', sku=sku.code, bin=location.label)


def open_cycle_count(warehouse: Warehouse, *, location_ids: Iterable[int] | None = None,
                     sku_ids: Iterable[int] | None = None, note: str | None = None,
                     actor) -> CycleCount:
    """Open a count over chosen bins and/or SKUs of a warehouse, freezing their stock.

    Its lines are the stock levels that exist for the chosen bins (every SKU kept there), for
    the chosen SKUs (every bin of the warehouse holding them), or, when both are given, for the
    chosen SKUs in the chosen bins. Each line expects the bin's on hand at opening. Reserved
    stock may be counted.

    :raises ValidationError: if nothing is chosen, or a bin is virtual or in another warehouse.
    :raises CountError: if no stock level matches, the count would be too large, or a SKU in a
        bin is already in another open count.
    """
    location_ids = sorted(set(location_ids or ()))
    sku_ids = sorted(set(sku_ids or ()))
    if not location_ids and not sku_ids:
        raise ValidationError(_("To open a cycle count, you must choose some bins or SKUs."),
                              field="bins")
    if location_ids:
        bad = db.session.scalars(select(Location).where(
            Location.id.in_(location_ids),
            or_(Location.warehouse_id.is_(None), Location.warehouse_id != warehouse.id))).first()
        known = db.session.scalar(select(func.count()).select_from(Location)
                                  .where(Location.id.in_(location_ids)))
        if bad is not None or known != len(location_ids):
            what = bad.label if bad is not None else _("an unknown bin")
            raise ValidationError(_("To open a cycle count in %(warehouse)s, you must choose "
                                    "bins of that warehouse; %(bin)s is not one.",
                                    warehouse=warehouse.code, bin=what), field="bins")
    stmt = (select(StockLevel.sku_id, StockLevel.location_id)
            .join(Location, Location.id == StockLevel.location_id)
            .where(Location.warehouse_id == warehouse.id,
                   # goods in transit are counted by their transfer's receipt, not here
                   Location.kind != LocationKind.in_transit))
    if location_ids:
        stmt = stmt.where(StockLevel.location_id.in_(location_ids))
    if sku_ids:
        stmt = stmt.where(StockLevel.sku_id.in_(sku_ids))
    keys = sorted(tuple(row) for row in db.session.execute(stmt).all())
    if not keys:
        raise CountError(_("To open a cycle count in %(warehouse)s, you must choose bins or "
                           "SKUs that have stock levels there; none match.",
                           warehouse=warehouse.code), field="bins")
    if len(keys) > MAX_COUNT_LINES:
        raise CountError(_("To open a cycle count, you must choose at most %(most)s SKU-bin "
                           "lines; this choice has %(lines)s. Split it into smaller counts.",
                           most=format_number(MAX_COUNT_LINES), lines=format_number(len(keys))),
                         field="bins")
    # Lock first, then look for overlaps: a count opened at the same moment commits before
    # this one reads, so two counts can never hold the same SKU in the same bin.
    levels = lock_levels(keys)
    taken = _frozen_elsewhere(keys, count_id=None)
    if taken:
        key = sorted(taken)[0]
        if len(taken) > 1:
            raise CountError(ngettext(
                "To open this cycle count, you must first finish or cancel cycle count "
                "%(count)s: %(what)s (and %(num)d more) is already being counted there.",
                "To open this cycle count, you must first finish or cancel cycle count "
                "%(count)s: %(what)s (and %(num)d more) is already being counted there.",
                len(taken) - 1, count=taken[key], what=_describe_key(key)), field="bins")
        raise CountError(_("To open this cycle count, you must first finish or cancel cycle "
                           "count %(count)s: %(what)s is already being counted there.",
                           count=taken[key], what=_describe_key(key)), field="bins")
    count = CycleCount(number=numbering.next_number("CC"), warehouse_id=warehouse.id,
                       state=CycleCountState.open, note=(note or "").strip()[:500] or None,
                       created_by_id=getattr(actor, "id", None))
    db.session.add(count)
    db.session.flush()
    db.session.execute(CycleCountLine.__table__.insert(), [
        {"count_id": count.id, "sku_id": sku_id, "location_id": loc_id,
         "expected_qty": levels[(sku_id, loc_id)].on_hand} for sku_id, loc_id in keys])
    db.session.expire(count, ["lines"])
    audit.record(count, "cycle_count.opened", actor=actor, changes={
        "warehouse": warehouse.code, "lines": len(keys),
        "bins": len({loc for _, loc in keys}), "skus": len({sku for sku, _ in keys}),
        "chosen_bins": len(location_ids), "chosen_skus": len(sku_ids), "note": count.note})
    return count


# --------------------------------------------------------------------------- counting


def _lock_count(count: CycleCount, *, lines: bool = True) -> CycleCount:
    """Lock the count (the owner of its lines and its decision) and reload it after the lock.

    Every count service takes this lock before any stock level, so they queue in one order.
    With ``lines``, the count's lines are read again too: line objects loaded earlier in the
    transaction would otherwise keep the quantities they had then.
    """
    lock(count)
    if lines:
        db.session.scalars(select(CycleCountLine).where(CycleCountLine.count_id == count.id)
                           .execution_options(populate_existing=True)).all()
    return count


#: the refusal of each action on a count that is not open
_NOT_OPEN = {
    "count": _l('To count lines of cycle count "%(number)s", it must be open; it is '
                '"%(state)s".'),
    "add": _l('To add a line to cycle count "%(number)s", it must be open; it is "%(state)s".'),
    "scan": _l('To scan into cycle count "%(number)s", it must be open; it is "%(state)s".'),
}


def _ensure_open(count: CycleCount, action: str) -> None:
    if count.state != CycleCountState.open:
        raise CountError(str(_NOT_OPEN[action]) % {
            "number": count.number, "state": count_state_label(count.state)})


def _check_quantity(quantity, *, field: str = "counted_qty", allow_zero: bool = True) -> int:
    low = 0 if allow_zero else 1
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not \
            low <= quantity <= MAX_COUNTED:
        raise ValidationError(_("A counted quantity must be a whole number from %(low)s to "
                                "%(high)s, got %(value)r.", low=low,
                                high=format_number(MAX_COUNTED), value=quantity), field=field)
    return quantity


def _set_counted(line: CycleCountLine, quantity: int, actor) -> None:
    line.counted_qty = quantity
    line.counted_by_id = getattr(actor, "id", None)
    line.counted_at = utcnow()


def _line_ref(line: CycleCountLine) -> dict:
    return {"line": line.id, "sku": line.sku.code, "bin": line.location.label}


def record_count(line: CycleCountLine, counted_qty: int, *, actor) -> CycleCountLine:
    """Set the counted quantity of one line (replacing what was counted before).

    :raises CountError: if the count is not open.
    :raises ValidationError: for a negative or fractional quantity.
    """
    count = _lock_count(line.count, lines=False)
    db.session.refresh(line)
    _ensure_open(count, "count")
    return _record(line, _check_quantity(counted_qty), actor)


def _record(line: CycleCountLine, counted_qty: int, actor) -> CycleCountLine:
    """Set a line's counted quantity and audit the change (the count is locked and open)."""
    count = line.count
    before = line.counted_qty
    _set_counted(line, counted_qty, actor)
    db.session.flush()
    if before != counted_qty:
        audit.record(count, "cycle_count.line_counted", actor=actor,
                     changes={**_line_ref(line), "counted_qty": [before, counted_qty]})
    return line


def record_counts(count: CycleCount, quantities: Mapping[int, int], *, actor) -> int:
    """Set the counted quantities of several lines of one count (``{line id: quantity}``).

    All or nothing: every quantity is checked first. Returns how many lines changed.

    :raises CountError: if the count is not open.
    :raises ValidationError: for an unknown line or a bad quantity (naming the line).
    """
    _lock_count(count)
    _ensure_open(count, "count")
    lines = {line.id: line for line in count.lines}
    for line_id, quantity in quantities.items():
        line = lines.get(line_id)
        if line is None:
            raise ValidationError(_('Line %(line)s is not part of cycle count "%(number)s".',
                                    line=line_id, number=count.number), field="lines")
        try:
            _check_quantity(quantity)
        except ValidationError as err:
            raise ValidationError(_('SKU "%(sku)s" in bin %(bin)s: %(problem)s',
                                    sku=line.sku.code, bin=line.location.code, problem=err),
                                  field="lines") from None
    changed = 0
    for line_id, quantity in sorted(quantities.items()):
        if lines[line_id].counted_qty != quantity:
            _record(lines[line_id], quantity, actor)
            changed += 1
    return changed


def add_count_line(count: CycleCount, location: Location, sku: Sku, *, counted_qty: int | None,
                   actor) -> CycleCountLine:
    """Add a SKU found in a bin that the count did not list (an unexpected find).

    The line expects what the system holds there now (usually 0) and freezes it like the rest.

    :raises CountError: if the count is not open, already lists the SKU in that bin, or another
        open count holds it.
    :raises ValidationError: if the bin is virtual, inactive or in another warehouse.
    """
    _lock_count(count, lines=False)  # before the levels, as every count service
    _ensure_open(count, "add")
    if location.is_virtual or location.warehouse_id != count.warehouse_id or not location.active:
        raise ValidationError(_("%(bin)s is not an active bin of warehouse %(warehouse)s, where "
                                "cycle count %(number)s is.", bin=location.label,
                                warehouse=count.warehouse.code, number=count.number),
                              field="location")
    if counted_qty is not None:
        counted_qty = _check_quantity(counted_qty)
    key = (sku.id, location.id)
    # Counted in SQL: loading a count's thousands of lines for every unexpected find of an
    # import would cost more than the find.
    listed, size = db.session.execute(
        select(func.count().filter(CycleCountLine.sku_id == sku.id,
                                   CycleCountLine.location_id == location.id), func.count())
        .where(CycleCountLine.count_id == count.id)).one()
    if listed:
        raise CountError(_('Cycle count "%(number)s" already lists SKU "%(sku)s" in bin '
                           "%(bin)s; enter its quantity on that line.", number=count.number,
                           sku=sku.code, bin=location.code), field="sku")
    level = lock_levels([key])[key]
    taken = _frozen_elsewhere([key], count_id=count.id)
    if taken:
        raise CountError(_('To add SKU "%(sku)s" in bin %(bin)s to cycle count "%(number)s", '
                           "you must first finish or cancel cycle count %(other)s, which "
                           "counts it.", sku=sku.code, bin=location.label, number=count.number,
                           other=taken[key]), field="sku")
    if size >= MAX_COUNT_LINES:
        raise CountError(_('Cycle count "%(number)s" has %(most)s lines, the most a count may '
                           "have; open another count.", number=count.number,
                           most=format_number(MAX_COUNT_LINES)))
    line = CycleCountLine(count=count, sku=sku, location=location, expected_qty=level.on_hand)
    db.session.add(line)
    if counted_qty is not None:
        _set_counted(line, counted_qty, actor)
    db.session.flush()
    audit.record(count, "cycle_count.line_added", actor=actor, changes={
        **_line_ref(line), "expected_qty": line.expected_qty, "counted_qty": counted_qty})
    return line


def record_scan(count: CycleCount, bin_code: str, sku_code_or_barcode: str, qty: int = 1, *,
                actor) -> CycleCountLine:
    """Add a scanned quantity (1 per scan unless typed) to a SKU in a bin of an open count.

    A SKU the count does not list in that bin is added as an unexpected find.

    :raises CountError: if the count is not open, or another open count holds the SKU there.
    :raises ValidationError: for an unknown bin or SKU, or a bad quantity.
    """
    # Scans add up: lock the count, then read the line's total, so two scanners at once both
    # count.
    _lock_count(count, lines=False)
    _ensure_open(count, "scan")
    qty = _check_quantity(qty, field="qty")
    if not (bin_code or "").strip():
        raise ValidationError(_("Scan or type a bin code."), field="bin_code")
    try:
        location = find_location(bin_code, warehouse=count.warehouse)
    except ValidationError as err:
        raise ValidationError(str(err), field="bin_code") from None
    sku = find_sku(sku_code_or_barcode, field="sku_code")
    line = db.session.scalar(select(CycleCountLine).where(
        CycleCountLine.count_id == count.id, CycleCountLine.sku_id == sku.id,
        CycleCountLine.location_id == location.id).execution_options(populate_existing=True))
    if line is None:
        return add_count_line(count, location, sku, counted_qty=qty, actor=actor)
    before = line.counted_qty
    total = (before or 0) + qty
    _check_quantity(total, field="qty")
    _set_counted(line, total, actor)
    db.session.flush()
    audit.record(count, "cycle_count.scanned", actor=actor,
                 changes={**_line_ref(line), "qty": qty, "counted_qty": [before, total]})
    return line


# --------------------------------------------------------------------------- review and decision


#: the refusal of each decision to someone who is not a manager
_NOT_MANAGER = {
    "recount": _l('To send back for recount cycle count "%(number)s", you must be a manager.'),
    "accept": _l('To accept cycle count "%(number)s", you must be a manager.'),
}


def _check_manager(count: CycleCount, actor, action: str) -> None:
    roles = set(getattr(actor, "roles", None) or ())
    if not ({Role.manager, Role.admin} & roles):
        raise PermissionDenied(str(_NOT_MANAGER[action]) % {"number": count.number})


def submit_for_review(count: CycleCount, *, actor) -> CycleCount:
    """Send a fully counted count to the variance review (open -> review).

    :raises InvalidTransition: if the count is not open.
    :raises CountError: while any line is not counted.
    """
    _lock_count(count)
    CYCLE_COUNT_STATES.check(count, CycleCountState.review)
    missing = [line for line in count.lines if line.counted_qty is None]
    if missing:
        first = missing[0]
        raise CountError(ngettext(
            'To submit cycle count "%(number)s" for review, you must count every line: '
            '%(num)d of %(lines)d is not counted yet (first: SKU "%(sku)s" in bin %(bin)s).',
            'To submit cycle count "%(number)s" for review, you must count every line: '
            '%(num)d of %(lines)d are not counted yet (first: SKU "%(sku)s" in bin %(bin)s).',
            len(missing), number=count.number, lines=len(count.lines), sku=first.sku.code,
            bin=first.location.code))
    variances = [line for line in count.lines if line.variance]
    transition(count, CycleCountState.review, machine=CYCLE_COUNT_STATES, actor=actor,
               changes={"lines": len(count.lines), "lines_with_variance": len(variances)})
    db.session.flush()
    return count


def recount(count: CycleCount, line_ids: Iterable[int], *, actor,
            note: str | None = None) -> CycleCount:
    """Send chosen lines back to be counted again (review -> open), clearing their counts.

    :raises PermissionDenied: if the actor is not a manager or admin.
    :raises InvalidTransition: if the count is not in review.
    :raises ValidationError: if no line, or a line of another count, is chosen.
    """
    _check_manager(count, actor, "recount")
    _lock_count(count)
    CYCLE_COUNT_STATES.check(count, CycleCountState.open)
    wanted = set(line_ids)
    lines = [line for line in count.lines if line.id in wanted]
    if not wanted:
        raise ValidationError(_('To send cycle count "%(number)s" back for recount, you must '
                                "tick the lines to count again.", number=count.number),
                              field="line_ids")
    if len(lines) != len(wanted):
        raise ValidationError(_('Some ticked lines are not part of cycle count "%(number)s".',
                                number=count.number), field="line_ids")
    cleared = [{**_line_ref(line), "counted_qty": line.counted_qty} for line in lines]
    for line in lines:
        line.counted_qty = None
        line.counted_by_id = None
        line.counted_at = None
    transition(count, CycleCountState.open, machine=CYCLE_COUNT_STATES, actor=actor, note=note,
               changes={"recount": cleared})
    db.session.flush()
    return count


def count_variance(count: CycleCount) -> tuple[int, Decimal]:
    """Return the net variance of a count in units and its value at moving-average cost."""
    units, value = 0, Decimal(0)
    for line in count.lines:
        if line.variance:
            units += line.variance
            value += line.variance * (line.sku.avg_cost or Decimal(0))
    return units, value.quantize(Decimal("0.01"))


def accept_cycle_count(count: CycleCount, *, actor) -> CycleCount:
    """Accept a reviewed count: post its variances as adjustment moves (review -> accepted).

    Each line whose counted quantity differs from the bin's on hand gets one ``count`` move
    between the bin and the inventory-adjustment location, all in one posting that may move
    frozen stock (this count's own). Afterwards every counted bin holds what was counted.

    :raises PermissionDenied: if the actor is not a manager or admin.
    :raises InvalidTransition: if the count is not in review.
    :raises CountError: if a counted quantity is below what reservations hold in that bin.
    """
    _check_manager(count, actor, "accept")
    # The count owns its decision: lock it before its levels, then read its state and lines,
    # so a second acceptance (or a cancel) waits and is refused instead of posting again.
    _lock_count(count)
    CYCLE_COUNT_STATES.check(count, CycleCountState.accepted)
    keys = [(line.sku_id, line.location_id) for line in count.lines]
    levels = lock_levels(keys)
    for line in count.lines:
        level = levels[(line.sku_id, line.location_id)]
        if line.counted_qty is None:  # cannot happen after submit; guards a hand-made line
            raise CountError(_('To accept cycle count "%(number)s", every line must be '
                               'counted; SKU "%(sku)s" in bin %(bin)s is not.',
                               number=count.number, sku=line.sku.code, bin=line.location.code))
        if line.counted_qty < level.reserved:
            raise CountError(_(
                'To accept cycle count "%(number)s", SKU "%(sku)s" in bin %(bin)s needs at '
                "least %(reserved)s counted: that many are reserved, but %(counted)s were "
                "counted. Release or move the reservations, or send the line back for "
                "recount.", number=count.number, sku=line.sku.code, bin=line.location.label,
                reserved=level.reserved, counted=line.counted_qty))
    adjustment = virtual_location(LocationKind.adjustment)
    specs, drifted = [], []
    for line in sorted(count.lines, key=lambda ln: (ln.sku_id, ln.location_id)):
        on_hand = levels[(line.sku_id, line.location_id)].on_hand
        if on_hand != line.expected_qty:
            # Only a move allowed to touch frozen stock can cause this; the count still wins.
            drifted.append({**_line_ref(line), "expected_qty": line.expected_qty,
                            "on_hand": on_hand})
        delta = line.counted_qty - on_hand
        if delta:
            src, dst = (adjustment.id, line.location_id) if delta > 0 else \
                (line.location_id, adjustment.id)
            specs.append(MoveSpec(line.sku_id, src, dst, abs(delta), MoveKind.count,
                                  ref_type=COUNT_REF, ref_id=count.id,
                                  note=f"cycle count {count.number}"))
    units, value = count_variance(count)
    transition(count, CycleCountState.accepted, machine=CYCLE_COUNT_STATES, actor=actor,
               changes={"moves": len(specs), "variance_units": units, "variance_value": value,
                        **({"on_hand_changed": drifted} if drifted else {})})
    count.decided_by_id = getattr(actor, "id", None)
    count.decided_at = utcnow()
    post_moves(specs, actor=actor, allow_frozen=True)
    db.session.flush()
    return count


def cancel_cycle_count(count: CycleCount, *, actor, note: str | None = None) -> CycleCount:
    """Cancel an open or reviewed count; nothing moves and its stock is no longer frozen.

    :raises InvalidTransition: if the count is accepted or already cancelled.
    """
    _lock_count(count, lines=False)
    transition(count, CycleCountState.cancelled, machine=CYCLE_COUNT_STATES, actor=actor,
               note=(note or "").strip() or None)
    count.decided_by_id = getattr(actor, "id", None)
    count.decided_at = utcnow()
    db.session.flush()
    return count


def open_count_for(sku_id: int, location_id: int) -> CycleCount | None:
    """Return the open (or in review) count freezing a SKU in a bin, if any."""
    return db.session.scalar(
        select(CycleCount).join(CycleCountLine, and_(
            CycleCountLine.count_id == CycleCount.id, CycleCountLine.sku_id == sku_id,
            CycleCountLine.location_id == location_id))
        .where(CycleCount.state.in_(list(CYCLE_COUNT_STATES.groups["frozen"]))).limit(1))
