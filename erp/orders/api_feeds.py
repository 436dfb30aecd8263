"""The storefront's pull feeds on ``/api/v1``: events, changed orders, the catalog.

- ``GET /events?after=<sequence>&limit=<n>&type=<t>``: the outbox in feed order. Committed
  events are numbered first, so a pull sees everything that committed; paging by ``after``
  (the last ``sequence`` seen) never skips nor repeats an event, whatever commits meanwhile.
- ``GET /orders?updated_since=<time>&after=<cursor>&limit=<n>``: orders changed since a time.
- ``GET /products?updated_since=<time>&cursor=<cursor>&limit=<n>``: the catalog the
  storefront publishes, with a strong ``ETag`` (``If-None-Match`` answers 304).

Parameters are checked before anything is read; a bad one is a 400 JSON error naming it.
"""

from __future__ import annotations

import hashlib
import json

from flask import current_app, jsonify, request
from sqlalchemy import select

from erp.core import events, transactions
from erp.extensions import db
from erp.orders import feeds, hooks
from erp.orders.api import api_bp, api_token_required, order_json

#: the default and the largest page of every feed
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
#: the largest sequence number (a signed 64-bit integer)
MAX_SEQUENCE = 2**63 - 1


def _bad(err: feeds.BadParameter):
    response = jsonify(error=err.message, parameter=err.name)
    response.status_code = 400
    return response


def _int_arg(name: str, *, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise feeds.BadParameter(name, f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise feeds.BadParameter(name, f"{name} must be at least {minimum}, not {value}.")
    if maximum is not None and value > maximum:
        raise feeds.BadParameter(name, f"{name} must be at most {maximum}, not {value}.")
    return value


def _limit() -> int:
    return _int_arg("limit", default=DEFAULT_LIMIT, minimum=1, maximum=MAX_LIMIT)


def _types() -> list[str]:
    wanted = sorted({part.strip() for raw in request.args.getlist("type")
                     for part in raw.split(",") if part.strip()})
    unknown = [t for t in wanted if t not in events.EVENT_TYPES]
    if unknown:
        raise feeds.BadParameter("type", f"type {unknown[0]!r} is not an event type; the "
                                         f"types are {', '.join(events.EVENT_TYPES)}.")
    return wanted


def sequence_committed() -> None:
    """Number the committed events that wait, so this pull sees them; cheap when none wait.

    The check reads without a lock; only when an event waits does the request take the
    outbox counter's lock (SQLite: the write lock) to number it, in its own transaction.
    """
    waiting = db.session.scalar(select(events.OutboxEvent.id)
                                .where(events.OutboxEvent.seq.is_(None)).limit(1))
    if waiting is None:
        return
    db.session.rollback()  # the reads so far were a read transaction; the sequencer writes
    with transactions.intent("write"):
        events.sequence_all()


@api_bp.get("/events")
@api_token_required
def event_feed():
    """Return the events after the cursor ``after`` (a sequence number), in feed order."""
    try:
        after = _int_arg("after", default=0, minimum=0, maximum=MAX_SEQUENCE)
        limit = _limit()
        types = _types()
    except feeds.BadParameter as err:
        return _bad(err)
    sequence_committed()
    found = events.page_json(after=after, limit=limit + 1, types=types)
    has_more = len(found) > limit
    found = found[:limit]
    # written out rather than jsonify'd: each event is already JSON text (events.page_json)
    body = (f'{{"events":[{",".join(text for _seq, text in found)}],'
            f'"next_cursor":{found[-1][0] if found else after},'
            f'"has_more":{"true" if has_more else "false"}}}\n')
    return current_app.response_class(body, mimetype="application/json")


def _since_and_cursor(name: str):
    """Read ``updated_since`` and the cursor parameter ``name``: ``(since, given, decoded)``.

    :raises feeds.BadParameter: naming the parameter that does not parse.
    """
    since = (feeds.parse_time(request.args["updated_since"], "updated_since")
             if request.args.get("updated_since") else None)
    given = request.args.get(name) or None
    return since, given, feeds.decode_cursor(given, name) if given else None


@api_bp.get("/orders")
@api_token_required
def order_feed():
    """Return the orders changed since ``updated_since``, oldest change first, by cursor."""
    try:
        since, given, after = _since_and_cursor("after")
        limit = _limit()
    except feeds.BadParameter as err:
        return _bad(err)
    orders = feeds.changed_orders(since=since, after=after, limit=limit + 1)
    has_more = len(orders) > limit
    orders = orders[:limit]
    tracking = hooks.tracking_numbers_for([order.id for order in orders]) if orders else {}
    last = orders[-1] if orders else None
    return jsonify(
        orders=[order_json(order, tracking_numbers=tracking.get(order.id, []))
                for order in orders],
        next_cursor=feeds.encode_cursor(last.updated_at, last.id) if last else given,
        has_more=has_more)


@api_bp.get("/products")
@api_token_required
def product_feed():
    """Return the catalog changed since ``updated_since``, by cursor, with a strong ETag.

    Inactive products and SKUs are listed with ``"active": false``, so the storefront can
    unpublish them.
    """
    try:
        since, given, cursor = _since_and_cursor("cursor")
        limit = _limit()
    except feeds.BadParameter as err:
        return _bad(err)
    rows = feeds.changed_products(since=since, after=cursor, limit=limit + 1)
    has_more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    body = {"products": feeds.products_json(rows),
            "next_cursor": feeds.encode_cursor(last[1], last[0].id) if last else given,
            "has_more": has_more}
    data = json.dumps(body, sort_keys=True, separators=(",", ":"))
    etag = hashlib.sha256(data.encode()).hexdigest()[:40]
    if request.if_none_match.contains_weak(etag):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(data, mimetype="application/json")
    response.set_etag(etag)  # strong: the bytes of the page
    response.headers["Cache-Control"] = "no-cache"
    return response
