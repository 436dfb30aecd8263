"""The lane's lean pack-and-label gives the same records as packing.pack_order + labelling."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from erp.catalog import services as catalog_services
from erp.catalog.models import BatteryKind
from erp.core import services as core_services
from erp.core.events import OutboxEvent
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_order
from erp.shipping.errors import ShippingError
from erp.shipping.models import PackScan, Parcel, ParcelLine, ParcelState, WaveKind
from erp.shipping.routing_models import RoutingDecision, RoutingStage
from erp.shipping.services import (
    lane,
    lane_pack,
    pack_checks,
    packing,
    parcels,
    routing_rules,
    waves,
)
from erp.warehouse.models import StockLevel, StockMove
from erp.warehouse.queries import ledger_problems

#: what differs between two parcels of two equivalent orders by nature
PARCEL_OWN = {"id", "number", "order_id", "tracking_number", "packed_at", "labelled_at"}


@pytest.fixture
def twins(outbound_floor, create_order, create_sku, receive_stock):
    """``make(**order values)``: two equal single-item T-shirt orders in a picked lane wave.

    The T-shirt packs alone in mailer S, a stock SKU with 5 units at the packing bench.
    """
    floor = outbound_floor
    box = floor.setup["boxes"][0]
    mailer = create_sku("BOX-S", weight_g=40)
    box.sku_id = mailer.id
    receive_stock(mailer, floor.bench, 5)
    lane.set_sku_packing(floor.tee, box, actor=None)
    db.session.commit()

    def make(**values):
        values.setdefault("shipping_service", "POST-REG")
        orders = []
        for hour in (9, 10):
            order = create_order([(floor.tee, 1, "12.50")], **values,
                                 placed_at=datetime(2026, 3, 2, hour, tzinfo=UTC))
            allocate_order(order, actor=floor.agent)
            orders.append(order)
        wave = waves.build_wave(waves.WaveFilters(), actor=floor.packer,
                                kind=WaveKind.single_item)
        waves.pick_all(wave, actor=floor.packer)
        db.session.commit()
        return wave, orders

    floor.make, floor.mailer, floor.box = make, mailer, box
    return floor


def _row(obj, skip=()) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns if c.key not in skip}


def _records(parcel_id: int) -> dict:
    """Return everything packing and labelling wrote for a parcel, without what is its own."""
    db.session.expire_all()
    parcel = db.session.get(Parcel, parcel_id)
    order = db.session.get(CustomerOrder, parcel.order_id)
    move = db.session.scalar(select(StockMove).where(StockMove.ref_type == "parcel",
                                                     StockMove.ref_id == parcel_id))
    events = db.session.scalars(select(AuditEvent).where(
        ((AuditEvent.entity_type == "parcel") & (AuditEvent.entity_id == str(parcel_id)))
        | ((AuditEvent.entity_type == "customer_order") & (AuditEvent.entity_id == str(order.id))
           & AuditEvent.action.in_(["customer_order.packed", "customer_order.weight_override"]))
        | ((AuditEvent.entity_type == "stock_move")
           & (AuditEvent.entity_id == str(move.id if move else 0)))
        | (AuditEvent.action == "tracking_range.drawn")).order_by(AuditEvent.id)).all()
    drawn = [e for e in events if e.action == "tracking_range.drawn"
             and e.changes["first"] == parcel.tracking_number]
    texts = {parcel.number: "<number>", order.number: "<order number>",
             parcel.tracking_number: "<tracking>", f"parcel:{parcel_id}": "parcel:<parcel>"}
    entities = {"parcel": "<parcel>", "customer_order": "<order>", "stock_move": "<move>"}

    def neutral(value, key=None):
        if isinstance(value, dict):
            return {k: neutral(v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [neutral(v) for v in value]
        if key in ("first_move_id", "last_move_id"):
            return "<move>"
        return texts.get(value, value) if isinstance(value, str) else value

    def event(e):
        return (e.entity_type, e.action, entities.get(e.entity_type, e.entity_id),
                neutral(e.entity_ref), repr(neutral(e.changes)), e.actor_id)

    return {
        "parcel": _row(parcel, PARCEL_OWN),
        "state": parcel.state,
        "lines": [_row(ln, {"id", "parcel_id", "order_line_id"}) for ln in parcel.lines],
        "scans": [_row(s, {"id", "parcel_id", "order_id", "order_line_id", "scanned_at"})
                  for s in db.session.scalars(select(PackScan).where(
                      PackScan.parcel_id == parcel_id))],
        "order": (order.state, order.updated_at is not None),
        "move": move and _row(move, {"id", "ref_id", "at", "note"}),
        "move_note": move and move.note.replace(parcel.number, "<number>"),
        "audit": sorted(event(e) for e in events if e.action != "tracking_range.drawn")
        + [event(e) for e in drawn],
        "outbox": sorted((e.type, repr(neutral(e.payload))) for e in db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.key == f"order:{order.number}"))),
    }


def _normal(order, weight_g, box, actor) -> Parcel:
    parcel = packing.pack_order(order, weight_g=weight_g, box=box, actor=actor)
    parcels.label_parcels([parcel], actor=actor)
    return parcel


@pytest.mark.parametrize("values", [
    {},  # Germany in EUR: a CN22 by the SDR threshold, IOSS by the EUR one
    {"country": "US", "currency": "USD", "postal_code": "10001"},
    {"shipping_service": "EMS"},  # always a CN23
])
def test_the_lean_path_writes_what_pack_order_and_labelling_write(twins, values):
    floor = twins
    core_services.update_settings({"ioss_number": "IM2760000001"}, actor=None)
    wave, (first, second) = floor.make(**values)

    lean = lane_pack.pack_and_label(wave.id, "tee-blk-m", actor=floor.packer)
    assert lean is not None  # the lean path packed it (None: it left it to the normal way)
    db.session.commit()
    normal = _normal(second, lean.weight_g, floor.box, floor.packer)
    db.session.commit()

    assert lean.order_id == first.id
    assert lean.state == ParcelState.labelled
    assert lean.tracking_number
    got, want = _records(lean.id), _records(normal.id)
    assert got == want
    assert got["move"]["quantity"] == 1
    assert {a[1] for a in got["audit"]} == {
        "parcel.packed", "parcel.labelled", "stock_move.posted", "customer_order.packed",
        "tracking_range.drawn"}
    assert ledger_problems(db.session) == []


def test_customs_data_inherited_from_the_category_tree_is_the_same_both_ways(twins):
    floor = twins
    category = floor.tee.product.category
    top = catalog_services.create_category(code="APPAREL", name="Apparel", actor=None,
                                           hs_code="610900", origin_country="VN")
    catalog_services.move_category(category, top, actor=None)
    catalog_services.update_category(category, name=category.name, actor=None,
                                     hs_code="610990", customs_description=None,
                                     origin_country=None)
    floor.tee.hs_code = floor.tee.origin_country = None  # the category's, and its parent's
    db.session.commit()
    wave, (first, second) = floor.make()

    lean = lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer)
    db.session.commit()
    normal = _normal(second, lean.weight_g, floor.box, floor.packer)
    db.session.commit()

    got, want = _records(lean.id), _records(normal.id)
    assert got == want
    [line] = got["lines"]
    assert (line["hs_code"], line["origin_country"], line["description"]) == (
        "610990", "VN", "Men's cotton T-shirt")


def test_a_weighed_override_and_a_box_shortfall_are_the_same_both_ways(twins):
    floor = twins
    level = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == floor.mailer.id))
    level.on_hand = 0  # counted wrong: no mailer in stock (the ledger check is not the point)
    db.session.commit()
    wave, (first, second) = floor.make()

    with pytest.raises(pack_checks.WeightMismatch):
        lane_pack.pack_and_label(wave.id, "TEE-BLK-M", weight_g=600, actor=floor.packer)
    db.session.rollback()
    lean = lane_pack.pack_and_label(wave.id, "TEE-BLK-M", weight_g=600, override=True,
                                    actor=floor.packer)
    db.session.commit()
    order = db.session.get(CustomerOrder, second.id)
    check = pack_checks.weigh(220, 600)
    pack_checks.check_weight(order, check, override=True, actor=floor.packer)
    normal = _normal(order, 600, floor.box, floor.packer)
    db.session.commit()

    got, want = _records(lean.id), _records(normal.id)
    assert got == want
    assert got["move"] is None
    actions = [a[1] for a in got["audit"]]
    assert "parcel.box_shortfall" in actions
    assert "customer_order.weight_override" in actions
    assert got["parcel"]["weight_g"] == 600


def test_what_the_lean_path_does_not_handle_goes_the_normal_way(twins, create_order):
    floor = twins
    wave, (first, second) = floor.make()
    # a scan at the bench before the lane: the normal way assigns it to the parcel
    packing.scan_item(first, "TEE-BLK-M", actor=floor.packer)
    db.session.commit()

    assert lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer) is None
    parcel = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)
    db.session.commit()
    assert parcel.order_id == first.id
    assert len(db.session.scalars(select(PackScan).where(PackScan.order_id == first.id)).all()) \
        == 1
    # an unknown code and a SKU without orders are left to the normal way's messages
    assert lane_pack.pack_and_label(wave.id, "NOPE", actor=floor.packer) is None
    with pytest.raises(ShippingError, match="No SKU has the code"):
        lane.lane_scan(wave, "NOPE", actor=floor.packer)
    assert lane_pack.pack_and_label(wave.id, "MUG-WHT", actor=floor.packer) is None


def test_the_lean_path_refuses_what_the_normal_one_refuses(twins):
    floor = twins
    wave, (first, second) = floor.make()
    floor.tee.hs_code = None  # no HS code on the SKU nor its category
    db.session.commit()

    with pytest.raises(ShippingError, match="SKU TEE-BLK-M has no HS code"):
        lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer)
    db.session.rollback()
    order = db.session.get(CustomerOrder, first.id)
    assert order.state == OrderState.picking
    assert db.session.scalar(select(Parcel.id)) is None
    assert db.session.scalar(select(ParcelLine.id)) is None


def test_with_rules_active_the_lane_routes_the_parcel(twins, create_user):
    """The lean path records the decision at packing when the rules keep the order's service.

    A change of service it leaves to the normal path, which tells the packer.
    """
    floor = twins
    wave, (first, second) = floor.make()
    manager = create_user("boss", roles=("manager",))
    version = routing_rules.create_version(actor=manager)
    routing_rules.add_rule(version, {"name": "All", "services": "POST-REG"}, actor=manager)
    routing_rules.activate_version(version, actor=manager)
    db.session.commit()

    lean = lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer)
    db.session.commit()
    assert lean.order_id == first.id
    decision = db.session.scalar(select(RoutingDecision).where(
        RoutingDecision.order_id == first.id, RoutingDecision.stage == RoutingStage.packing))
    assert decision.rule_id is not None
    assert decision.weight_g == lean.weight_g

    # a new version sends everything by EMS: read at once, and the normal path changes it
    newer = routing_rules.create_version(actor=manager)
    routing_rules.add_rule(newer, {"name": "All by EMS", "services": "EMS"}, actor=manager)
    routing_rules.activate_version(newer, actor=manager)
    db.session.commit()
    assert lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer) is None
    parcel = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)
    db.session.commit()
    assert parcel.order_id == second.id
    assert parcel.service.code == "EMS"
    assert "Service changed from POST-REG to EMS" in parcel.routing_notice


@pytest.mark.parametrize("where", ["sku", "category"])
def test_the_lean_path_refuses_a_battery_the_service_does_not_accept(twins, where):
    floor = twins
    wave, (first, _second) = floor.make()
    if where == "sku":
        floor.tee.battery, floor.tee.battery_cells = BatteryKind.in_equipment, 1
    else:  # inherited from the category: the SKU leaves it unset
        floor.tee.battery = None
        floor.tee.product.category.battery = BatteryKind.in_equipment
    db.session.commit()

    with pytest.raises(ShippingError, match="does not accept goods with battery"):
        lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer)
    db.session.rollback()
    assert db.session.get(CustomerOrder, first.id).state == OrderState.picking
    assert db.session.scalar(select(Parcel.id)) is None
