"""The JSON API's ``Idempotency-Key`` header (IETF draft "The Idempotency-Key HTTP Header Field").

On every POST of a blueprint set up with :func:`init_blueprint`:

- the first request with a key claims it (committed at once, so others can see it is running),
  runs, and its response is stored with the key;
- a repeat with the same key and the same body replays the stored response (with
  ``Idempotent-Replayed: true``) and acts no more;
- a repeat while the first is still running gets 409 with ``Retry-After``;
- a claim older than ``ERP_IDEMPOTENCY_LEASE_SECONDS`` (default 30, gunicorn's worker timeout)
  that never got its response belongs to a request whose worker died (killed, timed out): a
  repeat takes it over and runs. The killed request's transaction never committed, so nothing
  runs twice; had it committed just before dying, the order API finds the order by its number
  and answers with it (200) instead of creating another;
- the same key with a different body (or another path) gets 422;
- a key older than ``ERP_IDEMPOTENCY_KEY_HOURS`` (default 24) has expired: the request is taken
  as new;
- a first request that failed with a server error (5xx) or an exception releases its key, so the
  client's retry runs again.

Keys belong to a scope (``token:<id>``): two clients never see each other's keys.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from erp.core.models import IdempotencyKey, utcnow
from erp.extensions import db

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


def _ttl() -> timedelta:
    return timedelta(hours=int(current_app.config.get("ERP_IDEMPOTENCY_KEY_HOURS") or 24))


def _lease() -> timedelta:
    return timedelta(seconds=float(current_app.config.get("ERP_IDEMPOTENCY_LEASE_SECONDS")
                                   or 30))


def _fingerprint() -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode())
    digest.update(b" ")
    digest.update(request.path.encode())
    digest.update(b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _error(status: int, message: str, **headers) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def _find(scope: str, key: str) -> IdempotencyKey | None:
    return db.session.scalar(select(IdempotencyKey).where(IdempotencyKey.scope == scope,
                                                          IdempotencyKey.key == key))


def _replay(row: IdempotencyKey) -> Response:
    response = Response(row.response_body or "", status=row.status_code,
                        content_type=row.content_type or "application/json")
    if row.location:
        response.headers["Location"] = row.location
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _answer_existing(row: IdempotencyKey, fingerprint: str) -> Response:
    if row.fingerprint != fingerprint:
        return _error(422, f"The Idempotency-Key {row.key!r} was already used with a different "
                           "request (another body or path); use a new key for a new request.")
    if row.status_code is None:
        return _error(409, f"A request with the Idempotency-Key {row.key!r} is still being "
                           "processed; retry after it has finished.", **{"Retry-After": "1"})
    return _replay(row)


def claim(scope: str | None) -> Response | None:
    """Before a POST view: claim the request's key, or answer a repeat; ``None`` to go on."""
    if request.method != "POST" or scope is None:
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip().strip('"')  # the draft sends the key as a quoted string
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        return _error(400, f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable "
                           "characters.")
    owned = g.get("erp_idempotency")
    if owned and owned[1] == key:
        return None  # this same request, run again after a deadlock: its key is its own
    fingerprint = _fingerprint()
    now = utcnow()
    row = _find(scope, key)
    if row is not None and row.created_at < now - _ttl():
        db.session.delete(row)  # expired: the request is new
        db.session.flush()
        row = None
    taken = _take_over(row, fingerprint, now) if row is not None else None
    if taken is not None:
        g.erp_idempotency = (taken, key)
        return None
    if row is not None:
        response = _answer_existing(row, fingerprint)
        db.session.rollback()
        return response
    row = IdempotencyKey(scope=scope, key=key, method=request.method, path=request.path[:300],
                         fingerprint=fingerprint, created_at=now)
    db.session.add(row)
    try:
        db.session.flush()
        row_id = row.id  # read now: after the commit it would reload, and on SQLite that
        # would begin the next write transaction (and hold the lock) before the view needs it
        db.session.commit()  # visible at once: a repeat now sees "still being processed"
    except IntegrityError:
        db.session.rollback()
        row = _find(scope, key)
        if row is None:  # pragma: no cover - the other request released it meanwhile
            return _error(409, f"A request with the Idempotency-Key {key!r} is still being "
                               "processed; retry after it has finished.", **{"Retry-After": "1"})
        response = _answer_existing(row, fingerprint)
        db.session.rollback()
        return response
    g.erp_idempotency = (row_id, key)
    return None


def _take_over(row: IdempotencyKey, fingerprint: str, now) -> int | None:
    """Claim ``row`` anew if its lease ran out without a response (its worker died); commit.

    Only the same request may take it over, and only one repeat wins (a conditional update on
    the claim's time). Returns the row's id when this request now owns it.
    """
    if row.status_code is not None or row.fingerprint != fingerprint \
            or row.created_at >= now - _lease():
        return None
    # read now: after the commit they would reload (and begin a transaction on SQLite)
    row_id, claimed_at, key = row.id, row.created_at, row.key
    taken = db.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row_id, IdempotencyKey.status_code.is_(None),
               IdempotencyKey.created_at == claimed_at)
        .values(created_at=now)
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if taken != 1:
        return None
    logging.getLogger(__name__).warning(
        "Idempotency-Key %r: the request that claimed it at %s never answered; a retry takes "
        "it over", key, claimed_at)
    return row_id


def _release(row_id: int) -> None:
    db.session.rollback()
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))
    db.session.commit()


def store(response: Response) -> Response:
    """After the view: keep its response with the key (a server error releases the key)."""
    owned = g.pop("erp_idempotency", None)
    if not owned:
        return response
    if response.status_code >= 500:
        _release(owned[0])
        return response
    db.session.rollback()  # the view has committed its work; nothing else belongs here
    db.session.execute(update(IdempotencyKey).where(IdempotencyKey.id == owned[0]).values(
        status_code=response.status_code, response_body=response.get_data(as_text=True),
        content_type=response.content_type, location=response.headers.get("Location"),
        finished_at=utcnow()))
    db.session.commit()
    return response


def release_on_error(exc: BaseException | None) -> None:
    """At teardown: a request that ended in an exception gives its key back."""
    owned = g.pop("erp_idempotency", None)
    if owned and exc is not None:
        _release(owned[0])


def purge(*, now=None) -> int:
    """Delete keys older than ``ERP_IDEMPOTENCY_KEY_HOURS``; return how many went."""
    cutoff = (now or utcnow()) - _ttl()
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return result.rowcount or 0


def init_blueprint(bp: Blueprint, scope: Callable[[], str | None]) -> None:
    """Honour ``Idempotency-Key`` on every POST of ``bp``; ``scope()`` names the client."""
    bp.before_request(lambda: claim(scope()))
    bp.after_request(store)
    bp.teardown_request(release_on_error)
