"""The merge candidates page, merge and unmerge buttons, and the order page's split form."""

from __future__ import annotations

import html

import pytest

from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_order

O = OrderState  # noqa: E741
BUYER = {"email": "ana@example.com", "customer_name": "Ana Lima", "ship_name": "Ana Lima",
         "address1": "Calle Mayor 12", "city": "Madrid", "postal_code": "28013",
         "country": "ES", "shipping_service": "POST-REG"}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def fresh(order: CustomerOrder) -> CustomerOrder:
    db.session.expire_all()
    return db.session.get(CustomerOrder, order.id)


@pytest.fixture
def pair(create_order, stocked_sku):
    """Two allocated orders of one buyer to one address, and a backordered third."""
    tee = stocked_sku("TEE-1", 10)
    mug = stocked_sku("MUG-1", 1)
    first = create_order([(tee, 2)], number="W1", **BUYER)
    second = create_order([(tee, 1)], number="W2", **BUYER)
    third = create_order([(tee, 1), (mug, 3)], number="W3", **{**BUYER, "email": "x@y.com"})
    for order in (first, second, third):
        allocate_order(order, actor=None)
    db.session.commit()
    assert third.state == O.backordered
    return first, second, third


def test_candidates_page_merges_and_the_order_page_shows_the_group(client, login_as, pair):
    first, second, _third = pair
    login_as("customer_service")
    page = text(client.get("/orders/merge-candidates"))
    assert "W1" in page
    assert "W2" in page
    assert "W3" not in page
    assert "Merge into W1" in page
    page = text(client.post(f"/orders/{first.id}/merge",
                            data={"orders": [str(second.id)], "next": "candidates"},
                            follow_redirects=True))
    assert "Orders W2 now ship in one parcel with W1." in page
    assert "No orders to merge" in page
    assert fresh(second).merged_into_id == first.id
    page = text(client.get(f"/orders/{second.id}"))
    assert "Merge group" in page
    assert "Ships with" in page
    page = text(client.post(f"/orders/{second.id}/unmerge", follow_redirects=True))
    assert "Orders W2 ship on their own again." in page
    assert fresh(second).merged_into_id is None


def test_merge_refusal_is_shown_with_its_reason(client, login_as, pair):
    first, _second, third = pair
    login_as("customer_service")
    page = text(client.post(f"/orders/{first.id}/merge", data={"orders": [str(third.id)]},
                            follow_redirects=True))
    assert "Order W3 is backordered: only allocated orders" in page
    assert fresh(third).merged_into_id is None


def test_split_by_availability_and_by_choice(client, login_as, pair, shipping_setup):
    first, _second, third = pair
    db.session.commit()
    login_as("customer_service")
    page = text(client.get(f"/orders/{third.id}"))
    assert "Split by availability" in page
    assert "EMS" in page
    page = text(client.post(f"/orders/{third.id}/split", data={"mode": "availability"},
                            follow_redirects=True))
    assert "Order W3 split: W3-2 ships the units moved." in page
    third = fresh(third)
    assert third.state == O.allocated
    assert [(ln.sku.code, ln.quantity) for ln in third.lines] == [("TEE-1", 1), ("MUG-1", 1)]
    part = db.session.query(CustomerOrder).filter_by(number="W3-2").one()
    assert [(ln.sku.code, ln.quantity) for ln in part.lines] == [("MUG-1", 2)]
    assert part.state == O.backordered
    line = first.lines[0]
    page = text(client.post(f"/orders/{first.id}/split",
                            data={"mode": "manual", f"qty-{line.id}": "1", "service": "EMS"},
                            follow_redirects=True))
    assert "Order W1 split: W1-2 ships the units moved." in page
    part = db.session.query(CustomerOrder).filter_by(number="W1-2").one()
    assert part.shipping_service == "EMS"
    page = text(client.post(f"/orders/{first.id}/split",
                            data={"mode": "manual", f"qty-{line.id}": "1"},
                            follow_redirects=True))
    assert "moving every unit is not a split" in page


def test_split_to_a_service_that_cannot_carry_it_is_refused(client, login_as, pair,
                                                           shipping_setup):
    first = pair[0]
    db.session.commit()
    login_as("customer_service")
    line = first.lines[0]
    page = text(client.post(f"/orders/{first.id}/split",
                            data={"mode": "manual", f"qty-{line.id}": "1", "service": "NOPE"},
                            follow_redirects=True))
    assert "NOPE" in page
    assert db.session.query(CustomerOrder).filter_by(number="W1-2").first() is None


def test_warehouse_may_not_merge(client, login_as, pair):
    first, second, _third = pair
    login_as("warehouse")
    assert client.get("/orders/merge-candidates").status_code == 200
    assert client.post(f"/orders/{first.id}/merge",
                       data={"orders": [str(second.id)]}).status_code == 403
