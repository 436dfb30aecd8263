"""Pick waves: building with filters, picking by scan, short picks, confirm all, the pick list."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_orders
from erp.orders.services.allocation import LINE_REF
from erp.shipping.documents.pick_list import pick_list_pdf
from erp.shipping.errors import ShippingError
from erp.shipping.models import PickTaskState, WaveState
from erp.shipping.services import waves
from erp.shipping.services.waves import WaveFilters
from erp.warehouse.models import CycleCount, CycleCountState, MoveKind, StockLevel, StockMove
from erp.warehouse.services import cancel_cycle_count, reservations_for


def level(sku, location) -> tuple[int, int]:
    """Return ``(on_hand, reserved)`` of a SKU in a bin as stored."""
    db.session.expire_all()
    row = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == sku.id,
                                                     StockLevel.location_id == location.id))
    return (row.on_hand, row.reserved) if row else (0, 0)


@pytest.fixture
def floor(app, create_bin, create_sku, receive_stock, packing_bin):
    """Three bins whose pick sequence runs against their codes; two SKUs stocked."""
    bins = {"far": create_bin("A-01-01-01", pick_sequence=300),
            "mid": create_bin("B-01-01-01", pick_sequence=200),
            "near": create_bin("C-01-01-01", pick_sequence=100)}
    red = create_sku("TS-RED-M", barcode="4006381333931")
    blue = create_sku("TS-BLUE-M")
    receive_stock(red, bins["far"], 10)
    receive_stock(blue, bins["near"], 3)
    receive_stock(blue, bins["mid"], 10)
    db.session.commit()
    return {"bins": bins, "red": red, "blue": blue, "pack": packing_bin}


@pytest.fixture
def orders(floor, create_order):
    """Allocated orders: DE single-item POST-REG, FR multi-item EMS, US single EMS (late)."""
    red, blue = floor["red"], floor["blue"]
    made = {
        "de1": create_order([(red, 1)], shipping_service="POST-REG", country="DE"),
        "fr2": create_order([(red, 2), (blue, 4)], shipping_service="EMS", country="FR",
                            city="Paris", postal_code="75001"),
        "us1": create_order([(blue, 1)], shipping_service="EMS", country="US",
                            city="Austin", postal_code="73301",
                            placed_at=datetime(2026, 1, 6, 12, 0, tzinfo=UTC)),
    }
    summary = allocate_orders(actor=None)
    assert len(summary.allocated) == 3, summary
    db.session.commit()
    return made


def test_build_wave_takes_allocated_orders_into_picking_with_slots_and_tasks(orders, floor):
    wave = waves.build_wave(WaveFilters(), actor=None)
    db.session.commit()
    assert wave.number.startswith("WAVE-")
    assert wave.state == WaveState.open
    assert wave.packing_location_id == floor["pack"].id
    assert [o.order.number for o in wave.orders] == [
        orders["de1"].number, orders["fr2"].number, orders["us1"].number]
    assert [o.slot for o in wave.orders] == [1, 2, 3]
    assert all(o.state == OrderState.picking for o in orders.values())
    # one task per reservation, in the bins' pick sequence (not code, not creation order)
    sequences = [t.sequence for t in wave.tasks]
    assert sequences == sorted(sequences)
    assert [t.location.code for t in wave.tasks][0] == "C-01-01-01"
    assert [t.location.code for t in wave.tasks][-1] == "A-01-01-01"
    assert sum(t.quantity for t in wave.tasks) == 8
    held = reservations_for(LINE_REF, [ln.id for o in orders.values() for ln in o.lines])
    assert len(wave.tasks) == len(held)
    assert '"max_orders": 200' in wave.filters
    events = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "pick_wave")).all()
    assert "pick_wave.created" in events
    # a wave in progress keeps its orders out of the next one
    with pytest.raises(ShippingError, match="No allocated order"):
        waves.build_wave(WaveFilters(), actor=None)


@pytest.mark.parametrize(("filters", "expected"), [
    (WaveFilters(service_code="ems"), {"fr2", "us1"}),
    (WaveFilters(country="de"), {"de1"}),
    (WaveFilters(single_item=True), {"de1", "us1"}),
    (WaveFilters(single_item=False), {"fr2"}),
    (WaveFilters(placed_before=datetime(2026, 1, 6, tzinfo=UTC)), {"de1", "fr2"}),
    (WaveFilters(max_orders=2), {"de1", "fr2"}),
    (WaveFilters(service_code="EMS", single_item=True), {"us1"}),
])
def test_each_filter_chooses_its_orders(orders, filters, expected):
    assert waves.count_candidates(filters) >= len(expected)
    wave = waves.build_wave(filters, actor=None)
    numbers = {o.order.number for o in wave.orders}
    assert numbers == {orders[key].number for key in expected}
    untouched = set(orders) - expected
    assert all(orders[k].state == OrderState.allocated for k in untouched)


def test_no_matching_order_is_refused_and_bad_filters_named(orders):
    with pytest.raises(ShippingError, match="country JP"):
        waves.build_wave(WaveFilters(country="JP"), actor=None)
    with pytest.raises(ValidationError) as err:
        waves.build_wave(WaveFilters(max_orders=0), actor=None)
    assert err.value.field == "max_orders"
    with pytest.raises(ValidationError):
        waves.wave_candidates(WaveFilters(country="Germany"))


def test_no_packing_location_is_refused(app, create_bin, create_sku, receive_stock,
                                        create_order):
    sku = create_sku("X-1")
    receive_stock(sku, create_bin("A-09-09-09"), 5)
    create_order([(sku, 1)])
    allocate_orders(actor=None)
    with pytest.raises(ShippingError, match="packing location"):
        waves.build_wave(WaveFilters(), actor=None)


def test_confirm_pick_checks_the_scans_and_moves_stock_to_packing(orders, floor):
    wave = waves.build_wave(WaveFilters(country="DE"), actor=None)
    db.session.commit()
    task = wave.tasks[0]
    red, far, pack = floor["red"], floor["bins"]["far"], floor["pack"]
    assert level(red, far) == (10, 3)  # DE 1 + FR 2 reserved
    with pytest.raises(ShippingError, match="Wrong bin.*A-01-01-01") as err:
        waves.confirm_pick(task, bin_code="B-01-01-01", sku_code="TS-RED-M", actor=None)
    assert err.value.field == "bin_code"
    with pytest.raises(ShippingError, match='Z-99.*Scan bin A-01-01-01'):
        waves.confirm_pick(task, bin_code="Z-99", sku_code="TS-RED-M", actor=None)
    with pytest.raises(ShippingError, match="Wrong item.*TS-BLUE-M.*TS-RED-M") as err:
        waves.confirm_pick(task, bin_code="A-01-01-01", sku_code="TS-BLUE-M", actor=None)
    assert err.value.field == "sku_code"
    db.session.rollback()
    assert level(red, far) == (10, 3)
    task = wave.tasks[0]
    waves.confirm_pick(task, bin_code="a-01-01-01", sku_code="4006381333931", actor=None)
    db.session.commit()
    assert task.state == PickTaskState.picked
    assert task.picked_qty == 1
    assert wave.state == WaveState.picking  # the first pick starts the wave
    assert level(red, far) == (9, 2)
    assert level(red, pack) == (1, 0)
    move = db.session.scalars(select(StockMove).where(StockMove.kind == MoveKind.pick)).one()
    assert (move.ref_type, move.ref_id, move.to_location_id) == ("pick_wave", wave.id, pack.id)
    assert orders["de1"].lines[0].allocated_qty == 1  # still covered, now at the bench
    assert reservations_for(LINE_REF, [orders["de1"].lines[0].id]) == []
    with pytest.raises(ShippingError, match="already picked"):
        waves.confirm_pick(task, bin_code="A-01-01-01", sku_code="TS-RED-M", actor=None)
    waves.finish_wave(wave, actor=None)
    assert wave.state == WaveState.done


def test_partial_confirm_keeps_the_task_open(orders, floor):
    wave = waves.build_wave(WaveFilters(country="FR"), actor=None)
    task = next(t for t in wave.tasks if t.sku_id == floor["blue"].id)
    assert task.quantity == 3 or task.quantity == 4
    with pytest.raises(ValidationError):
        waves.confirm_pick(task, bin_code=task.location.code, sku_code="TS-BLUE-M",
                           quantity=task.quantity + 1, actor=None)
    waves.confirm_pick(task, bin_code=task.location.code, sku_code="TS-BLUE-M", quantity=1,
                       actor=None)
    assert task.state == PickTaskState.open
    assert task.picked_qty == 1
    waves.confirm_pick(task, bin_code=task.location.code, sku_code="TS-BLUE-M", actor=None)
    assert task.state == PickTaskState.picked
    assert task.picked_qty == task.quantity


def test_short_pick_backorders_opens_a_count_and_allocation_skips_the_bin(orders, floor):
    blue = floor["blue"]
    near, mid, pack = floor["bins"]["near"], floor["bins"]["mid"], floor["pack"]
    wave = waves.build_wave(WaveFilters(country="FR"), actor=None)
    db.session.commit()
    fr = orders["fr2"]
    blue_line = next(ln for ln in fr.lines if ln.sku_id == blue.id)
    # FR wants 4 blue: 3 from the near bin (first in sequence), 1 from the mid bin
    near_task = next(t for t in wave.tasks if t.location_id == near.id)
    assert near_task.quantity == 3
    assert level(blue, near) == (3, 3)
    with pytest.raises(ValidationError):
        waves.report_short(near_task, found_qty=3, actor=None)
    waves.report_short(near_task, found_qty=1, actor=None)
    db.session.commit()
    assert near_task.state == PickTaskState.short
    assert near_task.picked_qty == 1
    assert fr.state == OrderState.backordered
    assert blue_line.allocated_qty == 2  # 4 - 2 short
    assert level(blue, near) == (2, 0)   # 1 found went to packing, 2 released
    assert level(blue, pack) == (1, 0)
    count = db.session.scalars(select(CycleCount)).one()
    assert count.state == CycleCountState.open
    assert [(ln.sku_id, ln.location_id) for ln in count.lines] == [(blue.id, near.id)]
    assert "WAVE-" in count.note
    # allocation retries the order but does not reserve the frozen bin again
    allocate_orders(actor=None)
    db.session.commit()
    assert fr.state == OrderState.allocated
    assert level(blue, near) == (2, 0)
    assert level(blue, mid) == (10, 4)  # FR 1 + US 1 before, + FR 2 re-reserved
    assert level(blue, pack) == (1, 0)  # what was found stays at the bench
    # the wave cannot finish while tasks are open
    with pytest.raises(ShippingError, match="still open"):
        waves.finish_wave(wave, actor=None)
    assert waves.pick_all(wave, actor=None) == 2
    waves.finish_wave(wave, actor=None)
    db.session.commit()
    assert wave.state == WaveState.done
    # the order goes into a new wave for what is still missing, from the mid bin only
    again = waves.build_wave(WaveFilters(country="FR"), actor=None)
    assert [(t.location_id, t.quantity) for t in again.tasks] == [(mid.id, 2)]
    cancel_cycle_count(count, actor=None)
    db.session.commit()


def test_frozen_bin_refuses_a_pick_and_pick_all_leaves_it_open(orders, floor, create_order):
    red, far = floor["red"], floor["bins"]["far"]
    wave = waves.build_wave(WaveFilters(), actor=None)
    red_tasks = [t for t in wave.tasks if t.sku_id == red.id]
    assert len(red_tasks) == 2
    waves.report_short(red_tasks[0], found_qty=0, actor=None)
    db.session.commit()
    with pytest.raises(ShippingError, match="frozen.*report this task short"):
        waves.confirm_pick(red_tasks[1], bin_code=far.code, sku_code=red.code, actor=None)
    db.session.rollback()
    done = waves.pick_all(wave, actor=None)
    db.session.commit()
    assert done == len(wave.tasks) - 2
    assert red_tasks[1].state == PickTaskState.open
    waves.report_short(red_tasks[1], found_qty=0, actor=None)
    assert len(db.session.scalars(select(CycleCount)).all()) == 1  # one count for the bin
    waves.finish_wave(wave, actor=None)
    db.session.commit()
    assert level(red, far) == (10, 0)


def test_pick_all_confirms_every_task_in_one_posting(orders, floor):
    red, blue, pack = floor["red"], floor["blue"], floor["pack"]
    wave = waves.build_wave(WaveFilters(), actor=None)
    db.session.commit()
    assert waves.pick_all(wave, actor=None) == len(wave.tasks)
    db.session.commit()
    assert all(t.state == PickTaskState.picked and t.picked_qty == t.quantity
               for t in wave.tasks)
    assert level(red, pack) == (3, 0)
    assert level(blue, pack) == (5, 0)
    assert level(red, floor["bins"]["far"]) == (7, 0)
    assert level(blue, floor["bins"]["near"]) == (0, 0)
    assert level(blue, floor["bins"]["mid"]) == (8, 0)
    lines = [ln.id for o in orders.values() for ln in o.lines]
    assert reservations_for(LINE_REF, lines) == []
    assert all(o.state == OrderState.picking for o in orders.values())
    assert len({m.at for m in db.session.scalars(select(StockMove).where(
        StockMove.kind == MoveKind.pick))}) == 1
    assert waves.pick_all(wave, actor=None) == 0
    progress = waves.wave_progress([wave.id])[wave.id]
    assert progress.open == 0
    assert progress.percent == 100
    assert progress.units_picked == 8
    waves.finish_wave(wave, actor=None)
    with pytest.raises(ShippingError, match="must still be picking"):
        waves.pick_all(wave, actor=None)
    with pytest.raises(InvalidTransition):
        waves.start_wave(wave, actor=None)


def test_start_wave_is_audited(orders):
    wave = waves.build_wave(WaveFilters(), actor=None)
    waves.start_wave(wave, actor=None)
    assert wave.state == WaveState.picking
    assert wave.started_at is not None
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "pick_wave", AuditEvent.entity_id == str(wave.id))).all()
    assert set(actions) >= {"pick_wave.created", "pick_wave.picking"}


def test_pick_list_pdf_is_a4_in_pick_sequence_with_totals(orders, floor):
    wave = waves.build_wave(WaveFilters(), actor=None)
    db.session.commit()
    pdf = pick_list_pdf(wave)
    reader = PdfReader(io.BytesIO(pdf))
    page = reader.pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    content = "\n".join(p.extract_text() for p in reader.pages)
    assert f"Pick list {wave.number}" in content
    # the bins' barcode texts come in the bins' pick sequence, not their codes' order
    found = [m.group(0) for m in re.finditer(r"[ABC]-01-01-01", content)]
    first = [b for i, b in enumerate(found) if b not in found[:i]]
    assert first == ["C-01-01-01", "B-01-01-01", "A-01-01-01"]
    totals = content[content.index("Totals per SKU"):]
    assert "TS-BLUE-M\nCotton T-shirt\nB-01-01-01, C-01-01-01\n5" in totals
    assert "TS-RED-M\nCotton T-shirt\nA-01-01-01\n3" in totals
    assert orders["fr2"].number in content
    assert "Total\n8" in totals


def test_tasks_of_an_order_held_while_picking_close_without_moving(orders, floor):
    from erp.orders.services import cancel_order, hold_order

    red, far, pack = floor["red"], floor["bins"]["far"], floor["pack"]
    wave = waves.build_wave(WaveFilters(), actor=None)
    db.session.commit()
    hold_order(orders["de1"], reason="Customer asked to wait", actor=None)
    cancel_order(orders["fr2"], reason="Customer cancelled", actor=None)
    db.session.commit()
    de_task = next(t for t in wave.tasks if t.order_id == orders["de1"].id)
    with pytest.raises(ShippingError, match="on hold: leave SKU TS-RED-M in bin A-01-01-01"):
        waves.confirm_pick(de_task, bin_code="A-01-01-01", sku_code="TS-RED-M", actor=None)
    with pytest.raises(ShippingError, match="report 0 found"):
        waves.report_short(de_task, found_qty=1, actor=None)
    db.session.rollback()
    waves.report_short(de_task, found_qty=0, actor=None)
    assert de_task.state == PickTaskState.short
    assert orders["de1"].state == OrderState.on_hold
    assert waves.pick_all(wave, actor=None) == 1  # only the US order's task moves
    waves.finish_wave(wave, actor=None)
    db.session.commit()
    assert level(red, far) == (10, 0)
    assert level(red, pack) == (0, 0)
    assert db.session.scalars(select(CycleCount)).all() == []  # nothing was missing
