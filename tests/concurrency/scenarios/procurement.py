"""Purchase-order decisions posted 8 times at once: submit, approve, order, cancel, close, reverse.

Each builds on :func:`tests.fixtures.procurement.purchase_order_in`: one line of 10 units; a
partly received order has 4 in WH1/RCV-01.
"""

from __future__ import annotations

from sqlalchemy import select

from erp.extensions import db
from erp.procurement.models import Receipt
from tests.concurrency.guarded import (
    Scenario,
    audit_count,
    drawn,
    guarded,
    ledger_balances,
    level,
)


def _po_path(po, action: str) -> str:
    return f"/procurement/purchase-orders/{po.id}/{action}"


def _moved_once(po, state: str, role: str, action: str, data: dict | None = None,
                event: str | None = None) -> Scenario:
    """8 posts of ``action``: ``po`` ends in ``state`` with one audit event of the move."""

    def check(answers):
        db.session.expire_all()
        assert po.state.value == state
        assert audit_count(f"purchase_order.{event or state}", of=po) == 1

    return Scenario(role, _po_path(po, action), data or {}, check)


@guarded("procurement.submit_purchase_order")
def submit_the_same_draft(get) -> Scenario:
    """8 submits of a draft within the threshold: approved once, one number drawn."""
    po = get("purchase_order_in")("draft")
    scenario = _moved_once(po, "approved", "purchasing", "submit")
    moved = scenario.check

    def check(answers):
        moved(answers)
        assert po.number is not None
        assert drawn("PO") == 1

    scenario.check = check
    return scenario


@guarded("procurement.approve_purchase_order")
def approve_the_same_order(get) -> Scenario:
    """8 approvals of an order awaiting approval: approved once."""
    return _moved_once(get("purchase_order_in")("awaiting_approval"), "approved", "manager",
                       "approve")


@guarded("procurement.send_back_purchase_order")
def send_back_the_same_order(get) -> Scenario:
    """8 send-backs of an order awaiting approval: back to draft once."""
    return _moved_once(get("purchase_order_in")("awaiting_approval"), "draft", "manager",
                       "send-back", {"reason": "Ask for a better price"})


@guarded("procurement.mark_purchase_order_ordered")
def order_the_same_order(get) -> Scenario:
    """8 "sent to the supplier" of an approved order: ordered once."""
    return _moved_once(get("purchase_order_in")("approved"), "ordered", "purchasing", "order",
                       {"ordered_on": ""})


@guarded("procurement.cancel_purchase_order")
def cancel_the_same_order(get) -> Scenario:
    """8 cancels of an ordered order: cancelled once."""
    return _moved_once(get("purchase_order_in")("ordered"), "cancelled", "purchasing",
                       "cancel", {"reason": "Supplier closed"})


@guarded("procurement.close_purchase_order")
def close_the_same_order_short(get) -> Scenario:
    """8 closes of an order with 6 of 10 still to come: 6 cancelled, not 12; closed once."""
    po = get("purchase_order_in")("partially_received")
    scenario = _moved_once(po, "closed", "purchasing", "close",
                           {"reason": "The rest is not coming"})
    moved = scenario.check

    def check(answers):
        moved(answers)
        assert (po.lines[0].received_qty, po.lines[0].cancelled_qty) == (4, 6)

    scenario.check = check
    return scenario


@guarded("procurement.reverse_receipt")
def reverse_the_same_receipt(get) -> Scenario:
    """8 reversals of a receipt of 4: the stock goes back to the supplier once."""
    po = get("purchase_order_in")("partially_received")
    receipt = db.session.scalar(select(Receipt).where(Receipt.order_id == po.id))
    line, rcv = po.lines[0], get("receiving_bin")

    def check(answers):
        assert level(line.sku, rcv).on_hand == 0
        assert line.received_qty == 0
        assert (receipt.state.value, po.state.value) == ("reversed", "ordered")
        assert audit_count("receipt.reversed", of=receipt) == 1
        assert audit_count("purchase_order.ordered", of=po) == 2  # when ordered, when reversed
        ledger_balances()

    return Scenario("warehouse", f"/procurement/receipts/{receipt.id}/reverse",
                    {"reason": "Wrong delivery"}, check)
