"""Order intake: one validation for the JSON API and the Excel import, creation, API tokens.

:func:`validate_order_payload` is pure (no database): it checks the shape and formats of an
order and returns the cleaned values with every problem by field. :func:`create_order` then
resolves the SKUs (one query per call) and stores the order, idempotent on its number.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from erp.catalog.models import Sku
from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import ValidationError
from erp.core.models import utcnow
from erp.core.money import validate_payment_currency
from erp.extensions import db
from erp.orders.models import ApiToken, CustomerOrder, CustomerOrderLine, OrderState

#: countries whose addresses have no postal code, so none is required there (ISO alpha-2).
#: Hong Kong, Macau, the Gulf states, and several others without a national postcode system.
#: Ireland (Eircode) is here too: Eircodes exist but are optional for delivery.
NO_POSTAL_CODE_COUNTRIES = frozenset({
    "AE", "AG", "AO", "AW", "BF", "BI", "BJ", "BO", "BS", "BW", "BZ", "CD", "CF", "CG", "CI",
    "CK", "CM", "DJ", "DM", "ER", "FJ", "GD", "GH", "GM", "GQ", "GY", "HK", "IE", "KI", "KM",
    "KN", "KP", "LC", "ML", "MO", "MR", "MW", "NR", "NU", "QA", "RW", "SB", "SC", "SL", "SR",
    "ST", "SY", "TD", "TF", "TG", "TK", "TL", "TO", "TV", "UG", "VU", "YE", "ZW",
})

#: text fields: (key, required, max length); lengths are the model's columns
TEXT_FIELDS: tuple[tuple[str, bool, int | None], ...] = (
    ("number", True, 40), ("customer_name", True, 120), ("email", False, 254),
    ("phone", False, 40), ("ship_name", True, 120), ("address1", True, 200),
    ("address2", False, 200), ("city", True, 100), ("region", False, 100),
    ("postal_code", False, 20), ("shipping_service", False, 40), ("ioss_number", False, 20),
    ("buyer_tax_id", False, 40), ("notes", False, 10_000), ("channel", False, 40),
)
#: the shipping address's keys in the JSON payload (``shipping_address.name`` is ship_name)
ADDRESS_KEYS = {"name": "ship_name", "address1": "address1", "address2": "address2",
                "city": "city", "region": "region", "postal_code": "postal_code",
                "country": "country"}
MAX_LINES = 500
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IOSS = re.compile(r"^IM\d{10}$")
_MONEY_LIMIT = Decimal("1e12")


class OrderRejected(ValidationError):
    """An order refused with reasons by field (``errors``); nothing of it was stored."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        """Keep every field's message; the first makes the exception's text."""
        self.errors = dict(errors)
        field, message = next(iter(self.errors.items()))
        super().__init__(f"To create the order, you must fix {field}: {message}.", field=field)


# --------------------------------------------------------------------------- validation


def _text(value: Any, field: str, errors: dict[str, str], *, required: bool,
          limit: int | None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field] = "is required"
        return None
    if not isinstance(value, str):
        errors[field] = "must be text"
        return None
    value = value.strip()
    if limit is not None and len(value) > limit:
        errors[field] = f"is too long (at most {limit} characters, this has {len(value)})"
        return None
    return value


def _integer(value: Any, field: str, errors: dict[str, str], *, minimum: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        errors[field] = "must be a whole number"
        return None
    if value != int(value):
        errors[field] = "must be a whole number"
        return None
    value = int(value)
    if minimum is not None and value < minimum:
        errors[field] = f"must be at least {minimum}"
        return None
    if abs(value) > 1_000_000_000:
        errors[field] = "is too large"
        return None
    return value


def _amount(value: Any, field: str, errors: dict[str, str]) -> Decimal | None:
    """An amount >= 0 with at most 4 decimals, from a JSON number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        errors[field] = "must be a number"
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errors[field] = "must be a number"
        return None
    if not amount.is_finite():
        errors[field] = "must be a number"
    elif amount < 0:
        errors[field] = "must not be negative"
    elif amount >= _MONEY_LIMIT:
        errors[field] = "is too large"
    elif amount.as_tuple().exponent < -4:
        errors[field] = "may have at most 4 decimals"
    else:
        return amount
    return None


def _placed_at(value: Any, errors: dict[str, str]) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            errors["placed_at"] = "must be an ISO 8601 date and time, e.g. 2026-11-25T13:45:00Z"
            return None
    elif value is None or value == "":
        errors["placed_at"] = "is required"
        return None
    else:
        errors["placed_at"] = "must be an ISO 8601 date and time, e.g. 2026-11-25T13:45:00Z"
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def validate_order_payload(data: Mapping) -> tuple[dict[str, Any], dict[str, str]]:
    """Check an order as the API receives it; return ``(cleaned, errors)``.

    ``data`` holds ``number``, ``placed_at``, ``customer_name``, ``email``, ``phone``,
    ``shipping_address`` (``name``, ``address1``, ``address2``, ``city``, ``region``,
    ``postal_code``, ``country``), ``currency``, ``shipping_charge``, ``shipping_service``,
    ``ioss_number``, ``buyer_tax_id``, ``notes``, ``channel``, ``priority`` and ``lines``
    (each ``sku``, a SKU code or barcode, ``quantity`` and ``unit_price``). ``errors`` maps a
    field path (``"shipping_address.country"``, ``"lines[1].quantity"``) to its message;
    ``cleaned`` is complete only when ``errors`` is empty. No database access.
    """
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if not isinstance(data, Mapping):
        return {}, {"": "must be a JSON object"}
    address = data.get("shipping_address")
    if address is None:
        errors["shipping_address"] = "is required"
        address = {}
    elif not isinstance(address, Mapping):
        errors["shipping_address"] = "must be an object"
        address = {}
    flat = dict(data)
    for key, target in ADDRESS_KEYS.items():
        flat[target] = address.get(key)
    paths = {target: f"shipping_address.{key}" for key, target in ADDRESS_KEYS.items()}

    for key, required, limit in TEXT_FIELDS:
        path = paths.get(key, key)
        if "shipping_address" in errors and key in paths:
            continue
        cleaned[key] = _text(flat.get(key), path, errors, required=required, limit=limit)
    cleaned["channel"] = cleaned["channel"] or "webshop"
    if cleaned.get("email") and not _EMAIL.match(cleaned["email"]):
        errors["email"] = "is not an email address"
    if cleaned.get("ioss_number"):
        cleaned["ioss_number"] = cleaned["ioss_number"].upper().replace(" ", "")
        if not _IOSS.match(cleaned["ioss_number"]):
            errors["ioss_number"] = "must be IM followed by 10 digits"
    cleaned["placed_at"] = _placed_at(data.get("placed_at"), errors)

    if "shipping_address" not in errors:
        country = address.get("country")
        if country is None or country == "":
            errors["shipping_address.country"] = "is required"
        elif not isinstance(country, str):
            errors["shipping_address.country"] = "must be text"
        else:
            try:
                cleaned["country"] = normalize_country(country)
            except ValueError:
                errors["shipping_address.country"] = (
                    f"{country!r} is not an ISO 3166-1 country code (e.g. DE, US, GB)")
        if (cleaned.get("country") and not cleaned.get("postal_code")
                and cleaned["country"] not in NO_POSTAL_CODE_COUNTRIES
                and "shipping_address.postal_code" not in errors):
            errors["shipping_address.postal_code"] = (
                f"is required for addresses in {cleaned['country']}")

    currency = data.get("currency")
    if currency is None or currency == "":
        errors["currency"] = "is required"
    elif not isinstance(currency, str):
        errors["currency"] = "must be text"
    else:
        try:
            cleaned["currency"] = validate_payment_currency(currency)
        except ValueError as err:
            errors["currency"] = str(err)

    charge = data.get("shipping_charge")
    cleaned["shipping_charge"] = (Decimal(0) if charge is None or charge == ""
                                  else _amount(charge, "shipping_charge", errors))
    priority = data.get("priority")
    cleaned["priority"] = 0 if priority is None else _integer(priority, "priority", errors,
                                                              minimum=None)

    lines = data.get("lines")
    cleaned["lines"] = []
    if lines is None:
        errors["lines"] = "is required"
    elif not isinstance(lines, list):
        errors["lines"] = "must be a list"
    elif not lines:
        errors["lines"] = "needs at least one line"
    elif len(lines) > MAX_LINES:
        errors["lines"] = f"may have at most {MAX_LINES} lines"
    else:
        for i, line in enumerate(lines):
            prefix = f"lines[{i}]"
            if not isinstance(line, Mapping):
                errors[prefix] = "must be an object"
                continue
            sku = _text(line.get("sku"), f"{prefix}.sku", errors, required=True, limit=40)
            quantity = line.get("quantity")
            if quantity is None:
                errors[f"{prefix}.quantity"] = "is required"
            else:
                quantity = _integer(quantity, f"{prefix}.quantity", errors, minimum=1)
            price = line.get("unit_price")
            if price is None or price == "":
                errors[f"{prefix}.unit_price"] = "is required"
            else:
                price = _amount(price, f"{prefix}.unit_price", errors)
            cleaned["lines"].append({"sku": sku, "quantity": quantity, "unit_price": price})
    return cleaned, errors


# --------------------------------------------------------------------------- creation


# Statements built once: an API request creates one order, and building (and cache-keying)
# these selects cost more than running them (the order_intake benchmark).
_SKUS_BY_KEY = select(Sku).where(or_(Sku.code.in_(bindparam("codes", expanding=True)),
                                     Sku.barcode.in_(bindparam("barcodes", expanding=True))))
_ORDER_BY_NUMBER = select(CustomerOrder).where(CustomerOrder.number == bindparam("number"))
_INSERT_ORDER = insert(CustomerOrder.__table__).returning(CustomerOrder.__table__.c.id)
_INSERT_LINES = insert(CustomerOrderLine.__table__).returning(
    CustomerOrderLine.__table__.c.id, sort_by_parameter_order=True)
_MONEY = Decimal("0.0001")  # the scale of the Money columns, which round-trip to 4 places


def _active_skus(keys: Iterable[str]) -> dict[str, Sku]:
    """Return ``{code or barcode: Sku}`` for the active SKUs among ``keys`` (one query)."""
    keys = {k for k in keys if k}
    if not keys:
        return {}
    found: dict[str, Sku] = {}
    for sku in db.session.scalars(_SKUS_BY_KEY, {"codes": sorted({k.upper() for k in keys}),
                                                 "barcodes": sorted(keys)}):
        if getattr(sku.status, "value", sku.status) != "active":
            continue
        found[sku.code] = sku
        if sku.barcode:
            found[sku.barcode] = sku
    return {k: found[k.upper()] if k.upper() in found else found[k]
            for k in keys if k.upper() in found or k in found}


def resolve_skus(keys: Iterable[str]) -> dict[str, int]:
    """Return ``{code or barcode: sku id}`` for the active SKUs among ``keys`` (one query)."""
    return {key: sku.id for key, sku in _active_skus(keys).items()}


def _order_values(cleaned: Mapping[str, Any]) -> dict[str, Any]:
    keys = [k for k, _, _ in TEXT_FIELDS] + ["placed_at", "country", "currency",
                                              "shipping_charge", "priority"]
    return {k: cleaned.get(k) for k in keys}


def _persistent(obj):
    """Attach an object whose row was just inserted to the session, without another INSERT."""
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


def create_order(cleaned: Mapping[str, Any], *, actor) -> tuple[CustomerOrder, bool]:
    """Store a validated order (from :func:`validate_order_payload`) in state ``new``.

    Idempotent on the order number: when it exists, that order is returned with ``False``
    and nothing is written.

    :raises OrderRejected: naming each line whose SKU is unknown or not active.
    """
    existing = db.session.scalar(_ORDER_BY_NUMBER, {"number": cleaned["number"]})
    if existing is not None:
        return existing, False
    skus = _active_skus(line["sku"] for line in cleaned["lines"])
    errors = {f"lines[{i}].sku": f"no active SKU has the code or barcode {line['sku']!r}"
              for i, line in enumerate(cleaned["lines"]) if line["sku"] not in skus}
    if errors:
        raise OrderRejected(errors)
    # Core INSERTs rather than the unit of work (a request stores one order, and the flush
    # machinery cost more than the SQL); the objects returned are kept true to the rows, with
    # money at the 4 places it comes back from the database with.
    values = _order_values(cleaned)
    values.update(state=OrderState.new, channel=values["channel"] or "webshop",
                  priority=values["priority"] or 0, created_at=utcnow(),
                  shipping_charge=Decimal(values["shipping_charge"] or 0).quantize(_MONEY))
    order_id = db.session.execute(_INSERT_ORDER, values).scalar_one()
    rows = [{"order_id": order_id, "sku_id": skus[line["sku"]].id, "quantity": line["quantity"],
             "unit_price": Decimal(line["unit_price"]).quantize(_MONEY), "allocated_qty": 0}
            for line in cleaned["lines"]]
    line_ids = db.session.execute(_INSERT_LINES, rows).scalars().all()
    order = _persistent(CustomerOrder(id=order_id, hold_reason=None, cancel_reason=None,
                                      **values))
    lines = []
    for ident, row, line in zip(line_ids, rows, cleaned["lines"], strict=True):
        item = _persistent(CustomerOrderLine(id=ident, **row))
        set_committed_value(item, "order", order)
        set_committed_value(item, "sku", skus[line["sku"]])
        lines.append(item)
    set_committed_value(order, "lines", lines)
    audit.record_many(CustomerOrder.__tablename__, "customer_order.created", [
        (order_id, order.number, {"channel": order.channel, "lines": len(lines),
                                  "country": order.country})], actor=actor)
    return order, True


# --------------------------------------------------------------------------- API tokens


def hash_token(plaintext: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_api_token(name: str, *, actor) -> tuple[ApiToken, str]:
    """Create a token for the storefront; return it and its plaintext (shown once, not kept)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("To create an API token, you must give it a name.", field="name")
    if len(name) > 120:
        raise ValidationError("To create an API token, you must keep its name to 120 "
                              "characters.", field="name")
    plaintext = "erp_" + secrets.token_urlsafe(32)
    token = ApiToken(name=name, prefix=plaintext[:12], token_hash=hash_token(plaintext),
                     created_by_id=getattr(actor, "id", None))
    db.session.add(token)
    db.session.flush()
    audit.record(token, "api_token.created", actor=actor, changes={"prefix": token.prefix})
    return token, plaintext


def revoke_api_token(token: ApiToken, *, actor) -> ApiToken:
    """Revoke a token: it is refused from now on.

    :raises ValidationError: if the token was revoked already.
    """
    if token.revoked_at is not None:
        raise ValidationError(f'To revoke API token "{token.name}", it must still be active; '
                              "it was revoked already.")
    token.revoked_at = utcnow()
    audit.record(token, "api_token.revoked", actor=actor)
    db.session.flush()
    return token


_TOKEN_BY_HASH = select(ApiToken).where(ApiToken.token_hash == bindparam("token_hash"))
_SET_TOKEN_USED = (update(ApiToken.__table__)
                   .where(ApiToken.__table__.c.id == bindparam("token_id"))
                   .values(last_used_at=bindparam("at")))


def mark_api_token_used(token: ApiToken, *, at: datetime | None = None) -> ApiToken:
    """Record that a request used the token now (``last_used_at``); not audited.

    One Core UPDATE rather than a flush of the token: every API order writes it.

    :raises ValidationError: if the token was revoked.
    """
    if not token.active:
        raise ValidationError(f'To use API token "{token.name}", it must still be active; '
                              "it was revoked.")
    at = at or utcnow()
    db.session.execute(_SET_TOKEN_USED, {"token_id": token.id, "at": at})
    set_committed_value(token, "last_used_at", at)
    return token


def find_api_token(plaintext: str | None) -> ApiToken | None:
    """Return the active token with this plaintext, or None (missing, wrong or revoked)."""
    if not plaintext:
        return None
    token = db.session.scalar(_TOKEN_BY_HASH, {"token_hash": hash_token(plaintext)})
    return token if token is not None and token.active else None


__all__ = ["NO_POSTAL_CODE_COUNTRIES", "OrderRejected", "create_api_token",
           "create_order", "find_api_token", "hash_token", "mark_api_token_used", "resolve_skus",
           "revoke_api_token", "validate_order_payload"]
