"""Home page queues: each domain registers its figures and the cards that show them, per role.

A *figure source* is a function of a domain that computes several of its figures (counts, and
sums in the base currency) in one query. A *card* shows one figure in the section of one role,
and links to the list filtered to exactly what the figure counts. The home page shows one
section per role of the user, in :data:`SECTIONS` order; the admin's section holds the cards
every permission showed before the role sections existed. Each source runs once per page, for
just the figures the page's cards need, so a user with several roles costs one query per
domain, not one per card; and the figures that are plain counts register as scalar subqueries
(:func:`scalar_source`), which the page reads for every domain in ONE SELECT.

Core knows no domain (DESIGN): each domain registers in ``erp/<domain>/home.py``, imported by
its views.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from flask import request, url_for
from sqlalchemy import and_, bindparam, func, select

from erp.core.i18n import _l, current_language
from erp.core.models import AuditEvent, ExchangeRate, Role, User
from erp.core.permissions import permissions_of
from erp.extensions import db

#: the role sections in the order the page shows them, with their headings
SECTIONS: dict[Role, object] = {
    Role.manager: _l("Approvals waiting"),
    Role.purchasing: _l("Purchasing"),
    Role.warehouse: _l("Warehouse"),
    Role.customer_service: _l("Customer service"),
    Role.admin: _l("Overview"),
}


@dataclass(frozen=True)
class Figure:
    """What a card shows: a count, and where the card wants them an amount or a quantity.

    :param amount: a sum in the base currency; None when the card has none, or when an
        exchange rate to convert part of it is missing (``rate_missing`` then says so).
    :param units: a quantity beside the count (units waiting, lines to count).
    """

    count: int
    amount: Decimal | None = None
    units: int | None = None
    rate_missing: bool = False


class Context:
    """What the sources of one page share: the time, the base currency and the latest rates.

    Each is read once per page, on first use.
    """

    def __init__(self, now: datetime | None = None):
        self.now = now or datetime.now(UTC)
        self._rates: dict[str, Decimal] | None = None

    @property
    def today(self) -> date:
        """Return today's date (server local time, where the warehouse is)."""
        return self.now.astimezone().date()

    @cached_property
    def base(self) -> str:
        """Return the base currency code (as the request's session load read it, if it did)."""
        from erp.core import sessions
        return sessions.page_setting("base_currency")

    def in_base(self, amounts: Mapping[str, Decimal]) -> tuple[Decimal | None, bool]:
        """Return ``(sum in base currency, rate missing)`` of amounts per currency.

        Converted at each currency's latest rate up to today (one query for every currency,
        the first time a page needs it). The sum is None when a rate is missing.
        """
        total = Decimal(0)
        for currency, amount in amounts.items():
            if not amount:
                continue
            if currency == self.base:
                total += Decimal(amount)
                continue
            rate = self._latest_rates().get(currency)
            if rate is None:
                return None, True
            total += Decimal(amount) * rate
        return total.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP), False

    def _latest_rates(self) -> dict[str, Decimal]:
        if self._rates is None:
            self._rates = dict(connection().execute(_LATEST_RATES, {"on": self.today}).all())
        return self._rates


_LATEST = (select(ExchangeRate.currency, func.max(ExchangeRate.valid_from).label("valid_from"))
           .where(ExchangeRate.valid_from <= bindparam("on"))
           .group_by(ExchangeRate.currency).subquery())
#: each currency's latest rate on ``:on``
_LATEST_RATES = (select(ExchangeRate.currency, ExchangeRate.rate)
                 .join(_LATEST, and_(_LATEST.c.currency == ExchangeRate.currency,
                                     _LATEST.c.valid_from == ExchangeRate.valid_from)))


#: a source: ``source(wanted figure keys, context) -> {key: Figure or count}``
Source = Callable[[frozenset[str], Context], Mapping[str, "Figure | int"]]


@dataclass(frozen=True)
class Card:
    """A figure on the home page in the section of a role, linking to the list behind it.

    :param figure: the key of a registered figure (see :func:`source`), or a function
        returning the count.
    :param args: the query string of the list, so it shows exactly what the figure counts;
        or a function of the page's :class:`Context` returning it (a date, a time).
    :param section: the role whose section shows the card.
    :param amount: show the figure's amount (a sum in the base currency).
    :param detail: returns a line beside the count from the figure (e.g. "12 units").
    :param position: where the card stands in its section (cards of several domains share
        one; equal positions keep the order of registration).
    """

    title: str
    permission: str
    figure: str | Callable[[], int]
    endpoint: str
    hint: str = ""
    args: tuple[tuple[str, str], ...] | Callable[[Context], Mapping[str, str]] = \
        field(default=(), compare=False)
    section: Role = Role.admin
    amount: bool = False
    detail: Callable[[Figure], str] | None = field(default=None, compare=False)
    position: int = 50


CARDS: list[Card] = []
#: figure key -> the source that computes it
SOURCES: dict[str, Source] = {}


def register(*cards: Card) -> None:
    """Add cards (a domain calls this at import)."""
    CARDS.extend(cards)


def source(keys: Iterable[str]) -> Callable[[Source], Source]:
    """Register the decorated function as the source of the figures ``keys``."""
    def decorator(fn: Source) -> Source:
        for key in keys:
            SOURCES[key] = fn
        return fn
    return decorator


@dataclass(frozen=True, eq=False)
class ScalarSource:
    """Figures that are scalar subqueries: the page reads those of every domain in ONE SELECT.

    :param columns: ``{key: scalar subquery}``, built once (``bindparam`` for what changes).
    :param params: returns the values of the subqueries' bind parameters for a page; their
        names are shared by every domain's subqueries in the SELECT, so each name means one
        thing (``now``, ``day_start``...): a name given two values for one page is an error.
    :param needs: returns the extra columns that the figures ``keys`` are computed from.
    :param finish: turns ``(keys, {column: value})`` into the figures; by default each
        figure is its column's count.
    """

    columns: Mapping[str, object]
    params: Callable[[Context], Mapping[str, object]] | None = None
    needs: Callable[[frozenset[str]], Iterable[str]] | None = None
    finish: Callable[[frozenset[str], Mapping[str, object]], Mapping[str, "Figure | int"]] \
        | None = None


#: figure key -> the scalar source that reads it
SCALAR_SOURCES: dict[str, ScalarSource] = {}


def scalar_source(columns: Mapping[str, object], *, figures: Iterable[str] | None = None,
                  params: Callable[[Context], Mapping[str, object]] | None = None,
                  needs: Callable[[frozenset[str]], Iterable[str]] | None = None,
                  finish: Callable[[frozenset[str], Mapping[str, object]],
                                   Mapping[str, Figure | int]] | None = None) -> ScalarSource:
    """Register the figures ``figures`` (default: every key of ``columns``) as scalar subqueries.

    See :class:`ScalarSource`; a domain calls this at import.
    """
    spec = ScalarSource(columns, params, needs, finish)
    for key in (figures if figures is not None else columns):
        SCALAR_SOURCES[key] = spec
    return spec


#: the SELECT of each set of scalar columns a page has needed: (names, statement)
_SCALAR_SELECTS: dict[frozenset, tuple[list, object]] = {}


def _scalar_figures(wanted: Mapping[ScalarSource, set[str]], ctx: Context) -> dict:
    """Read the figures of every scalar source wanted in one SELECT; return them by key."""
    columns: dict[tuple[int, str], object] = {}
    needed: dict[ScalarSource, set[str]] = {}
    params: dict[str, object] = {}
    for spec, keys in wanted.items():
        need = needed[spec] = set(keys) | set(spec.needs(frozenset(keys)) if spec.needs else ())
        for key in need:
            columns[(id(spec.columns), key)] = spec.columns[key]
        for name, value in (spec.params(ctx) if spec.params else {}).items():
            if name in params and params[name] != value:
                raise ValueError(f"bind parameter {name!r} given two values on one page")
            params[name] = value
    cache_key = frozenset(columns)
    cached = _SCALAR_SELECTS.get(cache_key)
    if cached is None:
        names = list(columns)
        cached = _SCALAR_SELECTS[cache_key] = (names, select(
            *(columns[name].label(f"c{i}") for i, name in enumerate(names))))
    names, statement = cached
    row = connection().execute(statement, params).one()
    read = dict(zip(names, row, strict=True))
    values: dict[str, Figure | int] = {}
    for spec, keys in wanted.items():
        got = {key: read[(id(spec.columns), key)] for key in needed[spec]}
        if spec.finish is not None:
            values.update(spec.finish(frozenset(keys), got))
        else:
            values.update({key: got[key] for key in keys})
    return values


def _figures(cards: list[Card], ctx: Context) -> dict[str, Figure]:
    """Run each source once, for the figures of ``cards`` it computes.

    The scalar sources' figures come first, all in one query.
    """
    wanted: dict[Source, set[str]] = {}
    scalar_wanted: dict[ScalarSource, set[str]] = {}
    for card in cards:
        if isinstance(card.figure, str):
            spec = SCALAR_SOURCES.get(card.figure)
            if spec is not None:
                scalar_wanted.setdefault(spec, set()).add(card.figure)
            else:
                wanted.setdefault(SOURCES[card.figure], set()).add(card.figure)
    found: dict[str, Figure | int] = _scalar_figures(scalar_wanted, ctx) if scalar_wanted \
        else {}
    for fn, keys in wanted.items():
        found.update(fn(frozenset(keys), ctx))
    return {key: value if isinstance(value, Figure) else Figure(int(value or 0))
            for key, value in found.items()}


# The page is read often (the dashboard_rps benchmark): what never changes between requests
# is computed once per process: a card's title and hint in each language, its link, the
# statements of the sources (so SQLAlchemy keeps their cache keys too).
_TEXTS: dict[tuple[str, int], str] = {}
_GROUPING: dict[str, str] = {}
_URLS: dict[tuple, str] = {}


def _text(value, lang: str) -> str:
    """Return a (lazy) string of a card in ``lang``, translated once per process."""
    if isinstance(value, str):
        return value
    key = (lang, id(value))
    text = _TEXTS.get(key)
    if text is None:
        text = _TEXTS[key] = str(value)
    return text


def _count_text(count: int, lang: str) -> str:
    """Return a count with the thousands separator of ``lang`` (as ``|number`` writes it)."""
    group = _GROUPING.get(lang)
    if group is None:
        from babel.numbers import get_group_symbol
        group = _GROUPING[lang] = get_group_symbol(lang)
    return f"{count:,}".replace(",", group)


def _url(card: Card, ctx: Context) -> str:
    if callable(card.args):
        return url_for(card.endpoint, **card.args(ctx))
    key = (request.script_root, card.endpoint, card.args)
    url = _URLS.get(key)
    if url is None:
        url = _URLS[key] = url_for(card.endpoint, **dict(card.args))
    return url


def sections_for(user, now: datetime | None = None) -> tuple[list[dict], str | None]:
    """Return the sections of ``user``'s roles, each with its cards, counts and links.

    Also returns the base currency the amounts are in (None when no card shows one).
    """
    perms = permissions_of(user)
    roles = set(getattr(user, "roles", ()) or ())
    chosen = [(role, sorted((c for c in CARDS if c.section == role and c.permission in perms),
                            key=lambda c: c.position))
              for role in SECTIONS if role in roles]
    ctx = Context(now)
    values = _figures([card for _role, cards in chosen for card in cards], ctx)
    lang = current_language()
    sections = []
    base = None
    for role, cards in chosen:
        shown = []
        for card in cards:
            figure = values.get(card.figure) if isinstance(card.figure, str) \
                else Figure(int(card.figure() or 0))
            figure = figure or Figure(0)
            if card.amount:
                base = ctx.base  # read once, and only when an amount is shown
            shown.append({
                "title": _text(card.title, lang), "count": figure.count,
                "count_text": _count_text(figure.count, lang),
                "hint": _text(card.hint, lang), "url": _url(card, ctx),
                "amount": figure.amount if card.amount else None,
                "rate_missing": card.amount and figure.rate_missing,
                "detail": card.detail(figure) if card.detail else ""})
        sections.append({"role": role.value, "title": _text(SECTIONS[role], lang),
                         "cards": shown})
    return sections, base


def connection():
    """Return the session's connection, for a source's Core statements.

    A figure is a column, never an entity: run on the connection, a statement skips the ORM's
    execution and result layers (half the cost of a small query). The page reads within the
    session's transaction all the same; nothing is pending on the home page to flush first.
    """
    return db.session.connection()


_SELECTS: dict[tuple[int, frozenset[str]], object] = {}


def scalars(columns: Mapping[str, object], keys: Iterable[str], **params) -> dict:
    """Run the scalar subqueries of ``columns`` named in ``keys`` as one SELECT.

    A domain's source reads all its counts and sums in one round trip this way; ``columns``
    is built once (a module constant, with ``bindparam`` for what changes, e.g. the time),
    and so is the SELECT of each set of keys. Returns ``{key: value}`` (a sum over no rows is
    None).
    """
    keys = frozenset(key for key in keys if key in columns)
    if not keys:
        return {}
    cache_key = (id(columns), keys)
    stmt = _SELECTS.get(cache_key)
    if stmt is None:
        names = [key for key in columns if key in keys]
        stmt = _SELECTS[cache_key] = (names, select(*(columns[key].label(f"c{i}")
                                                      for i, key in enumerate(names))))
    names, select_ = stmt
    row = connection().execute(select_, params).one()
    return {key: row[i] for i, key in enumerate(names)}


# --------------------------------------------------------------------------- core's own

_CORE = {
    "core.active_users": select(func.count()).select_from(User)
    .where(User.active.is_(True)).scalar_subquery(),
    "core.audit_today": select(func.count()).select_from(AuditEvent)
    .where(AuditEvent.at >= bindparam("day_start")).scalar_subquery(),
}


scalar_source(_CORE, params=lambda ctx: {
    "day_start": datetime.combine(ctx.now.date(), time.min, UTC)})


register(
    Card(_l("Active users"), "core.manage_users", "core.active_users", "core.user_list",
         _l("Create, edit and deactivate staff accounts"), args=(("active", "yes"),)),
    Card(_l("Audit events today"), "core.view_audit", "core.audit_today", "core.audit_list",
         _l("Every change, who made it and when"),
         args=lambda ctx: {"date_from": ctx.now.date().isoformat()}),
)
