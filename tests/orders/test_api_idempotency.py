"""The API's Idempotency-Key header: replay, in flight, another body, expiry.

See :mod:`erp.core.idempotency`.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import func, select, update

from erp.core import idempotency
from erp.core.models import IdempotencyKey, utcnow
from erp.extensions import db
from erp.orders import services
from erp.orders.api import api_token_required, idempotency_scope
from erp.orders.models import CustomerOrder
from tests.orders.intake_data import payload


@pytest.fixture
def token(app, dummy_admin):
    _, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


def post(client, token, body, key="order-WEB-1001-try"):
    headers = {"Authorization": f"Bearer {token}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/orders", json=body, headers=headers)


def order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CustomerOrder))


def test_a_repeat_with_the_same_key_and_body_replays_the_first_answer(client, token, dummy_sku):
    first = post(client, token, payload())
    assert first.status_code == 201, first.get_json()
    assert "Idempotent-Replayed" not in first.headers
    second = post(client, token, payload())
    assert second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert order_count() == 1
    row = db.session.scalar(select(IdempotencyKey))
    assert (row.key, row.status_code, row.method, row.path) == (
        "order-WEB-1001-try", 201, "POST", "/api/v1/orders")


def test_the_same_key_with_another_body_is_refused_422(client, token, dummy_sku):
    assert post(client, token, payload()).status_code == 201
    other = payload()
    other["lines"][0]["quantity"] = 5
    response = post(client, token, other)
    assert response.status_code == 422
    assert "already used with a different request" in response.get_json()["error"]
    assert order_count() == 1


def test_keys_belong_to_their_token(client, token, dummy_sku, dummy_admin):
    _, second_token = services.create_api_token("Second shop", actor=dummy_admin)
    db.session.commit()
    assert post(client, token, payload()).status_code == 201
    response = post(client, second_token, payload())
    assert "Idempotent-Replayed" not in response.headers  # its own request, answered anew
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 2


def test_an_expired_key_is_a_new_request(client, token, dummy_sku, app):
    assert post(client, token, payload()).status_code == 201
    hours = app.config["ERP_IDEMPOTENCY_KEY_HOURS"]
    db.session.execute(update(IdempotencyKey).values(
        created_at=utcnow() - timedelta(hours=hours, minutes=1)))
    db.session.commit()
    response = post(client, token, payload())
    assert "Idempotent-Replayed" not in response.headers
    assert response.status_code == 200  # the order number exists: an identical re-post
    assert order_count() == 1
    row = db.session.scalar(select(IdempotencyKey))
    assert row.status_code == 200
    assert row.created_at > utcnow() - timedelta(minutes=5)


def test_a_key_kept_a_day_is_still_honoured(client, token, dummy_sku):
    assert post(client, token, payload()).status_code == 201
    db.session.execute(update(IdempotencyKey).values(
        created_at=utcnow() - timedelta(hours=23, minutes=50)))
    db.session.commit()
    assert post(client, token, payload()).headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there"])
def test_malformed_keys_are_refused_400(client, token, dummy_sku, key):
    response = post(client, token, payload(), key=key)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.get_json()["error"]
    assert order_count() == 0


def test_without_a_key_each_post_is_its_own(client, token, dummy_sku):
    assert post(client, token, payload(), key=None).status_code == 201
    assert post(client, token, payload(), key=None).status_code == 200  # an identical re-post
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0


def test_a_refusal_is_stored_and_replayed(client, token, dummy_sku):
    bad = payload()
    bad["lines"][0]["sku"] = "NO-SUCH-SKU"
    first = post(client, token, bad)
    assert first.status_code == 422
    second = post(client, token, bad)
    assert (second.status_code, second.get_json()) == (422, first.get_json())
    assert second.headers["Idempotent-Replayed"] == "true"


@pytest.fixture
def slow_api(app):
    """A bearer-token POST view under the same key handling that waits until told to finish."""
    started, finish = threading.Event(), threading.Event()
    calls = []
    bp = Blueprint("slow_api", __name__)
    idempotency.init_blueprint(bp, idempotency_scope)

    @bp.post("/slow")
    @api_token_required
    def slow():
        calls.append(1)
        started.set()
        finish.wait(20)
        return jsonify(done=len(calls)), 201

    app.register_blueprint(bp, url_prefix="/api/v1/test")
    return {"started": started, "finish": finish, "calls": calls}


def test_a_repeat_while_the_first_runs_gets_409_then_the_stored_answer(app, token, slow_api):
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "slow-1"}
    answers = {}

    def first():
        answers["first"] = app.test_client().post("/api/v1/test/slow", json={"a": 1},
                                                  headers=headers)

    thread = threading.Thread(target=first)
    thread.start()
    assert slow_api["started"].wait(20)
    repeat = app.test_client().post("/api/v1/test/slow", json={"a": 1}, headers=headers)
    assert repeat.status_code == 409
    assert "still being processed" in repeat.get_json()["error"]
    assert repeat.headers["Retry-After"] == "1"
    slow_api["finish"].set()
    thread.join(20)
    assert answers["first"].status_code == 201
    after = app.test_client().post("/api/v1/test/slow", json={"a": 1}, headers=headers)
    assert (after.status_code, after.get_json()) == (201, {"done": 1})
    assert slow_api["calls"] == [1]


def test_a_server_error_releases_the_key(app, client, token):
    bp = Blueprint("failing_api", __name__)
    idempotency.init_blueprint(bp, idempotency_scope)
    calls = []

    @bp.post("/fail")
    @api_token_required
    def fail():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return jsonify(ok=True), 201

    app.register_blueprint(bp, url_prefix="/api/v1/test")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "fail-1"}
    assert client.post("/api/v1/test/fail", json={}, headers=headers).status_code == 500
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    assert client.post("/api/v1/test/fail", json={}, headers=headers).status_code == 201
    assert calls == [1, 1]


def test_simultaneous_first_posts_of_one_order_number_create_it_once(app, token, dummy_sku):
    """Several first posts of one new order number at once create it once, never a 500.

    All pass the 'number is new' check; the losers' inserts meet the unique key, run again,
    and find the order: 201 once, 200 for the others.
    """
    headers = {"Authorization": f"Bearer {token}"}
    for round_ in range(3):
        body = payload(number=f"WEB-RACE-{round_}")
        barrier = threading.Barrier(4, timeout=20)
        statuses = []

        def post_it(body=body, barrier=barrier, statuses=statuses):
            client = app.test_client()
            barrier.wait()
            statuses.append(client.post("/api/v1/orders", json=body, headers=headers).status_code)

        threads = [threading.Thread(target=post_it) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(statuses) == [200, 200, 200, 201], statuses
    assert order_count() == 3
