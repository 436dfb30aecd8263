"""Read-side after-sales queries: the case queue, its count and export, a case's history.

Also the lookup of the order a new case is about (:func:`find_orders_for_case`).

Everything is filtered, counted and ordered in SQL; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, and_, case, func, literal, or_, select

from erp.aftersales.models import (
    CASE_STATES,
    CASE_TYPE_LABELS,
    AfterSalesCase,
    CaseLine,
    CaseState,
    CaseType,
    ReasonCode,
)
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _
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


def case_spec() -> Spec:
    """Return the case export's columns, headed in the reader's language."""
    return Spec("aftersales-cases", _("After-sales cases"), (
        Column("number", _("RMA"), width=18),
        Column("state", _("State"), width=16),
        Column("case_type", _("Type"), width=20),
        Column("reason_name", _("Reason"), width=22),
        Column("order_number", _("Order"), width=18),
        Column("country", _("Country"), width=8),
        Column("contact_name", _("Contact"), width=24),
        Column("contact_email", _("E-mail"), width=28),
        Column("agent", _("Agent"), width=14),
        Column("units", _("Units"), type="int", width=8),
        Column("opened_at", _("Opened (UTC)"), type="auto", width=18),
        Column("due_at", _("Due (UTC)"), type="auto", width=18),
        Column("overdue", _("Overdue"), width=9),
    ))


def case_export_rows(f: CaseFilters):
    """Yield the export's rows (dicts by :func:`case_spec` keys) of the matching cases."""
    yes = _("yes")
    for r in db.session.execute(case_list_query(f)):
        yield {**r._mapping, "state": CASE_STATES.label(r.state),
               "case_type": type_label(r.case_type), "overdue": yes if r.overdue else ""}


def cases_xlsx(f: CaseFilters) -> bytes:
    """Return the matching cases as an Excel workbook (text neutralised, never a formula)."""
    return export_workbook(case_spec(), case_export_rows(f))


def type_label(case_type: CaseType | str) -> str:
    """Return a case type's label in the reader's language: ``lost_parcel`` -> Lost parcel."""
    return str(CASE_TYPE_LABELS[CaseType(case_type)])


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


# --------------------------------------------------------------------------- opening a case


@dataclass
class OrderSearch:
    """The orders found for what customer service typed to open a case.

    :param text: what was searched, as typed (trimmed).
    :param orders: the matching orders, the newest first (at most the search's limit).
    :param more: whether more orders matched than are listed.
    """

    text: str
    orders: list[CustomerOrder]
    more: bool = False


def find_orders_for_case(text: str | None, *, limit: int = 50) -> OrderSearch:
    """Return the orders a new case may be about, from what the customer gives.

    An order number (exact, any case) finds that order alone. Otherwise the orders are those
    with a parcel of that tracking (or parcel) number, and those of that customer e-mail
    (exact, any case). Last, a whole number that is an order's id finds it (links use ids).

    :param limit: the most orders listed; ``more`` says whether others matched.
    """
    text = (text or "").strip()
    if not text:
        return OrderSearch(text, [])
    by_number = db.session.scalar(select(CustomerOrder).where(
        func.upper(CustomerOrder.number) == text.upper()))
    if by_number is not None:
        return OrderSearch(text, [by_number])
    clauses = [CustomerOrder.id.in_(shipping_queries.order_ids_by_tracking(text))]
    if "@" in text:
        clauses.append(func.lower(CustomerOrder.email) == text.lower())
    found = list(db.session.scalars(
        select(CustomerOrder).where(or_(*clauses))
        .order_by(CustomerOrder.placed_at.desc(), CustomerOrder.id.desc()).limit(limit + 1)))
    if not found and text.isdigit() and len(text) <= 12:
        by_id = db.session.get(CustomerOrder, int(text))
        found = [by_id] if by_id is not None else []
    return OrderSearch(text, found[:limit], more=len(found) > limit)
