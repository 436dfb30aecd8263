"""Two-factor sign-in: TOTP codes (RFC 6238: SHA-1, 6 digits, 30 s) and recovery codes.

- Enrolment: a new secret is shown (QR code and text) and kept in the browser's session until a
  code from it is confirmed; then it is stored and ten single-use recovery codes are shown once
  (stored as SHA-256 only).
- A code is accepted once: the time step it belongs to is claimed with a conditional UPDATE
  (``totp_last_step < step``), so two requests posting one code at the same moment cannot both
  pass, and a code is refused again within its step. A recovery code is claimed the same way
  (``used_at IS NULL``).
- A wrong code is a failed :class:`~erp.core.models.LoginAttempt` of the account, so it counts
  toward the sign-in throttle and lock-out; a throttled account gets no code check at all.
- The roles of setting ``two_factor_roles`` (default admin and manager) must enrol; config
  ``ERP_TWO_FACTOR_REQUIRED`` (default on) switches that rule off for test suites.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from flask import current_app, has_app_context
from sqlalchemy import delete, func, or_, select, update

from erp.core import audit, services, sessions
from erp.core import settings as settings_mod
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.models import LoginAttempt, RecoveryCode, User, utcnow
from erp.extensions import db

STEP_SECONDS = 30
DIGITS = 6
#: steps either side of now whose code is still accepted (clock drift of a phone)
DRIFT_STEPS = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper


class TwoFactorError(DomainError):
    """A second-factor rule was broken (already enrolled, required by the role, ...)."""


def enforced() -> bool:
    """Return whether the roles' two-factor rule applies (config ``ERP_TWO_FACTOR_REQUIRED``)."""
    return bool(current_app.config.get("ERP_TWO_FACTOR_REQUIRED", True)) \
        if has_app_context() else True


def required_for(user: User, roles: frozenset[str] | None = None) -> bool:
    """Return whether ``user`` must sign in with a second factor (by one of their roles)."""
    if not enforced():
        return False
    if roles is None:
        roles = settings_mod.get("two_factor_roles")
    return any(r.value in roles for r in user.roles)


def new_secret() -> str:
    """Return a fresh base32 TOTP secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(32)


def provisioning_uri(user: User, secret: str) -> str:
    """Return the ``otpauth://`` URI an authenticator app reads from the QR code."""
    issuer = settings_mod.get("company_name") or "erp"
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.username, issuer_name=f"{issuer} ERP")


def qr_data_uri(uri: str) -> str:
    """Return the QR code of ``uri`` as an SVG ``data:`` URI (the CSP allows ``img-src data:``)."""
    import segno
    return segno.make(uri, error="m").svg_data_uri(scale=5, border=2)


def current_step(now: datetime | None = None) -> int:
    """Return the RFC 6238 time step of ``now``."""
    return int((now or utcnow()).timestamp()) // STEP_SECONDS


def _clean_code(code: str | None) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """Return the time step (now, or one either side) whose code is ``code``, or None."""
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    step = current_step(now)
    for candidate in sorted(range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1),
                            key=lambda s: abs(s - step)):
        if hmac.compare_digest(totp.generate_otp(candidate), code):
            return candidate
    return None


def _claim_step(user: User, step: int) -> bool:
    """Claim time step ``step`` for ``user``: True for the one request that gets it.

    A conditional UPDATE: on PostgreSQL a second request waits on the row lock and then finds
    the step taken; on SQLite, write requests queue behind ``BEGIN IMMEDIATE``.
    """
    claimed = db.session.execute(
        update(User).where(User.id == user.id,
                           or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step).execution_options(synchronize_session=False)).rowcount
    db.session.expire(user, ["totp_last_step"])
    return claimed == 1


def hash_recovery_code(code: str) -> str:
    """Return the SHA-256 of a recovery code as typed (spaces, dashes and case ignored)."""
    return hashlib.sha256(_clean_code(code).encode()).hexdigest()


def _new_recovery_codes(user: User) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = []
    for _i in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _j in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=hash_recovery_code(c))
                       for c in codes)
    db.session.flush()
    return codes


def recovery_codes_left(user: User) -> int:
    """Return how many of ``user``'s recovery codes are unused."""
    return db.session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def _use_recovery_code(user: User, code: str, now: datetime) -> bool:
    used = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id,
               RecoveryCode.code_hash == hash_recovery_code(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)).rowcount
    if used != 1:
        return False
    audit.record(user, "user.recovery_code_used", actor=user,
                 changes={"count": [None, recovery_codes_left(user)]})
    return True


def _check_code(user: User, code: str | None, *, address: str, now: datetime,
                recovery: bool) -> str:
    """Check a code of an enrolled user, recording the attempt; return "totp" or "recovery".

    :raises LoginThrottled: while the account or address must wait (nothing is checked).
    :raises ValidationError: for a wrong, reused or malformed code.
    """
    address = (address or "unknown")[:64]
    services.check_throttle(user.username, address, now)
    cleaned = _clean_code(code)
    kind = None
    step = _matching_step(user.totp_secret or "", cleaned, now) if user.totp_enabled else None
    if step is not None and _claim_step(user, step):
        kind = "totp"
    elif recovery and step is None and len(cleaned) == 10 and _use_recovery_code(user, cleaned,
                                                                                 now):
        kind = "recovery"
    db.session.add(LoginAttempt(username=user.username, address=address, at=now,
                                success=kind is not None))
    db.session.flush()
    if kind is None:
        raise ValidationError(_("The code is not correct, or it was already used. Enter the "
                                "current code from your authenticator app."), field="code")
    return kind


def verify_sign_in_code(user: User, code: str | None, *, address: str,
                        now: datetime | None = None) -> str:
    """Complete a sign-in with a TOTP or recovery code; return which kind passed.

    :raises LoginThrottled: while the account or address must wait (the code is not checked).
    :raises ValidationError: for a wrong or already used code (a failed sign-in attempt).
    """
    now = now or utcnow()
    if not user.active or not user.totp_enabled:
        raise ValidationError(_("Sign in again: this account has no second factor to check."))
    kind = _check_code(user, code, address=address, now=now, recovery=True)
    user.last_login_at = now
    db.session.flush()
    return kind


def confirm_enrolment(user: User, secret: str, code: str | None, *,
                      now: datetime | None = None) -> list[str]:
    """Turn two-factor sign-in on with ``secret`` once ``code`` proves the app has it.

    Returns the ten recovery codes, to be shown once.

    :raises TwoFactorError: if the user has a second factor already.
    :raises ValidationError: if the code does not match the secret.
    """
    now = now or utcnow()
    if user.totp_enabled:
        raise TwoFactorError(_("To enrol an authenticator, you must first turn off the one "
                               "you have: two-factor sign-in is already on."))
    try:
        valid_secret = bool(secret) and len(pyotp.TOTP(secret).byte_secret()) >= 16
    except Exception:  # noqa: BLE001 - a malformed secret from the session is simply refused
        valid_secret = False
    step = _matching_step(secret, _clean_code(code), now) if valid_secret else None
    if step is None:
        raise ValidationError(_("The code does not match. Scan the QR code again and enter "
                                "the code your app shows now."), field="code")
    user.totp_secret = secret
    user.totp_enabled = True
    user.totp_last_step = step
    codes = _new_recovery_codes(user)
    audit.record(user, "user.two_factor_enabled", actor=user)
    db.session.flush()
    return codes


def regenerate_recovery_codes(user: User, code: str | None, *, address: str,
                              now: datetime | None = None) -> list[str]:
    """Replace ``user``'s recovery codes with ten new ones (the old ones stop working).

    :raises TwoFactorError: if two-factor sign-in is off.
    :raises LoginThrottled: while the account must wait.
    :raises ValidationError: for a wrong or reused authenticator code.
    """
    now = now or utcnow()
    if not user.totp_enabled:
        raise TwoFactorError(_("To get recovery codes, you must first turn two-factor "
                               "sign-in on."))
    _check_code(user, code, address=address, now=now, recovery=False)
    codes = _new_recovery_codes(user)
    audit.record(user, "user.recovery_codes_regenerated", actor=user)
    return codes


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled = False
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))


def disable_two_factor(user: User, code: str | None, *, address: str,
                       now: datetime | None = None) -> User:
    """Turn one's own two-factor sign-in off, proven with a current code.

    :raises TwoFactorError: if it is off already, or one of the user's roles requires it.
    :raises LoginThrottled: while the account must wait.
    :raises ValidationError: for a wrong or reused code.
    """
    now = now or utcnow()
    if not user.totp_enabled:
        raise TwoFactorError(_("Two-factor sign-in is already off."))
    if required_for(user):
        raise TwoFactorError(_("To turn two-factor sign-in off, you must hold no role that "
                               "requires it; ask an admin to reset it if you lost your "
                               "phone."))
    _check_code(user, code, address=address, now=now, recovery=False)
    _clear(user)
    audit.record(user, "user.two_factor_disabled", actor=user)
    db.session.flush()
    return user


def reset_two_factor(user: User, *, actor: User) -> User:
    """Remove a user's second factor (an admin's action); their sessions end.

    They enrol again at their next sign-in if a role requires it.

    :raises TwoFactorError: if the user has no second factor.
    """
    if not user.totp_enabled:
        raise TwoFactorError(_('To reset the second factor of "%(username)s", they must have '
                               "one: two-factor sign-in is off for them.",
                               username=user.username))
    _clear(user)
    audit.record(user, "user.two_factor_reset", actor=actor)
    db.session.flush()
    sessions.end_sessions(user, reason="two_factor_reset", actor=actor)
    return user
