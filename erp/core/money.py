"""Money: ``Decimal`` amounts beside ISO 4217 codes, rounding, and conversion by dated rates."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pycountry
from sqlalchemy import select

from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.models import ExchangeRate
from erp.extensions import db

CENT = Decimal("0.01")
UNIT_COST = Decimal("0.0001")


def currency_codes() -> list[str]:
    """Return every ISO 4217 alphabetic code, sorted."""
    return sorted(c.alpha_3 for c in pycountry.currencies)


def validate_currency(code: str) -> str:
    """Return ``code`` upper-cased if it is an ISO 4217 currency.

    :raises ValueError: naming the bad code.
    """
    value = (code or "").strip().upper()
    if len(value) != 3 or pycountry.currencies.get(alpha_3=value) is None:
        raise ValueError(_("%(value)s is not an ISO 4217 currency code (e.g. USD, EUR, CNY)",
                           value=repr(code)))
    return value


#: ISO 4217 codes that are not money a consumer pays in: precious metals, bond-market and
#: accounting units, the SDR (kept as a rate for the postal CN22 limit), test and "no currency"
#: codes, and the funds codes of a few countries.
NON_PAYMENT_CURRENCIES = frozenset({
    "XAU", "XAG", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XTS", "XXX",
    "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"})


def validate_payment_currency(code: str) -> str:
    """Return ``code`` upper-cased if customers can pay in it (an ISO 4217 legal tender).

    :raises ValueError: naming the bad code, and why a real code such as XAU is refused.
    """
    value = validate_currency(code)
    if value in NON_PAYMENT_CURRENCIES:
        raise ValueError(_("%(code)s is an ISO 4217 code but not a currency customers pay in "
                           "(metals, funds, the SDR and test codes are refused)", code=value))
    return value


def to_decimal(value, *, field: str = "amount") -> Decimal:
    """Parse ``value`` as a finite Decimal without passing through float.

    :raises ValidationError: naming the field when the value is not a number.
    """
    if isinstance(value, float):
        value = repr(value)
    try:
        dec = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("%(field)s must be a number, got %(value)s.", field=field,
                                value=repr(value)), field=field) from None
    if not dec.is_finite():
        raise ValidationError(_("%(field)s must be a finite number.", field=field),
                              field=field)
    return dec


def round_amount(value: Decimal) -> Decimal:
    """Round to cents, half up (how amounts are shown and totalled)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def round_unit_cost(value: Decimal) -> Decimal:
    """Round to 4 places, half up (unit costs and prices)."""
    return Decimal(value).quantize(UNIT_COST, rounding=ROUND_HALF_UP)


def format_money(value: Decimal | None, currency: str | None = None,
                 places: int | None = None) -> str:
    """Format an amount in the reader's locale with the currency's minor units: ``198.00 USD``.

    See :func:`erp.core.i18n.format_money`.
    """
    from erp.core.i18n import format_money as localized
    return localized(value, currency, places)


def rate_on(currency: str, on: date, *, base: str) -> Decimal:
    """Return how many base units one unit of ``currency`` buys on ``on`` (latest rate <= date).

    :raises ValidationError: if no rate is known for that currency on or before that date.
    """
    currency = validate_currency(currency)
    if currency == base:
        return Decimal(1)
    rate = db.session.scalar(
        select(ExchangeRate.rate)
        .where(ExchangeRate.currency == currency, ExchangeRate.valid_from <= on)
        .order_by(ExchangeRate.valid_from.desc()).limit(1))
    if rate is None:
        raise ValidationError(_(
            "To convert %(currency)s to %(base)s on %(date)s, you must first enter an "
            "exchange rate for %(currency)s valid on or before that date "
            "(Settings > Exchange rates).", currency=currency, base=base, date=on.isoformat()))
    return rate


def convert(amount: Decimal, currency: str, to: str, *, on: date,
            places: Decimal = UNIT_COST) -> Decimal:
    """Convert ``amount`` in ``currency`` to currency ``to`` at the rates valid on ``on``.

    Both rates are quoted against the base currency, so any pair converts through it.

    :raises ValidationError: if a needed rate is missing.
    """
    from erp.core import settings

    base = settings.base_currency()
    currency, to = validate_currency(currency), validate_currency(to)
    if currency == to:
        return Decimal(amount).quantize(places, rounding=ROUND_HALF_UP)
    in_base = Decimal(amount) * rate_on(currency, on, base=base)
    result = in_base / rate_on(to, on, base=base) if to != base else in_base
    return result.quantize(places, rounding=ROUND_HALF_UP)
