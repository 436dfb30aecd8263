"""The single-item lane, packing stations and packing checks (weight tolerance, box stock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from erp.core import services as core_services
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_order
from erp.shipping.errors import ShippingError
from erp.shipping.models import ParcelState, WaveKind
from erp.shipping.services import lane, pack_checks, packing, waves
from erp.warehouse.models import MoveKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


@pytest.fixture
def lane_floor(outbound_floor, create_order):
    """The outbound floor with the T-shirt packing alone in box S; ``lane_wave(orders)``."""
    floor = outbound_floor
    floor.box_s = floor.setup["boxes"][0]
    lane.set_sku_packing(floor.tee, floor.box_s, actor=None)
    db.session.commit()

    def lane_wave(*specs):
        """Orders of ``(lines, placed_at)``, allocated, in one single-item wave, picked."""
        made = []
        for lines, placed in specs:
            order = create_order(lines, shipping_service="POST-REG", placed_at=placed)
            allocate_order(order, actor=floor.agent)
            made.append(order)
        wave = waves.build_wave(waves.WaveFilters(), actor=floor.packer,
                                kind=WaveKind.single_item)
        waves.pick_all(wave, actor=floor.packer)
        db.session.commit()
        return wave, made

    floor.lane_wave = lane_wave
    return floor


def at(hour: int) -> datetime:
    return datetime(2026, 3, 2, hour, 0, tzinfo=UTC)


def test_a_single_item_wave_takes_only_one_item_orders(lane_floor):
    floor = lane_floor
    wave, (late, two_units, early) = floor.lane_wave(
        ([(floor.tee, 1)], at(10)), ([(floor.tee, 2)], at(8)), ([(floor.mug, 1)], at(9)))

    assert wave.kind == WaveKind.single_item
    assert {o.order_id for o in wave.orders} == {late.id, early.id}
    assert two_units.state == OrderState.allocated


def test_the_scan_packs_and_labels_the_oldest_order_for_that_sku(lane_floor):
    floor = lane_floor
    wave, (newer, older, mug) = floor.lane_wave(
        ([(floor.tee, 1)], at(11)), ([(floor.tee, 1)], at(9)), ([(floor.mug, 1)], at(8)))

    parcel = lane.lane_scan(wave, floor.tee.barcode or floor.tee.code, actor=floor.packer)
    db.session.commit()

    assert parcel.order_id == older.id
    assert parcel.state == ParcelState.labelled
    assert parcel.tracking_number
    assert parcel.box_id == floor.box_s.id
    assert parcel.weight_g == 180 + 40  # the SKU's weight plus the mailer's tare
    assert older.state == OrderState.packed
    assert newer.state == OrderState.picking

    second = lane.lane_scan(wave, "tee-blk-m", actor=floor.packer)
    assert second.order_id == newer.id
    assert lane.lane_waiting(wave) == 1  # the mug's order
    with pytest.raises(ShippingError, match="No order of wave .* waits for SKU TEE-BLK-M"):
        lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)


def test_unknown_item_sku_without_box_and_standard_wave_are_refused(lane_floor):
    floor = lane_floor
    wave, _ = floor.lane_wave(([(floor.tee, 1)], at(9)), ([(floor.mug, 1)], at(10)))

    with pytest.raises(ShippingError, match='No SKU has the code or barcode "NOPE-1".*aside'):
        lane.lane_scan(wave, "NOPE-1", actor=floor.packer)
    with pytest.raises(ShippingError, match="SKU MUG-WHT has no default box"):
        lane.lane_scan(wave, "MUG-WHT", actor=floor.packer)
    standard = floor.picked([(floor.tee, 1)]).wave
    with pytest.raises(ShippingError, match="is not a single-item wave"):
        lane.lane_scan(standard, "TEE-BLK-M", actor=floor.packer)


def test_a_weight_outside_the_tolerance_is_refused_unless_confirmed(lane_floor):
    floor = lane_floor
    wave, (order,) = floor.lane_wave(([(floor.tee, 1)], at(9)))

    with pytest.raises(pack_checks.WeightMismatch, match="differs by 280 g from the expected "
                                                         "220 g.*recount"):
        lane.lane_scan(wave, "TEE-BLK-M", weight_g=500, actor=floor.packer)
    db.session.rollback()
    within = pack_checks.weigh(220, 245)  # 30 g allowed (more than 10 %)
    assert within.ok
    assert within.allowed_g == 30

    parcel = lane.lane_scan(wave, "TEE-BLK-M", weight_g=500, override=True, actor=floor.packer)
    db.session.commit()

    assert parcel.weight_g == 500
    [event] = events("customer_order.weight_override")
    assert event.entity_id == str(order.id)
    assert event.changes == {"expected_g": 220, "weighed_g": 500, "difference_g": 280,
                             "allowed_g": 30}


def test_the_tolerance_is_a_setting(lane_floor):
    core_services.update_settings({"pack_weight_tolerance_pct": "50",
                                   "pack_weight_tolerance_g": "0"}, actor=None)
    assert pack_checks.weigh(1000, 1400).ok
    assert not pack_checks.weigh(1000, 1600).ok


def test_each_closed_parcel_uses_up_one_box_from_the_packing_location(lane_floor, create_sku,
                                                                      receive_stock):
    floor = lane_floor
    mailer = create_sku("BOX-S", weight_g=40)
    floor.box_s.sku_id = mailer.id
    receive_stock(mailer, floor.bench, 1)
    db.session.commit()
    wave, (first, second) = floor.lane_wave(([(floor.tee, 1)], at(9)), ([(floor.tee, 1)], at(10)))

    one = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)
    two = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)  # no mailer left in stock
    db.session.commit()

    level = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == mailer.id,
                                                       StockLevel.location_id == floor.bench.id))
    assert level.on_hand == 0
    [move] = db.session.scalars(select(StockMove).where(StockMove.sku_id == mailer.id,
                                                        StockMove.kind == MoveKind.ship))
    assert (move.ref_type, move.ref_id, move.quantity) == ("parcel", one.id, 1)
    [short] = events("parcel.box_shortfall")
    assert short.entity_id == str(two.id)
    assert short.changes["box"] == "S"
    assert two.state == ParcelState.labelled  # closing still works
    assert ledger_problems(db.session) == []


def test_a_station_closing_on_the_last_item_closes_and_labels(lane_floor):
    floor = lane_floor
    station = lane.create_station(code="pack-2", name="Bench 2", warehouse=floor.bench.warehouse,
                                  close_on_last_item=True, actor=None)
    order = floor.picked([(floor.tee, 2)])

    packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)
    assert lane.close_if_complete(order, station=station, actor=floor.packer) is None
    packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)
    parcel = lane.close_if_complete(order, station=station, actor=floor.packer)
    db.session.commit()

    assert station.code == "PACK-2"
    assert parcel.state == ParcelState.labelled
    assert parcel.box_id == floor.box_s.id
    assert parcel.weight_g == 2 * 180 + 40
    assert order.state == OrderState.packed


def test_a_station_without_the_setting_leaves_the_close_to_the_packer(lane_floor):
    floor = lane_floor
    station = lane.create_station(code="PACK-3", name="Bench 3",
                                  warehouse=floor.bench.warehouse, actor=None)
    order = floor.picked([(floor.tee, 1)])
    packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)

    assert lane.close_if_complete(order, station=station, actor=floor.packer) is None
    lane.set_close_on_last_item(station, True, actor=None)
    db.session.commit()
    with pytest.raises(pack_checks.WeightMismatch):
        lane.close_if_complete(order, station=station, box_code="M", weight_g=900,
                               actor=floor.packer)
    db.session.rollback()
    parcel = lane.close_if_complete(order, station=station, box_code="m", weight_g=340,
                                    actor=floor.packer)
    assert parcel.box.code == "M"
    assert parcel.weight_g == 340


def test_closing_at_the_bench_checks_the_weight(lane_floor):
    floor = lane_floor
    order = floor.picked([(floor.mug, 1)])
    packing.scan_item(order, "MUG-WHT", actor=floor.packer)
    box_m = floor.setup["boxes"][1]
    db.session.commit()

    with pytest.raises(pack_checks.WeightMismatch, match="differs by -300 g from the expected "
                                                         "500 g"):
        lane.close_checked(order, weight_g=200, box=box_m, actor=floor.packer)
    db.session.rollback()
    assert order.state == OrderState.picking
    parcel = lane.close_checked(order, weight_g=200, box=box_m, override=True,
                                actor=floor.packer)
    assert parcel.weight_g == 200
    assert len(events("customer_order.weight_override")) == 1


def test_the_new_audit_events_read_as_sentences_in_english_and_chinese(lane_floor):
    from flask_babel import force_locale

    from erp.core import audit

    floor = lane_floor
    station = lane.create_station(code="LANE-2", name="Lane 2", warehouse=floor.bench.warehouse,
                                  close_on_last_item=True, actor=None)
    lane.set_close_on_last_item(station, False, actor=None)
    wave, (order,) = floor.lane_wave(([(floor.tee, 1)], at(9)))
    lane.lane_scan(wave, "TEE-BLK-M", weight_g=500, override=True, actor=floor.packer)
    pack_checks.consume_box(1, "PCL-X", box_code="S", sku_id=floor.mug.id,
                            warehouse_id=None, actor=None)  # nowhere to take it: a shortfall
    db.session.commit()

    def said(action, lang):
        [event] = events(action)
        with force_locale(lang):
            return audit.describe(event)

    warehouse = floor.bench.warehouse.code
    assert said("packing_station.created", "en") == (
        f'Packing station LANE-2 "Lane 2" created in warehouse {warehouse}; it closes the '
        "parcel and prints the label at the scan of an order's last item.")
    assert said("packing_station.updated", "en") == (
        "Packing station LANE-2 no longer closes the parcel at the scan of the last item: the "
        "packer closes it.")
    assert said("sku.packing_set", "en") == (
        "SKU TEE-BLK-M packs alone (single-item lane) in box S, packed weight its own weight "
        "plus the box's tare.")
    assert said("customer_order.weight_override", "en") == (
        f"Order {order.number}: a weight of 500 g confirmed at packing, 280 g off the expected "
        "220 g (30 g allowed).")
    assert said("parcel.box_shortfall", "en") == (
        "Parcel PCL-X closed in box S, but no MUG-WHT was in stock in warehouse — to take: "
        "count the boxes and correct the stock.")
    assert said("packing_station.updated", "zh_Hans_CN") == (
        "打包台 LANE-2 扫描最后一件商品时不再自动封箱：由打包员封箱。")
    assert said("customer_order.weight_override", "zh_Hans_CN").startswith(
        f"订单 {order.number}：打包时确认称重 500 g")


def test_a_station_takes_its_boxes_from_its_own_warehouse(lane_floor, create_sku,
                                                          receive_stock):
    from erp.warehouse import services as warehouse_services

    floor = lane_floor
    other = warehouse_services.create_warehouse(code="WH2", name="Second", country="CN",
                                                actor=None)
    bench2 = warehouse_services.create_location(other, code="PACK-02", kind="packing",
                                                actor=None)
    shelf2 = warehouse_services.create_location(other, code="S-01", kind="storage",
                                                pick_sequence=10, actor=None)
    dock2 = warehouse_services.create_location(other, code="RCV-01", kind="receiving",
                                               actor=None)
    mailer = create_sku("BOX-S", weight_g=40)
    floor.box_s.sku_id = mailer.id
    for where, qty in ((floor.bench, 5), (bench2, 1), (shelf2, 1), (dock2, 5)):
        receive_stock(mailer, where, qty)
    station = lane.create_station(code="PACK-9", name="Bench in WH2", warehouse=other,
                                  actor=None)
    db.session.commit()
    wave, orders = floor.lane_wave(*[([(floor.tee, 1)], at(h)) for h in (9, 10, 11)])
    order = floor.picked([(floor.mug, 1)])
    packing.scan_item(order, "MUG-WHT", actor=floor.packer)

    lean = lane.lane_scan(wave, "TEE-BLK-M", station=station, actor=floor.packer)
    again = lane.lane_scan(wave, "TEE-BLK-M", station=station, actor=floor.packer)
    bench = lane.close_checked(order, weight_g=390, box=floor.box_s, station=station,
                               actor=floor.packer)  # the packing station's close
    home = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)  # no station: the order's
    db.session.commit()

    def taken_from(parcel):
        return db.session.scalar(select(StockMove.from_location_id).where(
            StockMove.ref_type == "parcel", StockMove.ref_id == parcel.id))

    assert taken_from(lean) == bench2.id  # the station's packing location first
    assert taken_from(again) == shelf2.id  # then its storage, never its receiving dock
    assert taken_from(bench) is None  # nothing free left in WH2 but the dock: a shortfall
    [short] = events("parcel.box_shortfall")
    assert (short.entity_id, short.changes["warehouse_id"]) == (str(bench.id), other.id)
    assert taken_from(home) == floor.bench.id
    assert ledger_problems(db.session) == []


def test_a_bin_a_count_freezes_gives_no_box(lane_floor, create_sku, receive_stock):
    from erp.warehouse import services as warehouse_services

    floor = lane_floor
    mailer = create_sku("BOX-S", weight_g=40)
    floor.box_s.sku_id = mailer.id
    receive_stock(mailer, floor.bench, 2)
    receive_stock(mailer, floor.a01, 2)
    warehouse_services.open_cycle_count(floor.bench.warehouse, location_ids=[floor.bench.id],
                                        sku_ids=[mailer.id], actor=None)
    db.session.commit()
    wave, _ = floor.lane_wave(([(floor.tee, 1)], at(9)))

    parcel = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)
    db.session.commit()

    move = db.session.scalar(select(StockMove).where(StockMove.ref_id == parcel.id,
                                                     StockMove.ref_type == "parcel"))
    assert move.from_location_id == floor.a01.id  # the counted bench is left alone


def test_packing_many_orders_takes_their_boxes_alike(lane_floor, create_sku, receive_stock):
    floor = lane_floor
    mailer = create_sku("BOX-S", weight_g=40)
    floor.box_s.sku_id = mailer.id
    receive_stock(mailer, floor.bench, 1)
    receive_stock(mailer, floor.a01, 1)
    db.session.commit()
    orders = [floor.picked([(floor.tee, 1)]) for _ in range(3)]

    made = packing.pack_orders(orders, box=floor.box_s, actor=floor.packer)
    db.session.commit()

    moves = dict(db.session.execute(select(StockMove.ref_id, StockMove.from_location_id).where(
        StockMove.ref_type == "parcel")).all())
    assert moves == {made[0].id: floor.bench.id, made[1].id: floor.a01.id}
    [short] = events("parcel.box_shortfall")
    assert short.entity_id == str(made[2].id)
    assert ledger_problems(db.session) == []
