"""Returns to suppliers: drafting, shipping (stock moves and the claim), claims and payments."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.errors import DomainError, PermissionDenied, ValidationError
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import return_queries, services
from erp.procurement.return_models import (
    SupplierClaim,
    SupplierClaimState,
    SupplierPayment,
    SupplierReturn,
    SupplierReturnState,
)
from erp.procurement.services import ClaimError, ReturnLineSpec, SupplierReturnError
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import MoveKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems
from tests.procurement.helpers import audit_actions, set_rate

TODAY = date.today()


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


@pytest.fixture
def buyer(create_user):
    return create_user("buyer", roles=("purchasing",))


@pytest.fixture
def boss(create_user):
    return create_user("boss", roles=("manager",))


@pytest.fixture
def bought(purchase_order_in, create_bin, receiving_bin, create_sku, create_supplier_row,
           create_supplier_item_row, buyer):
    """A supplier in USD, SKU RET-1 bought at 5.00 (10 received), 4 moved into quarantine."""
    supplier = create_supplier_row("RETSUP")
    sku = create_sku("RET-1")
    create_supplier_item_row(supplier, sku, "4.50")
    po = purchase_order_in("received", supplier=supplier, lines=[(sku, 10, "5.00")])
    quarantine = create_bin("Q-01", kind="quarantine")
    warehouse_services.transfer(sku, receiving_bin, quarantine, 4, actor=None)
    db.session.commit()
    return {"supplier": supplier, "sku": sku, "po": po, "quarantine": quarantine,
            "receiving": receiving_bin}


def _draft(bought, buyer, qty=3, **spec):
    ret = services.create_supplier_return(bought["supplier"], actor=buyer, note="bad seams")
    services.add_supplier_return_line(ret, ReturnLineSpec(
        bought["sku"].id, bought["quarantine"].id, qty, reason="seams open", **spec),
        actor=buyer)
    db.session.commit()
    return ret


def test_return_lifecycle_moves_stock_and_raises_the_claim(bought, buyer, boss):
    ret = _draft(bought, buyer, ref_type="quarantine", ref_id=bought["quarantine"].id)
    line = ret.lines[0]
    assert ret.number.startswith(f"SR-{TODAY.year}-")
    assert ret.currency == "USD"
    assert line.unit_price == Decimal("5.0000")  # last paid on a PO, not the price list's 4.50
    assert ret.claim_amount == Decimal("15.00")

    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    assert ret.state == SupplierReturnState.shipped
    assert on_hand(bought["sku"], bought["quarantine"]) == 1
    move = db.session.scalar(select(StockMove).where(StockMove.kind == MoveKind.supplier_return))
    assert (move.quantity, move.ref_type, move.ref_id) == (3, "supplier_return_line", line.id)
    assert move.to_location.kind.value == "supplier"
    assert move.unit_cost == bought["sku"].avg_cost == line.unit_cost_base
    assert claim.number.startswith(f"DN-{TODAY.year}-")
    assert (claim.amount, claim.currency, claim.state) == (Decimal("15.00"), "USD",
                                                           SupplierClaimState.open)
    assert claim.return_id == ret.id
    assert ledger_problems(db.session) == []
    assert audit_actions("supplier_return", ret.id) == [
        "supplier_return.created", "supplier_return.line_added", "supplier_return.shipped"]
    assert audit_actions("supplier_claim", claim.id) == ["supplier_claim.raised"]

    services.approve_claim(claim, actor=boss)
    payment = services.record_supplier_payment(
        bought["supplier"], paid_on=TODAY, amount="35.00", reference="TT-1", actor=buyer,
        claim_ids=[claim.id])
    services.close_supplier_return(ret, actor=buyer)
    db.session.commit()
    assert claim.state == SupplierClaimState.settled
    assert claim.payment_id == payment.id
    assert payment.deducted == Decimal("15.00")
    assert ret.state == SupplierReturnState.closed
    assert audit_actions("supplier_claim", claim.id) == [
        "supplier_claim.raised", "supplier_claim.approved", "supplier_claim.settled"]
    assert audit_actions("supplier_payment", payment.id) == ["supplier_payment.recorded"]


def test_statement_figures_by_hand(bought, buyer, boss, create_bin):
    # 10 received at 5.00 = 50.00; a return of 3 claims 15.00 (approved, deducted from a
    # payment of 20.00); a second return of 1 claims 5.00 and stays open.
    first = _draft(bought, buyer)
    claim = services.ship_supplier_return(first, actor=buyer)
    services.approve_claim(claim, actor=boss)
    services.record_supplier_payment(bought["supplier"], paid_on=TODAY, amount="20.00",
                                     actor=buyer, claim_ids=[claim.id], reference="TT-9")
    second = _draft(bought, buyer, qty=1)
    services.ship_supplier_return(second, actor=buyer)
    db.session.commit()

    st = return_queries.supplier_statement(bought["supplier"], TODAY - timedelta(days=7), TODAY)
    assert st.opening == Decimal(0)
    assert st.received == Decimal("50.00")
    assert st.paid == Decimal("20.00")
    assert st.claimed == Decimal("20.00")
    assert st.open_claims == Decimal("5.00")
    assert st.owed == Decimal("10.00")  # 50 - 20 paid - 15 deducted - 5 open
    assert [e.kind for e in st.entries] == ["order", "receipt", "claim", "claim", "payment"]
    # the next period opens with what was owed
    later = return_queries.supplier_statement(bought["supplier"], TODAY + timedelta(days=1),
                                              TODAY + timedelta(days=30))
    assert later.opening == Decimal("10.00")
    assert later.owed == Decimal("10.00")
    assert later.entries == []


def test_claim_price_converts_to_the_supplier_currency(purchase_order_in, create_supplier_row,
                                                       create_sku, create_bin, buyer):
    set_rate("CNY", "0.14")
    supplier = create_supplier_row("CNSUP", currency="CNY")
    sku = create_sku("RET-CN")
    purchase_order_in("received", supplier=supplier, lines=[(sku, 10, "35.00")])
    quarantine = create_bin("Q-02", kind="quarantine")
    db.session.commit()
    # a purchase order in another currency than the supplier's is converted at today's rate
    assert services.last_paid_price(supplier, sku.id, "CNY") == Decimal("35.0000")
    assert services.last_paid_price(supplier, sku.id, "USD") == Decimal("4.9000")
    ret = services.create_supplier_return(supplier, actor=buyer)
    assert ret.currency == "CNY"
    with pytest.raises(SupplierReturnError, match="holds 0 available"):
        services.add_supplier_return_line(ret, ReturnLineSpec(sku.id, quarantine.id, 1),
                                          actor=buyer)
    st = return_queries.supplier_statement(supplier, TODAY, TODAY)
    assert st.received == Decimal("350.00")
    assert st.currency == "CNY"


def test_ship_without_the_stock_is_refused_and_changes_nothing(bought, buyer):
    ret = _draft(bought, buyer, qty=4)
    # the goods leave the bin after the line was drafted
    warehouse_services.transfer(bought["sku"], bought["quarantine"], bought["receiving"], 2,
                                actor=None)
    db.session.commit()
    moves = db.session.scalar(select(func.count()).select_from(StockMove))
    with pytest.raises(SupplierReturnError) as err:
        services.ship_supplier_return(ret, actor=buyer)
    db.session.rollback()
    assert "has 2 on hand; cannot take 4" in str(err.value)
    assert ret.number in str(err.value)
    db.session.expire_all()
    assert ret.state == SupplierReturnState.draft
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == moves
    assert db.session.scalar(select(func.count()).select_from(SupplierClaim)) == 0


def test_add_line_refusals(bought, buyer, create_sku, receive_stock):
    ret = services.create_supplier_return(bought["supplier"], actor=buyer)
    with pytest.raises(SupplierReturnError, match="holds 4 available"):
        services.add_supplier_return_line(
            ret, ReturnLineSpec(bought["sku"].id, bought["quarantine"].id, 5), actor=buyer)
    services.add_supplier_return_line(
        ret, ReturnLineSpec(bought["sku"].id, bought["quarantine"].id, 3), actor=buyer)
    with pytest.raises(SupplierReturnError, match=r"3 already on this return"):
        services.add_supplier_return_line(
            ret, ReturnLineSpec(bought["sku"].id, bought["quarantine"].id, 2), actor=buyer)
    with pytest.raises(ValidationError, match="whole number"):
        services.add_supplier_return_line(
            ret, ReturnLineSpec(bought["sku"].id, bought["quarantine"].id, 0), actor=buyer)
    never = create_sku("NEVER")
    receive_stock(never, bought["quarantine"], 1)
    with pytest.raises(SupplierReturnError, match="never bought from them"):
        services.add_supplier_return_line(
            ret, ReturnLineSpec(never.id, bought["quarantine"].id, 1), actor=buyer)
    with pytest.raises(SupplierReturnError, match="within its 2 units; 0 are already"):
        services.add_supplier_return_line(ret, ReturnLineSpec(
            bought["sku"].id, bought["receiving"].id, 3, ref_type="return_item", ref_id=77,
            ref_limit=2), actor=buyer)


def test_wrong_states_are_refused(bought, buyer, boss):
    ret = _draft(bought, buyer)
    empty = services.create_supplier_return(bought["supplier"], actor=buyer)
    with pytest.raises(SupplierReturnError, match="first add a line"):
        services.ship_supplier_return(empty, actor=buyer)
    with pytest.raises(InvalidTransition, match='it is "draft"'):
        services.close_supplier_return(ret, actor=buyer)
    with pytest.raises(ValidationError, match="give a reason"):
        services.cancel_supplier_return(empty, actor=buyer, reason=" ")
    services.cancel_supplier_return(empty, actor=buyer, reason="not needed")
    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    with pytest.raises(InvalidTransition, match='it is "shipped"'):
        services.ship_supplier_return(ret, actor=buyer)
    with pytest.raises(SupplierReturnError, match='it is "shipped"'):
        services.add_supplier_return_line(
            ret, ReturnLineSpec(bought["sku"].id, bought["quarantine"].id, 1), actor=buyer)
    with pytest.raises(SupplierReturnError, match='it is "shipped"'):
        services.remove_supplier_return_line(ret.lines[0], actor=buyer)
    with pytest.raises(InvalidTransition, match='it is "shipped"'):
        services.cancel_supplier_return(ret, actor=buyer, reason="too late")
    with pytest.raises(PermissionDenied, match="must be a manager"):
        services.approve_claim(claim, actor=buyer)
    assert services.can_approve_claim(claim)


def test_claim_deductions_are_refused_unless_approved_and_once(bought, buyer, boss,
                                                               create_supplier_row):
    claim = services.ship_supplier_return(_draft(bought, buyer), actor=buyer)
    db.session.commit()
    supplier = bought["supplier"]
    with pytest.raises(ClaimError, match='must be approved; it is "open"'):
        services.record_supplier_payment(supplier, paid_on=TODAY, amount="1", actor=buyer,
                                         claim_ids=[claim.id])
    db.session.rollback()
    services.approve_claim(claim, actor=boss)
    other = create_supplier_row("OTHER")
    with pytest.raises(ClaimError, match="is not on supplier"):
        services.record_supplier_payment(other, paid_on=TODAY, amount="1", actor=buyer,
                                         claim_ids=[claim.id])
    db.session.rollback()
    services.record_supplier_payment(supplier, paid_on=TODAY, amount="0", actor=buyer,
                                     claim_ids=[claim.id])
    db.session.commit()
    with pytest.raises(ClaimError, match="already settled"):
        services.record_supplier_payment(supplier, paid_on=TODAY, amount="10", actor=buyer,
                                         claim_ids=[claim.id])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SupplierPayment)) == 1
    with pytest.raises(InvalidTransition, match='it is "settled"'):
        services.cancel_claim(claim, actor=boss, reason="disputed")
    with pytest.raises(ValidationError, match="enter an amount or choose a claim"):
        services.record_supplier_payment(supplier, paid_on=TODAY, amount="0", actor=buyer)
    with pytest.raises(ValidationError, match="zero or more"):
        services.record_supplier_payment(supplier, paid_on=TODAY, amount="-3", actor=buyer)


def test_cancelled_claim_counts_nothing(bought, buyer, boss):
    claim = services.ship_supplier_return(_draft(bought, buyer), actor=buyer)
    services.cancel_claim(claim, actor=boss, reason="supplier disputes, goods were fine")
    db.session.commit()
    assert claim.state == SupplierClaimState.cancelled
    st = return_queries.supplier_statement(bought["supplier"], TODAY, TODAY)
    assert st.claimed == 0
    assert st.owed == Decimal("50.00")


def test_quarantine_stock_lists_the_suppliers_skus(bought, buyer, create_sku, create_bin,
                                                   receive_stock):
    other_sku = create_sku("NOT-THEIRS")
    receive_stock(other_sku, bought["quarantine"], 2)
    db.session.commit()
    rows = return_queries.quarantine_stock(bought["supplier"].id)
    assert [(r.sku_code, r.on_hand, r.available, r.taken, r.ref_type) for r in rows] == [
        ("RET-1", 4, 4, 0, "quarantine")]
    _draft(bought, buyer, qty=1)
    assert return_queries.quarantine_stock(bought["supplier"].id)[0].taken == 1


def test_suppliers_for_sku_prefers_the_preferred_item(bought, create_supplier_row,
                                                      create_supplier_item_row):
    other = create_supplier_row("PREF")
    create_supplier_item_row(other, bought["sku"], "4.00", preferred=True)
    assert [s.code for s in services.suppliers_for_sku(bought["sku"].id)] == ["PREF", "RETSUP"]


def test_return_numbers_are_not_drawn_on_refusal(bought, buyer, create_supplier_row):
    inactive = create_supplier_row("GONE", active=False)
    with pytest.raises(DomainError, match="reactivate"):
        services.create_supplier_return(inactive, actor=buyer)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(SupplierReturn)) == 0
