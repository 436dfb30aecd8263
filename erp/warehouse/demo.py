"""Demo warehouses: SZ1 with zones, about 300 bins, opening stock, a count; US-LAX abroad.

US-LAX ships the US orders it can fill and receives returns; a transfer to it is in transit.
"""

from __future__ import annotations

import random
from decimal import Decimal

from sqlalchemy import func, select

from erp.catalog.models import Sku
from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.models import (
    CycleCount,
    Location,
    LocationKind,
    MoveKind,
    StockLevel,
    StockMove,
    TransferOrder,
    Warehouse,
)
from erp.warehouse.services import routes

#: zone letter -> (aisles, racks per aisle, bins per rack)
ZONES = {"A": (4, 6, 4), "B": (4, 6, 4), "C": (4, 6, 4)}
SPECIAL_BINS = [("RCV-01", "receiving"), ("RCV-02", "receiving"), ("PACK-01", "packing"),
                ("PACK-02", "packing"), ("SHIP-01", "shipping"), ("RET-01", "returns"),
                ("QUA-01", "quarantine"), ("SCRAP-01", "scrap")]


def load_demo() -> None:
    """Create warehouse SZ1: 296 bins, opening stock, one open cycle count (idempotent)."""
    warehouse = db.session.scalar(select(Warehouse).where(Warehouse.code == "SZ1"))
    if warehouse is None:
        warehouse = services.create_warehouse(
            code="SZ1", name="Shenzhen fulfilment centre", country="CN",
            address="Unit 5, 18 Harbour Road\nShenzhen 518000", actor=None)
    existing = set(db.session.scalars(select(Location.code).where(
        Location.warehouse_id == warehouse.id)))
    sequence = 0
    for code, kind in SPECIAL_BINS:
        sequence += 10
        if code not in existing:
            services.create_location(warehouse, code=code, kind=kind, pick_sequence=sequence,
                                     actor=None)
    for zone, (aisles, racks, bins) in ZONES.items():
        for aisle in range(1, aisles + 1):
            # Serpentine walk: odd aisles go up the racks, even aisles come back down.
            rack_order = range(1, racks + 1) if aisle % 2 else range(racks, 0, -1)
            for rack in rack_order:
                for level in range(1, bins + 1):
                    sequence += 10
                    code = f"{zone}-{aisle:02d}-{rack:02d}-{level:02d}"
                    if code not in existing:
                        services.create_location(warehouse, code=code, kind="storage",
                                                 pick_sequence=sequence, actor=None)
    db.session.flush()
    _load_opening_stock(warehouse)
    _load_demo_count(warehouse)
    _load_abroad(warehouse)
    _load_demo_transfer(warehouse)


#: the second warehouse, abroad: ships US orders it can fill and receives their returns
ABROAD_BINS = [("L-RCV-01", "receiving"), ("L-PACK-01", "packing"), ("L-RET-01", "returns"),
               ("L-QUA-01", "quarantine"), ("L-SCRAP-01", "scrap"), ("L-A-01-01", "storage"),
               ("L-A-01-02", "storage")]


def _load_abroad(main: Warehouse) -> None:
    """Create warehouse US-LAX with a few bins and some stock, and the route US -> US-LAX, SZ1."""
    lax = db.session.scalar(select(Warehouse).where(Warehouse.code == "US-LAX"))
    if lax is None:
        lax = services.create_warehouse(
            code="US-LAX", name="Los Angeles returns and fulfilment", country="US",
            address="2100 E Pacific Coast Hwy\nLos Angeles, CA 90810", actor=None)
    existing = {loc.code: loc for loc in db.session.scalars(
        select(Location).where(Location.warehouse_id == lax.id))}
    for sequence, (code, kind) in enumerate(ABROAD_BINS, start=1):
        if code not in existing:
            existing[code] = services.create_location(lax, code=code, kind=kind,
                                                      pick_sequence=sequence * 10, actor=None)
    db.session.flush()
    if routes.route_for("US") is None:
        routes.create_route(country="US", area="*", warehouses=[lax, main],
                            note="US orders ship from Los Angeles when it has them all",
                            actor=None)
    storage = existing["L-A-01-01"]
    if db.session.scalar(select(StockLevel.sku_id).where(
            StockLevel.location_id == storage.id).limit(1)) is not None:
        return
    stocked = db.session.scalars(
        select(Sku).join(StockLevel, StockLevel.sku_id == Sku.id)
        .where(StockLevel.on_hand > 0).distinct().order_by(Sku.code).limit(6)).all()
    supplier = services.virtual_location(LocationKind.supplier)
    services.post_moves([services.MoveSpec(
        sku.id, supplier.id, storage.id, 10, MoveKind.opening,
        unit_cost=((sku.declared_value or Decimal("5")) * Decimal("0.8")).quantize(
            Decimal("0.01")), ref_type="demo", ref_id=0, note="opening stock (US-LAX)")
        for sku in stocked], actor=None)


def _load_opening_stock(warehouse: Warehouse) -> None:
    """Post opening stock for the demo SKUs into the storage bins, once."""
    already = db.session.scalar(select(func.count()).select_from(StockMove)
                                .where(StockMove.kind == MoveKind.opening))
    if already:
        return
    storage = db.session.scalars(select(Location).where(
        Location.warehouse_id == warehouse.id, Location.kind == LocationKind.storage)
        .order_by(Location.pick_sequence)).all()
    skus = db.session.scalars(select(Sku).order_by(Sku.code)).all()
    if not skus:
        return
    supplier = services.virtual_location(LocationKind.supplier)
    rng = random.Random(7)
    specs = []
    for i, sku in enumerate(skus):
        if i % 12 == 11:
            continue  # some SKUs start out of stock
        price = sku.declared_value or Decimal("5")
        cost = (price * Decimal("0.8")).quantize(Decimal("0.01"))
        specs.append(services.MoveSpec(sku.id, supplier.id, storage[i % len(storage)].id,
                                       rng.choice([6, 12, 24, 36, 48]), MoveKind.opening,
                                       unit_cost=cost, ref_type="demo", ref_id=0,
                                       note="opening stock"))
    services.post_moves(specs, actor=None)


DEMO_COUNT_NOTE = "Demo: weekly count of the first bins of aisle A-01"


def _load_demo_count(warehouse: Warehouse) -> None:
    """Open one cycle count over the first few stocked bins, with one line counted (once)."""
    if db.session.scalar(select(CycleCount.id).where(CycleCount.note == DEMO_COUNT_NOTE)):
        return
    bins = db.session.scalars(
        select(Location.id).join(StockLevel, StockLevel.location_id == Location.id)
        .where(Location.warehouse_id == warehouse.id, Location.kind == LocationKind.storage,
               StockLevel.on_hand > 0)
        .group_by(Location.id, Location.pick_sequence).order_by(Location.pick_sequence)
        .limit(4)).all()
    if not bins:
        return
    try:
        with db.session.begin_nested():
            count = services.open_cycle_count(warehouse, location_ids=bins, note=DEMO_COUNT_NOTE,
                                              actor=None)
            first = count.lines[0]
            services.record_count(first, first.expected_qty, actor=None)
    except services.CountError:
        pass  # someone already counts these bins; the demo leaves their count alone


DEMO_TRANSFER_NOTE = "Demo: returns stock for the Los Angeles warehouse"
#: the second warehouse abroad, which receives returns (made here only if no other demo did)
LAX = {"code": "US-LAX", "name": "Los Angeles returns warehouse", "country": "US",
       "address": "2400 E 12th St\nLos Angeles, CA 90021"}


def _second_warehouse() -> Warehouse:
    """Return warehouse US-LAX with a receiving bin, making what is missing."""
    warehouse = db.session.scalar(select(Warehouse).where(Warehouse.code == LAX["code"]))
    if warehouse is None:
        warehouse = services.create_warehouse(**LAX, actor=None)
    if services.default_receive_bin(warehouse) is None:
        taken = set(db.session.scalars(select(Location.code).where(
            Location.warehouse_id == warehouse.id)))
        code = next(c for c in ("RCV-01", "RCV-TR", "RCV-TR-2") if c not in taken)
        services.create_location(warehouse, code=code, kind="receiving", pick_sequence=10,
                                 actor=None)
    return warehouse


def _load_demo_transfer(source: Warehouse) -> None:
    """Ship one small transfer from SZ1 to US-LAX, left in transit (once)."""
    if db.session.scalar(select(TransferOrder.id).where(TransferOrder.note == DEMO_TRANSFER_NOTE)):
        return
    destination = _second_warehouse()
    # two SKUs well stocked in bins no count freezes; a few units each, so orders keep theirs
    rows = db.session.execute(
        select(StockLevel.sku_id, StockLevel.location_id)
        .join(Location, Location.id == StockLevel.location_id)
        .where(Location.warehouse_id == source.id, queries.allocatable_condition(),
               StockLevel.on_hand - StockLevel.reserved >= 24)
        .order_by(StockLevel.sku_id.desc()).limit(2)).all()
    if not rows:
        return
    transfer = services.create_transfer(
        source, destination, [services.TransferLineSpec(sku_id, loc_id, 2)
                              for sku_id, loc_id in rows],
        actor=None, carrier="DHL Freight", reference="DHL-DEMO-0001", cartons=2,
        note=DEMO_TRANSFER_NOTE)
    services.pick_transfer(transfer, actor=None)
    services.ship_transfer(transfer, cartons=2, actor=None)
