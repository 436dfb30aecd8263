"""Splitting off a whole line: the line itself moves to the new part (it is not deleted)."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.extensions import db
from erp.orders.models import CustomerOrderLine, OrderState
from erp.orders.services import allocate_order
from erp.orders.services.splitting import split_order


def test_a_whole_line_moves_to_the_part(create_sku, create_bin, receive_stock, create_order):
    tee, mug = create_sku("TEE"), create_sku("MUG")
    a01 = create_bin("A-01")
    receive_stock(tee, a01, 5)
    receive_stock(mug, a01, 5)
    order = create_order([(tee, 2), (mug, 1)], number="W1001")
    allocate_order(order, actor=None)
    db.session.commit()
    mug_line_id = order.lines[1].id

    part = split_order(order, {mug_line_id: 1}, actor=None, reason="mug goes ahead")
    db.session.commit()

    db.session.refresh(order)
    assert [(line.sku.code, line.quantity, line.allocated_qty) for line in order.lines] == [
        ("TEE", 2, 2)]
    assert [(line.id, line.sku.code, line.allocated_qty) for line in part.lines] == [
        (mug_line_id, "MUG", 1)]
    assert (order.state, part.state) == (OrderState.allocated, OrderState.allocated)
    assert db.session.scalar(select(func.count()).select_from(CustomerOrderLine)) == 2
