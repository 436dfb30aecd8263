"""The orders demo: about 100 orders to ten countries, allocated from the demo stock; idempotent."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from erp.cli import load_demo_core
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.demo import ADDRESSES, load_demo
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.warehouse.models import Reservation
from erp.warehouse.queries import ledger_problems

O = OrderState  # noqa: E741


def counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (CustomerOrder, CustomerOrderLine, Reservation, AuditEvent))


def test_load_demo_orders_is_realistic_clean_and_idempotent(app, create_user):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo as load_catalog
    from erp.shipping.demo import load_demo as load_shipping
    from erp.warehouse.demo import load_demo as load_warehouse

    service = create_user("service", roles=("customer_service",))
    load_demo_core()
    load_brands()
    load_catalog()
    load_warehouse()
    load_shipping()  # the services the orders ask for: intake checks them
    load_demo()
    db.session.commit()

    orders = db.session.scalars(select(CustomerOrder)).all()
    assert 95 <= len(orders) <= 105
    assert {o.country for o in orders} == set(ADDRESSES)
    assert all(o.postal_code for o in orders)
    states = Counter(o.state for o in orders)
    assert set(states) == {O.new, O.allocated, O.backordered, O.on_hold, O.cancelled}
    assert states[O.on_hold] == 4
    assert states[O.cancelled] == 4
    assert states[O.backordered] >= 3
    assert states[O.new] == 5
    for order in orders:
        allocated = [line.allocated_qty == line.quantity for line in order.lines]
        if order.state == O.allocated:
            assert all(allocated)
        if order.state == O.backordered:
            assert not all(allocated)
        if order.state in (O.on_hold, O.cancelled, O.new):
            assert not any(line.allocated_qty for line in order.lines)
    assert {o.currency for o in orders if o.country == "JP"} == {"JPY"}
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.actor_id == service.id)) > 0
    assert ledger_problems(db.session) == []

    before = counts()
    load_demo()
    db.session.commit()
    assert counts() == before
    assert ledger_problems(db.session) == []


def test_demo_command_loads_orders(runner, app):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) >= 95
    assert ledger_problems(db.session) == []
    # every order currency converts to the base currency (refunds and reports need it)
    from erp.core.models import ExchangeRate
    from erp.core.settings import base_currency
    used = set(db.session.scalars(select(CustomerOrder.currency).distinct()))
    rated = set(db.session.scalars(select(ExchangeRate.currency))) | {base_currency()}
    assert used - rated == set()
    # a buyer who ordered twice to one address is offered for merging
    from erp.orders.services import merge_candidates
    groups = merge_candidates()
    assert groups, "the demo offers a merge"
    pair = groups[0].orders
    assert len({(o.email, o.address1, o.shipping_service) for o in pair}) == 1
