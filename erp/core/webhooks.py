"""Webhooks: the outbox's events pushed to the storefront's endpoints, signed, retried, in order.

Storefront platforms deliver webhooks *at least once* (Shopify retries for 4 hours, Stripe for
days; WooCommerce never retries), so a consumer of the ERP's events gets both: pushed events
(this module) and a feed it can pull to catch up (``GET /api/v1/events``).

**Endpoints.** An admin registers an endpoint: an http(s) URL, the event types it wants, and a
secret (``whsec_`` + base64 of 24 random bytes) shown once, on creation or rotation.

**Fan-out.** Each endpoint keeps a cursor: the last feed number (``seq``) it was given. The pump
reads the sequenced events after each active endpoint's cursor and writes one
:class:`WebhookDelivery` per event of a type the endpoint wants, then moves the cursor, under a
lock of the endpoint's row, so two pumps never fan an event out twice. A new endpoint starts at
the newest feed number of its creation: it gets the events after it, and earlier ones only by a
replay. A disabled endpoint is neither fanned out nor sent to; enabled again, it gets what it
missed (its cursor stayed).

**Sending.** Each request carries the Standard Webhooks headers (``webhook-id`` = the event's
id, ``webhook-timestamp``, ``webhook-signature`` = ``v1,`` + base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}`` under the secret's bytes); the body is the event's
:func:`erp.core.events.envelope` as compact UTF-8 JSON. A 2xx answer delivers it. Anything
else, a timeout (setting ``webhook_timeout_seconds``) or a connection error is retried after an
exponential back-off with full jitter (30 s doubling, capped at 1 h; at least 1 s) until the
window of ``webhook_retry_hours`` after the delivery was created has passed; the first failure
after that dead-letters it (state ``dead``: listed, replayable).

**Order.** A delivery is not attempted while an earlier one (lower ``seq``) of the same event key
(the order number) to the same endpoint is still pending, so a receiver sees an order's events in
their order even across retries.

**Claims.** A pump claims due deliveries in a short transaction (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, the write lock on SQLite) by setting a lease (``claimed_until``) and a claim token,
sends them outside any transaction, then records each result under its token. Two pumps at once
never send the same delivery concurrently; a pump that died leaves its claims to expire.

**Replay.** A replay writes new delivery rows (``replay`` true, who asked) for one event or a time
range to one endpoint. They carry the same ``webhook-id`` (it is the same event), which Standard
Webhooks receivers deduplicate on: a receiver that processed the event already ignores it, one
that lost it processes it.

**Where it runs.** The periodic task ``webhooks.deliver`` (every 2 s, see :mod:`erp.core.periodic`)
runs :func:`run`; after a commit that wrote events, :func:`wake` enqueues :func:`pump` on the job
queue when ``ERP_REDIS_URL`` is set (one job for a burst of commits), else wakes the in-process
ticker.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, has_app_context
from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Mapped, aliased, mapped_column, relationship

from erp.core import audit, events, periodic, transactions
from erp.core.errors import FieldErrors, ValidationError
from erp.core.events import OutboxEvent
from erp.core.i18n import _, _l, format_number
from erp.core.models import User, utcnow
from erp.core.settings import SettingDef, _positive_int, declare
from erp.core.types import UtcDateTime
from erp.extensions import db

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
USER_AGENT = "erp-webhooks/1"
#: the first retry waits up to this many seconds; each further one up to twice the last
BASE_DELAY = 30
#: no retry waits longer than this (seconds)
MAX_DELAY = 3600
#: the shortest wait before a retry (seconds): full jitter could draw almost nothing
MIN_DELAY = 1
#: deliveries one claim takes
CLAIM_BATCH = 200
#: events one fan-out step reads per endpoint
FANOUT_BATCH = 2000
#: the most events one replay may send again
REPLAY_LIMIT = 10_000
#: the part of a receiver's answer kept with each attempt
EXCERPT_BYTES = 2048
#: a pump run stops claiming after this many seconds (the next run goes on)
RUN_BUDGET_SECONDS = 55
#: the Redis key that says a pump job is queued (a burst of commits enqueues one)
QUEUED_FLAG = "erp:webhooks:pump-queued"

declare(
    SettingDef("webhook_retry_hours", _l("Webhook retry window (hours)"), _positive_int, 24,
               _l("A webhook that is not accepted is tried again, less and less often, for "
                  "this many hours; then it is set aside as dead, to be replayed by hand.")),
    SettingDef("webhook_timeout_seconds", _l("Webhook timeout (seconds)"), _positive_int, 10,
               _l("How long a webhook endpoint may take to answer before the attempt counts "
                  "as failed.")),
)


class DeliveryState(StrEnum):
    """Where a delivery is."""

    pending = "pending"
    delivered = "delivered"
    dead = "dead"


STATE_LABELS = {
    DeliveryState.pending: _l("waiting to be sent"),
    DeliveryState.delivered: _l("delivered"),
    DeliveryState.dead: _l("dead"),
}


class WebhookEndpoint(db.Model):
    """A URL of the storefront that receives the events of the types it wants."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    #: the last feed number fanned out to this endpoint
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    created_by: Mapped[User | None] = relationship()

    @property
    def secret_hint(self) -> str:
        """Return the secret's first characters, to tell secrets apart without showing them."""
        return self.secret[:10] + "…"


class WebhookDelivery(db.Model):
    """One event to one endpoint: pending until accepted (delivered) or given up (dead)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "state", "next_attempt_at"),
        Index("ix_webhook_delivery_order", "endpoint_id", "event_key", "seq"),
        Index("ix_webhook_delivery_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoint.id"))
    outbox_event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(40))
    event_key: Mapped[str | None] = mapped_column(String(80))
    state: Mapped[DeliveryState] = mapped_column(
        Enum(DeliveryState, native_enum=False, length=16, validate_strings=True),
        default=DeliveryState.pending)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    claim_token: Mapped[str | None] = mapped_column(String(32))
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: a replay asked by a person (the same event, the same webhook-id)
    replay: Mapped[bool] = mapped_column(default=False)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    endpoint: Mapped[WebhookEndpoint] = relationship()
    event: Mapped[OutboxEvent] = relationship()
    requested_by: Mapped[User | None] = relationship()


class WebhookAttempt(db.Model):
    """One request of a delivery and what came back."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_delivery.id"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- audit sentences

audit.entity("webhook_endpoint", _l("Webhook endpoint"))
audit.fields({"url": _l("URL"), "event_types": _l("event types"), "events": _l("events")})
audit.register_many({
    "webhook_endpoint.created": _l("Webhook endpoint %(ref)s created for %(url)s."),
    "webhook_endpoint.updated": _l("Webhook endpoint %(ref)s changed."),
    "webhook_endpoint.secret_rotated": _l("Secret of webhook endpoint %(ref)s rotated."),
    "webhook_endpoint.replayed": _l("%(events)s event(s) replayed to webhook endpoint %(ref)s."),
})


# --------------------------------------------------------------------------- endpoints

def new_secret() -> str:
    """Return a fresh signing secret: ``whsec_`` + base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """Return the HMAC key of a ``whsec_`` secret (its base64 part, decoded)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def _clean(name: str, url: str, event_types: Iterable[str]) -> tuple[str, str, list[str]]:
    errors: dict[str, str] = {}
    name = (name or "").strip()
    url = (url or "").strip()
    if not name:
        errors["name"] = _("Give the endpoint a name, e.g. the storefront it is for.")
    elif len(name) > 120:
        errors["name"] = _("Keep the name to 120 characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
        errors["url"] = _("Enter a full http:// or https:// address, e.g. "
                          "https://shop.example.com/webhooks/erp.")
    elif len(url) > 2000:
        errors["url"] = _("Keep the address to 2,000 characters.")
    chosen = sorted(set(event_types or ()))
    unknown = [t for t in chosen if t not in events.EVENT_TYPES]
    if unknown:
        errors["event_types"] = _("Unknown event type: %(types)s.", types=", ".join(unknown))
    elif not chosen:
        errors["event_types"] = _("Choose at least one event type.")
    if errors:
        raise FieldErrors(_("The endpoint was not saved."), errors)
    return name, url, chosen


def create_endpoint(*, name: str, url: str, event_types: Iterable[str], active: bool = True,
                    actor) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its secret (to be shown this once).

    It gets the events sequenced after this moment (older ones by a replay).

    :raises FieldErrors: for a missing name, an address that is not http(s), no event type.
    """
    name, url, chosen = _clean(name, url, event_types)
    secret = new_secret()
    newest = db.session.scalar(select(func.max(OutboxEvent.seq))) or 0
    endpoint = WebhookEndpoint(name=name, url=url, secret=secret, event_types=chosen,
                               active=bool(active), cursor_seq=newest,
                               created_by_id=getattr(actor, "id", None), created_at=utcnow())
    db.session.add(endpoint)
    db.session.flush()
    audit.record(endpoint, "webhook_endpoint.created", actor=actor,
                 changes={"url": url, "event_types": chosen, "active": bool(active)})
    return endpoint, secret


def update_endpoint(endpoint: WebhookEndpoint, *, name: str, url: str,
                    event_types: Iterable[str], active: bool, actor) -> dict:
    """Change an endpoint's name, address, event types or active flag; return the changes.

    :raises FieldErrors: as :func:`create_endpoint`.
    """
    from erp.core.locking import lock

    name, url, chosen = _clean(name, url, event_types)
    lock(endpoint)  # a pump fanning out reads the types under this lock
    changes = audit.diff(endpoint, {"name": name, "url": url, "event_types": chosen,
                                    "active": bool(active)})
    for key, (_before, after) in changes.items():
        setattr(endpoint, key, after)
    if changes:
        audit.record(endpoint, "webhook_endpoint.updated", actor=actor, changes=changes)
    return changes


def rotate_secret(endpoint: WebhookEndpoint, *, actor) -> str:
    """Give the endpoint a new secret (requests are signed with it from now on); return it."""
    from erp.core.locking import lock

    lock(endpoint)
    endpoint.secret = new_secret()
    endpoint.secret_rotated_at = utcnow()
    audit.record(endpoint, "webhook_endpoint.secret_rotated", actor=actor)
    return endpoint.secret


# --------------------------------------------------------------------------- replay

def replay_events(endpoint: WebhookEndpoint, *, event_ids: Iterable[int] | None = None,
                  since: datetime | None = None, until: datetime | None = None,
                  actor, now: datetime | None = None) -> int:
    """Send events to ``endpoint`` again, as new deliveries marked ``replay``; return how many.

    Either the outbox events ``event_ids`` (whatever their type), or the sequenced events of the
    endpoint's types that occurred in ``[since, until)``. A replayed event keeps its
    ``webhook-id``.

    :raises ValidationError: for an empty or reversed range, nothing in it, or more than
        :data:`REPLAY_LIMIT` events.
    """
    now = now or utcnow()
    stmt = select(OutboxEvent.id, OutboxEvent.seq, OutboxEvent.type, OutboxEvent.key).where(
        OutboxEvent.seq.is_not(None))
    if event_ids is not None:
        stmt = stmt.where(OutboxEvent.id.in_(sorted(set(event_ids))))
    else:
        if since is None or until is None or since >= until:
            raise ValidationError(_("To replay events, give a period whose start is before its "
                                    "end."), field="since")
        stmt = stmt.where(OutboxEvent.occurred_at >= since, OutboxEvent.occurred_at < until,
                          OutboxEvent.type.in_(endpoint.event_types or []))
    rows = db.session.execute(stmt.order_by(OutboxEvent.seq).limit(REPLAY_LIMIT + 1)).all()
    if len(rows) > REPLAY_LIMIT:
        raise ValidationError(_("To replay events, choose a shorter period: at most %(limit)s "
                                "events are replayed at once.", limit=format_number(REPLAY_LIMIT)),
                              field="since")
    if not rows:
        raise ValidationError(_("There is no event to replay in that period."), field="since")
    db.session.execute(insert(WebhookDelivery), [
        {"endpoint_id": endpoint.id, "outbox_event_id": r.id, "seq": r.seq, "event_type": r.type,
         "event_key": r.key, "state": DeliveryState.pending, "attempts": 0,
         "next_attempt_at": now, "created_at": now, "replay": True,
         "requested_by_id": getattr(actor, "id", None)} for r in rows])
    changes: dict[str, Any] = {"events": len(rows)}
    if event_ids is None:
        changes.update({"from": since, "to": until})
    else:
        changes["event_ids"] = [db.session.get(OutboxEvent, r.id).event_id for r in rows[:20]]
    audit.record(endpoint, "webhook_endpoint.replayed", actor=actor, changes=changes)
    return len(rows)


def replay_delivery(delivery: WebhookDelivery, *, actor, now: datetime | None = None) -> int:
    """Send a delivery's event to its endpoint again (a new delivery); return 1."""
    return replay_events(delivery.endpoint, event_ids=[delivery.outbox_event_id], actor=actor,
                         now=now)


# --------------------------------------------------------------------------- schedule

def retry_delay(attempts: int, rng: random.Random | None = None) -> float:
    """Return the seconds to wait after the ``attempts``-th failed attempt (full jitter).

    Drawn uniformly between :data:`MIN_DELAY` and ``min(MAX_DELAY, BASE_DELAY * 2**(n-1))``.
    """
    ceiling = min(MAX_DELAY, BASE_DELAY * 2 ** max(0, attempts - 1))
    return max(MIN_DELAY, (rng or random).uniform(0, ceiling))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` of ``body`` (Standard Webhooks, v1)."""
    import hashlib
    import hmac

    digest = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body,
                      hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def body_of(envelope: dict) -> bytes:
    """Return the request body of an event: compact UTF-8 JSON."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --------------------------------------------------------------------------- fan-out

def fan_out() -> int:
    """Write the deliveries of the events after each active endpoint's cursor; return how many.

    Commits after each step; each step locks the endpoints it moves (their cursor).
    """
    from erp.core.locking import lock_many

    written = 0
    while True:
        more = False
        with transactions.intent("write"):
            ids = list(db.session.scalars(select(WebhookEndpoint.id)
                                          .where(WebhookEndpoint.active.is_(True))))
            for endpoint in lock_many(WebhookEndpoint, ids):
                if not endpoint.active:
                    continue
                rows = db.session.execute(
                    select(OutboxEvent.id, OutboxEvent.seq, OutboxEvent.type, OutboxEvent.key)
                    .where(OutboxEvent.seq > endpoint.cursor_seq)
                    .order_by(OutboxEvent.seq).limit(FANOUT_BATCH)).all()
                if not rows:
                    continue
                wanted = set(endpoint.event_types or ())
                now = utcnow()
                new = [{"endpoint_id": endpoint.id, "outbox_event_id": r.id, "seq": r.seq,
                        "event_type": r.type, "event_key": r.key,
                        "state": DeliveryState.pending, "attempts": 0, "next_attempt_at": now,
                        "created_at": now, "replay": False} for r in rows if r.type in wanted]
                if new:
                    db.session.execute(insert(WebhookDelivery), new)
                written += len(new)
                endpoint.cursor_seq = rows[-1].seq
                more = more or len(rows) == FANOUT_BATCH
            db.session.commit()
        if not more:
            return written


# --------------------------------------------------------------------------- claim, send, record

@dataclass
class Claimed:
    """A claimed delivery, read into plain values: sending touches no database."""

    id: int
    token: str
    endpoint_id: int
    url: str
    secret: str
    msg_id: str
    body: bytes
    attempts: int
    created_at: datetime


@dataclass
class Outcome:
    """What one request brought back."""

    delivery: Claimed
    at: datetime
    status: int | None
    excerpt: str | None
    error: str | None
    duration_ms: int
    sent: bool = True  #: false: not tried (its endpoint failed earlier in the batch)
    behind: Outcome | None = None  #: the failure it waits behind, when not tried

    @property
    def ok(self) -> bool:
        """Return whether the receiver accepted it (a 2xx answer)."""
        return self.status is not None and 200 <= self.status < 300


def _due(now: datetime, limit: int):
    mine = WebhookDelivery.__table__
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(earlier.endpoint_id == WebhookDelivery.endpoint_id,
                             earlier.event_key == WebhookDelivery.event_key,
                             earlier.seq < WebhookDelivery.seq,
                             earlier.state == DeliveryState.pending)
    active = select(WebhookEndpoint.id).where(WebhookEndpoint.active.is_(True))
    return (select(WebhookDelivery.id)
            .where(WebhookDelivery.state == DeliveryState.pending,
                   WebhookDelivery.next_attempt_at <= now,
                   or_(WebhookDelivery.claimed_until.is_(None),
                       WebhookDelivery.claimed_until < now),
                   WebhookDelivery.endpoint_id.in_(active),
                   ~and_(WebhookDelivery.event_key.is_not(None), blocked))
            .order_by(WebhookDelivery.seq, WebhookDelivery.id).limit(limit)
            .with_for_update(of=mine, skip_locked=True))


def claim(*, now: datetime, limit: int = CLAIM_BATCH, timeout: float = 10) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries for this pump (committed); return them.

    A due delivery is pending, its time has come, no other pump holds it, its endpoint is
    active, and no earlier delivery of its event key to its endpoint is still pending.
    """
    token = uuid.uuid4().hex
    with transactions.intent("write"):
        ids = list(db.session.scalars(_due(now, limit)))
        if not ids:
            db.session.commit()
            return []
        lease = now + timedelta(seconds=60 + timeout * (len(ids) + 1))
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                           .values(claimed_until=lease, claim_token=token)
                           .execution_options(synchronize_session=False))
        rows = db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.attempts, WebhookDelivery.created_at,
                   WebhookEndpoint.id.label("endpoint_id"), WebhookEndpoint.url,
                   WebhookEndpoint.secret, OutboxEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id)
            .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.seq,
                                                          WebhookDelivery.id)).all()
        claimed = [Claimed(r.id, token, r.endpoint_id, r.url, r.secret, r.OutboxEvent.event_id,
                           body_of(events.envelope(r.OutboxEvent)), r.attempts, r.created_at)
                   for r in rows]
        db.session.commit()
    return claimed


def send(session, delivery: Claimed, *, timeout: float) -> Outcome:
    """POST one delivery, signed; return what came back (never raises for network trouble)."""
    import requests

    timestamp = int(time.time())
    headers = {"webhook-id": delivery.msg_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(delivery.secret, delivery.msg_id, timestamp,
                                         delivery.body),
               "Content-Type": "application/json", "User-Agent": USER_AGENT}
    at = utcnow()
    start = time.perf_counter()
    try:
        response = session.post(delivery.url, data=delivery.body, headers=headers,
                                timeout=timeout, allow_redirects=False, stream=True)
        try:
            raw = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
        except Exception:  # noqa: BLE001 - an unreadable body is no reason to fail
            raw = b""
        response.close()
        status, error = response.status_code, None
        excerpt = raw.decode("utf-8", "replace")
    except requests.Timeout:
        status, excerpt, error = None, None, f"timeout after {timeout:g} s"
    except requests.RequestException as err:
        status, excerpt = None, None
        error = f"{type(err).__name__}: {err}"[:500]
    duration = int((time.perf_counter() - start) * 1000)
    if status is not None and not 200 <= status < 300:
        error = f"HTTP {status}"
    return Outcome(delivery, at, status, excerpt, error, duration)


def record(outcomes: list[Outcome], *, now: datetime, window: timedelta,
           rng: random.Random | None = None) -> dict[str, int]:
    """Record the outcomes of a batch (committed); return counts by what became of them.

    Each row is written only while this pump's claim token is still on it.
    """
    counts = {"delivered": 0, "failed": 0, "dead": 0, "deferred": 0}
    updates, attempts, deferred = [], [], []
    next_at: dict[int, datetime] = {}
    for outcome in outcomes:
        d = outcome.delivery
        if not outcome.sent:
            counts["deferred"] += 1
            behind = outcome.behind.delivery.id if outcome.behind else None
            deferred.append({"b_id": d.id, "b_token": d.token,
                             "b_next": next_at.get(behind, now)})
            continue
        tries = d.attempts + 1
        attempts.append({"delivery_id": d.id, "at": outcome.at, "status_code": outcome.status,
                         "response_body": outcome.excerpt, "error": outcome.error,
                         "duration_ms": outcome.duration_ms})
        values = {"b_id": d.id, "b_token": d.token, "b_attempts": tries,
                  "b_status": outcome.status, "b_error": outcome.error,
                  "b_delivered": None, "b_state": DeliveryState.pending, "b_next": now}
        if outcome.ok:
            counts["delivered"] += 1
            values.update(b_state=DeliveryState.delivered, b_delivered=outcome.at)
        elif now >= d.created_at + window:
            counts["dead"] += 1
            values.update(b_state=DeliveryState.dead)
            next_at[d.id] = now + timedelta(seconds=BASE_DELAY)
        else:
            counts["failed"] += 1
            values.update(b_next=now + timedelta(seconds=retry_delay(tries, rng)))
            next_at[d.id] = values["b_next"]
        updates.append(values)
    table = WebhookDelivery.__table__
    mine = and_(table.c.id == bindparam("b_id"), table.c.claim_token == bindparam("b_token"))
    with transactions.intent("write"):
        if updates:
            db.session.execute(
                table.update().where(mine).values(
                    claimed_until=None, claim_token=None, attempts=bindparam("b_attempts"),
                    last_status=bindparam("b_status"), last_error=bindparam("b_error"),
                    delivered_at=bindparam("b_delivered", type_=UtcDateTime()),
                    state=bindparam("b_state", type_=table.c.state.type),
                    next_attempt_at=bindparam("b_next", type_=UtcDateTime())),
                updates)
        if deferred:
            db.session.execute(
                table.update().where(mine).values(
                    claimed_until=None, claim_token=None,
                    next_attempt_at=bindparam("b_next", type_=UtcDateTime())), deferred)
        if attempts:
            db.session.execute(insert(WebhookAttempt), attempts)
        db.session.commit()
    return counts


def _deliver_batch(batch: list[Claimed], sessions: dict, *, timeout: float,
                   now: datetime) -> list[Outcome]:
    """Send a claimed batch, one keep-alive session per endpoint.

    After a timeout or connection error, the endpoint's other deliveries of the batch are not
    tried: they wait until the failed one's next attempt (an endpoint that is down costs one
    timeout per batch, not one per delivery).
    """
    import requests

    outcomes: list[Outcome] = []
    down: dict[int, Outcome] = {}
    for delivery in batch:
        if delivery.endpoint_id in down:
            outcomes.append(Outcome(delivery, now, None, None,
                                    "not tried: the endpoint did not answer the delivery "
                                    "before it", 0, sent=False, behind=down[delivery.endpoint_id]))
            continue
        session = sessions.get(delivery.endpoint_id)
        if session is None:
            session = sessions[delivery.endpoint_id] = requests.Session()
        outcome = send(session, delivery, timeout=timeout)
        outcomes.append(outcome)
        if outcome.status is None:
            down[delivery.endpoint_id] = outcome
    return outcomes


def run(*, now: datetime | None = None, rng: random.Random | None = None,
        max_batches: int | None = None, budget_seconds: float = RUN_BUDGET_SECONDS
        ) -> dict[str, int]:
    """Number new events, fan them out and send every due delivery; return counts.

    ``now`` replaces the clock for scheduling (tests of back-off); ``rng`` the jitter's random
    source. Commits as it goes; sends outside any transaction.
    """
    from erp.core import settings

    events.sequence_all()
    totals = {"fanned_out": fan_out(), "delivered": 0, "failed": 0, "dead": 0, "deferred": 0,
              "batches": 0}
    timeout = float(settings.get("webhook_timeout_seconds"))
    window = timedelta(hours=int(settings.get("webhook_retry_hours")))
    db.session.commit()
    sessions: dict[int, Any] = {}
    started = time.monotonic()
    try:
        while max_batches is None or totals["batches"] < max_batches:
            clock = now or utcnow()
            batch = claim(now=clock, limit=CLAIM_BATCH, timeout=timeout)
            if not batch:
                break
            totals["batches"] += 1
            outcomes = _deliver_batch(batch, sessions, timeout=timeout, now=clock)
            after = now or utcnow()
            for key, count in record(outcomes, now=after, window=window, rng=rng).items():
                totals[key] += count
            if time.monotonic() - started > budget_seconds:
                break
    finally:
        for session in sessions.values():
            session.close()
    return totals


@periodic.task("webhooks.deliver", every=2)
def _deliver_tick() -> dict[str, int]:
    """The periodic task: see :func:`run`."""
    return run()


_WORKER_APP = None


def pump() -> dict[str, int]:
    """The job queue's entry (``erp.core.webhooks.pump``): :func:`run` in an app context."""
    global _WORKER_APP
    if has_app_context():
        return _pump_here()
    if _WORKER_APP is None:
        from erp import create_app
        _WORKER_APP = create_app()
    with _WORKER_APP.app_context():
        return _pump_here()


def _pump_here() -> dict[str, int]:
    if current_app.config.get("ERP_REDIS_URL"):
        try:
            from erp.core import jobs
            jobs.redis_connection().delete(QUEUED_FLAG)  # commits from now on queue another
        except Exception:  # noqa: BLE001 - the ticker still runs the deliveries
            log.warning("Could not clear the webhook pump flag", exc_info=True)
    try:
        return run()
    finally:
        db.session.remove()


def wake() -> None:
    """After a commit that wrote events: have the deliveries sent soon.

    With ``ERP_REDIS_URL``, enqueue one pump job (a burst of commits enqueues one: a flag in
    Redis says one is queued, and the pump clears it as it starts); else wake this process's
    ticker.
    """
    if not has_app_context():
        return
    app = current_app._get_current_object()
    if not app.config.get("ERP_REDIS_URL"):
        periodic.wake("webhooks.deliver")
        return
    from erp.core import jobs
    if jobs.redis_paused(app):  # Redis failed a moment ago: the ticker sends them anyway
        periodic.wake("webhooks.deliver")
        return
    try:
        if jobs.redis_connection(app).set(QUEUED_FLAG, "1", nx=True, ex=300):
            jobs.queue(app).enqueue_call(
                "erp.core.webhooks.pump", job_id=f"erp-webhooks-pump-{uuid.uuid4().hex}",
                timeout=300, result_ttl=0, failure_ttl=86400, description="webhooks pump")
    except Exception as exc:  # noqa: BLE001 - the periodic task sends them anyway
        log.warning("Could not enqueue the webhook pump (Redis: %s); the ticker sends the "
                    "deliveries", exc)
        jobs.pause_redis(app)
        periodic.wake("webhooks.deliver")


def init_app(app) -> None:
    """Listen for commits that wrote events (once per process)."""
    if wake not in events.AFTER_COMMIT:
        events.AFTER_COMMIT.append(wake)


# --------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class DeliveryFilters:
    """The delivery list's filters (plain values: an export job rebuilds them)."""

    endpoint_id: int | None = None
    state: str | None = None
    type: str | None = None
    event_id: str | None = None


def delivery_query(filters: DeliveryFilters):
    """Return the deliveries matching ``filters``, newest first, with their event and endpoint."""
    stmt = (select(WebhookDelivery, OutboxEvent.event_id, WebhookEndpoint.name)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.outbox_event_id)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id))
    if filters.endpoint_id:
        stmt = stmt.where(WebhookDelivery.endpoint_id == filters.endpoint_id)
    if filters.state in DeliveryState.__members__:
        stmt = stmt.where(WebhookDelivery.state == DeliveryState(filters.state))
    if filters.type:
        stmt = stmt.where(WebhookDelivery.event_type == filters.type)
    if filters.event_id:
        stmt = stmt.where(OutboxEvent.event_id == filters.event_id.strip())
    return stmt.order_by(WebhookDelivery.id.desc())


def endpoint_stats(endpoint_id: int, *, days: int = 7) -> dict[str, Any]:
    """Return an endpoint's deliveries by state, its success rate and its last failure."""
    by_state = dict(db.session.execute(
        select(WebhookDelivery.state, func.count()).where(
            WebhookDelivery.endpoint_id == endpoint_id).group_by(WebhookDelivery.state)).all())
    ok = and_(WebhookAttempt.status_code >= 200, WebhookAttempt.status_code < 300)
    since = utcnow() - timedelta(days=days)
    total, good = db.session.execute(
        select(func.count(), func.coalesce(func.sum(case((ok, 1), else_=0)), 0))
        .select_from(WebhookAttempt)
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookAttempt.at >= since)).one()
    last_failure = db.session.execute(
        select(WebhookAttempt, WebhookDelivery.id.label("delivery_id"))
        .join(WebhookDelivery, WebhookDelivery.id == WebhookAttempt.delivery_id)
        .where(WebhookDelivery.endpoint_id == endpoint_id,
               or_(~ok, WebhookAttempt.status_code.is_(None)))
        .order_by(WebhookAttempt.id.desc()).limit(1)).first()
    return {"pending": by_state.get(DeliveryState.pending, 0),
            "delivered": by_state.get(DeliveryState.delivered, 0),
            "dead": by_state.get(DeliveryState.dead, 0),
            "attempts": total, "successes": int(good),
            "success_rate": (int(good) / total) if total else None, "days": days,
            "last_failure": last_failure[0] if last_failure else None}
