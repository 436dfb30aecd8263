"""Purchase-order decisions posted 8 times at once: submit, approve, order, cancel, close, reverse.

Each builds on :func:`tests.fixtures.procurement.purchase_order_in`: one line of 10 units; a
partly received order has 4 in WH1/RCV-01.
"""

from __future__ import annotations

from decimal import Decimal

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


def _landed_cost(get, *, posted: bool):
    """A landed cost of 10.00 USD freight on the receipt of 4 units (posted if asked)."""
    from erp.procurement import services

    po = get("purchase_order_in")("partially_received")
    receipt = db.session.scalar(select(Receipt).where(Receipt.order_id == po.id))
    lc = services.create_landed_cost(
        receipts=[receipt], method="quantity", actor=None,
        charges=[services.ChargeSpec("freight", "10.00", "USD")])
    db.session.commit()
    if posted:
        services.post_landed_cost(lc, actor=None)
        db.session.commit()
    return po, lc


def _adjusted(lc):
    from erp.warehouse.services import value_adjustments_for

    return sum((a.amount for a in value_adjustments_for("landed_cost", lc.id)), 0)


@guarded("procurement.post_landed_cost")
def post_the_same_landed_cost(get) -> Scenario:
    """8 posts of a draft landed cost: posted once, the 4 units revalued by 10.00 once."""
    po, lc = _landed_cost(get, posted=False)
    sku = po.lines[0].sku

    def check(answers):
        db.session.expire_all()
        assert lc.state.value == "posted"
        assert audit_count("landed_cost.posted", of=lc) == 1
        assert _adjusted(lc) == 10
        assert sku.avg_cost == po.lines[0].unit_price + Decimal("2.50")  # 10.00 over 4 units
        ledger_balances()

    return Scenario("manager", f"/procurement/landed-costs/{lc.id}/post", {}, check)


@guarded("procurement.reverse_landed_cost")
def reverse_the_same_landed_cost(get) -> Scenario:
    """8 reversals of a posted landed cost: reversed once, the cost back where it was."""
    po, lc = _landed_cost(get, posted=True)
    sku = po.lines[0].sku

    def check(answers):
        db.session.expire_all()
        assert lc.state.value == "reversed"
        assert audit_count("landed_cost.reversed", of=lc) == 1
        assert _adjusted(lc) == 0
        assert sku.avg_cost == po.lines[0].unit_price
        ledger_balances()

    return Scenario("manager", f"/procurement/landed-costs/{lc.id}/reverse",
                    {"reason": "billed to another shipment"}, check)
# --- supplier returns, claims, payments ---------------------------------------------------------


def _supplier_return(get, *, ship: bool = False, approve: bool = False):
    """A return of 3 of 4 units in quarantine bin WH1/Q-01 (bought at 5.00); maybe shipped."""
    from erp.procurement import services as procurement
    from erp.warehouse import services as warehouse_services

    po = get("purchase_order_in")("received")
    line = po.lines[0]
    quarantine = get("create_bin")("Q-01", kind="quarantine")
    warehouse_services.transfer(line.sku, get("receiving_bin"), quarantine, 4, actor=None)
    ret = procurement.create_supplier_return(po.supplier, actor=None, lines=[
        procurement.ReturnLineSpec(line.sku_id, quarantine.id, 3)])
    claim = procurement.ship_supplier_return(ret, actor=None) if ship else None
    if approve:
        procurement.approve_claim(claim, actor=None)
    db.session.commit()
    return ret, claim, line.sku, quarantine


@guarded("procurement.ship_supplier_return")
def ship_the_same_return(get) -> Scenario:
    """8 ships of a return of 3: the goods leave once, one debit note is drawn."""
    ret, _claim, sku, quarantine = _supplier_return(get)

    def check(answers):
        db.session.expire_all()
        assert ret.state.value == "shipped"
        assert level(sku, quarantine).on_hand == 1
        assert drawn("DN") == 1
        assert audit_count("supplier_return.shipped", of=ret) == 1
        ledger_balances()

    return Scenario("purchasing", f"/procurement/supplier-returns/{ret.id}/ship", {}, check)


@guarded("procurement.close_supplier_return")
def close_the_same_return(get) -> Scenario:
    """8 closes of a shipped return: closed once."""
    ret, _claim, _sku, _bin = _supplier_return(get, ship=True)

    def check(answers):
        db.session.expire_all()
        assert ret.state.value == "closed"
        assert audit_count("supplier_return.closed", of=ret) == 1

    return Scenario("purchasing", f"/procurement/supplier-returns/{ret.id}/close", {}, check)


@guarded("procurement.cancel_supplier_return")
def cancel_the_same_return(get) -> Scenario:
    """8 cancels of a draft return: cancelled once."""
    ret, _claim, _sku, _bin = _supplier_return(get)

    def check(answers):
        db.session.expire_all()
        assert ret.state.value == "cancelled"
        assert audit_count("supplier_return.cancelled", of=ret) == 1

    return Scenario("purchasing", f"/procurement/supplier-returns/{ret.id}/cancel",
                    {"reason": "Goods repaired"}, check)


@guarded("procurement.approve_supplier_claim")
def approve_the_same_claim(get) -> Scenario:
    """8 approvals of an open claim: approved once."""
    _ret, claim, _sku, _bin = _supplier_return(get, ship=True)

    def check(answers):
        db.session.expire_all()
        assert claim.state.value == "approved"
        assert audit_count("supplier_claim.approved", of=claim) == 1

    return Scenario("manager", f"/procurement/supplier-claims/{claim.id}/approve", {}, check)


@guarded("procurement.cancel_supplier_claim")
def cancel_the_same_claim(get) -> Scenario:
    """8 cancels of an open claim: cancelled once."""
    _ret, claim, _sku, _bin = _supplier_return(get, ship=True)

    def check(answers):
        db.session.expire_all()
        assert claim.state.value == "cancelled"
        assert audit_count("supplier_claim.cancelled", of=claim) == 1

    return Scenario("manager", f"/procurement/supplier-claims/{claim.id}/cancel",
                    {"reason": "Supplier disputes it"}, check)


@guarded("procurement.record_supplier_payment")
def deduct_the_same_claim(get) -> Scenario:
    """8 payments deducting the same approved claim: one payment, the claim settled once."""
    from sqlalchemy import func

    from erp.procurement.return_models import SupplierPayment

    ret, claim, _sku, _bin = _supplier_return(get, ship=True, approve=True)

    def check(answers):
        db.session.expire_all()
        assert claim.state.value == "settled"
        assert db.session.scalar(select(func.count()).select_from(SupplierPayment)) == 1
        assert audit_count("supplier_claim.settled", of=claim) == 1

    return Scenario("purchasing", f"/procurement/suppliers/{ret.supplier_id}/payments/new",
                    {"paid_on": "2026-01-05", "amount": "20.00", "claim": str(claim.id)}, check)
