"""Allocation of customer orders: reservations, backorders, holds, cancellation, address edits."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core.errors import DomainError, ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import (
    OrderError,
    allocate_order,
    allocate_orders,
    cancel_order,
    hold_order,
    release_order,
    update_shipping_address,
)
from erp.warehouse.models import Reservation, StockLevel
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import reservations_for

O = OrderState  # noqa: E741


def held(order) -> list[tuple[int, int, int]]:
    """Return ``(line id, location id, quantity)`` of the order's reservations."""
    return [(r.ref_id, r.location_id, r.quantity) for r in reservations_for(
        "customer_order_line", [line.id for line in order.lines])]


def level(sku, location) -> tuple[int, int]:
    row = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == sku.id,
                                                     StockLevel.location_id == location.id))
    return (row.on_hand, row.reserved)


@pytest.fixture
def skus(create_sku):
    return create_sku("TS-A"), create_sku("TS-B")


def test_full_availability_allocates_every_line(skus, create_bin, receive_stock, create_order):
    a, b = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 5)
    receive_stock(b, bin1, 5)
    order = create_order([(a, 2), (b, 3)])
    assert allocate_order(order, actor=None) == O.allocated
    assert [line.allocated_qty for line in order.lines] == [2, 3]
    assert level(a, bin1) == (5, 2)
    assert level(b, bin1) == (5, 3)
    assert ledger_problems(db.session) == []
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customer_order.allocated")).one()
    assert event.changes["state"] == ["new", "allocated"]


def test_bins_are_used_in_pick_sequence(skus, create_bin, receive_stock, create_order):
    a, _ = skus
    far = create_bin("Z-99", pick_sequence=900)
    near = create_bin("A-01", pick_sequence=100)
    middle = create_bin("M-50", pick_sequence=500)
    quarantine = create_bin("Q-01", kind="quarantine", pick_sequence=1)
    for location in (far, near, middle, quarantine):
        receive_stock(a, location, 3)
    order = create_order([(a, 7)])
    assert allocate_order(order, actor=None) == O.allocated
    line_id = order.lines[0].id
    assert held(order) == [(line_id, near.id, 3), (line_id, middle.id, 3), (line_id, far.id, 1)]
    assert level(a, quarantine) == (3, 0)


def test_partial_availability_backorders_and_keeps_reservations(skus, create_bin,
                                                                receive_stock, create_order):
    a, b = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 1)
    order = create_order([(a, 3), (b, 2)])
    assert allocate_order(order, actor=None) == O.backordered
    assert [line.allocated_qty for line in order.lines] == [1, 0]
    assert level(a, bin1) == (1, 1)
    assert ledger_problems(db.session) == []


def test_nothing_available_backorders(skus, create_order):
    a, _ = skus
    order = create_order([(a, 1)])
    assert allocate_order(order, actor=None) == O.backordered
    assert held(order) == []


def test_backorder_is_retried_when_stock_arrives(skus, create_bin, receive_stock, create_order):
    a, b = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 2)
    order = create_order([(a, 3), (b, 1)])
    db.session.commit()
    summary = allocate_orders(actor=None)
    db.session.commit()
    assert (summary.allocated, summary.backordered) == ([], [order.number])
    # a run with nothing new changes nothing and audits nothing
    events = db.session.scalar(select(db.func.count(AuditEvent.id)))
    assert allocate_orders(actor=None).backordered == [order.number]
    assert db.session.scalar(select(db.func.count(AuditEvent.id))) == events
    receive_stock(a, bin1, 1)
    receive_stock(b, create_bin(), 4)
    db.session.commit()
    summary = allocate_orders(actor=None)
    db.session.commit()
    assert summary.allocated == [order.number]
    assert order.state == O.allocated
    assert [line.allocated_qty for line in order.lines] == [3, 1]
    assert sum(r.quantity for r in db.session.scalars(select(Reservation))) == 4
    assert ledger_problems(db.session) == []


def test_priority_first_then_oldest(skus, create_bin, receive_stock, create_order):
    from datetime import UTC, datetime
    a, _ = skus
    receive_stock(a, create_bin(), 2)
    newest = create_order([(a, 1)], number="NEW", placed_at=datetime(2026, 3, 3, tzinfo=UTC))
    oldest = create_order([(a, 1)], number="OLD", placed_at=datetime(2026, 3, 1, tzinfo=UTC))
    urgent = create_order([(a, 1)], number="URGENT", priority=5,
                          placed_at=datetime(2026, 3, 9, tzinfo=UTC))
    done = create_order([(a, 1)], number="DONE", state=O.shipped)
    summary = allocate_orders(actor=None)
    assert summary.allocated == ["URGENT", "OLD"]
    assert summary.backordered == ["NEW"]
    assert (urgent.state, oldest.state, newest.state, done.state) == (
        O.allocated, O.allocated, O.backordered, O.shipped)
    assert str(summary) == "3 order(s) considered: 2 allocated, 1 backordered, 0 failed."


def test_batch_limit(skus, create_bin, receive_stock, create_order):
    a, _ = skus
    receive_stock(a, create_bin(), 10)
    orders = [create_order([(a, 1)]) for _ in range(3)]
    assert allocate_orders(actor=None, limit=2).allocated == [o.number for o in orders[:2]]
    assert orders[2].state == O.new


def test_one_failing_order_does_not_stop_the_batch(skus, create_bin, receive_stock,
                                                   create_order, monkeypatch):
    from erp.orders.services import allocation
    a, _ = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 10)
    bad = create_order([(a, 1)], number="BAD")
    create_order([(a, 2)], number="GOOD")
    real_reserve_many = allocation.reserve_many

    def reserve_many(specs, *, actor, **options):
        result = real_reserve_many(specs, actor=actor, **options)
        if any(spec.ref_id == bad.lines[0].id for spec in specs):
            raise DomainError("boom")
        return result

    monkeypatch.setattr(allocation, "reserve_many", reserve_many)
    summary = allocate_orders(actor=None)
    assert summary.failed == [("BAD", "boom")]
    assert summary.allocated == ["GOOD"]
    db.session.commit()
    db.session.expire_all()
    assert bad.state == O.new
    assert bad.lines[0].allocated_qty == 0
    assert held(bad) == []
    assert level(a, bin1) == (10, 2)
    assert ledger_problems(db.session) == []


@pytest.mark.parametrize("state", [O.allocated, O.picking, O.on_hold, O.shipped, O.cancelled])
def test_refused_allocation_changes_nothing(skus, create_bin, receive_stock, create_order,
                                            state):
    a, _ = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 5)
    order = create_order([(a, 2)], state=state)
    events = db.session.scalar(select(db.func.count(AuditEvent.id)))
    with pytest.raises(InvalidTransition, match=order.number):
        allocate_order(order, actor=None)
    assert order.state == state
    assert order.lines[0].allocated_qty == 0
    assert level(a, bin1) == (5, 0)
    assert db.session.scalar(select(db.func.count(AuditEvent.id))) == events


def test_cancel_releases_stock(skus, create_bin, receive_stock, create_order):
    a, b = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 4)
    receive_stock(b, bin1, 4)
    order = create_order([(a, 2), (b, 1)])
    allocate_order(order, actor=None)
    cancel_order(order, reason="Customer changed their mind", actor=None)
    assert order.state == O.cancelled
    assert order.cancel_reason == "Customer changed their mind"
    assert [line.allocated_qty for line in order.lines] == [0, 0]
    assert held(order) == []
    assert level(a, bin1) == (4, 0)
    assert level(b, bin1) == (4, 0)
    assert ledger_problems(db.session) == []


def test_cancel_refused_after_shipping_or_without_reason(skus, create_order):
    a, _ = skus
    shipped = create_order([(a, 1)], state=O.shipped)
    with pytest.raises(InvalidTransition):
        cancel_order(shipped, reason="late", actor=None)
    assert shipped.state == O.shipped
    order = create_order([(a, 1)])
    with pytest.raises(ValidationError):
        cancel_order(order, reason="  ", actor=None)
    assert order.state == O.new


def test_hold_releases_and_release_reallocates(skus, create_bin, receive_stock, create_order,
                                               dummy_admin):
    a, _ = skus
    bin1 = create_bin()
    receive_stock(a, bin1, 3)
    order = create_order([(a, 3)])
    allocate_order(order, actor=None)
    hold_order(order, reason="Address check", actor=dummy_admin)
    assert (order.state, order.hold_reason) == (O.on_hold, "Address check")
    assert order.lines[0].allocated_qty == 0
    assert level(a, bin1) == (3, 0)
    with pytest.raises(InvalidTransition):
        hold_order(order, reason="again", actor=None)
    # held orders are not allocated by the batch
    assert allocate_orders(actor=None).considered == 0
    assert release_order(order, actor=dummy_admin) == O.allocated
    assert order.hold_reason is None
    assert level(a, bin1) == (3, 3)
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "customer_order").order_by(AuditEvent.id)).all()
    assert actions == ["customer_order.allocated", "customer_order.on_hold",
                       "customer_order.new", "customer_order.allocated"]
    with pytest.raises(InvalidTransition):
        release_order(order, actor=None)
    assert ledger_problems(db.session) == []


def test_hold_refused_once_shipped(skus, create_order):
    a, _ = skus
    order = create_order([(a, 1)], state=O.delivered)
    with pytest.raises(InvalidTransition):
        hold_order(order, reason="fraud", actor=None)
    assert order.state == O.delivered
    assert order.hold_reason is None


def test_address_edit_is_validated_and_audited(skus, create_order):
    a, _ = skus
    order = create_order([(a, 1)])
    changes = update_shipping_address(order, {"country": "fra", "postal_code": "75001",
                                              "city": " Paris ", "address2": ""}, actor=None)
    assert (order.country, order.city, order.postal_code) == ("FR", "Paris", "75001")
    assert changes == {"country": ["DE", "FR"], "city": ["Berlin", "Paris"],
                       "postal_code": ["10115", "75001"]}
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customer_order.address_changed")).one()
    assert event.changes["country"] == ["DE", "FR"]
    # Hong Kong needs no postal code; Germany does
    update_shipping_address(order, {"country": "HK", "postal_code": None}, actor=None)
    assert order.postal_code is None
    with pytest.raises(ValidationError) as err:
        update_shipping_address(order, {"country": "DE"}, actor=None)
    assert err.value.field == "postal_code"
    for bad, field in [({"country": "Atlantis"}, "country"), ({"city": ""}, "city"),
                       ({"city": "x" * 101}, "city"), ({"email": "a@b.c"}, "email")]:
        with pytest.raises(ValidationError) as err:
            update_shipping_address(order, bad, actor=None)
        assert err.value.field == field
    assert order.country == "HK"


@pytest.mark.parametrize("state", [O.shipped, O.delivered, O.cancelled])
def test_address_edit_refused_once_shipped_or_cancelled(skus, create_order, state):
    # a packed order's address may change: its printed labels are voided (tests/shipping)
    a, _ = skus
    order = create_order([(a, 1)], state=state)
    with pytest.raises(OrderError, match="must not be shipped"):
        update_shipping_address(order, {"city": "Paris"}, actor=None)
    assert order.city == "Berlin"


def test_allocate_command(skus, create_bin, receive_stock, create_order, runner):
    a, _ = skus
    receive_stock(a, create_bin(), 1)
    create_order([(a, 1)])
    create_order([(a, 1)])
    db.session.commit()
    result = runner.invoke(args=["allocate", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "2 orders considered: 1 allocated, 1 backordered, 0 skipped." in result.output
    db.session.expire_all()
    states = db.session.scalars(select(CustomerOrder.state).order_by(CustomerOrder.id)).all()
    assert states == [O.allocated, O.backordered]


@pytest.fixture
def app_config():
    # One connection per thread for the concurrency test (see tests/warehouse).
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 12, "max_overflow": 4,
                                          "pool_timeout": 20}}


@pytest.mark.postgres
def test_concurrent_allocation_never_oversells(app, skus, create_bin, receive_stock,
                                               create_order):
    a, b = skus
    bins = [create_bin(), create_bin()]
    receive_stock(a, bins[0], 3)
    receive_stock(a, bins[1], 2)
    receive_stock(b, bins[1], 10)
    # every order wants 2 of A (5 in stock over two bins) and 1 of B
    ids = [create_order([(b, 1), (a, 2)]).id for _ in range(10)]
    db.session.commit()
    a_id = a.id  # read here: after the commit, touching `a` in a thread would refresh it
    # through this thread's session, which the workers must never share
    barrier = threading.Barrier(len(ids), timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(order_id: int):
        with app.app_context():
            order = db.session.get(CustomerOrder, order_id)
            order.lines  # noqa: B018 - loaded before the race starts
            db.session.get(Sku, a_id)
            barrier.wait()
            try:
                result = allocate_order(order, actor=None).value
                db.session.commit()
            except DomainError as err:
                db.session.rollback()
                result = f"error: {err}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == len(ids)
    assert outcomes.count("allocated") == 2
    assert outcomes.count("backordered") == 8
    db.session.expire_all()
    assert level(a, bins[0]) == (3, 3)
    assert level(a, bins[1]) == (2, 2)
    lines = [line for i in ids for line in db.session.get(CustomerOrder, i).lines
             if line.sku_id == a.id]
    assert sum(line.allocated_qty for line in lines) == 5
    assert sum(r.quantity for r in db.session.scalars(
        select(Reservation).where(Reservation.sku_id == a.id))) == 5
    assert ledger_problems(db.session) == []
