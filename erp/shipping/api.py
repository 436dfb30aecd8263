"""The carriers' tracking webhook: ``POST /api/v1/carriers/<carrier_code>/tracking``.

A carrier pushes a JSON list of tracking events::

    [{"tracking_number": "RR100000003CN", "occurred_at": "2026-12-01T14:30:00Z",
      "status": "in_transit", "code": "ARR", "description": "Arrived at hub",
      "location": "Frankfurt"}, ...]

``status`` is one of ``in_transit``, ``out_for_delivery``, ``delivered``, ``exception``,
``returning``, ``returned``; ``occurred_at`` is ISO 8601 (without an offset: UTC);
``description`` and ``location`` may be left out.

Authentication, with the carrier's ``tracking_secret`` (kept on the carrier's page), either

- ``X-Erp-Signature: sha256=<hex>``: the HMAC-SHA256 of the raw request body keyed with the
  secret (preferred: the secret never travels), or
- ``Authorization: Bearer <secret>``.

Answers (JSON): 202 with the counts (``received``, ``stored``, ``duplicates``, ``unknown``,
``unknown_numbers``, ...) once the events are stored; 401 without a signature or bearer secret;
403 when it does not match, the carrier is unknown or has no secret; 422 for a body that is not a
JSON list of events, naming each bad event's ``index`` and ``field``: then nothing is stored.
Sending the same events again stores nothing new (``duplicates``): a retry is harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from sqlalchemy import select

from erp.extensions import db, limiter
from erp.shipping.carriers.base import TrackingEvent, TrackingStatus
from erp.shipping.models import Carrier
from erp.shipping.services.tracking_events import ingest, parse_time

tracking_api_bp = Blueprint("tracking_api", __name__)

# counted per carrier named in the address, at the storefront API's rate (ERP_API_RATE_LIMIT)
limiter.shared_limit(lambda: current_app.config["ERP_API_RATE_LIMIT"], scope="carrier-tracking",
                     key_func=lambda: f"carrier:{(request.view_args or {}).get('carrier_code')}"
                     )(tracking_api_bp)


@tracking_api_bp.errorhandler(429)
def too_many_requests(err):
    """Answer 429 JSON with a Retry-After header: the carrier retries later."""
    breached = limiter.current_limit
    retry_after = max(1, math.ceil(breached.window[0] - time.time())) if breached else 60
    response = jsonify(error=f"Too many tracking calls for this carrier; retry after "
                             f"{retry_after} seconds.")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response

SIGNATURE_HEADER = "X-Erp-Signature"
#: the most events one call may carry
MAX_EVENTS = 5000
_STATUSES = sorted(s.value for s in TrackingStatus)


def signature(secret: str, body: bytes) -> str:
    """Return the ``X-Erp-Signature`` value of ``body`` for ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _answer(status: int, **body):
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="erp carriers"'
    return response


def carrier_secret_required(view: Callable) -> Callable:
    """Accept the call only when signed (or carrying the bearer secret) for the carrier."""

    @wraps(view)
    def wrapped(carrier_code: str, **kwargs):
        signed = request.headers.get(SIGNATURE_HEADER, "").strip()
        scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
        bearer = bearer.strip() if scheme.lower() == "bearer" else ""
        if not signed and not bearer:
            return _answer(401, error=f"Sign the body ({SIGNATURE_HEADER}: sha256=<HMAC-SHA256 "
                                      "hex of the body with the carrier's tracking secret>) or "
                                      "send Authorization: Bearer <tracking secret>.")
        carrier = db.session.scalar(select(Carrier).where(Carrier.code == carrier_code))
        secret = carrier.tracking_secret if carrier is not None and carrier.active else None
        if not secret:
            return _answer(403, error=f"Carrier {carrier_code!r} does not accept tracking "
                                      "calls (unknown, inactive or without a tracking secret).")
        if signed:
            good = hmac.compare_digest(signed, signature(secret, request.get_data()))
        else:
            good = hmac.compare_digest(bearer.encode(), secret.encode())
        if not good:
            return _answer(403, error="The signature or secret does not match this carrier's "
                                      "tracking secret.")
        g.carrier = carrier
        return view(carrier_code=carrier_code, **kwargs)

    wrapped.api = True
    return wrapped


def _text(item: dict, key: str, errors: list, index: int, *, required: bool, most: int
          ) -> str | None:
    value = item.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors.append({"index": index, "field": key, "message": "is required"})
        return None
    if not isinstance(value, str):
        errors.append({"index": index, "field": key, "message": "must be a string"})
        return None
    if len(value.strip()) > most:
        errors.append({"index": index, "field": key,
                       "message": f"is longer than {most} characters"})
        return None
    return value.strip()


def parse_events(payload: Any) -> tuple[list[TrackingEvent], list[dict]]:
    """Return the events of a webhook body, and its errors (``index``, ``field``, ``message``)."""
    if not isinstance(payload, list):
        return [], [{"index": None, "field": None,
                     "message": "the body must be a JSON list of tracking events"}]
    if len(payload) > MAX_EVENTS:
        return [], [{"index": None, "field": None,
                     "message": f"at most {MAX_EVENTS} events per call, got {len(payload)}"}]
    found, errors = [], []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            errors.append({"index": index, "field": None, "message": "must be a JSON object"})
            continue
        before = len(errors)
        number = _text(item, "tracking_number", errors, index, required=True, most=40)
        when = _text(item, "occurred_at", errors, index, required=True, most=40)
        status = _text(item, "status", errors, index, required=True, most=24)
        code = _text(item, "code", errors, index, required=True, most=40)
        description = _text(item, "description", errors, index, required=False, most=300)
        location = _text(item, "location", errors, index, required=False, most=120)
        occurred_at = None
        if when is not None:
            try:
                occurred_at = parse_time(when)
            except ValueError:
                errors.append({"index": index, "field": "occurred_at",
                               "message": f"{when!r} is not an ISO 8601 date and time"})
        if status is not None and status not in _STATUSES:
            errors.append({"index": index, "field": "status",
                           "message": f"{status!r} is not one of {', '.join(_STATUSES)}"})
        if len(errors) == before:
            found.append(TrackingEvent(number, occurred_at, TrackingStatus(status), code,
                                       description or "", location))
    return found, errors


@tracking_api_bp.post("/carriers/<carrier_code>/tracking")
@carrier_secret_required
def carrier_tracking(carrier_code: str):
    """Take a carrier's tracking events (see the module's documentation): 202 with counts."""
    try:
        payload = json.loads(request.get_data() or b"null")
    except ValueError as err:
        return _answer(422, error=f"The body is not JSON: {err}.",
                       errors=[{"index": None, "field": None, "message": "not JSON"}])
    found, errors = parse_events(payload)
    if errors:
        first = errors[0]
        where = (f"event {first['index']}, {first['field']}: " if first["field"] else
                 f"event {first['index']}: " if first["index"] is not None else "")
        return _answer(422, error=f"Nothing was stored; {where}{first['message']}"
                                  + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""),
                       errors=errors)
    summary = ingest(found, source="webhook", actor=None)
    db.session.commit()
    return _answer(202, carrier=carrier_code, **summary.as_dict())
