"""Scenario: orders -> wave -> short pick -> packing and a split -> labels -> dispatch.

Allocated orders go into a wave; one pick is short; packing refuses a wrong scan and splits an
order into two parcels; the parcels are labelled and a dispatch batch is closed.

Written as numbered steps that call services only and commit where a screen would. At each
step it checks the stock in the bins, at the packing bench and at the customer, the states of
orders and parcels, and the ledger; at the end ``erp check-ledger`` must find nothing wrong.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core import services as core_services
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_orders
from erp.shipping import s10
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsForm, Parcel, ParcelState, PickTask, PickTaskState
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import LocationKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems

O = OrderState  # noqa: E741


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def reserved(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.reserved if level else 0


def shipped_to_customer(sku) -> int:
    customer = warehouse_services.virtual_location(LocationKind.customer)
    return db.session.scalar(select(func.coalesce(func.sum(StockMove.quantity), 0)).where(
        StockMove.sku_id == sku.id, StockMove.to_location_id == customer.id))


def state(order) -> OrderState:
    db.session.refresh(order)
    return order.state


def task_for(wave, order, location) -> PickTask:
    return next(t for t in wave.tasks if t.order_id == order.id and t.location_id == location.id)


def assert_ledger_ok():
    db.session.flush()
    assert ledger_problems(db.session) == []


def test_outbound_scenario(create_user, create_sku, create_bin, receive_stock, create_order,
                           packing_bin, shipping_setup, runner):
    # 1. Set-up: a packer and a manager; rates for the customs thresholds; a T-shirt in two
    #    bins (3 in A-01, 5 in A-02, walked in that order) and a mug in B-01 (4).
    packer = create_user("packer", roles=("warehouse",))
    manager = create_user("boss", roles=("manager",))
    for currency, rate in (("EUR", "1.1000"), ("XDR", "1.3750"), ("GBP", "1.2500")):
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    customs = {"hs_code": "610910", "customs_description": "Men's cotton T-shirt",
               "origin_country": "CN", "weight_g": 180}
    tee = create_sku("TEE-BLK-M", **customs)
    mug = create_sku("MUG-WHT", hs_code="691200", customs_description="Ceramic mug",
                     origin_country="CN", weight_g=350)
    a01 = create_bin("A-01", pick_sequence=10)
    a02 = create_bin("A-02", pick_sequence=20)
    b01 = create_bin("B-01", pick_sequence=30)
    receive_stock(tee, a01, 3)
    receive_stock(tee, a02, 5)
    receive_stock(mug, b01, 4)
    de = create_order([(tee, 2, "9.90"), (mug, 1, "12.00")], number="WEB-DE-1",
                      shipping_service="POST-REG")
    us = create_order([(tee, 4, "9.90")], number="WEB-US-1", country="US", city="Portland",
                      region="OR", postal_code="97201", currency="USD", shipping_service="EMS")
    fr = create_order([(mug, 1, "12.00")], number="WEB-FR-1", country="FR", city="Paris",
                      postal_code="75001", shipping_service="POST-REG")
    db.session.commit()

    # 2. Allocation reserves along the pick sequence: DE takes 2 T-shirts of A-01, US the last
    #    of A-01 and 3 of A-02; both mugs come from B-01.
    summary = allocate_orders(actor=packer)
    db.session.commit()
    assert sorted(summary.allocated) == ["WEB-DE-1", "WEB-FR-1", "WEB-US-1"]
    assert (reserved(tee, a01), reserved(tee, a02), reserved(mug, b01)) == (3, 3, 2)

    # 3. One wave takes all three orders; its tasks follow the bins' pick sequence.
    wave = waves.build_wave(waves.WaveFilters(), actor=packer)
    db.session.commit()
    assert {state(o) for o in (de, us, fr)} == {O.picking}
    assert [t.location.code for t in wave.tasks] == ["A-01", "A-01", "A-02", "B-01", "B-01"]

    # 4. Picking: a scan of the wrong bin is refused; DE's T-shirts are confirmed by scan.
    de_tee = task_for(wave, de, a01)
    with pytest.raises(ShippingError, match="A-01"):
        waves.confirm_pick(de_tee, bin_code="A-02", sku_code="TEE-BLK-M", actor=packer)
    db.session.rollback()
    waves.confirm_pick(de_tee, bin_code="A-01", sku_code="TEE-BLK-M", actor=packer)
    db.session.commit()
    assert (on_hand(tee, a01), on_hand(tee, packing_bin)) == (1, 2)

    # 5. A short pick: only 1 of US's 3 T-shirts is in A-02. The order goes back to
    #    allocation (backordered, 2 of 4 still covered), a cycle count freezes A-02.
    us_a02 = task_for(wave, us, a02)
    waves.report_short(us_a02, found_qty=1, actor=packer)
    db.session.commit()
    assert state(us) == O.backordered
    assert sum(line.allocated_qty for line in us.lines) == 2
    assert db.session.get(PickTask, us_a02.id).state == PickTaskState.short
    count = warehouse_services.open_count_for(tee.id, a02.id)
    assert count is not None
    assert (on_hand(tee, a02), reserved(tee, a02)) == (4, 0)

    # 6. The rest of the wave is confirmed at once, and the wave finishes. The bench holds
    #    4 T-shirts (DE 2, US 2) and 2 mugs.
    waves.pick_all(wave, actor=packer)
    waves.finish_wave(wave, actor=packer)
    db.session.commit()
    assert (on_hand(tee, packing_bin), on_hand(mug, packing_bin)) == (4, 2)
    assert (on_hand(tee, a01), on_hand(mug, b01)) == (0, 2)
    assert_ledger_ok()

    # 7. Re-allocation cannot take the frozen bin. The count finds only 2 in A-02; once a
    #    manager accepts it, US is allocated the last 2 and picked in a second wave.
    assert allocate_orders(actor=packer).allocated == []
    assert state(us) == O.backordered
    warehouse_services.record_counts(count, {line.id: 2 for line in count.lines}, actor=packer)
    warehouse_services.submit_for_review(count, actor=packer)
    warehouse_services.accept_cycle_count(count, actor=manager)
    db.session.commit()
    assert on_hand(tee, a02) == 2
    assert allocate_orders(actor=packer).allocated == ["WEB-US-1"]
    second = waves.build_wave(waves.WaveFilters(), actor=packer)
    waves.pick_all(second, actor=packer)
    waves.finish_wave(second, actor=packer)
    db.session.commit()
    assert on_hand(tee, packing_bin) == 6
    assert_ledger_ok()

    # 8. Packing DE: a SKU not in the order and an extra mug are refused; the order is split
    #    into two parcels (a T-shirt, then a T-shirt and the mug) and becomes packed.
    order = packing.find_order_for_packing("web-de-1")
    assert order.id == de.id
    create_sku("CAP-RED", **customs)
    db.session.commit()
    with pytest.raises(ShippingError, match="CAP-RED"):
        packing.scan_item(de, "CAP-RED", actor=packer)
    db.session.rollback()
    packing.scan_item(de, "MUG-WHT", actor=packer)
    db.session.commit()  # the station commits each accepted scan
    with pytest.raises(ShippingError, match="extra"):
        packing.scan_item(de, "MUG-WHT", actor=packer)
    db.session.rollback()
    packing.scan_item(de, "TEE-BLK-M", actor=packer)
    small, medium = shipping_setup["boxes"][0], shipping_setup["boxes"][1]
    first = packing.close_parcel(de, weight_g=620, box=medium, actor=packer)
    db.session.commit()
    assert state(de) == O.picking  # one T-shirt still to pack
    packing.scan_item(de, "TEE-BLK-M", actor=packer)
    second_parcel = packing.close_parcel(de, weight_g=240, box=small, actor=packer)
    db.session.commit()
    assert state(de) == O.packed
    assert (first.sequence, second_parcel.sequence) == (1, 2)
    assert first.customs_form == CustomsForm.cn22
    assert first.declared_value == Decimal("21.90")

    # 9. FR and US are packed whole; US goes by EMS, which always takes a CN23.
    fr_parcel = packing.pack_order(fr, weight_g=420, box=medium, actor=packer)
    us_parcel = packing.pack_order(us, weight_g=900, box=medium, actor=packer)
    db.session.commit()
    assert (state(fr), state(us)) == (O.packed, O.packed)
    assert us_parcel.customs_form == CustomsForm.cn23
    assert (on_hand(tee, packing_bin), on_hand(mug, packing_bin)) == (6, 2)  # still at bench

    # 10. Labels: every parcel gets a distinct S10 number with a right check digit.
    all_parcels = [first, second_parcel, fr_parcel, us_parcel]
    parcels.label_parcels(all_parcels, actor=packer)
    db.session.commit()
    numbers = [p.tracking_number for p in all_parcels]
    assert len(set(numbers)) == 4
    assert all(s10.is_valid(n) for n in numbers)
    assert {p.state for p in all_parcels} == {ParcelState.labelled}

    # 11. Dispatch: one China Post batch; the parcels are scanned in (spaces allowed), a
    #    second scan of one is refused, and the batch is closed.
    carrier = shipping_setup["post"].carrier
    batch = dispatch.open_batch(carrier, actor=packer)
    for number in numbers:
        dispatch.scan_into_batch(batch, f"{number[:2]} {number[2:]}", actor=packer)
    db.session.commit()
    with pytest.raises(ShippingError):
        dispatch.scan_into_batch(batch, numbers[0], actor=packer)
    db.session.rollback()
    dispatch.close_batch(batch, actor=packer)
    db.session.commit()
    assert {state(o) for o in (de, us, fr)} == {O.shipped}
    assert {db.session.get(Parcel, p.id).state for p in all_parcels} == {ParcelState.dispatched}
    assert (on_hand(tee, packing_bin), on_hand(mug, packing_bin)) == (0, 0)
    assert (shipped_to_customer(tee), shipped_to_customer(mug)) == (6, 2)
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)
                             .where(CustomerOrder.state == O.shipped)) == 3
    assert_ledger_ok()

    # 12. The whole ledger is consistent: every level equals its moves.
    result = runner.invoke(args=["check-ledger"])
    assert result.exit_code == 0, result.output
