"""Normalise and check the codes people type: countries, HS codes, EAN-13/UPC-A barcodes.

Each function takes what a user or a spreadsheet gives (spaces, dots, names, numbers stored as
text) and returns the stored form, or raises ``ValueError`` with a message a user can act on.
"""

from __future__ import annotations

import re

import pycountry

_HS_SEPARATORS = re.compile(r"[\s.\-]")
_COUNTRY_ALIASES = {
    "UK": "GB", "ENGLAND": "GB", "GREAT BRITAIN": "GB", "USA": "US", "U.S.A.": "US",
    "UNITED STATES OF AMERICA": "US", "CHINA": "CN", "PRC": "CN", "SOUTH KOREA": "KR",
    "KOREA": "KR", "RUSSIA": "RU", "VIETNAM": "VN", "TAIWAN": "TW", "HOLLAND": "NL",
}


def normalize_country(value: str) -> str:
    """Return the ISO 3166-1 alpha-2 code of a code (``cn``, ``CHN``) or a name (``China``).

    :raises ValueError: if no country matches.
    """
    text = str(value or "").strip()
    if not text:
        raise ValueError("a country is required")
    upper = text.upper()
    if upper in _COUNTRY_ALIASES:
        return _COUNTRY_ALIASES[upper]
    country = None
    if len(upper) == 2:
        country = pycountry.countries.get(alpha_2=upper)
    elif len(upper) == 3:
        country = pycountry.countries.get(alpha_3=upper)
    if country is None:
        try:
            country = pycountry.countries.lookup(text)
        except LookupError:
            country = None
    if country is None:
        raise ValueError(f"{text!r} is not a country (use an ISO code such as CN, DE, US)")
    return country.alpha_2


def normalize_hs_code(value) -> str:
    """Return an HS code as 6 to 10 digits without dots (``6109.10.00`` -> ``61091000``).

    :raises ValueError: if it is not 6 to 10 digits once separators are removed.
    """
    text = _HS_SEPARATORS.sub("", str(value or "").strip())
    if not text.isdigit() or not 6 <= len(text) <= 10:
        raise ValueError(f"{value!r} is not an HS code: use 6 to 10 digits, e.g. 6109.10")
    return text


def format_hs_code(code: str | None) -> str:
    """Show an HS code the usual way: ``61091000`` -> ``6109.10.00``."""
    if not code:
        return ""
    parts = [code[:4], code[4:6], code[6:8], code[8:10]]
    return ".".join(p for p in parts if p)


def gtin_check_digit(body: str) -> int:
    """Return the GS1 check digit for the digits of ``body`` (weights 3,1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def barcode_kind(value: str) -> str:
    """Return ``"ean13"``, ``"upca"`` or ``"internal"`` for a barcode, checking GTIN digits.

    All-digit codes of 12 or 13 digits are GTINs and must carry a correct check digit; other
    codes of 4-32 letters, digits, dash or dot are internal codes.

    :raises ValueError: for a wrong check digit or unusable characters.
    """
    text = str(value or "").strip()
    if text.isdigit() and len(text) in (12, 13):
        expected = gtin_check_digit(text[:-1])
        if int(text[-1]) != expected:
            kind = "EAN-13" if len(text) == 13 else "UPC-A"
            raise ValueError(f"{text} is not a valid {kind}: its check digit should be {expected}")
        return "ean13" if len(text) == 13 else "upca"
    if text.isdigit() and len(text) in (8, 14):
        expected = gtin_check_digit(text[:-1])
        if int(text[-1]) != expected:
            raise ValueError(f"{text} is not a valid GTIN: its check digit should be {expected}")
        return "internal"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{3,31}", text):
        raise ValueError(f"{text!r} is not a barcode: use an EAN-13, a UPC-A or an internal code "
                         "of 4-32 letters, digits, dots or dashes")
    return "internal"
