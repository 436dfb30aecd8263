"""The header search's inspection lot finder: a whole lot number, else part of one."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, select

from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db
from erp.quality.models import INSPECTION_STATES, Inspection


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(Inspection.id, Inspection.number, Inspection.state, Inspection.supplier_name)
        .where(condition).order_by(Inspection.id.desc()).limit(limit)).all()
    return [Match(r.number, url_for("quality.inspection_detail", inspection_id=r.id),
                  f"{r.supplier_name or ''} · {INSPECTION_STATES.label(r.state)}") for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the lot with this number (unique, indexed)."""
    if query.is_email:
        return []
    return _matches(Inspection.number == query.upper, limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return lots whose number contains the text (any case)."""
    if query.is_email:
        return []
    return _matches(func.upper(Inspection.number).contains(query.upper, autoescape=True), limit)


search.register(search.Finder(
    "inspection", _l("Inspection lots"), "quality.view", exact, partial,
    more=lambda query: url_for("quality.inspection_list", q=query.text, state="all"),
    position=25))
