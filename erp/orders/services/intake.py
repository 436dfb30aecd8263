"""Order intake: one validation for the JSON API and the Excel import, creation, API tokens.

:func:`validate_order_payload` is pure (no database): it checks the shape and formats of an
order and returns the cleaned values with every problem by field. :func:`create_order` then
resolves the SKUs (one query per call) and stores the order, idempotent on its number.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import bindparam, insert, inspect, or_, select, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from erp.catalog.models import Product, Sku
from erp.core import audit, events
from erp.core import settings as core_settings
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l
from erp.core.models import utcnow
from erp.core.money import validate_payment_currency
from erp.core.settings import SettingDef, _positive_int, declare
from erp.extensions import core_connection, db
from erp.orders import hooks
from erp.orders.events import accepted_payload
from erp.orders.models import ApiToken, CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.payments import normalize_method

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
    ("payment_method", False, 20),
)
#: the shipping address's keys in the JSON payload (``shipping_address.name`` is ship_name)
ADDRESS_KEYS = {"name": "ship_name", "address1": "address1", "address2": "address2",
                "city": "city", "region": "region", "postal_code": "postal_code",
                "country": "country"}
MAX_LINES = 500
#: how far ahead of now an order may be dated (clocks drift; a storefront abroad is hours ahead)
MAX_PLACED_AHEAD = timedelta(days=1)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IOSS = re.compile(r"^IM\d{10}$")
_MONEY_LIMIT = Decimal("1e12")


#: the customs trade modes an order may be taken in under ("" or none: an ordinary parcel)
TRADE_MODES = ("9610",)
#: the payment's keys in the JSON payload -> the order's columns, with each text's length
PAYMENT_KEYS = {"provider": "payment_provider", "transaction": "payment_transaction",
                "amount": "payment_amount", "currency": "payment_currency",
                "paid_at": "paid_at"}
_PAYMENT_TEXT = {"provider": 100, "transaction": 60}
SIZE_LENGTH = 30
_MEASUREMENT_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,39}$")


def parse_trade_mode(value: str) -> str:
    """Parse the ``default_trade_mode`` setting: empty (none) or ``9610``.

    :raises ValueError: for any other text.
    """
    text = str(value or "").strip()
    if text and text not in TRADE_MODES:
        raise ValueError(_("must be empty (no customs trade mode) or %(modes)s, got %(value)s",
                           modes=", ".join(TRADE_MODES), value=repr(text)))
    return text


declare(SettingDef(
    "default_trade_mode", _l("Default customs trade mode of orders"), parse_trade_mode, "",
    _l("The trade mode of an order taken in (API or order sheet) that does not say one: empty "
       "for none, or 9610 (cross-border B2C export from China), under which the payment "
       "provider, transaction, amount, currency and paid time are required."), optional=True))


def default_trade_mode() -> str | None:
    """Return the ``default_trade_mode`` setting, None when it is empty."""
    return core_settings.get("default_trade_mode") or None


declare(SettingDef(
    "order_review_quantity", _l("Order line quantity held for review"), _positive_int, 100,
    _l("An order taken in (API or order sheet) with a line of more units than this is put on "
       "hold for review, with the line named as the reason.")))


class OrderRejected(ValidationError):
    """An order refused with reasons by field (``errors``); nothing of it was stored."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        """Keep every field's message; the first makes the exception's text."""
        self.errors = dict(errors)
        field, message = next(iter(self.errors.items()))
        super().__init__(_("To create the order, you must fix %(field)s: %(message)s.",
                           field=field, message=message), field=field)


class OrderConflict(DomainError):
    """An order number that exists already was sent again with different values.

    ``differences`` maps each field path (as the API names it: ``"lines"``,
    ``"shipping_address.city"``, ``"shipping_service"``) to what differs; nothing was written.
    """

    status_code = 409

    def __init__(self, number: str, differences: Mapping[str, str]) -> None:
        """Keep every difference; the message lists them all."""
        self.number = number
        self.differences = dict(differences)
        listed = "; ".join(f"{path}: {text}" for path, text in self.differences.items())
        super().__init__(_('Order "%(number)s" exists already with different values '
                           "(%(differences)s); send a new order number for a new order, or the "
                           "same values to read the existing one.", number=number,
                           differences=listed), field=next(iter(self.differences)))


# --------------------------------------------------------------------------- validation


def _text(value: Any, field: str, errors: dict[str, str], *, required: bool,
          limit: int | None) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field] = _("is required")
        return None
    if not isinstance(value, str):
        errors[field] = _("must be text")
        return None
    value = value.strip()
    if limit is not None and len(value) > limit:
        errors[field] = _("is too long (at most %(limit)s characters, this has %(length)s)",
                          limit=limit, length=len(value))
        return None
    return value


def _integer(value: Any, field: str, errors: dict[str, str], *, minimum: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        errors[field] = _("must be a whole number")
        return None
    if value != int(value):
        errors[field] = _("must be a whole number")
        return None
    value = int(value)
    if minimum is not None and value < minimum:
        errors[field] = _("must be at least %(minimum)s", minimum=minimum)
        return None
    if abs(value) > 1_000_000_000:
        errors[field] = _("is too large")
        return None
    return value


def _amount(value: Any, field: str, errors: dict[str, str]) -> Decimal | None:
    """An amount >= 0 with at most 4 decimals, from a JSON number or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        errors[field] = _("must be a number")
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        errors[field] = _("must be a number")
        return None
    if not amount.is_finite():
        errors[field] = _("must be a number")
    elif amount < 0:
        errors[field] = _("must not be negative")
    elif amount >= _MONEY_LIMIT:
        errors[field] = _("is too large")
    elif amount.as_tuple().exponent < -4:
        errors[field] = _("may have at most 4 decimals")
    else:
        return amount
    return None


def _placed_at(value: Any, errors: dict[str, str], now: datetime) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            errors["placed_at"] = _("must be an ISO 8601 date and time, e.g. 2026-11-25T13:45:00Z")
            return None
    elif value is None or value == "":
        errors["placed_at"] = _("is required")
        return None
    else:
        errors["placed_at"] = _("must be an ISO 8601 date and time, e.g. 2026-11-25T13:45:00Z")
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment > now + MAX_PLACED_AHEAD:
        errors["placed_at"] = _("is %(moment)s, more than a day ahead of now (%(now)s); an "
                                "order cannot be placed in the future",
                                moment=moment.isoformat(timespec="minutes"),
                                now=now.isoformat(timespec="minutes"))
        return None
    return moment


def _moment(value: Any, field: str, errors: dict[str, str], now: datetime) -> datetime | None:
    """A date and time in ISO 8601 with its zone (Z or an offset), in UTC; at most a day ahead."""
    message = _("must be an ISO 8601 date and time with its zone, e.g. 2026-11-25T13:45:00Z or "
                "2026-11-25T21:45:00+08:00")
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
        except ValueError:
            errors[field] = message
            return None
    else:
        errors[field] = message
        return None
    if moment.tzinfo is None:
        errors[field] = message
        return None
    moment = moment.astimezone(UTC)
    if moment > now + MAX_PLACED_AHEAD:
        errors[field] = _("is %(moment)s, more than a day ahead of now (%(now)s)",
                          moment=moment.isoformat(timespec="minutes"),
                          now=now.isoformat(timespec="minutes"))
        return None
    return moment


def _payment_amount(value: Any, field: str, errors: dict[str, str]) -> Decimal | None:
    amount = _amount(value, field, errors)
    if amount is None:
        return None
    if amount <= 0:
        errors[field] = _("must be more than 0")
    elif amount.as_tuple().exponent < -2:
        errors[field] = _("may have at most 2 decimals")
    else:
        return amount
    return None


def _payment(data: Mapping, cleaned: dict[str, Any], errors: dict[str, str], now: datetime,
             default_mode: str | None) -> None:
    """Clean ``trade_mode`` and ``payment`` into the order's columns (``cleaned``)."""
    mode = data.get("trade_mode")
    if mode is None or (isinstance(mode, str) and not mode.strip()):
        mode = default_mode or None
    elif not isinstance(mode, (str, int)) or isinstance(mode, bool):
        errors["trade_mode"] = _("must be text")
        mode = None
    else:
        mode = str(mode).strip()
        if mode not in TRADE_MODES:
            errors["trade_mode"] = _("must be empty (none) or %(modes)s, got %(value)s",
                                     modes=", ".join(TRADE_MODES), value=repr(mode))
            mode = None
    cleaned["trade_mode"] = mode
    for column in PAYMENT_KEYS.values():
        cleaned[column] = None
    payment = data.get("payment")
    if payment is None:
        payment = {}
    elif not isinstance(payment, Mapping):
        errors["payment"] = _("must be an object")
        return
    unknown = sorted(str(k) for k in payment if k not in PAYMENT_KEYS)
    if unknown:
        errors["payment"] = _("has unknown fields %(fields)s; the fields are %(known)s",
                              fields=", ".join(unknown), known=", ".join(PAYMENT_KEYS))
    for key, column in PAYMENT_KEYS.items():
        path = f"payment.{key}"
        value = payment.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if mode == "9610":
                errors[path] = _("is required for an order under trade mode %(mode)s",
                                 mode=mode)
            continue
        if key in _PAYMENT_TEXT:
            cleaned[column] = _text(value, path, errors, required=False,
                                    limit=_PAYMENT_TEXT[key])
        elif key == "amount":
            cleaned[column] = _payment_amount(value, path, errors)
        elif key == "currency":
            if not isinstance(value, str):
                errors[path] = _("must be text")
                continue
            try:
                cleaned[column] = validate_payment_currency(value.strip())
            except ValueError as err:
                errors[path] = str(err)
        else:
            cleaned[column] = _moment(value, path, errors, now)


def measurements_text(measurements: Mapping[str, Decimal] | None) -> str | None:
    """Return measurements as stored: JSON, keys sorted, values as decimal strings."""
    if not measurements:
        return None
    return json.dumps({code: format(Decimal(value).normalize(), "f")
                       for code, value in sorted(measurements.items())}, sort_keys=True)


def stored_measurements(text: str | None) -> dict[str, Decimal]:
    """Return a line's stored measurements (``CustomerOrderLine.measurements``) as Decimals."""
    if not text:
        return {}
    return {code: Decimal(value) for code, value in json.loads(text).items()}


def parse_measurements_text(text: str) -> dict[str, str]:
    """Parse the order sheet's measurements, ``chest_cm=96.5; waist_cm=80``, to a dict.

    :raises ValueError: naming the part that is not ``code=number``, or a code given twice.
    """
    found: dict[str, str] = {}
    for part in str(text).replace("\n", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        code, sep, value = part.partition("=")
        if not sep or not code.strip() or not value.strip():
            raise ValueError(_('write code=number parts separated by ";", e.g. "chest_cm=96.5; '
                               'waist_cm=80"; %(part)s is not code=number', part=repr(part)))
        if code.strip() in found:
            raise ValueError(_("%(code)s is given twice", code=code.strip()))
        found[code.strip()] = value.strip()
    return found


def clean_line_spec(line: Mapping, prefix: str,
                    errors: dict[str, str]) -> tuple[str | None, dict[str, Decimal] | None]:
    """Clean a line's made-to-order ``size`` and ``measurements`` (at most one of them).

    :returns: ``(size, {code: Decimal})``, each None when not given; errors by field path.
    """
    size = _text(line.get("size"), f"{prefix}.size", errors, required=False,
                 limit=SIZE_LENGTH)
    raw = line.get("measurements")
    measurements: dict[str, Decimal] | None = None
    if raw is not None and raw != "" and raw != {}:
        path = f"{prefix}.measurements"
        if not isinstance(raw, Mapping):
            errors[path] = _('must be an object of measurement code and number, e.g. '
                             '{"chest_cm": 96.5}')
        else:
            measurements = {}
            for code, value in raw.items():
                if not isinstance(code, str) or not _MEASUREMENT_CODE.match(code.strip()):
                    errors[path] = _("%(code)s is not a measurement code (a letter, then "
                                     "letters, digits or _, at most 40)", code=repr(code))
                    break
                number = None
                if not isinstance(value, bool) and isinstance(value, (int, float, str, Decimal)):
                    try:
                        number = Decimal(str(value).strip())
                    except InvalidOperation:
                        number = None
                if number is None or not number.is_finite() or abs(number) >= _MONEY_LIMIT:
                    errors[path] = _("%(code)s must be a number, got %(value)s",
                                     code=code.strip(), value=repr(value))
                    break
                measurements[code.strip()] = number
            if f"{prefix}.measurements" in errors:
                measurements = None
    if size is not None and measurements is not None:
        errors[prefix] = _("give either a size or measurements, not both")
    return size, measurements


def validate_order_payload(data: Mapping, *, now: datetime | None = None,
                           default_trade_mode: str | None = None,
                           ) -> tuple[dict[str, Any], dict[str, str]]:
    """Check an order as the API receives it; return ``(cleaned, errors)``.

    ``data`` holds ``number``, ``placed_at``, ``customer_name``, ``email``, ``phone``,
    ``shipping_address`` (``name``, ``address1``, ``address2``, ``city``, ``region``,
    ``postal_code``, ``country``), ``currency``, ``shipping_charge``, ``shipping_service``,
    ``ioss_number``, ``buyer_tax_id``, ``notes``, ``channel``, ``priority``,
    ``payment_method`` (a short code such as ``card``, stored lower-case) and ``lines``
    (each ``sku``, a SKU code or barcode, ``quantity`` and ``unit_price``). ``errors`` maps a
    field path (``"shipping_address.country"``, ``"lines[1].quantity"``) to its message;
    ``cleaned`` is complete only when ``errors`` is empty. No database access.

    ``placed_at`` may be at most a day ahead of ``now`` (default: the current time).

    ``trade_mode`` is empty (``default_trade_mode`` then applies: the setting, read by the
    caller) or ``9610``; ``payment`` (``provider``, ``transaction``, ``amount`` > 0 with at most
    2 decimals, ``currency``, ``paid_at`` ISO 8601 with its zone) has every field required under
    9610. A line may carry a made-to-order ``size`` or ``measurements`` (``{code: number}``),
    not both; whether its product takes them is :func:`create_order`'s check
    (:func:`made_to_order_problems`).
    """
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    if not isinstance(data, Mapping):
        return {}, {"": _("must be a JSON object")}
    address = data.get("shipping_address")
    if address is None:
        errors["shipping_address"] = _("is required")
        address = {}
    elif not isinstance(address, Mapping):
        errors["shipping_address"] = _("must be an object")
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
        errors["email"] = _("is not an email address")
    if cleaned.get("ioss_number"):
        cleaned["ioss_number"] = cleaned["ioss_number"].upper().replace(" ", "")
        if not _IOSS.match(cleaned["ioss_number"]):
            errors["ioss_number"] = _("must be IM followed by 10 digits")
    if cleaned.get("payment_method"):
        try:
            cleaned["payment_method"] = normalize_method(cleaned["payment_method"])
        except ValueError as err:
            errors["payment_method"] = str(err)
    now = now or utcnow()
    cleaned["placed_at"] = _placed_at(data.get("placed_at"), errors, now)
    _payment(data, cleaned, errors, now, default_trade_mode)

    if "shipping_address" not in errors:
        country = address.get("country")
        if country is None or country == "":
            errors["shipping_address.country"] = _("is required")
        elif not isinstance(country, str):
            errors["shipping_address.country"] = _("must be text")
        else:
            try:
                cleaned["country"] = normalize_country(country)
            except ValueError:
                errors["shipping_address.country"] = _(
                    "%(value)s is not an ISO 3166-1 country code (e.g. DE, US, GB)",
                    value=repr(country))
        if (cleaned.get("country") and not cleaned.get("postal_code")
                and cleaned["country"] not in NO_POSTAL_CODE_COUNTRIES
                and "shipping_address.postal_code" not in errors):
            errors["shipping_address.postal_code"] = _(
                "is required for addresses in %(country)s", country=cleaned["country"])

    currency = data.get("currency")
    if currency is None or currency == "":
        errors["currency"] = _("is required")
    elif not isinstance(currency, str):
        errors["currency"] = _("must be text")
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
        errors["lines"] = _("is required")
    elif not isinstance(lines, list):
        errors["lines"] = _("must be a list")
    elif not lines:
        errors["lines"] = _("needs at least one line")
    elif len(lines) > MAX_LINES:
        errors["lines"] = _("may have at most %(limit)s lines", limit=MAX_LINES)
    else:
        for i, line in enumerate(lines):
            prefix = f"lines[{i}]"
            if not isinstance(line, Mapping):
                errors[prefix] = _("must be an object")
                continue
            sku = _text(line.get("sku"), f"{prefix}.sku", errors, required=True, limit=40)
            quantity = line.get("quantity")
            if quantity is None:
                errors[f"{prefix}.quantity"] = _("is required")
            else:
                quantity = _integer(quantity, f"{prefix}.quantity", errors, minimum=1)
            price = line.get("unit_price")
            if price is None or price == "":
                errors[f"{prefix}.unit_price"] = _("is required")
            else:
                price = _amount(price, f"{prefix}.unit_price", errors)
            size, measurements = clean_line_spec(line, prefix, errors)
            item = {"sku": sku, "quantity": quantity, "unit_price": price}
            if size is not None:
                item["size"] = size
            if measurements is not None:
                item["measurements"] = measurements
            cleaned["lines"].append(item)
    return cleaned, errors


# --------------------------------------------------------------------------- creation


# Statements built once: an API request creates one order, and building (and cache-keying)
# these selects cost more than running them (the order_intake benchmark).
# The review quantity rides along with the SKUs (one query fewer for every order).
# Whether the SKU's product is made to order rides along too.
_SKUS_BY_KEY = (select(Sku, core_settings.stored_text("order_review_quantity"),
                       Product.made_to_order)
                .join(Product, Product.id == Sku.product_id)
                .where(or_(Sku.code.in_(bindparam("codes", expanding=True)),
                           Sku.barcode.in_(bindparam("barcodes", expanding=True)))))
#: the id of the order with a number, if any: a plain row (most numbers are new, and an
#: entity query cost several times this one)
_ORDER_ID_BY_NUMBER = select(CustomerOrder.__table__.c.id).where(
    CustomerOrder.__table__.c.number == bindparam("number"))
#: every column of an order, by attribute name: the INSERT returns the whole row as stored
#: (defaults such as ``updated_at`` included), so the object made from it is complete and its
#: first read (the API's answer) loads nothing again
_ORDER_COLUMNS = [(prop.key, prop.columns[0]) for prop in inspect(CustomerOrder).column_attrs]
_INSERT_ORDER = insert(CustomerOrder.__table__).returning(*(col for _key, col in _ORDER_COLUMNS))
_INSERT_LINES = insert(CustomerOrderLine.__table__).returning(
    CustomerOrderLine.__table__.c.id, sort_by_parameter_order=True)
_MONEY = Decimal("0.0001")  # the scale of the Money columns, which round-trip to 4 places


def _active_skus(keys: Iterable[str]) -> tuple[dict[str, Sku], str | None, set[int]]:
    """Return ``{code or barcode: Sku}`` for the active SKUs among ``keys`` (one query).

    Also the stored text of the ``order_review_quantity`` setting (None when unset or when no
    SKU matched), and the ids of the SKUs whose product is made to order.
    """
    keys = {k for k in keys if k}
    if not keys:
        return {}, None, set()
    found: dict[str, Sku] = {}
    review = None
    made_to_order: set[int] = set()
    for sku, stored, mto in db.session.execute(
            _SKUS_BY_KEY, {"codes": sorted({k.upper() for k in keys}),
                           "barcodes": sorted(keys)}).tuples():
        review = stored  # the same on every row
        if getattr(sku.status, "value", sku.status) != "active":
            continue
        found[sku.code] = sku
        if sku.barcode:
            found[sku.barcode] = sku
        if mto:
            made_to_order.add(sku.id)
    return ({k: found[k.upper()] if k.upper() in found else found[k]
             for k in keys if k.upper() in found or k in found}, review, made_to_order)


def made_to_order_problems(lines: Sequence[tuple[Sku, str | None, Mapping | None]],
                           made_to_order: set[int], *, paid: bool) -> dict[str, str]:
    """Check each line's made-to-order specification; ``{field path: message}``.

    ``lines`` holds ``(sku, size, {code: Decimal} or None)`` in order; ``made_to_order`` the
    ids of the SKUs whose product is made to order. Such a line needs exactly one of size and
    measurements, on a paid order, and passes every :data:`erp.orders.hooks.made_to_order_checks`
    (a ValueError names the line). A line of another product must carry neither.
    """
    found: dict[str, str] = {}
    for i, (sku, size, measurements) in enumerate(lines):
        path = f"lines[{i}]"
        if sku.id not in made_to_order:
            if size is not None or measurements:
                found[path] = _("SKU %(sku)s is not made to order, so it takes no size or "
                                "measurements", sku=sku.code)
            continue
        if size is None and not measurements:
            found[path] = _("SKU %(sku)s is made to order: give its size or its measurements",
                            sku=sku.code)
            continue
        if size is not None and measurements:
            found[path] = _("give either a size or measurements, not both")
            continue
        if not paid:
            found.setdefault("payment.paid_at", _(
                "is required: line %(line)s (SKU %(sku)s) is made to order, which is only "
                "made once the order is paid", line=i + 1, sku=sku.code))
            continue
        for check in hooks.made_to_order_checks:
            try:
                check(sku, size, dict(measurements) if measurements else None)
            except ValueError as err:
                found[path] = _("SKU %(sku)s: %(reason)s", sku=sku.code, reason=str(err))
                break
    return found


def notify_paid(orders: Sequence[CustomerOrder], *, actor) -> None:
    """Hand the orders just created that arrived paid to every ``hooks.orders_paid``."""
    paid = [order for order in orders if order.paid_at is not None]
    if not paid:
        return
    for receiver in hooks.orders_paid:
        receiver(paid, actor=actor)


def resolve_skus(keys: Iterable[str]) -> dict[str, int]:
    """Return ``{code or barcode: sku id}`` for the active SKUs among ``keys`` (one query)."""
    return {key: sku.id for key, sku in _active_skus(keys)[0].items()}


def _order_values(cleaned: Mapping[str, Any]) -> dict[str, Any]:
    keys = [k for k, _, _ in TEXT_FIELDS] + ["placed_at", "country", "currency",
                                              "shipping_charge", "priority", "trade_mode",
                                              *PAYMENT_KEYS.values()]
    return {k: cleaned.get(k) for k in keys}


def _persistent(obj):
    """Attach an object whose row was just inserted to the session, without another INSERT."""
    make_transient_to_detached(obj)
    db.session.add(obj)
    return obj


def intake_order(cleaned: Mapping[str, Any], skus: Mapping[str, Sku]) -> hooks.IntakeOrder:
    """Describe a cleaned order for the intake checks, with its SKUs' catalog weights and sizes.

    ``skus`` maps each line's ``sku`` key (code or barcode) to its SKU.
    """
    lines = []
    for line in cleaned["lines"]:
        sku = skus[line["sku"]]
        lines.append(hooks.IntakeLine(
            sku_code=sku.code, quantity=line["quantity"], weight_g=int(sku.weight_g or 0),
            length_mm=int(sku.length_mm or 0), width_mm=int(sku.width_mm or 0),
            height_mm=int(sku.height_mm or 0)))
    return hooks.IntakeOrder(number=cleaned["number"], country=cleaned["country"],
                             shipping_service=cleaned.get("shipping_service"),
                             phone=cleaned.get("phone"), lines=tuple(lines))


def review_reason(lines: Iterable[tuple[str, int]], limit: int) -> str | None:
    """Return why an order goes on hold for review: its lines above ``limit`` units, or None.

    ``lines`` holds ``(sku code, quantity)``; the reason fits the order's 200 characters.
    """
    over = [f"{code} x {quantity:,}" for code, quantity in lines if quantity > limit]
    if not over:
        return None
    reason = f"Review: quantity above {limit:,} on {', '.join(over)}"
    return reason if len(reason) <= 200 else reason[:197] + "..."


#: what a re-sent order is compared on: (stored attribute, field path in the API payload)
COMPARED_FIELDS: tuple[tuple[str, str], ...] = (
    ("placed_at", "placed_at"), ("customer_name", "customer_name"), ("email", "email"),
    ("phone", "phone"), ("ship_name", "shipping_address.name"),
    ("address1", "shipping_address.address1"), ("address2", "shipping_address.address2"),
    ("city", "shipping_address.city"), ("region", "shipping_address.region"),
    ("postal_code", "shipping_address.postal_code"), ("country", "shipping_address.country"),
    ("currency", "currency"), ("shipping_charge", "shipping_charge"),
    ("shipping_service", "shipping_service"), ("ioss_number", "ioss_number"),
    ("buyer_tax_id", "buyer_tax_id"), ("notes", "notes"), ("channel", "channel"),
    ("priority", "priority"), ("payment_method", "payment_method"),
    ("trade_mode", "trade_mode"),
    *((column, f"payment.{key}") for key, column in PAYMENT_KEYS.items()),
)


def _comparable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.quantize(_MONEY)
    if isinstance(value, str):
        return value or None
    return value


def _shown(value: Any) -> str:
    if value is None or value == "":
        return _("nothing")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _number(value)
    text = str(value)
    return f'"{text if len(text) <= 40 else text[:37] + "..."}"'


def _number(value: Decimal) -> str:
    """Show an amount without trailing zeros: 19.9000 -> 19.9, 100.0000 -> 100."""
    return format(Decimal(value).quantize(_MONEY).normalize(), "f")


def _line_differences(order: CustomerOrder, lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """Say how ``lines`` (each ``sku`` code or barcode, ``quantity``, ``unit_price``) differ.

    Lines are matched by SKU, in any order; a SKU on two lines is compared as the set of its
    (quantity, price) pairs.
    """
    codes: dict[str, str] = {}
    stored: dict[str, list[tuple[int, Decimal]]] = {}
    for line in order.lines:
        codes[line.sku.code.upper()] = line.sku.code
        if line.sku.barcode:
            codes.setdefault(line.sku.barcode, line.sku.code)
        stored.setdefault(line.sku.code, []).append(
            (line.quantity, Decimal(line.unit_price).quantize(_MONEY)))
    sent: dict[str, list[tuple[int, Decimal]]] = {}
    for line in lines:
        key = str(line["sku"] or "").strip()
        code = codes.get(key) or codes.get(key.upper()) or key
        sent.setdefault(code, []).append((int(line["quantity"]),
                                          Decimal(line["unit_price"]).quantize(_MONEY)))
    found = []
    for code in dict.fromkeys([*sent, *stored]):
        here, there = sorted(sent.get(code, [])), sorted(stored.get(code, []))
        if here == there:
            continue
        if not there:
            found.append(_("SKU %(sku)s is not in the stored order", sku=code))
        elif not here:
            found.append(_("SKU %(sku)s of the stored order is missing here", sku=code))
        elif len(here) == len(there) == 1:
            (qty, price), (old_qty, old_price) = here[0], there[0]
            if qty != old_qty:
                found.append(_("SKU %(sku)s quantity %(new)s != %(old)s stored", sku=code,
                               new=format(qty, ","), old=format(old_qty, ",")))
            if price != old_price:
                found.append(_("SKU %(sku)s unit price %(new)s != %(old)s stored", sku=code,
                               new=_number(price), old=_number(old_price)))
        else:
            def listed(pairs):
                return ", ".join(_("%(qty)s at %(price)s", qty=format(q, ","), price=_number(p))
                                 for q, p in pairs)
            found.append(_("SKU %(sku)s lines %(new)s != %(old)s stored", sku=code,
                           new=listed(here), old=listed(there)))
    return found


def _spec_differences(order: CustomerOrder, lines: Sequence[Mapping[str, Any]]) -> list[str]:
    """Say how the made-to-order specs (size, measurements) of same-SKU lines differ."""
    codes: dict[str, str] = {}
    stored: dict[str, list[tuple[str, str]]] = {}
    for line in order.lines:
        codes[line.sku.code.upper()] = line.sku.code
        if line.sku.barcode:
            codes.setdefault(line.sku.barcode, line.sku.code)
        stored.setdefault(line.sku.code, []).append((line.mto_size or "",
                                                     line.measurements or ""))
    sent: dict[str, list[tuple[str, str]]] = {}
    for line in lines:
        key = str(line.get("sku") or "").strip()
        code = codes.get(key) or codes.get(key.upper()) or key
        sent.setdefault(code, []).append((line.get("size") or line.get("mto_size") or "",
                                          measurements_text(line.get("measurements")) or ""))
    return [_("SKU %(sku)s has another size or other measurements than stored", sku=code)
            for code in dict.fromkeys([*sent, *stored])
            if sorted(sent.get(code, [])) != sorted(stored.get(code, []))]


def order_differences(order: CustomerOrder, cleaned: Mapping[str, Any], *,
                      fields: Iterable[str] | None = None) -> dict[str, str]:
    """Return how a validated order differs from the stored ``order`` of the same number.

    Compared: the stored fields (normalised as intake stores them: trimmed text, empty as
    none, money at 4 places, times in UTC) and the lines (by SKU, quantity and unit price).
    ``fields`` limits the comparison to those stored attributes (an order sheet has no
    priority or channel column); the lines are always compared.

    :returns: ``{field path: what differs}``, empty when the order is the same.
    """
    wanted = set(fields) if fields is not None else None
    found: dict[str, str] = {}
    for attribute, path in COMPARED_FIELDS:
        if wanted is not None and attribute not in wanted:
            continue
        here = _comparable(cleaned.get(attribute))
        there = _comparable(getattr(order, attribute))
        if attribute == "channel":
            here = here or "webshop"
        if attribute == "priority":
            here = here or 0
        if here != there:
            found[path] = _("%(new)s here, %(old)s stored", new=_shown(here), old=_shown(there))
    lines = _line_differences(order, cleaned["lines"])
    if not lines:
        lines = _spec_differences(order, cleaned["lines"])
    if lines:
        found["lines"] = "; ".join(lines)
    return found


def create_order(cleaned: Mapping[str, Any], *, actor,
                 review: bool = True) -> tuple[CustomerOrder, bool]:
    """Store a validated order (from :func:`validate_order_payload`) in state ``new``.

    Idempotent on the order number: when it exists with the same values
    (:func:`order_differences`), that order is returned with ``False`` and nothing is written.
    The order must be able to ship as asked (every check in :data:`erp.orders.hooks.
    intake_checks`: shipping's service, country and limits). With ``review``, an order with a
    line above the ``order_review_quantity`` setting is put on hold for review, that line named
    as the reason (a replacement order, whose quantities were reviewed already, passes False).

    :raises OrderConflict: when the number exists with different values, naming each one.
    :raises OrderRejected: naming each line whose SKU is unknown or not active, or each reason
        the order cannot ship (its service, country, weight or a line's size).
    """
    existing_id = core_connection().execute(_ORDER_ID_BY_NUMBER,
                                        {"number": cleaned["number"]}).scalar()
    existing = db.session.get(CustomerOrder, existing_id) if existing_id is not None else None
    if existing is not None:
        differences = order_differences(existing, cleaned)
        if differences:
            raise OrderConflict(existing.number, differences)
        return existing, False
    skus, review_text, made_to_order = _active_skus(line["sku"] for line in cleaned["lines"])
    errors = {f"lines[{i}].sku": f"no active SKU has the code or barcode {line['sku']!r}"
              for i, line in enumerate(cleaned["lines"]) if line["sku"] not in skus}
    if errors:
        raise OrderRejected(errors)
    errors = made_to_order_problems(
        [(skus[line["sku"]], line.get("size"), line.get("measurements"))
         for line in cleaned["lines"]], made_to_order, paid=cleaned.get("paid_at") is not None)
    if errors:
        raise OrderRejected(errors)
    problems = hooks.intake_problems([intake_order(cleaned, skus)])
    if problems:
        raise OrderRejected(problems[0])
    # Core INSERTs rather than the unit of work (a request stores one order, and the flush
    # machinery cost more than the SQL); the objects returned are kept true to the rows, with
    # money at the 4 places it comes back from the database with.
    values = _order_values(cleaned)
    values.update(state=OrderState.new, channel=values["channel"] or "webshop",
                  priority=values["priority"] or 0, created_at=utcnow(),
                  shipping_charge=Decimal(values["shipping_charge"] or 0).quantize(_MONEY))
    if values["payment_amount"] is not None:
        values["payment_amount"] = Decimal(values["payment_amount"]).quantize(_MONEY)
    stored = core_connection().execute(_INSERT_ORDER, values).one()
    order_id = stored.id
    rows = [{"order_id": order_id, "sku_id": skus[line["sku"]].id, "quantity": line["quantity"],
             "unit_price": Decimal(line["unit_price"]).quantize(_MONEY), "allocated_qty": 0,
             "mto_size": line.get("size"),
             "measurements": measurements_text(line.get("measurements"))}
            for line in cleaned["lines"]]
    line_ids = core_connection().execute(_INSERT_LINES, rows).scalars().all()
    order = _persistent(CustomerOrder(**{key: value for (key, _col), value
                                         in zip(_ORDER_COLUMNS, stored, strict=True)}))
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
    events.emit("order.accepted", accepted_payload(order.number, order.channel, len(lines)),
                key=events.order_key(order.number))
    if review:
        reason = review_reason(((skus[line["sku"]].code, line["quantity"])
                                for line in cleaned["lines"]),
                               core_settings.parse_stored("order_review_quantity", review_text))
        if reason:
            from erp.orders.services.allocation import hold_order  # allocation imports intake
            hold_order(order, reason=reason, actor=actor)
    notify_paid([order], actor=actor)
    return order, True


# --------------------------------------------------------------------------- API tokens


def hash_token(plaintext: str) -> str:
    """Return the SHA-256 hex digest under which a token is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def create_api_token(name: str, *, actor) -> tuple[ApiToken, str]:
    """Create a token for the storefront; return it and its plaintext (shown once, not kept)."""
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("To create an API token, you must give it a name."),
                              field="name")
    if len(name) > 120:
        raise ValidationError(_("To create an API token, you must keep its name to 120 "
                                "characters."), field="name")
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
        raise ValidationError(_('To revoke API token "%(name)s", it must still be active; it '
                                "was revoked already.", name=token.name))
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
    core_connection().execute(_SET_TOKEN_USED, {"token_id": token.id, "at": at})
    set_committed_value(token, "last_used_at", at)
    return token


def find_api_token(plaintext: str | None) -> ApiToken | None:
    """Return the active token with this plaintext, or None (missing, wrong or revoked)."""
    if not plaintext:
        return None
    token = db.session.scalar(_TOKEN_BY_HASH, {"token_hash": hash_token(plaintext)})
    return token if token is not None and token.active else None


__all__ = ["NO_POSTAL_CODE_COUNTRIES", "PAYMENT_KEYS", "TRADE_MODES", "OrderConflict",
           "OrderRejected", "create_api_token", "clean_line_spec", "create_order",
           "default_trade_mode", "find_api_token", "hash_token", "intake_order",
           "made_to_order_problems", "mark_api_token_used", "measurements_text", "notify_paid",
           "parse_measurements_text", "parse_trade_mode", "stored_measurements",
           "order_differences", "resolve_skus", "review_reason", "revoke_api_token",
           "validate_order_payload"]
