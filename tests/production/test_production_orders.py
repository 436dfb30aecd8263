"""Production orders: made on payment, due in business days, moved on, cancelled with a fee."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders import hooks
from erp.orders.services import cancel_order
from erp.production.models import ProductionOrder, ProductionState
from erp.production.order_queries import board
from erp.production.services import orders as production
from tests.production.po_helpers import MEASURED, made_to_order_sku, paid_order

PS = ProductionState


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


@pytest.fixture
def dress(create_sku, create_supplier):
    return made_to_order_sku(create_sku, create_supplier, days=3)


# --------------------------------------------------------------------------- due dates


@pytest.mark.parametrize(("start", "days", "expected"), [
    (date(2026, 3, 2), 3, date(2026, 3, 5)),    # Monday + 3 -> Thursday
    (date(2026, 3, 5), 3, date(2026, 3, 10)),   # Thursday + 3 -> Tuesday, over the weekend
    (date(2026, 3, 6), 1, date(2026, 3, 9)),    # Friday + 1 -> Monday
    (date(2026, 3, 7), 1, date(2026, 3, 9)),    # Saturday + 1 -> Monday
    (date(2026, 3, 2), 10, date(2026, 3, 16)),  # two whole weeks
])
def test_due_date_counts_business_days(start, days, expected):
    assert production.due_date(days, start) == expected


# --------------------------------------------------------------------------- creation


def test_paid_made_to_order_line_gets_a_production_order(app, dress, create_order,
                                                         create_sku):
    plain = create_sku("PLAIN-TEE")
    thursday = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)
    order = paid_order(create_order, dress, paid_at=thursday, measurements=MEASURED,
                       quantity=2, price="150.00")
    order.lines.append(type(order.lines[0])(sku_id=plain.id, quantity=1,
                                            unit_price=Decimal("9.90"), allocated_qty=0))
    db.session.flush()

    made = production.create_for_orders([order], actor=None)

    assert len(made) == 1  # the plain T-shirt is not made to order
    po = made[0]
    assert po.number.startswith(f"MO-{date.today().year}-")
    assert po.order_line_id == order.lines[0].id
    assert po.order_id == order.id
    assert po.maker.name == "Suzhou Silk Tailors"
    assert po.quantity == 2
    assert po.spec_version_id == dress.product.spec_version_id
    assert json.loads(po.measurements) == MEASURED
    assert po.mto_size is None
    assert po.state == PS.ordered
    assert po.due_date == date(2026, 3, 10)  # Thursday + 3 business days, over the weekend
    event = _events("production_order.created")[0]
    assert event.changes["due_date"] == "2026-03-10"
    assert event.changes["order"] == order.number


def test_size_is_copied(app, dress, create_order):
    order = paid_order(create_order, dress, size="XL")
    [po] = production.create_for_orders([order], actor=None)
    assert po.mto_size == "XL"
    assert po.measurements is None


def test_a_second_call_does_nothing(app, dress, create_order):
    order = paid_order(create_order, dress)
    assert len(production.create_for_orders([order], actor=None)) == 1
    assert production.create_for_orders([order], actor=None) == []
    assert db.session.scalar(select(func.count()).select_from(ProductionOrder)) == 1
    assert len(_events("production_order.created")) == 1


def test_intake_calls_the_registered_hook(app, dress, create_order):
    """Intake calls every ``orders_paid`` function with the paid orders, as payintake will."""
    order = paid_order(create_order, dress)
    assert production.create_for_orders in hooks.orders_paid
    for function in hooks.orders_paid:
        function([order], actor=None)
    assert db.session.scalar(select(func.count()).where(ProductionOrder.order_id == order.id)) \
        == 1


def test_product_without_maker_is_refused_naming_it(app, create_sku, create_supplier,
                                                    create_order):
    sku = made_to_order_sku(create_sku, create_supplier, code="MTO-NOMAKER", maker=False)
    order = paid_order(create_order, sku)
    with pytest.raises(ValidationError) as err:
        production.create_for_orders([order], actor=None)
    message = str(err.value)
    assert order.number in message
    assert sku.product.code in message
    assert "maker" in message
    assert db.session.scalar(select(func.count()).select_from(ProductionOrder)) == 0


# --------------------------------------------------------------------------- moves


def test_moves_set_their_time_stamps_and_audit(app, dress, create_order):
    [po] = production.create_for_orders([paid_order(create_order, dress)], actor=None)
    production.start(po, actor=None)
    assert po.state == PS.in_production
    assert po.started_at is not None
    production.finish(po, actor=None)
    assert po.state == PS.finished
    assert po.finished_at is not None
    production.ship(po, actor=None)
    assert po.state == PS.shipped
    assert po.shipped_at is not None
    assert [len(_events(f"production_order.{s}")) for s in
            ("in_production", "finished", "shipped")] == [1, 1, 1]


def test_illegal_moves_are_refused(app, dress, create_order):
    [po] = production.create_for_orders([paid_order(create_order, dress)], actor=None)
    with pytest.raises(InvalidTransition):
        production.finish(po, actor=None)   # not started
    with pytest.raises(InvalidTransition):
        production.ship(po, actor=None)
    production.start(po, actor=None)
    with pytest.raises(InvalidTransition):
        production.start(po, actor=None)    # a second start is refused
    with pytest.raises(ValidationError):
        production.move(po, "received", actor=None)  # the warehouse's move, not the maker's
    assert po.state == PS.in_production


# --------------------------------------------------------------------------- cancellation


def test_cancel_before_production_is_free(app, dress, create_order):
    order = paid_order(create_order, dress, price="200.00")
    [po] = production.create_for_orders([order], actor=None)
    cancel_order(order, reason="customer changed her mind", actor=None)
    assert po.state == PS.cancelled
    assert po.cancel_fee is None
    assert po.fee_currency is None
    assert po.cancelled_at is not None
    assert "customer changed her mind" in po.cancel_reason
    details = _events("customer_order.cancelled")[-1].changes
    assert details["production_cancelled"] == [po.number]
    assert "production_fee" not in details


def test_cancel_after_start_costs_the_fee(app, dress, create_order):
    order = paid_order(create_order, dress, price="150.00", quantity=2)
    [po] = production.create_for_orders([order], actor=None)
    production.start(po, actor=None)
    cancel_order(order, reason="customer changed her mind", actor=None)
    assert po.state == PS.cancelled
    assert po.cancel_fee == Decimal("150.00")
    assert po.fee_currency == "EUR"
    assert _events("customer_order.cancelled")[-1].changes["production_fee"] == "150.00 EUR"
    assert _events("production_order.cancelled")[-1].changes["cancel_fee"] == [None,
                                                                               "150.00 EUR"]


def test_fee_follows_the_setting(app, dress, create_order, dummy_admin):
    from erp.core.services import update_settings

    update_settings({"mto_cancel_fee_percent": "30"}, actor=dummy_admin)
    order = paid_order(create_order, dress, price="99.99")
    [po] = production.create_for_orders([order], actor=None)
    production.start(po, actor=None)
    production.finish(po, actor=None)
    assert production.cancel(po, actor=None, reason="test") == Decimal("30.00")


def test_received_production_order_keeps_its_goods_and_is_charged(app, dress, create_order,
                                                                  create_bin, receive_stock):
    from erp.warehouse.models import StockLevel
    from erp.warehouse.services import reserve

    order = paid_order(create_order, dress, price="100.00")
    [po] = production.create_for_orders([order], actor=None)
    for move in (production.start, production.finish, production.ship):
        move(po, actor=None)
    # as mto's receiving leaves it: received, in stock, reserved to the order line
    shelf = create_bin("MTO-01")
    receive_stock(dress, shelf, 1)
    line = order.lines[0]
    reserve(dress, shelf, 1, ref_type="customer_order_line", ref_id=line.id, actor=None)
    line.allocated_qty = 1
    po.state, po.received_qty = PS.received, 1
    db.session.flush()

    cancel_order(order, reason="no longer wanted", actor=None)

    assert po.state == PS.received
    assert po.cancel_fee == Decimal("50.00")
    assert len(_events("production_order.fee_charged")) == 1
    level = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == dress.id,
                                                       StockLevel.location_id == shelf.id))
    assert level.on_hand == 1  # the goods stay in stock
    assert level.reserved == 0  # no longer held for the cancelled line
    assert line.allocated_qty == 0


def test_a_cancelled_production_order_cannot_move(app, dress, create_order):
    order = paid_order(create_order, dress)
    [po] = production.create_for_orders([order], actor=None)
    cancel_order(order, reason="x", actor=None)
    with pytest.raises(InvalidTransition):
        production.start(po, actor=None)
    with pytest.raises(InvalidTransition):
        production.cancel(po, actor=None, reason="again")


# --------------------------------------------------------------------------- board


def test_board_buckets(app, dress, create_order):
    today = date.today()
    orders = [paid_order(create_order, dress, paid_at=datetime(2026, 3, 2, tzinfo=UTC))
              for _ in range(4)]
    late, due, later, arrived = (production.create_for_orders([o], actor=None)[0]
                                 for o in orders)
    late.due_date = date.fromordinal(today.toordinal() - 2)
    due.due_date = date.fromordinal(today.toordinal() + 3)
    later.due_date = date.fromordinal(today.toordinal() + 30)
    arrived.due_date = date.fromordinal(today.toordinal() - 5)
    arrived.state = PS.received
    db.session.flush()

    found = board(7)
    assert [r.number for r in found.late] == [late.number]
    assert [r.number for r in found.due] == [due.number]
    assert [r.number for r in found.arrived] == [arrived.number]
    assert later.number in [r.number for r in board(31).due]
