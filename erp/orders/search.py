"""The header search's order finder: a whole order number or e-mail, else part of a number."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(CustomerOrder.id, CustomerOrder.number, CustomerOrder.customer_name,
               CustomerOrder.state)
        .where(condition).order_by(CustomerOrder.placed_at.desc(), CustomerOrder.id.desc())
        .limit(limit)).all()
    return [Match(r.number, url_for("orders.order_detail", order_id=r.id),
                  f"{r.customer_name} · {ORDER_STATES.label(r.state)}") for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the order with this number, or the orders of this e-mail (both indexed)."""
    if query.is_email:
        return _matches(CustomerOrder.email.in_(sorted({query.text, query.lower})), limit)
    return _matches(CustomerOrder.number.in_(sorted({query.text, query.upper})), limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return orders whose number contains the text (any case)."""
    if query.is_email:
        return []
    return _matches(func.upper(CustomerOrder.number).contains(query.upper, autoescape=True),
                    limit)


search.register(search.Finder(
    "order", _l("Customer orders"), "orders.view", exact, partial,
    more=lambda query: url_for("orders.order_list", q=query.text), position=10))
