"""After-sales on the home page: cases due and overdue, returns to decide, refunds to approve."""

from __future__ import annotations

from sqlalchemy import bindparam, func, select, type_coerce

from erp.aftersales.models import CASE_STATES, AfterSalesCase, CaseState, Refund, RefundState
from erp.aftersales.queries import local_midnight
from erp.core import dashboard
from erp.core.dashboard import Card, Context, Figure
from erp.core.i18n import _l
from erp.core.models import Role
from erp.core.types import Money

OVERDUE, DUE_TODAY, TO_DECIDE = ("aftersales.overdue", "aftersales.due_today",
                                 "aftersales.to_decide")
REFUNDS = "aftersales.refunds_pending"


def _cases(*conditions):
    return select(func.count()).select_from(AfterSalesCase).where(*conditions).scalar_subquery()


_ACTIVE = AfterSalesCase.state.in_(list(CASE_STATES.groups["active"]))
#: the case list's filters (overdue, due today, inspected) as one count each, built once
COLUMNS = {
    OVERDUE: _cases(_ACTIVE, AfterSalesCase.due_at < bindparam("now")),
    DUE_TODAY: _cases(_ACTIVE, AfterSalesCase.due_at >= bindparam("now"),
                      AfterSalesCase.due_at < bindparam("midnight")),
    TO_DECIDE: _cases(AfterSalesCase.state == CaseState.inspected),
}
#: the refunds waiting for a manager, per currency
PENDING_REFUNDS = (select(Refund.currency, func.count(),
                          type_coerce(func.sum(Refund.amount), Money()))
                   .where(Refund.state == RefundState.pending).group_by(Refund.currency))


def _case_params(ctx: Context) -> dict:
    return {"now": ctx.now, "midnight": local_midnight(ctx.now)}


#: cases overdue, due later today and inspected returns, read with the other domains' counts
#: in one query: the same conditions as the case list's ``overdue`` and ``due=today`` filters
#: (:func:`~erp.aftersales.queries.overdue_clause`, :func:`~erp.aftersales.queries.
#: due_today_clause`), with the time bound
dashboard.scalar_source(COLUMNS, params=_case_params)


@dashboard.source([REFUNDS])
def refund_figures(keys: frozenset[str], ctx: Context) -> dict[str, Figure]:
    """Count the refunds waiting for a manager and sum them in the base currency."""
    rows = dashboard.connection().execute(PENDING_REFUNDS).all()
    total, missing = ctx.in_base({currency: amount for currency, _n, amount in rows})
    return {REFUNDS: Figure(sum(n for _c, n, _a in rows), amount=total, rate_missing=missing)}


CS = Role.customer_service
OVERDUE_ARGS = (("overdue", "1"),)

dashboard.register(
    Card(_l("Cases overdue"), "aftersales.edit", OVERDUE, "aftersales.case_list",
         _l("Active cases past their due date"), args=OVERDUE_ARGS, section=CS, position=10),
    Card(_l("Cases due today"), "aftersales.edit", DUE_TODAY, "aftersales.case_list",
         _l("Active cases due before midnight"), args=(("due", "today"),), section=CS,
         position=20),
    Card(_l("Returns awaiting a decision"), "aftersales.edit", TO_DECIDE,
         "aftersales.case_list", _l("Goods received and inspected: refund or replace"),
         args=(("state", CaseState.inspected.value),), section=CS, position=30),
    Card(_l("Refunds awaiting approval"), "aftersales.approve", REFUNDS, "aftersales.refund_list",
         _l("Refunds above the threshold wait for a manager"),
         args=(("state", RefundState.pending.value),), section=Role.manager, amount=True,
         position=20),
    # the admin's overview, as before the role sections
    Card(_l("Overdue after-sales cases"), "aftersales.view", OVERDUE, "aftersales.case_list",
         _l("Active cases past their due date"), args=OVERDUE_ARGS),
)
