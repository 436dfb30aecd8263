"""Core models: users and roles, audit events, sequences, settings, rates, login attempts."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from erp.core.i18n import _l
from erp.core.types import Rate, UtcDateTime
from erp.extensions import db


def utcnow() -> datetime:
    """Return the current time in UTC (aware)."""
    return datetime.now(UTC)


class Role(StrEnum):
    """The five staff roles; a user may hold several."""

    admin = "admin"
    manager = "manager"
    purchasing = "purchasing"
    warehouse = "warehouse"
    customer_service = "customer_service"

    @property
    def label(self) -> str:
        """Return the role's display name in the reader's language."""
        return str(ROLE_LABELS[self])


#: the roles' display names (lazy: read in the reader's language)
ROLE_LABELS = {
    Role.admin: _l("Admin"),
    Role.manager: _l("Manager"),
    Role.purchasing: _l("Purchasing"),
    Role.warehouse: _l("Warehouse"),
    Role.customer_service: _l("Customer service"),
}


class User(UserMixin, db.Model):
    """A member of staff who signs in. ``username`` is unique and stored lower-case."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: "en" or "zh_Hans_CN"; None lets the browser (then the company default) decide
    language: Mapped[str | None] = mapped_column(String(16))
    #: two-factor sign-in (TOTP, RFC 6238): the base32 secret, set once enrolment is confirmed
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    #: the last time step whose code was accepted: a code is never accepted twice
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    role_links: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin")

    @property
    def roles(self) -> set[Role]:
        """Return the set of roles the user holds."""
        return {Role(link.role) for link in self.role_links}

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        """Return whether the account may sign in."""
        return self.active

    def has_role(self, role: Role | str) -> bool:
        """Return whether the user holds ``role``."""
        return Role(role) in self.roles

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class UserRole(db.Model):
    """One role held by one user."""

    __tablename__ = "user_role"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'manager', 'purchasing', 'warehouse', "
                        "'customer_service')", name="role_known"),
    )

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"),
                                         primary_key=True)
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    user: Mapped[User] = relationship(back_populates="role_links")


class AuditEvent(db.Model):
    """Who did what to which record, when, with the values before and after.

    Written by :func:`erp.core.audit.record` in the same transaction as the change, so a
    rolled-back change leaves no event.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id"),
        # the rows sealing still has to chain (a handful at any time): found without a scan
        Index("ix_audit_event_unsealed", "id", postgresql_where=text("row_hash IS NULL"),
              sqlite_where=text("row_hash IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    entity_ref: Mapped[str | None] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(96), index=True)
    changes: Mapped[dict | None] = mapped_column(JSON)
    # The seal (erp.core.auditchain), written at commit: the position in the chain, the hash
    # of the row before and this row's hash over both and its content. NULL until sealed.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    row_hash: Mapped[str | None] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(lazy="joined")


class AuditChain(db.Model):
    """The head of the audit chain: the last sealed position and its hash (one row, id 1).

    Moved by every sealing commit under its row lock, so deleting the newest audit rows leaves
    the head pointing past the end of the table: :func:`erp.core.auditchain.verify` sees it.
    """

    __tablename__ = "audit_chain"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),
                      CheckConstraint("last_seq >= 0", name="last_seq_not_negative"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str | None] = mapped_column(String(64))


class Sequence(db.Model):
    """A document-number counter, e.g. ``PO-2026``; drawn only under a row lock."""

    __tablename__ = "sequence"
    __table_args__ = (CheckConstraint("last_value >= 0", name="last_value_not_negative"),)

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


class Setting(db.Model):
    """A runtime setting a manager or admin changes; defaults live in ``core.settings``."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow,
                                                 onupdate=utcnow)


class ExchangeRate(db.Model):
    """``rate`` base-currency units buy one unit of ``currency``, from ``valid_from`` on."""

    __tablename__ = "exchange_rate"
    __table_args__ = (
        UniqueConstraint("currency", "valid_from"),
        CheckConstraint("rate > 0", name="rate_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date] = mapped_column(Date)
    rate: Mapped[Decimal] = mapped_column(Rate())


class LoginAttempt(db.Model):
    """One sign-in attempt, kept to slow and then refuse repeated failures."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_username_at", "username", "at"),
        Index("ix_login_attempt_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    success: Mapped[bool] = mapped_column(default=False)


class RecoveryCode(db.Model):
    """A single-use recovery code of a user's second factor, stored as its SHA-256 only.

    ``used_at`` is set by a conditional UPDATE (``WHERE used_at IS NULL``), so a code passes
    once even when posted twice at the same moment.
    """

    __tablename__ = "recovery_code"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class UserSession(db.Model):
    """One sign-in of one user: the browser's cookie carries a random token, stored here hashed.

    A session is valid while ``ended_at`` is NULL, its user is active, and it is younger than
    the absolute lifetime (setting ``session_lifetime_hours``). ``last_seen_at`` is refreshed
    at most once a minute.
    """

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    #: why it ended: signed_out, ended_by_user, expired, deactivated, password_reset, ...
    end_reason: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))

    user: Mapped[User] = relationship()


class JobState(StrEnum):
    """Where a background job is."""

    queued = "queued"
    running = "running"
    finished = "finished"
    failed = "failed"


class BackgroundJob(db.Model):
    """Long work (a large report, export, allocation run or batch PDF) run off the request.

    Run by an RQ worker when ``ERP_REDIS_URL`` is set, else in-process; either way its state,
    progress and result file are kept here, so a page can show a progress bar and then a link.
    ``summary`` is what a job without a file reports (JSON, e.g. an allocation run's counts);
    ``language`` is the language of the person who started it, which the job runs in.

    A job survives the faults of what runs it: ``dispatched_at``/``queue_ref`` say when and
    under which RQ id it was handed to a runner (``NULL`` while it waits for Redis to answer:
    the dispatcher hands it over then); ``attempts`` counts the runs begun (at most 3) and
    ``heartbeat_at`` is renewed while it runs, so a run whose process was killed is found and
    retried, or failed after the last attempt.
    """

    __tablename__ = "background_job"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # a UUID
    kind: Mapped[str] = mapped_column(String(60))
    params: Mapped[str] = mapped_column(Text, default="{}")  # JSON
    state: Mapped[JobState] = mapped_column(
        Enum(JobState, native_enum=False, length=16, validate_strings=True),
        default=JobState.queued, index=True)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # percent
    message: Mapped[str | None] = mapped_column(String(200))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    result_path: Mapped[str | None] = mapped_column(String(300))
    result_name: Mapped[str | None] = mapped_column(String(200))
    result_mime: Mapped[str | None] = mapped_column(String(100))
    error: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str | None] = mapped_column(Text)  # JSON
    language: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    queue_ref: Mapped[str | None] = mapped_column(String(80))

    user: Mapped[User | None] = relationship()


class FormSubmission(db.Model):
    """The one-time key of a rendered form, stored in the transaction of the change it made.

    A repeat of the same submission (double click, a retried post) finds its key here and shows
    the first outcome instead of acting again. Kept ``ERP_SUBMISSION_KEY_HOURS``.
    """

    __tablename__ = "form_submission"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    endpoint: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    outcome: Mapped[str | None] = mapped_column(Text)  # the message the first answer flashed
    location: Mapped[str | None] = mapped_column(String(500))  # where the first answer led

    user: Mapped[User] = relationship()


class IdempotencyKey(db.Model):
    """An API request's ``Idempotency-Key`` with its stored response (IETF draft).

    ``status_code`` is NULL while the first request is still running (a repeat then gets 409).
    ``scope`` says whose key it is (``token:<id>``), so two clients never share keys.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(60))
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the request body
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    content_type: Mapped[str | None] = mapped_column(String(100))
    location: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
