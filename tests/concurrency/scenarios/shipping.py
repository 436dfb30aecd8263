"""Outbound operations posted 8 times at once: waves, picking, packing, labels, dispatch.

Each scenario takes one order of 2 x OUT-1 (all the stock of bin A-01-01-01) through the real
services to the step before the one posted (:func:`outbound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.core import services as core_services
from erp.extensions import db
from erp.orders.services import allocate_order
from erp.shipping.models import (
    PackScan,
    Parcel,
    PickTask,
    PickWave,
    PickWaveOrder,
    TrackingRange,
    WaveKind,
)
from erp.shipping.services import dispatch, lane, packing, parcels, waves
from erp.warehouse.models import CycleCount, MoveKind, StockLevel, StockMove
from tests.concurrency.guarded import (
    Scenario,
    audit_count,
    drawn,
    guarded,
    ledger_balances,
    level,
    successes,
)

#: the steps :func:`outbound` can bring an order to, in workflow order
STEPS = ("allocated", "wave", "picked", "scanned", "packed", "labelled", "batched")
RATES = (("EUR", "1.1000"), ("XDR", "1.3750"), ("GBP", "1.2500"))


@dataclass
class Outbound:
    """An order on its way out, and where its goods are."""

    order: object
    sku: object
    bin: object      # the storage bin the 2 units came from
    bench: object    # the packing location
    carrier: object  # of the order's service, POST-REG
    wave: object = None
    task: object = None
    parcel: object = None
    batch: object = None


def outbound(get, upto: str, qty: int = 2) -> Outbound:
    """Return an order of ``qty`` x OUT-1 brought through the services to ``upto`` (committed)."""
    setup, bench = get("shipping_setup"), get("packing_bin")
    for currency, rate in RATES:
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    sku = get("create_sku")("OUT-1", hs_code="610910", origin_country="CN", weight_g=180,
                            customs_description="Men's cotton T-shirt")
    bin_ = get("create_bin")("A-01-01-01")
    get("receive_stock")(sku, bin_, qty)
    order = get("create_order")([(sku, qty, "20.00")], shipping_service="POST-REG")
    out = Outbound(order, sku, bin_, bench, setup["post"].carrier)
    steps = STEPS[:STEPS.index(upto) + 1]
    allocate_order(order, actor=None)
    if "wave" in steps:
        out.wave = waves.build_wave(waves.WaveFilters(), actor=None)
        out.task = db.session.scalar(select(PickTask).where(PickTask.wave_id == out.wave.id))
    if "picked" in steps:
        waves.pick_all(out.wave, actor=None)
    if "scanned" in steps:
        packing.scan_item(order, sku.code, quantity=qty, actor=None)
    if "packed" in steps:
        out.parcel = packing.close_parcel(order, weight_g=500, box=setup["boxes"][1],
                                          actor=None)
    if "labelled" in steps:
        parcels.label_parcels([out.parcel], actor=None)
    if "batched" in steps:
        out.batch = dispatch.open_batch(out.carrier, actor=None)
        dispatch.add_parcels(out.batch, [out.parcel], actor=None)
    db.session.commit()
    return out


def _scanned(order, *, unassigned: bool = False) -> int:
    db.session.expire_all()
    stmt = select(func.coalesce(func.sum(PackScan.quantity), 0)).where(
        PackScan.order_id == order.id)
    if unassigned:
        stmt = stmt.where(PackScan.parcel_id.is_(None))
    return db.session.scalar(stmt)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


# --------------------------------------------------------------------------- waves and picking


@guarded("shipping.wave_new")
def build_waves_at_once(get) -> Scenario:
    """8 waves built over one allocated order: it lands in one wave, picked once."""
    o = outbound(get, "allocated")

    def check(answers):
        db.session.expire_all()
        assert _count(PickWave) == 1
        assert _count(PickWaveOrder, PickWaveOrder.order_id == o.order.id) == 1
        assert _count(PickTask, PickTask.order_id == o.order.id) == 1
        assert drawn("WAVE") == 1
        assert o.order.state.value == "picking"
        assert audit_count("customer_order.picking", of=o.order) == 1

    return Scenario("warehouse", "/shipping/waves/new",
                    {"service_code": "", "country": "", "items": "", "placed_before": "",
                     "max_orders": "200"}, check)


@guarded("shipping.wave_start")
def start_the_same_wave(get) -> Scenario:
    """8 starts of an open wave: picking once."""
    o = outbound(get, "wave")

    def check(answers):
        db.session.expire_all()
        assert o.wave.state.value == "picking"
        assert audit_count("pick_wave.picking", of=o.wave) == 1

    return Scenario("warehouse", f"/shipping/waves/{o.wave.id}/start", {}, check)


def _picked_once(o: Outbound):
    """Check that the task's 2 units moved to the bench once."""
    assert level(o.sku, o.bench).on_hand == 2
    assert level(o.sku, o.bin).on_hand == 0
    assert (o.task.state.value, o.task.picked_qty) == ("picked", 2)
    assert audit_count("pick_task.picked", of=o.task) == 1
    assert audit_count("pick_wave.picking", of=o.wave) == 1  # the first pick starts the wave
    ledger_balances()


@guarded("shipping.wave_pick")
def pick_the_same_task(get) -> Scenario:
    """8 scans confirming one pick of 2 units: moved to the bench once."""
    o = outbound(get, "wave")
    return Scenario("warehouse", f"/shipping/waves/{o.wave.id}/pick",
                    {"task_id": str(o.task.id), "bin_code": o.bin.code,
                     "sku_code": o.sku.code, "qty": ""}, lambda answers: _picked_once(o))


@guarded("shipping.wave_pick_all")
def pick_all_of_the_same_wave(get) -> Scenario:
    """8 "pick all" of one wave: every task picked once."""
    o = outbound(get, "wave")

    def check(answers):
        _picked_once(o)
        assert audit_count("pick_wave.picked_all", of=o.wave) == 1

    return Scenario("warehouse", f"/shipping/waves/{o.wave.id}/pick-all", {}, check)


@guarded("shipping.wave_short")
def report_the_same_short_pick(get) -> Scenario:
    """8 short reports of one task: backordered once, one cycle count opened."""
    o = outbound(get, "wave")

    def check(answers):
        db.session.expire_all()
        assert o.task.state.value == "short"
        assert audit_count("pick_task.short", of=o.task) == 1
        assert o.order.state.value == "backordered"
        assert audit_count("customer_order.backordered", of=o.order) == 1
        assert o.order.lines[0].allocated_qty == 0
        assert db.session.scalar(select(func.sum(StockLevel.reserved))
                                 .where(StockLevel.sku_id == o.sku.id)) == 0
        assert _count(CycleCount) == 1
        assert level(o.sku, o.bin).on_hand == 2
        ledger_balances()

    return Scenario("warehouse", f"/shipping/waves/{o.wave.id}/tasks/{o.task.id}/short",
                    {"found_qty": "0"}, check)


@guarded("shipping.wave_finish")
def finish_the_same_wave(get) -> Scenario:
    """8 finishes of a picked wave: done once."""
    o = outbound(get, "picked")

    def check(answers):
        db.session.expire_all()
        assert o.wave.state.value == "done"
        assert audit_count("pick_wave.done", of=o.wave) == 1

    return Scenario("warehouse", f"/shipping/waves/{o.wave.id}/finish", {}, check)


# --------------------------------------------------------------------------- packing


def _station(o: Outbound, action: str) -> str:
    return f"/shipping/packing/{o.order.id}/{action}"


@guarded("shipping.packing_scan")
def scan_more_than_was_ordered(get) -> Scenario:
    """8 scans of one unit of a line of 2: two are recorded, the 6 extra ones refused."""
    o = outbound(get, "picked")

    def check(answers):
        assert _scanned(o.order) == 2
        assert successes(answers) == 2

    return Scenario("warehouse", _station(o, "scan"), {"code": o.sku.code, "quantity": "1"},
                    check)


@guarded("shipping.packing_unscan")
def take_back_more_than_was_scanned(get) -> Scenario:
    """8 take-backs of one unit of 2 scanned: two are taken back, none twice."""
    o = outbound(get, "scanned")

    def check(answers):
        assert _scanned(o.order) == 0
        assert successes(answers) == 2
        assert audit_count("customer_order.unscanned", of=o.order) == 2

    return Scenario("warehouse", _station(o, "unscan"),
                    {"unscan-code": o.sku.code, "unscan-quantity": "1"}, check)


@guarded("shipping.packing_clear")
def clear_the_same_scans(get) -> Scenario:
    """8 clears of an order's scans: cleared once."""
    o = outbound(get, "scanned")

    def check(answers):
        assert _scanned(o.order) == 0
        assert audit_count("customer_order.scans_cleared", of=o.order) == 1

    return Scenario("warehouse", _station(o, "clear"), {}, check)


@guarded("shipping.packing_close")
def close_the_same_parcel(get) -> Scenario:
    """8 closes of the scanned units: one parcel, one number, the order packed once."""
    o = outbound(get, "scanned")

    def check(answers):
        assert _scanned(o.order, unassigned=True) == 0
        assert _count(Parcel) == 1
        assert drawn("PCL") == 1
        assert o.order.state.value == "packed"
        assert audit_count("customer_order.packed", of=o.order) == 1

    return Scenario("warehouse", _station(o, "close"),
                    {"box": "M", "weight_g": "500", "service": ""}, check)


def _labelled_once(o: Outbound):
    db.session.expire_all()
    assert o.parcel.state.value == "labelled"
    assert db.session.scalar(select(TrackingRange.next_serial).where(
        TrackingRange.service_id == o.parcel.service_id)) == 10000001
    assert audit_count("parcel.labelled", of=o.parcel) == 1


@guarded("shipping.packing_label")
def label_the_same_order(get) -> Scenario:
    """8 labels of an order's packed parcel: one tracking number drawn."""
    o = outbound(get, "packed")
    return Scenario("warehouse", _station(o, "label"), {}, lambda answers: _labelled_once(o))


@guarded("shipping.parcel_label")
def label_the_same_parcel(get) -> Scenario:
    """8 labels of one packed parcel: one tracking number drawn."""
    o = outbound(get, "packed")
    return Scenario("warehouse", f"/shipping/parcels/{o.parcel.id}/label", {},
                    lambda answers: _labelled_once(o))


@guarded("shipping.parcel_void")
def void_the_same_parcel(get) -> Scenario:
    """8 voids of a packed parcel: voided once, the order back to packing once."""
    o = outbound(get, "packed")

    def check(answers):
        assert _scanned(o.order, unassigned=True) == 2
        assert o.parcel.state.value == "voided"
        assert audit_count("parcel.voided", of=o.parcel) == 1
        assert o.order.state.value == "picking"
        assert audit_count("customer_order.picking", of=o.order) == 2  # the wave, the void

    return Scenario("warehouse", f"/shipping/parcels/{o.parcel.id}/void",
                    {"reason": "Box crushed"}, check)


# --------------------------------------------------------------------------- the lane


@dataclass
class Lane:
    """A picked single-item wave of two one-unit orders of LANE-1, packed in a stocked mailer."""

    wave: object
    orders: list
    sku: object
    mailer: object
    bench: object


def lane_wave(get) -> Lane:
    """Return :class:`Lane`: two orders of LANE-1 waiting at the lane, two mailers in stock."""
    setup, bench = get("shipping_setup"), get("packing_bin")
    for currency, rate in RATES:
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    create_sku, receive = get("create_sku"), get("receive_stock")
    sku = create_sku("LANE-1", hs_code="610910", origin_country="CN", weight_g=180,
                     customs_description="Men's cotton T-shirt")
    receive(sku, get("create_bin")("A-01-01-01"), 2)
    mailer = create_sku("MAILER-S", weight_g=40)
    receive(mailer, bench, 2)
    box = setup["boxes"][0]
    box.sku_id = mailer.id
    lane.set_sku_packing(sku, box, actor=None)
    orders = [get("create_order")([(sku, 1, "20.00")], shipping_service="POST-REG")
              for _ in range(2)]
    for order in orders:
        allocate_order(order, actor=None)
    wave = waves.build_wave(waves.WaveFilters(), actor=None, kind=WaveKind.single_item)
    waves.pick_all(wave, actor=None)
    db.session.commit()
    return Lane(wave, orders, sku, mailer, bench)


def lane_packed_each_once(ln: Lane, packed: int) -> None:
    """Check ``packed`` orders of the lane were packed, each into one labelled parcel once."""
    db.session.expire_all()
    parcels_ = db.session.scalars(select(Parcel).order_by(Parcel.id)).all()
    assert len(parcels_) == packed
    assert len({p.order_id for p in parcels_}) == packed  # never one order twice
    assert all(p.state.value == "labelled" for p in parcels_)
    assert len({p.tracking_number for p in parcels_}) == packed
    assert drawn("PCL") == packed
    assert sum(o.state.value == "packed" for o in ln.orders) == packed
    for order in ln.orders:
        packed_once = int(order.state.value == "packed")
        assert audit_count("customer_order.packed", of=order) == packed_once
        assert _count(PackScan, PackScan.order_id == order.id) == packed_once
    assert audit_count("parcel.packed") == audit_count("parcel.labelled") == packed
    # each parcel used up one mailer: moved once each, none short
    assert _count(StockMove, StockMove.sku_id == ln.mailer.id,
                  StockMove.kind == MoveKind.ship) == packed
    assert level(ln.mailer, ln.bench).on_hand == 2 - packed
    assert audit_count("parcel.box_shortfall") == 0
    ledger_balances()


@guarded("shipping.wave_lane_scan")
def scan_the_same_item_at_the_lane(get) -> Scenario:
    """8 packers scan LANE-1 at once, two orders waiting: two different orders, each once.

    One parcel, one number and one mailer each; the other 6 scans are told none waits.
    """
    ln = lane_wave(get)

    def check(answers):
        assert successes(answers) == 2
        assert all(a.status == 422 for a in answers if a.status != 302)
        lane_packed_each_once(ln, 2)

    return Scenario("warehouse", f"/shipping/waves/{ln.wave.id}/lane", {"code": ln.sku.code},
                    check)


# --------------------------------------------------------------------------- dispatch


def _batched_once(o: Outbound, batch):
    db.session.expire_all()
    assert o.parcel.batch_id == batch.id
    assert audit_count("parcel.batched", of=o.parcel) == 1


def _labelled_and_open_batch(get) -> tuple[Outbound, object]:
    o = outbound(get, "labelled")
    batch = dispatch.open_batch(o.carrier, actor=None)
    db.session.commit()
    return o, batch


@guarded("shipping.scan_into_batch")
def scan_the_same_parcel_into_a_batch(get) -> Scenario:
    """8 scans of one parcel into a batch: added once."""
    o, batch = _labelled_and_open_batch(get)
    return Scenario("warehouse", f"/shipping/batches/{batch.id}/scan",
                    {"code": o.parcel.tracking_number}, lambda answers: _batched_once(o, batch))


@guarded("shipping.add_waiting_parcels")
def add_the_waiting_parcels_at_once(get) -> Scenario:
    """8 "add every waiting parcel" into one batch: each parcel added once."""
    o, batch = _labelled_and_open_batch(get)
    return Scenario("warehouse", f"/shipping/batches/{batch.id}/add-waiting", {},
                    lambda answers: _batched_once(o, batch))


@guarded("shipping.remove_from_batch")
def remove_the_same_parcel_from_a_batch(get) -> Scenario:
    """8 removals of one parcel from its batch: removed once."""
    o = outbound(get, "batched")

    def check(answers):
        db.session.expire_all()
        assert o.parcel.batch_id is None
        assert audit_count("parcel.unbatched", of=o.parcel) == 1

    return Scenario("warehouse", f"/shipping/batches/{o.batch.id}/parcels/{o.parcel.id}/remove",
                    {}, check)


@guarded("shipping.close_batch")
def close_the_same_batch(get) -> Scenario:
    """8 closes of a batch: its goods leave the bench once, the order ships once."""
    o = outbound(get, "batched")

    def check(answers):
        assert level(o.sku, o.bench).on_hand == 0
        assert _count(StockMove, StockMove.kind == MoveKind.ship) == 1
        assert o.batch.state.value == "closed"
        assert audit_count("dispatch_batch.closed", of=o.batch) == 1
        assert (o.parcel.state.value, o.order.state.value) == ("dispatched", "shipped")
        assert audit_count("customer_order.shipped", of=o.order) == 1
        ledger_balances()

    return Scenario("warehouse", f"/shipping/batches/{o.batch.id}/close", {}, check)
