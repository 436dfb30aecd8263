"""The header search's purchase order finder: a whole PO number, else part of one."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db
from erp.procurement.models import (
    LANDED_COST_STATES,
    PURCHASE_ORDER_STATES,
    LandedCost,
    PurchaseOrder,
    Supplier,
)


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(PurchaseOrder.id, PurchaseOrder.number, PurchaseOrder.state,
               Supplier.code.label("supplier"))
        .join(Supplier, Supplier.id == PurchaseOrder.supplier_id)
        .where(condition).order_by(PurchaseOrder.created_at.desc(), PurchaseOrder.id.desc())
        .limit(limit)).all()
    return [Match(r.number, url_for("procurement.purchase_order_detail", po_id=r.id),
                  f"{r.supplier} · {PURCHASE_ORDER_STATES.label(r.state)}") for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the purchase order with this number (unique, indexed)."""
    if query.is_email:
        return []
    return _matches(PurchaseOrder.number == query.upper, limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return purchase orders whose number contains the text (any case)."""
    if query.is_email:
        return []
    return _matches(func.upper(PurchaseOrder.number).contains(query.upper, autoescape=True),
                    limit)


search.register(search.Finder(
    "purchase_order", _l("Purchase orders"), "procurement.view", exact, partial,
    more=lambda query: url_for("procurement.purchase_order_list", q=query.text), position=20))


# --------------------------------------------------------------------------- landed costs


def _landed_cost_matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(LandedCost.id, LandedCost.number, LandedCost.state)
        .where(condition(LandedCost.number)).order_by(LandedCost.id.desc()).limit(limit)).all()
    return [Match(r.number, url_for("procurement.landed_cost_detail", lc_id=r.id),
                  str(LANDED_COST_STATES.label(r.state))) for r in rows]


def landed_cost_exact(query: Query, limit: int) -> list[Match]:
    """Return the landed cost with this number (unique, indexed)."""
    if query.is_email:
        return []
    return _landed_cost_matches(lambda column: column == query.upper, limit)


def landed_cost_partial(query: Query, limit: int) -> list[Match]:
    """Return landed costs whose number contains the text (any case)."""
    if query.is_email:
        return []
    return _landed_cost_matches(
        lambda column: func.upper(column).contains(query.upper, autoescape=True), limit)


search.register(search.Finder(
    "landed_cost", _l("Landed costs"), "procurement.view", landed_cost_exact,
    landed_cost_partial,
    more=lambda query: url_for("procurement.landed_cost_list", q=query.text), position=22))
# --------------------------------------------------------------------------- supplier returns


def _return_matches(condition, limit: int) -> list[Match]:
    from erp.procurement.return_models import (
        SUPPLIER_RETURN_STATES,
        SupplierClaim,
        SupplierReturn,
    )

    rows = db.session.execute(
        select(SupplierReturn.id, SupplierReturn.number, SupplierReturn.state,
               Supplier.code.label("supplier"), SupplierClaim.number.label("claim"))
        .join(Supplier, Supplier.id == SupplierReturn.supplier_id)
        .outerjoin(SupplierClaim, SupplierClaim.return_id == SupplierReturn.id)
        .where(condition(SupplierReturn, SupplierClaim)).order_by(SupplierReturn.id.desc())
        .limit(limit)).all()
    return [Match(r.number, url_for("procurement.supplier_return_detail", return_id=r.id),
                  " · ".join(p for p in (r.supplier, SUPPLIER_RETURN_STATES.label(r.state),
                                         r.claim) if p)) for r in rows]


def return_exact(query: Query, limit: int) -> list[Match]:
    """Return the supplier return with this number, or whose debit note has it."""
    if query.is_email:
        return []
    return _return_matches(lambda ret, claim: (ret.number == query.upper)
                           | (claim.number == query.upper), limit)


def return_partial(query: Query, limit: int) -> list[Match]:
    """Return supplier returns whose number or debit note number contains the text."""
    if query.is_email:
        return []
    return _return_matches(
        lambda ret, claim: func.upper(ret.number).contains(query.upper, autoescape=True)
        | func.upper(claim.number).contains(query.upper, autoescape=True), limit)


search.register(search.Finder(
    "supplier_return", _l("Supplier returns"), "procurement.view", return_exact, return_partial,
    more=lambda query: url_for("procurement.supplier_return_list", q=query.text), position=21))
