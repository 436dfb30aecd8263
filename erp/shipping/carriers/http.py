"""The JSON-over-HTTP adapter for express and private-line carriers.

It speaks the contract below (the carrier simulator, :mod:`erp.shipping.carriers.simulator`,
serves it; a real carrier's API is fronted by it or by an adapter of its own). Every call
carries ``Authorization: Bearer <token>`` and JSON bodies; every error answer is
``{"error": {"code": "...", "message": "...", "field": "..."}}``.

``POST {endpoint}/v1/shipments`` with header ``Idempotency-Key: <key>`` and body::

    {"reference": "PCL-2026-000001", "service": "EXP-WW",
     "recipient": {"name", "address1", "address2", "city", "region", "postal_code",
                   "country", "phone", "email"},
     "parcel": {"weight_g": 700, "length_mm": 350, "width_mm": 250, "height_mm": 150},
     "customs": {"currency": "EUR", "declared_value": "25.00", "ioss_number": null,
                 "lines": [{"sku", "description", "quantity", "unit_value", "hs_code",
                            "origin_country", "net_weight_g"}]}}

answers ``201`` (``200`` for a key it has seen: the same booking again)::

    {"shipment_id": "SHP-...", "tracking_number": "SX...", "status": "booked",
     "label": {"format": "pdf", "data": "<base64>"}}

or ``422`` (refused: ``invalid_postcode``, ``service_unavailable``, ...), ``401`` (token),
``429`` (rate limit, ``Retry-After`` seconds), ``5xx``.

``POST {endpoint}/v1/shipments/<shipment_id>/cancel`` answers ``200 {"status": "cancelled"}``
(also when cancelled already), ``409 already_handed_over`` or ``404``.

``GET {endpoint}/v1/tracking?numbers=A,B`` answers ``200 {"shipments": [{"tracking_number",
"events": [{"occurred_at": ISO 8601 UTC, "status": one of TrackingStatus, "code",
"description", "location"}]}]}``; unknown numbers are left out.

Time-outs, connection errors, 5xx and 429 are retried a few times with a short back-off inside
the call (a booking is safe to repeat: the idempotency key makes the carrier answer with the
first booking); then :class:`CarrierUnavailable`. 4xx other than 429 raise
:class:`CarrierRefused` with the carrier's message, code and field. A 401 is a refusal too
(the token is wrong: retrying will not help), worded so the manager can fix the settings.
"""

from __future__ import annotations

import base64
import binascii
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from erp.shipping.carriers.base import (
    Booking,
    CarrierRefused,
    CarrierUnavailable,
    ShipmentRequest,
    TrackingEvent,
    TrackingStatus,
)

#: attempts of one call, and the pause before each retry (seconds)
ATTEMPTS = 3
BACKOFF = (0.2, 0.6)
#: the longest Retry-After honoured inside a call; a longer one makes the carrier unavailable
MAX_RETRY_AFTER = 2.0
#: tracking numbers asked for per request
TRACK_CHUNK = 50


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def request_body(request: ShipmentRequest) -> dict[str, Any]:
    """Return the JSON body of a booking (see the module's documentation)."""
    return {
        "reference": request.reference, "service": request.service_code,
        "recipient": {k: request.recipient.get(k) for k in (
            "name", "address1", "address2", "city", "region", "postal_code", "country",
            "phone", "email")},
        "parcel": {"weight_g": request.weight_g, "length_mm": request.length_mm,
                   "width_mm": request.width_mm, "height_mm": request.height_mm},
        "customs": {"currency": request.currency,
                    "declared_value": _money(request.declared_value),
                    "ioss_number": request.ioss_number,
                    "lines": [{"sku": ln.sku, "description": ln.description,
                               "quantity": ln.quantity, "unit_value": _money(ln.unit_value),
                               "hs_code": ln.hs_code, "origin_country": ln.origin_country,
                               "net_weight_g": ln.net_weight_g} for ln in request.lines]},
    }


class HttpCarrierAdapter:
    """Book, cancel and track with a carrier's JSON API (see the module's documentation)."""

    def __init__(self, endpoint: str, token: str | None, *, timeout_s: float = 10,
                 name: str = "carrier", attempts: int = ATTEMPTS,
                 backoff: tuple[float, ...] = BACKOFF,
                 session: requests.Session | None = None):
        self.endpoint = (endpoint or "").rstrip("/")
        self.token = token or ""
        self.timeout_s = float(timeout_s or 10)
        self.name = name
        self.attempts = max(1, int(attempts))
        self.backoff = backoff
        self.http = session or requests.Session()

    # ------------------------------------------------------------------ plumbing

    def _call(self, method: str, path: str, *, body: dict | None = None,
              params: dict | None = None, key: str | None = None) -> requests.Response:
        """Send one request, retrying outages; return a 2xx or 4xx answer (not 429)."""
        if not self.endpoint:
            raise CarrierUnavailable(f"{self.name}: no API endpoint is configured")
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if key:
            headers["Idempotency-Key"] = key
        problem = ""
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff[min(attempt - 1, len(self.backoff) - 1)]
                           if self.backoff else 0)
            try:
                answer = self.http.request(method, f"{self.endpoint}{path}", json=body,
                                           params=params, headers=headers,
                                           timeout=self.timeout_s)
            except requests.Timeout:
                problem = f"no answer within {self.timeout_s:g} s"
                continue
            except requests.RequestException as exc:
                problem = f"could not connect ({type(exc).__name__})"
                continue
            if answer.status_code == 429:
                problem = "rate limit reached (429)"
                wait = _retry_after(answer)
                if wait is None or wait > MAX_RETRY_AFTER:
                    break
                time.sleep(wait)
                continue
            if answer.status_code >= 500:
                problem = f"server error {answer.status_code}"
                continue
            return answer
        raise CarrierUnavailable(f"{self.name}: {problem} after {attempt + 1} attempt(s)")

    def _refusal(self, answer: requests.Response) -> CarrierRefused:
        error = _json(answer).get("error") or {}
        if not isinstance(error, dict):
            error = {"message": str(error)}
        if answer.status_code == 401:
            return CarrierRefused(error.get("message") or "the API token was refused",
                                  code=error.get("code") or "unauthorized")
        return CarrierRefused(str(error.get("message") or f"HTTP {answer.status_code}"),
                              code=error.get("code"), field=error.get("field"))

    # ------------------------------------------------------------------ the interface

    def book(self, request: ShipmentRequest) -> Booking:
        """Book the parcel; the same key books once (a retry gets the first booking)."""
        answer = self._call("POST", "/v1/shipments", body=request_body(request),
                            key=request.key)
        if answer.status_code not in (200, 201):
            raise self._refusal(answer)
        data = _json(answer)
        if data.get("status") == "cancelled":  # the key of a booking cancelled since
            raise CarrierRefused(f"the booking {data.get('shipment_id')} under this key was "
                                 "cancelled", code="cancelled")
        number = str(data.get("tracking_number") or "").strip()
        if not number:
            raise CarrierUnavailable(f"{self.name}: the booking answer has no tracking number")
        label = data.get("label") or {}
        pdf = None
        if label.get("data"):
            try:
                pdf = base64.b64decode(label["data"], validate=True)
            except (binascii.Error, ValueError):
                raise CarrierUnavailable(f"{self.name}: the label is not valid base64") from None
            if not pdf.startswith(b"%PDF"):
                raise CarrierUnavailable(f"{self.name}: the label is not a PDF")
        return Booking(tracking_number=number, label_pdf=pdf,
                       carrier_reference=data.get("shipment_id"))

    def cancel(self, booking: Booking) -> None:
        """Cancel a booking not yet handed over (cancelling twice is fine)."""
        ref = booking.carrier_reference or booking.tracking_number
        answer = self._call("POST", f"/v1/shipments/{requests.utils.quote(ref, safe='')}/cancel",
                            body={})
        if answer.status_code != 200:
            raise self._refusal(answer)

    def track(self, tracking_numbers: list[str]) -> list[TrackingEvent]:
        """Return every event the carrier has for these numbers, oldest first per number."""
        numbers = [n for n in dict.fromkeys(tracking_numbers) if n]
        events: list[TrackingEvent] = []
        for start in range(0, len(numbers), TRACK_CHUNK):
            chunk = numbers[start:start + TRACK_CHUNK]
            answer = self._call("GET", "/v1/tracking", params={"numbers": ",".join(chunk)})
            if answer.status_code != 200:
                raise self._refusal(answer)
            for shipment in _json(answer).get("shipments") or []:
                number = shipment.get("tracking_number")
                for raw in shipment.get("events") or []:
                    event = _event(number, raw)
                    if event is not None:
                        events.append(event)
        return events


def _event(number: str, raw: dict) -> TrackingEvent | None:
    try:
        status = TrackingStatus(raw.get("status"))
        when = datetime.fromisoformat(str(raw["occurred_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError, TypeError):
        return None  # an event erp cannot read is left out, not guessed
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return TrackingEvent(tracking_number=number, occurred_at=when.astimezone(UTC),
                         status=status, code=str(raw.get("code") or status.value),
                         description=str(raw.get("description") or ""),
                         location=raw.get("location"), raw=raw)


def _json(answer: requests.Response) -> dict:
    try:
        data = answer.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _retry_after(answer: requests.Response) -> float | None:
    try:
        return max(0.0, float(answer.headers.get("Retry-After", "")))
    except ValueError:
        return None
