"""Settings read from ``ERP_*`` environment variables and validated at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import pycountry
from limits import parse_many


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None


def _bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass
class Config:
    """Environment-derived settings; ``as_flask()`` turns them into Flask config keys."""

    database_url: str | None
    secret_key: str | None
    max_upload_mb: int
    base_currency: str
    redis_url: str | None
    session_minutes: int
    secure_cookies: bool
    jobs_timeout: int = 3600
    jobs_keep_days: int = 7
    jobs_stale_seconds: int = 60
    log_format: str | None = None  # json | text; None: json unless debugging
    proxy_hops: int = 0
    api_rate_limit: str = "600 per minute"
    login_rate_limit: str = "30 per minute"
    ratelimit_storage_url: str | None = None
    idempotency_key_hours: int = 24
    idempotency_lease_seconds: int = 30
    submission_key_hours: int = 24
    ticker: bool = False
    two_factor_required: bool = True

    @classmethod
    def from_env(cls) -> Config:
        """Read the ``ERP_*`` variables (missing ones take development defaults)."""
        return cls(
            database_url=os.environ.get("ERP_DATABASE_URL") or None,
            secret_key=os.environ.get("ERP_SECRET_KEY") or None,
            max_upload_mb=_int_env("ERP_MAX_UPLOAD_MB", 16),
            base_currency=(os.environ.get("ERP_BASE_CURRENCY") or "USD").strip().upper(),
            redis_url=os.environ.get("ERP_REDIS_URL") or None,
            session_minutes=_int_env("ERP_SESSION_MINUTES", 480),
            secure_cookies=_bool_env("ERP_SECURE_COOKIES", False),
            jobs_timeout=_int_env("ERP_JOBS_TIMEOUT", 3600),
            jobs_keep_days=_int_env("ERP_JOBS_KEEP_DAYS", 7),
            jobs_stale_seconds=_int_env("ERP_JOBS_STALE_SECONDS", 60),
            log_format=(os.environ.get("ERP_LOG_FORMAT") or "").strip().lower() or None,
            proxy_hops=_int_env("ERP_PROXY_HOPS", 0),
            api_rate_limit=os.environ.get("ERP_API_RATE_LIMIT") or "600 per minute",
            login_rate_limit=os.environ.get("ERP_LOGIN_RATE_LIMIT") or "30 per minute",
            ratelimit_storage_url=os.environ.get("ERP_RATELIMIT_STORAGE_URL") or None,
            idempotency_key_hours=_int_env("ERP_IDEMPOTENCY_KEY_HOURS", 24),
            idempotency_lease_seconds=_int_env("ERP_IDEMPOTENCY_LEASE_SECONDS", 30),
            submission_key_hours=_int_env("ERP_SUBMISSION_KEY_HOURS", 24),
            ticker=_bool_env("ERP_TICKER", False),
            two_factor_required=_bool_env("ERP_TWO_FACTOR_REQUIRED", True),
        )

    def as_flask(self) -> dict:
        """Return the Flask config mapping for these settings."""
        return {
            "SQLALCHEMY_DATABASE_URI": self.database_url,
            "SECRET_KEY": self.secret_key,
            "MAX_CONTENT_LENGTH": self.max_upload_mb * 1024 * 1024,
            "ERP_BASE_CURRENCY": self.base_currency,
            "ERP_REDIS_URL": self.redis_url,
            "PERMANENT_SESSION_LIFETIME": self.session_minutes * 60,
            "SESSION_COOKIE_SECURE": self.secure_cookies,
            "REMEMBER_COOKIE_SECURE": self.secure_cookies,
            "ERP_JOBS_TIMEOUT": self.jobs_timeout,
            "ERP_JOBS_KEEP_DAYS": self.jobs_keep_days,
            # a running job whose heartbeat is older than this was killed: it is retried
            "ERP_JOBS_STALE_SECONDS": self.jobs_stale_seconds,
            "ERP_LOG_FORMAT": self.log_format,
            "ERP_PROXY_HOPS": self.proxy_hops,
            # Flask-Limiter: only views that declare a limit are limited (no default limits)
            "RATELIMIT_ENABLED": True,
            "ERP_API_RATE_LIMIT": self.api_rate_limit,
            "ERP_LOGIN_RATE_LIMIT": self.login_rate_limit,
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_url or self.redis_url or "memory://",
            # how long a repeated API request / form submission is still recognised
            "ERP_IDEMPOTENCY_KEY_HOURS": self.idempotency_key_hours,
            # a key claimed this long ago by a request that never answered (its worker died)
            # may be taken over by the client's retry
            "ERP_IDEMPOTENCY_LEASE_SECONDS": self.idempotency_lease_seconds,
            "ERP_SUBMISSION_KEY_HOURS": self.submission_key_hours,
            # periodic work (webhooks, tracking polls) in a thread of the web process
            "ERP_TICKER": self.ticker,
            # the roles of setting two_factor_roles must enrol a second factor; off only for
            # test suites and benchmarks whose staff sign in with a password alone (a warning
            # is logged at start-up whenever it is off outside TESTING)
            "ERP_TWO_FACTOR_REQUIRED": self.two_factor_required,
        }


def validate(config: Mapping) -> None:
    """Refuse to start with settings that cannot work, naming the setting and the fix.

    :raises ConfigError: for a missing secret key outside development, a malformed database
        URL, an unknown base currency or a non-positive upload limit.
    """
    url = config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        raise ConfigError("ERP_DATABASE_URL is not set and no default database could be chosen.")
    if not url.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
        raise ConfigError(
            f"ERP_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL, got {url!r}.")
    secret = config.get("SECRET_KEY")
    if not secret:
        raise ConfigError("ERP_SECRET_KEY is not set: set it to a long random string.")
    if not config.get("TESTING") and not config.get("DEBUG") and len(secret) < 16 \
            and url.startswith("postgresql"):
        raise ConfigError("ERP_SECRET_KEY is too short for production: use 32+ random characters.")
    limit = config.get("MAX_CONTENT_LENGTH")
    if not isinstance(limit, int) or limit <= 0:
        raise ConfigError("ERP_MAX_UPLOAD_MB must be a positive whole number of megabytes.")
    ccy = str(config.get("ERP_BASE_CURRENCY") or "")
    if pycountry.currencies.get(alpha_3=ccy) is None:
        raise ConfigError(f"ERP_BASE_CURRENCY must be an ISO 4217 code such as USD, got {ccy!r}.")
    if int(config.get("PERMANENT_SESSION_LIFETIME") or 0) <= 0:
        raise ConfigError("ERP_SESSION_MINUTES must be a positive whole number.")
    if config.get("ERP_LOG_FORMAT") not in (None, "json", "text"):
        raise ConfigError(f"ERP_LOG_FORMAT must be json or text, got {config['ERP_LOG_FORMAT']!r}.")
    hops = config.get("ERP_PROXY_HOPS") or 0
    if not isinstance(hops, int) or hops < 0:
        raise ConfigError("ERP_PROXY_HOPS must be 0 (no proxy) or the number of proxies in front.")
    for name in ("ERP_IDEMPOTENCY_KEY_HOURS", "ERP_SUBMISSION_KEY_HOURS"):
        hours = config.get(name, 24)
        if not isinstance(hours, int) or hours < 24:
            raise ConfigError(f"{name} must be a whole number of hours, at least 24 (a retry "
                              f"a day later must still be recognised), got {hours!r}.")
    for name in ("ERP_JOBS_STALE_SECONDS", "ERP_IDEMPOTENCY_LEASE_SECONDS"):
        seconds = config.get(name, 30)
        if not isinstance(seconds, int | float) or seconds <= 0:
            raise ConfigError(f"{name} must be a positive number of seconds, got {seconds!r}.")
    for name in ("ERP_API_RATE_LIMIT", "ERP_LOGIN_RATE_LIMIT"):
        _check_rate_limit(name, config.get(name))
    storage = str(config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if not storage.startswith(("memory://", "redis://", "rediss://", "redis+sentinel://",
                               "redis+cluster://", "valkey://", "valkeys://")):
        raise ConfigError("ERP_RATELIMIT_STORAGE_URL must be memory:// or a redis:// URL, "
                          f"got {storage!r}.")


def _check_rate_limit(name: str, value) -> None:
    """Refuse a rate limit that Flask-Limiter cannot parse, e.g. "600 per minute"."""
    try:
        items = parse_many(str(value or ""))
    except ValueError:
        items = []
    if not items or any(item.amount <= 0 for item in items):
        raise ConfigError(f'{name} must be a rate limit such as "600 per minute" or '
                          f'"30/minute", got {value!r}.')
