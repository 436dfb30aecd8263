"""Receiving: receipts post warehouse moves at base-currency cost; reversals undo them."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

from erp.catalog.models import Sku
from erp.core.errors import DomainError, ValidationError
from erp.core.models import AuditEvent, ExchangeRate
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptState,
)
from erp.procurement.services import ReceivingError
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import (
    LocationKind,
    MoveKind,
    PutawayState,
    PutawayTask,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import ledger_problems
from tests.procurement.helpers import (
    audit_actions,
    audit_events,
    set_rate,
    set_setting,
    snapshot,
)

S = PurchaseOrderState
YEAR = date.today().year


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def refreshed(obj):
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


@pytest.fixture
def clerk(create_user):
    return create_user("clerk", roles=("warehouse",))


@pytest.fixture
def storage_bin(create_bin):
    location = create_bin("A-01-01-01", kind="storage")
    db.session.commit()
    return location


@pytest.fixture
def cny_order(create_supplier_row, create_sku, create_purchase_order):
    """An ordered CNY purchase order: 100 x TEE at 10.00 CNY, 40 x CAP at 2.50 CNY.

    1 CNY = 0.14 USD, so the tee costs 1.4000 USD and the cap 0.3500 USD.
    """
    set_rate("CNY", "0.14")
    supplier = create_supplier_row("SZTEX", currency="CNY")
    tee = create_sku("TEE-BLK-M", barcode="4006381333931")
    cap = create_sku("CAP-NAVY")
    return create_purchase_order(supplier, lines=[(tee, 100, "10.00"), (cap, 40, "2.50")],
                                 state="ordered")


def lines_of(po):
    return {line.sku.code: line for line in po.lines}


# --------------------------------------------------------------------------- receiving


def test_receipt_posts_moves_at_base_currency_cost_and_updates_average_cost(
        cny_order, receiving_bin, receive_stock, clerk):
    tee_line = lines_of(cny_order)["TEE-BLK-M"]
    tee = tee_line.sku
    receive_stock(tee, receiving_bin, 10, "2.00")  # 10 already on hand at 2.00 USD
    db.session.commit()

    receipt = services.receive_purchase_order(cny_order, {tee_line.id: 50},
                                              location=receiving_bin, actor=clerk,
                                              note="DN 4471")
    db.session.commit()

    assert receipt.number == f"RCV-{YEAR}-000001"
    assert (receipt.state, receipt.note, receipt.received_by_id) == (ReceiptState.posted,
                                                                     "DN 4471", clerk.id)
    [rl] = receipt.lines
    assert (rl.order_line_id, rl.quantity, rl.unit_cost_base) == (tee_line.id, 50,
                                                                  Decimal("1.4000"))
    move = db.session.get(StockMove, rl.move_id)
    supplier_location = warehouse_services.virtual_location(LocationKind.supplier)
    assert (move.kind, move.sku_id, move.from_location_id, move.to_location_id, move.quantity,
            move.unit_cost, move.ref_type, move.ref_id) == (
        MoveKind.receipt, tee.id, supplier_location.id, receiving_bin.id, 50, Decimal("1.4000"),
        "receipt_line", rl.id)
    # (10 x 2.00 + 50 x 1.40) / 60 = 1.50
    assert refreshed(tee).avg_cost == Decimal("1.5000")
    assert on_hand(tee, receiving_bin) == 60
    po = refreshed(cny_order)
    assert po.state == S.partially_received
    assert lines_of(po)["TEE-BLK-M"].received_qty == 50
    assert "receipt.posted" in audit_actions("receipt", receipt.id)
    [event] = audit_events("purchase_order", po.id, "purchase_order.partially_received")
    assert event.changes == {"state": ["ordered", "partially_received"],
                             "receipt": receipt.number}
    assert ledger_problems(db.session) == []


def test_partial_receipts_move_the_state_until_received(cny_order, receiving_bin,
                                                        storage_bin, clerk):
    tee_line, cap_line = lines_of(cny_order)["TEE-BLK-M"], lines_of(cny_order)["CAP-NAVY"]
    first = services.receive_purchase_order(cny_order, {tee_line.id: 60, cap_line.id: 0},
                                            location=receiving_bin, actor=clerk)
    db.session.commit()
    assert cny_order.state == S.partially_received
    assert [rl.quantity for rl in first.lines] == [60]  # the line at zero is skipped
    second = services.receive_purchase_order(cny_order, {tee_line.id: 40, cap_line.id: 25},
                                             location=storage_bin, actor=clerk)
    db.session.commit()
    assert cny_order.state == S.partially_received
    third = services.receive_purchase_order(cny_order, {cap_line.id: 15},
                                            location=storage_bin, actor=clerk)
    db.session.commit()
    assert cny_order.state == S.received
    assert (second.number, third.number) == (f"RCV-{YEAR}-000002", f"RCV-{YEAR}-000003")
    assert [(ln.received_qty, ln.remaining_qty) for ln in cny_order.lines] == [(100, 0),
                                                                                (40, 0)]
    tee, cap = tee_line.sku, cap_line.sku
    assert (on_hand(tee, receiving_bin), on_hand(tee, storage_bin)) == (60, 40)
    assert on_hand(cap, storage_bin) == 40
    assert refreshed(cap).avg_cost == Decimal("0.3500")
    states = [e.changes["state"] for e in audit_events("purchase_order", cny_order.id,
                                                       "purchase_order.partially_received")]
    assert states == [["ordered", "partially_received"],
                      ["partially_received", "partially_received"]]
    assert audit_events("purchase_order", cny_order.id, "purchase_order.received")
    assert ledger_problems(db.session) == []


def test_one_receipt_posts_one_batch_of_moves(cny_order, receiving_bin, clerk):
    line_ids = [line.id for line in cny_order.lines]
    receipt = services.receive_purchase_order(cny_order, {line_ids[0]: 5, line_ids[1]: 5},
                                              location=receiving_bin, actor=clerk)
    db.session.commit()
    ids = [rl.id for rl in receipt.lines]
    moves = db.session.scalars(select(StockMove).where(StockMove.ref_type == "receipt_line",
                                                       StockMove.ref_id.in_(ids))).all()
    assert len(moves) == 2
    # ledger postings are audited once per post_moves call
    [posting] = audit_events("stock_move", min(m.id for m in moves), "stock_move.posted")
    assert posting.changes["moves"] == 2


def test_receiving_uses_the_rate_of_the_receipt_date(create_supplier_row, create_sku,
                                                     create_purchase_order, receiving_bin):
    set_rate("EUR", "1.10", date(2000, 1, 1))
    set_rate("EUR", "1.20", date.today())
    po = create_purchase_order(create_supplier_row(currency="EUR"),
                               lines=[(create_sku(), 10, "3.3333")], state="ordered")
    receipt = services.receive_purchase_order(po, {po.lines[0].id: 10}, location=receiving_bin,
                                              actor=None)
    assert receipt.lines[0].unit_cost_base == Decimal("4.0000")  # 3.3333 x 1.20, 4 places


@pytest.mark.parametrize("kind", ["packing", "shipping", "returns", "quarantine", "scrap"])
def test_receive_into_a_bin_of_another_kind_fails(cny_order, create_bin, clerk, kind):
    location = create_bin(f"X-{kind.upper()}", kind=kind)
    db.session.commit()
    before = snapshot()
    with pytest.raises(ValidationError) as err:
        services.receive_purchase_order(cny_order, {cny_order.lines[0].id: 1},
                                        location=location, actor=clerk)
    assert str(err.value) == (
        f'To receive purchase order "{cny_order.number}" into WH1/X-{kind.upper()}, you must '
        f"choose a receiving or storage bin; it is a {kind} location.")
    assert err.value.field == "location"
    assert snapshot() == before


@pytest.mark.parametrize("kind", [LocationKind.supplier, LocationKind.customer,
                                  LocationKind.adjustment])
def test_receive_into_a_virtual_location_fails(cny_order, clerk, kind):
    location = warehouse_services.virtual_location(kind)
    db.session.commit()
    before = snapshot()
    with pytest.raises(ValidationError, match="you must choose a receiving or storage bin"):
        services.receive_purchase_order(cny_order, {cny_order.lines[0].id: 1},
                                        location=location, actor=clerk)
    assert snapshot() == before


def test_receive_into_an_inactive_bin_fails(cny_order, receiving_bin, clerk):
    receiving_bin.active = False
    db.session.commit()
    before = snapshot()
    with pytest.raises(ValidationError, match="you must choose an active bin"):
        services.receive_purchase_order(cny_order, {cny_order.lines[0].id: 1},
                                        location=receiving_bin, actor=clerk)
    assert snapshot() == before


@pytest.mark.parametrize(("quantities", "message"), [
    ({}, "a quantity on at least one line"),
    ("zeros", "a quantity on at least one line"),
    ("negative", "quantities of zero or more; got -1"),
    ("fraction", "whole quantities; got 1.5"),
    ("foreign", "its own lines only"),
])
def test_receive_bad_quantities_fail(cny_order, receiving_bin, create_purchase_order, clerk,
                                     quantities, message):
    ids = [line.id for line in cny_order.lines]
    if quantities == "zeros":
        quantities = {ids[0]: 0, ids[1]: 0}
    elif quantities == "negative":
        quantities = {ids[0]: -1}
    elif quantities == "fraction":
        quantities = {ids[0]: 1.5}
    elif quantities == "foreign":
        other = create_purchase_order(state="ordered")
        quantities = {ids[0]: 1, other.lines[0].id: 1}
    before = snapshot()
    with pytest.raises(ValidationError, match=message):
        services.receive_purchase_order(cny_order, quantities, location=receiving_bin,
                                        actor=clerk)
    assert snapshot() == before


def test_over_receipt_is_refused_without_tolerance(cny_order, receiving_bin, clerk):
    tee_line = lines_of(cny_order)["TEE-BLK-M"]
    services.receive_purchase_order(cny_order, {tee_line.id: 95}, location=receiving_bin,
                                    actor=clerk)
    db.session.commit()
    before = snapshot()
    with pytest.raises(ReceivingError) as err:
        services.receive_purchase_order(cny_order, {tee_line.id: 6}, location=receiving_bin,
                                        actor=clerk)
    assert str(err.value) == (
        f'To receive 6 of SKU "TEE-BLK-M" on purchase order "{cny_order.number}", you must stay '
        "within what the line may still receive: 5 (100 ordered, 95 received, over-receipt "
        "tolerance 0%).")
    assert err.value.field == f"qty-{tee_line.id}"
    assert snapshot() == before
    services.receive_purchase_order(cny_order, {tee_line.id: 5}, location=receiving_bin,
                                    actor=clerk)
    assert tee_line.received_qty == 100


def test_over_receipt_within_the_tolerance_is_accepted(cny_order, receiving_bin, clerk):
    set_setting("over_receipt_tolerance_pct", "10")
    cap_line = lines_of(cny_order)["CAP-NAVY"]  # 40 ordered: up to 44 may arrive
    services.receive_purchase_order(cny_order, {cap_line.id: 44}, location=receiving_bin,
                                    actor=clerk)
    db.session.commit()
    assert (cap_line.received_qty, cap_line.remaining_qty) == (44, 0)
    before = snapshot()
    with pytest.raises(ReceivingError, match="still receive: 0 .*tolerance 10%"):
        services.receive_purchase_order(cny_order, {cap_line.id: 1}, location=receiving_bin,
                                        actor=clerk)
    assert snapshot() == before


def test_tolerance_is_computed_on_the_quantity_less_cancelled(create_purchase_order,
                                                              receiving_bin, clerk):
    set_setting("over_receipt_tolerance_pct", "50")
    po = create_purchase_order(state="ordered")  # 10 units
    line = po.lines[0]
    line.cancelled_qty = 6  # as if 6 had been cancelled: 4 due, 6 with the tolerance
    db.session.commit()
    assert services.receivable_limit(line, Decimal(50)) == 6
    before = snapshot()
    with pytest.raises(ReceivingError, match=r"still receive: 6 \(4 ordered, 0 received"):
        services.receive_purchase_order(po, {line.id: 7}, location=receiving_bin, actor=clerk)
    assert snapshot() == before


@pytest.mark.parametrize("state", ["draft", "awaiting_approval", "approved", "received",
                                   "closed", "cancelled"])
def test_receive_outside_receivable_states_fails(purchase_order_in, receiving_bin, clerk,
                                                 state):
    po = purchase_order_in(state)
    before = snapshot()
    with pytest.raises(ReceivingError, match=f'you must have it ordered; it is "'
                                             f'{state.replace("_", " ")}"'):
        services.receive_purchase_order(po, {po.lines[0].id: 1}, location=receiving_bin,
                                        actor=clerk)
    assert snapshot() == before


def test_receive_without_an_exchange_rate_fails(create_supplier_row, create_purchase_order,
                                                create_sku, receiving_bin, clerk):
    set_rate("JPY", "0.0067", date.today())
    po = create_purchase_order(create_supplier_row(currency="JPY"),
                               lines=[(create_sku(), 5, "100")], state="ordered")
    db.session.execute(delete(ExchangeRate))  # the rate is withdrawn after ordering
    db.session.commit()
    before = snapshot()
    with pytest.raises(ValidationError, match="exchange rate for JPY"):
        services.receive_purchase_order(po, {po.lines[0].id: 5}, location=receiving_bin,
                                        actor=clerk)
    assert snapshot() == before


def test_receive_into_a_bin_frozen_by_a_count_fails(cny_order, receiving_bin, receive_stock,
                                                    clerk):
    tee_line = lines_of(cny_order)["TEE-BLK-M"]
    receive_stock(tee_line.sku, receiving_bin, 1)
    warehouse_services.open_cycle_count(receiving_bin.warehouse, location_ids=[receiving_bin.id],
                                        actor=None)
    db.session.commit()
    before = snapshot()
    with pytest.raises(DomainError, match="frozen by cycle count"):
        services.receive_purchase_order(cny_order, {tee_line.id: 1}, location=receiving_bin,
                                        actor=clerk)
    # The warehouse refuses once the receipt is drafted: the unit of work rolls it all back.
    db.session.rollback()
    assert snapshot() == before


# --------------------------------------------------------------------------- reversal


def test_reverse_receipt_takes_the_stock_back_and_moves_the_state_back(cny_order, receiving_bin,
                                                                       clerk):
    tee_line, cap_line = lines_of(cny_order)["TEE-BLK-M"], lines_of(cny_order)["CAP-NAVY"]
    first = services.receive_purchase_order(cny_order, {tee_line.id: 100}, location=receiving_bin,
                                            actor=clerk)
    second = services.receive_purchase_order(cny_order, {cap_line.id: 40},
                                             location=receiving_bin, actor=clerk)
    db.session.commit()
    assert cny_order.state == S.received
    tee = tee_line.sku
    cost_before = refreshed(tee).avg_cost

    services.reverse_receipt(second, actor=clerk, reason="wrong colour delivered")
    db.session.commit()
    po = refreshed(cny_order)
    assert po.state == S.partially_received
    assert lines_of(po)["CAP-NAVY"].received_qty == 0
    assert on_hand(cap_line.sku, receiving_bin) == 0
    second = refreshed(second)
    assert second.state == ReceiptState.reversed
    assert second.reversed_at is not None
    [reversal] = db.session.scalars(select(StockMove).where(
        StockMove.kind == MoveKind.receipt_reversal)).all()
    supplier_location = warehouse_services.virtual_location(LocationKind.supplier)
    assert (reversal.from_location_id, reversal.to_location_id, reversal.quantity,
            reversal.unit_cost, reversal.ref_type, reversal.ref_id) == (
        receiving_bin.id, supplier_location.id, 40, Decimal("0.3500"), "receipt_line",
        second.lines[0].id)

    services.reverse_receipt(refreshed(first), actor=clerk, reason="all wrong")
    db.session.commit()
    po = refreshed(cny_order)
    assert po.state == S.ordered
    assert [line.received_qty for line in po.lines] == [0, 0]
    assert refreshed(tee).avg_cost == cost_before  # a reversal does not re-average the cost
    states = [e.changes["state"] for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "purchase_order",
                                 AuditEvent.entity_id == str(po.id)).order_by(AuditEvent.id))
              if e.changes and "receipt_reversed" in e.changes]
    assert states == [["received", "partially_received"],
                      ["partially_received", "ordered"]]
    assert audit_actions("receipt", first.id)[-1] == "receipt.reversed"
    assert ledger_problems(db.session) == []
    # nothing received any more: the order may now be cancelled
    services.cancel_purchase_order(po, actor=None, reason="supplier sent the wrong goods")
    assert po.state == S.cancelled


def test_reverse_the_only_receipt_of_a_fully_received_order(cny_order, receiving_bin, clerk):
    receipt = services.receive_purchase_order(
        cny_order, {line.id: line.quantity for line in cny_order.lines},
        location=receiving_bin, actor=clerk)
    db.session.commit()
    services.reverse_receipt(receipt, actor=clerk, reason="sent back")
    db.session.commit()
    assert refreshed(cny_order).state == S.ordered


def test_reverse_after_the_stock_moved_away_fails(cny_order, receiving_bin, storage_bin, clerk):
    tee_line = lines_of(cny_order)["TEE-BLK-M"]
    receipt = services.receive_purchase_order(cny_order, {tee_line.id: 30},
                                              location=receiving_bin, actor=clerk)
    warehouse_services.transfer(tee_line.sku, receiving_bin, storage_bin, 25, actor=clerk)
    db.session.commit()
    before = snapshot()
    with pytest.raises(ReceivingError) as err:
        services.reverse_receipt(receipt, actor=clerk, reason="damaged")
    assert str(err.value).startswith(
        f'To reverse receipt "{receipt.number}", you must first bring its stock back to '
        "WH1/RCV-01: ")
    assert "has 5 on hand; cannot take 30" in str(err.value)
    assert snapshot() == before


def test_reverse_while_the_stock_is_reserved_fails(cny_order, receiving_bin, clerk):
    tee_line = lines_of(cny_order)["TEE-BLK-M"]
    receipt = services.receive_purchase_order(cny_order, {tee_line.id: 30},
                                              location=receiving_bin, actor=clerk)
    warehouse_services.reserve(tee_line.sku, receiving_bin, 1, ref_type="order_line", ref_id=9,
                               actor=None)
    db.session.commit()
    before = snapshot()
    with pytest.raises(ReceivingError, match="of which 1 reserved"):
        services.reverse_receipt(receipt, actor=clerk, reason="damaged")
    assert snapshot() == before


def test_reverse_twice_fails(cny_order, receiving_bin, clerk):
    receipt = services.receive_purchase_order(cny_order, {cny_order.lines[0].id: 3},
                                              location=receiving_bin, actor=clerk)
    services.reverse_receipt(receipt, actor=clerk, reason="miscount")
    db.session.commit()
    before = snapshot()
    with pytest.raises(InvalidTransition, match='it is "reversed"'):
        services.reverse_receipt(receipt, actor=clerk, reason="again")
    assert snapshot() == before
    assert not services.can_reverse(receipt)


def test_reverse_needs_a_reason(cny_order, receiving_bin, clerk):
    receipt = services.receive_purchase_order(cny_order, {cny_order.lines[0].id: 3},
                                              location=receiving_bin, actor=clerk)
    db.session.commit()
    before = snapshot()
    with pytest.raises(ValidationError, match="you must give a reason"):
        services.reverse_receipt(receipt, actor=clerk, reason=" ")
    assert snapshot() == before


def test_reverse_a_receipt_of_a_closed_order_fails(purchase_order_in, clerk):
    po = purchase_order_in("closed")
    [receipt] = po.receipts
    before = snapshot()
    with pytest.raises(ReceivingError, match='still receiving; it is "closed"'):
        services.reverse_receipt(receipt, actor=clerk, reason="late find")
    assert snapshot() == before
    assert not services.can_reverse(receipt)


# --------------------------------------------------------------------------- concurrency


@pytest.fixture
def app_config():
    # One connection per thread, and some to spare for the test itself.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 10, "max_overflow": 5,
                                          "pool_timeout": 20}}


@pytest.mark.postgres
@pytest.mark.parametrize(("tolerance", "each", "winners"), [("0", 6, 1), ("10", 6, 1),
                                                             ("20", 6, 2), ("0", 5, 2)])
def test_two_receipts_of_the_same_line_at_once_stay_within_the_tolerance(
        app, create_purchase_order, receiving_bin, tolerance, each, winners):
    set_setting("over_receipt_tolerance_pct", tolerance)
    po = create_purchase_order(state="ordered")  # 10 units
    po_id, line_id, bin_id = po.id, po.lines[0].id, receiving_bin.id
    db.session.commit()
    barrier = threading.Barrier(2, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker():
        from erp.warehouse.models import Location

        with app.app_context():
            order = db.session.get(PurchaseOrder, po_id)
            location = db.session.get(Location, bin_id)
            _ = order.lines, order.state  # loaded before the race, as a screen would have
            barrier.wait()
            try:
                services.receive_purchase_order(order, {line_id: each}, location=location,
                                                actor=None)
                db.session.commit()
                result = "ok"
            except DomainError:
                db.session.rollback()
                result = "refused"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == sorted(["ok"] * winners + ["refused"] * (2 - winners))
    db.session.expire_all()
    line = db.session.get(PurchaseOrderLine, line_id)
    limit = services.receivable_limit(line, Decimal(tolerance))
    assert line.received_qty == each * winners <= limit
    sku = db.session.get(Sku, line.sku_id)
    assert on_hand(sku, receiving_bin) == line.received_qty
    assert db.session.scalar(select(func.count()).select_from(Receipt)) == winners
    expected_state = S.received if line.received_qty >= 10 else S.partially_received
    assert db.session.get(PurchaseOrder, po_id).state == expected_state
    assert ledger_problems(db.session) == []


def test_receipts_into_receiving_open_putaway_tasks_that_reversals_shrink(
        cny_order, receiving_bin, storage_bin, clerk):
    tee_line, cap_line = lines_of(cny_order)["TEE-BLK-M"], lines_of(cny_order)["CAP-NAVY"]
    first = services.receive_purchase_order(cny_order, {tee_line.id: 30, cap_line.id: 40},
                                            location=receiving_bin, actor=clerk)
    services.receive_purchase_order(cny_order, {tee_line.id: 20}, location=receiving_bin,
                                    actor=clerk)
    db.session.commit()

    def tasks():
        db.session.expire_all()
        return {t.sku.code: t for t in db.session.scalars(select(PutawayTask))}

    assert {code: (t.left, t.state) for code, t in tasks().items()} == {
        "TEE-BLK-M": (50, PutawayState.open), "CAP-NAVY": (40, PutawayState.open)}
    warehouse_services.confirm_putaway(tasks()["TEE-BLK-M"], storage_bin, 10, actor=clerk)
    services.reverse_receipt(first, actor=clerk, reason="wrong colour delivered")
    db.session.commit()
    after = tasks()
    assert (after["TEE-BLK-M"].left, after["TEE-BLK-M"].state) == (10, PutawayState.open)
    assert after["CAP-NAVY"].state == PutawayState.cancelled
    assert ledger_problems(db.session) == []


def test_a_receipt_straight_into_storage_opens_no_putaway_task(cny_order, storage_bin, clerk):
    tee_line = lines_of(cny_order)["TEE-BLK-M"]
    services.receive_purchase_order(cny_order, {tee_line.id: 5}, location=storage_bin,
                                    actor=clerk)
    assert db.session.scalar(select(func.count()).select_from(PutawayTask)) == 0
