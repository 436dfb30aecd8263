"""The header search's parcel finder: a whole tracking or parcel number, else part of one."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, or_, select

from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.shipping.models import PARCEL_STATES, Parcel


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(Parcel.id, Parcel.number, Parcel.tracking_number, Parcel.state,
               CustomerOrder.number.label("order_number"))
        .join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
        .where(condition).order_by(Parcel.packed_at.desc(), Parcel.id.desc())
        .limit(limit)).all()
    return [Match(r.tracking_number or r.number,
                  url_for("shipping.parcel_detail", parcel_id=r.id),
                  " · ".join(part for part in (
                      r.number if r.tracking_number else None, r.order_number,
                      PARCEL_STATES.label(r.state)) if part)) for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the parcel with this tracking number (typed in groups too) or parcel number."""
    if query.is_email:
        return []
    return _matches(or_(Parcel.tracking_number == query.compact, Parcel.number == query.upper),
                    limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return parcels whose tracking or parcel number contains the text (any case)."""
    if query.is_email:
        return []
    return _matches(or_(func.upper(Parcel.tracking_number).contains(query.compact,
                                                                    autoescape=True),
                        func.upper(Parcel.number).contains(query.upper, autoescape=True)), limit)


search.register(search.Finder(
    "parcel", _l("Parcels"), "shipping.view", exact, partial,
    more=lambda query: url_for("shipping.parcel_list", q=query.text), position=40))
