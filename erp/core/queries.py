"""Read-side query builders for core lists (users, audit log, exchange rates)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, func, or_, select

from erp.core.models import AuditEvent, ExchangeRate, User, UserRole


def user_list_query(q: str | None = None, role: str | None = None,
                    active: bool | None = None) -> Select:
    """Return users matching a search text, role and active flag, by username."""
    stmt = select(User).order_by(User.username)
    if q:
        like = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(User.username.like(like), func.lower(User.full_name).like(like),
                              func.lower(User.email).like(like)))
    if role:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    if active is not None:
        stmt = stmt.where(User.active.is_(active))
    return stmt


@dataclass
class AuditFilters:
    """The audit log filters a manager can set."""

    user_id: int | None = None
    entity_type: str | None = None
    entity_id: str | None = None
    action: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def audit_event_query(f: AuditFilters) -> Select:
    """Return audit events matching the filters, newest first."""
    stmt = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if f.user_id:
        stmt = stmt.where(AuditEvent.actor_id == f.user_id)
    if f.entity_type:
        stmt = stmt.where(AuditEvent.entity_type == f.entity_type)
    if f.entity_id:
        stmt = stmt.where(or_(AuditEvent.entity_id == f.entity_id,
                              AuditEvent.entity_ref == f.entity_id))
    if f.action:
        stmt = stmt.where(AuditEvent.action.like(f"%{f.action}%"))
    if f.date_from:
        stmt = stmt.where(AuditEvent.at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(AuditEvent.at < datetime.combine(f.date_to + timedelta(days=1),
                                                            time.min, UTC))
    return stmt


def audit_entity_types() -> Select:
    """Return the distinct entity types present in the audit log."""
    return select(AuditEvent.entity_type).distinct().order_by(AuditEvent.entity_type)


def exchange_rate_query(currency: str | None = None) -> Select:
    """Return exchange rates, newest first, optionally for one currency."""
    stmt = select(ExchangeRate).order_by(ExchangeRate.valid_from.desc(), ExchangeRate.currency)
    if currency:
        stmt = stmt.where(ExchangeRate.currency == currency.strip().upper())
    return stmt
