"""The header search's finders: bins (a whole code or ``WH/CODE``, else part) and transfers."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import and_, func, or_, select

from erp.core import search
from erp.core.i18n import _, _l
from erp.core.search import Match, Query
from erp.extensions import db
from erp.warehouse.labels import transfer_state_label
from erp.warehouse.models import VIRTUAL_KINDS, Location, TransferOrder, Warehouse


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(Location.id, Location.code, Location.kind, Location.active,
               Warehouse.code.label("warehouse"))
        .join(Warehouse, Warehouse.id == Location.warehouse_id)
        .where(Location.kind.not_in(list(VIRTUAL_KINDS)), condition)
        .order_by(Location.code, Warehouse.code).limit(limit)).all()
    return [Match(f"{r.warehouse}/{r.code}",
                  url_for("warehouse.stock_by_bin", location_id=r.id),
                  str(r.kind) if r.active else _("%(kind)s, inactive", kind=str(r.kind)))
            for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the bins whose code is the text (in any warehouse, or the one named before /)."""
    if query.is_email:
        return []
    warehouse, _slash, code = query.upper.rpartition("/")
    condition = Location.code == code
    if warehouse:
        condition = and_(condition, Warehouse.code == warehouse)
    return _matches(condition, limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return bins whose code contains the text."""
    if query.is_email:
        return []
    return _matches(func.upper(Location.code).contains(query.upper, autoescape=True), limit)


search.register(search.Finder("bin", _l("Bins"), "warehouse.view", exact, partial,
                              position=70))


# --------------------------------------------------------------------------- transfers


def _transfers(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(TransferOrder.id, TransferOrder.number, TransferOrder.state)
        .where(condition).order_by(TransferOrder.id.desc()).limit(limit)).all()
    return [Match(r.number, url_for("warehouse.transfer_order_detail", transfer_id=r.id),
                  transfer_state_label(r.state)) for r in rows]


def transfer_exact(query: Query, limit: int) -> list[Match]:
    """Return the transfer whose number (or carrier's reference) is the text."""
    if query.is_email:
        return []
    return _transfers(or_(TransferOrder.number == query.upper,
                          func.upper(TransferOrder.reference) == query.upper), limit)


def transfer_partial(query: Query, limit: int) -> list[Match]:
    """Return transfers whose number contains the text."""
    if query.is_email:
        return []
    return _transfers(func.upper(TransferOrder.number).contains(query.upper, autoescape=True),
                      limit)


search.register(search.Finder("transfer", _l("Warehouse transfers"), "warehouse.view",
                              transfer_exact, transfer_partial, position=72,
                              more=lambda query: url_for("warehouse.transfer_order_list",
                                                         q=query.text)))
