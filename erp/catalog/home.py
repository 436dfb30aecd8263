"""The catalog on the home page: the active SKUs (the admin's overview)."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.catalog.models import Sku, SkuStatus
from erp.core import dashboard
from erp.core.dashboard import Card, Context
from erp.core.i18n import _l

ACTIVE = "catalog.active_skus"


ACTIVE_COUNT = select(func.count()).select_from(Sku).where(Sku.status == SkuStatus.active)


@dashboard.source([ACTIVE])
def catalog_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the active SKUs."""
    return {ACTIVE: dashboard.connection().scalar(ACTIVE_COUNT) or 0}


dashboard.register(
    Card(_l("Active SKUs"), "catalog.view", ACTIVE, "catalog.sku_list",
         _l("Search by code, name or barcode"), args=(("status", SkuStatus.active.value),)),
)
