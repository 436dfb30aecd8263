"""After-sales on the home page: cases due and overdue, returns to decide, refunds to approve."""

from __future__ import annotations

from sqlalchemy import func, select, type_coerce

from erp.aftersales.models import AfterSalesCase, CaseState, Refund, RefundState
from erp.aftersales.queries import due_today_clause, overdue_clause
from erp.core import dashboard
from erp.core.dashboard import Card, Context, Figure
from erp.core.i18n import _l
from erp.core.models import Role
from erp.core.types import Money
from erp.extensions import db

OVERDUE, DUE_TODAY, TO_DECIDE = ("aftersales.overdue", "aftersales.due_today",
                                 "aftersales.to_decide")
REFUNDS = "aftersales.refunds_pending"


def _cases(condition):
    return select(func.count()).select_from(AfterSalesCase).where(condition).scalar_subquery()


@dashboard.source([OVERDUE, DUE_TODAY, TO_DECIDE])
def case_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count cases overdue, due later today and inspected returns, in one query."""
    columns = {OVERDUE: _cases(overdue_clause(ctx.now)),
               DUE_TODAY: _cases(due_today_clause(ctx.now)),
               TO_DECIDE: _cases(AfterSalesCase.state == CaseState.inspected)}
    return dashboard.scalars(columns, keys)


@dashboard.source([REFUNDS])
def refund_figures(keys: frozenset[str], ctx: Context) -> dict[str, Figure]:
    """Count the refunds waiting for a manager and sum them in the base currency."""
    rows = db.session.execute(
        select(Refund.currency, func.count(), type_coerce(func.sum(Refund.amount), Money()))
        .where(Refund.state == RefundState.pending).group_by(Refund.currency)).all()
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
