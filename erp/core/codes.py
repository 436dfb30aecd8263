"""Normalise and check the codes people type: countries, HS codes, EAN-13/UPC-A barcodes.

Each function takes what a user or a spreadsheet gives (spaces, dots, names, numbers stored as
text) and returns the stored form, or raises ``ValueError`` with a message a user can act on.
"""

from __future__ import annotations

import re
import unicodedata

import pycountry

from erp.core.i18n import _

_HS_SEPARATORS = re.compile(r"[\s.\-]")
_COUNTRY_ALIASES = {
    "UK": "GB", "ENGLAND": "GB", "GREAT BRITAIN": "GB", "USA": "US", "U.S.A.": "US",
    "UNITED STATES OF AMERICA": "US", "CHINA": "CN", "PRC": "CN", "SOUTH KOREA": "KR",
    "KOREA": "KR", "RUSSIA": "RU", "VIETNAM": "VN", "TAIWAN": "TW", "HOLLAND": "NL",
    "U.K.": "GB", "U.S.": "US", "UAE": "AE", "REPUBLIC OF KOREA": "KR",
    # former or everyday names that pycountry no longer (or never) lists
    "TURKEY": "TR", "MACAU": "MO", "IVORY COAST": "CI", "BURMA": "MM", "SWAZILAND": "SZ",
    "CAPE VERDE": "CV", "MACEDONIA": "MK", "VATICAN": "VA", "PALESTINE": "PS", "BRUNEI": "BN",
    "EAST TIMOR": "TL",
}


def normalize_country(value: str) -> str:
    """Return the ISO 3166-1 alpha-2 code of a code (``cn``, ``CHN``) or a name (``China``).

    :raises ValueError: if no country matches.
    """
    text = str(value or "").strip()
    if not text:
        raise ValueError(_("a country is required"))
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
        raise ValueError(_("%(value)s is not a country (use an ISO code such as CN, DE, US)",
                           value=repr(text)))
    return country.alpha_2


def normalize_hs_code(value) -> str:
    """Return an HS code as 6 to 10 digits without dots (``6109.10.00`` -> ``61091000``).

    Full-width digits and dots (typed with a Chinese or Japanese input method) count as ASCII
    ones; a whole number that arrives as a float (``610910.0``) counts as that number.

    :raises ValueError: if it is not 6 to 10 digits once separators are removed.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # str(610910.0) would lose its ".0" as a separator: "6109100"
    text = _HS_SEPARATORS.sub("", unicodedata.normalize("NFKC", str(value or "")).strip())
    if not _is_ascii_digits(text) or not 6 <= len(text) <= 10:
        raise ValueError(_("%(value)s is not an HS code: use 6 to 10 digits, e.g. 6109.10",
                           value=repr(value)))
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

    All-digit codes of 12 or 13 digits are GTINs (UPC-A, EAN-13) and must carry a correct check
    digit. So must codes of 8 or 14 digits (EAN-8, GTIN-14), which are then kept as
    ``"internal"``: an internal code may not have 8 or 14 digits unless its last one is a valid
    GS1 check digit. Other codes of 4-32 ASCII letters, digits, dashes or dots are internal.

    :raises ValueError: for a wrong check digit or unusable characters (digits other than
        0-9, such as full-width ones, included: a scanner never reads them).
    """
    text = str(value or "").strip()
    digits = _is_ascii_digits(text)
    if digits and len(text) in (12, 13):
        expected = gtin_check_digit(text[:-1])
        if int(text[-1]) != expected:
            kind = "EAN-13" if len(text) == 13 else "UPC-A"
            raise ValueError(_("%(code)s is not a valid %(kind)s: its check digit should be "
                               "%(expected)s", code=text, kind=kind, expected=expected))
        return "ean13" if len(text) == 13 else "upca"
    if digits and len(text) in (8, 14):
        expected = gtin_check_digit(text[:-1])
        if int(text[-1]) != expected:
            raise ValueError(_("%(code)s is not a valid GTIN: its check digit should be "
                               "%(expected)s", code=text, expected=expected))
        return "internal"
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.\-]{3,31}", text):
        raise ValueError(_("%(value)s is not a barcode: use an EAN-13, a UPC-A or an internal "
                           "code of 4-32 letters, digits, dots or dashes", value=repr(text)))
    return "internal"


def _is_ascii_digits(text: str) -> bool:
    """Whether ``text`` is all 0-9 (``str.isdigit`` also accepts "٣", "３" and "²")."""
    return text.isascii() and text.isdigit()
