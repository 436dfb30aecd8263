"""Runtime settings stored in the database, with typed defaults declared here.

Domains with settings of their own register them with :func:`declare`. Values are stored as
text and converted on read, so a bad stored value can never crash a page: it falls back to the
default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import bindparam, select

from erp.core.i18n import _, _l, ngettext
from erp.core.models import Setting
from erp.extensions import core_connection, db


def _currency(value: str) -> str:
    """An ISO 4217 code customers pay in (the SDR, metals, funds and test codes are refused)."""
    from erp.core.money import validate_payment_currency
    return validate_payment_currency(value)


def _decimal(value: str) -> Decimal:
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(_("must be a number, got %(value)s", value=repr(value))) from None
    if not dec.is_finite() or dec < 0:  # NaN first: comparing it raises
        raise ValueError(_("must be zero or more"))
    return dec


def _int(value: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(_("must be a whole number, got %(value)s", value=repr(value))) from None
    if number < 0:
        raise ValueError(_("must be zero or more"))
    return number


def _positive_decimal(value: str) -> Decimal:
    """A limit (an amount, a value threshold) where zero would mean nothing passes."""
    dec = _decimal(value)
    if dec == 0:
        raise ValueError(_("must be more than zero"))
    return dec


def _positive_int(value: str) -> int:
    """A limit in whole units (grams, days, pieces) where zero would mean nothing passes."""
    number = _int(value)
    if number == 0:
        raise ValueError(_("must be more than zero"))
    return number


def _country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code (a name such as "China" reads as its code)."""
    from erp.core.codes import normalize_country
    return normalize_country(value)


def _countries(value: str) -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes separated by spaces or commas; one bad code refuses them all.

    A bad code is never dropped: a list that silently lost a member (or kept ``ZZ``) would
    change who gets IOSS or a dutiable parcel without anyone noticing.
    """
    import pycountry

    codes = [c.strip().upper() for c in str(value).replace(",", " ").split() if c.strip()]
    bad = sorted({c for c in codes if len(c) != 2 or pycountry.countries.get(alpha_2=c) is None})
    if bad:
        raise ValueError(ngettext(
            "must be ISO 3166-1 alpha-2 country codes (e.g. DE FR); %(codes)s is not one",
            "must be ISO 3166-1 alpha-2 country codes (e.g. DE FR); %(codes)s are not",
            len(bad), codes=", ".join(bad)))
    return frozenset(codes)


def _choice(*allowed: str) -> Callable[[str], str]:
    """Return a parser accepting one of ``allowed`` (any case), returned as written there."""

    def parse(value: str) -> str:
        text = str(value).strip().upper()
        for option in allowed:
            if option.upper() == text:
                return option
        raise ValueError(_("must be one of %(allowed)s, got %(value)s",
                           allowed=", ".join(allowed), value=repr(str(value).strip())))

    return parse


def _roles(value: str) -> frozenset[str]:
    """Role names separated by spaces or commas (empty: none); one unknown name refuses all."""
    from erp.core.models import Role

    names = [n.strip().lower() for n in str(value).replace(",", " ").split() if n.strip()]
    bad = sorted({n for n in names if n not in {r.value for r in Role}})
    if bad:
        raise ValueError(_("must be role names (%(roles)s); %(bad)s is not one",
                           roles=", ".join(r.value for r in Role), bad=", ".join(bad)))
    return frozenset(names)


def _text(value: str) -> str:
    return str(value).strip()


@dataclass(frozen=True)
class SettingDef:
    """One declared setting: its key, label, parser (raising ValueError) and default.

    ``label`` and ``help`` are lazy strings (``_l``), shown in the reader's language; a
    parser's ValueError message is translated where it is raised (``_``).
    """

    key: str
    label: Any
    parse: Callable[[str], Any]
    default: Any
    help: Any = ""
    multiline: bool = False
    optional: bool = False  # may be left empty (e.g. a tax number the retailer may not have)


def as_text(value: Any) -> str:
    """Return a setting's value as the settings form shows it (sets space-separated)."""
    if value is None:
        return ""
    if isinstance(value, (set, frozenset, list, tuple)):
        return " ".join(sorted(str(v) for v in value))
    return str(value)


SETTINGS: dict[str, SettingDef] = {}


def declare(*defs: SettingDef) -> None:
    """Register settings (a domain calls this at import)."""
    for d in defs:
        SETTINGS[d.key] = d


def _default_currency() -> str:
    return current_app.config.get("ERP_BASE_CURRENCY", "USD") if has_app_context() else "USD"


declare(
    SettingDef("company_name", _l("Company name"), _text, "Example Trading Ltd",
               _l("Printed on purchase orders, invoices and customs documents.")),
    SettingDef("company_address", _l("Company address"), _text,
               "1 Harbour Road\nShenzhen 518000\nCN", _l("Sender address; one line per row."),
               multiline=True),
    SettingDef("company_country", _l("Company country (ISO 3166-1 alpha-2)"), _country, "CN",
               _l("The sender's country on labels and customs documents.")),
    SettingDef("base_currency", _l("Base currency (ISO 4217)"), _currency, None,
               _l("Stock is valued and totals are reported in this currency.")),
    SettingDef("default_language", _l("Default language"), _choice("en", "zh_Hans_CN"), "en",
               _l("The language of a user who has chosen none and whose browser asks for "
                  "neither English nor Chinese (en or zh_Hans_CN).")),
    SettingDef("approval_threshold", _l("Approval threshold (base currency)"), _decimal,
               Decimal("5000"), _l("Purchase orders above this total need a manager's "
                                   "approval (0: every purchase order does).")),
    SettingDef("two_factor_roles", _l("Roles that must sign in with two factors"), _roles,
               frozenset({"admin", "manager"}),
               _l("Role names separated by spaces (admin manager purchasing warehouse "
                  "customer_service). A user holding one of them must enrol an authenticator "
                  "app before working."), optional=True),
    SettingDef("session_lifetime_hours", _l("Session lifetime (hours)"), _positive_int, 12,
               _l("A sign-in ends this many hours after it began, however active it was "
                  "(besides the timeout after inactivity).")),
)


# built once: building the select cost more than running it
_VALUE_OF = select(Setting.__table__.c.value).where(Setting.__table__.c.key == bindparam("key"))


def get(key: str) -> Any:
    """Return the typed value of setting ``key`` (its default when unset or unreadable)."""
    # on the connection (after the autoflush, so a setting changed in this transaction is read
    # back): one column of one row needs none of the session's ORM execution, which cost more
    # than the query (every API order reads a setting)
    return parse_stored(key, core_connection().execute(_VALUE_OF, {"key": key}).scalar())


def stored_text(key: str):
    """Return a scalar subquery of setting ``key``'s stored text (NULL when unset).

    For a hot path that reads a setting on every call (order intake): it rides along as a
    column of a query that runs anyway, and :func:`parse_stored` turns it into the value.
    """
    return select(Setting.value).where(Setting.key == key).scalar_subquery()


def parse_stored(key: str, raw: str | None) -> Any:
    """Return the typed value of setting ``key`` stored as ``raw`` (default if unset or bad)."""
    definition = SETTINGS[key]
    if raw is not None:
        try:
            return definition.parse(raw)
        except (ValueError, ArithmeticError):
            pass
    if key == "base_currency":
        return _default_currency()
    return definition.default


def all_values() -> dict[str, Any]:
    """Return every declared setting's current value."""
    stored = dict(db.session.execute(select(Setting.key, Setting.value)).all())
    values = {}
    for key, definition in SETTINGS.items():
        try:
            values[key] = definition.parse(stored[key]) if key in stored else None
        except (ValueError, ArithmeticError):
            values[key] = None
        if values[key] is None:
            values[key] = _default_currency() if key == "base_currency" else definition.default
    return values


def base_currency() -> str:
    """Return the base currency code."""
    return get("base_currency")
