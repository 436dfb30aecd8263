"""The warehouses a shipping service ships from (none listed: every warehouse)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.extensions import db
from erp.shipping.models import ShippingService
from erp.warehouse.models import Warehouse


def set_service_warehouses(service: ShippingService, warehouse_ids: Iterable[int], *,
                           actor) -> ShippingService:
    """Replace the warehouses ``service`` ships from; an empty list means every warehouse.

    :raises ValidationError: for an unknown warehouse.
    """
    wanted = sorted({int(i) for i in warehouse_ids})
    found = list(db.session.scalars(select(Warehouse).where(Warehouse.id.in_(wanted))
                                    .order_by(Warehouse.code)))
    if len(found) != len(wanted):
        raise ValidationError(_("Choose warehouses from the list."), field="warehouses")
    before = [w.code for w in service.warehouses]
    after = [w.code for w in found]
    if sorted(before) == sorted(after):
        return service
    service.warehouses = found
    audit.record(service, "shipping_service.warehouses", actor=actor,
                 changes={"warehouses": [" ".join(before) or None, " ".join(after) or None]})
    db.session.flush()
    return service


def ships_from(service: ShippingService, warehouse_id: int | None) -> bool:
    """Return whether ``service`` ships from the warehouse (any, when it lists none)."""
    return not service.warehouses or any(w.id == warehouse_id for w in service.warehouses)
