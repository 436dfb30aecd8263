"""The order's side of the lifecycle rules: cancel, hold and release, address, and their locks.

What shipping does on these signals (void parcels, put goods back, void labels) is tested in
tests/scenarios/test_lifecycle.py and tests/shipping/test_lifecycle_views.py; here a receiver
of the test's own stands in for it where a refusal must leave the order as it was.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.errors import DomainError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders import hooks
from erp.orders.models import OrderState
from erp.orders.services import (
    CancelAfterShipping,
    allocate_order,
    cancel_order,
    hold_order,
    release_order,
    update_shipping_address,
)
from erp.orders.services import allocation as allocation_services
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import release, reservations_for

O = OrderState  # noqa: E741


def reserved(order) -> int:
    return sum(r.quantity for r in reservations_for(
        "customer_order_line", [line.id for line in order.lines]))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def actions(order) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "customer_order", AuditEvent.entity_id == str(order.id))
        .order_by(AuditEvent.id)))


@pytest.fixture
def stocked(create_sku, create_bin, receive_stock):
    """A SKU with 10 units in one bin: ``(sku, bin)``."""
    sku = create_sku("TS-LIFE")
    location = create_bin()
    receive_stock(sku, location, 10)
    return sku, location


def pick(order, quantity: int) -> None:
    """Do what picking does to the order: release ``quantity`` of its first reservation."""
    reservation = reservations_for("customer_order_line", [order.lines[0].id])[0]
    release([reservation], actor=None, quantity=quantity)


@pytest.mark.parametrize("state", [O.shipped, O.delivered])
def test_cancel_after_shipping_names_after_sales_and_changes_nothing(create_order, stocked,
                                                                     state):
    order = create_order([(stocked[0], 1)], state=state)
    events = audit_count()
    with pytest.raises(CancelAfterShipping) as refused:
        cancel_order(order, reason="Too late", actor=None)
    assert isinstance(refused.value, InvalidTransition)
    assert str(refused.value) == (
        f'To cancel order "{order.number}", it must not have left the warehouse; it is '
        f'"{state.value}". Open an after-sales case for it instead (a return, refund or '
        "replacement).")
    assert (order.state, order.cancel_reason) == (state, None)
    assert audit_count() == events


def test_a_refused_cancel_leaves_the_order_and_its_reservations(create_order, stocked):
    sku, location = stocked
    order = create_order([(sku, 3)])
    allocate_order(order, actor=None)
    events = audit_count()

    def refuse(sender, **kwargs):
        raise DomainError(f"Parcel of {sender.number} left already.")

    hooks.order_cancelling.connect(refuse)
    try:
        with pytest.raises(DomainError, match="left already"):
            cancel_order(order, reason="Customer asked", actor=None)
    finally:
        hooks.order_cancelling.disconnect(refuse)
    assert (order.state, order.cancel_reason) == (O.allocated, None)
    assert order.lines[0].allocated_qty == 3
    assert reserved(order) == 3
    assert db.session.get(StockLevel, (sku.id, location.id)).reserved == 3
    assert audit_count() == events


def test_cancel_adds_what_receivers_did_to_its_audit_event(create_order, stocked):
    order = create_order([(stocked[0], 1)])

    def undo(sender, **kwargs):
        return {"parcels_voided": ["PCL-X"]}

    hooks.order_cancelling.connect(undo)
    try:
        cancel_order(order, reason="Customer asked", actor=None)
    finally:
        hooks.order_cancelling.disconnect(undo)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customer_order.cancelled")).one()
    assert event.changes["parcels_voided"] == ["PCL-X"]
    assert event.changes["note"] == "Customer asked"


def test_hold_keeps_picked_units_and_release_allocates_only_the_rest(create_order, stocked):
    sku, location = stocked
    order = create_order([(sku, 3)])
    allocate_order(order, actor=None)
    pick(order, 1)  # one unit is at the packing bench; two still reserved in the bin
    hold_order(order, reason="Address check", actor=None)
    assert order.lines[0].allocated_qty == 1
    assert reserved(order) == 0
    # some units picked, not all: back to allocation for the rest, not from scratch
    assert release_order(order, actor=None) == O.allocated
    assert order.lines[0].allocated_qty == 3
    assert reserved(order) == 2
    assert actions(order) == ["customer_order.allocated", "customer_order.on_hold",
                              "customer_order.backordered", "customer_order.allocated"]
    assert ledger_problems(db.session) == []


def test_release_of_a_fully_picked_order_goes_where_shipping_says(create_order, stocked):
    sku, _location = stocked
    order = create_order([(sku, 2)])
    allocate_order(order, actor=None)
    pick(order, 2)
    hold_order(order, reason="Fraud check", actor=None)
    # nothing in a parcel yet (shipping's own receiver says so): back to the bench
    assert release_order(order, actor=None) == O.picking
    assert reserved(order) == 0
    hold_order(order, reason="Fraud check", actor=None)

    def everything_packed(sender, **kwargs):
        return O.packed.value

    hooks.order_fulfilment_state.connect(everything_packed)
    try:
        assert release_order(order, actor=None) == O.packed
    finally:
        hooks.order_fulfilment_state.disconnect(everything_packed)
    assert order.hold_reason is None
    assert reserved(order) == 0


def test_release_refused_unless_held(create_order, stocked):
    order = create_order([(stocked[0], 1)], state=O.packed)
    events = audit_count()
    with pytest.raises(InvalidTransition, match='it is "packed"'):
        release_order(order, actor=None)
    assert order.state == O.packed
    assert audit_count() == events


def test_address_of_a_packed_order_may_change(create_order, stocked):
    order = create_order([(stocked[0], 1)], state=O.packed)
    changes = update_shipping_address(order, {"city": "Potsdam", "postal_code": "14467"},
                                      actor=None)
    assert changes == {"city": ["Berlin", "Potsdam"], "postal_code": ["10115", "14467"]}
    assert changes.notices == []  # no parcel, no label to void
    assert update_shipping_address(order, {"city": "Potsdam"}, actor=None) == {}


def test_address_change_tells_receivers_what_changed(create_order, stocked):
    order = create_order([(stocked[0], 1)], state=O.packed)
    seen = []

    def notice(sender, *, changes, **kwargs):
        seen.append(changes)
        return ["Print a new label."]

    hooks.order_shipping_changed.connect(notice)
    try:
        changes = update_shipping_address(order, {"city": "Potsdam"}, actor=None)
        unchanged = update_shipping_address(order, {"city": "Potsdam"}, actor=None)
    finally:
        hooks.order_shipping_changed.disconnect(notice)
    assert seen == [{"city": ["Berlin", "Potsdam"]}]
    assert changes.notices == ["Print a new label."]
    assert unchanged.notices == []


@pytest.mark.parametrize("operation", ["allocate", "hold", "release", "cancel", "address"])
def test_every_order_operation_locks_the_order_first(create_order, stocked, monkeypatch,
                                                     operation):
    order = create_order([(stocked[0], 1)], state=O.on_hold if operation == "release"
                         else O.new, hold_reason="Check" if operation == "release" else None)
    locked = []
    real = allocation_services.lock

    def spy(obj):
        locked.append((obj, len(actions(order))))
        return real(obj)

    monkeypatch.setattr(allocation_services, "lock", spy)
    {"allocate": lambda: allocate_order(order, actor=None),
     "hold": lambda: hold_order(order, reason="Check", actor=None),
     "release": lambda: release_order(order, actor=None),
     "cancel": lambda: cancel_order(order, reason="Asked", actor=None),
     "address": lambda: update_shipping_address(order, {"city": "Bonn"}, actor=None)
     }[operation]()
    assert locked[0] == (order, 0)  # locked before anything was written


def test_address_change_to_a_country_the_service_does_not_serve_is_refused(
        create_order, stocked, shipping_setup):
    order = create_order([(stocked[0], 1)], shipping_service="POST-REG")
    db.session.commit()
    with pytest.raises(DomainError, match='To send order "WEB-.*" to BR, its service must serve '
                                          "that country") as refused:
        update_shipping_address(order, {"country": "BR"}, actor=None)
    assert refused.value.field == "country"
    db.session.rollback()
    assert order.country == "DE"
    changes = update_shipping_address(order, {"country": "FR"}, actor=None)  # it serves FR
    assert changes["country"] == ["DE", "FR"]
