"""Allocation by warehouse: one ship-from warehouse per order, routes, whole-order availability."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy import select

from erp.core import services as core_services
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_order, allocate_orders
from erp.orders.services.splitting import order_parts
from erp.warehouse import services
from erp.warehouse.models import Location
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import reservations_for
from erp.warehouse.services.routes import create_route

O = OrderState  # noqa: E741


def warehouses_held(order) -> set[int]:
    """Return the warehouses of the order's reservations."""
    location_ids = [r.location_id for r in reservations_for(
        "customer_order_line", [line.id for line in order.lines])]
    return set(db.session.scalars(select(Location.warehouse_id)
                                  .where(Location.id.in_(location_ids))))


@pytest.fixture
def two_warehouses(dummy_warehouse, create_bin):
    """Return (WH1, bin in WH1, US-LAX, bin in US-LAX)."""
    main_bin = create_bin()
    lax = services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                    actor=None)
    lax_bin = services.create_location(lax, code="L-01-01-01", kind="storage",
                                       pick_sequence=5, actor=None)
    return dummy_warehouse, main_bin, lax, lax_bin


def test_half_stock_in_each_warehouse_is_not_reserved_across(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 2)
    receive_stock(sku, lax_bin, 2)
    order = create_order([(sku, 4)])

    assert allocate_order(order, actor=None) == O.backordered
    assert len(warehouses_held(order)) == 1
    assert order.lines[0].allocated_qty == 2
    assert order.warehouse_id in (main.id, lax.id)
    # allocated again, it stays in its warehouse: still never across
    assert allocate_order(order, actor=None) == O.backordered
    assert len(warehouses_held(order)) == 1
    assert ledger_problems(db.session) == []


def test_two_lines_each_in_another_warehouse_are_not_reserved_across(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    a, b = create_sku("TS-A"), create_sku("TS-B")
    receive_stock(a, main_bin, 5)
    receive_stock(b, lax_bin, 5)
    order = create_order([(a, 1), (b, 1)])

    assert allocate_order(order, actor=None) == O.backordered
    assert len(warehouses_held(order)) == 1


def test_split_setting_makes_one_part_per_warehouse(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 2)
    receive_stock(sku, lax_bin, 2)
    core_services.update_settings({"split_across_warehouses": "yes"}, actor=None)
    order = create_order([(sku, 4)])

    allocate_order(order, actor=None)

    parts = order_parts(order)
    assert [p.number for p in parts] == [order.number, f"{order.number}-2"]
    for part in parts:
        assert part.state == O.allocated
        assert warehouses_held(part) == {part.warehouse_id}
        assert sum(line.quantity for line in part.lines) == 2
    assert {p.warehouse_id for p in parts} == {main.id, lax.id}
    assert ledger_problems(db.session) == []


def test_split_setting_without_enough_anywhere_backorders(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 1)
    receive_stock(sku, lax_bin, 1)
    core_services.update_settings({"split_across_warehouses": "yes"}, actor=None)
    order = create_order([(sku, 3)])

    assert allocate_order(order, actor=None) == O.backordered
    assert order_parts(order) == [order]
    assert len(warehouses_held(order)) == 1


def test_route_priority_takes_first_warehouse_that_fills(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 5)
    receive_stock(sku, lax_bin, 5)
    create_route(country="US", area="*", warehouses="US-LAX WH1", actor=None)
    us = create_order([(sku, 2)], country="US", postal_code="90001", region="CA")
    de = create_order([(sku, 2)])

    allocate_orders(actor=None)

    assert (us.state, us.warehouse_id) == (O.allocated, lax.id)
    assert warehouses_held(us) == {lax.id}
    # no route for DE: any warehouse; the first (by id) fills it
    assert (de.state, de.warehouse_id) == (O.allocated, main.id)


def test_first_matching_route_wins(two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 5)
    receive_stock(sku, lax_bin, 5)
    create_route(country="US", area="90", warehouses="WH1", actor=None)
    create_route(country="US", area="*", warehouses="US-LAX", actor=None)
    la = create_order([(sku, 1)], country="US", postal_code="90001")
    ny = create_order([(sku, 1)], country="US", postal_code="10001")

    allocate_orders(actor=None)

    assert la.warehouse_id == main.id
    assert ny.warehouse_id == lax.id


def test_whole_order_availability_picks_second_warehouse(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    a, b = create_sku("TS-A"), create_sku("TS-B")
    receive_stock(a, main_bin, 5)  # the first choice has only one of the two SKUs
    receive_stock(a, lax_bin, 5)
    receive_stock(b, lax_bin, 5)
    create_route(country="US", area="*", warehouses="WH1 US-LAX", actor=None)
    order = create_order([(a, 1), (b, 1)], country="US", postal_code="90001")

    assert allocate_order(order, actor=None) == O.allocated
    assert order.warehouse_id == lax.id
    assert warehouses_held(order) == {lax.id}


def test_route_restricts_to_its_warehouses(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 5)
    create_route(country="US", area="*", warehouses="US-LAX", actor=None)
    order = create_order([(sku, 1)], country="US", postal_code="90001")

    assert allocate_order(order, actor=None) == O.backordered
    assert order.warehouse_id is None
    assert warehouses_held(order) == set()


def test_batch_shares_stock_by_warehouse(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, main_bin, 3)
    receive_stock(sku, lax_bin, 3)
    orders = [create_order([(sku, 2)]) for _ in range(3)]

    summary = allocate_orders(actor=None)

    assert len(summary.allocated) == 2
    assert [o.warehouse_id for o in orders[:2]] == [main.id, lax.id]
    assert orders[2].state == O.backordered
    assert len(warehouses_held(orders[2])) == 1
    db.session.commit()
    stored = db.session.scalars(select(CustomerOrder.warehouse_id).order_by(CustomerOrder.id))
    assert list(stored)[:2] == [main.id, lax.id]


def _fill_migration():
    """Load the migration that gives orders allocated before warehouses theirs."""
    path = next(Path(__file__).parents[2].glob("migrations/versions/*_110451f08ff6_*.py"))
    spec = importlib.util.spec_from_file_location("fill_warehouses", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_upgrade_gives_orders_allocated_before_warehouses_theirs(
        two_warehouses, create_sku, receive_stock, create_order):
    main, main_bin, lax, lax_bin = two_warehouses
    sku = create_sku("TS-A")
    receive_stock(sku, lax_bin, 1)
    reserved = create_order([(sku, 1)])
    waiting = create_order([(sku, 1)])
    assert allocate_order(reserved, actor=None) == O.allocated
    assert allocate_order(waiting, actor=None) == O.backordered
    # as an order allocated before orders had warehouses: reserved, but no warehouse
    reserved.warehouse_id = waiting.warehouse_id = None
    db.session.commit()

    db.session.execute(_fill_migration().FILL)
    db.session.expire_all()
    assert db.session.get(CustomerOrder, reserved.id).warehouse_id == lax.id
    assert db.session.get(CustomerOrder, waiting.id).warehouse_id is None  # holds nothing
