"""The header search's SKU finder: a whole SKU code or barcode (EAN), else part of a code."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func, or_, select

from erp.catalog.models import Product, Sku
from erp.core import search
from erp.core.i18n import _l
from erp.core.search import Match, Query
from erp.extensions import db


def _matches(condition, limit: int) -> list[Match]:
    rows = db.session.execute(
        select(Sku.id, Sku.code, Sku.barcode, Product.name)
        .join(Product, Product.id == Sku.product_id)
        .where(condition).order_by(Sku.code).limit(limit)).all()
    return [Match(r.code, url_for("catalog.sku_detail", sku_id=r.id),
                  " · ".join(part for part in (r.name, r.barcode) if part)) for r in rows]


def exact(query: Query, limit: int) -> list[Match]:
    """Return the SKU whose code or barcode is the text (both unique, indexed)."""
    if query.is_email:
        return []
    return _matches(or_(Sku.code == query.upper, Sku.barcode == query.compact), limit)


def partial(query: Query, limit: int) -> list[Match]:
    """Return SKUs whose code or barcode contains the text."""
    if query.is_email:
        return []
    return _matches(or_(func.upper(Sku.code).contains(query.upper, autoescape=True),
                        Sku.barcode.contains(query.compact, autoescape=True)), limit)


search.register(search.Finder(
    "sku", _l("SKUs"), "catalog.view", exact, partial,
    more=lambda query: url_for("catalog.sku_list", q=query.text), position=60))
