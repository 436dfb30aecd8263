"""Fixtures of the catalog's Excel tests: a small catalog to import into, and row counts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.catalog import services
from erp.catalog.models import Category, Product, Sku
from erp.core.models import AuditEvent
from erp.extensions import db


@pytest.fixture
def catalog_codes(create_brand):
    """Create brands LUMA and NORD and categories APP > APP-TEE and HOME (committed)."""
    create_brand("LUMA", "Luma Home")
    create_brand("NORD", "Nord Peak")
    apparel = services.create_category(code="APP", name="Apparel", actor=None,
                                       hs_code="610910", origin_country="CN")
    services.create_category(code="APP-TEE", name="T-shirts", parent=apparel, actor=None)
    services.create_category(code="HOME", name="Home", actor=None)
    db.session.commit()
    return {"brands": ["LUMA", "NORD"], "categories": ["APP", "APP-TEE", "HOME"]}


@pytest.fixture
def catalog_counts(app):
    """Return ``catalog_counts()``: the numbers of SKUs, products, categories and audit events.

    Counted as the current session sees them, so a write not yet committed counts too.
    """

    def count() -> dict[str, int]:
        return {model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
                for model in (Sku, Product, Category, AuditEvent)}

    return count
