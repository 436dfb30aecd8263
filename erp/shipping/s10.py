"""UPU S10 item identifiers: ``AA`` + 8-digit serial + check digit + ``CC``.

shared/reference/shipping.md, section 1. Input may contain spaces; numbers are stored without.
"""

from __future__ import annotations

import re

from erp.core.errors import ValidationError
from erp.core.i18n import _

WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)
PATTERN = re.compile(r"^[A-Z]{2}\d{8}\d[A-Z]{2}$")
RESERVED_FIRST_LETTERS = frozenset("JKSTW")
FREE_FORM = re.compile(r"^[A-Z0-9]{6,40}$")


def check_digit(serial: str | int) -> int:
    """Return the S10 check digit of an 8-digit serial number."""
    digits = f"{int(serial):08d}" if isinstance(serial, int) else serial
    if len(digits) != 8 or not digits.isdigit():
        raise ValueError(f"an S10 serial has 8 digits, got {serial!r}")
    remainder = 11 - sum(int(d) * w for d, w in zip(digits, WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(remainder, remainder)


def make(prefix: str, serial: int, country: str) -> str:
    """Return the full S10 number of ``serial`` with the service letters and country."""
    if not (0 <= serial <= 99_999_999):
        raise ValueError(f"an S10 serial is 0 to 99999999, got {serial}")
    return f"{prefix}{serial:08d}{check_digit(serial)}{country}"


def normalise(text: str) -> str:
    """Return ``text`` upper-cased without spaces or dashes (as scanners and people type it)."""
    return re.sub(r"[\s-]+", "", str(text or "")).upper()


def is_valid(text: str) -> bool:
    """Return whether ``text`` (normalised) is a well-formed S10 number with a right check digit."""
    number = normalise(text)
    return bool(PATTERN.match(number)) and int(number[10]) == check_digit(number[2:10])


def parse(text: str, *, field: str = "tracking_number") -> str:
    """Return the normalised S10 number, or raise a ValidationError that says what is wrong."""
    number = normalise(text)
    if not number:
        raise ValidationError(_("Enter or scan a tracking number."), field=field)
    if not PATTERN.match(number):
        raise ValidationError(_('"%(number)s" is not an S10 tracking number: it must be two '
                                "letters, nine digits and two letters (for example "
                                "RA473124829GB).", number=number), field=field)
    expected = check_digit(number[2:10])
    if int(number[10]) != expected:
        raise ValidationError(_('"%(number)s" has a wrong check digit: %(digit)s where '
                                "%(expected)s is right. Check the number for a typing error.",
                                number=number, digit=number[10], expected=expected),
                              field=field)
    return number


def parse_any(text: str, *, field: str = "tracking_number") -> str:
    """Return a normalised tracking number of any kind.

    S10 when it looks like one, else a courier's format (6 to 40 letters and digits).
    """
    number = normalise(text)
    if len(number) == 13 and number[:2].isalpha() and number[-2:].isalpha():
        return parse(number, field=field)
    if not FREE_FORM.match(number):
        raise ValidationError(_('"%(number)s" is not a tracking number: use 6 to 40 letters and '
                                "digits.", number=number), field=field)
    return number
