"""Customer returns for manufacturing reasons, and units shipped, per SKU or specification version.

Read-only. The rules are the returns analysis' (:mod:`erp.aftersales.reports`), narrowed to the
reasons the setting ``manufacturing_defect_reasons`` names (by default ``DEFECTIVE``):

- **units returned**: the case lines of return, refund-only and wrong-item cases opened in the
  window, not rejected, whose reason is a manufacturing-defect reason. Lost and damaged parcels
  are the carrier's, never the maker's.
- **units shipped**: the parcel lines of parcels dispatched in the window.

A SKU's specification version is its product's (``product.spec_version_id``). Windows are
``[start, end)`` in UTC.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select

from erp.aftersales.models import AfterSalesCase, CaseLine, ReasonCode
from erp.aftersales.reports import _counted_cases
from erp.catalog.models import Product, Sku
from erp.core import settings
from erp.extensions import db
from erp.shipping.models import Parcel, ParcelLine, ParcelState


def manufacturing_reason_codes() -> frozenset[str]:
    """Return the reason codes whose returns count as manufacturing defects (a setting).

    The setting is shared with the returns to suppliers; its value is read as a set or as
    text listing codes separated by commas or spaces.
    """
    value = settings.get("manufacturing_defect_reasons") or ()
    if isinstance(value, str):
        value = value.replace(",", " ").replace(";", " ").split()
    return frozenset(str(code).strip().upper() for code in value if str(code).strip())


def _returned(start: datetime, end: datetime, key):
    codes = sorted(manufacturing_reason_codes())
    return (select(key.label("key"), ReasonCode.code, func.max(ReasonCode.name).label("name"),
                   func.sum(CaseLine.quantity).label("units"))
            .select_from(CaseLine)
            .join(AfterSalesCase, AfterSalesCase.id == CaseLine.case_id)
            .join(ReasonCode, ReasonCode.id == AfterSalesCase.reason_id)
            .where(_counted_cases(start, end), ReasonCode.code.in_(codes))
            .group_by(key, ReasonCode.code)), bool(codes)


def _shipped(start: datetime, end: datetime, key):
    return (select(key.label("key"), func.sum(ParcelLine.quantity).label("units"))
            .select_from(ParcelLine).join(Parcel, Parcel.id == ParcelLine.parcel_id)
            .where(Parcel.state == ParcelState.dispatched, Parcel.dispatched_at >= start,
                   Parcel.dispatched_at < end)
            .group_by(key))


def returned_by_sku(start: datetime, end: datetime, sku_ids: Iterable[int] | None = None
                    ) -> dict[int, dict[str, tuple[str, int]]]:
    """Return ``{sku id: {reason code: (reason name, units)}}`` returned for those reasons.

    With ``sku_ids``, of those SKUs only.
    """
    stmt, any_codes = _returned(start, end, CaseLine.sku_id)
    if sku_ids is not None:
        stmt = stmt.where(CaseLine.sku_id.in_(sorted(sku_ids)))
    out: dict[int, dict[str, tuple[str, int]]] = defaultdict(dict)
    if any_codes:
        for row in db.session.execute(stmt):
            out[row.key][row.code] = (row.name, int(row.units or 0))
    return dict(out)


def shipped_by_sku(start: datetime, end: datetime, sku_ids: Iterable[int] | None = None
                   ) -> dict[int, int]:
    """Return ``{sku id: units shipped}`` in the window (with ``sku_ids``, of those only)."""
    stmt = _shipped(start, end, ParcelLine.sku_id)
    if sku_ids is not None:
        stmt = stmt.where(ParcelLine.sku_id.in_(sorted(sku_ids)))
    return {row.key: int(row.units or 0) for row in db.session.execute(stmt)}


def returned_by_version(start: datetime, end: datetime, version_ids: Iterable[int] | None = None
                        ) -> dict[int, dict[str, tuple[str, int]]]:
    """Return ``{version id: {reason code: (name, units)}}`` for the SKUs of each version."""
    stmt, any_codes = _returned(start, end, Product.spec_version_id)
    stmt = (stmt.join(Sku, Sku.id == CaseLine.sku_id).join(Product, Product.id == Sku.product_id)
            .where(Product.spec_version_id.is_not(None)))
    if version_ids is not None:
        stmt = stmt.where(Product.spec_version_id.in_(list(version_ids)))
    out: dict[int, dict[str, tuple[str, int]]] = defaultdict(dict)
    if any_codes:
        for row in db.session.execute(stmt):
            out[row.key][row.code] = (row.name, int(row.units or 0))
    return dict(out)


def shipped_by_version(start: datetime, end: datetime, version_ids: Iterable[int]
                       ) -> dict[int, int]:
    """Return ``{version id: units shipped}`` of the SKUs of the versions given."""
    stmt = (_shipped(start, end, Product.spec_version_id)
            .join(Sku, Sku.id == ParcelLine.sku_id).join(Product, Product.id == Sku.product_id)
            .where(Product.spec_version_id.in_(list(version_ids))))
    return {row.key: int(row.units or 0) for row in db.session.execute(stmt)}
