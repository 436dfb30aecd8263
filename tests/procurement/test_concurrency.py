"""Purchase-order limits under concurrency, on PostgreSQL: 8 identical calls at once, one order.

The order (then its lines, in id order) owns what may still be received and its state. Every
guarded service locks it before reading the figures, so of 8 simultaneous calls exactly the
allowed number win and the others are told why. (Demo finding: three receipts of a line's
remaining 30 units all posted, and the line's received quantity lost an update.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent, User
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptState,
)
from erp.procurement.services import ReceivingError
from erp.warehouse.models import Location, StockLevel
from erp.warehouse.queries import ledger_problems
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race

pytestmark = pytest.mark.postgres
S = PurchaseOrderState


@pytest.fixture
def app_config():
    return POOL_CONFIG



@pytest.fixture
def forty(create_purchase_order, create_sku):
    """Return ``forty(state)``: an order of one line of 40 x SKU PO-SKU at 5.00."""
    sku = create_sku("PO-SKU")

    def factory(state: str = "ordered") -> PurchaseOrder:
        return create_purchase_order(lines=[(sku, 40, "5.00")], state=state)

    return factory


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def _on_hand(sku_id: int, location_id: int) -> int:
    level = db.session.get(StockLevel, (sku_id, location_id))
    return level.on_hand if level else 0


def _audits(action: str) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == action))


def _receipts(po_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Receipt)
                             .where(Receipt.order_id == po_id))


def _receiving(po_id: int, line_id: int, bin_id: int, qty: int, user_ids):
    """Return a ``prepare`` that receives ``qty`` on the line, as a receiving screen would."""

    def prepare(n):
        po, location = db.session.get(PurchaseOrder, po_id), db.session.get(Location, bin_id)
        _ = po.state, [line.received_qty for line in po.lines]  # what the screen showed
        user = _user(user_ids[n])
        return lambda: services.receive_purchase_order(po, {line_id: qty}, location=location,
                                                       actor=user).number

    return prepare


def test_eight_receipts_of_the_remaining_thirty_post_one(app, create_purchase_order, create_sku,
                                                         receiving_bin, people):
    # A second line still to come keeps the order receivable: the refusals are the line's.
    po = create_purchase_order(lines=[(create_sku("PO-SKU"), 40, "5.00"),
                                      (create_sku("PO-OTHER"), 10, "5.00")], state="ordered")
    line = po.lines[0]
    services.receive_purchase_order(po, {line.id: 10}, location=receiving_bin, actor=None)
    db.session.commit()
    po_id, line_id, sku_id, bin_id = po.id, line.id, line.sku_id, receiving_bin.id

    outcomes = race(app, _receiving(po_id, line_id, bin_id, 30, people["warehouse"]))
    assert outcomes.wins == 1
    assert all(isinstance(err, ReceivingError) for err in outcomes.refusals)
    assert outcomes.messages() == [
        'To receive 30 of SKU "PO-SKU" on purchase order "' + po.reference + '", you must stay '
        "within what the line may still receive: 0 (40 ordered, 40 received, over-receipt "
        "tolerance 0%)."] * (CALLS - 1)
    line = db.session.get(PurchaseOrderLine, line_id)
    assert (line.received_qty, line.remaining_qty) == (40, 0)
    assert db.session.get(PurchaseOrder, po_id).state == S.partially_received
    assert _on_hand(sku_id, bin_id) == 40
    assert _receipts(po_id) == 2
    assert ledger_problems(db.session) == []


def test_eight_receipts_that_all_fit_lose_no_update(app, forty, receiving_bin, people):
    po = forty()
    po_id, line_id, sku_id, bin_id = po.id, po.lines[0].id, po.lines[0].sku_id, receiving_bin.id

    outcomes = race(app, _receiving(po_id, line_id, bin_id, 5, people["warehouse"]))
    assert outcomes.wins == CALLS
    assert len(set(outcomes.results)) == CALLS  # eight receipt numbers
    line = db.session.get(PurchaseOrderLine, line_id)
    assert line.received_qty == 5 * CALLS == 40
    assert db.session.get(PurchaseOrder, po_id).state == S.received
    assert _on_hand(sku_id, bin_id) == 40
    assert ledger_problems(db.session) == []


def test_eight_reversals_of_one_receipt_reverse_it_once(app, forty, receiving_bin, people,
                                                        receive_stock):
    po = forty()
    line = po.lines[0]
    receipt = services.receive_purchase_order(po, {line.id: 10}, location=receiving_bin,
                                              actor=None)
    # More of the SKU in the bin: the stock alone would not stop a second reversal.
    receive_stock(line.sku, receiving_bin, 100)
    db.session.commit()
    po_id, line_id, sku_id, bin_id = po.id, line.id, line.sku_id, receiving_bin.id
    receipt_id = receipt.id

    def prepare(n):
        receipt, user = db.session.get(Receipt, receipt_id), _user(people["warehouse"][n])
        _ = receipt.state, receipt.order.state, receipt.lines
        return lambda: services.reverse_receipt(receipt, actor=user, reason="counted twice")

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all(isinstance(err, InvalidTransition) for err in outcomes.refusals)
    assert all('it is "reversed"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert db.session.get(Receipt, receipt_id).state == ReceiptState.reversed
    assert db.session.get(PurchaseOrderLine, line_id).received_qty == 0
    assert db.session.get(PurchaseOrder, po_id).state == S.ordered
    assert _on_hand(sku_id, bin_id) == 100
    assert ledger_problems(db.session) == []


def test_eight_approvals_of_one_order_approve_it_once(app, forty, people):
    po_id = forty("awaiting_approval").id

    def prepare(n):
        po, manager = db.session.get(PurchaseOrder, po_id), _user(people["manager"][n])
        _ = po.state
        return lambda: services.approve_purchase_order(po, approver=manager)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all('it is "approved"' in message for message in outcomes.messages()), \
        outcomes.messages()
    po = db.session.get(PurchaseOrder, po_id)
    assert po.state == S.approved
    assert po.approved_by_id in people["manager"]
    assert _audits("purchase_order.approved") == 1


def test_eight_submissions_of_one_draft_number_it_once(app, forty, people):
    po_id = forty("draft").id

    def prepare(n):
        po, user = db.session.get(PurchaseOrder, po_id), _user(people["manager"][n])
        _ = po.state, po.lines
        return lambda: services.submit_purchase_order(po, actor=user).number

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("it must be in a state that allows it" in message
               for message in outcomes.messages()), outcomes.messages()
    po = db.session.get(PurchaseOrder, po_id)
    assert po.number == outcomes.results[0]
    assert po.state == S.approved
    assert _audits("purchase_order.approved") == 1


def test_eight_marks_as_ordered_mark_it_once(app, forty, people):
    po_id = forty("approved").id

    def prepare(n):
        po, user = db.session.get(PurchaseOrder, po_id), _user(people["manager"][n])
        _ = po.state
        return lambda: services.mark_purchase_order_ordered(po, actor=user)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all('it is "ordered"' in message for message in outcomes.messages()), \
        outcomes.messages()
    assert _audits("purchase_order.ordered") == 1
