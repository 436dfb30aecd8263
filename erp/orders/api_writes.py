"""The storefront's changes to an order on ``/api/v1``: cancel, hold, release, new address.

Each calls the order's service (:mod:`erp.orders.services.allocation`), which locks the order,
enforces its state table, writes the audit event and, through the state machine's listener,
the outbox event (``order.cancelled``, ``order.held``, ``order.released``). Refusals are JSON
in English: 409 for the order's state (naming it), 422 naming each bad field.

All are POSTs, so ``Idempotency-Key`` works as for ``POST /orders`` (a repeat with the same key
replays the first answer). Without a key, cancelling a cancelled order or holding a held one
answers 200 with the order and changes nothing: a retry of a request whose answer was lost is
not an error.
"""

from __future__ import annotations

from flask import g, jsonify, request
from sqlalchemy import select

from erp.core.errors import DomainError, ValidationError
from erp.core.locking import lock
from erp.extensions import db
from erp.orders import services
from erp.orders.api import api_bp, api_token_required, order_json
from erp.orders.models import ORDER_STATES, CustomerOrder, OrderState

#: the API's address fields -> the order's columns (as in ``POST /orders``)
ADDRESS_FIELDS = {"name": "ship_name", "address1": "address1", "address2": "address2",
                  "city": "city", "region": "region", "postal_code": "postal_code",
                  "country": "country", "phone": "phone"}
_API_NAMES = {column: name for name, column in ADDRESS_FIELDS.items()}


def _find(number: str) -> CustomerOrder | None:
    return db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == number))


def _not_found(number: str):
    return jsonify(error=f"No order has the number {number!r}."), 404


def _body() -> tuple[dict | None, object]:
    """Return the JSON object of the request (an empty body is ``{}``), or an error answer."""
    if not request.get_data(cache=True):
        return {}, None
    data = request.get_json(silent=True)
    if data is None:
        return None, (jsonify(error="The body must be JSON (Content-Type: "
                                    "application/json)."), 400)
    if not isinstance(data, dict):
        return None, (jsonify(errors={"": "must be a JSON object"}), 422)
    return data, None


def _refused(err: DomainError, order: CustomerOrder, field_names: dict[str, str] | None = None):
    """Answer a service's refusal: 422 naming the field, else 409 naming the order's state."""
    if isinstance(err, ValidationError):
        db.session.rollback()
        field = (field_names or {}).get(err.field or "", err.field or "")
        return jsonify(errors={field: err.message}), 422
    current = getattr(err, "current", None)
    state = (current.value if current is not None
             else ORDER_STATES.enum(order.state).value)  # read before the rollback expires it
    db.session.rollback()
    return jsonify(error=err.message, state=state), 409


def _answer(order: CustomerOrder, status: int = 200, **extra):
    """Build the answer, then commit (the body is read before the commit expires the order)."""
    body = {**order_json(order), **extra}
    services.mark_api_token_used(g.api_token)
    db.session.commit()
    return jsonify(body), status


def _reason(data: dict) -> tuple[str | None, object]:
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        return None, (jsonify(errors={"reason": "must be text"}), 422)
    return reason, None


def _with_reason(number: str, done: OrderState, change):
    """Apply ``change(order, reason=, actor=)`` to the locked order; ``done``: answer as it is.

    A repeat (the order already in ``done``) answers 200 with the order and changes nothing.
    """
    data, error = _body()
    if error:
        return error
    reason, error = _reason(data)
    if error:
        return error
    order = _find(number)
    if order is None:
        return _not_found(number)
    lock(order)
    if ORDER_STATES.enum(order.state) == done:
        return _answer(order)
    try:
        change(order, reason=reason or "", actor=None)
    except DomainError as err:
        return _refused(err, order)
    return _answer(order)


@api_bp.post("/orders/<path:number>/cancel")
@api_token_required
def cancel_order(number: str):
    """Cancel an order before it ships; a cancelled order is answered as it is (200).

    409 names the state of an order that shipped (after-sales takes it from there) or whose
    parcel already left; 422 without a reason.
    """
    return _with_reason(number, OrderState.cancelled, services.cancel_order)


@api_bp.post("/orders/<path:number>/hold")
@api_token_required
def hold_order(number: str):
    """Put an order on hold before it ships; a held order is answered as it is (200).

    409 names the state of an order that shipped or was cancelled; 422 without a reason.
    """
    return _with_reason(number, OrderState.on_hold, services.hold_order)


@api_bp.post("/orders/<path:number>/release")
@api_token_required
def release_order(number: str):
    """Take an order off hold; it goes back to allocation (or to where its goods are).

    409 when the order is not on hold, naming its state.
    """
    _data, error = _body()
    if error:
        return error
    order = _find(number)
    if order is None:
        return _not_found(number)
    lock(order)
    if ORDER_STATES.enum(order.state) != OrderState.on_hold:
        state = ORDER_STATES.enum(order.state).value
        db.session.rollback()
        return jsonify(error=f'Order "{number}" is not on hold, so there is nothing to '
                             f'release; it is "{state}".', state=state), 409
    try:
        services.release_order(order, actor=None)
    except DomainError as err:
        return _refused(err, order)
    return _answer(order)


@api_bp.post("/orders/<path:number>/address")
@api_token_required
def update_order_address(number: str):
    """Correct the shipping address of an order not yet shipped (fields given are changed).

    A packed order's printed labels are voided (``notices`` says which need printing again).
    409 for a shipped or cancelled order, naming its state; 422 naming each bad field.
    """
    data, error = _body()
    if error:
        return error
    order = _find(number)
    if order is None:
        return _not_found(number)
    errors = {name: "is not an address field; the fields are "
                    f"{', '.join(ADDRESS_FIELDS)}" for name in data if name not in ADDRESS_FIELDS}
    errors.update({name: "must be text or null" for name, value in data.items()
                   if name in ADDRESS_FIELDS and value is not None
                   and not isinstance(value, str)})
    if not data:
        errors[""] = "give at least one address field"
    if errors:
        return jsonify(errors=errors), 422
    fields = {ADDRESS_FIELDS[name]: value for name, value in data.items()}
    lock(order)
    if not services.can_edit_address(order):
        return _state_refusal(order)
    problems = services.address_problems(order, fields)
    if problems:
        db.session.rollback()
        return jsonify(errors={_API_NAMES.get(f, f): m for f, m in problems.items()}), 422
    try:
        changes = services.update_shipping_address(order, fields, actor=None)
    except DomainError as err:
        return _refused(err, order, _API_NAMES)
    return _answer(order, changed=sorted(_API_NAMES.get(f, f) for f in changes),
                   notices=[str(notice) for notice in changes.notices])


def _state_refusal(order: CustomerOrder):
    state = ORDER_STATES.enum(order.state).value
    db.session.rollback()
    return jsonify(error=f'The shipping address of order "{order.number}" can no longer be '
                         f'changed: it is "{state}".', state=state), 409
