"""Read-side warehouse queries: availability, stock by SKU and bin, moves, ledger check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Select, and_, case, func, literal, or_, select, union_all
from sqlalchemy.orm import contains_eager, joinedload

from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku
from erp.catalog.queries import SkuFilters, sku_list_query
from erp.core.models import User
from erp.extensions import db
from erp.warehouse.models import (
    CYCLE_COUNT_STATES,
    VIRTUAL_KINDS,
    AdjustmentState,
    CycleCount,
    CycleCountLine,
    Location,
    LocationKind,
    PutawayState,
    PutawayTask,
    Reservation,
    StockAdjustment,
    StockLevel,
    StockMove,
    TransferLine,
    TransferOrder,
    Warehouse,
)

# --------------------------------------------------------------------------- availability
#
# One truth of what can be sold: *allocatable* stock is stock in storage bins that are active
# and whose SKU-bin pair no open (or in review) cycle count freezes. Allocation reserves only
# from there, and the storefront API reports only that as available, through the two builders
# below; neither writes its own condition, so they cannot drift apart.

#: the level's SKU-bin pair is frozen by an open (or in review) cycle count
FROZEN_LEVEL = (
    select(CycleCountLine.id)
    .join(CycleCount, CycleCount.id == CycleCountLine.count_id)
    .where(CycleCountLine.sku_id == StockLevel.sku_id,
           CycleCountLine.location_id == StockLevel.location_id,
           CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])))
    .correlate(StockLevel).exists())


def allocatable_condition():
    """Return the condition that a level (joined with its ``Location``) may be reserved from.

    Storage bins only, active, and not frozen by a count: the single definition allocation and
    the stock API share.
    """
    return and_(Location.kind == LocationKind.storage, Location.active.is_(True),
                ~FROZEN_LEVEL)


def allocatable_bins_query(sku_ids) -> Select:
    """Return ``(sku_id, location_id, warehouse_id)`` of the levels allocation may reserve from.

    In walking order; only levels with something available (on hand above reserved) are listed.
    """
    return (select(StockLevel.sku_id, StockLevel.location_id, Location.warehouse_id)
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.sku_id.in_(list(sku_ids)), allocatable_condition(),
                   StockLevel.on_hand > StockLevel.reserved)
            .order_by(Location.pick_sequence, Location.id))


#: the buckets of :func:`stock_availability_query`
BUCKET_AVAILABLE, BUCKET_INBOUND, BUCKET_BLOCKED = 0, 1, 2
#: a level's bin is an in-transit location (goods shipped by a transfer, not yet received)
IN_TRANSIT = Location.kind == LocationKind.in_transit


def stock_availability_query(sku_ids=None) -> Select:
    """Return ``(sku_id, available, inbound, blocked, in_transit)`` per SKU with any level.

    - ``available``: on hand less reserved in allocatable bins (:func:`allocatable_condition`),
      exactly what allocation can still reserve;
    - ``inbound``: on hand in receiving bins, waiting to be put away;
    - ``blocked``: on hand anywhere else: quarantine, returns, packing, shipping and scrap
      bins, inactive bins, SKU-bin pairs frozen by a count, and goods in transit;
    - ``in_transit``: the part of ``blocked`` shipped by a transfer between warehouses and not
      yet received.

    What is reserved in allocatable bins is in none of them, so on hand is ``available +
    reserved there + inbound + blocked``.
    """
    level = StockLevel
    bucket = case((Location.kind == LocationKind.receiving, BUCKET_INBOUND),
                  (allocatable_condition(), BUCKET_AVAILABLE), else_=BUCKET_BLOCKED)
    rows = (select(level.sku_id, level.on_hand, level.reserved, bucket.label("bucket"),
                   case((IN_TRANSIT, level.on_hand), else_=0).label("in_transit"))
            .join(Location, Location.id == level.location_id))
    if sku_ids is not None:
        rows = rows.where(level.sku_id.in_(list(sku_ids)))
    rows = rows.subquery("levels")

    def total(value, which):
        return func.coalesce(func.sum(case((rows.c.bucket == which, value), else_=0)), 0)

    return (select(rows.c.sku_id,
                   total(rows.c.on_hand - rows.c.reserved, BUCKET_AVAILABLE).label("available"),
                   total(rows.c.on_hand, BUCKET_INBOUND).label("inbound"),
                   total(rows.c.on_hand, BUCKET_BLOCKED).label("blocked"),
                   func.coalesce(func.sum(rows.c.in_transit), 0).label("in_transit"))
            .group_by(rows.c.sku_id))


def availability_query(sku_ids=None) -> Select:
    """Return ``(sku_id, on_hand, reserved, available)`` summed over every bin.

    This is the stock the company holds (replenishment's stock position counts goods in
    receiving and quarantine too); what can be sold is :func:`stock_availability_query`.

    Reads ``stock_level`` only, so it does not grow with the length of the ledger. Built on
    the table rather than the entity, so a session returns plain rows without the ORM's row
    processing, which costs more than the query itself over 100,000 SKUs.
    """
    level = StockLevel.__table__.c
    stmt = (select(level.sku_id, func.sum(level.on_hand).label("on_hand"),
                   func.sum(level.reserved).label("reserved"),
                   func.sum(level.on_hand - level.reserved).label("available"))
            .group_by(level.sku_id))
    if sku_ids is not None:
        stmt = stmt.where(level.sku_id.in_(list(sku_ids)))
    return stmt


def stock_by_bin_query(*, sku_id: int | None = None, location_id: int | None = None,
                       warehouse_id: int | None = None, q: str | None = None,
                       nonzero: bool = True) -> Select:
    """Return levels joined with SKU, bin and warehouse, in pick sequence.

    Goods in transit (in an in-transit location) are never ``available``.
    """
    stmt = (select(StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand,
                   StockLevel.reserved,
                   case((IN_TRANSIT, 0), else_=StockLevel.on_hand - StockLevel.reserved)
                   .label("available"),
                   Sku.code.label("sku_code"), Product.name.label("product_name"),
                   Location.code.label("bin_code"), Location.kind.label("bin_kind"),
                   Location.pick_sequence, Warehouse.code.label("warehouse_code"),
                   Warehouse.id.label("warehouse_id"), Sku.avg_cost)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Location, Location.id == StockLevel.location_id)
            .join(Warehouse, Warehouse.id == Location.warehouse_id)
            .order_by(Warehouse.code, Location.pick_sequence, Location.code, Sku.code))
    if nonzero:
        stmt = stmt.where(or_(StockLevel.on_hand != 0, StockLevel.reserved != 0))
    if sku_id:
        stmt = stmt.where(StockLevel.sku_id == sku_id)
    if location_id:
        stmt = stmt.where(StockLevel.location_id == location_id)
    if warehouse_id:
        stmt = stmt.where(Location.warehouse_id == warehouse_id)
    if q:
        # part of a SKU or bin code (any case), a whole barcode, or part of the product's name;
        # LIKE wildcards typed in are taken literally
        text = q.strip()
        stmt = stmt.where(or_(Sku.code == text.upper(), Sku.barcode == text,
                              Location.code == text.upper(),
                              func.upper(Sku.code).contains(text.upper(), autoescape=True),
                              func.upper(Location.code).contains(text.upper(), autoescape=True),
                              func.lower(Product.name).contains(text.lower(), autoescape=True)))
    return stmt


def stock_by_warehouse_query(sku_id: int) -> Select:
    """Return ``(code, on_hand, reserved, available, in_transit)`` of one SKU per warehouse.

    ``in_transit`` is on its way to the warehouse by a transfer; it is in none of the others.
    """
    here = case((IN_TRANSIT, 0), else_=StockLevel.on_hand)
    return (select(Warehouse.code, func.sum(here).label("on_hand"),
                   func.sum(StockLevel.reserved).label("reserved"),
                   func.sum(here - StockLevel.reserved).label("available"),
                   func.sum(case((IN_TRANSIT, StockLevel.on_hand), else_=0))
                   .label("in_transit"))
            .join(Location, Location.id == StockLevel.location_id)
            .join(Warehouse, Warehouse.id == Location.warehouse_id)
            .where(StockLevel.sku_id == sku_id).group_by(Warehouse.code)
            .order_by(Warehouse.code))


@dataclass
class MoveFilters:
    """The move history's filters."""

    sku_id: int | None = None
    location_id: int | None = None
    kind: str | None = None
    ref_type: str | None = None
    ref_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None


def move_history_query(f: MoveFilters) -> Select:
    """Return stock moves matching the filters, newest first."""
    stmt = select(StockMove).order_by(StockMove.at.desc(), StockMove.id.desc())
    if f.sku_id:
        stmt = stmt.where(StockMove.sku_id == f.sku_id)
    if f.location_id:
        stmt = stmt.where(or_(StockMove.from_location_id == f.location_id,
                              StockMove.to_location_id == f.location_id))
    if f.kind:
        stmt = stmt.where(StockMove.kind == f.kind)
    if f.ref_type:
        stmt = stmt.where(StockMove.ref_type == f.ref_type)
    if f.ref_id:
        stmt = stmt.where(StockMove.ref_id == f.ref_id)
    if f.date_from:
        stmt = stmt.where(StockMove.at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(StockMove.at < datetime.combine(f.date_to + timedelta(days=1),
                                                          time.min, UTC))
    return stmt


def valuation_query(group: str = "sku") -> Select:
    """Return stock value (on hand x moving-average cost) grouped by sku, brand or category.

    ``on_hand`` and ``value`` count all stock; ``in_transit`` and ``in_transit_value`` are the
    part of it shipped between warehouses and not yet received.
    """
    value = func.sum(StockLevel.on_hand * Sku.avg_cost)
    moving = case((IN_TRANSIT, StockLevel.on_hand), else_=0)
    figures = (func.sum(StockLevel.on_hand).label("on_hand"), value.label("value"),
               func.sum(moving).label("in_transit"),
               func.sum(moving * Sku.avg_cost).label("in_transit_value"))
    base = (select().select_from(StockLevel).join(Sku, Sku.id == StockLevel.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Location, Location.id == StockLevel.location_id))
    if group == "brand":
        return (base.join(Brand, Brand.id == Product.brand_id)
                .add_columns(Brand.code.label("key"), Brand.name.label("name"), *figures)
                .group_by(Brand.code, Brand.name).order_by(Brand.code))
    if group == "category":
        return (base.join(Category, Category.id == Product.category_id)
                .add_columns(Category.code.label("key"), Category.full_name.label("name"),
                             *figures)
                .group_by(Category.code, Category.full_name).order_by(Category.full_name))
    return (base.add_columns(Sku.code.label("key"), Product.name.label("name"), Sku.avg_cost,
                             *figures)
            .group_by(Sku.code, Product.name, Sku.avg_cost)
            .having(func.sum(StockLevel.on_hand) != 0).order_by(Sku.code))


@dataclass
class LedgerProblem:
    """One difference found by the ledger check."""

    sku_id: int
    location_id: int
    problem: str


def ledger_problems(session) -> list[LedgerProblem]:
    """Return every ledger difference, checked in SQL over the whole database.

    Each level must equal its moves in minus moves out, nothing may be negative, and reserved
    must stay within on hand and equal the reservations held.
    """
    virtual_ids = select(Location.id).where(Location.kind.in_(list(VIRTUAL_KINDS)))
    flows = union_all(
        select(StockMove.sku_id.label("sku_id"), StockMove.to_location_id.label("loc"),
               StockMove.quantity.label("qty")),
        select(StockMove.sku_id, StockMove.from_location_id, -StockMove.quantity),
    ).subquery()
    from_moves = (select(flows.c.sku_id, flows.c.loc, func.sum(flows.c.qty).label("qty"))
                  .where(flows.c.loc.not_in(virtual_ids))
                  .group_by(flows.c.sku_id, flows.c.loc).subquery())
    held = (select(Reservation.sku_id, Reservation.location_id,
                   func.sum(Reservation.quantity).label("qty"))
            .group_by(Reservation.sku_id, Reservation.location_id).subquery())
    problems: list[LedgerProblem] = []
    # Levels whose on_hand differs from the moves (including levels with no moves at all).
    rows = session.execute(
        select(StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand,
               StockLevel.reserved, func.coalesce(from_moves.c.qty, 0).label("moved"),
               func.coalesce(held.c.qty, 0).label("held"))
        .outerjoin(from_moves, and_(from_moves.c.sku_id == StockLevel.sku_id,
                                    from_moves.c.loc == StockLevel.location_id))
        .outerjoin(held, and_(held.c.sku_id == StockLevel.sku_id,
                              held.c.location_id == StockLevel.location_id))
        .where(or_(StockLevel.on_hand != func.coalesce(from_moves.c.qty, 0),
                   StockLevel.on_hand < 0, StockLevel.reserved < 0,
                   StockLevel.reserved > StockLevel.on_hand,
                   StockLevel.reserved != func.coalesce(held.c.qty, 0)))).all()
    for r in rows:
        if r.on_hand != r.moved:
            problems.append(LedgerProblem(r.sku_id, r.location_id,
                                          f"on hand {r.on_hand} but moves give {r.moved}"))
        if r.on_hand < 0:
            problems.append(LedgerProblem(r.sku_id, r.location_id, f"on hand {r.on_hand} < 0"))
        if r.reserved < 0 or r.reserved > r.on_hand:
            problems.append(LedgerProblem(r.sku_id, r.location_id,
                                          f"reserved {r.reserved} outside 0..{r.on_hand}"))
        if r.reserved != r.held:
            problems.append(LedgerProblem(r.sku_id, r.location_id,
                                          f"reserved {r.reserved} but reservations hold {r.held}"))
    # Moves into bins that have no level row at all.
    missing = session.execute(
        select(from_moves.c.sku_id, from_moves.c.loc, from_moves.c.qty)
        .outerjoin(StockLevel, and_(StockLevel.sku_id == from_moves.c.sku_id,
                                    StockLevel.location_id == from_moves.c.loc))
        .where(StockLevel.sku_id.is_(None), from_moves.c.qty != literal(0))).all()
    problems += [LedgerProblem(r.sku_id, r.loc, f"moves give {r.qty} but no stock level exists")
                 for r in missing]
    return problems


# --------------------------------------------------------------------------- screens


#: the bin list's sort orders; pick sequence is the walking order
LOCATION_SORTS = {
    "sequence": (Location.pick_sequence, Location.code),
    "code": (Location.code,),
}


@dataclass
class LocationFilters:
    """The bin list's search (code), filters and sort; also the locations export's."""

    warehouse_id: int | None = None
    q: str | None = None
    kind: str | None = None
    active: bool | None = None
    sort: str = "sequence"
    ids: tuple[int, ...] = ()


def warehouse_list_query() -> Select:
    """Return ``(Warehouse, bins, active_bins)``, warehouses by code."""
    bins = (select(func.count(Location.id)).where(Location.warehouse_id == Warehouse.id)
            .correlate(Warehouse).scalar_subquery())
    active_bins = (select(func.count(Location.id))
                   .where(Location.warehouse_id == Warehouse.id, Location.active.is_(True))
                   .correlate(Warehouse).scalar_subquery())
    return (select(Warehouse, bins.label("bins"), active_bins.label("active_bins"))
            .order_by(Warehouse.code))


def location_list_query(f: LocationFilters) -> Select:
    """Return the physical bins (with their warehouse) matching the filters, in walking order."""
    stmt = (select(Location).join(Warehouse, Warehouse.id == Location.warehouse_id)
            .options(contains_eager(Location.warehouse))
            .where(Location.kind.not_in(list(VIRTUAL_KINDS))))
    if f.warehouse_id:
        stmt = stmt.where(Location.warehouse_id == f.warehouse_id)
    if f.q:
        stmt = stmt.where(Location.code.like(f"%{_escape_like(f.q.strip().upper())}%",
                                             escape="\\"))
    if f.kind:
        stmt = stmt.where(Location.kind == f.kind)
    if f.active is not None:
        stmt = stmt.where(Location.active.is_(f.active))
    if f.ids:
        stmt = stmt.where(Location.id.in_(list(f.ids)))
    return stmt.order_by(Warehouse.code, *LOCATION_SORTS.get(f.sort, LOCATION_SORTS["sequence"]),
                         Location.id)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def bin_barcode_values(locations) -> dict[int, str]:
    """Return what each bin's label barcode encodes: its bare code, or ``WH/CODE`` if needed.

    A scanned bare code must find exactly this bin (:func:`~erp.warehouse.services.
    find_location` looks among every active location), so the bare code is used only when no
    other active location has the same code.
    """
    locations = list(locations)
    codes = sorted({loc.code for loc in locations})
    counts: dict[str, int] = {}
    for start in range(0, len(codes), 500):  # keep IN lists short on every database
        counts.update(db.session.execute(
            select(Location.code, func.count(Location.id))
            .where(Location.active.is_(True), Location.code.in_(codes[start:start + 500]))
            .group_by(Location.code)).all())
    values = {}
    for loc in locations:
        others = counts.get(loc.code, 0) - (1 if loc.active else 0)
        values[loc.id] = loc.code if others <= 0 else loc.label
    return values


@dataclass
class StockFilters:
    """The stock list's search and filters (and its export's)."""

    warehouse_id: int | None = None
    q: str | None = None
    kind: str | None = None
    available_only: bool = False


def stock_list_query(f: StockFilters) -> Select:
    """Return the non-empty stock levels matching the filters, in walking order."""
    stmt = stock_by_bin_query(warehouse_id=f.warehouse_id, q=f.q)
    if f.kind:
        stmt = stmt.where(Location.kind == f.kind)
    if f.available_only:
        stmt = stmt.where(StockLevel.on_hand > StockLevel.reserved, ~IN_TRANSIT)
    return stmt


def stock_list_count_query(f: StockFilters) -> Select:
    """Return the number of rows :func:`stock_list_query` gives, with only the joins it needs.

    Without a search the SKU, product and warehouse joins add columns, not conditions, so the
    count reads the levels (and their bins for a warehouse or kind) alone.
    """
    if f.q:
        return select(func.count()).select_from(stock_list_query(f).order_by(None).subquery())
    stmt = (select(func.count()).select_from(StockLevel)
            .where(or_(StockLevel.on_hand != 0, StockLevel.reserved != 0)))
    if f.warehouse_id or f.kind or f.available_only:
        stmt = stmt.join(Location, Location.id == StockLevel.location_id)
    if f.warehouse_id:
        stmt = stmt.where(Location.warehouse_id == f.warehouse_id)
    if f.kind:
        stmt = stmt.where(Location.kind == f.kind)
    if f.available_only:
        stmt = stmt.where(StockLevel.on_hand > StockLevel.reserved, ~IN_TRANSIT)
    return stmt


def move_list_query(f: MoveFilters) -> Select:
    """Return :func:`move_history_query` with the SKU, bins, warehouses and actor loaded."""
    return move_history_query(f).options(
        joinedload(StockMove.sku).joinedload(Sku.product),
        joinedload(StockMove.from_location).joinedload(Location.warehouse),
        joinedload(StockMove.to_location).joinedload(Location.warehouse),
        joinedload(StockMove.actor))


def adjustment_list_query(state: str | None = None) -> Select:
    """Return stock adjustments (optionally of one state), pending first, newest first."""
    stmt = (select(StockAdjustment).options(
        joinedload(StockAdjustment.sku), joinedload(StockAdjustment.location)
        .joinedload(Location.warehouse), joinedload(StockAdjustment.requested_by),
        joinedload(StockAdjustment.decided_by))
        .order_by((StockAdjustment.state == AdjustmentState.pending).desc(),
                  StockAdjustment.requested_at.desc(), StockAdjustment.id.desc()))
    if state:
        stmt = stmt.where(StockAdjustment.state == state)
    return stmt


def pending_adjustment_count() -> int:
    """Return how many adjustments wait for a manager."""
    return db.session.scalar(select(func.count()).select_from(StockAdjustment).where(
        StockAdjustment.state == AdjustmentState.pending)) or 0


def bins_with_stock_count() -> int:
    """Return how many bins hold any stock."""
    return db.session.scalar(select(func.count(func.distinct(StockLevel.location_id)))
                               .where(StockLevel.on_hand > 0)) or 0


# --------------------------------------------------------------------------- cycle counts


def frozen_levels_query(*, sku_id: int | None = None, location_id: int | None = None,
                        warehouse_id: int | None = None) -> Select:
    """Return the SKU-bin pairs frozen by an open (or in review) cycle count.

    Rows are ``(sku_id, location_id, count_id, count_number, count_state)``; stock screens
    join or look them up to show a "frozen" badge next to the stock that cannot move.
    """
    stmt = (select(CycleCountLine.sku_id, CycleCountLine.location_id,
                   CycleCount.id.label("count_id"), CycleCount.number.label("count_number"),
                   CycleCount.state.label("count_state"))
            .join(CycleCount, CycleCount.id == CycleCountLine.count_id)
            .where(CycleCount.state.in_(list(CYCLE_COUNT_STATES.groups["frozen"])))
            .order_by(CycleCountLine.sku_id, CycleCountLine.location_id))
    if sku_id:
        stmt = stmt.where(CycleCountLine.sku_id == sku_id)
    if location_id:
        stmt = stmt.where(CycleCountLine.location_id == location_id)
    if warehouse_id:
        stmt = stmt.where(CycleCount.warehouse_id == warehouse_id)
    return stmt


def frozen_keys(*, sku_id: int | None = None, location_id: int | None = None,
                warehouse_id: int | None = None) -> dict[tuple[int, int], str]:
    """Return ``{(sku id, location id): count number}`` of the frozen pairs matching."""
    rows = db.session.execute(frozen_levels_query(sku_id=sku_id, location_id=location_id,
                                                  warehouse_id=warehouse_id)).all()
    return {(r.sku_id, r.location_id): r.count_number for r in rows}


def cycle_count_list_query(state: str | None = None, warehouse_id: int | None = None) -> Select:
    """Return counts with their line, counted and variance totals, open ones first, newest first.

    Rows: ``id, number, state, note, created_at, warehouse_code, created_by, lines, counted,
    variances``.
    """
    totals = (select(CycleCountLine.count_id,
                     func.count().label("lines"),
                     func.count(CycleCountLine.counted_qty).label("counted"),
                     func.sum(case((CycleCountLine.counted_qty != CycleCountLine.expected_qty, 1),
                                   else_=0)).label("variances"))
              .group_by(CycleCountLine.count_id).subquery())
    stmt = (select(CycleCount.id, CycleCount.number, CycleCount.state, CycleCount.note,
                   CycleCount.created_at, Warehouse.code.label("warehouse_code"),
                   User.full_name.label("created_by"),
                   func.coalesce(totals.c.lines, 0).label("lines"),
                   func.coalesce(totals.c.counted, 0).label("counted"),
                   func.coalesce(totals.c.variances, 0).label("variances"))
            .join(Warehouse, Warehouse.id == CycleCount.warehouse_id)
            .outerjoin(User, User.id == CycleCount.created_by_id)
            .outerjoin(totals, totals.c.count_id == CycleCount.id)
            .order_by(CycleCount.state.in_(list(CYCLE_COUNT_STATES.groups["frozen"])).desc(),
                      CycleCount.created_at.desc(), CycleCount.id.desc()))
    if state:
        stmt = stmt.where(CycleCount.state == state)
    if warehouse_id:
        stmt = stmt.where(CycleCount.warehouse_id == warehouse_id)
    return stmt


def cycle_count_lines_query(count_id: int) -> Select:
    """Return a count's lines in bin walking order (pick sequence, bin, SKU).

    Rows: ``id, sku_id, location_id, sku_code, barcode, product_name, colour, size, bin_code,
    pick_sequence, expected_qty, counted_qty, variance, avg_cost, counted_at, on_hand,
    reserved`` (the last two are the bin's stock now).
    """
    return (select(CycleCountLine.id, CycleCountLine.sku_id, CycleCountLine.location_id,
                   Sku.code.label("sku_code"), Sku.barcode, Product.name.label("product_name"),
                   Sku.colour, Sku.size, Location.code.label("bin_code"),
                   Location.pick_sequence, CycleCountLine.expected_qty,
                   CycleCountLine.counted_qty,
                   (CycleCountLine.counted_qty - CycleCountLine.expected_qty).label("variance"),
                   Sku.avg_cost, CycleCountLine.counted_at,
                   func.coalesce(StockLevel.on_hand, 0).label("on_hand"),
                   func.coalesce(StockLevel.reserved, 0).label("reserved"))
            .join(Sku, Sku.id == CycleCountLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Location, Location.id == CycleCountLine.location_id)
            .outerjoin(StockLevel, and_(StockLevel.sku_id == CycleCountLine.sku_id,
                                        StockLevel.location_id == CycleCountLine.location_id))
            .where(CycleCountLine.count_id == count_id)
            .order_by(Location.pick_sequence, Location.code, Sku.code))


def valuation_total() -> tuple[int, Decimal]:
    """Return ``(units on hand, value)`` of all stock at moving-average cost."""
    row = db.session.execute(
        select(func.coalesce(func.sum(StockLevel.on_hand), 0),
               func.sum(StockLevel.on_hand * Sku.avg_cost))
        .join(Sku, Sku.id == StockLevel.sku_id)).one()
    return int(row[0] or 0), row[1] if row[1] is not None else Decimal(0)


def in_transit_total() -> tuple[int, Decimal]:
    """Return ``(units, value)`` of the stock in transit between warehouses, at average cost."""
    row = db.session.execute(
        select(func.coalesce(func.sum(StockLevel.on_hand), 0),
               func.sum(StockLevel.on_hand * Sku.avg_cost))
        .join(Sku, Sku.id == StockLevel.sku_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(IN_TRANSIT)).one()
    return int(row[0] or 0), row[1] if row[1] is not None else Decimal(0)


def sku_matches_query(text: str, limit: int = 50) -> Select:
    """Return up to ``limit`` SKUs whose code, product code or name contains ``text``."""
    return sku_list_query(SkuFilters(q=text)).limit(limit)


def inactive_bin_by_code(text: str) -> Location | None:
    """Return the one inactive bin with code ``CODE`` or ``WH/CODE``, else None.

    Scanning finds active bins only; the move history also looks up bins since deactivated.
    """
    wh_code, _, code = (text or "").strip().upper().rpartition("/")
    stmt = select(Location).where(Location.code == code, Location.active.is_(False),
                                  Location.warehouse_id.is_not(None))
    if wh_code:
        stmt = stmt.join(Warehouse, Warehouse.id == Location.warehouse_id).where(
            Warehouse.code == wh_code)
    found = db.session.scalars(stmt.limit(2)).all()
    return found[0] if len(found) == 1 else None


def _stock_value_raw():
    """Return on hand x average cost of a level, in ten-thousandths (exact integer)."""
    from sqlalchemy import BigInteger, type_coerce

    return StockLevel.on_hand * type_coerce(Sku.avg_cost, BigInteger)


def stock_value_by_brand_category_query() -> Select:
    """Return stock on hand and its value (x moving-average cost) per brand and category.

    Columns: ``brand_code, brand_name, category_code, category_name, on_hand, value``; levels
    exist in physical bins only. One small grouped result for both of the dashboard's splits;
    levels are summed per product first, so brand and category are looked up once a product.
    """
    from sqlalchemy import type_coerce

    from erp.core.types import Money

    per_product = (select(Sku.product_id, func.sum(StockLevel.on_hand).label("on_hand"),
                          func.sum(_stock_value_raw()).label("value_raw"))
                   .select_from(StockLevel)
                   .join(Sku, Sku.id == StockLevel.sku_id)
                   .where(StockLevel.on_hand > 0)
                   .group_by(Sku.product_id).subquery())
    return (select(Brand.code.label("brand_code"), Brand.name.label("brand_name"),
                   Category.code.label("category_code"),
                   Category.full_name.label("category_name"),
                   func.sum(per_product.c.on_hand).label("on_hand"),
                   type_coerce(func.sum(per_product.c.value_raw), Money()).label("value"))
            .select_from(per_product)
            .join(Product, Product.id == per_product.c.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .join(Category, Category.id == Product.category_id)
            .group_by(Brand.code, Brand.name, Category.code, Category.full_name))


def slow_movers_query(since: datetime) -> Select:
    """Return the SKUs with stock on hand and no units shipped since ``since``.

    Shipped: a ``ship`` move (to the customer) at or after ``since``. Columns: ``sku_id,
    sku_code, product_name, on_hand, avg_cost, value``; unordered (order by value to rank).
    """
    from sqlalchemy import BigInteger, type_coerce

    from erp.core.types import Money
    from erp.warehouse.models import MoveKind

    # SKUs shipped since then, once (ix_stock_move_kind_at), then an outer-join anti-join:
    # a hash anti-join on PostgreSQL instead of one index probe per SKU
    shipped = (select(StockMove.sku_id).where(StockMove.kind == MoveKind.ship,
                                              StockMove.at >= since)
               .group_by(StockMove.sku_id).subquery())
    on_hand = (select(StockLevel.sku_id, func.sum(StockLevel.on_hand).label("on_hand"))
               .where(StockLevel.on_hand > 0).group_by(StockLevel.sku_id).subquery())
    return (select(Sku.id.label("sku_id"), Sku.code.label("sku_code"),
                   Product.name.label("product_name"), on_hand.c.on_hand, Sku.avg_cost,
                   type_coerce(on_hand.c.on_hand * type_coerce(Sku.avg_cost, BigInteger),
                               Money()).label("value"))
            .select_from(on_hand)
            .join(Sku, Sku.id == on_hand.c.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .outerjoin(shipped, shipped.c.sku_id == on_hand.c.sku_id)
            .where(shipped.c.sku_id.is_(None)))


# --------------------------------------------------------------------------- put-away

#: the bin has a line in an open (or in review) cycle count: nothing new goes in meanwhile
BIN_UNDER_COUNT = (
    select(CycleCountLine.id)
    .join(CycleCount, CycleCount.id == CycleCountLine.count_id)
    .where(CycleCountLine.location_id == Location.id,
           CycleCount.state.in_(sorted(CYCLE_COUNT_STATES.groups["frozen"])))
    .correlate(Location).exists())


def bin_zone(code: str) -> str:
    """Return the zone of a bin code: ``A`` of ``A-01-02-03`` (zone-aisle-rack-bin)."""
    return code.split("-", 1)[0]


def _putaway_target():
    """Return the condition that a bin may take put-away stock: active storage, not counted."""
    return and_(Location.kind == LocationKind.storage, Location.active.is_(True),
                ~BIN_UNDER_COUNT)


def putaway_holders_query(sku_ids, warehouse_ids) -> Select:
    """Return ``(sku_id, warehouse_id, location_id)`` of put-away targets holding each SKU.

    In walking order, so the first row of a SKU and warehouse is the bin to suggest.
    """
    return (select(StockLevel.sku_id, Location.warehouse_id, Location.id.label("location_id"))
            .join(Location, Location.id == StockLevel.location_id)
            .where(StockLevel.sku_id.in_(list(sku_ids)),
                   Location.warehouse_id.in_(list(warehouse_ids)), StockLevel.on_hand > 0,
                   _putaway_target())
            .order_by(Location.pick_sequence, Location.code, Location.id))


def product_zones_query(product_ids, warehouse_ids) -> Select:
    """Return ``(product_id, warehouse_id, code)`` of storage bins holding each product's SKUs.

    In walking order: the first bin's zone is where the product (its other sizes and colours)
    is kept.
    """
    return (select(Sku.product_id, Location.warehouse_id, Location.code)
            .select_from(StockLevel)
            .join(Sku, Sku.id == StockLevel.sku_id)
            .join(Location, Location.id == StockLevel.location_id)
            .where(Sku.product_id.in_(list(product_ids)),
                   Location.warehouse_id.in_(list(warehouse_ids)),
                   Location.kind == LocationKind.storage, StockLevel.on_hand > 0)
            .order_by(Location.pick_sequence, Location.code, Location.id))


def empty_storage_bins_query(warehouse_id: int, *, zone: str | None = None,
                             limit: int | None = None) -> Select:
    """Return ``(id, code)`` of empty put-away targets of a warehouse, in walking order.

    Empty: no stock on hand or reserved, and not already the suggestion of an open put-away
    task (so two SKUs are not sent to one empty bin). ``zone`` keeps to bins ``ZONE-...``.
    """
    held = (select(StockLevel.location_id)
            .where(StockLevel.location_id == Location.id,
                   or_(StockLevel.on_hand > 0, StockLevel.reserved > 0))
            .correlate(Location).exists())
    promised = (select(PutawayTask.id)
                .where(PutawayTask.suggested_location_id == Location.id,
                       PutawayTask.state == PutawayState.open)
                .correlate(Location).exists())
    stmt = (select(Location.id, Location.code)
            .where(Location.warehouse_id == warehouse_id, _putaway_target(), ~held, ~promised)
            .order_by(Location.pick_sequence, Location.code, Location.id))
    if zone:
        stmt = stmt.where(Location.code.like(f"{_escape_like(zone)}-%", escape="\\"))
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


def open_putaway_query(warehouse_id: int | None = None) -> Select:
    """Return the open put-away tasks for the scanner screen, in walking order.

    The order is that of their suggested bins (tasks without a suggestion last), then oldest
    first.

    Rows: ``id, sku_id, sku_code, barcode, product_name, colour, size, from_code,
    suggested_code, quantity, done_qty, left, created_at``.
    """
    source = Location.__table__.alias("source")
    target = Location.__table__.alias("target")
    stmt = (select(PutawayTask.id, PutawayTask.sku_id, Sku.code.label("sku_code"), Sku.barcode,
                   Product.name.label("product_name"), Sku.colour, Sku.size,
                   source.c.code.label("from_code"), target.c.code.label("suggested_code"),
                   PutawayTask.quantity, PutawayTask.done_qty,
                   (PutawayTask.quantity - PutawayTask.done_qty).label("left"),
                   PutawayTask.created_at)
            .join(Sku, Sku.id == PutawayTask.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(source, source.c.id == PutawayTask.from_location_id)
            .outerjoin(target, target.c.id == PutawayTask.suggested_location_id)
            .where(PutawayTask.state == PutawayState.open)
            .order_by(target.c.id.is_(None), target.c.pick_sequence, target.c.code,
                      PutawayTask.id))
    if warehouse_id:
        stmt = stmt.where(PutawayTask.warehouse_id == warehouse_id)
    return stmt


def putaway_waiting() -> tuple[int, int]:
    """Return ``(open tasks, units)`` waiting to be put away."""
    row = db.session.execute(
        select(func.count(), func.coalesce(func.sum(PutawayTask.quantity - PutawayTask.done_qty),
                                           0))
        .where(PutawayTask.state == PutawayState.open)).one()
    return int(row[0]), int(row[1])


# --------------------------------------------------------------------------- transfers


@dataclass
class TransferFilters:
    """The transfer list's search and filters (and its export's)."""

    q: str | None = None
    state: str | None = None
    warehouse_id: int | None = None


def transfer_list_query(f: TransferFilters) -> Select:
    """Return transfers with their warehouses and line totals, newest first.

    ``q`` finds a transfer by (part of) its number, carrier or reference, or by a SKU code or
    barcode on one of its lines; ``warehouse_id`` keeps transfers from or to that warehouse.
    Rows: ``id, number, state, from_code, to_code, lines, quantity, picked, received,
    cartons, carrier, reference, created_at, shipped_at, received_at``.
    """
    source = Warehouse.__table__.alias("source")
    target = Warehouse.__table__.alias("target")
    totals = (select(TransferLine.transfer_id, func.count().label("lines"),
                     func.sum(TransferLine.quantity).label("quantity"),
                     func.sum(TransferLine.picked_qty).label("picked"),
                     func.sum(TransferLine.received_qty).label("received"))
              .group_by(TransferLine.transfer_id).subquery())
    stmt = (select(TransferOrder.id, TransferOrder.number, TransferOrder.state,
                   source.c.code.label("from_code"), target.c.code.label("to_code"),
                   func.coalesce(totals.c.lines, 0).label("lines"),
                   func.coalesce(totals.c.quantity, 0).label("quantity"),
                   func.coalesce(totals.c.picked, 0).label("picked"),
                   func.coalesce(totals.c.received, 0).label("received"),
                   TransferOrder.cartons, TransferOrder.carrier, TransferOrder.reference,
                   TransferOrder.created_at, TransferOrder.shipped_at,
                   TransferOrder.received_at)
            .join(source, source.c.id == TransferOrder.from_warehouse_id)
            .join(target, target.c.id == TransferOrder.to_warehouse_id)
            .outerjoin(totals, totals.c.transfer_id == TransferOrder.id)
            .order_by(TransferOrder.created_at.desc(), TransferOrder.id.desc()))
    if f.state:
        stmt = stmt.where(TransferOrder.state == f.state)
    if f.warehouse_id:
        stmt = stmt.where(or_(TransferOrder.from_warehouse_id == f.warehouse_id,
                              TransferOrder.to_warehouse_id == f.warehouse_id))
    if f.q:
        text = f.q.strip()
        on_lines = (select(TransferLine.id).join(Sku, Sku.id == TransferLine.sku_id)
                    .where(TransferLine.transfer_id == TransferOrder.id,
                           or_(Sku.code == text.upper(), Sku.barcode == text))
                    .correlate(TransferOrder).exists())
        stmt = stmt.where(or_(
            func.upper(TransferOrder.number).contains(text.upper(), autoescape=True),
            func.upper(TransferOrder.carrier).contains(text.upper(), autoescape=True),
            func.upper(TransferOrder.reference).contains(text.upper(), autoescape=True),
            on_lines))
    return stmt


def transfer_lines_query(transfer_id: int) -> Select:
    """Return a transfer's lines in the source's walking order, with SKU and bin.

    Rows: ``id, sku_id, sku_code, barcode, product_name, colour, size, bin_code,
    quantity, picked_qty, received_qty, discrepancy_reason, avg_cost``.
    """
    return (select(TransferLine.id, TransferLine.sku_id, Sku.code.label("sku_code"),
                   Sku.barcode, Product.name.label("product_name"), Sku.colour, Sku.size,
                   Location.code.label("bin_code"), TransferLine.quantity,
                   TransferLine.picked_qty, TransferLine.received_qty,
                   TransferLine.discrepancy_reason, Sku.avg_cost)
            .join(Sku, Sku.id == TransferLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .join(Location, Location.id == TransferLine.from_location_id)
            .where(TransferLine.transfer_id == transfer_id)
            .order_by(Location.pick_sequence, Location.code, Sku.code, TransferLine.id))
