"""``stock.changed``: a SKU's availability, written at most once per SKU per interval.

The ledger marks each SKU whose stock or reservations change (:func:`erp.core.events.mark_changed`);
the outbox's periodic task calls :func:`build` for the SKUs that waited long enough and writes
their events with the figures of that moment, as ``GET /api/v1/stock`` shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import events
from erp.extensions import db
from erp.warehouse.queries import stock_availability_query


def build(refs: list[str]) -> Mapping[str, tuple[str, dict[str, Any]]]:
    """Return ``{sku id: (key, payload)}`` for the SKU ids ``refs`` that still exist."""
    ids = [int(ref) for ref in refs if ref.isdigit()]
    codes = dict(db.session.execute(select(Sku.id, Sku.code).where(Sku.id.in_(ids))).all())
    figures = {row.sku_id: row for row in db.session.execute(stock_availability_query(ids))}
    built = {}
    for ident, code in codes.items():
        row = figures.get(ident)
        built[str(ident)] = (f"sku:{code}", {
            "sku": code,
            "available": max(int(row.available), 0) if row is not None else 0,
            "inbound": int(row.inbound) if row is not None else 0,
            "blocked": int(row.blocked) if row is not None else 0})
    return built


events.register_coalesced("stock.changed", build, interval_setting="stock_event_interval")
