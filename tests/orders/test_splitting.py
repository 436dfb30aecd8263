"""Splitting an order: units move to a new order numbered after it, reservations follow."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.core.audit import AuditEvent
from erp.core.errors import ValidationError
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services.allocation import allocate_order, hold_order
from erp.orders.services.splitting import order_parts, split_order


@pytest.fixture
def stocked(create_sku, create_bin, receive_stock):
    tee, mug = create_sku("TEE"), create_sku("MUG")
    a01 = create_bin("A-01")
    receive_stock(tee, a01, 5)
    receive_stock(mug, a01, 1)
    return tee, mug


def test_split_by_availability_keeps_stock_on_the_original(stocked, create_order):
    tee, mug = stocked
    order = create_order([(tee, 3), (mug, 2)], number="W1001")
    assert allocate_order(order, actor=None) == OrderState.backordered  # one mug short
    mug_line = next(line for line in order.lines if line.sku_id == mug.id)

    part = split_order(order, {mug_line.id: 1}, actor=None, reason="ship what we have")
    assert part.number == "W1001-2"
    assert part.split_from is order
    assert part.shipping_charge == 0
    assert part.country == order.country
    assert [(line.sku.code, line.quantity) for line in order.lines] == [("TEE", 3), ("MUG", 1)]
    assert [(line.sku.code, line.quantity) for line in part.lines] == [("MUG", 1)]
    # the original took back its stock and is now complete; the part waits for the mug
    assert order.state == OrderState.allocated
    assert [line.allocated_qty for line in order.lines] == [3, 1]
    assert part.state == OrderState.backordered
    assert part.lines[0].allocated_qty == 0
    actions = set(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.like("customer_order.split%"))))
    assert actions == {"customer_order.split", "customer_order.split_off"}

    # a second part of a part is numbered after the storefront's order
    second = split_order(order, {order.lines[0].id: 1}, actor=None)
    assert second.number == "W1001-3"
    assert second.split_from is order
    assert [o.number for o in order_parts(part)] == ["W1001", "W1001-2", "W1001-3"]


def test_a_split_refuses_bad_quantities_and_orders_picked_or_held(stocked, create_order):
    tee, mug = stocked
    order = create_order([(tee, 2)], number="W2001")
    line = order.lines[0]
    with pytest.raises(ValidationError, match="from 0 to 2"):
        split_order(order, {line.id: 3}, actor=None)
    with pytest.raises(ValidationError, match="Leave at least one unit"):
        split_order(order, {line.id: 2}, actor=None)
    with pytest.raises(ValidationError, match="at least one unit to move"):
        split_order(order, {line.id: 0}, actor=None)
    other = create_order([(mug, 1)], number="W2002")
    with pytest.raises(ValidationError, match="not a line of order W2001"):
        split_order(order, {other.lines[0].id: 1}, actor=None)
    hold_order(order, reason="address check", actor=None)
    with pytest.raises(InvalidTransition):
        split_order(order, {line.id: 1}, actor=None)
    assert len(order.lines) == 1
    assert line.quantity == 2
