"""Putting goods back into storage: units taken out for a reference that no longer needs them.

Picked goods wait at a packing bench until they ship. When their order is cancelled they go
back to a storage bin: the bin they were picked from when it can take them (an active storage
bin that no open cycle count freezes for the SKU), else another bin of the warehouse that holds
the SKU, else an empty storage bin, walked in pick sequence. The moves are ordinary transfers
through :func:`~erp.warehouse.services.ledger.post_moves`, so the ledger stays balanced.

What cannot move (the bench holds fewer units than expected, the bench itself is frozen by a
count, or the warehouse has no storage bin left) stays where it is and is reported, so a
cancel never fails on it; the warehouse sees it on the bench.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, select

from erp.extensions import db
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    CycleCount,
    CycleCountLine,
    Location,
    LocationKind,
    MoveKind,
    StockLevel,
    StockMove,
)
from erp.warehouse.services.ledger import MoveSpec, lock_levels, post_moves


@dataclass(frozen=True)
class RestockSpec:
    """``quantity`` units of a SKU at ``from_location_id`` to go back to storage.

    ``preferred_location_id`` is the bin they came from, tried first.
    """

    sku_id: int
    from_location_id: int
    quantity: int
    preferred_location_id: int | None = None


@dataclass
class RestockResult:
    """The moves posted, and what stayed where it was with the reason."""

    moves: list[StockMove] = field(default_factory=list)
    left: list[tuple[RestockSpec, int, str]] = field(default_factory=list)

    @property
    def units(self) -> int:
        """Return the units moved back to storage."""
        return sum(m.quantity for m in self.moves)


def _frozen_for(sku_id: int):
    """Return a clause true for locations an open cycle count freezes for the SKU."""
    return exists().where(
        CycleCountLine.sku_id == sku_id, CycleCountLine.location_id == Location.id,
        CycleCountLine.count_id == CycleCount.id,
        CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])))


def restock_bin(sku_id: int, warehouse_id: int | None,
                preferred_location_id: int | None = None) -> Location | None:
    """Return the storage bin goods of a SKU should go back to, or None if there is none.

    The preferred bin when it is an active storage bin of the warehouse that no open count
    freezes for the SKU; else such a bin that already holds the SKU; else an empty one; each
    in pick sequence.
    """
    usable = and_(Location.kind == LocationKind.storage, Location.active.is_(True),
                  Location.warehouse_id == warehouse_id, ~_frozen_for(sku_id))
    if preferred_location_id is not None:
        found = db.session.scalar(select(Location).where(
            Location.id == preferred_location_id, usable))
        if found is not None:
            return found
    holding = exists().where(StockLevel.location_id == Location.id,
                             StockLevel.sku_id == sku_id, StockLevel.on_hand > 0)
    found = db.session.scalar(select(Location).where(usable, holding)
                              .order_by(Location.pick_sequence, Location.id).limit(1))
    if found is not None:
        return found
    occupied = exists().where(StockLevel.location_id == Location.id, StockLevel.on_hand > 0)
    return db.session.scalar(select(Location).where(usable, ~occupied)
                             .order_by(Location.pick_sequence, Location.id).limit(1))


def _frozen_keys(keys: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
    keys = set(keys)
    if not keys:
        return set()
    rows = db.session.execute(
        select(CycleCountLine.sku_id, CycleCountLine.location_id)
        .join(CycleCount, CycleCount.id == CycleCountLine.count_id)
        .where(CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])),
               CycleCountLine.sku_id.in_(sorted({k[0] for k in keys})),
               CycleCountLine.location_id.in_(sorted({k[1] for k in keys}))))
    return {tuple(row) for row in rows} & keys


def restock(specs: Iterable[RestockSpec], *, ref_type: str, ref_id: int, note: str,
            actor) -> RestockResult:
    """Move goods back to storage bins (one posting of transfers); return what moved and not.

    The source and destination levels are locked together in the ledger's key order before
    the source's figures are read, so two restocks (or a restock and a dispatch) from one bench
    queue. A source gives at most its unreserved units; the rest is reported in ``left``.
    """
    wanted: dict[tuple[int, int, int | None], int] = defaultdict(int)
    for spec in specs:
        if spec.quantity > 0:
            wanted[(spec.sku_id, spec.from_location_id, spec.preferred_location_id)] += \
                spec.quantity
    result = RestockResult()
    if not wanted:
        return result
    sources = dict(db.session.execute(select(Location.id, Location.warehouse_id).where(
        Location.id.in_(sorted({k[1] for k in wanted})))).all())
    targets: dict[tuple[int, int, int | None], Location | None] = {
        key: restock_bin(key[0], sources.get(key[1]), key[2]) for key in sorted(
            wanted, key=lambda k: (k[0], k[1], k[2] or 0))}
    keys = {(sku, src) for sku, src, _pref in wanted}
    keys |= {(key[0], target.id) for key, target in targets.items() if target is not None}
    levels = lock_levels(keys)
    frozen = _frozen_keys((sku, src) for sku, src, _pref in wanted)
    available = {key: levels[key].on_hand - levels[key].reserved
                 for key in {(sku, src) for sku, src, _pref in wanted}}
    moves: list[MoveSpec] = []
    for key in sorted(wanted, key=lambda k: (k[0], k[1], k[2] or 0)):
        sku_id, source_id, preferred = key
        spec = RestockSpec(sku_id, source_id, wanted[key], preferred)
        target = targets[key]
        if target is None:
            result.left.append((spec, spec.quantity, "no storage bin can take it"))
            continue
        if (sku_id, source_id) in frozen:
            result.left.append((spec, spec.quantity, "a cycle count freezes it where it is"))
            continue
        take = min(spec.quantity, max(available[(sku_id, source_id)], 0))
        available[(sku_id, source_id)] -= take
        if take < spec.quantity:
            result.left.append((spec, spec.quantity - take, "not there to move"))
        if take:
            moves.append(MoveSpec(sku_id, source_id, target.id, take, MoveKind.transfer,
                                  ref_type=ref_type, ref_id=ref_id, note=note[:500]))
    result.moves = post_moves(moves, actor=actor) if moves else []
    return result


__all__ = ["RestockResult", "RestockSpec", "restock", "restock_bin"]
