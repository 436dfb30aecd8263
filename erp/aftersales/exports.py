"""Refunds for finance: the refund list's query and the Excel export finance pays from.

There is no payment integration: finance downloads the approved refunds (of a period, or those
not exported yet), pays them, and the user then confirms the export, which stamps
``exported_at`` on exactly the refunds that were in the file (:func:`mark_exported`).
Text is written as text and neutralised by :mod:`erp.core.excel` (never a formula).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import aliased

from erp.aftersales.models import REFUND_STATES, AfterSalesCase, Refund, RefundKind, RefundState
from erp.core import audit
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l
from erp.core.locking import lock_many
from erp.core.models import User, utcnow
from erp.extensions import db
from erp.orders.models import CustomerOrder

Requester = aliased(User)
Decider = aliased(User)


def _start(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def _end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, UTC)


@dataclass
class RefundFilters:
    """The refund list's filters.

    :param q: an RMA or order number, or the customer's e-mail (contains, case-insensitive).
    :param state: pending, approved or rejected. :param kind: refund or keep_it.
    :param date_from: requested on or after this day (UTC); ``date_to`` on or before it.
    """

    q: str | None = None
    state: str | None = None
    kind: str | None = None
    date_from: date | None = None
    date_to: date | None = None


def _columns() -> Select:
    return (select(Refund.id, Refund.kind, Refund.amount, Refund.currency, Refund.state,
                   Refund.over_value_override, Refund.note, Refund.requested_at,
                   Refund.requested_by_id, Refund.decided_at, Refund.exported_at,
                   AfterSalesCase.id.label("case_id"), AfterSalesCase.number.label("rma"),
                   CustomerOrder.number.label("order_number"),
                   CustomerOrder.customer_name,
                   func.coalesce(AfterSalesCase.contact_email, CustomerOrder.email)
                   .label("email"),
                   Requester.username.label("requested_by"),
                   Decider.full_name.label("decided_by"))
            .join(AfterSalesCase, AfterSalesCase.id == Refund.case_id)
            .join(CustomerOrder, CustomerOrder.id == AfterSalesCase.order_id)
            .outerjoin(Requester, Requester.id == Refund.requested_by_id)
            .outerjoin(Decider, Decider.id == Refund.decided_by_id))


def _filtered(stmt: Select, f: RefundFilters) -> Select:
    if f.q:
        text = f.q.strip().upper()  # wildcards typed in are taken literally
        stmt = stmt.where(or_(func.upper(AfterSalesCase.number).contains(text, autoescape=True),
                              func.upper(CustomerOrder.number).contains(text, autoescape=True),
                              func.upper(CustomerOrder.email).contains(text, autoescape=True),
                              func.upper(AfterSalesCase.contact_email).contains(
                                  text, autoescape=True)))
    if f.state in RefundState.__members__:
        stmt = stmt.where(Refund.state == RefundState(f.state))
    if f.kind in RefundKind.__members__:
        stmt = stmt.where(Refund.kind == RefundKind(f.kind))
    if f.date_from:
        stmt = stmt.where(Refund.requested_at >= _start(f.date_from))
    if f.date_to:
        stmt = stmt.where(Refund.requested_at < _end(f.date_to))
    return stmt


def refund_list_query(f: RefundFilters) -> Select:
    """Return the refunds matching the filters: pending first, then newest first."""
    pending_first = case((Refund.state == RefundState.pending, 0), else_=1)
    return _filtered(_columns(), f).order_by(pending_first, Refund.requested_at.desc(),
                                             Refund.id.desc())


def refund_count_query(f: RefundFilters) -> Select:
    """Return the number of refunds matching the filters."""
    stmt = (select(func.count()).select_from(Refund)
            .join(AfterSalesCase, AfterSalesCase.id == Refund.case_id)
            .join(CustomerOrder, CustomerOrder.id == AfterSalesCase.order_id))
    return _filtered(stmt, f)


def _refund_columns() -> tuple[Column, ...]:
    """The columns both refund exports open with: whose refund, and how much."""
    return (
        Column("rma", _("RMA"), width=18),
        Column("order_number", _("Order"), width=16),
        Column("customer_name", _("Customer"), width=26),
        Column("email", _("Email"), width=28),
        Column("amount", _("Amount"), type="decimal", width=12),
        Column("currency", _("Currency"), width=8),
    )


def list_spec() -> Spec:
    """Return the refund list export's columns, headed in the reader's language."""
    return Spec("refund-list", _("Refunds"), (
        *_refund_columns(),
        Column("kind", _("Kind"), width=18),
        Column("state", _("State"), width=10),
        Column("requested_at", _("Requested at (UTC)"), type="auto", width=18),
        Column("requested_by", _("Requested by"), width=16),
        Column("decided_by", _("Decided by"), width=20),
        Column("decided_at", _("Decided at (UTC)"), type="auto", width=18),
        Column("exported_at", _("Exported at (UTC)"), type="auto", width=18),
        Column("over_value_override", _("Override"), type="bool", width=9),
        Column("note", _("Note"), width=40),
    ))


def pending_refund_count() -> int:
    """Return how many refunds wait for a manager."""
    return db.session.scalar(select(func.count()).select_from(Refund)
                             .where(Refund.state == RefundState.pending)) or 0


# --------------------------------------------------------------------------- finance export


def finance_refunds_query(*, date_from: date | None = None, date_to: date | None = None,
                          unexported_only: bool = False) -> Select:
    """Return the approved refunds for finance, oldest approval first.

    ``date_from`` / ``date_to`` bound the approval day (UTC); ``unexported_only`` keeps those
    not exported yet.
    """
    stmt = _columns().where(Refund.state == RefundState.approved)
    if date_from:
        stmt = stmt.where(Refund.decided_at >= _start(date_from))
    if date_to:
        stmt = stmt.where(Refund.decided_at < _end(date_to))
    if unexported_only:
        stmt = stmt.where(Refund.exported_at.is_(None))
    return stmt.order_by(Refund.decided_at, Refund.id)


def finance_spec() -> Spec:
    """Return the finance export's columns, headed in the reader's language."""
    return Spec("refunds", _("Refunds"), (
        *_refund_columns(),
        Column("kind", _("Kind"), width=10),
        Column("decided_by", _("Approved by"), width=20),
        Column("decided_at", _("Approved at (UTC)"), type="auto", width=18),
        Column("note", _("Note"), width=40),
        Column("refund_id", _("Refund id"), type="int", width=10),
    ))


#: a refund's kind as finance reads it (the page and the file)
FINANCE_KINDS = {RefundKind.refund: _l("refund"), RefundKind.keep_it: _l("keep it"),
                 RefundKind.alteration: _l("alteration refund")}


def finance_rows(stmt: Select) -> list[dict]:
    """Return the export's rows (dicts by the spec's keys) of a finance query."""
    return [{"rma": r.rma, "order_number": r.order_number, "customer_name": r.customer_name,
             "email": r.email, "amount": r.amount, "currency": r.currency,
             "kind": str(FINANCE_KINDS[RefundKind(r.kind)]),
             "decided_by": r.decided_by or "", "decided_at": r.decided_at, "note": r.note,
             "refund_id": r.id} for r in db.session.execute(stmt)]


def export_refunds(*, date_from: date | None = None, date_to: date | None = None,
                   unexported_only: bool = False) -> bytes:
    """Return the approved refunds for finance as an .xlsx workbook (see the query's filters)."""
    return export_workbook(finance_spec(), finance_rows(finance_refunds_query(
        date_from=date_from, date_to=date_to, unexported_only=unexported_only)))


def mark_exported(refund_ids: Iterable[int], *, actor) -> int:
    """Stamp the approved refunds among ``refund_ids`` not yet exported; return how many.

    Refunds already exported, not approved or unknown are left alone, so confirming the same
    file twice changes nothing. Audited (``refund.exported``).
    """
    ids = sorted({int(i) for i in refund_ids})
    if not ids:
        return 0
    # Each refund owns its stamp: lock them (id order), then read which are still to stamp, so
    # two confirmations at once stamp each refund once.
    refunds = [refund for refund in lock_many(Refund, ids)
               if refund.state == RefundState.approved and refund.exported_at is None]
    if not refunds:
        return 0
    numbers = dict(db.session.execute(
        select(Refund.id, AfterSalesCase.number)
        .join(AfterSalesCase, AfterSalesCase.id == Refund.case_id)
        .where(Refund.id.in_([refund.id for refund in refunds]))).all())
    now = utcnow()
    for refund in refunds:
        refund.exported_at = now
    audit.record_many(Refund.__tablename__, "refund.exported", [
        (r.id, numbers[r.id], {"amount": f"{r.amount} {r.currency}", "exported_at": now})
        for r in refunds], actor=actor)
    db.session.flush()
    return len(refunds)


__all__ = ["FINANCE_KINDS", "REFUND_STATES", "RefundFilters", "export_refunds",
           "finance_refunds_query", "finance_rows", "finance_spec", "list_spec", "mark_exported",
           "pending_refund_count", "refund_count_query", "refund_list_query"]
