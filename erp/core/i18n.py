"""Two languages, chosen per user: Flask-Babel wiring, locale choice and locale formatting.

Every string a person reads is wrapped where it is written:

- Python: ``from erp.core.i18n import _, _l, ngettext`` — ``_("Received %(qty)s × %(sku)s",
  qty=..., sku=...)`` (named placeholders, so a translation can reorder them); ``_l`` for
  strings defined at import time (form labels, column headers); ``ngettext`` for counts.
- Templates: ``{{ _('Save') }}``, ``{{ _('Wait %(n)s seconds', n=wait) }}``,
  ``{{ ngettext('%(num)d parcel', '%(num)d parcels', count) }}``. Jinja's gettext is
  "new style": a literal percent sign is written ``%%``.

The locale of a request is the user's own choice, else the browser's language, else the
company default (setting ``default_language``); the JSON API (``/api/``) always answers in
English. Work outside a request (background jobs,
the CLI) runs in English unless it enters :func:`flask_babel.force_locale`.

Catalogs live in ``erp/translations``; ``scripts/i18n.py`` extracts, updates and fills them,
and :func:`compile_catalogs` turns the ``.po`` files into ``.mo`` when they are newer.
"""

from __future__ import annotations

import functools
import os
import tempfile
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from babel import Locale, support
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Flask, has_request_context, request
from flask_babel import (
    Babel,
    force_locale,
    get_locale,
    gettext,
    lazy_gettext,
    lazy_ngettext,
    ngettext,
    refresh,
)
from flask_babel.speaklater import LazyString
from markupsafe import Markup

__all__ = ["LANGUAGES", "_", "_l", "force_locale", "gettext", "lazy_ngettext", "ngettext",
           "in_every_language",
           "current_language", "format_money", "format_number", "format_date",
           "format_datetime", "compile_catalogs"]

_ = gettext
_l = lazy_gettext

#: the languages staff can work in: locale identifier -> its own name
LANGUAGES: dict[str, str] = {"en": "English", "zh_Hans_CN": "简体中文"}
DEFAULT_LANGUAGE = "en"
TRANSLATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "translations")

babel = Babel()


def language_for_tag(tag: str) -> str | None:
    """Return the supported language for a browser tag ("zh-CN", "zh", "en-GB"), or None."""
    tag = (tag or "").strip().replace("-", "_").lower()
    if tag.startswith("zh"):
        # traditional-script and Hong Kong/Taiwan readers still get simplified Chinese, the
        # only Chinese catalog; better than English for them
        return "zh_Hans_CN"
    if tag == "en" or tag.startswith("en_"):
        return "en"
    return None


def select_locale() -> str:
    """Return the request's language: the user's choice, the browser's, the company's."""
    from flask_login import current_user
    if has_request_context() and request.path.startswith("/api/"):
        # the storefront's JSON API answers in English (its clients are programs, and abroad)
        return DEFAULT_LANGUAGE
    user = current_user if has_request_context() else None
    chosen = getattr(user, "language", None) if user is not None and \
        user.is_authenticated else None
    if chosen in LANGUAGES:
        return chosen
    if has_request_context():
        for tag, _quality in request.accept_languages:
            found = language_for_tag(tag)
            if found:
                return found
    return company_language()


def company_language() -> str:
    """Return the company default language (setting ``default_language``)."""
    from erp.core import sessions
    try:
        # a signed-in request read it with its session (erp.core.sessions.PAGE_SETTINGS)
        value = sessions.page_setting("default_language")
    except Exception:  # noqa: BLE001 - before the first migration there is no setting table
        return DEFAULT_LANGUAGE
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def current_language() -> str:
    """Return the active language identifier ("en" or "zh_Hans_CN")."""
    locale = get_locale()
    return str(locale) if locale is not None else DEFAULT_LANGUAGE


def _locale() -> Locale | str:
    return get_locale() or DEFAULT_LANGUAGE


def format_money(value: Decimal | None, currency: str | None = None,
                 places: int | None = None) -> str:
    """Format an amount in the reader's locale: ``198.00 USD``, ``4,800 JPY``.

    The currency's minor units (two without a currency) are always shown; ``places`` allows
    more where they carry meaning (unit costs kept to 4 places: ``12.3457 USD`` but
    ``198.00 USD``, never ``198.0000 USD``), or fewer (``places=0``).
    """
    if value is None:
        return ""
    minor = babel_numbers.get_currency_precision(currency) if currency else 2
    most = minor if places is None else places
    least = min(minor, most)
    value = Decimal(value).quantize(Decimal(1).scaleb(-most), rounding=ROUND_HALF_UP)
    pattern = "#,##0" + ("." + "0" * least + "#" * (most - least) if most else "")
    text = babel_numbers.format_decimal(value, format=_pattern(pattern), locale=_locale(),
                                        decimal_quantization=False)
    return f"{text} {currency}" if currency else text


def format_number(value, places: int | None = None) -> str:
    """Format a number (quantity, count, weight) with the locale's separators."""
    if value is None:
        return ""
    locale = _locale()
    if places is not None:
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return babel_numbers.format_decimal(Decimal(value), format=_pattern(pattern),
                                            locale=locale, decimal_quantization=True)
    if value.__class__ is int:  # counts and quantities, most numbers on a page
        symbols = _plain_grouping(str(locale))
        if symbols is not None:
            text = f"{value:,}"
            return text if symbols == (",", "-") else \
                text.replace(",", "\0").replace("-", symbols[1]).replace("\0", symbols[0])
    return babel_numbers.format_decimal(value, locale=locale)


@functools.lru_cache(maxsize=64)
def _pattern(text: str) -> babel_numbers.NumberPattern:
    """Return Babel's parsed number pattern ``text`` (the same for every call: parsed once)."""
    return babel_numbers.parse_pattern(text)


@functools.lru_cache(maxsize=16)
def _plain_grouping(locale: str) -> tuple[str, str] | None:
    """Return the group and minus signs of ``locale`` if its decimal format groups by three.

    Then a whole number's text is Python's ``f"{n:,}"`` with those signs, exactly what Babel
    writes with that format (``#,##0.###``, groups of 3 and 3); otherwise None (Babel formats).
    Locale data is fixed for the life of the process.
    """
    parsed = Locale.parse(locale)
    pattern = parsed.decimal_formats.get(None)
    if pattern is None or pattern.pattern != "#,##0.###" or pattern.grouping != (3, 3):
        return None
    group = babel_numbers.get_group_symbol(parsed)
    minus = babel_numbers.get_minus_sign_symbol(parsed)
    # the signs Babel actually writes with this format, checked on a probe
    probe = -1234567
    if babel_numbers.format_decimal(probe, locale=parsed) != \
            f"{probe:,}".replace(",", "\0").replace("-", minus).replace("\0", group):
        return None
    return group, minus


#: Babel date patterns by language; English keeps the ISO order the floor already reads
DATE_PATTERNS = {"en": "yyyy-MM-dd", "zh_Hans_CN": "yyyy年M月d日"}


def format_date(value: date | None) -> str:
    """Format a date in the reader's language: ``2026-12-07`` / ``2026年12月7日``."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    lang = current_language()
    return babel_dates.format_date(value, DATE_PATTERNS.get(lang, "yyyy-MM-dd"), locale=lang)


def format_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Format a UTC time in the reader's language: ``2026-12-07 09:30 UTC``.

    ``fmt`` only says how much to show: no ``%H`` gives the date alone, ``%S`` adds seconds.
    """
    if value is None:
        return ""
    if "H" not in fmt:
        return format_date(value)
    lang = current_language()
    time_pattern = "HH:mm:ss" if "S" in fmt else "HH:mm"
    pattern = DATE_PATTERNS.get(lang, "yyyy-MM-dd") + " " + time_pattern
    return babel_dates.format_datetime(value, pattern, tzinfo=None, locale=lang) + " UTC"


_CATALOGS: dict[str, tuple[float, support.NullTranslations]] = {}


def _catalog(lang: str) -> support.NullTranslations:
    """Return the compiled catalog of ``lang`` (read again when its ``.mo`` changes)."""
    path = os.path.join(TRANSLATIONS_DIR, lang, "LC_MESSAGES", "messages.mo")
    try:
        stamp = os.path.getmtime(path)
    except OSError:
        return support.NullTranslations()
    cached = _CATALOGS.get(lang)
    if cached is None or cached[0] != stamp:
        cached = _CATALOGS[lang] = (stamp, support.Translations.load(TRANSLATIONS_DIR, [lang]))
    return cached[1]


def in_every_language(text) -> list[str]:
    """Return ``text`` in English and in every language of :data:`LANGUAGES`, without repeats.

    ``text`` is a lazy string (``_l(...)``), whose English is its message id; plain text is
    returned alone. For reading back what any reader wrote, e.g. the headers of an Excel
    template downloaded in Chinese and uploaded by someone working in English.
    """
    if not isinstance(text, LazyString) or not text._args:
        return [str(text)]
    msgid, variables = text._args[0], text._kwargs
    found: list[str] = []
    for lang in (DEFAULT_LANGUAGE, *LANGUAGES):
        translated = msgid if lang == DEFAULT_LANGUAGE else _catalog(lang).ugettext(msgid)
        if variables:
            translated = translated % variables
        if translated not in found:
            found.append(translated)
    return found


def compile_catalogs(directory: str = TRANSLATIONS_DIR) -> list[str]:
    """Compile each ``messages.po`` under ``directory`` whose ``.mo`` is missing or older.

    Safe to call from several processes at once: each writes a temporary file and renames it.
    Returns the paths written.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    written = []
    if not os.path.isdir(directory):
        return written
    for lang in sorted(os.listdir(directory)):
        folder = os.path.join(directory, lang, "LC_MESSAGES")
        po_path = os.path.join(folder, "messages.po")
        mo_path = os.path.join(folder, "messages.mo")
        if not os.path.exists(po_path):
            continue
        if os.path.exists(mo_path) and os.path.getmtime(mo_path) >= os.path.getmtime(po_path):
            continue
        with open(po_path, "rb") as fh:
            catalog = read_po(fh, locale=lang)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog, use_fuzzy=False)
        os.replace(tmp, mo_path)
        written.append(mo_path)
    return written


def init_app(app: Flask) -> None:
    """Bind Flask-Babel (catalogs compiled first) and the locale-aware template filters."""
    compile_catalogs()
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", TRANSLATIONS_DIR)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", DEFAULT_LANGUAGE)
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.policies["ext.i18n.trimmed"] = True  # as the extractor reads templates
    # Flask-Babel keeps the locale on ``g``; a request reusing an app context (tests, the
    # CLI) must not inherit the previous request's language
    app.before_request(refresh)
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["number"] = format_number
    app.jinja_env.filters["date"] = format_date
    app.jinja_env.filters["dt"] = format_datetime
    # a value set in bold inside a translated sentence: escaped, then wrapped (no |safe)
    app.jinja_env.filters["strong"] = lambda value: Markup("<strong>%s</strong>") % value
    app.jinja_env.globals["LANGUAGES"] = LANGUAGES
    app.jinja_env.globals["current_language"] = current_language
