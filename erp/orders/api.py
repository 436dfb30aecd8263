"""The storefront's JSON API (``/api/v1``): order intake, order status, stock, OpenAPI.

Every view but the OpenAPI document needs ``Authorization: Bearer <token>`` with a token an
admin created (:func:`erp.orders.services.create_api_token`); it never uses the session login.

Requests are rate limited (``ERP_API_RATE_LIMIT``, e.g. "600 per minute"), counted per token
(per address for the OpenAPI document and for requests without a valid token); over the limit
the answer is 429 JSON with a ``Retry-After`` header.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request
from flask_limiter.util import get_remote_address
from sqlalchemy import select

from erp.catalog.models import Sku, SkuStatus
from erp.core import idempotency
from erp.core.errors import DomainError
from erp.core.permissions import public
from erp.extensions import db, limiter
from erp.orders import hooks, services
from erp.orders.models import CustomerOrder
from erp.warehouse.queries import stock_availability_query

api_bp = Blueprint("orders_api", __name__)

_TOKEN_KEY = "erp.api_token"  # request.environ key: the token looked up once per request


def current_api_token():
    """Return the active token named by the request's bearer header, or None.

    Looked up once per request (the rate limit's key and the view both need it).
    """
    environ = request.environ
    if _TOKEN_KEY not in environ:
        scheme, _, plaintext = request.headers.get("Authorization", "").partition(" ")
        environ[_TOKEN_KEY] = (services.find_api_token(plaintext.strip())
                               if scheme.lower() == "bearer" and plaintext.strip() else None)
    return environ[_TOKEN_KEY]


def rate_limit_key() -> str:
    """Count requests per API token; per address for the OpenAPI document or without a token."""
    if request.endpoint != "orders_api.openapi":
        token = current_api_token()
        if token is not None:
            return f"token:{token.id}"
    return f"address:{get_remote_address()}"


limiter.shared_limit(lambda: current_app.config["ERP_API_RATE_LIMIT"], scope="storefront-api",
                     key_func=rate_limit_key)(api_bp)


def idempotency_scope() -> str | None:
    """Whose ``Idempotency-Key`` this is: the token's (no token, no key handling)."""
    token = current_api_token()
    return f"token:{token.id}" if token is not None else None


idempotency.init_blueprint(api_bp, idempotency_scope)


@api_bp.errorhandler(429)
def too_many_requests(err):
    """Answer 429 JSON saying the limit and when to retry, with a Retry-After header."""
    breached = limiter.current_limit
    retry_after = max(1, math.ceil(breached.window[0] - time.time())) if breached else 60
    item = getattr(getattr(err, "limit", None), "limit", None)
    who = "token" if rate_limit_key().startswith("token:") else "address"
    if item is not None:
        unit = item.GRANULARITY.name
        period = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
        limit_text = f"at most {item.amount} per {period} for this {who}"
    else:
        limit_text = f"too many requests for this {who}"
    response = jsonify(error=f"Too many requests: {limit_text}; "
                             f"retry after {retry_after} seconds.")
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def _unauthorized(message: str):
    response = jsonify(error=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="erp"'
    return response


def api_token_required(view: Callable) -> Callable:
    """Accept the request only with an active bearer token (else 401 JSON); set g.api_token."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, plaintext = header.partition(" ")
        if scheme.lower() != "bearer" or not plaintext.strip():
            return _unauthorized("An API token is required: Authorization: Bearer <token>.")
        token = current_api_token()
        if token is None:
            return _unauthorized("The API token is unknown or revoked.")
        g.api_token = token
        return view(*args, **kwargs)

    wrapped.api = True
    return wrapped


def order_json(order: CustomerOrder, *, tracking: bool = True,
               tracking_numbers: list[str] | None = None) -> dict:
    """Return an order as the API shows it.

    ``tracking=False`` skips the look-up of tracking numbers (a just-created order has none);
    a list (``tracking_numbers``) gives them, looked up for a whole page at once.
    """
    if tracking_numbers is None:
        tracking_numbers = (hooks.tracking_numbers_for([order.id]).get(order.id, [])
                            if tracking else [])
    return {
        "number": order.number, "state": order.state.value, "channel": order.channel,
        "placed_at": order.placed_at.isoformat(), "customer_name": order.customer_name,
        "email": order.email, "phone": order.phone,
        "shipping_address": {"name": order.ship_name, "address1": order.address1,
                             "address2": order.address2, "city": order.city,
                             "region": order.region, "postal_code": order.postal_code,
                             "country": order.country},
        "currency": order.currency, "shipping_charge": str(order.shipping_charge),
        "shipping_service": order.shipping_service, "ioss_number": order.ioss_number,
        "buyer_tax_id": order.buyer_tax_id, "payment_method": order.payment_method,
        "notes": order.notes, "priority": order.priority,
        "hold_reason": order.hold_reason,
        "trade_mode": order.trade_mode,
        "payment": payment_json(order),
        "lines": [_line_json(line) for line in order.lines],
        "tracking_numbers": tracking_numbers,
        "updated_at": _timestamp(order.updated_at),
    }


def payment_json(order: CustomerOrder) -> dict | None:
    """Return the order's payment as the API shows it, or None when it carries none."""
    if order.payment_provider is None and order.payment_transaction is None \
            and order.payment_amount is None and order.paid_at is None:
        return None
    return {"provider": order.payment_provider, "transaction": order.payment_transaction,
            "amount": str(order.payment_amount) if order.payment_amount is not None else None,
            "currency": order.payment_currency, "paid_at": _timestamp(order.paid_at)}


def _line_json(line) -> dict:
    item = {"sku": line.sku.code, "quantity": line.quantity,
            "unit_price": str(line.unit_price), "allocated_quantity": line.allocated_qty}
    if line.mto_size is not None:
        item["size"] = line.mto_size
    if line.measurements:
        item["measurements"] = json.loads(line.measurements)
    return item


def _timestamp(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


@api_bp.post("/orders")
@api_token_required
def create_order():
    """Take in one order; 201 when created, 200 when its number exists with the same values.

    422 names each bad field (including why the order cannot ship); 409 names what differs
    from the stored order of the same number.
    """
    data = request.get_json(silent=True)
    if data is None:
        return jsonify(error="The body must be JSON (Content-Type: application/json)."), 400
    if not isinstance(data, dict):
        return jsonify(errors={"": "must be a JSON object"}), 422
    # the setting is read only for an order that does not say its trade mode
    mode = data.get("trade_mode")
    cleaned, errors = services.validate_order_payload(
        data, default_trade_mode=None if mode not in (None, "") else services.default_trade_mode())
    if errors:
        return jsonify(errors=errors), 422
    try:
        order, created = services.create_order(cleaned, actor=None)
    except services.OrderRejected as err:
        db.session.rollback()
        return jsonify(errors=err.errors), 422
    except services.OrderConflict as err:
        db.session.rollback()
        return jsonify(error=err.message, differences=err.differences), 409
    except DomainError as err:  # e.g. production refusing a paid order (hooks.orders_paid)
        db.session.rollback()
        return jsonify(errors={err.field or "": err.message}), 422
    services.mark_api_token_used(g.api_token)
    # built before the commit, which would expire (and reload) the order
    body = order_json(order, tracking=not created)
    db.session.commit()
    return jsonify(body), 201 if created else 200


@api_bp.get("/orders/<path:number>")
@api_token_required
def order_detail(number: str):
    """Return one order by its storefront number: state, lines, tracking numbers."""
    order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == number))
    if order is None:
        return jsonify(error=f"No order has the number {number!r}."), 404
    return jsonify(order_json(order))


@api_bp.get("/stock")
@api_token_required
def stock():
    """Return the stock of every active SKU (or of the ``sku`` codes asked).

    ``available`` is exactly what allocation can still reserve (active storage bins not
    frozen by a count); ``inbound`` waits in receiving bins to be put away; ``blocked`` is in
    quarantine, returns, packing or shipping bins, inactive bins or frozen by a count.
    """
    codes = [c.strip().upper() for c in request.args.getlist("sku") if c.strip()]
    stmt = select(Sku.id, Sku.code).where(Sku.status == SkuStatus.active)
    if codes:
        stmt = stmt.where(Sku.code.in_(codes))
    skus = dict(db.session.execute(stmt).all())
    figures = {row.sku_id: row for row in db.session.execute(
        stock_availability_query(list(skus) if codes else None))}
    items = sorted((_stock_item(code, figures.get(ident)) for ident, code in skus.items()),
                   key=lambda item: item["sku"])
    return jsonify(stock=items)


def _stock_item(code: str, row) -> dict:
    if row is None:
        return {"sku": code, "available": 0, "inbound": 0, "blocked": 0}
    return {"sku": code, "available": max(int(row.available), 0), "inbound": int(row.inbound),
            "blocked": int(row.blocked)}


@api_bp.get("/openapi.json")
@public
def openapi():
    """Serve the OpenAPI 3.1 document describing this API."""
    from erp.orders.openapi import OPENAPI
    return jsonify(OPENAPI)


from erp.orders import api_feeds, api_writes  # noqa: E402,F401 - their routes join api_bp
