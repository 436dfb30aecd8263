"""Landed costs posted at once, on PostgreSQL: one post per document, no lost revaluation.

The landed cost owns its state (locked before it is read); the SKU's stock levels and row own
its average cost (locked, in the ledger's order, before on hand and cost are read), so two
landed costs on the same goods both land in full, and a sale meanwhile is seen.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.catalog.models import Sku
from erp.core.models import AuditEvent, User
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import LandedCost, LandedCostState
from erp.warehouse.models import ValueAdjustment
from erp.warehouse.queries import ledger_problems
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_config():
    return POOL_CONFIG


@pytest.fixture
def receipt(create_purchase_order, create_sku, receiving_bin):
    """A receipt of 40 x LCC-A at 5.00 (committed)."""
    po = create_purchase_order(lines=[(create_sku("LCC-A"), 40, "5.00")], state="ordered")
    rcpt = services.receive_purchase_order(po, {po.lines[0].id: 40}, location=receiving_bin,
                                           actor=None)
    db.session.commit()
    return rcpt


def _draft(receipt, amount: str) -> int:
    lc = services.create_landed_cost(receipts=[receipt], method="quantity", actor=None,
                                     charges=[services.ChargeSpec("freight", amount, "USD")])
    db.session.commit()
    return lc.id


def test_eight_posts_of_one_landed_cost_post_it_once(app, receipt, people):
    lc_id, sku_id = _draft(receipt, "20.00"), receipt.lines[0].sku_id

    def prepare(n):
        lc, user = db.session.get(LandedCost, lc_id), db.session.get(User, people["manager"][n])
        _ = lc.state, lc.charges, lc.receipt_links
        return lambda: services.post_landed_cost(lc, actor=user).number

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all(isinstance(err, InvalidTransition) for err in outcomes.refusals)
    assert db.session.get(LandedCost, lc_id).state == LandedCostState.posted
    assert db.session.scalar(select(func.sum(ValueAdjustment.amount))) == Decimal("20.00")
    assert db.session.get(Sku, sku_id).avg_cost == Decimal("5.5000")
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "landed_cost.posted")) == 1
    assert ledger_problems(db.session) == []


def test_eight_landed_costs_on_the_same_goods_lose_no_revaluation(app, receipt, people):
    ids, sku_id = [_draft(receipt, "4.00") for _ in range(CALLS)], receipt.lines[0].sku_id

    def prepare(n):
        lc, user = db.session.get(LandedCost, ids[n]), db.session.get(User, people["manager"][n])
        _ = lc.state, lc.charges, lc.receipt_links
        return lambda: services.post_landed_cost(lc, actor=user).number

    outcomes = race(app, prepare)
    assert outcomes.wins == CALLS
    # 8 x 4.00 over 40 units: every one raised the cost by 0.10
    assert db.session.get(Sku, sku_id).avg_cost == Decimal("5.8000")
    assert db.session.scalar(select(func.sum(ValueAdjustment.amount))) == Decimal("32.00")
    assert ledger_problems(db.session) == []


def test_landed_costs_and_receipts_of_the_same_sku_at_once_keep_the_value(
        app, receipt, people, create_purchase_order):
    """4 landed costs of 40.00 on 40 units and 4 receipts of 10 more at 5.00, all at once.

    Whatever the order, the 40 units of the first receipt stay on hand (first in, first out),
    so each landed cost revalues them by 40.00: the stock ends at 80 units worth
    40 x 5 + 4 x 40 + 40 x 5 = 560.00, an average of 7.00. A receipt that read the average
    cost before the landed cost committed would write it back and lose 40.00.
    """
    sku = receipt.lines[0].sku
    ids = [_draft(receipt, "40.00") for _ in range(4)]
    po = create_purchase_order(lines=[(sku, 40, "5.00")], state="ordered")
    line_id, po_id, bin_id = po.lines[0].id, po.id, receipt.location_id

    def prepare(n):
        user = db.session.get(User, people["manager"][n])
        if n < 4:
            lc = db.session.get(LandedCost, ids[n])
            _ = lc.state, lc.charges, lc.receipt_links
            return lambda: services.post_landed_cost(lc, actor=user).number
        from erp.procurement.models import PurchaseOrder
        from erp.warehouse.models import Location

        order, location = db.session.get(PurchaseOrder, po_id), db.session.get(Location, bin_id)
        _ = order.state, [line.received_qty for line in order.lines]
        return lambda: services.receive_purchase_order(order, {line_id: 10},
                                                       location=location, actor=user).number

    outcomes = race(app, prepare)
    assert outcomes.wins == CALLS, outcomes.messages()
    db.session.expire_all()
    cost = db.session.get(Sku, sku.id).avg_cost
    assert abs(cost * 80 - Decimal("560.00")) < Decimal("0.01"), cost
    assert db.session.scalar(select(func.sum(ValueAdjustment.amount))) == Decimal("160.00")
    assert ledger_problems(db.session) == []
