"""Procurement on the home page: the purchaser's queues and the purchase orders to approve.

Every count here is one of the purchase order list's filters (or the replenishment list), so
each card's link shows exactly the orders it counts.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, case, func, select, type_coerce

from erp.catalog.models import Sku, SkuStatus
from erp.core import dashboard
from erp.core.dashboard import Card, Context, Figure
from erp.core.i18n import _l
from erp.core.models import Role
from erp.core.types import Money
from erp.procurement import queries
from erp.procurement.models import (
    PURCHASE_ORDER_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
)
from erp.procurement.replenishment_queries import INCOMING_STATES, _open_quantity
from erp.warehouse.models import StockLevel

S = PurchaseOrderState
DRAFT, TO_SEND, OVERDUE, AWAITING = ("procurement.draft", "procurement.to_send",
                                     "procurement.overdue", "procurement.awaiting_approval")
REPLENISH = "procurement.replenishment"


def _order_figures_query():
    """Return ``(state, currency, orders, overdue, total)`` of open orders, by state and currency.

    ``total`` sums the orders awaiting approval only (cancelled quantities excluded, as their
    page totals them); ``overdue`` counts the orders of the list's overdue filter on
    ``:today``.
    """
    waiting = (select(PurchaseOrderLine.order_id,
                      func.sum(queries._line_amount_raw()).label("raw"))
               .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
               .where(PurchaseOrder.state == S.awaiting_approval)
               .group_by(PurchaseOrderLine.order_id).subquery())
    overdue = queries._overdue(bindparam("today"))
    return (select(PurchaseOrder.state, PurchaseOrder.currency, func.count().label("orders"),
                   func.coalesce(func.sum(case((overdue, 1), else_=0)), 0).label("overdue"),
                   type_coerce(func.sum(type_coerce(waiting.c.raw, BigInteger)), Money())
                   .label("total"))
            .outerjoin(waiting, waiting.c.order_id == PurchaseOrder.id)
            .where(PurchaseOrder.state.in_([S.draft, S.approved, S.awaiting_approval,
                                            *sorted(PURCHASE_ORDER_STATES.groups["receivable"])]))
            .group_by(PurchaseOrder.state, PurchaseOrder.currency))


ORDER_FIGURES = _order_figures_query()


@dashboard.source([DRAFT, TO_SEND, OVERDUE, AWAITING])
def order_figures(keys: frozenset[str], ctx: Context) -> dict[str, Figure]:
    """Count orders in draft, approved (to send), overdue and awaiting approval; one query.

    The orders awaiting approval are converted to the base currency at today's rates.
    """
    counts = {DRAFT: 0, TO_SEND: 0, OVERDUE: 0, AWAITING: 0}
    amounts: dict[str, object] = {}
    for row in dashboard.connection().execute(ORDER_FIGURES, {"today": ctx.today}):
        state = S(row.state)
        counts[OVERDUE] += int(row.overdue)
        if state == S.draft:
            counts[DRAFT] += row.orders
        elif state == S.approved:
            counts[TO_SEND] += row.orders
        elif state == S.awaiting_approval:
            counts[AWAITING] += row.orders
            amounts[row.currency] = row.total
    figures = {key: Figure(count) for key, count in counts.items()}
    if AWAITING in keys:
        total, missing = ctx.in_base(amounts)
        figures[AWAITING] = Figure(counts[AWAITING], amount=total, rate_missing=missing)
    return figures


def replenishment_count_query():
    """Return the number of replenishment suggestions (the list without filters) cheaply.

    The same condition as :func:`~erp.procurement.replenishment_queries.suggestion_query`
    (active SKUs with a reorder point, stock position at or below it), without the supplier
    ranking and the joins that only add columns: each candidate's stock and incoming quantity
    are read through the SKU indexes of ``stock_level`` and ``purchase_order_line``.
    """
    level = StockLevel.__table__.c
    line = PurchaseOrderLine.__table__.c
    order = PurchaseOrder.__table__.c
    available = (select(func.coalesce(func.sum(level.on_hand - level.reserved), 0))
                 .where(level.sku_id == Sku.id).scalar_subquery())
    incoming = (select(func.coalesce(func.sum(_open_quantity(line)), 0))
                .join(PurchaseOrder.__table__, order.id == line.order_id)
                .where(line.sku_id == Sku.id, order.state.in_(list(INCOMING_STATES)))
                .scalar_subquery())
    return (select(func.count()).select_from(Sku)
            .where(Sku.status == SkuStatus.active, Sku.reorder_point > 0,
                   available + incoming <= Sku.reorder_point))


REPLENISHMENT_COUNT = replenishment_count_query()


#: the replenishment suggestions, read with the other domains' counts in one query
dashboard.scalar_source({REPLENISH: REPLENISHMENT_COUNT.scalar_subquery()})


P = Role.purchasing
dashboard.register(
    Card(_l("Purchase orders in draft"), "procurement.edit", DRAFT,
         "procurement.purchase_order_list", _l("Add their lines and submit them"),
         args=(("state", S.draft.value),), section=P),
    Card(_l("Purchase orders to send"), "procurement.edit", TO_SEND,
         "procurement.purchase_order_list", _l("Approved: send them to the supplier"),
         args=(("state", S.approved.value),), section=P),
    Card(_l("Arrivals overdue"), "procurement.view", OVERDUE,
         "procurement.purchase_order_list",
         _l("Expected date passed and not fully received: chase the supplier"),
         args=(("overdue", "yes"),), section=P),
    Card(_l("Replenishment suggestions"), "procurement.view", REPLENISH,
         "procurement.replenishment_list", _l("SKUs at or below their reorder point"),
         section=P),
    Card(_l("Purchase orders awaiting approval"), "procurement.approve", AWAITING,
         "procurement.purchase_orders_awaiting_approval",
         _l("Orders above the approval threshold wait for a manager"), section=Role.manager,
         amount=True, position=10),
    # the admin's overview, as before the role sections
    Card(_l("Purchase orders awaiting approval"), "procurement.approve", AWAITING,
         "procurement.purchase_orders_awaiting_approval",
         _l("Orders above the approval threshold wait for a manager")),
)


# --------------------------------------------------------------------------- supplier returns

RETURN_DRAFTS, CLAIMS_OPEN = "procurement.return_drafts", "procurement.claims_open"


def _return_figures_query():
    """Return ``(kind, currency, count, raw amount)``: draft returns, and open claims by currency.

    One UNION ALL, so the cards cost the home page one query.
    """
    from sqlalchemy import literal, null, union_all

    from erp.procurement.return_models import (
        SupplierClaim,
        SupplierClaimState,
        SupplierReturn,
        SupplierReturnState,
    )

    drafts = (select(literal("draft").label("kind"), null().label("currency"),
                     func.count().label("n"), literal(0).label("raw"))
              .select_from(SupplierReturn).where(SupplierReturn.state == SupplierReturnState.draft))
    claims = (select(literal("claim"), SupplierClaim.currency, func.count(),
                     func.sum(type_coerce(SupplierClaim.amount, BigInteger)))
              .where(SupplierClaim.state == SupplierClaimState.open)
              .group_by(SupplierClaim.currency))
    return union_all(drafts, claims)


RETURN_FIGURES = _return_figures_query()


@dashboard.source([RETURN_DRAFTS, CLAIMS_OPEN])
def return_figures(keys: frozenset[str], ctx: Context) -> dict[str, Figure]:
    """Count draft supplier returns and open claims (their amount in the base currency)."""
    drafts, count, amounts = 0, 0, {}
    for kind, currency, n, raw in dashboard.connection().execute(RETURN_FIGURES):
        if kind == "draft":
            drafts = n
        else:
            count += n
            amounts[currency] = Money().process_result_value(raw, None)
    total, missing = ctx.in_base(amounts) if CLAIMS_OPEN in keys else (None, False)
    return {RETURN_DRAFTS: Figure(drafts),
            CLAIMS_OPEN: Figure(count, amount=total, rate_missing=missing)}


dashboard.register(
    Card(_l("Supplier returns to ship"), "procurement.edit", RETURN_DRAFTS,
         "procurement.supplier_return_list", _l("Drafts: ship them when the goods leave"),
         args=(("state", "draft"),), section=P),
    Card(_l("Claims to approve"), "procurement.approve", CLAIMS_OPEN,
         "procurement.supplier_claim_list",
         _l("Debit notes of shipped supplier returns; approved ones are deducted from the next "
            "payment"), args=(("state", "open"),), section=Role.manager, amount=True),
)
