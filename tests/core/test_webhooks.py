"""Webhook delivery against a real local receiver.

Signatures, retries, order, dead letter, replay, and two pumps at once (both databases).
"""

from __future__ import annotations

import base64
import json
import random
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from erp.core import events, periodic, services, webhooks
from erp.core.errors import FieldErrors, ValidationError
from erp.core.events import OutboxEvent
from erp.core.models import AuditEvent, utcnow
from erp.core.webhooks import DeliveryState, WebhookAttempt, WebhookDelivery
from erp.extensions import db
from tests.core.webhook_receiver import Receiver

ORDER_TYPES = ["order.allocated", "order.shipped", "order.cancelled"]


class Highest(random.Random):
    """Jitter that always draws the top of its range: the back-off's ceiling, exactly."""

    def uniform(self, a, b):
        return b


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


def endpoint_for(receiver, types=ORDER_TYPES, **kwargs):
    endpoint, secret = webhooks.create_endpoint(name="Web store", url=receiver.url,
                                                event_types=types, actor=None, **kwargs)
    db.session.commit()
    return endpoint, secret


def emit(type_="order.allocated", number="SO-1", **payload):
    events.emit(type_, {"number": number, **payload}, key=events.order_key(number))
    db.session.commit()


def deliveries():
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def set_setting(**values):
    services.update_settings({k: str(v) for k, v in values.items()}, actor=None)
    db.session.commit()


# --------------------------------------------------------------------------- endpoints


def test_secret_is_whsec_and_24_random_bytes(app):
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert webhooks.new_secret() != secret


@pytest.mark.parametrize("url", ["ftp://shop.example.com/x", "shop.example.com/hooks",
                                 "https://", "javascript:alert(1)", "http://a b.com/"])
def test_an_endpoint_needs_an_http_address_and_a_type(app, url):
    with pytest.raises(FieldErrors) as err:
        webhooks.create_endpoint(name="Shop", url=url, event_types=[], actor=None)
    assert set(err.value.errors) == {"url", "event_types"}
    with pytest.raises(FieldErrors) as err:
        webhooks.create_endpoint(name="Shop", url="https://shop.example.com/h",
                                 event_types=["order.nonsense"], actor=None)
    assert set(err.value.errors) == {"event_types"}


def test_endpoint_changes_are_audited(app, receiver):
    endpoint, secret = endpoint_for(receiver)
    webhooks.update_endpoint(endpoint, name="Store", url=receiver.url,
                             event_types=["order.shipped"], active=False, actor=None)
    new = webhooks.rotate_secret(endpoint, actor=None)
    db.session.commit()
    assert new != secret
    assert endpoint.secret == new
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "webhook_endpoint").order_by(AuditEvent.id)))
    assert actions == ["webhook_endpoint.created", "webhook_endpoint.updated",
                       "webhook_endpoint.secret_rotated"]
    assert secret not in json.dumps([e.changes for e in db.session.scalars(
        select(AuditEvent))], default=str)


# --------------------------------------------------------------------------- signing


def test_requests_are_signed_as_standard_webhooks_say(app, receiver):
    endpoint, secret = endpoint_for(receiver)
    emit(number="SO-1", total="12.50", name="Zoë 张")
    result = webhooks.run()
    assert result["delivered"] == 1
    (request,) = receiver.requests
    event = db.session.scalar(select(OutboxEvent))
    assert request.headers["webhook-id"] == event.event_id
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("erp-webhooks")
    assert request.body == json.dumps(events.envelope(event), ensure_ascii=False,
                                      separators=(",", ":")).encode()
    # a receiver verifies with the standardwebhooks package
    assert Webhook(secret).verify(request.body, request.headers) == events.envelope(event)
    # a tampered body fails
    tampered = request.body.replace(b"12.50", b"0.01")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, request.headers)
    # a wrong secret fails
    with pytest.raises(WebhookVerificationError):
        Webhook(webhooks.new_secret()).verify(request.body, request.headers)
    # an old timestamp (over 5 minutes), even correctly signed, fails
    old = int(utcnow().timestamp()) - 6 * 60
    stale = {**request.headers, "webhook-timestamp": str(old),
             "webhook-signature": webhooks.sign(secret, event.event_id, old, request.body)}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body, stale)
    # the raw recipe of the README gives the same signature
    import hashlib
    import hmac
    ts = request.headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    raw = hmac.new(key, f"{event.event_id}.{ts}.".encode() + request.body,
                   hashlib.sha256).digest()
    assert request.headers["webhook-signature"] == "v1," + base64.b64encode(raw).decode()


def test_only_wanted_types_and_events_after_creation(app, receiver):
    emit(number="SO-OLD")
    webhooks.run()  # numbered before the endpoint exists
    endpoint_for(receiver, types=["order.shipped"])
    emit("order.allocated", number="SO-2")
    emit("order.shipped", number="SO-2")
    webhooks.run()
    assert [json.loads(b)["type"] for b in receiver.bodies()] == ["order.shipped"]
    assert [json.loads(b)["data"]["number"] for b in receiver.bodies()] == ["SO-2"]


def test_a_disabled_endpoint_gets_nothing_until_enabled_again(app, receiver):
    endpoint, _secret = endpoint_for(receiver)
    webhooks.update_endpoint(endpoint, name=endpoint.name, url=endpoint.url,
                             event_types=endpoint.event_types, active=False, actor=None)
    db.session.commit()
    emit(number="SO-3")
    webhooks.run()
    assert receiver.requests == []
    webhooks.update_endpoint(endpoint, name=endpoint.name, url=endpoint.url,
                             event_types=endpoint.event_types, active=True, actor=None)
    db.session.commit()
    webhooks.run()
    assert len(receiver.requests) == 1


# --------------------------------------------------------------------------- retries


def test_failures_are_retried_with_growing_back_off_within_jitter_bounds(app, receiver):
    receiver.mode = "fail"
    endpoint_for(receiver)
    emit(number="SO-1")
    now = utcnow() + timedelta(seconds=1)
    waits = []
    for _ in range(9):
        webhooks.run(now=now, rng=Highest())
        (delivery,) = deliveries()
        waits.append((delivery.next_attempt_at - now).total_seconds())
        now = delivery.next_attempt_at
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert delivery.state == DeliveryState.pending
    assert delivery.attempts == 9
    assert delivery.last_status == 500
    assert delivery.last_error == "HTTP 500"
    attempt = db.session.scalars(select(WebhookAttempt)).first()
    assert attempt.status_code == 500
    assert len(attempt.response_body) == 2048
    assert attempt.response_body.startswith("receiver broke")
    # full jitter: each wait lies between the minimum and its ceiling
    rng = random.Random(7)
    for attempts in range(1, 12):
        ceiling = min(3600, 30 * 2 ** (attempts - 1))
        for _ in range(50):
            assert 1 <= webhooks.retry_delay(attempts, rng) <= ceiling


def test_a_delivery_is_not_retried_before_its_time(app, receiver):
    receiver.mode = "fail"
    endpoint_for(receiver)
    emit(number="SO-1")
    now = utcnow() + timedelta(seconds=1)
    webhooks.run(now=now, rng=Highest())
    webhooks.run(now=now + timedelta(seconds=29), rng=Highest())
    assert len(receiver.requests) == 1
    webhooks.run(now=now + timedelta(seconds=30), rng=Highest())
    assert len(receiver.requests) == 2


def test_a_timeout_counts_as_a_failure(app, receiver):
    set_setting(webhook_timeout_seconds=1)
    receiver.mode, receiver.hang_seconds = "hang", 1.5
    endpoint_for(receiver)
    emit(number="SO-1")
    result = webhooks.run()
    assert result["failed"] == 1
    (delivery,) = deliveries()
    assert delivery.state == DeliveryState.pending
    assert delivery.last_status is None
    assert "timeout" in delivery.last_error


def test_an_order_waits_for_its_earlier_event(app, receiver):
    receiver.mode = "fail"
    endpoint_for(receiver)
    emit("order.allocated", number="SO-1")
    emit("order.allocated", number="SO-2")
    emit("order.shipped", number="SO-1")
    webhooks.run()
    first, other, later = deliveries()
    assert (first.attempts, other.attempts, later.attempts) == (1, 1, 0)
    assert [json.loads(b)["data"]["number"] for b in receiver.bodies()] == ["SO-1", "SO-2"]


def test_a_receiver_down_for_an_hour_loses_nothing_and_gets_each_order_in_order(app):
    receiver = Receiver().start()
    endpoint_for(receiver, types=ORDER_TYPES + ["stock.changed"])
    receiver.stop()  # down: connections refused
    for step in range(4):
        for number in ("SO-1", "SO-2", "SO-3"):
            emit(ORDER_TYPES[step % 3], number=number, step=step)
    events.emit("stock.changed", {"sku": "A-1"})
    db.session.commit()
    start = utcnow() + timedelta(seconds=1)
    for minute in range(0, 61, 3):
        webhooks.run(now=start + timedelta(minutes=minute))
    assert all(d.state == DeliveryState.pending for d in deliveries())
    assert sum(d.attempts for d in deliveries()) > 4
    receiver.start()  # back, on the same address
    try:
        later = start + timedelta(hours=1)
        for _ in range(8):
            later += timedelta(hours=1)
            webhooks.run(now=later)
            if all(d.state == DeliveryState.delivered for d in deliveries()):
                break
        assert all(d.state == DeliveryState.delivered for d in deliveries())
        got = [json.loads(b) for b in receiver.bodies()]
        assert len({g["id"] for g in got}) == len(got) == 13
        for number in ("SO-1", "SO-2", "SO-3"):
            steps = [g["data"]["step"] for g in got if g["data"].get("number") == number]
            assert steps == [0, 1, 2, 3]
    finally:
        receiver.stop()


def test_dead_letter_after_the_window_then_replay(app, receiver):
    set_setting(webhook_retry_hours=24)
    receiver.mode = "fail"
    endpoint, secret = endpoint_for(receiver)
    emit(number="SO-1")
    start = utcnow() + timedelta(seconds=1)
    webhooks.run(now=start)
    webhooks.run(now=start + timedelta(hours=23))
    assert deliveries()[0].state == DeliveryState.pending
    result = webhooks.run(now=start + timedelta(hours=24, minutes=1))
    assert result["dead"] == 1
    (dead,) = deliveries()
    assert dead.state == DeliveryState.dead
    assert dead.attempts == 3
    webhooks.run(now=start + timedelta(hours=30))
    assert len(receiver.requests) == 3  # a dead delivery is not tried again by itself
    receiver.mode = "ok"
    assert webhooks.replay_delivery(dead, actor=None) == 1
    db.session.commit()
    webhooks.run()
    original, replayed = deliveries()
    assert original.state == DeliveryState.dead
    assert replayed.replay
    assert replayed.state == DeliveryState.delivered
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {original.event.event_id}  # the same event: the same webhook-id
    assert Webhook(secret).verify(receiver.requests[-1].body, receiver.requests[-1].headers)


def test_replay_a_time_range_to_one_endpoint(app, receiver):
    endpoint, _secret = endpoint_for(receiver)
    base = utcnow()
    for hours, number in ((-3, "SO-1"), (-2, "SO-2"), (-1, "SO-3")):
        events.emit("order.allocated", {"number": number}, key=events.order_key(number),
                    at=base + timedelta(hours=hours))
        events.emit("stock.changed", {"sku": number}, at=base + timedelta(hours=hours))
    db.session.commit()
    webhooks.run()
    assert len(receiver.requests) == 3
    count = webhooks.replay_events(endpoint, since=base - timedelta(hours=2, minutes=30),
                                   until=base, actor=None)
    db.session.commit()
    assert count == 2  # the endpoint's types only
    webhooks.run()
    numbers = [json.loads(b)["data"]["number"] for b in receiver.bodies()]
    assert numbers == ["SO-1", "SO-2", "SO-3", "SO-2", "SO-3"]
    with pytest.raises(ValidationError):
        webhooks.replay_events(endpoint, since=base, until=base - timedelta(hours=1),
                               actor=None)
    with pytest.raises(ValidationError):
        webhooks.replay_events(endpoint, since=base + timedelta(days=1),
                               until=base + timedelta(days=2), actor=None)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "webhook_endpoint.replayed")) == 1


# --------------------------------------------------------------------------- concurrency


def test_two_pumps_at_once_never_send_a_delivery_twice(app, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "CLAIM_BATCH", 7)  # many small claims: the pumps interleave
    endpoint_for(receiver, types=ORDER_TYPES + ["stock.changed"])
    for n in range(150):
        events.emit(ORDER_TYPES[n % 3], {"number": f"SO-{n % 15}", "n": n},
                    key=events.order_key(f"SO-{n % 15}"))
    events.emit_many("stock.changed", [(None, {"sku": f"S{n}"}) for n in range(50)])
    db.session.commit()
    errors = []
    barrier = threading.Barrier(2)

    def pending() -> int:
        return db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.state == DeliveryState.pending))

    def pump():
        try:
            with app.app_context():
                barrier.wait()
                for _ in range(200):  # both fan out, then both claim and send, side by side
                    webhooks.run()
                    left = pending()
                    db.session.commit()
                    if not left:
                        break
                db.session.remove()
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=pump) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 200
    assert all(d.state == DeliveryState.delivered for d in deliveries())
    assert all(d.attempts == 1 for d in deliveries())
    assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 200
    got = [json.loads(r.body) for r in receiver.requests]
    for k in range(15):
        ns = [g["data"]["n"] for g in got if g["data"].get("number") == f"SO-{k}"]
        assert ns == sorted(ns)
        assert len(ns) == 10


def test_a_claim_is_not_taken_by_another_pump(app, receiver):
    endpoint_for(receiver)
    emit(number="SO-1")
    events.sequence_all()
    webhooks.fan_out()
    now = utcnow() + timedelta(seconds=1)
    first = webhooks.claim(now=now)
    assert len(first) == 1
    assert webhooks.claim(now=now) == []  # held by the first pump's lease
    # a pump that died leaves its claim to expire
    assert len(webhooks.claim(now=now + timedelta(hours=1))) == 1


# --------------------------------------------------------------------------- waking


def test_a_commit_with_events_wakes_the_ticker_without_redis(app):
    periodic._WOKEN.clear()
    emit(number="SO-1")
    assert "webhooks.deliver" in periodic._WOKEN


@pytest.fixture
def redis_app(app):
    import redis
    url = "redis://127.0.0.1:6379/14"
    try:
        redis.from_url(url).ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    queue_name = f"erp-webhooks-test-{threading.get_ident()}-{id(app)}"
    app.config.update(ERP_REDIS_URL=url, ERP_JOBS_QUEUE=queue_name)
    conn = redis.from_url(url)
    conn.delete(webhooks.QUEUED_FLAG)
    yield app
    from erp.core import jobs
    jobs.queue(app).empty()
    conn.delete(webhooks.QUEUED_FLAG)
    app.config.update(ERP_REDIS_URL=None)


def test_a_burst_of_commits_enqueues_one_pump_job(redis_app, receiver):
    from erp.core import jobs
    endpoint_for(receiver)
    for n in range(5):
        emit(number=f"SO-{n}")
    queue = jobs.queue(redis_app)
    assert [j.func_name for j in queue.get_jobs()] == ["erp.core.webhooks.pump"]
    # the job, as the worker runs it, sends them all and lets the next commit queue another
    worker = jobs.make_worker([queue], jobs.redis_connection(redis_app), simple=True, burst=True)
    worker.work(burst=True)
    assert len(receiver.requests) == 5
    emit(number="SO-9")
    assert len(queue.get_jobs()) == 1


def test_the_periodic_task_sends_what_is_due(app, receiver):
    assert periodic.TASKS["webhooks.deliver"].every == 2
    endpoint_for(receiver)
    emit(number="SO-1")
    result = periodic.run_task("webhooks.deliver")
    assert result["delivered"] == 1
    assert len(receiver.requests) == 1


@pytest.mark.postgres
def test_a_pump_skips_the_rows_another_is_claiming(app, receiver):
    from sqlalchemy.orm import Session
    endpoint_for(receiver, types=["stock.changed"])
    events.emit_many("stock.changed", [(None, {"sku": f"S{n}"}) for n in range(4)])
    db.session.commit()
    events.sequence_all()
    webhooks.fan_out()
    now = utcnow() + timedelta(seconds=1)
    with Session(db.engine) as other:
        locked = set(other.scalars(webhooks._due(now, 2)))  # mid-claim: rows locked
        claimed = webhooks.claim(now=now)  # does not wait for them: takes the others
        other.rollback()
    assert len(locked) == 2
    assert {c.id for c in claimed} == {d.id for d in deliveries()} - locked
