"""The header search: one box takes any number, code or e-mail; each domain registers finders.

Core knows no domain (DESIGN): a domain registers a :class:`Finder` per kind of record it can
find, in ``erp/<domain>/search.py`` (imported by its views). A search runs only the finders of
the kinds the user may view (their ``permission``):

1. every finder's *exact* lookup first (a whole number, code, barcode or e-mail, on indexed
   columns), at most :data:`LIMIT` rows a kind;
2. only when nothing matched exactly, the *partial* lookups: the text inside numbers and codes
   (any case, LIKE wildcards taken literally), again at most :data:`LIMIT` rows a kind.

One match opens at once; several are listed by kind; none says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from erp.core.permissions import permissions_of

#: the most matches a kind shows (one more is read, to know that there are more)
LIMIT = 10
#: the shortest text looked for inside numbers and codes
MIN_PARTIAL = 2
#: the longest text searched (a pasted paragraph is cut)
MAX_LENGTH = 100


@dataclass(frozen=True)
class Query:
    """The searched text in the forms finders compare with.

    :param text: as typed, trimmed.
    :param upper: upper-cased (codes and numbers are stored so).
    :param lower: lower-cased (for case-insensitive comparisons).
    :param compact: upper-cased without spaces or dashes (a tracking number typed in groups).
    """

    text: str
    upper: str
    lower: str
    compact: str

    @classmethod
    def of(cls, text: str) -> Query:
        """Return the query of ``text`` (trimmed, cut to :data:`MAX_LENGTH`)."""
        text = (text or "").strip()[:MAX_LENGTH]
        return cls(text=text, upper=text.upper(), lower=text.lower(),
                   compact=re.sub(r"[\s-]+", "", text).upper())

    @property
    def is_email(self) -> bool:
        """Return whether the text looks like an e-mail address."""
        return "@" in self.text and " " not in self.text


@dataclass(frozen=True)
class Match:
    """A record found: its number or code, the page that shows it, a line about it."""

    label: str
    url: str
    detail: str = ""


@dataclass(frozen=True)
class Finder:
    """How a domain finds one kind of record.

    :param kind: a key (``order``, ``purchase_order``, ...).
    :param title: the kind's heading on the results page (plural).
    :param permission: the permission to view such records; without it the finder never runs.
    :param exact: ``exact(query, limit)`` returns the records the text names exactly.
    :param partial: ``partial(query, limit)`` returns those whose number or code contains it.
    :param more: ``more(query)`` returns the URL of the kind's list searching the text, for
        when there are more matches than shown.
    """

    kind: str
    title: str
    permission: str
    exact: Callable[[Query, int], list[Match]]
    partial: Callable[[Query, int], list[Match]] | None = None
    more: Callable[[Query], str] | None = None
    position: int = 50


FINDERS: list[Finder] = []


def register(*finders: Finder) -> None:
    """Add finders (a domain calls this at import)."""
    FINDERS.extend(finders)
    FINDERS.sort(key=lambda f: f.position)


@dataclass
class Group:
    """The matches of one kind; ``more_url`` when there are more than shown."""

    finder: Finder
    matches: list[Match]
    more_url: str | None = None


@dataclass
class Result:
    """What a search found: exact matches, else partial ones, by kind."""

    query: Query
    exact: bool = True
    groups: list[Group] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Return how many matches are shown."""
        return sum(len(g.matches) for g in self.groups)

    @property
    def single(self) -> Match | None:
        """Return the match when there is exactly one (and no more beyond the limit)."""
        if self.total == 1 and not any(g.more_url for g in self.groups):
            return next(g.matches[0] for g in self.groups if g.matches)
        return None


def finders_for(user) -> list[Finder]:
    """Return the finders of the kinds ``user`` may view."""
    perms = permissions_of(user)
    return [f for f in FINDERS if f.permission in perms]


def _run(finders: list[Finder], query: Query, exact: bool) -> list[Group]:
    groups = []
    for finder in finders:
        lookup = finder.exact if exact else finder.partial
        if lookup is None:
            continue
        matches = lookup(query, LIMIT + 1)
        if not matches:
            continue
        more = None
        if len(matches) > LIMIT:
            matches = matches[:LIMIT]
            more = finder.more(query) if finder.more else None
        groups.append(Group(finder, matches, more))
    return groups


def search(user, text: str) -> Result:
    """Search ``text`` among the kinds ``user`` may view: exact matches, else partial ones."""
    query = Query.of(text)
    result = Result(query)
    if not query.text:
        return result
    finders = finders_for(user)
    result.groups = _run(finders, query, exact=True)
    if not result.groups and len(query.text) >= MIN_PARTIAL:
        result.exact = False
        result.groups = _run(finders, query, exact=False)
    return result
