"""Scenarios: an order's lifecycle reaches its parcels (cancel, hold, release, address change).

The demo's story: customer service cancelled (or held) an order whose parcel was packed and
labelled, and the warehouse then scanned the parcel into a dispatch batch and closed it, so
the parcel left while the order stayed "cancelled". Each scenario drives the real flow over
services (allocation, a wave, picking, packing, labels, a dispatch batch), commits where a
screen would, and checks the order, its parcels, the stock in the bins and at the packing
bench, the audit trail and the ledger.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import (
    CancelAfterShipping,
    cancel_order,
    hold_order,
    release_order,
    update_shipping_address,
)
from erp.shipping.errors import ShippingError
from erp.shipping.models import BatchState, Parcel, ParcelState, PickTask
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.warehouse.models import MoveKind, Reservation, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems

O = OrderState  # noqa: E741
P = ParcelState


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def reserved_for(order) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
        Reservation.ref_type == "customer_order_line",
        Reservation.ref_id.in_([line.id for line in order.lines])))


def fresh(obj):
    db.session.refresh(obj)
    return obj


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def assert_ledger_ok(runner=None):
    db.session.flush()
    assert ledger_problems(db.session) == []
    if runner is not None:
        result = runner.invoke(args=["check-ledger"])
        assert result.exit_code == 0, result.output


@pytest.fixture
def floor(outbound_floor):
    """The outbound floor (tests/fixtures/shipping.py), by a short name."""
    return outbound_floor


def test_cancel_after_packing_releases_voids_and_puts_goods_back(floor, runner):
    # 1. An order of 2 T-shirts and a mug is picked (the bench holds them) and packed; a
    #    second order still holds a reservation of the T-shirt it has not picked yet.
    order, parcel = floor.packed([(floor.tee, 2), (floor.mug, 1)])
    assert (on_hand(floor.tee, floor.a01), on_hand(floor.mug, floor.b01)) == (8, 9)
    assert (on_hand(floor.tee, floor.bench), on_hand(floor.mug, floor.bench)) == (2, 1)
    assert_ledger_ok()

    # 2. Customer service cancels it: the parcel is voided, the goods go back to the bins they
    #    were picked from, nothing stays reserved or allocated.
    cancel_order(order, reason="Customer changed their mind", actor=floor.agent)
    db.session.commit()
    assert fresh(order).state == O.cancelled
    assert fresh(parcel).state == P.voided
    assert "Customer changed their mind" in parcel.void_reason
    assert reserved_for(order) == 0
    assert [line.allocated_qty for line in order.lines] == [0, 0]
    assert (on_hand(floor.tee, floor.bench), on_hand(floor.mug, floor.bench)) == (0, 0)
    assert (on_hand(floor.tee, floor.a01), on_hand(floor.mug, floor.b01)) == (10, 10)
    back = db.session.scalars(select(StockMove).where(
        StockMove.ref_type == "customer_order", StockMove.ref_id == order.id)).all()
    assert {(m.kind, m.from_location_id, m.quantity) for m in back} == {
        (MoveKind.transfer, floor.bench.id, 2), (MoveKind.transfer, floor.bench.id, 1)}

    # 3. The order's history says what the cancel did; the parcel's says it was voided.
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customer_order.cancelled")).one()
    assert event.changes["parcels_voided"] == [parcel.number]
    assert event.changes["put_back_units"] == 3
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "parcel.voided", AuditEvent.entity_id == str(parcel.id))) == 1

    # 4. The voided parcel cannot be labelled or packed again.
    with pytest.raises(ShippingError, match="only packed parcels"):
        parcels.label_parcel(parcel, actor=floor.packer)
    db.session.rollback()
    with pytest.raises(ShippingError, match="cancelled"):
        packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)
    db.session.rollback()
    assert_ledger_ok(runner)


def test_cancel_while_picking_releases_reservations_and_returns_what_was_picked(floor):
    # 1. A wave takes an order of 2 T-shirts and a mug; only the T-shirts are picked.
    order = floor.waved([(floor.tee, 2), (floor.mug, 1)])
    wave_tasks = db.session.scalars(select(PickTask).where(PickTask.order_id == order.id)
                                    .order_by(PickTask.id)).all()
    tee_task = next(t for t in wave_tasks if t.sku_id == floor.tee.id)
    waves.confirm_pick(tee_task, bin_code="A-01", sku_code="TEE-BLK-M", actor=floor.packer)
    db.session.commit()
    assert reserved_for(order) == 1  # the mug, not picked yet
    assert on_hand(floor.tee, floor.bench) == 2

    # 2. The cancel releases the mug's reservation and puts the T-shirts back into A-01.
    cancel_order(order, reason="Duplicate order", actor=floor.agent)
    db.session.commit()
    assert reserved_for(order) == 0
    assert on_hand(floor.tee, floor.bench) == 0
    assert (on_hand(floor.tee, floor.a01), on_hand(floor.mug, floor.b01)) == (10, 10)
    assert db.session.get(StockLevel, (floor.mug.id, floor.b01.id)).reserved == 0
    assert_ledger_ok()


def test_cancel_after_labelling_voids_the_label_and_the_parcel_cannot_be_sent(floor):
    # 1. A labelled parcel waits for a batch; customer service cancels the order.
    order, parcel = floor.labelled([(floor.tee, 1)])
    tracking = parcel.tracking_number
    cancel_order(order, reason="Fraud confirmed", actor=floor.agent)
    db.session.commit()
    assert fresh(parcel).state == P.voided
    assert parcel.tracking_number == tracking  # kept on the voided parcel, never drawn again
    assert on_hand(floor.tee, floor.bench) == 0
    assert on_hand(floor.tee, floor.a01) == 10

    # 2. The warehouse scans it anyway: refused, saying the order was cancelled.
    batch = floor.batch()
    db.session.commit()
    with pytest.raises(ShippingError, match=f"order {order.number} was cancelled"):
        dispatch.scan_into_batch(batch, tracking, actor=floor.packer)
    db.session.rollback()
    assert fresh(parcel).batch_id is None
    assert dispatch.add_waiting_parcels(batch, actor=floor.packer).added == 0
    assert_ledger_ok()


def test_cancel_after_dispatch_is_refused_naming_after_sales(floor):
    # 1. The order's parcel left in a closed batch: the order is shipped.
    order, parcel = floor.labelled([(floor.tee, 1)])
    batch = floor.batch()
    dispatch.scan_into_batch(batch, parcel.tracking_number, actor=floor.packer)
    dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    assert fresh(order).state == O.shipped
    events = audit_count()
    with pytest.raises(CancelAfterShipping, match="after-sales case"):
        cancel_order(order, reason="Too late", actor=floor.agent)
    db.session.rollback()
    assert fresh(order).state == O.shipped
    assert fresh(parcel).state == P.dispatched
    assert audit_count() == events

    # 2. A split order whose first parcel left (the order is still packed): refused too,
    #    naming the parcel; nothing of the order or its other parcel changes.
    split, (first, second) = floor.split([(floor.tee, 1), (floor.mug, 1)],
                                         [[("TEE-BLK-M", 1)], [("MUG-WHT", 1)]])
    parcels.label_parcels([first, second], actor=floor.packer)
    batch = floor.batch()
    dispatch.scan_into_batch(batch, first.tracking_number, actor=floor.packer)
    summary = dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    assert summary.orders_waiting == [split.number]
    assert str(summary).endswith(f"0 orders shipped; 1 order not complete yet: {split.number} "
                                 "(1 parcel still to send).")
    bench = on_hand(floor.mug, floor.bench)
    events = audit_count()
    with pytest.raises(ShippingError, match=f"parcel {first.number} .* left in dispatch batch "
                                            f"{batch.number}.*after-sales case"):
        cancel_order(split, reason="Customer wants a refund", actor=floor.agent)
    db.session.rollback()
    assert fresh(split).state == O.packed
    assert fresh(second).state == P.labelled
    assert on_hand(floor.mug, floor.bench) == bench
    assert audit_count() == events
    assert_ledger_ok()


def test_hold_after_labelling_blocks_label_batch_and_close_then_release_unblocks(floor, runner):
    # 1. An order is packed into three parcels: the first labelled and scanned into a batch,
    #    the second labelled and waiting, the third packed without a label.
    order, (first, second, third) = floor.split(
        [(floor.tee, 2), (floor.mug, 1)],
        [[("TEE-BLK-M", 1)], [("TEE-BLK-M", 1)], [("MUG-WHT", 1)]])
    assert fresh(order).state == O.packed
    parcels.label_parcels([first, second], actor=floor.packer)
    batch = floor.batch()
    dispatch.scan_into_batch(batch, first.tracking_number, actor=floor.packer)
    db.session.commit()

    # 2. Customer service holds the order ("Fraud check"); its picked goods stay at the bench.
    hold_order(order, reason="Fraud check", actor=floor.agent)
    db.session.commit()
    assert fresh(order).state == O.on_hold
    assert [line.allocated_qty for line in order.lines] == [2, 1]  # picked, still covered
    events = audit_count()

    # 3. Labelling, scanning, adding the waiting parcels and closing the batch are refused,
    #    each naming the hold; nothing changes.
    with pytest.raises(ShippingError, match=r"on hold \(Fraud check\)"):
        parcels.label_parcel(third, actor=floor.packer)
    db.session.rollback()
    with pytest.raises(ShippingError, match=r"may not go: order .* on hold \(Fraud check\)"):
        dispatch.scan_into_batch(batch, second.tracking_number, actor=floor.packer)
    db.session.rollback()
    added = dispatch.add_waiting_parcels(batch, actor=floor.packer)
    db.session.commit()
    assert added.added == 0
    assert added.left_out == [f"Parcel {second.number} ({second.tracking_number}): order "
                              f"{order.number} is on hold (Fraud check); put the parcel aside "
                              "until customer service releases the hold"]
    with pytest.raises(ShippingError) as refused:
        dispatch.close_batch(batch, actor=floor.packer)
    db.session.rollback()
    assert f"{first.number} ({first.tracking_number}): order {order.number} is on hold " \
           "(Fraud check)" in str(refused.value)
    assert fresh(batch).state == BatchState.open
    assert [fresh(p).state for p in (first, second, third)] == [P.labelled, P.labelled,
                                                                 P.packed]
    assert (fresh(second).batch_id, third.tracking_number) == (None, None)
    assert on_hand(floor.tee, floor.bench) == 2
    assert audit_count() == events

    # 4. The hold is released: every unit is packed, so the order is packed again, and the
    #    parcels go: the third is labelled, both are added, the batch closes and ships it.
    assert release_order(order, actor=floor.agent) == O.packed
    db.session.commit()
    assert reserved_for(order) == 0  # nothing was allocated again
    parcels.label_parcel(third, actor=floor.packer)
    assert dispatch.add_waiting_parcels(batch, actor=floor.packer).added == 2
    summary = dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    assert str(summary).startswith(f"Batch {batch.number} closed: 3 parcels dispatched (3 "
                                   "units")
    assert "wait" not in str(summary)
    assert fresh(order).state == O.shipped
    assert on_hand(floor.tee, floor.bench) == 0
    assert_ledger_ok(runner)


def test_hold_released_before_packing_goes_back_to_the_bench(floor):
    order = floor.picked([(floor.tee, 1)])
    hold_order(order, reason="Address check", actor=floor.agent)
    assert release_order(order, actor=floor.agent) == O.picking
    assert reserved_for(order) == 0  # its goods wait at the bench: nothing to allocate
    parcel = packing.pack_order(order, weight_g=300, box=floor.setup["boxes"][0],
                                actor=floor.packer)
    parcels.label_parcel(parcel, actor=floor.packer)
    assert fresh(order).state == O.packed
    assert_ledger_ok()


def test_address_change_after_labelling_voids_the_label_until_relabelled(floor):
    # 1. A labelled parcel is scanned into a batch.
    order, parcel = floor.labelled([(floor.tee, 1)])
    old = parcel.tracking_number
    batch = floor.batch()
    dispatch.scan_into_batch(batch, old, actor=floor.packer)
    db.session.commit()

    # 2. The customer moves: the label with the old address is void, and the user is told to
    #    print a new one (and take the parcel out of the batch).
    changes = update_shipping_address(order, {"address1": "Neue Strasse 9"},
                                      actor=floor.agent)
    db.session.commit()
    assert changes == {"address1": ["Hauptstrasse 1", "Neue Strasse 9"]}
    assert changes.notices == [
        f"Parcel {parcel.number}: its label {old} is void (the address of order "
        f"{order.number} changed). Print a new label and take it out of dispatch batch "
        f"{batch.number}."]
    assert fresh(parcel).state == P.packed
    assert (parcel.tracking_number, parcel.labelled_at, parcel.batch_id) == (None, None,
                                                                              batch.id)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "parcel.label_voided")).one()
    assert event.changes["tracking_number"] == [old, None]

    # 3. The batch cannot close with it, and it cannot be relabelled inside the batch.
    with pytest.raises(ShippingError, match="label was voided"):
        dispatch.close_batch(batch, actor=floor.packer)
    db.session.rollback()
    with pytest.raises(ShippingError, match="take it out of the batch first"):
        parcels.label_parcel(parcel, actor=floor.packer)
    db.session.rollback()

    # 4. Out of the batch, a new label (a new number), scanned in again: the batch closes.
    dispatch.remove_from_batch(batch, parcel, actor=floor.packer)
    parcels.label_parcel(parcel, actor=floor.packer)
    db.session.commit()
    new = parcel.tracking_number
    assert new is not None
    assert new != old
    with pytest.raises(ShippingError, match="No parcel has"):
        dispatch.scan_into_batch(batch, old, actor=floor.packer)
    db.session.rollback()
    dispatch.scan_into_batch(batch, new, actor=floor.packer)
    summary = dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    assert summary.parcels == 1
    assert fresh(order).state == O.shipped
    assert_ledger_ok()


def test_country_change_after_labelling_recomputes_customs_destination(floor):
    order, parcel = floor.labelled([(floor.tee, 1)])
    assert (parcel.dutiable, parcel.ioss_number) == (False, None)
    changes = update_shipping_address(
        order, {"country": "US", "city": "Portland", "region": "OR", "postal_code": "97201"},
        actor=floor.agent)
    assert len(changes.notices) == 1
    assert fresh(parcel).state == P.packed
    assert parcel.dutiable is True  # every parcel to the US is (settings)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "parcel.label_voided")).one()
    assert event.changes["dutiable"] == [False, True]


def test_batch_close_with_a_cancelled_parcel_is_refused_listing_it(floor, runner):
    # 1. Two orders' parcels are scanned into one batch; then one order is cancelled.
    keep, kept = floor.labelled([(floor.tee, 1)])
    gone, cancelled = floor.labelled([(floor.mug, 1)])
    batch = floor.batch()
    for parcel in (kept, cancelled):
        dispatch.scan_into_batch(batch, parcel.tracking_number, actor=floor.packer)
    db.session.commit()
    cancel_order(gone, reason="Customer cancelled by phone", actor=floor.agent)
    db.session.commit()
    assert fresh(cancelled).state == P.voided
    assert cancelled.batch_id == batch.id  # still on the trolley: the close must stop it

    # 2. Closing is refused, listing the cancelled order's parcel and why; nothing leaves.
    bench = on_hand(floor.tee, floor.bench)
    events = audit_count()
    with pytest.raises(ShippingError) as refused:
        dispatch.close_batch(batch, actor=floor.packer)
    db.session.rollback()
    message = str(refused.value)
    assert f"Batch {batch.number} cannot be closed: 1 parcel in it may not go" in message
    assert f"Parcel {cancelled.number} ({cancelled.tracking_number}) was voided (Order " \
           f"{gone.number} cancelled: Customer cancelled by phone)" in message
    assert kept.number not in message
    assert fresh(batch).state == BatchState.open
    assert fresh(kept).state == P.labelled
    assert db.session.scalar(select(func.count()).select_from(Parcel).where(
        Parcel.state == P.dispatched)) == 0
    assert on_hand(floor.tee, floor.bench) == bench
    assert audit_count() == events

    # 3. Taken out, the batch closes and says exactly what it sent.
    dispatch.remove_from_batch(batch, cancelled, actor=floor.packer)
    summary = dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    assert str(summary) == (f"Batch {batch.number} closed: 1 parcel dispatched (1 unit, "
                            f"{kept.weight_g / 1000:.3f} kg); 1 order shipped.")
    assert (fresh(keep).state, fresh(gone).state) == (O.shipped, O.cancelled)
    assert_ledger_ok(runner)
