"""The stock ledger: post moves, reserve and release, transfer, and the average-cost formula.

Every change of stock goes through :func:`post_moves` (or :func:`reserve` / :func:`release`),
which lock the affected ``stock_level`` rows in a fixed order (sku id, then location id) before
reading them, so concurrent transactions queue instead of deadlocking or overselling.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, inspect, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from erp.catalog import services as catalog_services
from erp.catalog.models import Sku
from erp.core import audit, events
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.models import utcnow
from erp.extensions import core_connection, db
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    PUTAWAY_REF,
    VIRTUAL_KINDS,
    CycleCount,
    CycleCountLine,
    Location,
    LocationKind,
    MoveKind,
    Reservation,
    StockLevel,
    StockMove,
    Warehouse,
)


class StockError(DomainError):
    """A stock rule was broken (negative stock, over-reservation, frozen bin...)."""


COST_QUANTUM = Decimal("0.0001")
#: move kinds whose unit cost updates the SKU's moving-average cost when stock enters a bin
COSTED_INBOUND = frozenset({MoveKind.receipt, MoveKind.opening, MoveKind.return_receipt})


def moving_average_cost(current_cost: Decimal, qty_on_hand: int, unit_cost: Decimal,
                        qty_in: int) -> Decimal:
    """Return the new average cost after ``qty_in`` units arrive at ``unit_cost``.

    Tryton's formula: the weighted average of what is on hand and what arrives, when the stock on
    hand is not negative and the result stays positive; otherwise the incoming cost.
    """
    current_cost, unit_cost = Decimal(current_cost), Decimal(unit_cost)
    if qty_on_hand >= 0 and qty_on_hand + qty_in > 0:
        result = (current_cost * qty_on_hand + unit_cost * qty_in) / (qty_on_hand + qty_in)
        if result > 0:
            return result.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
    return unit_cost.quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class MoveSpec:
    """A move to post: ``quantity`` units of a SKU from one location to another."""

    sku_id: int
    from_location_id: int
    to_location_id: int
    quantity: int
    kind: MoveKind
    unit_cost: Decimal | None = None
    ref_type: str | None = None
    ref_id: int | None = None
    note: str | None = None


def virtual_location(kind: LocationKind) -> Location:
    """Return the virtual location of ``kind`` (supplier, customer or adjustment), made once."""
    if kind not in VIRTUAL_KINDS:
        raise ValueError(f"{kind} is not a virtual location kind")
    location = db.session.scalar(select(Location).where(Location.kind == kind,
                                                        Location.warehouse_id.is_(None)))
    if location is None:
        location = Location(code=kind.value.upper(), kind=kind, warehouse_id=None,
                            pick_sequence=0)
        db.session.add(location)
        db.session.flush()
    return location


def _insert_ignore(table, rows: list[dict]):
    dialect = db.session.get_bind().dialect.name
    factory = pg_insert if dialect == "postgresql" else sqlite_insert
    return factory(table).values(rows).on_conflict_do_nothing()


# Statements built once: every posting runs them, and building (and cache-keying) a select
# costs more than running it against a handful of indexed rows (the move_tx benchmark).
_KEYS_IN = tuple_(StockLevel.sku_id, StockLevel.location_id).in_(
    bindparam("keys", expanding=True))
#: the number of the open (or in review) cycle count freezing a level, if any
_FROZEN_BY = (
    select(CycleCount.number)
    .join(CycleCountLine, CycleCountLine.count_id == CycleCount.id)
    .where(CycleCountLine.sku_id == StockLevel.sku_id,
           CycleCountLine.location_id == StockLevel.location_id,
           CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])))
    .limit(1).correlate(StockLevel).scalar_subquery())
_LEVELS_FOR_UPDATE = (
    select(StockLevel, _FROZEN_BY.label("frozen_by")).where(_KEYS_IN)
    .order_by(StockLevel.sku_id, StockLevel.location_id)
    .with_for_update(of=StockLevel)
    .execution_options(populate_existing=True))
_LEVEL = StockLevel.__table__
_LEVEL_MAPPER = inspect(StockLevel)
#: the same lock as :data:`_LEVELS_FOR_UPDATE`, read as plain rows: a posting needs the figures
#: of its levels, not entities (loading them cost more than the rest of a one-move posting)
_LEVEL_ROWS_FOR_UPDATE = (
    select(_LEVEL.c.sku_id, _LEVEL.c.location_id, _LEVEL.c.on_hand, _LEVEL.c.reserved,
           _FROZEN_BY.label("frozen_by"))
    .where(tuple_(_LEVEL.c.sku_id, _LEVEL.c.location_id).in_(
        bindparam("keys", expanding=True)))
    .order_by(_LEVEL.c.sku_id, _LEVEL.c.location_id)
    .with_for_update(of=_LEVEL))
# Plain rows, not entities: a posting needs only these few columns of its bins and SKUs. Run
# on the session's connection (see _run), not through the ORM's execution.
_LOCATIONS = (select(Location.id, Location.kind, Location.code, Location.warehouse_id,
                     Warehouse.code.label("warehouse_code"))
              .outerjoin(Warehouse, Warehouse.id == Location.warehouse_id)
              .where(Location.id.in_(bindparam("ids", expanding=True))))
_SKUS = select(Sku.id, Sku.code, Sku.avg_cost).where(Sku.id.in_(bindparam("ids", expanding=True)))
#: a costed posting's SKUs: on hand across bins, and average cost (read under the lock)
_TOTALS = (select(StockLevel.sku_id, func.coalesce(func.sum(StockLevel.on_hand), 0))
           .where(StockLevel.sku_id.in_(bindparam("ids", expanding=True)))
           .group_by(StockLevel.sku_id))
_COSTS = select(Sku.id, Sku.avg_cost).where(Sku.id.in_(bindparam("ids", expanding=True)))


def _run(statement, params):
    """Run a Core statement (rows, not entities) on the session's connection.

    The session's own ``execute`` sets up an ORM execution for every statement naming mapped
    columns, which costs more than running these against a handful of indexed rows (move_tx
    benchmark). Like it, what the session holds unwritten is flushed first (autoflush).
    """
    return core_connection().execute(statement, params)


class _Bin(NamedTuple):
    """What a posting needs to know of a location."""

    id: int
    is_virtual: bool
    label: str
    kind: LocationKind | None = None
    warehouse_id: int | None = None


def _lock(keys: Iterable[tuple[int, int]]
          ) -> tuple[dict[tuple[int, int], StockLevel], dict[tuple[int, int], str]]:
    """Lock (creating missing) levels in key order; also return the keys a count freezes.

    The freeze is read with the lock, so it is checked in the same statement that serialises
    postings on those levels.
    """
    def take(wanted, levels, frozen):
        for level, count_number in db.session.execute(_LEVELS_FOR_UPDATE, {"keys": wanted}):
            key = (level.sku_id, level.location_id)
            levels[key] = level
            if count_number:
                frozen[key] = count_number

    return _lock_with(take, keys)


def _lock_with(take, keys: Iterable[tuple[int, int]]) -> tuple[dict, dict[tuple[int, int], str]]:
    """Lock the levels of ``keys`` in key order with ``take``, creating the missing ones first.

    ``take(wanted, levels, frozen)`` runs the locking read of the keys ``wanted`` and fills
    ``levels`` (key: what it read) and ``frozen`` (key: the number of the count freezing it).
    """
    ordered = sorted(set(keys))
    levels: dict[tuple[int, int], Any] = {}
    frozen: dict[tuple[int, int], str] = {}
    if not ordered:
        return levels, frozen
    take(ordered, levels, frozen)
    missing = [key for key in ordered if key not in levels]
    if missing:
        # Inserted in key order too; a concurrent insert of the same key makes this wait for
        # that transaction, then the row is there to lock.
        db.session.execute(_insert_ignore(StockLevel.__table__, [
            {"sku_id": s, "location_id": loc, "on_hand": 0, "reserved": 0}
            for s, loc in missing]))
        take(missing, levels, frozen)
    return levels, frozen


def lock_levels(keys: Iterable[tuple[int, int]]) -> dict[tuple[int, int], StockLevel]:
    """Create missing levels, then lock and return them, in (sku id, location id) order."""
    return _lock(keys)[0]


class _Figures(NamedTuple):
    """What a posting needs to know of a stock level."""

    on_hand: int
    reserved: int


def _lock_figures(keys: Iterable[tuple[int, int]]
                  ) -> tuple[dict[tuple[int, int], _Figures], dict[tuple[int, int], str]]:
    """Like :func:`_lock`, but return the levels' figures rather than loading entities.

    The same lock, in the same order, with the freeze read in the same statement. Levels the
    session already holds are not refreshed here: :func:`_show_levels` sets them to what the
    posting wrote.
    """
    def take(wanted, levels, frozen):
        for sku_id, loc_id, on_hand, reserved, count_number in _run(
                _LEVEL_ROWS_FOR_UPDATE, {"keys": wanted}):
            levels[(sku_id, loc_id)] = _Figures(on_hand, reserved)
            if count_number:
                frozen[(sku_id, loc_id)] = count_number

    return _lock_with(take, keys)


def _show_levels(levels: Mapping[tuple[int, int], _Figures]) -> None:
    """Set the stock levels the session holds (if any) to the figures of their locked rows.

    What the locking read of entities did (``populate_existing``): an object of a level that a
    caller loaded earlier in the transaction shows the stock as it now is, not as it was.
    """
    identity_map = db.session.identity_map
    if not len(identity_map):
        return
    key_of = _LEVEL_MAPPER.identity_key_from_primary_key
    for key, figures in levels.items():
        level = identity_map.get(key_of(key))
        if level is not None:
            set_committed_value(level, "on_hand", figures.on_hand)
            set_committed_value(level, "reserved", figures.reserved)


# The ledger writes with Core statements rather than through the unit of work: a posting is a
# handful of rows, and the flush machinery cost more than the SQL itself (move_tx benchmark).
# The ORM objects in the session are kept true to the rows written.
_SET_ON_HAND = (
    update(StockLevel.__table__)
    .where(StockLevel.__table__.c.sku_id == bindparam("key_sku"),
           StockLevel.__table__.c.location_id == bindparam("key_location"))
    .values(on_hand=bindparam("new_on_hand")))
_INSERT_MOVES = insert(StockMove.__table__).returning(StockMove.__table__.c.id,
                                                      sort_by_parameter_order=True)


def _set_on_hand(levels: dict[tuple[int, int], _Figures],
                 new_levels: dict[tuple[int, int], int]) -> dict[tuple[int, int], _Figures]:
    """Write new on-hand figures of locked levels; return the levels' figures after it.

    Level objects the session holds show the new figures (:func:`_show_levels`).
    """
    if not new_levels:
        return levels
    db.session.connection().execute(_SET_ON_HAND, [
        {"key_sku": sku_id, "key_location": loc_id, "new_on_hand": value}
        for (sku_id, loc_id), value in new_levels.items()])
    levels = {key: _Figures(new_levels[key], figures.reserved) if key in new_levels else figures
              for key, figures in levels.items()}
    _show_levels(levels)
    return levels


def _insert_moves(rows: list[dict]) -> list[StockMove]:
    """Insert move rows; return them as persistent (clean) objects of the session."""
    ids = db.session.connection().execute(_INSERT_MOVES, rows).scalars().all()
    moves = []
    for ident, row in zip(ids, rows, strict=True):
        move = StockMove(id=ident, **row)
        make_transient_to_detached(move)  # the row exists: attach it without another INSERT
        moves.append(move)
    db.session.add_all(moves)
    return moves


class _Where:
    """Names the move of a posting in a message ("Move 2", or "The move" of a single one).

    Formatted as text only when a message is made: a posting that passes its checks, the usual
    case, translates nothing.
    """

    __slots__ = ("n", "count")

    def __init__(self, n: int, count: int):
        self.n, self.count = n, count

    def __str__(self) -> str:
        return _("Move %(n)s", n=self.n) if self.count > 1 else _("The move")


def _describe(sku: Sku, location: Location) -> str:
    return _('SKU "%(sku)s" in bin %(bin)s', sku=sku.code, bin=location.label)


def post_moves(specs: Sequence[MoveSpec], *, actor, at: datetime | None = None,
               allow_frozen: bool = False) -> list[StockMove]:
    """Post moves and update levels (and average costs) in the current transaction.

    All or nothing: every move is checked before anything changes.

    :raises ValidationError: for a non-positive or fractional quantity, a move to the same
        location, an unknown SKU or location, or a negative cost.
    :raises StockError: if a bin would go negative, reserved stock would exceed on hand, or a
        bin is frozen by an open cycle count.
    """
    if not specs:
        return []
    at = at or utcnow()
    location_ids = {s.from_location_id for s in specs} | {s.to_location_id for s in specs}
    locations = {r.id: _Bin(r.id, r.kind in VIRTUAL_KINDS,
                            f"{r.warehouse_code}/{r.code}" if r.warehouse_code else r.code,
                            r.kind, r.warehouse_id)
                 for r in _run(_LOCATIONS, {"ids": sorted(location_ids)})}
    skus = {r.id: r for r in _run(_SKUS, {"ids": sorted({s.sku_id for s in specs})})}
    costs = {sku_id: row.avg_cost for sku_id, row in skus.items()}
    deltas: dict[tuple[int, int], int] = defaultdict(int)
    for n, spec in enumerate(specs, start=1):
        where = _Where(n, len(specs))  # translated only for a message
        if not isinstance(spec.quantity, int) or isinstance(spec.quantity, bool) \
                or spec.quantity <= 0:
            raise ValidationError(_("%(where)s: the quantity must be a whole number above zero, "
                                    "got %(value)r.", where=where, value=spec.quantity),
                                  field="quantity")
        if spec.sku_id not in skus:
            raise ValidationError(_("%(where)s: SKU id %(id)s does not exist.", where=where,
                                    id=spec.sku_id), field="sku")
        for loc_id in (spec.from_location_id, spec.to_location_id):
            if loc_id not in locations:
                raise ValidationError(_("%(where)s: location id %(id)s does not exist.",
                                        where=where, id=loc_id), field="location")
        if spec.from_location_id == spec.to_location_id:
            what = _describe(skus[spec.sku_id], locations[spec.from_location_id])
            raise ValidationError(_("%(where)s: %(what)s cannot move to the bin it is in.",
                                    where=where, what=what), field="location")
        if spec.unit_cost is not None and Decimal(spec.unit_cost) < 0:
            raise ValidationError(_("%(where)s: a unit cost cannot be negative.", where=where),
                                  field="unit_cost")
        for loc_id, sign in ((spec.from_location_id, -1), (spec.to_location_id, 1)):
            if not locations[loc_id].is_virtual:
                deltas[(spec.sku_id, loc_id)] += sign * spec.quantity
    # Average cost needs the on-hand total across bins before this posting.
    costed = defaultdict(list)
    for spec in specs:
        if spec.kind in COSTED_INBOUND and spec.unit_cost is not None \
                and locations[spec.from_location_id].is_virtual \
                and not locations[spec.to_location_id].is_virtual:
            costed[spec.sku_id].append(spec)
    levels, frozen = _lock_figures(deltas)
    totals = {}
    if costed:
        # Read under the lock of the levels the costed moves enter: a receipt or revaluation
        # (erp.warehouse.services.valuation) of the SKU committed while this posting waited is
        # seen, instead of being overwritten with an average worked out from the old cost.
        ids = {"ids": list(costed)}
        totals = dict(_run(_TOTALS, ids).all())
        costs.update(_run(_COSTS, ids).all())
    if frozen and not allow_frozen:
        sku_id, loc_id = sorted(frozen)[0]
        raise StockError(_("%(what)s is frozen by cycle count %(count)s; finish or cancel "
                           "that count before moving it.",
                           what=_describe(skus[sku_id], locations[loc_id]),
                           count=frozen[(sku_id, loc_id)]))
    new_levels: dict[tuple[int, int], int] = {}
    for key, delta in sorted(deltas.items()):
        level = levels[key]
        new_on_hand = level.on_hand + delta
        if new_on_hand < 0:
            raise StockError(_("%(what)s has %(on_hand)s on hand; cannot take %(take)s.",
                               what=_describe(skus[key[0]], locations[key[1]]),
                               on_hand=level.on_hand, take=-delta))
        if level.reserved > new_on_hand:
            raise StockError(_(
                "%(what)s has %(on_hand)s on hand of which %(reserved)s reserved; only "
                "%(free)s can move, not %(take)s.",
                what=_describe(skus[key[0]], locations[key[1]]), on_hand=level.on_hand,
                reserved=level.reserved, free=level.on_hand - level.reserved, take=-delta))
        new_levels[key] = new_on_hand
    levels = _set_on_hand(levels, new_levels)
    _sync_putaway(specs, locations, levels, skus, actor=actor, at=at)
    new_costs: dict[int, Decimal] = {}
    for sku_id, sku_specs in costed.items():
        cost, on_hand = costs[sku_id] or Decimal(0), int(totals.get(sku_id, 0))
        for spec in sku_specs:
            cost = moving_average_cost(cost, on_hand, Decimal(spec.unit_cost), spec.quantity)
            on_hand += spec.quantity
        new_costs[sku_id] = costs[sku_id] = cost  # later moves of the SKU carry the new cost
    if new_costs:
        first = specs[0]
        reason = " ".join(str(p) for p in (first.kind.value, first.ref_type) if p)
        catalog_services.set_sku_costs(new_costs, actor=actor, reason=reason)
    moves = _insert_moves([{
        "sku_id": spec.sku_id, "from_location_id": spec.from_location_id,
        "to_location_id": spec.to_location_id, "quantity": spec.quantity,
        "unit_cost": Decimal((spec.unit_cost if spec.unit_cost is not None
                              else costs[spec.sku_id]) or 0),
        "kind": MoveKind(spec.kind), "ref_type": spec.ref_type, "ref_id": spec.ref_id,
        "actor_id": getattr(actor, "id", None), "at": at, "note": spec.note} for spec in specs])
    first = moves[0]
    # One Core INSERT rather than an ORM object: it spares a second flush at commit, which
    # matters when each posting is its own transaction (scanner screens, the move_tx benchmark).
    audit.record_many("stock_move", "stock_move.posted", [(first.id, None, {
        "kind": first.kind.value, "moves": len(moves),
        "quantity": sum(m.quantity for m in moves),
        "ref": f"{first.ref_type}:{first.ref_id}" if first.ref_type else None,
        "first_move_id": first.id, "last_move_id": moves[-1].id})], actor=actor)
    events.mark_changed("stock.changed", {spec.sku_id for spec in specs})
    return moves


def _sync_putaway(specs: Sequence[MoveSpec], locations: dict[int, _Bin],
                  levels: dict[tuple[int, int], _Figures], skus: dict, *, actor,
                  at: datetime) -> None:
    """Keep the put-away tasks of the receiving bins this posting touched true to their stock.

    Generic on purpose: whatever brings goods into a receiving bin (a purchase receipt, a
    return, a transfer) opens or grows a task, and whatever takes them out otherwise (a receipt
    reversal, a transfer) shrinks or closes it. A put-away's own move is left to the put-away
    service, which updates its task itself. Runs under the levels' locks.
    """
    waiting: dict[tuple[int, int], int] = {}
    for spec in specs:
        if spec.ref_type == PUTAWAY_REF:
            continue
        for loc_id in (spec.from_location_id, spec.to_location_id):
            if locations[loc_id].kind == LocationKind.receiving:
                level = levels[(spec.sku_id, loc_id)]
                waiting[(spec.sku_id, loc_id)] = level.on_hand - level.reserved
    if waiting:
        from erp.warehouse.services.putaway import sync_putaway_tasks  # it posts moves too

        sync_putaway_tasks(waiting, {key: locations[key[1]].warehouse_id for key in waiting},
                           actor=actor, at=at,
                           sku_codes={key[0]: skus[key[0]].code for key in waiting})


def post_move(spec: MoveSpec, *, actor, at: datetime | None = None) -> StockMove:
    """Post one move; see :func:`post_moves`."""
    return post_moves([spec], actor=actor, at=at)[0]


def transfer(sku: Sku, from_location: Location, to_location: Location, quantity: int, *,
             actor, note: str | None = None, ref_type: str | None = None,
             ref_id: int | None = None) -> StockMove:
    """Move available (unreserved) stock between two bins.

    ``ref_type`` and ``ref_id`` name what the move was for (e.g. a put-away task).

    :raises ValidationError: if either location is virtual, or for a bad quantity.
    :raises StockError: if the source bin lacks available stock or either bin is frozen.
    """
    for loc in (from_location, to_location):
        if loc.is_virtual:
            raise ValidationError(_("%(location)s is not a bin: transfers move stock between "
                                    "bins.", location=loc.label), field="location")
        if loc.kind == LocationKind.in_transit:
            raise ValidationError(_("%(location)s holds goods in transit between warehouses; "
                                    "only their transfer moves them.", location=loc.label),
                                  field="location")
    return post_move(MoveSpec(sku.id, from_location.id, to_location.id, quantity,
                              MoveKind.transfer, ref_type=ref_type, ref_id=ref_id, note=note),
                     actor=actor)


def reserve(sku: Sku, location: Location, quantity: int, *, ref_type: str, ref_id: int,
            actor) -> Reservation:
    """Hold ``quantity`` of a SKU in a bin for a reference (e.g. a customer order line).

    :raises ValidationError: for a bad quantity or a virtual location.
    :raises StockError: if the bin has less available than asked.
    """
    if not isinstance(quantity, int) or quantity <= 0:
        raise ValidationError(_("A reservation needs a whole quantity above zero, got "
                                "%(value)r.", value=quantity), field="quantity")
    if location.is_virtual:
        raise ValidationError(_("Stock cannot be reserved in %(location)s.",
                                location=location.label), field="location")
    level = lock_levels([(sku.id, location.id)])[(sku.id, location.id)]
    if level.on_hand - level.reserved < quantity:
        raise StockError(_("%(what)s has %(available)s available (%(on_hand)s on hand, "
                           "%(reserved)s reserved); cannot reserve %(wanted)s.",
                           what=_describe(sku, location),
                           available=level.on_hand - level.reserved, on_hand=level.on_hand,
                           reserved=level.reserved, wanted=quantity))
    level.reserved += quantity
    reservation = Reservation(sku_id=sku.id, location_id=location.id, quantity=quantity,
                              ref_type=ref_type, ref_id=ref_id)
    db.session.add(reservation)
    db.session.flush()
    audit.record(reservation, "reservation.created", actor=actor, changes={
        "sku": sku.code, "bin": location.label, "quantity": quantity,
        "ref": f"{ref_type}:{ref_id}"})
    events.mark_changed("stock.changed", [reservation.sku_id])
    return reservation


class ReserveSpec(NamedTuple):
    """A reservation to make: ``quantity`` of a SKU in a bin, held for a reference."""

    sku_id: int
    location_id: int
    quantity: int
    ref_type: str
    ref_id: int


_INSERT_RESERVATIONS = insert(Reservation.__table__).returning(
    Reservation.__table__.c.id, sort_by_parameter_order=True)
_SET_RESERVED = (
    update(StockLevel.__table__)
    .where(StockLevel.__table__.c.sku_id == bindparam("key_sku"),
           StockLevel.__table__.c.location_id == bindparam("key_location"))
    .values(reserved=bindparam("new_reserved")))


def reserve_many(specs: Sequence[ReserveSpec], *, actor,
                 locked: Mapping[tuple[int, int], StockLevel] | None = None) -> list[int]:
    """Make several reservations at once; return their ids, in the order of ``specs``.

    Like :func:`reserve` for each spec, but all or nothing: the levels are locked once (in key
    order), every spec is checked against them (several specs on one level add up) before
    anything is written, then the reservations and their audit events are bulk-inserted.
    ``locked``: levels the caller already locked with :func:`lock_levels` in this transaction
    (and read under that lock), used as they are instead of being locked again; any other
    level the specs name is locked here.

    :raises ValidationError: for a bad quantity, an unknown SKU or location, or a virtual
        location.
    :raises StockError: if a bin has less available than the specs on it ask for together.
    """
    if not specs:
        return []
    locations = {r.id: _Bin(r.id, r.kind in VIRTUAL_KINDS,
                            f"{r.warehouse_code}/{r.code}" if r.warehouse_code else r.code)
                 for r in db.session.execute(
                     _LOCATIONS, {"ids": sorted({s.location_id for s in specs})})}
    codes = {r.id: r.code for r in db.session.execute(
        _SKUS, {"ids": sorted({s.sku_id for s in specs})})}
    wanted: dict[tuple[int, int], int] = defaultdict(int)
    for spec in specs:
        quantity = spec.quantity
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise ValidationError(_("A reservation needs a whole quantity above zero, got "
                                    "%(value)r.", value=quantity), field="quantity")
        if spec.sku_id not in codes:
            raise ValidationError(_("SKU id %(id)s does not exist.", id=spec.sku_id),
                                  field="sku")
        location = locations.get(spec.location_id)
        if location is None:
            raise ValidationError(_("Location id %(id)s does not exist.", id=spec.location_id),
                                  field="location")
        if location.is_virtual:
            raise ValidationError(_("Stock cannot be reserved in %(location)s.",
                                    location=location.label), field="location")
        wanted[(spec.sku_id, spec.location_id)] += quantity
    if locked is not None and all(key in locked for key in wanted):
        levels = locked
    else:
        levels = lock_levels(wanted)
    new_reserved: dict[tuple[int, int], int] = {}
    for key, quantity in sorted(wanted.items()):
        level = levels[key]
        available = level.on_hand - level.reserved
        if available < quantity:
            raise StockError(_("%(what)s has %(available)s available (%(on_hand)s on hand, "
                               "%(reserved)s reserved); cannot reserve %(wanted)s.",
                               what=_('SKU "%(sku)s" in bin %(bin)s', sku=codes[key[0]],
                                      bin=locations[key[1]].label),
                               available=available, on_hand=level.on_hand,
                               reserved=level.reserved, wanted=quantity))
        new_reserved[key] = level.reserved + quantity
    db.session.execute(_SET_RESERVED, [
        {"key_sku": sku_id, "key_location": loc_id, "new_reserved": value}
        for (sku_id, loc_id), value in new_reserved.items()])
    for key, value in new_reserved.items():
        set_committed_value(levels[key], "reserved", value)
    now = utcnow()
    ids = list(db.session.execute(_INSERT_RESERVATIONS, [
        {"sku_id": s.sku_id, "location_id": s.location_id, "quantity": s.quantity,
         "ref_type": s.ref_type, "ref_id": s.ref_id, "created_at": now}
        for s in specs]).scalars())
    audit.record_many("reservation", "reservation.created", [
        (ident, None, {"sku": codes[s.sku_id], "bin": locations[s.location_id].label,
                       "quantity": s.quantity, "ref": f"{s.ref_type}:{s.ref_id}"})
        for ident, s in zip(ids, specs, strict=True)], actor=actor)
    events.mark_changed("stock.changed", {s.sku_id for s in specs})
    return ids


def release(reservations: Iterable[Reservation], *, actor, quantity: int | None = None) -> int:
    """Release reservations (wholly, or ``quantity`` units of a single one); return units freed.

    :raises ValidationError: if a partial quantity is asked for several reservations or exceeds
        the reservation.
    """
    reservations = list(reservations)
    if not reservations:
        return 0
    if quantity is not None and (len(reservations) != 1 or not
                                 0 < quantity <= reservations[0].quantity):
        raise ValidationError(_("A partial release needs one reservation and a quantity up to "
                                "it."), field="quantity")
    levels = lock_levels((r.sku_id, r.location_id) for r in reservations)
    freed = 0
    for reservation in reservations:
        amount = quantity if quantity is not None else reservation.quantity
        level = levels[(reservation.sku_id, reservation.location_id)]
        level.reserved -= amount
        freed += amount
        audit.record(reservation, "reservation.released", actor=actor, changes={
            "quantity": [reservation.quantity, reservation.quantity - amount],
            "ref": f"{reservation.ref_type}:{reservation.ref_id}"})
        if amount == reservation.quantity:
            db.session.delete(reservation)
        else:
            reservation.quantity -= amount
    db.session.flush()
    events.mark_changed("stock.changed", {r.sku_id for r in reservations})
    return freed


def reservations_for(ref_type: str, ref_ids: Iterable[int]) -> list[Reservation]:
    """Return the reservations held for the given references."""
    return list(db.session.scalars(select(Reservation).where(
        Reservation.ref_type == ref_type, Reservation.ref_id.in_(list(ref_ids)))
        .order_by(Reservation.id)))


def drop_reservations(ref_type: str, ref_ids: Iterable[int], *, actor) -> int:
    """Release every reservation of the given references; return units freed."""
    return release(reservations_for(ref_type, ref_ids), actor=actor)
