"""The header search's case finder: an RMA number, a return tracking number or an e-mail."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, or_, select

from erp.aftersales.models import CASE_STATES, AfterSalesCase
from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(AfterSalesCase.id, AfterSalesCase.number, AfterSalesCase.contact_name,
               AfterSalesCase.state)
        .where(condition).order_by(AfterSalesCase.opened_at.desc(), AfterSalesCase.id.desc())
        .limit(limit)).all()
    return [Match(r.number, url_for("aftersales.case_detail", case_id=r.id),
                  f"{r.contact_name} · {CASE_STATES.label(r.state)}") for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the case with this RMA or return tracking number, or the cases of an e-mail."""
    if query.is_email:
        return _matches(AfterSalesCase.contact_email.in_(sorted({query.text, query.lower})),
                        limit)
    return _matches(or_(AfterSalesCase.number == query.upper,
                        AfterSalesCase.return_tracking == query.compact), limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return cases whose RMA number contains the text (any case)."""
    if query.is_email:
        return []
    return _matches(func.upper(AfterSalesCase.number).contains(query.upper, autoescape=True),
                    limit)


search.register(search.Finder(
    "case", _l("After-sales cases"), "aftersales.view", exact, partial,
    more=lambda query: url_for("aftersales.case_list", q=query.text), position=30))
