"""Shipping's lifecycle guards: the close lists every parcel that may not go, and the locks.

Closing a dispatch batch re-checks its parcels under lock; packing, labelling and dispatch
lock the row that owns what they check (the order, the batch, the parcel) before reading it.
"""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import event

from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import cancel_order, hold_order, update_shipping_address
from erp.shipping.errors import ShippingError
from erp.shipping.models import BatchState, ParcelState
from erp.shipping.services import dispatch, packing, parcels
from erp.warehouse.queries import ledger_problems

O = OrderState  # noqa: E741
P = ParcelState


def test_close_lists_every_parcel_that_may_not_go(outbound_floor):
    floor = outbound_floor
    held, held_parcel = floor.labelled([(floor.tee, 1)])
    gone, gone_parcel = floor.labelled([(floor.mug, 1)])
    moved, moved_parcel = floor.labelled([(floor.tee, 1)])
    fine, fine_parcel = floor.labelled([(floor.mug, 1)])
    batch = floor.batch()
    for parcel in (held_parcel, gone_parcel, moved_parcel, fine_parcel):
        dispatch.scan_into_batch(batch, parcel.tracking_number, actor=floor.packer)
    db.session.commit()
    hold_order(held, reason="Fraud check", actor=floor.agent)
    cancel_order(gone, reason="Duplicate", actor=floor.agent)
    update_shipping_address(moved, {"city": "Hamburg", "postal_code": "20095"},
                            actor=floor.agent)
    db.session.commit()

    with pytest.raises(ShippingError) as refused:
        dispatch.close_batch(batch, actor=floor.packer)
    db.session.rollback()
    message = str(refused.value)
    assert message.startswith(f"Batch {batch.number} cannot be closed: 3 parcels in it may "
                              "not go.")
    assert f"order {held.number} is on hold (Fraud check)" in message
    assert f"Parcel {gone_parcel.number} ({gone_parcel.tracking_number}) was voided (Order " \
           f"{gone.number} cancelled: Duplicate)" in message
    assert f"Parcel {moved_parcel.number} has no valid label (its label was voided)" in message
    assert fine_parcel.number not in message
    assert message.endswith("To close the batch, remove them from the batch first.")
    db.session.refresh(batch)
    assert batch.state == BatchState.open
    db.session.refresh(fine_parcel)
    assert fine_parcel.state == P.labelled

    for parcel in (held_parcel, gone_parcel, moved_parcel):
        dispatch.remove_from_batch(batch, parcel, actor=floor.packer)
    summary = dispatch.close_batch(batch, actor=floor.packer)
    assert (summary.parcels, summary.orders_shipped, summary.orders_waiting) == (1, 1, [])
    assert ledger_problems(db.session) == []


def test_a_voided_label_cannot_be_scanned_in_until_relabelled(outbound_floor):
    floor = outbound_floor
    order, parcel = floor.labelled([(floor.tee, 1)])
    update_shipping_address(order, {"address2": "Hinterhaus"}, actor=floor.agent)
    batch = floor.batch()
    with pytest.raises(ShippingError, match="has no label yet"):
        dispatch.scan_into_batch(batch, parcel.number, actor=floor.packer)
    assert parcel.batch_id is None


@pytest.fixture
def lock_spy(monkeypatch):
    """Record what the shipping services lock, in order: ``[(kind, what), ...]``."""
    seen = []
    from erp.core import locking

    def spy_lock(obj):
        seen.append(("lock", obj))
        return locking.lock(obj)

    def spy_lock_many(model, ids):
        seen.append(("lock_many", model.__tablename__))
        return locking.lock_many(model, ids)

    def spy_lock_rows(model, ids, *columns):
        seen.append(("lock_rows", model.__tablename__))
        return locking.lock_rows(model, ids, *columns)

    for module in (dispatch, packing, parcels):
        monkeypatch.setattr(module, "lock", spy_lock)
    monkeypatch.setattr(dispatch, "lock_many", spy_lock_many)
    for module in (packing, parcels):
        monkeypatch.setattr(module, "lock_rows", spy_lock_rows)
    return seen


def test_packing_locks_the_order_before_reading_it(outbound_floor, lock_spy):
    floor = outbound_floor
    order = floor.picked([(floor.tee, 2)])
    packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)
    packing.unscan_item(order, "TEE-BLK-M", actor=floor.packer)
    packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)
    packing.clear_scans(order, actor=floor.packer)
    packing.scan_item(order, "TEE-BLK-M", actor=floor.packer)
    parcel = packing.close_parcel(order, weight_g=300, box=floor.setup["boxes"][0],
                                  actor=floor.packer)
    assert lock_spy == [("lock", order)] * 6
    lock_spy.clear()
    parcels.label_parcel(parcel, actor=floor.packer)
    assert lock_spy == [("lock_rows", "customer_order"), ("lock_rows", "parcel")]
    lock_spy.clear()
    parcels.void_parcel(parcel, reason="Torn box", actor=floor.packer)
    assert lock_spy == [("lock", order), ("lock", parcel)]
    lock_spy.clear()
    packing.pack_orders([order], box=floor.setup["boxes"][0], actor=floor.packer)
    assert lock_spy == [("lock_rows", "customer_order")]


def test_dispatch_locks_the_batch_then_the_parcels(outbound_floor, lock_spy):
    floor = outbound_floor
    _order, first = floor.labelled([(floor.tee, 1)])
    _other, second = floor.labelled([(floor.mug, 1)])
    batch = floor.batch()
    lock_spy.clear()
    dispatch.scan_into_batch(batch, first.tracking_number, actor=floor.packer)
    assert lock_spy == [("lock", batch)]  # the parcel is read FOR UPDATE by the scan lookup
    lock_spy.clear()
    dispatch.remove_from_batch(batch, first, actor=floor.packer)
    assert lock_spy == [("lock", batch), ("lock", first)]
    lock_spy.clear()
    dispatch.add_parcels(batch, [first], actor=floor.packer)
    assert lock_spy == [("lock", batch), ("lock_many", "parcel")]
    lock_spy.clear()
    dispatch.add_waiting_parcels(batch, actor=floor.packer)
    assert lock_spy == [("lock", batch)]  # the waiting parcels are read FOR UPDATE
    assert second.batch_id == batch.id
    lock_spy.clear()
    dispatch.close_batch(batch, actor=floor.packer)
    assert lock_spy == [("lock", batch)]


@contextlib.contextmanager
def for_update_tables():
    """Collect the table of each ``SELECT ... FOR UPDATE OF <table>`` run inside, in order."""
    locked = []

    def note(conn, cursor, statement, *args):
        if "FOR UPDATE OF " in statement:
            locked.append(statement.split("FOR UPDATE OF ")[1].split()[0])
        elif "FOR UPDATE" in statement:  # one table's row (erp.core.locking.lock)
            locked.append(statement.split("\nFROM ")[1].split()[0].strip('"'))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield locked
    finally:
        event.remove(db.engine, "before_cursor_execute", note)


@pytest.mark.postgres
def test_close_locks_batch_then_orders_then_parcels_then_stock(outbound_floor):
    floor = outbound_floor
    _order, parcel = floor.labelled([(floor.tee, 1)])
    batch = floor.batch()
    dispatch.scan_into_batch(batch, parcel.tracking_number, actor=floor.packer)
    db.session.commit()
    with for_update_tables() as locked:
        dispatch.close_batch(batch, actor=floor.packer)
    assert locked[:4] == ["dispatch_batch", "customer_order", "parcel", "stock_level"]


@pytest.mark.postgres
def test_packing_and_labelling_lock_orders_before_parcels(outbound_floor):
    floor = outbound_floor
    order = floor.picked([(floor.tee, 1)])
    with for_update_tables() as locked:
        (parcel,) = packing.pack_orders([order], box=floor.setup["boxes"][0],
                                        actor=floor.packer)
    assert locked[0] == "customer_order"
    with for_update_tables() as locked:
        parcels.label_parcel(parcel, actor=floor.packer)
    assert locked[:2] == ["customer_order", "parcel"]
