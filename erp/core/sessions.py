"""Server-side sessions: one ``user_session`` row per sign-in, the cookie holding its token.

The signed cookie (Flask's session) carries a random token; the database keeps its SHA-256 only,
with when the sign-in began, when it was last seen, from which address and browser, and when and
why it ended. A request is signed in only while its row is open, its user active and the row
younger than the absolute lifetime (setting ``session_lifetime_hours``), besides the idle
timeout of the cookie (``ERP_SESSION_MINUTES``). Ending the row (sign-out, the user ending it on
"My sessions", an admin deactivating the user or resetting their password or second factor)
signs that browser out at its next request.

The user loader reads the row, its user, its roles and the settings the request needs in ONE query,
so a page costs no extra query; ``last_seen_at`` is written at most once a minute.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import has_request_context, request
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload

from erp.core import audit
from erp.core import settings as settings_mod
from erp.core.errors import DomainError, PermissionDenied
from erp.core.i18n import _, _l
from erp.core.models import User, UserSession, utcnow
from erp.extensions import db

log = logging.getLogger(__name__)

#: the key of Flask's session holding the token
TOKEN_KEY = "sid"
#: ``last_seen_at`` is written at most this often
TOUCH_EVERY = timedelta(minutes=1)

#: why a session ended, as the signed-out browser is told (lazy: the reader's language)
END_REASONS = {
    "signed_out": _l("You signed out."),
    "ended_by_user": _l("This session was ended from another session of yours."),
    "expired": _l("Your session reached its maximum length. Please sign in again."),
    "deactivated": _l("Your account was deactivated."),
    "password_reset": _l("An admin reset your password. Sign in with the new one."),
    "password_changed": _l("Your password was changed in another session. Please sign in "
                           "again."),
    "two_factor_reset": _l("An admin reset your second factor. Sign in and enrol again."),
}


class SessionError(DomainError):
    """A session cannot be ended (not one's own, or already ended)."""


def hash_token(token: str) -> str:
    """Return the SHA-256 (hex) of a session token: what the database keeps."""
    return hashlib.sha256(token.encode()).hexdigest()


def lifetime() -> timedelta:
    """Return the absolute session lifetime (setting ``session_lifetime_hours``)."""
    return timedelta(hours=settings_mod.get("session_lifetime_hours"))


def start_session(user: User, *, address: str | None, user_agent: str | None,
                  now: datetime | None = None) -> tuple[UserSession, str]:
    """Open a session for ``user``; return the row and the token for the cookie."""
    token = secrets.token_urlsafe(32)
    now = now or utcnow()
    row = UserSession(user_id=user.id, token_hash=hash_token(token), created_at=now,
                      last_seen_at=now, address=(address or None) and address[:64],
                      user_agent=(user_agent or None) and user_agent[:255])
    db.session.add(row)
    db.session.flush()
    return row, token


@dataclass
class Loaded:
    """What the user loader found for a cookie's token."""

    row: UserSession | None
    user: User | None
    lifetime: timedelta
    two_factor_roles: frozenset[str]
    end_reason: str | None  # set when the token names a session that is no longer valid
    #: the stored text of :data:`PAGE_SETTINGS` as the request began (None: unset)
    stored: dict[str, str | None] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """Return whether the request is signed in by this session."""
        return self.end_reason is None and self.user is not None


#: the settings a page reads anyway (the company language when neither the user nor the
#: browser chose one, the base currency of the home page's amounts): they ride along too
PAGE_SETTINGS = ("default_language", "base_currency")
#: where the user loader keeps them for the request (see :func:`page_setting`)
ENVIRON_KEY = "erp.page_settings"

_LOAD = (select(UserSession, User,
                settings_mod.stored_text("session_lifetime_hours"),
                settings_mod.stored_text("two_factor_roles"),
                *(settings_mod.stored_text(key) for key in PAGE_SETTINGS))
         .join(User, User.id == UserSession.user_id)
         # the roles in the same query (a join), not in a second one (the selectin)
         .options(joinedload(User.role_links))
         .where(UserSession.token_hash == bindparam("token_hash")))


def load(token: str | None, user_id: str, *, now: datetime | None = None) -> Loaded:
    """Return the session of ``token`` with its user and the settings a request needs.

    One query: the row, its user with its roles (joined) and the absolute lifetime, the
    two-factor roles and the :data:`PAGE_SETTINGS` riding along as scalar subqueries.
    """
    now = now or utcnow()
    found = db.session.execute(_LOAD, {"token_hash": hash_token(token)}
                               ).unique().first() if token else None
    if found is None:
        default_hours = settings_mod.parse_stored("session_lifetime_hours", None)
        return Loaded(None, None, timedelta(hours=default_hours),
                      settings_mod.parse_stored("two_factor_roles", None), "missing")
    row, user, hours_raw, roles_raw, *page_raw = found
    span = timedelta(hours=settings_mod.parse_stored("session_lifetime_hours", hours_raw))
    roles = settings_mod.parse_stored("two_factor_roles", roles_raw)
    reason = None
    if str(user.id) != str(user_id):
        reason = "missing"
    elif row.ended_at is not None:
        reason = row.end_reason or "signed_out"
    elif not user.active:
        reason = "deactivated"
    elif row.created_at + span <= now:
        reason = "expired"
    return Loaded(row, user, span, roles, reason, dict(zip(PAGE_SETTINGS, page_raw, strict=True)))


def page_setting(key: str) -> Any:
    """Return setting ``key`` (one of :data:`PAGE_SETTINGS`) as read with the session.

    The request's session load read it; a request that loaded none (or that changed the
    settings since, see :func:`forget_page_settings`) reads it now. Kept in the request's WSGI
    environ, not on ``g``: an app context shared by requests (the tests') keeps ``g``, never
    the environ of an earlier request.
    """
    stored = request.environ.get(ENVIRON_KEY) if has_request_context() else None
    if stored is not None:
        return settings_mod.parse_stored(key, stored[key])
    return settings_mod.get(key)


def forget_page_settings() -> None:
    """Drop the settings the session load read: the request has just changed settings."""
    if has_request_context():
        request.environ.pop(ENVIRON_KEY, None)


def touch(row: UserSession, *, now: datetime | None = None) -> None:
    """Record that the session was seen, at most once a minute (best effort, own transaction).

    Written on a connection of its own and committed there, so a GET stays a read and the
    page's own unit of work is not committed early; a failure is logged, never shown.
    """
    from erp.core import transactions
    now = now or utcnow()
    if row.last_seen_at is not None and now - row.last_seen_at < TOUCH_EVERY:
        return
    try:
        with transactions.intent("write"), db.engine.begin() as conn:
            conn.execute(update(UserSession).where(UserSession.id == row.id)
                         .values(last_seen_at=now))
    except Exception:  # noqa: BLE001 - a missed "last seen" must never fail a page
        log.warning("Could not record when session %s was last seen", row.id, exc_info=True)


def end_sessions(user: User, *, except_id: int | None = None, reason: str,
                 actor: User | None = None, now: datetime | None = None) -> int:
    """End ``user``'s open sessions (but ``except_id``); return how many ended.

    Each signed-out browser is told ``reason`` (a key of :data:`END_REASONS`) at its next
    request. Audited as ``user.sessions_ended`` when any ended.
    """
    if reason not in END_REASONS:
        raise ValueError(f"unknown session end reason {reason!r}")
    now = now or utcnow()
    stmt = (update(UserSession)
            .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
            .values(ended_at=now, end_reason=reason)
            .execution_options(synchronize_session=False))
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    count = db.session.execute(stmt).rowcount or 0
    if count:
        audit.record(user, "user.sessions_ended", actor=actor,
                     changes={"count": [None, count], "reason": [None, reason]})
    return count


def end_session(row: UserSession, *, actor: User, reason: str = "ended_by_user",
                now: datetime | None = None) -> UserSession:
    """End one session of ``actor``'s own.

    :raises PermissionDenied: if the session is someone else's.
    :raises SessionError: if it has already ended.
    """
    if row.user_id != actor.id:
        raise PermissionDenied(_("To end a session, it must be one of your own."))
    if row.ended_at is not None:
        raise SessionError(_("This session has already ended."))
    row.ended_at = now or utcnow()
    row.end_reason = reason
    audit.record(actor, "user.session_ended", actor=actor,
                 changes={"session": [None, row.id], "reason": [None, reason]})
    db.session.flush()
    return row


def sign_out(row: UserSession, *, now: datetime | None = None) -> None:
    """End the session a user signs out of (the sign-in's own record; not audited)."""
    if row.ended_at is None:
        db.session.execute(update(UserSession).where(UserSession.id == row.id,
                                                     UserSession.ended_at.is_(None))
                           .values(ended_at=now or utcnow(), end_reason="signed_out")
                           .execution_options(synchronize_session=False))


def active_sessions(user: User, *, now: datetime | None = None) -> list[UserSession]:
    """Return ``user``'s open sessions, the latest seen first.

    Left out: those older than the lifetime, and those idle longer than the idle timeout
    (``ERP_SESSION_MINUTES``; ``last_seen_at`` is at most a minute behind), whose cookie no
    longer signs anyone in.
    """
    from flask import current_app
    now = now or utcnow()
    idle = current_app.permanent_session_lifetime + TOUCH_EVERY
    return list(db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
               UserSession.created_at > now - lifetime(),
               UserSession.last_seen_at > now - idle)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc())))


def end_reason_message(reason: str | None) -> str:
    """Return what a browser signed out for ``reason`` is told."""
    message = END_REASONS.get(reason or "")
    return str(message) if message else _("Your session has ended. Please sign in again.")
