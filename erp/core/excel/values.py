"""Converting one cell to its column's type, and rendering values for messages and text cells."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from erp.core.excel.columns import _EXACT_DIGITS, FORMULA_PREFIXES, Column
from erp.core.i18n import _

#: what a yes/no cell may hold (the Chinese template's drop-down offers 是 / 否)
_TRUE = frozenset({"yes", "y", "true", "t", "1", "是"})
_FALSE = frozenset({"no", "n", "false", "f", "0", "否"})
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _choice_map(column: Column) -> dict[str, str] | None:
    if not column.choices:
        return None
    return {choice.strip().casefold(): choice for choice in column.choices}


def _convert(raw: Any, column: Column, choices: Mapping[str, str] | None) -> Any:
    """Convert one cell to its column's type; raise ValueError(reason) if it cannot be."""
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw:
            raw = None
    if raw is None:
        if column.required:
            raise ValueError(_("is required"))
        return None
    value = _CONVERTERS[column.type](raw)
    if choices is not None:
        value = _check_choice(value, column, choices)
    if column.validator is not None:
        value = column.validator(value)
    return value


def _check_choice(value: Any, column: Column, choices: Mapping[str, str]) -> Any:
    match = choices.get(str(value).strip().casefold())
    if match is None:
        allowed = column.choices or ()
        listed = ", ".join(allowed) if len(allowed) <= 12 else _("see the Help sheet")
        raise ValueError(_("must be one of: %(allowed)s; got %(value)s", allowed=listed,
                           value=_show(value)))
    return match if isinstance(value, str) else value


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        if value[:1] == "'" and value[1:2] and value[1] in FORMULA_PREFIXES:
            return value[1:]  # undo neutralise()
        return value
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 10**_EXACT_DIGITS:
            raise ValueError(_("is a number with more than %(digits)s digits, which Excel cannot "
                               "keep exactly; format the column as Text and type it again",
                               digits=_EXACT_DIGITS))
        if not math.isfinite(value):
            raise ValueError(_("must be text, got %(value)s", value=_show(value)))
    return _text(value)


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    if number is None or number != number.to_integral_value():
        raise ValueError(_("must be a whole number, got %(value)s", value=_show(value)))
    return int(number)


def _to_decimal(value: Any) -> Decimal:
    number = _number(value)
    if number is None:
        if isinstance(value, str) and "," in value:
            raise ValueError(_("must be a number (use a dot as the decimal separator), got "
                               "%(value)s", value=_show(value)))
        raise ValueError(_("must be a number, got %(value)s", value=_show(value)))
    return number


def _to_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            if len(value) == 10:
                return date.fromisoformat(value)
            return datetime.fromisoformat(value).date()
        except ValueError:
            pass
    raise ValueError(_("must be a date as YYYY-MM-DD, got %(value)s", value=_show(value)))


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(_("must be yes or no, got %(value)s", value=_show(value)))


def _to_auto(value: Any) -> Any:
    if isinstance(value, float):
        number = _number(value)
        if number is not None and number == number.to_integral_value():
            return int(number)
        return number if number is not None else value
    return _to_str(value) if isinstance(value, str) else value


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "decimal": _to_decimal,
    "date": _to_date,
    "bool": _to_bool,
    "auto": _to_auto,
}


def _number(value: Any) -> Decimal | None:
    """Return ``value`` as an exact Decimal, or None if it is not a number.

    A float (calamine's numbers) is taken at the 15 significant digits Excel keeps, so 0.1
    becomes Decimal("0.1") and Excel's 0.30000000000000004 becomes Decimal("0.3"). Text must
    be a plain decimal number: no thousands separators, no exponent.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return Decimal(format(value, f".{_EXACT_DIGITS}g"))
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
            return None
    return None


def _text(value: Any) -> str:
    """Render a non-text cell value as the text a user typed (219.0 → "219")."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        number = _number(value)
        return format(number, "f") if number is not None else str(value)
    if isinstance(value, Decimal):
        return format(value, "f") if value.is_finite() else str(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _show(value: Any) -> str:
    """Render a bad value for an error message: numbers as typed, text in quotes."""
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return shown if _NUMBER_TEXT.fullmatch(value) else f'"{shown}"'
    return _text(value)
