"""Scenario: suggestion -> draft PO -> approval -> ordered -> deliveries -> closed -> put away.

Written as numbered steps, like Tryton's ``scenario_purchase.rst``; it calls services only and
commits where a screen would (one unit of work per step). At each step it checks the stock
level, the SKU's moving-average cost and the audit trail.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core import services as core_services
from erp.core.errors import PermissionDenied
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import PurchaseOrderState
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import PutawayState, PutawayTask, StockLevel
from erp.warehouse.queries import (
    availability_query,
    ledger_problems,
    stock_availability_query,
)

S = PurchaseOrderState


def stock(sku) -> tuple[int, int, Decimal]:
    """Return the SKU's (on hand, reserved) over every bin and its moving-average cost."""
    db.session.expire_all()
    row = db.session.execute(availability_query([sku.id])).one()
    return int(row.on_hand), int(row.reserved), db.session.get(type(sku), sku.id).avg_cost


def sellable(sku) -> tuple[int, int, int]:
    """Return what the storefront API reports: (available, inbound, blocked)."""
    row = db.session.execute(stock_availability_query([sku.id])).one()
    return int(row.available), int(row.inbound), int(row.blocked)


def in_bin(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def trail(since: int) -> list[tuple[str, str, int | None]]:
    """Return ``(entity, action, actor id)`` of the audit events after id ``since``."""
    return [(e.entity_type, e.action, e.actor_id) for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id))]


def last_event_id() -> int:
    return db.session.scalar(select(func.max(AuditEvent.id))) or 0


def suggestion_for(sku):
    return {s.sku_id: s for s in services.replenishment_suggestions()}.get(sku.id)


def test_purchase_to_stock_scenario(create_user, create_sku, create_supplier,
                                    create_supplier_item, create_bin, receive_stock):
    # 1. The set-up: a buyer and a manager, a rate for CNY (base USD), purchase orders above
    #    500 USD need a manager, a receiving and a storage bin, and a supplier in CNY selling
    #    the SKU at 70.00 CNY (9.80 USD) in an MOQ of 60 and packs of 12.
    buyer = create_user("buyer", roles=("purchasing",))
    manager = create_user("boss", roles=("manager",))
    core_services.set_exchange_rate("CNY", date(2000, 1, 1), Decimal("0.1400"), actor=None)
    core_services.update_settings({"approval_threshold": "500"}, actor=None)
    receiving, shelf = create_bin("RCV-01", kind="receiving"), create_bin("A-01-01-01")
    mill = create_supplier("CN-MILL", currency="CNY", lead_time_days=30)
    tee = create_sku("TEE-BLK-M", reorder_point=20, reorder_qty=50)
    create_supplier_item(mill, tee, "70.00", moq=60, pack_multiple=12, supplier_code="KQ-1")
    db.session.commit()

    # 2. Running low: 10 on the shelf at 8.00 USD, 3 of them reserved for a customer order.
    receive_stock(tee, shelf, 10, "8.00")
    warehouse_services.reserve(tee, shelf, 3, ref_type="order_line", ref_id=1, actor=None)
    db.session.commit()
    assert stock(tee) == (10, 3, Decimal("8.0000"))

    # 3. The suggestion: available 7 (10 - 3 reserved, taken off once) + incoming 0 is below
    #    the reorder point of 20; the reorder quantity of 50 is raised to the MOQ of 60, which
    #    is 5 whole packs of 12; the supplier is the one selling it.
    suggestion = suggestion_for(tee)
    assert (suggestion.available, suggestion.incoming, suggestion.position) == (7, 0, 7)
    assert suggestion.quantity == 60
    assert (suggestion.supplier_code, suggestion.unit_price, suggestion.currency) == (
        "CN-MILL", Decimal("70.0000"), "CNY")

    # 4. One click: a draft purchase order for the supplier, with the suggested line, priced
    #    from the price list. Nothing in stock changes; the draft is not yet incoming.
    mark = last_event_id()
    [po] = services.create_draft_orders([suggestion], actor=buyer)
    db.session.commit()
    assert (po.state, po.currency, po.number, po.created_by_id) == (S.draft, "CNY", None,
                                                                    buyer.id)
    assert [(ln.sku_id, ln.quantity, ln.unit_price, ln.supplier_code) for ln in po.lines] == [
        (tee.id, 60, Decimal("70.0000"), "KQ-1")]
    assert trail(mark) == [("purchase_order", "purchase_order.created", buyer.id),
                           ("purchase_order", "purchase_order.line_added", buyer.id)]
    assert stock(tee) == (10, 3, Decimal("8.0000"))
    assert (suggestion_for(tee).incoming, suggestion_for(tee).drafted) == (0, 60)

    # 5. Submitted: 60 x 70.00 CNY = 4,200.00 CNY = 588.00 USD, above 500: it is numbered and
    #    waits for a manager. The buyer cannot approve their own order; the manager does.
    mark = last_event_id()
    services.submit_purchase_order(po, actor=buyer)
    db.session.commit()
    assert po.state == S.awaiting_approval
    assert po.number.startswith(f"PO-{date.today().year}-")
    assert services.purchase_order_totals(po) == (Decimal("4200.00"), "CNY", Decimal("588.00"))
    with pytest.raises(PermissionDenied):
        services.approve_purchase_order(po, approver=buyer)
    db.session.rollback()
    assert po.state == S.awaiting_approval
    services.approve_purchase_order(po, approver=manager)
    db.session.commit()
    assert (po.state, po.approved_by_id) == (S.approved, manager.id)
    assert trail(mark) == [("purchase_order", "purchase_order.awaiting_approval", buyer.id),
                           ("purchase_order", "purchase_order.approved", manager.id)]
    # approved is incoming: 7 + 60 = 67 is above the reorder point, so no more suggestion
    assert suggestion_for(tee) is None
    assert stock(tee) == (10, 3, Decimal("8.0000"))

    # 6. Ordered: sent to the supplier today, expected after the supplier's 30-day lead time.
    mark = last_event_id()
    services.mark_purchase_order_ordered(po, actor=buyer)
    db.session.commit()
    assert (po.state, po.ordered_on) == (S.ordered, date.today())
    assert po.expected_date == date.today() + timedelta(days=30)
    assert trail(mark) == [("purchase_order", "purchase_order.ordered", buyer.id)]
    assert stock(tee) == (10, 3, Decimal("8.0000"))

    # 7. First delivery: 24 into RCV-01 at 70.00 CNY = 9.80 USD each. Average cost:
    #    (10 x 8.00 + 24 x 9.80) / 34 = 315.20 / 34 = 9.2706.
    mark = last_event_id()
    line = po.lines[0]
    first = services.receive_purchase_order(po, {line.id: 24}, location=receiving, actor=buyer,
                                            note="delivery note 1")
    db.session.commit()
    assert po.state == S.partially_received
    assert (line.received_qty, line.remaining_qty) == (24, 36)
    assert [(rl.quantity, rl.unit_cost_base) for rl in first.lines] == [(24, Decimal("9.8000"))]
    assert (in_bin(tee, receiving), in_bin(tee, shelf)) == (24, 10)
    assert stock(tee) == (34, 3, Decimal("9.2706"))
    assert set(trail(mark)) == {("stock_move", "stock_move.posted", buyer.id),
                                ("sku", "sku.cost_changed", buyer.id),
                                ("purchase_order", "purchase_order.partially_received",
                                 buyer.id),
                                ("receipt", "receipt.posted", buyer.id),
                                ("putaway_task", "putaway_task.created", buyer.id)}
    assert suggestion_for(tee) is None  # 31 available + 36 incoming

    # 8. Second delivery: 24 more. Average cost: (34 x 9.2706 + 24 x 9.80) / 58 = 9.4897.
    mark = last_event_id()
    second = services.receive_purchase_order(po, {line.id: 24}, location=receiving, actor=buyer)
    db.session.commit()
    assert second.number != first.number
    assert po.state == S.partially_received
    assert (line.received_qty, line.remaining_qty) == (48, 12)
    assert in_bin(tee, receiving) == 48
    assert stock(tee) == (58, 3, Decimal("9.4897"))
    assert ("putaway_task", "putaway_task.updated", buyer.id) in trail(mark)  # the same task
    assert ("receipt", "receipt.posted", buyer.id) in trail(mark)
    assert ("purchase_order", "purchase_order.partially_received", buyer.id) in trail(mark)

    # 9. Closed short: the last 12 will not come. They are cancelled on the line, and the
    #    order is closed; stock and cost stay as they are, and nothing is incoming any more.
    mark = last_event_id()
    services.close_purchase_order(po, actor=buyer, reason="the mill ran out of dyed yarn")
    db.session.commit()
    assert po.state == S.closed
    assert (line.received_qty, line.cancelled_qty, line.remaining_qty) == (48, 12, 0)
    [closed] = db.session.scalars(select(AuditEvent).where(AuditEvent.id > mark)).all()
    assert (closed.action, closed.actor_id) == ("purchase_order.closed", buyer.id)
    assert closed.changes["state"] == ["partially_received", "closed"]
    assert closed.changes["note"] == "the mill ran out of dyed yarn"
    assert closed.changes["cancelled"] == [{"line": line.id, "sku": "TEE-BLK-M", "quantity": 12}]
    assert stock(tee) == (58, 3, Decimal("9.4897"))
    assert suggestion_for(tee) is None  # 55 available, 0 incoming

    # 10. The whole history of the order reads in order, and the ledger balances.
    history = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "purchase_order", AuditEvent.entity_id == str(po.id))
        .order_by(AuditEvent.id)).all()
    assert history == ["purchase_order.created", "purchase_order.line_added",
                       "purchase_order.awaiting_approval", "purchase_order.approved",
                       "purchase_order.ordered", "purchase_order.partially_received",
                       "purchase_order.partially_received", "purchase_order.closed"]
    assert ledger_problems(db.session) == []

    # 11. Put away: the two deliveries wait in one task suggesting the shelf that holds the
    #     SKU. Until it is done the storefront sees them as inbound, not available.
    [task] = db.session.scalars(select(PutawayTask)).all()
    assert (task.left, task.suggested_location_id) == (48, shelf.id)
    assert sellable(tee) == (7, 48, 0)
    warehouse_services.confirm_putaway(task, shelf, actor=None)
    db.session.commit()
    assert task.state == PutawayState.done
    assert (in_bin(tee, receiving), in_bin(tee, shelf)) == (0, 58)
    assert sellable(tee) == (55, 0, 0)
    assert ledger_problems(db.session) == []
