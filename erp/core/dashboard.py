"""Home dashboard cards: each domain registers counts and links for the roles that need them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time

from flask import url_for
from sqlalchemy import func, select

from erp.core.models import AuditEvent, User
from erp.core.permissions import permissions_of
from erp.extensions import db


@dataclass(frozen=True)
class Card:
    """A count on the home page, linking to the list behind it."""

    title: str
    permission: str
    count: Callable[[], int]
    endpoint: str
    hint: str = ""
    #: a figure beside the count, read with it (e.g. "120 units"), or None
    detail: Callable[[], str] | None = None


CARDS: list[Card] = []


def register(*cards: Card) -> None:
    """Add cards (a domain calls this at import)."""
    CARDS.extend(cards)


def cards_for(user) -> list[dict]:
    """Return the cards ``user`` may see, with their counts and links."""
    perms = permissions_of(user)
    return [{"title": c.title, "count": c.count(), "url": url_for(c.endpoint), "hint": c.hint,
             "detail": c.detail() if c.detail else ""}
            for c in CARDS if c.permission in perms]


def _audit_today() -> int:
    start = datetime.combine(datetime.now(UTC).date(), time.min, UTC)
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.at >= start)) or 0


def _active_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User)
                             .where(User.active.is_(True))) or 0


register(
    Card("Active users", "core.manage_users", _active_users, "core.user_list",
         "Create, edit and deactivate staff accounts"),
    Card("Audit events today", "core.view_audit", _audit_today, "core.audit_list",
         "Every change, who made it and when"),
)
