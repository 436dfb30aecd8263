"""Packing supplies (boxes, mailers): stock SKUs that each closed parcel uses up, one at a time.

:func:`take_supply` moves one free unit of such a SKU out of a warehouse to where it goes (the
customer, with the parcel). The unit comes from the warehouse's packing locations first, then
its storage bins (lowest location id first), from a bin that has a unit nobody reserved and
that no open cycle count freezes; receiving, returns, quarantine and scrap bins are never
touched. :func:`supply_bins` lists those same bins, in the same order, for a caller that
takes many units at once through :func:`~erp.warehouse.services.ledger.post_moves`.

One UPDATE chooses the bin, locks its stock level and takes the unit, re-checking under the
lock that the unit is still free, so two packers never take the same last box; one INSERT
writes the move; it is audited as :func:`post_moves` audits a posting. A packing lane closes a
parcel every second, so this is three statements instead of post_moves' seven.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import bindparam, case, exists, func, insert, select, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from erp.catalog.models import Sku
from erp.core import audit, events
from erp.core.models import utcnow
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

#: the locations supplies are taken from, in this order of preference
SUPPLY_KINDS = (LocationKind.packing, LocationKind.storage)
#: tries of :func:`take_supply` when concurrent takers emptied the bin it chose
_TRIES = 3


_LEVEL, _LOCATION = StockLevel.__table__, Location.__table__
_COUNT, _COUNT_LINE = CycleCount.__table__, CycleCountLine.__table__
_FROZEN_STATES = sorted(CYCLE_COUNT_STATES.groups["frozen"])


def _not_frozen(level) -> object:
    """Return "no open (or in review) cycle count freezes this level" (``level``: a table)."""
    return ~exists().where(
        _COUNT_LINE.c.sku_id == level.c.sku_id, _COUNT_LINE.c.location_id == level.c.location_id,
        _COUNT.c.id == _COUNT_LINE.c.count_id, _COUNT.c.state.in_(_FROZEN_STATES))


_PACKING_FIRST = case((_LOCATION.c.kind == LocationKind.packing, 0), else_=1)


def _free_bins(level, *columns):
    """Return ``select(*columns)`` of the levels with a free unit in a supply bin."""
    return (select(*columns).select_from(level)
            .join(_LOCATION, _LOCATION.c.id == level.c.location_id)
            .where(_LOCATION.c.active.is_(True), _LOCATION.c.kind.in_(SUPPLY_KINDS),
                   level.c.on_hand > level.c.reserved, _not_frozen(level)))


# Core statements on the tables, built once (as the ledger's are): building a statement, or
# the ORM's bulk-update bookkeeping, costs more than running it.
_CHOSEN = _LEVEL.alias("chosen")
_TAKE = (
    update(_LEVEL)
    .where(_LEVEL.c.sku_id == bindparam("sku"),
           _LEVEL.c.location_id == _free_bins(_CHOSEN, _CHOSEN.c.location_id)
           .where(_CHOSEN.c.sku_id == bindparam("sku"),
                  _LOCATION.c.warehouse_id == bindparam("wh"))
           .order_by(_PACKING_FIRST, _LOCATION.c.id).limit(1).scalar_subquery(),
           _LEVEL.c.on_hand > _LEVEL.c.reserved, _not_frozen(_LEVEL))
    .values(on_hand=_LEVEL.c.on_hand - 1)
    .returning(_LEVEL.c.location_id, _LEVEL.c.on_hand))
_MOVE = StockMove.__table__
_INSERT_MOVE = insert(_MOVE).values(
    sku_id=bindparam("sku"), from_location_id=bindparam("from_id"),
    to_location_id=bindparam("to_id"), quantity=1,
    # an outgoing move carries the SKU's average cost, as post_moves writes it
    unit_cost=select(func.coalesce(Sku.__table__.c.avg_cost, 0))
    .where(Sku.__table__.c.id == bindparam("sku")).scalar_subquery(),
    kind=bindparam("kind"), ref_type=bindparam("ref_type"), ref_id=bindparam("ref_id"),
    actor_id=bindparam("actor_id"), at=bindparam("at"), note=bindparam("note"),
).returning(_MOVE.c.id)


def supply_bins(sku_ids: Iterable[int], warehouse_ids: Iterable[int]) -> list:
    """Return the bins holding free units of the SKUs in the warehouses, in taking order.

    Rows of ``sku_id, location_id, warehouse_id, free``, by SKU, then best bin first (see the
    module's docstring). Read without a lock: the caller locks the levels
    (:func:`~erp.warehouse.services.ledger.lock_levels`) and reads them again before moving.
    """
    sku_ids, warehouse_ids = sorted(set(sku_ids)), sorted(set(warehouse_ids))
    if not sku_ids or not warehouse_ids:
        return []
    return list(db.session.execute(
        _free_bins(_LEVEL, _LEVEL.c.sku_id, _LEVEL.c.location_id, _LOCATION.c.warehouse_id,
                   (_LEVEL.c.on_hand - _LEVEL.c.reserved).label("free"))
        .where(_LEVEL.c.sku_id.in_(sku_ids), _LOCATION.c.warehouse_id.in_(warehouse_ids))
        .order_by(_LEVEL.c.sku_id, _PACKING_FIRST, _LOCATION.c.id)).all())


def take_supply(sku_id: int, warehouse_id: int, *, to_location_id: int, ref_type: str,
                ref_id: int, note: str | None = None, actor,
                kind: MoveKind = MoveKind.ship) -> int | None:
    """Move one free unit of a supply SKU out of the warehouse; return the move's id.

    Returns None, moving nothing, when no bin of the warehouse has a free unit (the caller
    records the shortfall). See the module's docstring for the bins and the statements.
    """
    params = {"sku": sku_id, "wh": warehouse_id}
    row = None
    for _try in range(_TRIES):
        row = db.session.execute(_TAKE, params).first()
        if row is not None or db.session.get_bind().dialect.name == "sqlite":
            break  # SQLite has one writer at a time: no bin means none is free
    if row is None:
        return None
    at = utcnow()
    move_id = db.session.execute(_INSERT_MOVE, {
        "sku": sku_id, "from_id": row.location_id, "to_id": to_location_id,
        "kind": MoveKind(kind), "ref_type": ref_type, "ref_id": ref_id,
        "actor_id": getattr(actor, "id", None), "at": at, "note": note}).scalar_one()
    level = db.session.identity_map.get(identity_key(StockLevel, (sku_id, row.location_id)))
    if level is not None:  # a loaded level shows the unit gone, as post_moves keeps it
        set_committed_value(level, "on_hand", row.on_hand)
    audit.record_many("stock_move", "stock_move.posted", [(move_id, None, {
        "kind": MoveKind(kind).value, "moves": 1, "quantity": 1, "ref": f"{ref_type}:{ref_id}",
        "first_move_id": move_id, "last_move_id": move_id})], actor=actor)
    events.mark_changed("stock.changed", [sku_id])
    return move_id


__all__ = ["SUPPLY_KINDS", "supply_bins", "take_supply"]
