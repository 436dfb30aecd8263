"""Scenario: a rejected lot goes back to its supplier, the claim is deducted, the statement adds up.

The supplier invoices in CNY; the base currency is USD. Each step calls the services only and
commits where a screen would. The rejected lot is put into quarantine as an inspection does
(a move carrying ``ref_type`` "inspection"), so this chain holds whatever inspection screen
moves the goods there.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from erp.extensions import db
from erp.procurement import return_queries, services
from erp.procurement.return_models import SupplierClaimState, SupplierReturnState
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import LocationKind, MoveKind, StockLevel
from erp.warehouse.queries import ledger_problems
from tests.procurement.helpers import set_rate

TODAY = date.today()


def on_hand(sku, location) -> int:
    db.session.expire_all()
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def test_rejected_lot_to_claim_to_statement(create_supplier_row, create_sku, create_bin,
                                            receiving_bin, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    boss = create_user("boss", roles=("manager",))
    set_rate("CNY", "0.14")
    # 1. 100 mugs are ordered from a Chinese supplier at 12.50 CNY and received.
    supplier = create_supplier_row("CNMUG", currency="CNY")
    mug = create_sku("MUG-1")
    po = services.create_purchase_order(supplier, actor=buyer)
    services.add_purchase_order_line(po, mug, 100, actor=buyer, unit_price=Decimal("12.50"))
    services.submit_purchase_order(po, actor=buyer)
    if po.state.value == "awaiting_approval":
        services.approve_purchase_order(po, approver=boss)
    services.mark_purchase_order_ordered(po, actor=buyer)
    services.receive_purchase_order(po, {po.lines[0].id: 100}, location=receiving_bin,
                                    actor=buyer)
    db.session.commit()
    assert mug.avg_cost == Decimal("1.7500")  # 12.50 CNY at 0.14

    # 2. Inspection rejects a lot of 30: it goes into quarantine (ref_type "inspection").
    quarantine = create_bin("QC-01", kind=LocationKind.quarantine.value)
    warehouse_services.post_move(warehouse_services.MoveSpec(
        mug.id, receiving_bin.id, quarantine.id, 30, MoveKind.transfer, ref_type="inspection",
        ref_id=7), actor=None)
    db.session.commit()
    [row] = return_queries.quarantine_stock(supplier.id)
    assert (row.sku_code, row.available, row.ref_type, row.ref_id) == ("MUG-1", 30, "inspection",
                                                                        7)

    # 3. Purchasing drafts the return from quarantine; the claim price is the price paid.
    ret = services.create_supplier_return(supplier, actor=buyer, lines=[
        services.ReturnLineSpec(row.sku_id, row.location_id, 30, reason="cracked glaze",
                                ref_type=row.ref_type, ref_id=row.ref_id)])
    db.session.commit()
    assert ret.currency == "CNY"
    assert ret.claim_amount == Decimal("375.00")

    # 4. It ships: the goods leave quarantine at the moving-average cost; the claim is raised.
    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    assert ret.state == SupplierReturnState.shipped
    assert on_hand(mug, quarantine) == 0
    assert on_hand(mug, receiving_bin) == 70
    assert ret.lines[0].unit_cost_base == Decimal("1.7500")
    assert (claim.amount, claim.currency, claim.state) == (Decimal("375.00"), "CNY",
                                                           SupplierClaimState.open)
    assert ledger_problems(db.session) == []

    # 5. A manager approves the claim; the next payment deducts it.
    services.approve_claim(claim, actor=boss)
    payment = services.record_supplier_payment(supplier, paid_on=TODAY, amount="875.00",
                                               reference="TT-2026-31", actor=buyer,
                                               claim_ids=[claim.id])
    db.session.commit()
    assert claim.state == SupplierClaimState.settled
    assert payment.deducted == Decimal("375.00")

    # 6. The statement: 1,250.00 received, 875.00 paid, 375.00 claimed: nothing owed.
    st = return_queries.supplier_statement(supplier, TODAY - timedelta(days=30), TODAY)
    assert st.currency == "CNY"
    assert st.received == Decimal("1250.00")
    assert st.paid == Decimal("875.00")
    assert st.claimed == Decimal("375.00")
    assert st.open_claims == 0
    assert st.owed == 0
