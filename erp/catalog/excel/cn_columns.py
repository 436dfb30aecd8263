"""The Chinese customs columns of the category and SKU sheets.

cn_hs_code, cn_name, cn_elements (parts joined by "|"), cn_sale_unit, cn_unit1, cn_factor1,
cn_unit2, cn_factor2. Like the transport columns, an empty cell means "inherit" (from the
parent category, or for a SKU from its category), so an export imported again changes nothing
and a value can be taken back off; a file without one of these columns leaves it alone. Units
are checked against the setting ``cn_unit_codes`` once per import (see :func:`row_errors`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from erp.catalog.cn_customs import CN_FIELDS, clean_cn_customs
from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l

_UNITS = ("cn_sale_unit", "cn_unit1", "cn_unit2")
_PAIRS = (("cn_unit1", "cn_factor1"), ("cn_unit2", "cn_factor2"))


def _rule(key: str) -> Callable[[Any], Any]:
    """Return a cell validator applying the forms' rule for one column (units: shape only)."""

    def validate(value: Any) -> Any:
        if key in _UNITS:
            code = str(value).strip()
            if code.endswith(".0"):
                code = code[:-2]
            if code.isdigit() and len(code) <= 3:
                return code.zfill(3)  # Excel drops leading zeros: 11 -> 011
            raise ValueError(_("a customs unit is a 3-digit code (011 件, 035 千克), got "
                               "%(value)s", value=repr(value)))
        try:
            return clean_cn_customs({key: value}, units={})[key]
        except DomainError as err:
            raise ValueError(str(err).rstrip(".")) from None

    return lru_cache(maxsize=4096)(validate)


def cn_columns(*, inherit_from: Any) -> tuple[excel.Column, ...]:
    """Return the Chinese customs columns.

    :param inherit_from: what an empty cell inherits from, for the help ("the parent category").
    """
    empty = _l("Empty: inherit from %(source)s.", source=inherit_from)
    return (
        excel.Column("cn_hs_code", _l("CN HS code"), validator=_rule("cn_hs_code"),
                     help=_l("Chinese 10-digit HS code. %(empty)s", empty=empty)),
        excel.Column("cn_name", _l("CN customs name"), validator=_rule("cn_name"), width=24,
                     help=_l("Chinese customs name (申报品名), up to 250 characters. %(empty)s",
                             empty=empty)),
        excel.Column("cn_elements", _l("CN declaration elements"),
                     validator=_rule("cn_elements"), width=30,
                     help=_l('Declaration elements (申报要素) in order, joined by "|" (针织|棉|'
                             "无品牌). %(empty)s", empty=empty)),
        excel.Column("cn_sale_unit", _l("CN sale unit"), validator=_rule("cn_sale_unit"),
                     help=_l("3-digit customs unit of one sale unit (011 件). %(empty)s",
                             empty=empty)),
        excel.Column("cn_unit1", _l("CN first legal unit"), validator=_rule("cn_unit1"),
                     help=_l("3-digit customs code of the HS code's first legal unit. "
                             "%(empty)s", empty=empty)),
        excel.Column("cn_factor1", _l("CN first unit factor"), type="decimal", decimals=6,
                     validator=_rule("cn_factor1"),
                     help=_l("First legal units in one sale unit, more than 0. Empty with 035: "
                             "the net weight in kg.")),
        excel.Column("cn_unit2", _l("CN second legal unit"), validator=_rule("cn_unit2"),
                     help=_l("3-digit code of the second legal unit, if the HS code has one. "
                             "%(empty)s", empty=empty)),
        excel.Column("cn_factor2", _l("CN second unit factor"), type="decimal", decimals=6,
                     validator=_rule("cn_factor2"),
                     help=_l("Second legal units in one sale unit. Empty with 035: the net "
                             "weight in kg.")),
    )


def present_cn(present: Iterable[str]) -> tuple[str, ...]:
    """Return the Chinese customs keys among the columns a file has (the others: unchanged)."""
    have = set(present)
    return tuple(key for key in CN_FIELDS if key in have)


def row_errors(row: Mapping[str, Any], keys: Iterable[str], units: Mapping[str, str],
               headers: Mapping[str, Any]) -> list[excel.CellError]:
    """Return the errors across one row's Chinese customs cells (unknown unit, lone factor)."""
    keys = set(keys)
    errors = []
    for key in _UNITS:
        code = row.get(key) if key in keys else None
        if code is not None and code not in units:
            errors.append(excel.CellError(row["_row"], str(headers[key]), _(
                "%(code)s is not a known customs unit code (setting cn_unit_codes, e.g. 011 件, "
                "035 千克)", code=code)))
    for unit, factor in _PAIRS:
        if factor in keys and row.get(factor) is not None and row.get(unit) is None:
            errors.append(excel.CellError(row["_row"], str(headers[factor]), _(
                "a factor needs its unit in %(column)s of the same row", column=headers[unit])))
    return errors
