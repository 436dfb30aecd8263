"""The storefront's writes: cancel, hold, release and a new address through /api/v1."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from erp.core import events
from erp.extensions import db
from erp.orders import services
from erp.orders.models import OrderState
from erp.shipping.models import ParcelState
from tests.concurrency_helpers import POOL_CONFIG


@pytest.fixture
def app_config() -> dict:
    """A connection per racing request (the concurrency test), and no rate limit in the way."""
    return {**POOL_CONFIG, "ERP_API_RATE_LIMIT": "100000 per minute"}


@pytest.fixture
def token(app, dummy_admin):
    """Return the plaintext of an active API token."""
    _, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


@pytest.fixture
def post(app, token):
    """Return ``post(url, body=None, key=None)`` with the bearer token, from a fresh client."""

    def do_post(url, body=None, key=None):
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return app.test_client().post(url, json=body, headers=headers)

    return do_post


@pytest.fixture
def order(create_order, stocked_sku):
    """An allocated order WEB-7 (2 units reserved). Committed."""
    sku = stocked_sku("TS-RED-M", 10)
    placed = create_order([(sku, 2)], number="WEB-7")
    services.allocate_order(placed, actor=None)
    db.session.commit()
    return placed


def count(type_: str) -> int:
    return db.session.scalar(select(func.count()).select_from(events.OutboxEvent)
                             .where(events.OutboxEvent.type == type_))


def state(order) -> OrderState:
    db.session.expire_all()
    return OrderState(order.state)


# --------------------------------------------------------------------------- cancel

def test_cancel_answers_the_cancelled_order_and_writes_its_event(post, order):
    response = post("/api/v1/orders/WEB-7/cancel", {"reason": "Customer changed mind"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["state"] == "cancelled"
    assert body["lines"][0]["allocated_quantity"] == 0
    assert state(order) == OrderState.cancelled
    event = db.session.scalar(select(events.OutboxEvent)
                              .where(events.OutboxEvent.type == "order.cancelled"))
    assert event.payload == {"order": "WEB-7", "channel": order.channel, "state": "cancelled",
                             "previous_state": "allocated", "reason": "Customer changed mind"}


def test_a_repeated_cancel_without_a_key_answers_200_and_acts_once(post, order):
    assert post("/api/v1/orders/WEB-7/cancel", {"reason": "No longer wanted"}).status_code == 200
    again = post("/api/v1/orders/WEB-7/cancel", {"reason": "No longer wanted"})
    assert again.status_code == 200
    assert again.get_json()["state"] == "cancelled"
    assert count("order.cancelled") == 1


def test_a_repeated_cancel_with_a_key_replays_the_first_answer(post, order):
    first = post("/api/v1/orders/WEB-7/cancel", {"reason": "Wrong size"}, key="cancel-7")
    again = post("/api/v1/orders/WEB-7/cancel", {"reason": "Wrong size"}, key="cancel-7")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.status_code, again.get_json()) == (first.status_code, first.get_json())
    assert count("order.cancelled") == 1


def test_cancel_of_a_shipped_order_is_409_naming_its_state(post, create_order, dummy_sku):
    create_order([(dummy_sku, 1)], number="WEB-8", state=OrderState.shipped)
    db.session.commit()
    response = post("/api/v1/orders/WEB-8/cancel", {"reason": "Too late"})
    assert response.status_code == 409
    body = response.get_json()
    assert body["state"] == "shipped"
    assert '"shipped"' in body["error"]
    assert "after-sales" in body["error"]
    assert count("order.cancelled") == 0


def test_cancel_without_a_reason_is_422_naming_it(post, order):
    response = post("/api/v1/orders/WEB-7/cancel", {})
    assert response.status_code == 422
    assert "reason" in response.get_json()["errors"]
    assert state(order) == OrderState.allocated


@pytest.mark.parametrize("url", ["/api/v1/orders/NOPE/cancel", "/api/v1/orders/NOPE/hold",
                                 "/api/v1/orders/NOPE/release", "/api/v1/orders/NOPE/address"])
def test_an_unknown_order_is_404(post, url):
    response = post(url, {"reason": "x", "city": "Paris"})
    assert response.status_code == 404
    assert "NOPE" in response.get_json()["error"]


def test_writes_need_a_token(client, order):
    assert client.post("/api/v1/orders/WEB-7/cancel", json={"reason": "x"}).status_code == 401
    assert state(order) == OrderState.allocated


def test_identical_cancels_at_once_act_once(app, post, order):
    """Eight identical cancels fired together cancel (and announce) the order once.

    Each answers 200 with the cancelled order.
    """
    barrier = threading.Barrier(8, timeout=20)
    answers = []

    def fire():
        barrier.wait()
        response = post("/api/v1/orders/WEB-7/cancel", {"reason": "Duplicate order"})
        answers.append((response.status_code, response.get_json()["state"]))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [(200, "cancelled")] * 8
    assert count("order.cancelled") == 1


# --------------------------------------------------------------------------- hold, release

def test_hold_then_release_write_their_events(post, order):
    held = post("/api/v1/orders/WEB-7/hold", {"reason": "Address check"})
    assert held.status_code == 200
    assert (held.get_json()["state"], held.get_json()["hold_reason"]) == ("on_hold",
                                                                         "Address check")
    assert post("/api/v1/orders/WEB-7/hold", {"reason": "Address check"}).status_code == 200
    assert count("order.held") == 1
    released = post("/api/v1/orders/WEB-7/release")
    assert released.status_code == 200
    assert released.get_json()["state"] == "allocated"  # allocated again at once
    assert count("order.released") == 1
    assert state(order) == OrderState.allocated


def test_hold_of_a_cancelled_order_is_409_and_writes_nothing(post, order):
    assert post("/api/v1/orders/WEB-7/cancel", {"reason": "Gone"}).status_code == 200
    response = post("/api/v1/orders/WEB-7/hold", {"reason": "Check"})
    assert response.status_code == 409
    assert response.get_json()["state"] == "cancelled"
    assert count("order.held") == 0


def test_release_of_an_order_not_on_hold_is_409_naming_its_state(post, order):
    response = post("/api/v1/orders/WEB-7/release")
    assert response.status_code == 409
    body = response.get_json()
    assert body["state"] == "allocated"
    assert '"allocated"' in body["error"]
    assert count("order.released") == 0


@pytest.mark.parametrize("body", [{"reason": 5}, {"reason": ["x"]}])
def test_a_reason_must_be_text(post, order, body):
    response = post("/api/v1/orders/WEB-7/hold", body)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"reason": "must be text"}


# --------------------------------------------------------------------------- address

def test_address_correction_changes_the_given_fields(post, order):
    response = post("/api/v1/orders/WEB-7/address",
                    {"address1": "Neue Strasse 9", "city": "Hamburg", "postal_code": "20095"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["shipping_address"]["city"] == "Hamburg"
    assert body["changed"] == ["address1", "city", "postal_code"]
    assert body["notices"] == []
    db.session.expire_all()
    assert (order.address1, order.city, order.postal_code) == ("Neue Strasse 9", "Hamburg",
                                                               "20095")


def test_address_errors_name_each_bad_field(post, order):
    response = post("/api/v1/orders/WEB-7/address",
                    {"name": "", "country": "Atlantis", "city": "x" * 101, "floor": "3"})
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"floor"}  # unknown fields are refused before anything is read
    response = post("/api/v1/orders/WEB-7/address",
                    {"name": "", "country": "Atlantis", "city": "x" * 101})
    assert set(response.get_json()["errors"]) == {"name", "country", "city"}
    response = post("/api/v1/orders/WEB-7/address", {"country": "FR", "postal_code": None})
    assert set(response.get_json()["errors"]) == {"postal_code"}
    db.session.expire_all()
    assert order.city == "Berlin"


def test_address_of_a_shipped_order_is_409(post, create_order, dummy_sku):
    create_order([(dummy_sku, 1)], number="WEB-8", state=OrderState.shipped)
    db.session.commit()
    response = post("/api/v1/orders/WEB-8/address", {"city": "Hamburg"})
    assert response.status_code == 409
    assert response.get_json()["state"] == "shipped"


def test_address_of_a_labelled_order_voids_its_label(post, outbound_floor):
    placed, parcel = outbound_floor.labelled([(outbound_floor.tee, 1)], number="WEB-9")
    response = post("/api/v1/orders/WEB-9/address", {"address1": "Other Street 1"})
    assert response.status_code == 200, response.get_json()
    notices = response.get_json()["notices"]
    assert len(notices) == 1
    assert parcel.number in notices[0]
    db.session.expire_all()
    assert parcel.state == ParcelState.packed  # its label voided: print a new one
