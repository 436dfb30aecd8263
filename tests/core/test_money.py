"""Money: exact Decimal storage and sums, currency codes, rounding, formatting, conversion."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import StatementError

from erp.core import money
from erp.core.errors import ValidationError
from erp.core.models import ExchangeRate
from erp.core.types import ScaledDecimal
from erp.extensions import db


def add_rate(currency: str, rate: str, valid_from: date = date(2026, 1, 1)) -> ExchangeRate:
    """Store one exchange rate and return it."""
    row = ExchangeRate(currency=currency, valid_from=valid_from, rate=Decimal(rate))
    db.session.add(row)
    db.session.commit()
    return row


# --------------------------------------------------------------------------- ScaledDecimal


def test_scaled_decimal_round_trips_exactly(app):
    values = [Decimal("0.1") + Decimal("0.2"), Decimal("0.12345678"), Decimal("12345678.9"),
              Decimal("0.00000001")]
    for i, value in enumerate(values):
        db.session.add(ExchangeRate(currency="EUR", valid_from=date(2026, 1, i + 1), rate=value))
    db.session.commit()
    db.session.expire_all()

    stored = db.session.scalars(select(ExchangeRate.rate).order_by(ExchangeRate.valid_from)).all()

    assert stored == values
    assert all(isinstance(v, Decimal) for v in stored)
    assert stored[0] == Decimal("0.3")
    assert str(stored[0]) == "0.30000000"  # the column's 8 places, not a float's digits


def test_scaled_decimal_sum_is_exact_decimal(app):
    for day, value in ((1, "0.1"), (2, "0.2"), (3, "0.00000001")):
        add_rate("EUR", value, date(2026, 1, day))

    total = db.session.scalar(select(func.sum(ExchangeRate.rate)))

    assert isinstance(total, Decimal)
    assert total == Decimal("0.30000001")


def test_scaled_decimal_rounds_beyond_scale_half_up(app):
    add_rate("EUR", "0.123456785")
    db.session.expire_all()
    assert db.session.scalar(select(ExchangeRate.rate)) == Decimal("0.12345679")


def test_scaled_decimal_float_refused(app):
    with pytest.raises(TypeError, match="never float"):
        ScaledDecimal(8).process_bind_param(0.3, db.engine.dialect)
    db.session.add(ExchangeRate(currency="EUR", valid_from=date(2026, 1, 1), rate=0.3))
    with pytest.raises(StatementError) as exc:
        db.session.flush()
    assert isinstance(exc.value.orig, TypeError)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ExchangeRate)) == 0


def test_scaled_decimal_non_number_refused(app):
    with pytest.raises(TypeError, match="Not a decimal value"):
        ScaledDecimal(4).process_bind_param("abc", db.engine.dialect)


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(("code", "expected"), [("USD", "USD"), (" eur ", "EUR"), ("cny", "CNY")])
def test_validate_currency_good_code_upper_cased(code, expected):
    assert money.validate_currency(code) == expected


@pytest.mark.parametrize("code", ["XXQ", "EURO", "US", "", None, "12$"])
def test_validate_currency_bad_code_refused(code):
    with pytest.raises(ValueError, match="is not an ISO 4217 currency code"):
        money.validate_currency(code)


@pytest.mark.parametrize(("value", "expected"), [
    ("2.675", "2.68"), ("2.665", "2.67"), ("2.664999", "2.66"), ("-2.675", "-2.68"),
    ("10", "10.00"), ("0.005", "0.01"),
])
def test_round_amount_half_up(value, expected):
    result = money.round_amount(Decimal(value))
    assert result == Decimal(expected)
    assert str(result) == expected


def test_round_unit_cost_four_places_half_up():
    assert str(money.round_unit_cost(Decimal("1.23445"))) == "1.2345"


@pytest.mark.parametrize(("value", "currency", "places", "expected"), [
    (Decimal("1234.5"), "USD", 2, "1,234.50 USD"),
    (Decimal("1234567.891"), None, 2, "1,234,567.89"),
    (Decimal("0.125"), "EUR", 2, "0.13 EUR"),
    (Decimal("-1000"), "CNY", 0, "-1,000 CNY"),
    (Decimal("3.14159"), "GBP", 4, "3.1416 GBP"),
    (None, "USD", 2, ""),
])
def test_format_money(value, currency, places, expected):
    assert money.format_money(value, currency, places) == expected


@pytest.mark.parametrize(("raw", "expected"), [("1,234.50", "1234.50"), (" 7 ", "7"),
                                               (0.1, "0.1"), (3, "3")])
def test_to_decimal_parses_without_float_error(raw, expected):
    assert money.to_decimal(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["abc", "", "NaN", "Infinity"])
def test_to_decimal_bad_value_refused_naming_field(raw):
    with pytest.raises(ValidationError, match="unit price must be"):
        money.to_decimal(raw, field="unit price")


# --------------------------------------------------------------------------- convert


def test_convert_same_currency_only_rounds(app):
    assert money.convert(Decimal("10.123456"), "CNY", "CNY", on=date(2020, 1, 1)) == \
        Decimal("10.1235")


def test_convert_to_base(app):
    add_rate("CNY", "0.138")
    assert money.convert(Decimal("100"), "CNY", "USD", on=date(2026, 2, 1)) == Decimal("13.8")


def test_convert_from_base(app):
    add_rate("EUR", "1.25")
    assert money.convert(Decimal("100"), "USD", "EUR", on=date(2026, 2, 1)) == Decimal("80")


def test_convert_cross_rate_through_base(app):
    add_rate("EUR", "1.08")
    add_rate("GBP", "1.27")
    result = money.convert(Decimal("100"), "EUR", "GBP", on=date(2026, 2, 1))
    assert result == (Decimal("108") / Decimal("1.27")).quantize(Decimal("0.0001"))
    assert result == Decimal("85.0394")


def test_convert_uses_latest_rate_on_or_before_date(app):
    add_rate("EUR", "1.10", date(2026, 1, 1))
    add_rate("EUR", "1.20", date(2026, 3, 1))

    def eur(on):
        return money.convert(Decimal("10"), "EUR", "USD", on=on)

    assert eur(date(2026, 1, 1)) == Decimal("11")
    assert eur(date(2026, 2, 28)) == Decimal("11")
    assert eur(date(2026, 3, 1)) == Decimal("12")
    assert eur(date(2027, 1, 1)) == Decimal("12")


def test_convert_missing_rate_refused_naming_currency_and_date(app):
    add_rate("EUR", "1.10", date(2026, 3, 1))
    with pytest.raises(ValidationError, match=r"To convert EUR to USD on 2026-02-28, you must "
                                              r"first enter an exchange rate for EUR") as exc:
        money.convert(Decimal("10"), "EUR", "USD", on=date(2026, 2, 28))
    assert exc.value.status_code == 422
    with pytest.raises(ValidationError, match="exchange rate for JPY"):
        money.convert(Decimal("10"), "EUR", "JPY", on=date(2026, 3, 2))


def test_convert_bad_currency_refused(app):
    with pytest.raises(ValueError, match="'EURO' is not an ISO 4217 currency code"):
        money.convert(Decimal("1"), "EURO", "USD", on=date(2026, 1, 1))


@pytest.mark.parametrize(("code", "ok"), [("xof", True), ("XAF", True), ("XCD", True),
                                          ("EUR", True), ("XDR", False), ("XTS", False),
                                          ("USN", False)])
def test_payment_currency_refuses_codes_nobody_pays_in(code, ok):
    if ok:
        assert money.validate_payment_currency(code) == code.upper()
    else:
        with pytest.raises(ValueError, match="not a currency customers pay in"):
            money.validate_payment_currency(code)
