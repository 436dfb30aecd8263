"""The number and money filters write exactly what Babel writes, through their fast paths.

``format_number`` writes a whole number with Python's grouping where the locale groups by three
(most numbers on a list page), and both filters parse each Babel pattern once: the text must
not change, in any language, and the next request in another language gets that language's.
"""

import random
from decimal import Decimal

import pytest
from babel import numbers as babel_numbers
from flask import Flask
from flask_babel import Babel, force_locale

from erp.core import i18n

WHOLE = [0, 1, -1, 7, 999, 1000, -1000, 12345, 1234567, -98765432109876, 10**20, -10**20]


@pytest.fixture
def request_context():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield


@pytest.mark.parametrize("lang", ["en", "zh_Hans_CN", "de", "fr", "hi_IN", "ar"])
def test_whole_numbers_read_as_babel_writes_them(request_context, lang):
    values = WHOLE + [random.Random(lang).randint(-10**13, 10**13) for _ in range(500)]
    with force_locale(lang):
        for value in values:
            assert i18n.format_number(value) == babel_numbers.format_decimal(value, locale=lang)
        # other numbers go to Babel as before
        assert i18n.format_number(Decimal("1234.5")) == babel_numbers.format_decimal(
            Decimal("1234.5"), locale=lang)
        assert i18n.format_number(-2.5) == babel_numbers.format_decimal(-2.5, locale=lang)


@pytest.mark.parametrize("lang", ["en", "zh_Hans_CN", "de"])
def test_patterns_parsed_once_give_babels_text(request_context, lang):
    with force_locale(lang):
        for value in (Decimal("0"), Decimal("1234.5"), Decimal("-98765.4321"), 3):
            assert i18n.format_number(value, places=2) == babel_numbers.format_decimal(
                Decimal(value), format="#,##0.00", locale=lang, decimal_quantization=True)
            assert i18n.format_money(value, "EUR") == babel_numbers.format_decimal(
                Decimal(value).quantize(Decimal("0.01")), format="#,##0.00", locale=lang,
                decimal_quantization=False) + " EUR"
        assert i18n.format_money(Decimal("12.34567"), "USD", places=4) == \
            babel_numbers.format_decimal(Decimal("12.3457"), format="#,##0.00##", locale=lang,
                                         decimal_quantization=False) + " USD"


def test_the_next_request_in_another_language_gets_its_separators():
    app = Flask(__name__)
    Babel(app)
    for lang, text in (("de", "1.234.567"), ("en", "1,234,567"), ("de", "1.234.567")):
        with app.test_request_context(), force_locale(lang):
            assert i18n.format_number(1234567) == text
