"""Landed cost: charges spread over receipts, stock revalued, the consumed share to variance."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.catalog.models import Sku
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import (
    LandedCost,
    LandedCostAllocation,
    LandedCostState,
    ReceiptState,
)
from erp.procurement.services import ChargeSpec, LandedCostError, ReceivingError
from erp.reports.excel.inventory_valuation import valuation_at
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import (
    LocationKind,
    MoveKind,
    StockLevel,
    ValueAdjustment,
    ValueAdjustmentKind,
)
from erp.warehouse.queries import ledger_problems
from tests.procurement.helpers import audit_actions, snapshot

D = Decimal


@pytest.fixture
def goods(create_purchase_order, create_sku, create_supplier_row, receiving_bin,
          exchange_rates):
    """Two receipts: 100 x LC-A at 10.00 USD, and 50 x LC-B at 70.00 CNY (9.80 USD)."""
    sku_a = create_sku("LC-A", weight_g=200)
    sku_b = create_sku("LC-B", weight_g=500)
    po_usd = create_purchase_order(lines=[(sku_a, 100, "10.00")], state="ordered")
    po_cny = create_purchase_order(supplier=create_supplier_row(currency="CNY"),
                                   lines=[(sku_b, 50, "70.00")], state="ordered")
    r1 = services.receive_purchase_order(po_usd, {po_usd.lines[0].id: 100},
                                         location=receiving_bin, actor=None)
    r2 = services.receive_purchase_order(po_cny, {po_cny.lines[0].id: 50},
                                         location=receiving_bin, actor=None)
    db.session.commit()
    return {"a": sku_a, "b": sku_b, "r1": r1, "r2": r2, "bin": receiving_bin,
            "po_usd": po_usd, "po_cny": po_cny}


def _sell(sku, location, quantity):
    customer = warehouse_services.virtual_location(LocationKind.customer)
    warehouse_services.post_move(warehouse_services.MoveSpec(
        sku.id, location.id, customer.id, quantity, MoveKind.ship, ref_type="test", ref_id=1),
        actor=None)


def _on_hand(sku) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(StockLevel.on_hand), 0))
                             .where(StockLevel.sku_id == sku.id))


def _adjustments(lc) -> list[ValueAdjustment]:
    return warehouse_services.value_adjustments_for(services.LANDED_COST_REF, lc.id)


CHARGES = [ChargeSpec("freight", "300.00", "USD", "Kerry Logistics"),
           ChargeSpec("duty", "1000.00", "CNY", "Customs")]


def _draft(goods, method="value", charges=CHARGES, receipts=None):
    lc = services.create_landed_cost(receipts=receipts or [goods["r1"], goods["r2"]],
                                     charges=charges, method=method, actor=None)
    db.session.commit()
    return lc


def test_landed_cost_over_two_receipts_with_part_sold_adds_up_exactly(goods):
    a, b, location = goods["a"], goods["b"], goods["bin"]
    # 1. Part of both receipts is sold before the freight and duty bills arrive.
    _sell(a, location, 60)
    _sell(b, location, 20)
    db.session.commit()
    before = {sku.code: (sku.avg_cost, _on_hand(sku)) for sku in (a, b)}
    assert before == {"LC-A": (D("10.0000"), 40), "LC-B": (D("9.8000"), 30)}
    value_before = valuation_at(date.today()).value

    # 2. The landed cost: 300.00 USD freight and 1,000.00 CNY duty (140.00 USD), by value.
    lc = _draft(goods)
    preview = services.allocate(lc)
    assert preview.total == D("440.00")
    assert [line.basis for line in preview.lines] == [D("1000.0000"), D("490.0000")]
    # each charge split exactly: 300 x 1000/1490 = 201.342 -> 201.34, the rest 98.66
    assert [line.shares for line in preview.lines] == [[D("201.34"), D("93.96")],
                                                       [D("98.66"), D("46.04")]]

    # 3. Posting stores what the preview showed and revalues the stock.
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    assert lc.state == LandedCostState.posted
    assert lc.total_base == D("440.00")
    assert [(c.rate, c.amount_base) for c in lc.charges] == [(D("1"), D("300.00")),
                                                           (D("0.14"), D("140.00"))]
    by_charge = {c.id: D(0) for c in lc.charges}
    for row in db.session.scalars(select(LandedCostAllocation)):
        by_charge[row.charge_id] += row.amount
    assert sorted(by_charge.values()) == [D("140.00"), D("300.00")]

    rows = _adjustments(lc)
    # A carries 295.30: 40 of its 100 units are on hand -> 118.12 revalues them, 177.18 is
    # variance. B carries 144.70: 30 of 50 on hand -> 86.82, variance 57.88.
    assert [(r.sku.code, r.kind, r.amount, r.quantity) for r in rows] == [
        ("LC-A", ValueAdjustmentKind.revaluation, D("118.1200"), 40),
        ("LC-A", ValueAdjustmentKind.variance, D("177.1800"), 60),
        ("LC-B", ValueAdjustmentKind.revaluation, D("86.8200"), 30),
        ("LC-B", ValueAdjustmentKind.variance, D("57.8800"), 20)]
    assert sum(r.amount for r in rows) == D("440.00")  # revaluation + variance == the charges
    db.session.expire_all()
    for sku, reval in ((a, D("118.12")), (b, D("86.82"))):
        old_cost, on_hand = before[sku.code]
        sku = db.session.get(Sku, sku.id)
        assert on_hand * sku.avg_cost - on_hand * old_cost == reval
    assert (a.avg_cost, b.avg_cost) == (D("12.9530"), D("12.6940"))
    # the value on hand went up by the revaluation, exactly
    assert valuation_at(date.today()).value == value_before + D("118.12") + D("86.82")
    assert ledger_problems(db.session) == []
    assert audit_actions("landed_cost", lc.id) == ["landed_cost.created", "landed_cost.posted"]

    # 4. What is sold afterwards leaves at the new cost.
    _sell(a, location, 40)
    db.session.commit()
    assert _on_hand(a) == 0


def test_rounding_residue_lands_on_the_largest_line_and_revaluation_stays_exact(
        create_purchase_order, create_sku, receiving_bin):
    skus = [create_sku(f"LC-R{n}", weight_g=100) for n in range(3)]
    po = create_purchase_order(lines=[(s, 3, "1.00") for s in skus], state="ordered")
    receipt = services.receive_purchase_order(
        po, {line.id: 3 for line in po.lines}, location=receiving_bin, actor=None)
    db.session.commit()
    _sell(skus[0], receiving_bin, 1)
    lc = services.create_landed_cost(receipts=[receipt], method="quantity", actor=None,
                                     charges=[ChargeSpec("other", "10.00", "USD")])
    assert [line.shares for line in services.allocate(lc).lines] == [
        [D("3.34")], [D("3.33")], [D("3.33")]]
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    rows = _adjustments(lc)
    assert sum(r.amount for r in rows) == D("10.00")
    reval = next(r for r in rows if r.sku_id == skus[0].id and r.kind == "revaluation")
    # 2 of 3 on hand: 2.2267 per unit would not be a 4-place cost; the revaluation is what
    # the cost change makes of the 2 units, and the variance takes the rest.
    assert reval.amount == 2 * (reval.cost_after - reval.cost_before)
    assert reval.cost_after == D("2.1133")


@pytest.mark.parametrize(("method", "shares"), [
    ("value", [D("67.11"), D("32.89")]),      # 1000 : 490
    ("weight", [D("44.44"), D("55.56")]),     # 100 x 200 g : 50 x 500 g
    ("quantity", [D("66.67"), D("33.33")]),   # 100 : 50
])
def test_each_split_method(goods, method, shares):
    lc = _draft(goods, method=method, charges=[ChargeSpec("freight", "100.00", "USD")])
    assert [line.total for line in services.allocate(lc).lines] == shares
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    assert sum(r.amount for r in _adjustments(lc)) == D("100.00")
    # nothing sold: everything revalues stock, nothing is variance
    assert {r.kind for r in _adjustments(lc)} == {ValueAdjustmentKind.revaluation}


def test_weight_method_names_the_sku_without_weight(goods, create_sku, create_purchase_order):
    weightless = create_sku("LC-NOWEIGHT", weight_g=0)
    po = create_purchase_order(lines=[(weightless, 5, "1.00")], state="ordered")
    receipt = services.receive_purchase_order(po, {po.lines[0].id: 5}, location=goods["bin"],
                                              actor=None)
    lc = _draft(goods, method="weight", receipts=[goods["r1"], receipt])
    before = snapshot()
    with pytest.raises(LandedCostError, match='every SKU needs a weight; LC-NOWEIGHT has none'):
        services.post_landed_cost(lc, actor=None)
    db.session.rollback()
    assert snapshot() == before
    assert db.session.get(LandedCost, lc.id).state == LandedCostState.draft


def test_zero_basis_is_refused(create_purchase_order, create_sku, receiving_bin):
    sku = create_sku("LC-FREE")
    po = create_purchase_order(lines=[(sku, 5, "0.00")], state="ordered")
    receipt = services.receive_purchase_order(po, {po.lines[0].id: 5}, location=receiving_bin,
                                              actor=None)
    lc = services.create_landed_cost(receipts=[receipt], method="value", actor=None,
                                     charges=[ChargeSpec("freight", "5.00", "USD")])
    with pytest.raises(LandedCostError, match="by value, its receipt lines must have some; "
                                              "they add up to zero"):
        services.post_landed_cost(lc, actor=None)


def test_reversed_receipt_is_refused(goods):
    services.reverse_receipt(goods["r2"], actor=None, reason="wrong delivery")
    db.session.commit()
    with pytest.raises(LandedCostError, match="receipt " + goods["r2"].number + ": it is reversed"):
        services.create_landed_cost(receipts=[goods["r2"]], charges=CHARGES, method="value",
                                    actor=None)


def test_receipt_reversed_after_drafting_stops_the_posting(goods):
    lc = _draft(goods, receipts=[goods["r2"]])
    services.reverse_receipt(goods["r2"], actor=None, reason="wrong delivery")
    db.session.commit()
    with pytest.raises(LandedCostError, match="it is reversed"):
        services.post_landed_cost(lc, actor=None)


def test_receipt_with_posted_landed_cost_cannot_be_reversed(goods):
    lc = _draft(goods)
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    with pytest.raises(ReceivingError, match=f"first reverse landed cost {lc.number}"):
        services.reverse_receipt(goods["r1"], actor=None, reason="wrong")
    db.session.rollback()
    assert goods["r1"].state == ReceiptState.posted


def test_bad_charges_are_refused_with_the_field(goods):
    with pytest.raises(Exception, match="charge 2: the amount must be above zero"):
        services.create_landed_cost(receipts=[goods["r1"]], method="value", actor=None,
                                    charges=[ChargeSpec("freight", "1", "USD"),
                                             ChargeSpec("duty", "-3", "USD")])
    with pytest.raises(Exception, match="charge 1: 'XYZ' is not an ISO 4217 currency"):
        services.create_landed_cost(receipts=[goods["r1"]], method="value", actor=None,
                                    charges=[ChargeSpec("freight", "1", "XYZ")])
    with pytest.raises(Exception, match="needs at least one charge"):
        services.create_landed_cost(receipts=[goods["r1"]], method="value", actor=None,
                                    charges=[])


def test_posting_twice_is_refused(goods):
    lc = _draft(goods)
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        services.post_landed_cost(lc, actor=None)
    assert len(_adjustments(lc)) == 2


def test_sold_out_receipt_revalues_nothing_of_a_later_delivery(goods, create_purchase_order,
                                                               receive_stock):
    a, location = goods["a"], goods["bin"]
    _sell(a, location, 100)
    receive_stock(a, location, 30, "11.00")  # a later delivery, not in the landed cost
    db.session.commit()
    lc = _draft(goods, receipts=[goods["r1"]], charges=[ChargeSpec("freight", "50.00", "USD")])
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    rows = _adjustments(lc)
    assert [(r.kind, r.amount, r.quantity) for r in rows] == [
        (ValueAdjustmentKind.variance, D("50.0000"), 100)]
    assert db.session.get(Sku, a.id).avg_cost == D("11.0000")


def test_reversal_undoes_exactly_what_was_posted(goods):
    a, b = goods["a"], goods["b"]
    _sell(a, goods["bin"], 25)
    db.session.commit()
    lc = _draft(goods)
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    services.reverse_landed_cost(lc, actor=None, reason="billed to the wrong shipment")
    db.session.commit()
    assert lc.state == LandedCostState.reversed
    assert sum(r.amount for r in _adjustments(lc)) == 0
    db.session.expire_all()
    assert (db.session.get(Sku, a.id).avg_cost, db.session.get(Sku, b.id).avg_cost) == (
        D("10.0000"), D("9.8000"))
    # the receipt may be reversed again
    services.reverse_receipt(goods["r2"], actor=None, reason="wrong delivery")
    db.session.commit()
    assert ledger_problems(db.session) == []
    with pytest.raises(InvalidTransition):
        services.reverse_landed_cost(lc, actor=None, reason="again")


def test_draft_is_edited_and_find_receipts_expands_purchase_orders(goods):
    found = services.find_receipts(f"{goods['po_usd'].number}\n{goods['r2'].number.lower()}")
    assert [r.number for r in found] == [goods["r1"].number, goods["r2"].number]
    with pytest.raises(Exception, match='"NOPE" is neither a receipt nor a purchase order'):
        services.find_receipts("nope")
    lc = _draft(goods)
    services.update_landed_cost(lc, receipts=[goods["r1"]], method="quantity", actor=None,
                                charges=[ChargeSpec("insurance", "12.50", "EUR")])
    db.session.commit()
    assert [r.number for r in lc.receipts] == [goods["r1"].number]
    assert [(c.kind, c.amount, c.currency) for c in lc.charges] == [
        ("insurance", D("12.5000"), "EUR")]
    assert services.allocate(lc).total == D("13.75")  # 12.50 EUR x 1.10
    services.post_landed_cost(lc, actor=None)
    with pytest.raises(LandedCostError, match="can be edited only while it is a draft"):
        services.update_landed_cost(lc, receipts=[goods["r1"]], method="value", actor=None,
                                    charges=CHARGES)


def test_a_later_receipt_reversed_does_not_count_as_newer_stock(goods, create_purchase_order):
    a, location = goods["a"], goods["bin"]
    _sell(a, location, 80)  # 20 of the first receipt left
    po = create_purchase_order(lines=[(a, 30, "10.00")], state="ordered")
    later = services.receive_purchase_order(po, {po.lines[0].id: 30}, location=location,
                                            actor=None)
    services.reverse_receipt(later, actor=None, reason="wrong goods")
    db.session.commit()
    lc = _draft(goods, receipts=[goods["r1"]], charges=[ChargeSpec("freight", "50.00", "USD")])
    services.post_landed_cost(lc, actor=None)
    db.session.commit()
    assert [(r.kind, r.amount, r.quantity) for r in _adjustments(lc)] == [
        (ValueAdjustmentKind.revaluation, D("10.0000"), 20),
        (ValueAdjustmentKind.variance, D("40.0000"), 80)]
