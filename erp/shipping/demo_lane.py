"""Demo packing lane: packing stations, boxes as stock SKUs, default boxes, a single-item wave.

Run once (when no packing station exists yet), after the outbound demo. It leaves:

- two stations in the packing location's warehouse: ``PACK-1`` (the packer closes parcels)
  and ``LANE-1`` (the scan of an order's last item closes the parcel and prints the label);
- the demo boxes as stock SKUs (``PKG-S``, ``PKG-M``...) with stock at the packing location
  and a reorder point, so replenishment covers them as parcels use them up;
- a default box for every SKU of the allocated one-item orders;
- a single-item wave of those orders, picked and waiting at the lane.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from erp.brands.models import Brand
from erp.catalog import services as catalog_services
from erp.catalog.models import Category, Product, Sku
from erp.core.errors import DomainError
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.shipping.models import Box, PackingStation, WaveKind
from erp.shipping.services import lane, waves
from erp.warehouse.models import LocationKind, MoveKind
from erp.warehouse.services import MoveSpec, post_moves, virtual_location

LANE_WAVE = 8      # orders in the single-item wave
BOX_STOCK = 300    # units of each box at the packing location


def _box_skus(actor) -> None:
    """Make each demo box a stock SKU with stock at the packing location."""
    category = db.session.scalar(select(Category).order_by(Category.id).limit(1))
    brand = db.session.scalar(select(Brand).order_by(Brand.id).limit(1))
    if category is None or brand is None:
        return
    product = db.session.scalar(select(Product).where(Product.code == "PKG")) or \
        catalog_services.create_product(code="PKG", name="Shipping cartons and mailers",
                                        brand=brand, category=category, actor=actor)
    bench = waves.packing_location()
    supplier = virtual_location(LocationKind.supplier)
    moves = []
    for box in db.session.scalars(select(Box).order_by(Box.id)):
        if box.sku_id is not None:
            continue
        sku = catalog_services.create_sku(product=product, code=f"PKG-{box.code}", actor=actor,
                                          weight_g=max(box.tare_g, 1), reorder_point=100,
                                          reorder_qty=500)
        lane.set_box_sku(box, sku, actor=actor)
        moves.append(MoveSpec(sku.id, supplier.id, bench.id, BOX_STOCK, MoveKind.receipt,
                              unit_cost=Decimal("0.35")))
    if moves:
        post_moves(moves, actor=actor)


def load_demo() -> None:
    """Set up the packing stations and the single-item lane (once)."""
    if db.session.scalar(select(func.count()).select_from(PackingStation)):
        return
    if not db.session.scalar(select(func.count()).select_from(Box)):
        return
    actor = get_user_by_username("warehouse")
    try:
        warehouse = waves.packing_location().warehouse
    except DomainError:
        return
    lane.create_station(code="PACK-1", name="Packing bench 1", warehouse=warehouse, actor=actor)
    lane.create_station(code="LANE-1", name="Lane bench 1", warehouse=warehouse,
                        close_on_last_item=True, actor=actor)
    _box_skus(actor)
    units = (select(CustomerOrderLine.order_id).group_by(CustomerOrderLine.order_id)
             .having(func.sum(CustomerOrderLine.quantity) == 1))
    skus = db.session.scalars(select(Sku).join(CustomerOrderLine, CustomerOrderLine.sku_id
                                                == Sku.id)
                              .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
                              .where(CustomerOrder.state == OrderState.allocated,
                                     CustomerOrder.id.in_(units)).distinct()).all()
    boxes = {b.code: b for b in db.session.scalars(select(Box))}
    small, medium = boxes.get("S"), boxes.get("M") or next(iter(boxes.values()))
    for sku in skus:
        lane.set_sku_packing(sku, small if small and (sku.weight_g or 0) <= 300 else medium,
                             actor=actor)
    try:
        wave = waves.build_wave(waves.WaveFilters(max_orders=LANE_WAVE), actor=actor,
                                kind=WaveKind.single_item)
    except DomainError:
        return  # no one-item order allocated
    waves.pick_all(wave, actor=actor)
    db.session.flush()
