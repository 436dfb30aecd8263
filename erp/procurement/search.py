"""The header search's purchase order finder: a whole PO number, else part of one."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db
from erp.procurement.models import PURCHASE_ORDER_STATES, PurchaseOrder, Supplier


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
