"""Tests for the code normalisers (erp.core.codes): countries, HS codes, barcodes."""

import re

import pytest

from erp.core.codes import (
    barcode_kind,
    format_hs_code,
    gtin_check_digit,
    normalize_country,
    normalize_hs_code,
)


def exactly(message):
    """Return a pytest.raises pattern matching exactly this message."""
    return f"^{re.escape(message)}$"


# --------------------------------------------------------------------------- countries


@pytest.mark.parametrize(("typed", "code"), [
    ("CN", "CN"), ("cn", "CN"), (" de ", "DE"), ("Us", "US"),  # alpha-2, any case, spaces
    ("CHN", "CN"), ("deu", "DE"), ("GBR", "GB"),  # alpha-3
    ("China", "CN"), ("germany", "DE"), ("  Viet Nam ", "VN"), ("FRANCE", "FR"),  # names
    ("United Kingdom", "GB"), ("Korea, Republic of", "KR"), ("Türkiye", "TR"),
    ("Côte d'Ivoire", "CI"), ("Bolivia", "BO"), ("Iran", "IR"),  # common names
    ("156", "CN"),  # ISO numeric
    ("UK", "GB"), ("uk", "GB"), ("England", "GB"), ("USA", "US"), ("u.s.a.", "US"),  # aliases
    ("PRC", "CN"), ("South Korea", "KR"), ("Vietnam", "VN"), ("Holland", "NL"),
    ("Turkey", "TR"), ("Macau", "MO"), ("Ivory Coast", "CI"), ("UAE", "AE"),
])
def test_normalize_country(typed, code):
    """Codes of 2 or 3 letters, English names and everyday aliases all give the alpha-2 code."""
    assert normalize_country(typed) == code


@pytest.mark.parametrize("typed", ["", "   ", None])
def test_normalize_country_required(typed):
    """An empty country is its own error."""
    with pytest.raises(ValueError, match="^a country is required$"):
        normalize_country(typed)


@pytest.mark.parametrize("typed", ["XX", "ZZZ", "EU", "Atlantis", "DE1", "C", "Deutschland"])
def test_normalize_country_unknown(typed):
    """Anything else names the value and how to write a country."""
    message = f"{typed!r} is not a country (use an ISO code such as CN, DE, US)"
    with pytest.raises(ValueError, match=exactly(message)):
        normalize_country(typed)


# --------------------------------------------------------------------------- HS codes


@pytest.mark.parametrize(("typed", "code"), [
    ("6109.10.00", "61091000"),
    ("6109 10", "610910"),
    ("6109-10-00-10", "6109100010"),
    (" 610910 ", "610910"),
    ("6109.10", "610910"),
    ("0901.21", "090121"),  # leading zero kept
    (61091000, "61091000"),
    (610910.0, "610910"),  # a whole number read as a float
    ("６１０９．１０．００", "61091000"),  # full-width, from a Chinese input method
])
def test_normalize_hs_code(typed, code):
    """Dots, spaces and dashes go; 6 to 10 digits remain."""
    assert normalize_hs_code(typed) == code


@pytest.mark.parametrize("typed", [
    "61091",  # too short
    "6109.1",
    "61091000001",  # too long
    "6109.1O",  # letter O for a zero
    "HS610910",
    "6109/10",
    "٦١٠٩١٠",  # Arabic-Indic digits are digits to Python, not to customs
    "",
    None,
    6109.1,  # Excel dropped the trailing zero of "6109.10"
])
def test_normalize_hs_code_refuses(typed):
    """Anything not 6-10 digits is refused, showing the value and an example."""
    message = f"{typed!r} is not an HS code: use 6 to 10 digits, e.g. 6109.10"
    with pytest.raises(ValueError, match=exactly(message)):
        normalize_hs_code(typed)


@pytest.mark.parametrize(("code", "shown"), [
    ("61091000", "6109.10.00"),
    ("610910", "6109.10"),
    ("6109100010", "6109.10.00.10"),
    ("6109100", "6109.10.0"),
    ("", ""),
    (None, ""),
])
def test_format_hs_code(code, shown):
    """HS codes are shown in their usual dotted form."""
    assert format_hs_code(code) == shown


def test_format_then_normalize_round_trips():
    """What is shown can be typed back."""
    for code in ("610910", "61091000", "6109100010"):
        assert normalize_hs_code(format_hs_code(code)) == code


# --------------------------------------------------------------------------- barcodes


@pytest.mark.parametrize(("body", "digit"), [
    ("400638133393", 1),  # EAN-13 4006381333931
    ("03600029145", 2),  # UPC-A 036000291452
    ("9638507", 4),  # EAN-8 96385074
    ("", 0),
])
def test_gtin_check_digit(body, digit):
    """The GS1 check digit weights the digits 3, 1, 3, ... from the right."""
    assert gtin_check_digit(body) == digit


@pytest.mark.parametrize(("typed", "kind"), [
    ("4006381333931", "ean13"),
    (" 4006381333931 ", "ean13"),
    ("5901234123457", "ean13"),
    (4006381333931, "ean13"),  # a number from a spreadsheet
    ("036000291452", "upca"),
    ("012345678905", "upca"),
    ("96385074", "internal"),  # EAN-8 with a valid check digit
    ("00012345600012", "internal"),  # GTIN-14 with a valid check digit
    ("SKU-0001", "internal"),
    ("ab.12-x", "internal"),
    ("1234", "internal"),
    ("12345678901", "internal"),  # 11 digits: not a GTIN length
    ("A" * 32, "internal"),
])
def test_barcode_kind(typed, kind):
    """EAN-13 and UPC-A are recognised by length and check digit; other codes are internal."""
    assert barcode_kind(typed) == kind


@pytest.mark.parametrize(("typed", "message"), [
    ("4006381333932", "4006381333932 is not a valid EAN-13: its check digit should be 1"),
    ("036000291453", "036000291453 is not a valid UPC-A: its check digit should be 2"),
    ("96385075", "96385075 is not a valid GTIN: its check digit should be 4"),
    ("00012345600013", "00012345600013 is not a valid GTIN: its check digit should be 2"),
])
def test_barcode_wrong_check_digit_names_the_expected_digit(typed, message):
    """A mistyped GTIN is refused, saying which check digit would be right."""
    with pytest.raises(ValueError, match=exactly(message)):
        barcode_kind(typed)


@pytest.mark.parametrize("typed", [
    "abc",  # too short
    "A" * 33,  # too long
    "-ABC",  # must start with a letter or digit
    "4006381 333931",  # inner space
    "SKU_0001",
    "SKU/1",
    "中文条码1234",
    "４００６３８１３３３９３１",  # full-width digits: a scanner never reads these
    "",
    None,
])
def test_barcode_bad_characters_are_refused(typed):
    """Unusable characters or lengths give the rule to follow."""
    text = str(typed or "").strip()
    message = (f"{text!r} is not a barcode: use an EAN-13, a UPC-A or an internal code of 4-32 "
               "letters, digits, dots or dashes")
    with pytest.raises(ValueError, match=exactly(message)):
        barcode_kind(typed)
