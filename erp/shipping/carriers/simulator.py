"""A carrier simulator: a local express carrier API for the demo and the tests.

``erp carrier-sim [--host 127.0.0.1] [--port 5081] [--token T] [--seed S] [--time-scale X]
[--latency-ms MIN,MAX] [--error-rate R] [--rate-limit N] [--handover-hours H]`` serves the
JSON-over-HTTP contract of :mod:`erp.shipping.carriers.http` (see there) the way a real carrier
would:

- **Token**: every ``/v1`` call needs ``Authorization: Bearer <token>`` (401 otherwise).
- **Rate limit**: more than ``--rate-limit`` calls in one second (per token; 0 = none) answer
  ``429`` with ``Retry-After: 1``.
- **Latency and outages**: each call waits a random ``--latency-ms`` and fails with a random
  500/502/503 at ``--error-rate`` (0 to 1). Both default to a little; tests turn them off.
- **Refusals** (422, ``{"error": {"code", "message", "field"}}``): a postcode containing
  ``000`` (``invalid_postcode``: "postcode 10001 does not exist" style), or failing its
  country's pattern (US ``12345[-1234]``, CA ``A1A 1A1``, GB outward + inward code, DE/FR/IT/
  ES ``5 digits``, NL ``1234 AB``, AU/AT/BE/CH/DK/NO ``4 digits``, JP ``123-4567``, CN
  ``6 digits``; other countries: not empty); a service code other than ``SIM-EXPRESS``,
  ``SIM-ECONOMY`` (``service_unavailable``); a missing name, address, city or country; a
  weight over 30 kg.
- **Idempotent booking**: a second booking with the same ``Idempotency-Key`` answers ``200``
  with the first booking (even while the first is still being made).
- **Cancel**: ``409 already_handed_over`` once ``--handover-hours`` of simulated time have
  passed since booking (the courier collected it), else ``200``.
- **Tracking**: each booking follows a timeline whose events appear as simulated time passes.
  Simulated time runs ``--time-scale`` times faster than the clock (86400: a day a second).
  The timelines (days after booking):

  ========== ==================================================================
  delivered  accepted 0.5 · in transit 1 · customs cleared 2 · out for delivery 3
             · delivered 3.3
  customs    accepted 0.5 · in transit 1 · customs hold (exception) 2 · released
             3 · out for delivery 4 · delivered 4.3
  seized     accepted 0.5 · in transit 1 · customs hold (exception) 2 · refused
             by customs, returning 5 · returned to sender 12
  returned   accepted 0.5 · in transit 1 · out for delivery 3 · delivery failed
             (exception) 3.3 · returning 6 · returned to sender 14
  silent     accepted 0.5, then nothing
  ========== ==================================================================

  The timeline is chosen by the recipient's name ending in ``[delivered]``, ``[customs]``,
  ``[seized]``, ``[returned]`` or ``[silent]`` (tests choose it that way); otherwise it is
  drawn at random from ``--seed`` and the tracking number (so the same run gives the same
  story): 70 % delivered, 10 % customs, 5 % seized, 10 % returned, 5 % silent.

- **Label**: a real 100 x 150 mm PDF (reportlab) with the tracking number and its Code 128.

Control endpoints for tests (need the token too): ``POST /_sim/chaos`` with
``{"fail_next": N, "status": 503}`` (the next N ``/v1`` calls fail; 429 with
``Retry-After: 1``) or ``{"slow_next": N,
"delay_s": 2.5}`` (the next N wait first) or ``{"error_rate": R, "latency_ms": [a, b],
"rate_limit": N}``; ``POST /_sim/clock`` with ``{"advance_hours": H}`` moves simulated time
on; ``GET /_sim/bookings?reference=PCL-...`` returns ``{"count": n, "bookings": [...]}`` (how
many bookings the simulator holds for an erp reference); ``POST /_sim/reset`` forgets every
booking (tests against a fresh database reuse parcel numbers); ``GET /health`` answers
``ok`` without a token.

The simulator keeps its bookings in memory; it is a WSGI app (werkzeug) run by werkzeug's
threaded server. Nothing in erp imports it except the ``erp carrier-sim`` command.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

DEFAULT_TOKEN = "sim-token"
SERVICES = {"SIM-EXPRESS": "Sim Express Worldwide", "SIM-ECONOMY": "Sim Economy"}
MAX_WEIGHT_G = 30_000
DAY = 86_400.0

#: (days after booking, status, code, description, location)
TIMELINES: dict[str, tuple[tuple[float, str, str, str, str], ...]] = {
    "delivered": (
        (0.5, "in_transit", "ACCEPTED", "Shipment picked up", "Shenzhen, CN"),
        (1.0, "in_transit", "DEPARTED", "Departed origin hub", "Hong Kong, HK"),
        (2.0, "in_transit", "CUSTOMS_CLEARED", "Cleared by customs", "{dest}"),
        (3.0, "out_for_delivery", "OUT_FOR_DELIVERY", "Out for delivery", "{dest}"),
        (3.3, "delivered", "DELIVERED", "Delivered", "{dest}")),
    "customs": (
        (0.5, "in_transit", "ACCEPTED", "Shipment picked up", "Shenzhen, CN"),
        (1.0, "in_transit", "DEPARTED", "Departed origin hub", "Hong Kong, HK"),
        (2.0, "exception", "CUSTOMS_HOLD", "Held by customs: documents requested", "{dest}"),
        (3.0, "in_transit", "CUSTOMS_RELEASED", "Released by customs", "{dest}"),
        (4.0, "out_for_delivery", "OUT_FOR_DELIVERY", "Out for delivery", "{dest}"),
        (4.3, "delivered", "DELIVERED", "Delivered", "{dest}")),
    "seized": (
        (0.5, "in_transit", "ACCEPTED", "Shipment picked up", "Shenzhen, CN"),
        (1.0, "in_transit", "DEPARTED", "Departed origin hub", "Hong Kong, HK"),
        (2.0, "exception", "CUSTOMS_HOLD", "Held by customs: documents requested", "{dest}"),
        (5.0, "returning", "CUSTOMS_REFUSED", "Refused by customs, returning to sender",
         "{dest}"),
        (12.0, "returned", "RETURNED", "Returned to sender", "Shenzhen, CN")),
    "returned": (
        (0.5, "in_transit", "ACCEPTED", "Shipment picked up", "Shenzhen, CN"),
        (1.0, "in_transit", "DEPARTED", "Departed origin hub", "Hong Kong, HK"),
        (3.0, "out_for_delivery", "OUT_FOR_DELIVERY", "Out for delivery", "{dest}"),
        (3.3, "exception", "DELIVERY_FAILED", "Delivery failed: addressee unknown", "{dest}"),
        (6.0, "returning", "RETURN_TO_SENDER", "Returning to sender", "{dest}"),
        (14.0, "returned", "RETURNED", "Returned to sender", "Shenzhen, CN")),
    "silent": (
        (0.5, "in_transit", "ACCEPTED", "Shipment picked up", "Shenzhen, CN"),),
}
WEIGHTS = (("delivered", 70), ("customs", 10), ("seized", 5), ("returned", 10), ("silent", 5))
NAME_TAG = re.compile(r"\[(delivered|customs|seized|returned|silent)\]\s*$", re.I)

POSTCODES = {
    "US": r"\d{5}(-\d{4})?", "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d",
    "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}", "DE": r"\d{5}", "FR": r"\d{5}",
    "IT": r"\d{5}", "ES": r"\d{5}", "NL": r"\d{4} ?[A-Z]{2}", "AU": r"\d{4}", "AT": r"\d{4}",
    "BE": r"\d{4}", "CH": r"\d{4}", "DK": r"\d{4}", "NO": r"\d{4}", "JP": r"\d{3}-?\d{4}",
    "CN": r"\d{6}",
}


@dataclass
class Options:
    """How the simulator behaves (the command's options)."""

    token: str = DEFAULT_TOKEN
    seed: int = 0
    time_scale: float = 1.0
    latency_ms: tuple[int, int] = (20, 150)
    error_rate: float = 0.02
    rate_limit: int = 20
    handover_hours: float = 12.0


@dataclass
class Shipment:
    """A booking the simulator holds."""

    id: str
    key: str
    reference: str
    service: str
    tracking_number: str
    recipient: dict
    timeline: str
    booked_at: float          # simulated seconds
    booked_wall: datetime     # the real time of booking (events are dated from it)
    label: bytes
    cancelled: bool = False


@dataclass
class State:
    """Everything the simulator remembers (guarded by ``lock``)."""

    options: Options
    lock: threading.Lock = field(default_factory=threading.Lock)
    shipments: dict[str, Shipment] = field(default_factory=dict)      # by id
    by_key: dict[str, Shipment] = field(default_factory=dict)
    by_number: dict[str, Shipment] = field(default_factory=dict)
    pending: dict[str, threading.Event] = field(default_factory=dict)  # keys being booked
    calls: dict[tuple[str, int], int] = field(default_factory=dict)    # (token, second) -> n
    fail_next: int = 0
    fail_status: int = 503
    slow_next: int = 0
    slow_s: float = 0.0
    offset_s: float = 0.0     # simulated seconds added by /_sim/clock
    serial: int = 0
    started: float = field(default_factory=time.monotonic)

    def now(self) -> float:
        """Return simulated seconds since the simulator started."""
        return (time.monotonic() - self.started) * self.options.time_scale + self.offset_s


def _error(status: int, code: str, message: str, field_name: str | None = None,
           headers: dict | None = None) -> Response:
    body = {"error": {"code": code, "message": message}}
    if field_name:
        body["error"]["field"] = field_name
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers=headers or {})


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, mimetype="application/json")


def label_pdf(tracking_number: str, recipient: dict, service: str) -> bytes:
    """Return the simulator's 100 x 150 mm label: service, addressee, number and barcode."""
    from reportlab.graphics.barcode import code128
    from reportlab.lib.units import mm
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    width, height = 100 * mm, 150 * mm
    canvas = Canvas(buffer, pagesize=(width, height))
    canvas.setTitle(f"Sim Express label {tracking_number}")
    canvas.setLineWidth(1)
    canvas.rect(4 * mm, 4 * mm, width - 8 * mm, height - 8 * mm)
    canvas.setFont("Helvetica-Bold", 16)
    canvas.drawString(8 * mm, height - 16 * mm, "SIM EXPRESS")
    canvas.setFont("Helvetica", 9)
    canvas.drawString(8 * mm, height - 22 * mm, SERVICES.get(service, service))
    y = height - 36 * mm
    canvas.setFont("Helvetica-Bold", 10)
    canvas.drawString(8 * mm, y, "TO:")
    canvas.setFont("Helvetica", 10)
    for key in ("name", "address1", "address2", "city", "postal_code", "country"):
        value = str(recipient.get(key) or "").strip()
        if value:
            y -= 5 * mm
            canvas.drawString(14 * mm, y, value.encode("latin-1", "replace").decode("latin-1"))
    barcode = code128.Code128(tracking_number, barWidth=0.35 * mm, barHeight=18 * mm)
    barcode.drawOn(canvas, (width - barcode.width) / 2, 30 * mm)
    canvas.setFont("Helvetica-Bold", 13)
    canvas.drawCentredString(width / 2, 22 * mm, tracking_number)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _postcode_problem(country: str, postcode: str) -> str | None:
    code = (postcode or "").strip().upper()
    if "000" in code:
        return f"postcode {code} does not exist"
    pattern = POSTCODES.get(country)
    if pattern is None:
        return None if code or country not in POSTCODES else "a postcode is required"
    if not re.fullmatch(pattern, code):
        return f"postcode {code or '(empty)'} is not a valid {country} postcode"
    return None


def _check_booking(body: dict) -> Response | None:
    """Return the 422 refusal of a booking, or None."""
    service = str(body.get("service") or "")
    if service not in SERVICES:
        return _error(422, "service_unavailable",
                      f"service {service or '(none)'} is not available on this account",
                      "service")
    recipient = body.get("recipient") or {}
    for key in ("name", "address1", "city", "country"):
        if not str(recipient.get(key) or "").strip():
            return _error(422, "missing_field", f"recipient {key} is required",
                          f"recipient.{key}")
    country = str(recipient["country"]).strip().upper()
    problem = _postcode_problem(country, str(recipient.get("postal_code") or ""))
    if problem:
        return _error(422, "invalid_postcode", problem, "recipient.postal_code")
    parcel = body.get("parcel") or {}
    try:
        weight = int(parcel.get("weight_g") or 0)
    except (TypeError, ValueError):
        weight = 0
    if weight <= 0:
        return _error(422, "invalid_weight", "parcel weight_g must be more than 0",
                      "parcel.weight_g")
    if weight > MAX_WEIGHT_G:
        return _error(422, "too_heavy", f"parcel weighs {weight} g, the limit is "
                                        f"{MAX_WEIGHT_G} g", "parcel.weight_g")
    return None


class Simulator:
    """The WSGI application (see the module's documentation)."""

    def __init__(self, options: Options | None = None):
        self.state = State(options or Options())
        self.random = random.Random(self.state.options.seed)
        self.url_map = Map([
            Rule("/health", endpoint="health", methods=["GET"]),
            Rule("/v1/shipments", endpoint="book", methods=["POST"]),
            Rule("/v1/shipments/<shipment_id>/cancel", endpoint="cancel", methods=["POST"]),
            Rule("/v1/tracking", endpoint="track", methods=["GET"]),
            Rule("/_sim/chaos", endpoint="chaos", methods=["POST"]),
            Rule("/_sim/clock", endpoint="clock", methods=["POST"]),
            Rule("/_sim/bookings", endpoint="bookings", methods=["GET"]),
            Rule("/_sim/reset", endpoint="reset", methods=["POST"]),
        ])

    # ------------------------------------------------------------------ WSGI

    def __call__(self, environ, start_response):
        """Answer one WSGI request."""
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except HTTPException as exc:
            response = _error(exc.code or 500, "not_found" if exc.code == 404 else "bad_request",
                              exc.description or exc.name)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        """Route a request: health, then the token, then control or chaos and the API."""
        adapter = self.url_map.bind_to_environ(request.environ)
        endpoint, args = adapter.match()
        if endpoint == "health":
            return Response("ok", mimetype="text/plain")
        state = self.state
        if request.headers.get("Authorization", "") != f"Bearer {state.options.token}":
            return _error(401, "unauthorized", "missing or wrong API token")
        if endpoint in ("chaos", "clock", "bookings", "reset"):
            return getattr(self, endpoint)(request)
        refused = self._chaos(request)
        if refused is not None:
            return refused
        return getattr(self, endpoint)(request, **args)

    def _chaos(self, request: Request) -> Response | None:
        """Apply the rate limit, latency and outages to a ``/v1`` call."""
        state, options = self.state, self.state.options
        token = request.headers.get("Authorization", "")
        with state.lock:
            second = int(time.monotonic())
            if options.rate_limit:
                count = state.calls.get((token, second), 0) + 1
                state.calls = {k: v for k, v in state.calls.items() if k[1] >= second - 1}
                state.calls[(token, second)] = count
                if count > options.rate_limit:
                    return _error(429, "rate_limited", "too many requests",
                                  headers={"Retry-After": "1"})
            delay = self.random.uniform(*options.latency_ms) / 1000 if options.latency_ms[1] \
                else 0.0
            if state.slow_next > 0:
                state.slow_next -= 1
                delay = state.slow_s
            fail = None
            if state.fail_next > 0:
                state.fail_next -= 1
                fail = state.fail_status
            elif options.error_rate and self.random.random() < options.error_rate:
                fail = self.random.choice((500, 502, 503))
        if delay:
            time.sleep(delay)
        if fail == 429:
            return _error(429, "rate_limited", "too many requests",
                          headers={"Retry-After": "1"})
        if fail:
            return _error(fail, "server_error", "temporary failure, try again")
        return None

    # ------------------------------------------------------------------ the API

    def book(self, request: Request) -> Response:
        """Book a shipment, or answer with the booking of the same idempotency key."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "bad_request", "the body must be a JSON object")
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            return _error(400, "missing_idempotency_key", "send an Idempotency-Key header")
        state = self.state
        while True:
            with state.lock:
                known = state.by_key.get(key)
                if known is not None:
                    return _json(self._booking(known), 200)
                waiting = state.pending.get(key)
                if waiting is None:
                    state.pending[key] = threading.Event()
                    break
            waiting.wait(10)
        try:
            refusal = _check_booking(body)
            if refusal is not None:
                return refusal
            recipient = body["recipient"]
            with state.lock:
                state.serial += 1
                serial = state.serial
                number = f"SX{state.options.seed % 100:02d}{serial:08d}"
                booked_at = state.now()
            timeline = self._timeline(number, str(recipient.get("name") or ""))
            shipment = Shipment(
                id=f"SHP-{secrets.token_hex(6)}", key=key,
                reference=str(body.get("reference") or ""), service=body["service"],
                tracking_number=number, recipient=recipient, timeline=timeline,
                booked_at=booked_at, booked_wall=datetime.now(UTC),
                label=label_pdf(number, recipient, body["service"]))
            with state.lock:
                state.shipments[shipment.id] = shipment
                state.by_key[key] = shipment
                state.by_number[number] = shipment
            return _json(self._booking(shipment), 201)
        finally:
            with state.lock:
                state.pending.pop(key).set()

    def _timeline(self, number: str, name: str) -> str:
        tag = NAME_TAG.search(name)
        if tag:
            return tag.group(1).lower()
        digest = hashlib.sha256(f"{self.state.options.seed}:{number}".encode()).digest()
        pick = int.from_bytes(digest[:4], "big") % 100
        for kind, weight in WEIGHTS:
            if pick < weight:
                return kind
            pick -= weight
        return "delivered"

    @staticmethod
    def _booking(shipment: Shipment) -> dict:
        return {"shipment_id": shipment.id, "tracking_number": shipment.tracking_number,
                "reference": shipment.reference, "service": shipment.service,
                "status": "cancelled" if shipment.cancelled else "booked",
                "label": {"format": "pdf",
                          "data": base64.b64encode(shipment.label).decode("ascii")}}

    def cancel(self, request: Request, shipment_id: str) -> Response:
        """Cancel a shipment not yet handed over."""
        state = self.state
        with state.lock:
            shipment = state.shipments.get(shipment_id) or state.by_number.get(shipment_id)
            if shipment is None:
                raise NotFound(f"no shipment {shipment_id}")
            if not shipment.cancelled:
                age_h = (state.now() - shipment.booked_at) / 3600
                if age_h >= state.options.handover_hours:
                    return _error(409, "already_handed_over",
                                  f"shipment {shipment.tracking_number} was already collected "
                                  "by the courier and cannot be cancelled")
                shipment.cancelled = True
        return _json({"shipment_id": shipment.id, "status": "cancelled"})

    def track(self, request: Request) -> Response:
        """Return the events of the numbers asked for that have happened by now."""
        numbers = [n.strip() for n in request.args.get("numbers", "").split(",") if n.strip()]
        state = self.state
        out = []
        with state.lock:
            now = state.now()
            found = [state.by_number[n] for n in numbers if n in state.by_number]
        for shipment in found:
            if shipment.cancelled:
                out.append({"tracking_number": shipment.tracking_number, "events": []})
                continue
            dest = ", ".join(str(shipment.recipient.get(k) or "") for k in ("city", "country"))
            scale = state.options.time_scale or 1.0
            events = []
            for days, status, code, text, where in TIMELINES[shipment.timeline]:
                at = shipment.booked_at + days * DAY
                if at > now:
                    break
                # dated on the clock: booking time + simulated offset / time scale
                wall = shipment.booked_wall + timedelta(seconds=days * DAY / scale)
                events.append({"occurred_at": wall.isoformat().replace("+00:00", "Z"),
                               "status": status, "code": code, "description": text,
                               "location": where.format(dest=dest)})
            out.append({"tracking_number": shipment.tracking_number, "events": events})
        return _json({"shipments": out})

    # ------------------------------------------------------------------ control (tests)

    def chaos(self, request: Request) -> Response:
        """Change the outages, latency and rate limit (tests)."""
        body = request.get_json(silent=True) or {}
        state = self.state
        with state.lock:
            if "fail_next" in body:
                state.fail_next = int(body["fail_next"])
                state.fail_status = int(body.get("status", 503))
            if "slow_next" in body:
                state.slow_next = int(body["slow_next"])
                state.slow_s = float(body.get("delay_s", 1.0))
            if "error_rate" in body:
                state.options.error_rate = float(body["error_rate"])
            if "latency_ms" in body:
                low, high = body["latency_ms"]
                state.options.latency_ms = (int(low), int(high))
            if "rate_limit" in body:
                state.options.rate_limit = int(body["rate_limit"])
        return _json({"ok": True})

    def clock(self, request: Request) -> Response:
        """Move simulated time on (tests)."""
        body = request.get_json(silent=True) or {}
        with self.state.lock:
            self.state.offset_s += float(body.get("advance_hours", 0)) * 3600
        return _json({"now_s": self.state.now()})

    def reset(self, request: Request) -> Response:
        """Forget every booking and the chaos settings (a test starts afresh)."""
        state = self.state
        with state.lock:
            state.shipments.clear()
            state.by_key.clear()
            state.by_number.clear()
            state.fail_next = state.slow_next = 0
        return _json({"ok": True})

    def bookings(self, request: Request) -> Response:
        """Return the bookings held for an erp reference (tests)."""
        reference = request.args.get("reference", "")
        with self.state.lock:
            found = [s for s in self.state.shipments.values() if s.reference == reference]
        return _json({"count": len(found), "bookings": [
            {"shipment_id": s.id, "tracking_number": s.tracking_number, "key": s.key,
             "timeline": s.timeline, "cancelled": s.cancelled} for s in found]})


def parse_latency(text: str) -> tuple[int, int]:
    """Return ``(min, max)`` milliseconds from ``"20,150"`` or ``"50"``."""
    parts = [int(p) for p in str(text).replace(" ", "").split(",") if p != ""]
    if not parts or any(p < 0 for p in parts) or len(parts) > 2:
        raise ValueError("latency is MIN,MAX milliseconds, e.g. 20,150")
    low, high = (parts[0], parts[0]) if len(parts) == 1 else tuple(parts)
    if high < low:
        raise ValueError("the latency's MAX must not be below its MIN")
    return low, high


def serve(host: str, port: int, options: Options) -> None:
    """Serve the simulator until interrupted (werkzeug's threaded server)."""
    from werkzeug.serving import run_simple

    run_simple(host, port, Simulator(options), threaded=True, use_reloader=False,
               use_debugger=False)
