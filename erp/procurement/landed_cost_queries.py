"""Read-side queries of landed costs: the list (search, state), its export, and the links."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select

from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _l
from erp.core.models import User
from erp.core.money import round_amount
from erp.extensions import db
from erp.procurement.models import (
    CHARGE_KIND_LABELS,
    LANDED_COST_STATES,
    SPLIT_METHOD_LABELS,
    LandedCost,
    LandedCostCharge,
    LandedCostReceipt,
    LandedCostState,
    PurchaseOrder,
    Receipt,
)


@dataclass
class LandedCostFilters:
    """The landed cost list's search (number, receipt, PO or forwarder) and state."""

    q: str | None = None
    state: str | None = None


def _filtered(stmt: Select, filters: LandedCostFilters) -> Select:
    if filters.state in LandedCostState.__members__:
        stmt = stmt.where(LandedCost.state == filters.state)
    if filters.q:
        like = f"%{filters.q.strip().upper()}%"
        by_receipt = (select(LandedCostReceipt.landed_cost_id)
                      .join(Receipt, Receipt.id == LandedCostReceipt.receipt_id)
                      .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
                      .where(or_(Receipt.number.like(like), PurchaseOrder.number.like(like))))
        by_vendor = (select(LandedCostCharge.landed_cost_id)
                     .where(func.upper(LandedCostCharge.vendor).like(like)))
        stmt = stmt.where(or_(LandedCost.number.like(like), LandedCost.id.in_(by_receipt),
                              LandedCost.id.in_(by_vendor)))
    return stmt


def landed_cost_list_query(filters: LandedCostFilters) -> Select:
    """Return landed costs matching ``filters``, newest first, with counts and creator."""
    receipts = (select(func.count()).where(LandedCostReceipt.landed_cost_id == LandedCost.id)
                .correlate(LandedCost).scalar_subquery())
    charges = (select(func.count()).where(LandedCostCharge.landed_cost_id == LandedCost.id)
               .correlate(LandedCost).scalar_subquery())
    stmt = (select(LandedCost.id, LandedCost.number, LandedCost.state, LandedCost.method,
                   LandedCost.created_at, LandedCost.posting_date, LandedCost.total_base,
                   LandedCost.note, User.full_name.label("created_by"),
                   receipts.label("receipt_count"), charges.label("charge_count"))
            .outerjoin(User, User.id == LandedCost.created_by_id)
            .order_by(LandedCost.id.desc()))
    return _filtered(stmt, filters)


def landed_cost_count_query(filters: LandedCostFilters) -> Select:
    """Return the number of landed costs matching ``filters``."""
    return _filtered(select(func.count(LandedCost.id)), filters)


def landed_costs_of_receipts(receipt_ids) -> list:
    """Return ``(receipt id, landed cost)`` pairs for the receipts, by landed cost."""
    return db.session.execute(
        select(LandedCostReceipt.receipt_id, LandedCost)
        .join(LandedCost, LandedCost.id == LandedCostReceipt.landed_cost_id)
        .where(LandedCostReceipt.receipt_id.in_(list(receipt_ids)))
        .order_by(LandedCost.id)).all()


LANDED_COST_SPEC = Spec("landed-costs", _l("Landed costs"), (
    Column("number", _l("Number"), width=18),
    Column("state", _l("State"), width=12),
    Column("method", _l("Split by"), width=14),
    Column("receipts", _l("Receipts"), width=30),
    Column("orders", _l("Purchase orders"), width=30),
    Column("charges", _l("Charges"), width=50),
    Column("posting_date", _l("Posting date"), type="auto", width=12),
    Column("total_base", _l("Total (base)"), type="decimal", width=14),
    Column("created_at", _l("Created"), type="auto", width=18),
    Column("created_by", _l("Created by"), width=20),
    Column("note", _l("Note"), width=30),
))


def export_landed_costs(filters: LandedCostFilters, progress=None) -> bytes:
    """Return the landed costs matching ``filters`` as an .xlsx workbook (one row each)."""
    rows = db.session.execute(landed_cost_list_query(filters)).all()
    ids = [r.id for r in rows]
    receipts: dict[int, list[str]] = {}
    orders: dict[int, list[str]] = {}
    for lc_id, receipt, order in db.session.execute(
            select(LandedCostReceipt.landed_cost_id, Receipt.number, PurchaseOrder.number)
            .join(Receipt, Receipt.id == LandedCostReceipt.receipt_id)
            .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
            .where(LandedCostReceipt.landed_cost_id.in_(ids))
            .order_by(Receipt.id)):
        receipts.setdefault(lc_id, []).append(receipt)
        if order and order not in orders.setdefault(lc_id, []):
            orders[lc_id].append(order)
    charges: dict[int, list[str]] = {}
    for c in db.session.scalars(select(LandedCostCharge)
                                .where(LandedCostCharge.landed_cost_id.in_(ids))
                                .order_by(LandedCostCharge.id)):
        text = f"{CHARGE_KIND_LABELS[c.kind]} {round_amount(c.amount)} {c.currency}" + (
            f" ({c.vendor})" if c.vendor else "")
        charges.setdefault(c.landed_cost_id, []).append(text)
    return export_workbook(LANDED_COST_SPEC, exports.counted(({
        "number": r.number, "state": str(LANDED_COST_STATES.label(r.state)),
        "method": str(SPLIT_METHOD_LABELS[r.method]),
        "receipts": ", ".join(receipts.get(r.id, [])),
        "orders": ", ".join(orders.get(r.id, [])),
        "charges": "; ".join(charges.get(r.id, [])), "posting_date": r.posting_date,
        "total_base": r.total_base, "created_at": r.created_at, "created_by": r.created_by,
        "note": r.note} for r in rows), progress))


LIST_EXPORT = exports.register(exports.ListExport(
    "landed_costs", _l("Landed costs"), "procurement.view", LandedCostFilters,
    count=lambda f: db.session.scalar(landed_cost_count_query(f)),
    build=lambda f, *, user, progress: export_landed_costs(f, progress=progress),
    filename="landed-costs"))
