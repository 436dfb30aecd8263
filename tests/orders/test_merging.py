"""Merging orders: candidates, the checks made again under lock, unmerge, leaving a group."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.audit import AuditEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import (
    MergeError,
    allocate_order,
    can_unmerge,
    hold_order,
    merge_candidates,
    merge_group,
    merge_orders,
    unmerge_order,
)
from erp.orders.services.fulfilment import mark_picking

O = OrderState  # noqa: E741

BUYER = {"email": "ana@example.com", "customer_name": "Ana Lima", "ship_name": "Ana Lima",
         "address1": "Rua Augusta 12", "city": "Lisboa", "postal_code": "1100-053",
         "country": "PT", "shipping_service": "POST-REG"}


@pytest.fixture
def allocated(create_order, create_sku, create_bin, receive_stock):
    """Return ``allocated(number, **values)``: an allocated order of 1 tee for the buyer."""
    tee = create_sku("TEE")
    receive_stock(tee, create_bin("A-01"), 50)

    def factory(number: str, **values):
        order = create_order([(tee, 1)], number=number, **{**BUYER, **values})
        assert allocate_order(order, actor=None) == O.allocated
        return order

    return factory


def audits(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action))


def test_candidates_group_one_buyer_address_and_service(allocated, create_order):
    first = allocated("W1")
    # case, spaces and punctuation of the address and e-mail do not count
    second = allocated("W2", email="ANA@example.com ", address1="rua  augusta, 12",
                       postal_code="1100053")
    allocated("W3", address1="Rua Augusta 14")          # another address
    allocated("W4", shipping_service="EMS")              # another service
    allocated("W5", email="other@example.com")           # another buyer
    create_order([], number="W6", **BUYER)               # new, not allocated
    groups = merge_candidates()
    assert [(c.primary.number, [o.number for o in c.others]) for c in groups] == [
        ("W1", ["W2"])]
    assert groups[0].orders == [first, second]


def test_merge_then_repeat_acts_once(allocated):
    primary, other = allocated("W1"), allocated("W2")
    assert merge_orders(primary, [other], actor=None) == [other]
    assert other.merged_into is primary
    assert merge_group(other) == [primary, other]
    assert merge_group(primary) == [primary, other]
    assert merge_orders(primary, [other], actor=None) == []  # a repeat changes nothing
    assert audits("customer_order.merged") == 1
    assert audits("customer_order.merged_into") == 1
    assert merge_candidates() == []  # the merged order is no longer offered
    # a third order of the buyer is offered to join the group under its primary
    third = allocated("W3")
    assert [(c.primary.number, [o.number for o in c.others]) for c in merge_candidates()] == [
        ("W1", ["W3"])]
    merge_orders(primary, [third], actor=None)
    assert merge_group(primary) == [primary, other, third]


@pytest.mark.parametrize(("values", "why"), [
    ({"address1": "Rua Augusta 14"}, "the shipping address differs"),
    ({"shipping_service": "EMS"}, r"the shipping service differs \(EMS, not POST-REG\)"),
    ({"email": "bob@example.com"}, "the buyer differs"),
    ({"currency": "USD"}, "the currency differs"),
])
def test_merge_refused_names_what_differs(allocated, values, why):
    primary, other = allocated("W1"), allocated("W2", **values)
    with pytest.raises(MergeError, match=f"Order W2 cannot be merged with W1: {why}"):
        merge_orders(primary, [other], actor=None)
    assert other.merged_into_id is None
    assert audits("customer_order.merged") == 0


def test_merge_refused_for_state_and_other_groups(allocated, create_order, create_sku):
    primary, other = allocated("W1"), allocated("W2")
    short = create_order([(create_sku("MUG"), 1)], number="W3", **BUYER)
    assert allocate_order(short, actor=None) == O.backordered
    with pytest.raises(MergeError, match="Order W3 is backordered: only allocated orders"):
        merge_orders(primary, [short], actor=None)
    with pytest.raises(MergeError, match="into itself"):
        merge_orders(primary, [primary], actor=None)
    with pytest.raises(MergeError, match="at least one order"):
        merge_orders(primary, [], actor=None)
    merge_orders(primary, [other], actor=None)
    fourth = allocated("W4")
    with pytest.raises(MergeError, match="W2 is already merged into another order"):
        merge_orders(fourth, [other], actor=None)
    with pytest.raises(MergeError, match="W1 heads a merge group of its own"):
        merge_orders(fourth, [primary], actor=None)
    mark_picking([primary], actor=None)  # the group went into a wave together
    assert other.state == O.picking
    with pytest.raises(MergeError, match="Order W1 is picking"):
        merge_orders(primary, [fourth], actor=None)


def test_unmerge_a_member_or_the_whole_group(allocated):
    primary, second, third = allocated("W1"), allocated("W2"), allocated("W3")
    merge_orders(primary, [second, third], actor=None)
    assert can_unmerge(second)
    assert can_unmerge(primary)
    assert unmerge_order(second, actor=None) == [second]
    assert second.merged_into_id is None
    assert merge_group(primary) == [primary, third]
    assert unmerge_order(second, actor=None) == []  # nothing left to undo
    assert unmerge_order(primary, actor=None) == [third]
    assert merge_group(primary) == [primary]
    assert audits("customer_order.unmerged") == 2
    assert not can_unmerge(primary)


def test_unmerge_refused_once_picking(allocated):
    primary, other = allocated("W1"), allocated("W2")
    merge_orders(primary, [other], actor=None)
    mark_picking([primary], actor=None)
    with pytest.raises(MergeError, match="only before its pick wave"):
        unmerge_order(other, actor=None)
    assert not can_unmerge(other)


def test_an_order_held_leaves_its_group(allocated):
    primary, second, third = allocated("W1"), allocated("W2"), allocated("W3")
    merge_orders(primary, [second, third], actor=None)
    hold_order(second, reason="Buyer called", actor=None)
    assert second.merged_into_id is None
    assert merge_group(primary) == [primary, third]
    hold_order(primary, reason="Fraud check", actor=None)  # the primary: the group dissolves
    assert third.merged_into_id is None
    assert audits("customer_order.unmerged") == 2
