"""Transfers between warehouses: draft, pick, ship into transit, receive (or cancel a draft).

The goods are ledger stock at every step, so the ledger stays balanced and every unit is
somewhere:

- **pick** moves each line's units from its storage bin to the source warehouse's transfer
  staging bin (``TR-OUT``, a shipping bin made on demand): off the shelf, no longer allocatable;
- **ship** moves them from there to the destination's in-transit location (``IN-TRANSIT``,
  kind ``in_transit``, one per destination warehouse, made on demand): counted as in transit,
  never as available, and valued apart;
- **receive** moves what arrived from in transit into a receiving bin of the destination (the
  ledger opens put-away tasks for it); what did not arrive is written off to the adjustment
  location with the reason given, recorded on the line as a discrepancy.

Each action locks the transfer's row and reads its state under that lock, so a repeated
submission finds the state already changed and acts once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.numbering import next_number
from erp.core.states import transition
from erp.extensions import db
from erp.warehouse import queries
from erp.warehouse.models import (
    TRANSFER_REF,
    TRANSFER_STATES,
    Location,
    LocationKind,
    MoveKind,
    StockLevel,
    TransferLine,
    TransferOrder,
    TransferState,
    Warehouse,
)
from erp.warehouse.services.ledger import (
    MoveSpec,
    _insert_ignore,
    lock_levels,
    post_moves,
    virtual_location,
)
from erp.warehouse.services.lookups import find_sku

T = TransferState
#: the bin of a source warehouse that picked transfer goods wait in until shipped
STAGING_CODE = "TR-OUT"
#: the location of a destination warehouse that shipped transfer goods wait in
IN_TRANSIT_CODE = "IN-TRANSIT"
#: bins a transfer may take goods from
SOURCE_KINDS = frozenset({LocationKind.storage})
#: bins a transfer may be received into
RECEIVE_KINDS = frozenset({LocationKind.receiving, LocationKind.storage})
MAX_LINES = 500
MAX_CARTONS = 999


class TransferError(DomainError):
    """A transfer rule refused the action (same warehouse, too little stock, wrong state...)."""


@dataclass(frozen=True)
class TransferLineSpec:
    """A line to put on a new transfer: ``quantity`` of a SKU from one bin."""

    sku_id: int
    location_id: int
    quantity: int


# --------------------------------------------------------------------------- system locations


def _system_location(warehouse: Warehouse, code: str, kind: LocationKind) -> Location:
    """Return the warehouse's location ``code`` of ``kind``, made on first use.

    Made with an insert that ignores a concurrent twin, so two transfers shipped at once make
    one location.

    :raises TransferError: if a bin of that code but another kind exists (made by hand).
    """
    stmt = select(Location).where(Location.warehouse_id == warehouse.id, Location.code == code)
    location = db.session.scalar(stmt)
    if location is None:
        db.session.execute(_insert_ignore(Location.__table__, [{
            "warehouse_id": warehouse.id, "code": code, "kind": kind.value,
            "pick_sequence": 0, "active": True}]))
        location = db.session.scalar(stmt)
        audit.record(location, "location.created", actor=None, changes={
            "warehouse": warehouse.code, "code": [None, code], "kind": [None, kind.value],
            "pick_sequence": [None, 0]})
    if location.kind != kind:
        raise TransferError(_("Warehouse %(warehouse)s has a bin %(code)s that is not the "
                              "transfer location; rename that bin to go on.",
                              warehouse=warehouse.code, code=code))
    return location


def staging_location(warehouse: Warehouse) -> Location:
    """Return the bin of ``warehouse`` where picked transfer goods wait (made on demand)."""
    return _system_location(warehouse, STAGING_CODE, LocationKind.shipping)


def in_transit_location(warehouse: Warehouse) -> Location:
    """Return the in-transit location of destination ``warehouse`` (made on demand)."""
    return _system_location(warehouse, IN_TRANSIT_CODE, LocationKind.in_transit)


def default_receive_bin(warehouse: Warehouse) -> Location | None:
    """Return the first active receiving bin of ``warehouse`` in walking order, if any."""
    return db.session.scalar(
        select(Location).where(Location.warehouse_id == warehouse.id,
                               Location.kind == LocationKind.receiving,
                               Location.active.is_(True))
        .order_by(Location.pick_sequence, Location.code).limit(1))


# --------------------------------------------------------------------------- guards for screens


def can_pick(transfer: TransferOrder, actor=None) -> bool:
    """Return whether the transfer may be picked."""
    return TRANSFER_STATES.can(transfer.state, T.picked)


def can_ship(transfer: TransferOrder, actor=None) -> bool:
    """Return whether the transfer may be shipped."""
    return TRANSFER_STATES.can(transfer.state, T.shipped)


def can_receive(transfer: TransferOrder, actor=None) -> bool:
    """Return whether the transfer may be received."""
    return TRANSFER_STATES.can(transfer.state, T.received)


def can_cancel(transfer: TransferOrder, actor=None) -> bool:
    """Return whether the transfer may be cancelled (drafts only: nothing has moved)."""
    return TRANSFER_STATES.can(transfer.state, T.cancelled)


# --------------------------------------------------------------------------- creating


_LINE_RE = re.compile(r"[\s,;\t]+")


def lines_from_text(warehouse: Warehouse, text: str) -> list[TransferLineSpec]:
    """Return the lines typed or pasted one per row: ``SKU QUANTITY [BIN]``.

    The SKU is a code or barcode; without a bin, the units are taken from the storage bins of
    ``warehouse`` that have them available, in walking order.

    :raises ValidationError: naming the first row that cannot be read, or a SKU without enough
        available stock.
    """
    specs: list[TransferLineSpec] = []
    rows = [row.strip() for row in (text or "").splitlines()]
    rows = [(n, row) for n, row in enumerate(rows, start=1) if row]
    if not rows:
        raise ValidationError(_("Type one line per SKU: the SKU, the quantity and (optionally) "
                                "the bin to take it from."), field="lines")
    if len(rows) > MAX_LINES:
        raise ValidationError(_("A transfer has at most %(max)s lines.", max=MAX_LINES),
                              field="lines")
    for n, row in rows:
        parts = _LINE_RE.split(row)
        if len(parts) not in (2, 3) or not re.fullmatch(r"\d{1,9}", parts[1]):
            raise ValidationError(_('Line %(n)s ("%(row)s"): write the SKU, a whole quantity '
                                    "and optionally the bin, e.g. \"KB-01 12 A-01-01-01\".",
                                    n=n, row=row), field="lines")
        try:
            sku = find_sku(parts[0], field="lines")
        except ValidationError as err:
            raise ValidationError(_("Line %(n)s: %(problem)s", n=n, problem=str(err)),
                                  field="lines") from None
        quantity = int(parts[1])
        if quantity <= 0:
            raise ValidationError(_("Line %(n)s (SKU %(sku)s): the quantity must be above zero.",
                                    n=n, sku=sku.code), field="lines")
        if len(parts) == 3:
            location = _source_bin(warehouse, parts[2], n)
            specs.append(TransferLineSpec(sku.id, location.id, quantity))
            continue
        specs.extend(_spread(warehouse, sku, quantity, n))
    return specs


def _source_bin(warehouse: Warehouse, code: str, n: int) -> Location:
    location = db.session.scalar(select(Location).where(
        Location.warehouse_id == warehouse.id, Location.code == code.strip().upper()))
    if location is None:
        raise ValidationError(_("Line %(n)s: warehouse %(warehouse)s has no bin %(bin)s.", n=n,
                                warehouse=warehouse.code, bin=code.strip().upper()),
                              field="lines")
    return location


def _spread(warehouse: Warehouse, sku: Sku, quantity: int, n: int) -> list[TransferLineSpec]:
    """Take ``quantity`` of a SKU from the warehouse's storage bins in walking order."""
    rows = db.session.execute(
        queries.allocatable_bins_query([sku.id])
        .add_columns(StockLevel.on_hand - StockLevel.reserved)
        .where(Location.warehouse_id == warehouse.id)).all()
    specs, left = [], quantity
    for _sku_id, location_id, available in rows:
        take = min(left, int(available))
        if take > 0:
            specs.append(TransferLineSpec(sku.id, location_id, take))
            left -= take
        if not left:
            return specs
    raise TransferError(_("Line %(n)s (SKU %(sku)s): warehouse %(warehouse)s has %(available)s "
                          "available in its storage bins; cannot send %(wanted)s.", n=n,
                          sku=sku.code, warehouse=warehouse.code,
                          available=quantity - left, wanted=quantity), field="lines")


def _clean_text(value: str | None, limit: int) -> str | None:
    return (value or "").strip()[:limit] or None


def _check_cartons(cartons, *, required: bool) -> int | None:
    if cartons in (None, ""):
        if required:
            raise ValidationError(_("Give the number of cartons (1 or more)."), field="cartons")
        return None
    if not isinstance(cartons, int) or isinstance(cartons, bool) or not \
            0 < cartons <= MAX_CARTONS:
        raise ValidationError(_("The number of cartons must be a whole number from 1 to "
                                "%(max)s.", max=MAX_CARTONS), field="cartons")
    return cartons


def create_transfer(from_warehouse: Warehouse, to_warehouse: Warehouse,
                    lines: Iterable[TransferLineSpec], *, actor, carrier: str | None = None,
                    reference: str | None = None, cartons: int | None = None,
                    note: str | None = None) -> TransferOrder:
    """Draft a transfer of ``lines`` from one warehouse to another; nothing moves yet.

    Lines naming the same SKU and bin are added up. Each line is checked against what its bin
    has available now (it is checked again, under lock, when picked).

    :raises ValidationError: for no lines, a bad quantity or number of cartons.
    :raises TransferError: for the same warehouse twice, an inactive warehouse, a bin that is
        not a storage bin of the source warehouse, or a line asking more than is available
        (naming the line).
    """
    if from_warehouse.id == to_warehouse.id:
        raise TransferError(_("A transfer goes from one warehouse to another: choose a "
                              "destination other than %(warehouse)s.",
                              warehouse=from_warehouse.code), field="to_warehouse_id")
    for warehouse, field in ((from_warehouse, "from_warehouse_id"),
                             (to_warehouse, "to_warehouse_id")):
        if not warehouse.active:
            raise TransferError(_("Warehouse %(warehouse)s is inactive; transfers need active "
                                  "warehouses.", warehouse=warehouse.code), field=field)
    merged: dict[tuple[int, int], int] = {}
    for spec in lines:
        if not isinstance(spec.quantity, int) or isinstance(spec.quantity, bool) \
                or spec.quantity <= 0:
            raise ValidationError(_("Each line needs a whole quantity above zero, got "
                                    "%(value)r.", value=spec.quantity), field="lines")
        key = (spec.sku_id, spec.location_id)
        merged[key] = merged.get(key, 0) + spec.quantity
    if not merged:
        raise ValidationError(_("A transfer needs at least one line."), field="lines")
    if len(merged) > MAX_LINES:
        raise ValidationError(_("A transfer has at most %(max)s lines.", max=MAX_LINES),
                              field="lines")
    cartons = _check_cartons(cartons, required=False)
    skus = {s.id: s for s in db.session.scalars(
        select(Sku).where(Sku.id.in_({k[0] for k in merged})))}
    locations = {loc.id: loc for loc in db.session.scalars(
        select(Location).where(Location.id.in_({k[1] for k in merged})))}
    levels = {(lv.sku_id, lv.location_id): lv for lv in db.session.scalars(
        select(StockLevel).where(StockLevel.sku_id.in_({k[0] for k in merged}),
                                 StockLevel.location_id.in_({k[1] for k in merged})))}
    for n, ((sku_id, location_id), quantity) in enumerate(merged.items(), start=1):
        sku, location = skus.get(sku_id), locations.get(location_id)
        if sku is None or location is None:
            raise ValidationError(_("Line %(n)s: unknown SKU or bin.", n=n), field="lines")
        _check_source(n, sku, location, from_warehouse)
        level = levels.get((sku_id, location_id))
        available = level.available if level is not None else 0
        if quantity > available:
            raise TransferError(_("Line %(n)s (SKU %(sku)s in bin %(bin)s): %(available)s "
                                  "available; cannot send %(wanted)s.", n=n, sku=sku.code,
                                  bin=location.label, available=available, wanted=quantity),
                                field="lines")
    transfer = TransferOrder(
        number=next_number("TR"), from_warehouse_id=from_warehouse.id,
        to_warehouse_id=to_warehouse.id, state=T.draft, carrier=_clean_text(carrier, 80),
        reference=_clean_text(reference, 80), cartons=cartons, note=_clean_text(note, 500),
        created_by_id=getattr(actor, "id", None))
    transfer.lines = [TransferLine(sku_id=sku_id, from_location_id=location_id,
                                   quantity=quantity, picked_qty=0, received_qty=0)
                      for (sku_id, location_id), quantity in merged.items()]
    db.session.add(transfer)
    db.session.flush()
    audit.record(transfer, "transfer_order.created", actor=actor, changes={
        "from": from_warehouse.code, "to": to_warehouse.code, "lines": len(merged),
        "quantity": sum(merged.values())})
    return transfer


def _check_source(n: int, sku: Sku, location: Location, warehouse: Warehouse) -> None:
    if location.warehouse_id != warehouse.id:
        raise TransferError(_("Line %(n)s (SKU %(sku)s): bin %(bin)s is not in warehouse "
                              "%(warehouse)s, where the transfer starts.", n=n, sku=sku.code,
                              bin=location.label, warehouse=warehouse.code), field="lines")
    if location.kind not in SOURCE_KINDS or not location.active:
        raise TransferError(_("Line %(n)s (SKU %(sku)s): bin %(bin)s is not an active storage "
                              "bin; transfers take goods from storage bins.", n=n,
                              sku=sku.code, bin=location.label), field="lines")


# --------------------------------------------------------------------------- the actions


def _locked(transfer: TransferOrder, target: TransferState) -> None:
    """Lock the transfer's row, then check (under the lock) that it may move to ``target``."""
    lock(transfer)
    TRANSFER_STATES.check(transfer, target)


def _quantities(transfer: TransferOrder, quantities: Mapping[int, int] | None,
                limit: str) -> dict[int, int]:
    """Return ``{line id: quantity}``: as given (missing lines: their limit), checked."""
    result = {}
    known = {line.id for line in transfer.lines}
    for line_id in (quantities or {}):
        if line_id not in known:
            raise ValidationError(_("Transfer %(number)s has no line %(line)s.",
                                    number=transfer.number, line=line_id), field="quantity")
    for n, line in enumerate(transfer.lines, start=1):
        most = getattr(line, limit)
        value = most if quantities is None or line.id not in quantities else quantities[line.id]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(_("Line %(n)s (SKU %(sku)s): the quantity must be a whole "
                                    "number, zero or more; got %(value)r.", n=n,
                                    sku=line.sku.code, value=value), field="quantity")
        if value > most:
            raise TransferError(_("Line %(n)s (SKU %(sku)s): %(value)s is more than the "
                                  "%(most)s of the line.", n=n, sku=line.sku.code,
                                  value=value, most=most), field="quantity")
        result[line.id] = value
    return result


def pick_transfer(transfer: TransferOrder, quantities: Mapping[int, int] | None = None, *,
                  actor) -> TransferOrder:
    """Take the lines' units off their bins into the source warehouse's staging bin.

    ``quantities`` gives the units picked per line id (a line left out is picked in full; a
    short pick is allowed, a pick of nothing at all is not).

    :raises InvalidTransition: unless the transfer is a draft (read under its lock).
    :raises TransferError: for a quantity above a line's, nothing picked, or a bin holding
        less available than a line takes (naming the line).
    :raises StockError: if a bin is frozen by a cycle count.
    """
    _locked(transfer, T.picked)
    picked = _quantities(transfer, quantities, "quantity")
    if not any(picked.values()):
        raise TransferError(_("To pick transfer %(number)s, pick at least one unit.",
                              number=transfer.number), field="quantity")
    staging = staging_location(transfer.from_warehouse)
    levels = lock_levels({(line.sku_id, line.from_location_id) for line in transfer.lines
                          if picked[line.id]})
    wanted: dict[tuple[int, int], int] = {}
    for n, line in enumerate(transfer.lines, start=1):
        key = (line.sku_id, line.from_location_id)
        if not picked[line.id]:
            continue
        wanted[key] = wanted.get(key, 0) + picked[line.id]
        if wanted[key] > levels[key].available:
            raise TransferError(_("Line %(n)s (SKU %(sku)s in bin %(bin)s): %(available)s "
                                  "available; cannot pick %(wanted)s.", n=n, sku=line.sku.code,
                                  bin=line.from_location.label,
                                  available=levels[key].available, wanted=wanted[key]),
                                field="quantity")
    post_moves([MoveSpec(line.sku_id, line.from_location_id, staging.id, picked[line.id],
                         MoveKind.transfer, ref_type=TRANSFER_REF, ref_id=transfer.id,
                         note=f"transfer {transfer.number} picked")
                for line in transfer.lines if picked[line.id]], actor=actor)
    short = {line.sku.code: line.quantity - picked[line.id] for line in transfer.lines
             if picked[line.id] < line.quantity}
    for line in transfer.lines:
        line.picked_qty = picked[line.id]
    transfer.picked_at = utcnow()
    transfer.picked_by_id = getattr(actor, "id", None)
    changes = {"picked": sum(picked.values()), "bin": staging.label}
    if short:
        changes["short"] = short
    transition(transfer, T.picked, machine=TRANSFER_STATES, actor=actor, changes=changes)
    db.session.flush()
    return transfer


def ship_transfer(transfer: TransferOrder, *, cartons: int | None, carrier: str | None = None,
                  reference: str | None = None, actor) -> TransferOrder:
    """Send the picked goods: from the staging bin into the destination's in-transit location.

    :raises InvalidTransition: unless the transfer is picked (read under its lock).
    :raises ValidationError: without a number of cartons (1 to 999).
    """
    _locked(transfer, T.shipped)
    cartons = _check_cartons(cartons if cartons is not None else transfer.cartons,
                             required=True)
    staging = staging_location(transfer.from_warehouse)
    transit = in_transit_location(transfer.to_warehouse)
    post_moves([MoveSpec(line.sku_id, staging.id, transit.id, line.picked_qty,
                         MoveKind.transfer, ref_type=TRANSFER_REF, ref_id=transfer.id,
                         note=f"transfer {transfer.number} shipped")
                for line in transfer.lines if line.picked_qty], actor=actor)
    changes = audit.diff(transfer, {"cartons": cartons,
                                    "carrier": _clean_text(carrier, 80) or transfer.carrier,
                                    "reference": _clean_text(reference, 80)
                                    or transfer.reference})
    for key, (_before, after) in changes.items():
        setattr(transfer, key, after)
    transfer.in_transit_location_id = transit.id
    transfer.shipped_at = utcnow()
    transfer.shipped_by_id = getattr(actor, "id", None)
    transition(transfer, T.shipped, machine=TRANSFER_STATES, actor=actor,
               changes={**changes, "in_transit": transfer.picked_qty, "bin": transit.label})
    db.session.flush()
    return transfer


def receive_transfer(transfer: TransferOrder, quantities: Mapping[int, int] | None = None, *,
                     location: Location | None = None,
                     reasons: Mapping[int, str] | None = None, reason: str | None = None,
                     actor) -> TransferOrder:
    """Receive a shipped transfer into a bin of the destination, recording any shortfall.

    ``quantities`` gives the units that arrived per line id (a line left out arrived in full).
    A line short of what was shipped needs a reason (``reasons[line id]``, else ``reason``);
    its missing units leave the in-transit location for the adjustment location, so nothing
    stays in transit once the transfer is received.

    :raises InvalidTransition: unless the transfer is shipped (read under its lock).
    :raises TransferError: for more than was shipped, a short line without a reason, or a bin
        that is not an active receiving or storage bin of the destination, or none at all.
    """
    _locked(transfer, T.received)
    destination = transfer.to_warehouse
    location = location or default_receive_bin(destination)
    if location is None:
        raise TransferError(_("To receive transfer %(number)s, warehouse %(warehouse)s needs an "
                              "active receiving bin.", number=transfer.number,
                              warehouse=destination.code), field="bin")
    if location.warehouse_id != destination.id or location.kind not in RECEIVE_KINDS \
            or not location.active:
        raise TransferError(_("To receive transfer %(number)s into bin %(bin)s, choose an active "
                              "receiving or storage bin of warehouse %(warehouse)s.",
                              number=transfer.number, bin=location.label,
                              warehouse=destination.code), field="bin")
    received = _quantities(transfer, quantities, "picked_qty")
    transit = transfer.in_transit_location or in_transit_location(destination)
    written_off = virtual_location(LocationKind.adjustment)
    specs, discrepancies = [], {}
    for n, line in enumerate(transfer.lines, start=1):
        short = line.picked_qty - received[line.id]
        why = ((reasons or {}).get(line.id) or reason or "").strip()[:200]
        if short and not why:
            raise TransferError(_("Line %(n)s (SKU %(sku)s): %(short)s of %(shipped)s did not "
                                  "arrive; give the reason for the difference.", n=n,
                                  sku=line.sku.code, short=short, shipped=line.picked_qty),
                                field="reason")
        if received[line.id]:
            specs.append(MoveSpec(line.sku_id, transit.id, location.id, received[line.id],
                                  MoveKind.transfer, ref_type=TRANSFER_REF, ref_id=transfer.id,
                                  note=f"transfer {transfer.number} received"))
        if short:
            specs.append(MoveSpec(line.sku_id, transit.id, written_off.id, short,
                                  MoveKind.adjustment, ref_type=TRANSFER_REF,
                                  ref_id=transfer.id,
                                  note=f"transfer {transfer.number} short: {why}"[:500]))
            line.discrepancy_reason = why
            discrepancies[line.sku.code] = {"short": short, "reason": why}
        line.received_qty = received[line.id]
    post_moves(specs, actor=actor)
    transfer.receive_location_id = location.id
    transfer.received_at = utcnow()
    transfer.received_by_id = getattr(actor, "id", None)
    changes = {"received": sum(received.values()), "bin": location.label}
    if discrepancies:
        changes["discrepancies"] = discrepancies
    transition(transfer, T.received, machine=TRANSFER_STATES, actor=actor, changes=changes)
    db.session.flush()
    return transfer


def cancel_transfer(transfer: TransferOrder, *, reason: str | None = None,
                    actor) -> TransferOrder:
    """Cancel a draft transfer; nothing had moved.

    :raises InvalidTransition: unless the transfer is a draft (read under its lock).
    """
    _locked(transfer, T.cancelled)
    transfer.cancelled_at = utcnow()
    transfer.cancelled_by_id = getattr(actor, "id", None)
    transition(transfer, T.cancelled, machine=TRANSFER_STATES, actor=actor,
               note=_clean_text(reason, 500))
    db.session.flush()
    return transfer


# --------------------------------------------------------------------------- scanning


def scan_receipt(transfer: TransferOrder, tally: Mapping[int, int], text: str,
                 quantity: int = 1) -> tuple[TransferLine, dict[int, int]]:
    """Count ``quantity`` scanned units of a SKU towards a shipped transfer's receipt.

    Nothing is written: the tally (``{line id: units scanned}``) travels with the screen and
    is posted by :func:`receive_transfer` when the receiver is done. A SKU on several lines
    fills them in order.

    :returns: the line the units went to and the new tally.
    :raises ValidationError: for nothing scanned, an unknown SKU or a bad quantity.
    :raises TransferError: for a SKU not on the transfer, or more units than were shipped.
    """
    if not can_receive(transfer):
        raise TransferError(_("Transfer %(number)s is not in transit; there is nothing to "
                              "receive.", number=transfer.number), field="scan")
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise ValidationError(_("The quantity must be a whole number above zero."),
                              field="qty")
    sku = find_sku(text, field="scan")
    lines = [line for line in transfer.lines if line.sku_id == sku.id and line.picked_qty]
    if not lines:
        raise TransferError(_('SKU "%(sku)s" is not on transfer %(number)s.', sku=sku.code,
                              number=transfer.number), field="scan")
    tally = {int(k): int(v) for k, v in tally.items()}
    left = quantity
    first = None
    for line in lines:
        room = line.picked_qty - tally.get(line.id, 0)
        take = min(room, left)
        if take > 0:
            tally[line.id] = tally.get(line.id, 0) + take
            left -= take
            first = first or line
    if left:
        shipped = sum(line.picked_qty for line in lines)
        raise TransferError(_('Transfer %(number)s shipped %(shipped)s of SKU "%(sku)s"; this '
                              "scan would make more.", number=transfer.number,
                              shipped=shipped, sku=sku.code), field="scan")
    return first, tally


__all__ = [
    "IN_TRANSIT_CODE", "STAGING_CODE", "TransferError", "TransferLineSpec", "can_cancel",
    "can_pick", "can_receive", "can_ship", "cancel_transfer", "create_transfer",
    "default_receive_bin", "in_transit_location", "lines_from_text", "pick_transfer",
    "receive_transfer", "scan_receipt", "ship_transfer", "staging_location",
]
