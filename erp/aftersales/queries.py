"""Read-side after-sales queries: the case queue, its count and export, a case's history.

Everything is filtered, counted and ordered in SQL; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, and_, case, func, literal, or_, select

from erp.aftersales.models import (
    CASE_STATES,
    AfterSalesCase,
    CaseLine,
    CaseState,
    CaseType,
    ReasonCode,
)
from erp.core.excel import Column, Spec, export_workbook
from erp.core.models import AuditEvent, User, utcnow
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping import queries as shipping_queries

ACTIVE = CASE_STATES.groups["active"]
STATE_GROUPS = ("active", "finished")


@dataclass
class CaseFilters:
    """The case queue's search and filters.

    :param q: part of an RMA number, order number, e-mail or contact name, or a whole tracking
        number (the order's parcels or the customer's return).
    :param state: a :class:`CaseState` value, or the group ``active`` / ``finished``.
    :param agent: ``mine`` (``me``'s cases), ``unassigned``, or a user id as text.
    :param me: the id of the user looking (for ``mine``).
    :param case_type: a :class:`CaseType` value.
    :param reason_id: cases with this reason code.
    :param overdue: only active cases past their due date.
    :param due_today: only active cases due later today (not yet overdue; the day ends at
        midnight local time).
    :param date_from: opened on or after this day (UTC); ``date_to`` on or before it.
    """

    q: str | None = None
    state: str | None = None
    agent: str | None = None
    me: int | None = None
    case_type: str | None = None
    reason_id: int | None = None
    overdue: bool = False
    due_today: bool = False
    date_from: date | None = None
    date_to: date | None = None


def overdue_clause(now: datetime | None = None):
    """Return the SQL condition of an overdue case (active and past its due date)."""
    return and_(AfterSalesCase.state.in_(list(ACTIVE)), AfterSalesCase.due_at < (now or utcnow()))


def local_midnight(now: datetime) -> datetime:
    """Return the end of ``now``'s day in the server's local time (where the staff work), UTC."""
    local = now.astimezone()
    return datetime.combine(local.date() + timedelta(days=1), time.min,
                            local.tzinfo).astimezone(UTC)


def due_today_clause(now: datetime | None = None):
    """Return the SQL condition of a case due later today: active, due from now to midnight."""
    now = now or utcnow()
    return and_(AfterSalesCase.state.in_(list(ACTIVE)), AfterSalesCase.due_at >= now,
                AfterSalesCase.due_at < local_midnight(now))


def _text_clause(text: str):
    text = text.strip()
    lower = text.lower()
    compact = text.upper().replace(" ", "")
    orders = select(CustomerOrder.id).where(
        func.lower(CustomerOrder.number).contains(lower, autoescape=True))
    clauses = [
        func.lower(AfterSalesCase.number).contains(lower, autoescape=True),
        AfterSalesCase.order_id.in_(orders),
        func.lower(AfterSalesCase.contact_email).contains(lower, autoescape=True),
        func.lower(AfterSalesCase.contact_name).contains(lower, autoescape=True),
        AfterSalesCase.return_tracking == compact,
    ]
    if len(compact) >= 6:
        clauses.append(AfterSalesCase.order_id.in_(shipping_queries.order_ids_by_tracking(text)))
    return or_(*clauses)


def _filtered(stmt: Select, f: CaseFilters) -> Select:
    if f.q and f.q.strip():
        stmt = stmt.where(_text_clause(f.q))
    if f.state in STATE_GROUPS:
        stmt = stmt.where(AfterSalesCase.state.in_(list(CASE_STATES.groups[f.state])))
    elif f.state in CaseState.__members__:
        stmt = stmt.where(AfterSalesCase.state == CaseState(f.state))
    if f.agent == "mine":
        stmt = stmt.where(AfterSalesCase.assigned_to_id == (f.me or -1))
    elif f.agent == "unassigned":
        stmt = stmt.where(AfterSalesCase.assigned_to_id.is_(None))
    elif f.agent and f.agent.isdigit():
        stmt = stmt.where(AfterSalesCase.assigned_to_id == int(f.agent))
    if f.case_type in CaseType.__members__:
        stmt = stmt.where(AfterSalesCase.case_type == CaseType(f.case_type))
    if f.reason_id:
        stmt = stmt.where(AfterSalesCase.reason_id == f.reason_id)
    if f.overdue:
        stmt = stmt.where(overdue_clause())
    if f.due_today:
        stmt = stmt.where(due_today_clause())
    if f.date_from:
        stmt = stmt.where(AfterSalesCase.opened_at >= datetime.combine(f.date_from, time.min, UTC))
    if f.date_to:
        stmt = stmt.where(AfterSalesCase.opened_at < datetime.combine(
            f.date_to + timedelta(days=1), time.min, UTC))
    return stmt


def case_list_query(f: CaseFilters) -> Select:
    """Return the cases matching the filters, the soonest due first, one row each.

    Columns: ``id, number, state, case_type, opened_at, due_at, order_id, order_number,
    country, contact_name, contact_email, reason_code, reason_name, agent, units, overdue``.
    """
    units = (select(CaseLine.case_id, func.sum(CaseLine.quantity).label("units"))
             .group_by(CaseLine.case_id).subquery())
    stmt = (select(AfterSalesCase.id, AfterSalesCase.number, AfterSalesCase.state,
                   AfterSalesCase.case_type, AfterSalesCase.opened_at, AfterSalesCase.due_at,
                   AfterSalesCase.order_id, CustomerOrder.number.label("order_number"),
                   CustomerOrder.country, AfterSalesCase.contact_name,
                   AfterSalesCase.contact_email, ReasonCode.code.label("reason_code"),
                   ReasonCode.name.label("reason_name"), User.username.label("agent"),
                   func.coalesce(units.c.units, 0).label("units"),
                   case((overdue_clause(), literal(True)), else_=literal(False))
                   .label("overdue"))
            .join(CustomerOrder, CustomerOrder.id == AfterSalesCase.order_id)
            .join(ReasonCode, ReasonCode.id == AfterSalesCase.reason_id)
            .outerjoin(User, User.id == AfterSalesCase.assigned_to_id)
            .outerjoin(units, units.c.case_id == AfterSalesCase.id)
            .order_by(AfterSalesCase.due_at, AfterSalesCase.id))
    return _filtered(stmt, f)


def case_count_query(f: CaseFilters) -> Select:
    """Return the number of cases matching the filters."""
    return _filtered(select(func.count()).select_from(AfterSalesCase), f)


CASE_SPEC = Spec("aftersales-cases", "After-sales cases", (
    Column("number", "RMA", width=18),
    Column("state", "State", width=16),
    Column("case_type", "Type", width=20),
    Column("reason_name", "Reason", width=22),
    Column("order_number", "Order", width=18),
    Column("country", "Country", width=8),
    Column("contact_name", "Contact", width=24),
    Column("contact_email", "E-mail", width=28),
    Column("agent", "Agent", width=14),
    Column("units", "Units", type="int", width=8),
    Column("opened_at", "Opened (UTC)", type="auto", width=18),
    Column("due_at", "Due (UTC)", type="auto", width=18),
    Column("overdue", "Overdue", width=9),
))


def case_export_rows(f: CaseFilters):
    """Yield the export's rows (dicts by :data:`CASE_SPEC` keys) of the matching cases."""
    for r in db.session.execute(case_list_query(f)):
        yield {**r._mapping, "state": CASE_STATES.label(r.state),
               "case_type": type_label(r.case_type), "overdue": "yes" if r.overdue else ""}


def cases_xlsx(f: CaseFilters) -> bytes:
    """Return the matching cases as an Excel workbook (text neutralised, never a formula)."""
    return export_workbook(CASE_SPEC, case_export_rows(f))


def type_label(case_type: CaseType | str) -> str:
    """Return the human label of a case type (``lost_parcel`` -> ``Lost parcel``)."""
    return CaseType(case_type).value.replace("_", " ").capitalize()


def agent_options() -> list[User]:
    """Return the users who have been given cases or can work them, by username."""
    from erp.core.permissions import has_permission

    users = db.session.scalars(select(User).where(User.active.is_(True))
                               .order_by(User.username)).all()
    return [u for u in users if has_permission(u, "aftersales.edit")]


def order_cases(order_id: int) -> list[AfterSalesCase]:
    """Return the order's cases, the newest first."""
    return list(db.session.scalars(select(AfterSalesCase).where(
        AfterSalesCase.order_id == order_id).order_by(AfterSalesCase.opened_at.desc(),
                                                      AfterSalesCase.id.desc())))


def case_history(case_id: int, *, limit: int = 200) -> list[AuditEvent]:
    """Return the audit events of the case, oldest first."""
    return list(db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == AfterSalesCase.__tablename__,
                                 AuditEvent.entity_id == str(case_id))
        .order_by(AuditEvent.at, AuditEvent.id).limit(limit)))
