"""The catalog on the home page: the active SKUs (the admin's overview)."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.catalog.models import Sku, SkuStatus
from erp.core import dashboard
from erp.core.dashboard import Card
from erp.core.i18n import _l

ACTIVE = "catalog.active_skus"


ACTIVE_COUNT = select(func.count()).select_from(Sku).where(Sku.status == SkuStatus.active)


#: read with the other domains' counts, in the home page's one query of scalar figures
dashboard.scalar_source({ACTIVE: ACTIVE_COUNT.scalar_subquery()})


dashboard.register(
    Card(_l("Active SKUs"), "catalog.view", ACTIVE, "catalog.sku_list",
         _l("Search by code, name or barcode"), args=(("status", SkuStatus.active.value),)),
)
