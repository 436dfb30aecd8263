"""Core operations: users, sign-in with throttling, settings and exchange rates.

Services validate, change, audit and flush; they never commit (the caller's unit of work does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import current_app, has_app_context
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from erp.core import audit, sessions
from erp.core import settings as settings_mod
from erp.core.errors import DomainError, FieldErrors, ValidationError
from erp.core.i18n import _, ngettext
from erp.core.models import ExchangeRate, LoginAttempt, Role, Setting, User, UserRole, utcnow
from erp.core.money import validate_currency
from erp.extensions import db


class UserError(DomainError):
    """A user-account rule was broken."""


class LoginThrottled(DomainError):
    """Too many failed sign-ins: the attempt is refused without checking the password."""

    status_code = 429


MIN_PASSWORD_LENGTH = 10
LOGIN_WINDOW = timedelta(minutes=15)
SLOW_AFTER = 3            # failures on one account after which attempts wait a growing delay
ACCOUNT_LOCK_AFTER = 6    # failures on one account within the window that lock it
ADDRESS_SLOW_AFTER = 10   # an office shares one address: slow it later than an account
ADDRESS_LOCK_AFTER = 20   # failures from one address within the window that lock it
MAX_DELAY = timedelta(seconds=30)  # the growing wait stops growing here, so locks stay reachable
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


def hash_password(password: str) -> str:
    """Return the scrypt hash of ``password`` (cost from ``ERP_PASSWORD_HASH_METHOD``)."""
    method = current_app.config.get("ERP_PASSWORD_HASH_METHOD", "scrypt") \
        if has_app_context() else "scrypt"
    if not method.startswith("scrypt"):
        raise ValueError("Passwords are hashed with scrypt only.")
    return generate_password_hash(password, method=method)


def check_password_policy(password: str, *, username: str = "") -> None:
    """Refuse a password that is too short or equals the username.

    :raises ValidationError: saying what the password must be.
    """
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationError(ngettext(
            "A password must have at least %(num)d character.",
            "A password must have at least %(num)d characters.", MIN_PASSWORD_LENGTH),
            field="password")
    if username and password.lower() == username.lower():
        raise ValidationError(_("A password must not be the username."), field="password")


def _clean_roles(roles: Iterable[str]) -> set[Role]:
    try:
        cleaned = {Role(r) for r in roles}
    except ValueError as exc:
        raise ValidationError(_("Unknown role: %(error)s", error=exc), field="roles") from None
    if not cleaned:
        raise ValidationError(_("A user must hold at least one role."), field="roles")
    return cleaned


def _set_roles(user: User, roles: set[Role]) -> None:
    current = {link.role: link for link in user.role_links}
    for name in set(current) - {r.value for r in roles}:
        user.role_links.remove(current[name])
    for role in roles:
        if role.value not in current:
            user.role_links.append(UserRole(role=role.value))


def get_user_by_username(username: str) -> User | None:
    """Return the user with ``username`` (case-insensitive) or None."""
    return db.session.scalar(select(User).where(User.username == (username or "").strip().lower()))


def create_user(*, username: str, full_name: str, password: str, roles: Iterable[str],
                email: str | None = None, actor: User | None,
                must_change_password: bool = False) -> User:
    """Create an active user with the given roles.

    :raises ValidationError: for a malformed username, weak password or no role.
    :raises UserError: if the username is taken.
    """
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationError(_(
            "A username must be 2-64 characters: lower-case letters, digits, dot, dash or "
            "underscore, starting with a letter or digit."), field="username")
    if not (full_name or "").strip():
        raise ValidationError(_("The full name is required."), field="full_name")
    check_password_policy(password, username=username)
    role_set = _clean_roles(roles)
    if get_user_by_username(username) is not None:
        raise UserError(_('To create user "%(username)s", you must choose another username: '
                          "it is taken.", username=username), field="username")
    user = User(username=username, full_name=full_name.strip(), email=(email or None),
                password_hash=hash_password(password), active=True,
                must_change_password=must_change_password)
    _set_roles(user, role_set)
    db.session.add(user)
    db.session.flush()
    audit.record(user, "user.created", actor=actor, changes={
        "username": [None, username], "roles": [None, sorted(r.value for r in role_set)]})
    return user


def update_user(user: User, *, full_name: str, email: str | None, roles: Iterable[str],
                active: bool, actor: User) -> User:
    """Change a user's name, email, roles and active flag.

    :raises UserError: if an admin would remove their own admin role or deactivate themselves,
        or if it would leave no active admin.
    """
    role_set = _clean_roles(roles)
    if not (full_name or "").strip():
        raise ValidationError(_("The full name is required."), field="full_name")
    if user.id == actor.id and (Role.admin not in role_set or not active):
        raise UserError(_("To remove your own admin role or deactivate yourself, ask another "
                          "admin: you cannot lock yourself out."))
    if Role.admin in user.roles and (Role.admin not in role_set or not active):
        _ensure_other_admin(user)
    changes = audit.diff(user, {"full_name": full_name.strip(), "email": email or None,
                                "active": active})
    old_roles = sorted(r.value for r in user.roles)
    new_roles = sorted(r.value for r in role_set)
    if old_roles != new_roles:
        changes["roles"] = [old_roles, new_roles]
    was_active = user.active
    user.full_name, user.email, user.active = full_name.strip(), email or None, active
    _set_roles(user, role_set)
    if changes:
        audit.record(user, "user.updated", actor=actor, changes=changes)
    db.session.flush()
    if was_active and not active:
        # a deactivated user's open browsers are signed out at their next request
        sessions.end_sessions(user, reason="deactivated", actor=actor)
    return user


def _ensure_other_admin(user: User) -> None:
    others = db.session.scalar(
        select(func.count()).select_from(User).join(UserRole)
        .where(UserRole.role == Role.admin.value, User.active.is_(True), User.id != user.id))
    if not others:
        raise UserError(_('To remove admin rights from "%(username)s", you must first make '
                          "another active user an admin.", username=user.username))


def set_user_active(user: User, active: bool, *, actor: User) -> User:
    """Activate or deactivate a user (a deactivated user cannot sign in; their sessions end).

    :raises UserError: when deactivating oneself or the last active admin.
    """
    return update_user(user, full_name=user.full_name, email=user.email,
                       roles=[r.value for r in user.roles], active=active, actor=actor)


def reset_password(user: User, new_password: str, *, actor: User) -> User:
    """Set a new password chosen by an admin; the user must change it at next sign-in.

    The user's open sessions end (they sign in again with the new password).

    :raises ValidationError: if the password breaks the policy.
    """
    check_password_policy(new_password, username=user.username)
    user.password_hash = hash_password(new_password)
    user.must_change_password = True
    audit.record(user, "user.password_reset", actor=actor)
    db.session.flush()
    sessions.end_sessions(user, reason="password_reset", actor=actor)
    return user


def change_own_password(user: User, *, current: str, new: str,
                        session_id: int | None = None) -> User:
    """Change one's own password after checking the current one; end one's other sessions.

    :param session_id: the session the change is made in, which stays open.

    :raises ValidationError: if the current password is wrong or the new one breaks the policy.
    """
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationError(_("The current password is not correct."),
                              field="current_password")
    check_password_policy(new, username=user.username)
    if current == new:
        raise ValidationError(_("The new password must differ from the current one."),
                              field="new_password")
    user.password_hash = hash_password(new)
    user.must_change_password = False
    audit.record(user, "user.password_changed", actor=user)
    db.session.flush()
    sessions.end_sessions(user, except_id=session_id, reason="password_changed", actor=user)
    return user


def set_language(user: User, language: str | None) -> User:
    """Set the language ``user`` works in (``None``: let the browser decide).

    :raises ValidationError: if the language is not one erp has a catalog for.
    """
    from erp.core.i18n import LANGUAGES
    language = (language or "").strip() or None
    if language is not None and language not in LANGUAGES:
        raise ValidationError(_("Choose one of the languages offered, not %(value)s.",
                                value=language), field="language")
    if user.language != language:
        audit.record(user, "user.language_changed", actor=user,
                     changes={"language": [user.language, language]})
        user.language = language
        db.session.flush()
    return user


@dataclass
class ThrottleState:
    """How sign-in attempts for an account or address currently stand."""

    failures: int
    retry_after: int  # seconds to wait; 0 means an attempt may be made now
    locked: bool


def _failures_since(column, value: str, since: datetime) -> tuple[int, datetime | None]:
    last_success = db.session.scalar(
        select(func.max(LoginAttempt.at)).where(column == value, LoginAttempt.success.is_(True),
                                                LoginAttempt.at >= since))
    start = max(since, last_success) if last_success else since
    count, latest = db.session.execute(
        select(func.count(), func.max(LoginAttempt.at))
        .where(column == value, LoginAttempt.success.is_(False), LoginAttempt.at >= start)).one()
    if latest is not None and latest.tzinfo is None:  # aggregate results bypass the column type
        latest = latest.replace(tzinfo=since.tzinfo)
    return count, latest


def throttle_state(column, value: str, slow_after: int, lock_after: int,
                   now: datetime) -> ThrottleState:
    """Return the throttle state of one account (``column`` = username) or address."""
    count, latest = _failures_since(column, value, now - LOGIN_WINDOW)
    if latest is None:
        return ThrottleState(0, 0, False)
    if count >= lock_after:
        wait = latest + LOGIN_WINDOW - now
        return ThrottleState(count, max(1, int(wait.total_seconds())), True)
    if count >= slow_after:
        delay = min(timedelta(seconds=2 ** (count - slow_after + 1)), MAX_DELAY)  # 2, 4, 8 s ..
        wait = latest + delay - now
        if wait.total_seconds() > 0:
            return ThrottleState(count, max(1, int(wait.total_seconds() + 0.999)), False)
    return ThrottleState(count, 0, False)


def check_throttle(name: str, address: str, now: datetime) -> None:
    """Refuse an attempt while the account ``name`` or the ``address`` must wait.

    Checked before any password or code is, so a throttled attempt checks nothing.

    :raises LoginThrottled: saying how long to wait.
    """
    for column, value, slow, limit, what in (
            (LoginAttempt.username, name, SLOW_AFTER, ACCOUNT_LOCK_AFTER, _("this account")),
            (LoginAttempt.address, address, ADDRESS_SLOW_AFTER, ADDRESS_LOCK_AFTER,
             _("your address"))):
        state = throttle_state(column, value, slow, limit, now)
        if state.locked:
            minutes = (state.retry_after + 59) // 60
            raise LoginThrottled(ngettext(
                "Too many failed sign-ins for %(what)s. Sign-in is refused for %(num)d more "
                "minute; ask an admin if you have forgotten your password.",
                "Too many failed sign-ins for %(what)s. Sign-in is refused for %(num)d more "
                "minutes; ask an admin if you have forgotten your password.",
                minutes, what=what))
        if state.retry_after:
            raise LoginThrottled(ngettext(
                "Too many failed sign-ins for %(what)s. Wait %(num)d second before trying "
                "again.",
                "Too many failed sign-ins for %(what)s. Wait %(num)d seconds before trying "
                "again.", state.retry_after, what=what))


def authenticate(username: str, password: str, *, address: str,
                 now: datetime | None = None) -> User:
    """Check a sign-in attempt and record it; return the user on success.

    Failed attempts on one account, or from one address, are slowed (a growing wait between
    attempts) and then refused for ``LOGIN_WINDOW``. A refused attempt is not checked at all.
    For a user with a second factor the right password records nothing yet: the code step
    records the attempt (a failure counts toward the same throttle).

    :raises LoginThrottled: while the account or address must wait, saying how long.
    :raises ValidationError: for a wrong username or password, or a deactivated account.
    """
    now = now or utcnow()
    name = (username or "").strip().lower()[:64]
    address = (address or "unknown")[:64]
    check_throttle(name, address, now)
    user = get_user_by_username(name)
    ok = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    success = bool(user and ok and user.active)
    if success and user.totp_enabled:
        # half signed in: the attempt is recorded by the code step, so a right password does
        # not clear the count of wrong codes (erp.core.twofactor.verify_sign_in_code)
        return user
    db.session.add(LoginAttempt(username=name, address=address, at=now, success=success))
    if not success:
        db.session.flush()
        if user and ok and not user.active:
            raise ValidationError(_("This account is deactivated. Ask an admin to reactivate "
                                    "it."))
        raise ValidationError(_("Wrong username or password."))
    user.last_login_at = now
    db.session.flush()
    return user


def check_settings(values: Mapping[str, str]) -> tuple[dict[str, tuple], dict[str, str]]:
    """Parse settings as the settings form sends them; return ``(parsed, errors)``.

    ``parsed`` maps each good key to ``(value, text)``; ``errors`` maps each bad key to a
    message naming the setting and why, so every problem can be shown at once. No writes.
    """
    parsed: dict[str, tuple] = {}
    errors: dict[str, str] = {}
    for key, raw in values.items():
        definition = settings_mod.SETTINGS.get(key)
        if definition is None:
            errors[key] = _("Unknown setting %(key)s.", key=key)
            continue
        text = str(raw if raw is not None else "").strip()
        if not text and not definition.optional:
            errors[key] = _("%(setting)s is required.", setting=definition.label)
            continue
        try:
            parsed[key] = (definition.parse(text), text)
        except (ValueError, ArithmeticError) as exc:
            errors[key] = _("%(setting)s %(problem)s.", setting=definition.label, problem=exc)
    return parsed, errors


def update_settings(values: Mapping[str, str], *, actor: User) -> dict[str, list]:
    """Validate and store settings; return the ``{key: [before, after]}`` that changed.

    All or nothing: every value is checked first, and one bad value stores none.

    :raises FieldErrors: naming every setting whose value is not acceptable, each with its
        reason (``errors`` by setting key).
    """
    parsed, errors = check_settings(values)
    if errors:
        listed = "; ".join(errors.values())
        raise FieldErrors(ngettext("To save the settings, you must fix %(num)d value: %(list)s",
                                   "To save the settings, you must fix %(num)d values: %(list)s",
                                   len(errors), list=listed), errors)
    current = settings_mod.all_values()
    changes = {}
    for key, (value, text) in parsed.items():
        if value == current[key]:
            continue
        changes[key] = [current[key], value]
        row = db.session.get(Setting, key)
        if row is None:
            db.session.add(Setting(key=key, value=text))
        else:
            row.value = text
    if changes:
        db.session.flush()
        sessions.forget_page_settings()  # the rest of this request reads the new values
        audit.record(db.session.get(Setting, next(iter(changes))), "setting.updated",
                     actor=actor, changes=changes)
    return changes


def set_exchange_rate(currency: str, valid_from: date, rate: Decimal, *,
                      actor: User) -> ExchangeRate:
    """Create or replace the rate of ``currency`` (in base units) from ``valid_from``.

    :raises ValidationError: for an unknown currency, the base currency itself, or a rate <= 0.
    """
    try:
        currency = validate_currency(currency)
    except ValueError as exc:
        raise ValidationError(str(exc), field="currency") from None
    if currency == settings_mod.base_currency():
        raise ValidationError(_("%(currency)s is the base currency; its rate is always 1.",
                                currency=currency), field="currency")
    rate = Decimal(rate)
    if not rate.is_finite() or rate <= 0:
        raise ValidationError(_("An exchange rate must be greater than zero."), field="rate")
    row = db.session.scalar(select(ExchangeRate).where(
        ExchangeRate.currency == currency, ExchangeRate.valid_from == valid_from))
    if row is None:
        row = ExchangeRate(currency=currency, valid_from=valid_from, rate=rate)
        db.session.add(row)
        db.session.flush()
        audit.record(row, "exchange_rate.created", actor=actor,
                     changes={"rate": [None, rate], "valid_from": [None, valid_from]})
    elif row.rate != rate:
        audit.record(row, "exchange_rate.updated", actor=actor, changes={"rate": [row.rate, rate]})
        row.rate = rate
        db.session.flush()
    return row


def delete_exchange_rate(row: ExchangeRate, *, actor: User) -> None:
    """Delete one dated exchange rate (recorded in the audit log)."""
    audit.record(row, "exchange_rate.deleted", actor=actor, changes={
        "currency": [row.currency, None], "valid_from": [row.valid_from, None],
        "rate": [row.rate, None]})
    db.session.delete(row)
    db.session.flush()
