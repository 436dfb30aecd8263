"""Shared helpers for the purchase order and receiving tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.core import services as core_services
from erp.core.models import AuditEvent, Sequence
from erp.extensions import db
from erp.procurement.models import PurchaseOrder, PurchaseOrderLine, Receipt, ReceiptLine
from erp.warehouse.models import StockLevel, StockMove


def snapshot() -> dict:
    """Return what a refused operation must leave unchanged, read from the database.

    Pending changes are flushed first, so a service that changed something before refusing
    shows up here.
    """
    db.session.flush()

    def rows(*columns):
        return sorted(tuple(r) for r in db.session.execute(select(*columns)))

    return {
        "orders": rows(PurchaseOrder.id, PurchaseOrder.number, PurchaseOrder.state,
                       PurchaseOrder.expected_date, PurchaseOrder.ordered_on,
                       PurchaseOrder.notes, PurchaseOrder.approved_by_id,
                       PurchaseOrder.closed_at),
        "lines": rows(PurchaseOrderLine.id, PurchaseOrderLine.order_id, PurchaseOrderLine.sku_id,
                      PurchaseOrderLine.quantity, PurchaseOrderLine.unit_price,
                      PurchaseOrderLine.received_qty, PurchaseOrderLine.cancelled_qty,
                      PurchaseOrderLine.expected_date),
        "receipts": rows(Receipt.id, Receipt.state),
        "receipt_lines": db.session.scalar(select(func.count()).select_from(ReceiptLine)),
        "moves": db.session.scalar(select(func.count()).select_from(StockMove)),
        "levels": rows(StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand,
                       StockLevel.reserved),
        "audit": db.session.scalar(select(func.count()).select_from(AuditEvent)),
        "sequences": rows(Sequence.name, Sequence.last_value),
    }


def set_setting(key: str, value: str) -> None:
    """Store a setting and commit."""
    core_services.update_settings({key: value}, actor=None)
    db.session.commit()


def set_rate(currency: str, rate: str, valid_from: date | None = None) -> None:
    """Store an exchange rate (base units per unit) and commit."""
    core_services.set_exchange_rate(currency, valid_from or date(2000, 1, 1), Decimal(rate),
                                    actor=None)
    db.session.commit()


def audit_actions(entity_type: str, entity_id: int) -> list[str]:
    """Return the audit actions recorded on a record, oldest first."""
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id))
        .order_by(AuditEvent.id)))


def audit_events(entity_type: str, entity_id: int, action: str) -> list[AuditEvent]:
    """Return the audit events of one action on a record, oldest first."""
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id),
        AuditEvent.action == action).order_by(AuditEvent.id)))
