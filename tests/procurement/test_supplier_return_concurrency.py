"""Supplier returns under concurrency (PostgreSQL): each ship, deduction and send acts once."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from erp.aftersales.models import ReturnItem
from erp.aftersales.services import supplier_returns as aftersales_rules
from erp.core.models import User
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import Supplier
from erp.procurement.return_models import (
    SupplierClaim,
    SupplierClaimState,
    SupplierPayment,
    SupplierReturn,
    SupplierReturnLine,
)
from erp.procurement.services import ClaimError, ReturnLineSpec
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import MoveKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_config():
    return POOL_CONFIG


@pytest.fixture
def quarantined(purchase_order_in, create_bin, receiving_bin, create_sku, create_supplier_row):
    """Supplier RETSUP, SKU RET-1 bought 10 at 5.00; 10 moved into quarantine bin Q-01."""
    supplier = create_supplier_row("RETSUP")
    sku = create_sku("RET-1")
    purchase_order_in("received", supplier=supplier, lines=[(sku, 10, "5.00")])
    quarantine = create_bin("Q-01", kind="quarantine")
    warehouse_services.transfer(sku, receiving_bin, quarantine, 10, actor=None)
    db.session.commit()
    return supplier, sku, quarantine


def _user(user_id: int) -> User:
    return db.session.get(User, user_id)


def test_eight_ships_of_one_return_move_the_stock_once(app, quarantined, people):
    supplier, sku, quarantine = quarantined
    ret = services.create_supplier_return(supplier, actor=None, lines=[
        ReturnLineSpec(sku.id, quarantine.id, 4)])
    db.session.commit()
    ret_id = ret.id

    def prepare(n):
        ret, user = db.session.get(SupplierReturn, ret_id), _user(people["manager"][n])
        _ = ret.state, ret.lines  # what the page showed
        return lambda: services.ship_supplier_return(ret, actor=user).number

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all(isinstance(err, InvalidTransition) for err in outcomes.refusals)
    assert db.session.get(StockLevel, (sku.id, quarantine.id)).on_hand == 6
    assert db.session.scalar(select(func.count()).select_from(StockMove).where(
        StockMove.kind == MoveKind.supplier_return)) == 1
    assert db.session.scalar(select(func.count()).select_from(SupplierClaim)) == 1
    assert ledger_problems(db.session) == []


def test_eight_returns_of_the_same_stock_ship_only_what_is_there(app, quarantined, people):
    supplier, sku, quarantine = quarantined
    ids = []
    for _n in range(CALLS):  # eight drafts of 4 units each, drafted while 10 were there
        ids.append(services.create_supplier_return(supplier, actor=None, lines=[
            ReturnLineSpec(sku.id, quarantine.id, 4)]).id)
    db.session.commit()

    def prepare(n):
        ret, user = db.session.get(SupplierReturn, ids[n]), _user(people["manager"][n])
        _ = ret.state, ret.lines
        return lambda: services.ship_supplier_return(ret, actor=user).number

    outcomes = race(app, prepare)
    assert outcomes.wins == 2  # 4 + 4 of 10; the third finds 2
    assert all("has 2 on hand; cannot take 4" in str(err) for err in outcomes.refusals)
    assert db.session.get(StockLevel, (sku.id, quarantine.id)).on_hand == 2
    assert ledger_problems(db.session) == []


def test_eight_payments_deducting_one_claim_settle_it_once(app, quarantined, people):
    supplier, sku, quarantine = quarantined
    ret = services.create_supplier_return(supplier, actor=None, lines=[
        ReturnLineSpec(sku.id, quarantine.id, 2)])
    claim = services.ship_supplier_return(ret, actor=None)
    services.approve_claim(claim, actor=None)
    db.session.commit()
    supplier_id, claim_id = supplier.id, claim.id

    def prepare(n):
        supplier, user = db.session.get(Supplier, supplier_id), _user(people["manager"][n])
        return lambda: services.record_supplier_payment(
            supplier, paid_on=date.today(), amount="5.00", actor=user,
            claim_ids=[claim_id]).id

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all(isinstance(err, ClaimError) for err in outcomes.refusals)
    assert all("already settled" in str(err) for err in outcomes.refusals)
    assert db.session.get(SupplierClaim, claim_id).state == SupplierClaimState.settled
    assert db.session.scalar(select(func.count()).select_from(SupplierPayment)) == 1


def test_eight_sends_of_one_returned_item_put_it_on_one_return(app, graded_return, people):
    data = graded_return()
    item_id, supplier_id = data["c"].id, data["maker"].id

    def prepare(n):
        item, user = db.session.get(ReturnItem, item_id), _user(people["manager"][n])
        supplier = db.session.get(Supplier, supplier_id)
        _ = item.case.reason, item.grade
        return lambda: aftersales_rules.send_item_to_supplier(item, supplier, actor=user).id

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("already on a supplier return" in str(err) for err in outcomes.refusals)
    assert db.session.scalar(select(func.sum(SupplierReturnLine.quantity))) == 2


def test_lines_added_while_shipping_never_land_on_the_shipped_return(app, quarantined, people):
    supplier, sku, quarantine = quarantined
    ret = services.create_supplier_return(supplier, actor=None, lines=[
        ReturnLineSpec(sku.id, quarantine.id, 1)])
    db.session.commit()
    ret_id, sku_id, bin_id = ret.id, sku.id, quarantine.id

    def prepare(n):
        ret, user = db.session.get(SupplierReturn, ret_id), _user(people["manager"][n])
        _ = ret.state, ret.lines
        if n % 2:
            return lambda: services.add_supplier_return_line(
                ret, ReturnLineSpec(sku_id, bin_id, 1), actor=user).id
        return lambda: services.ship_supplier_return(ret, actor=user).number

    race(app, prepare)
    ret = db.session.get(SupplierReturn, ret_id)
    assert ret.state.value == "shipped"
    # every line of the shipped return left the bin: none was added after it shipped
    assert all(line.move_id is not None for line in ret.lines)
    assert db.session.get(StockLevel, (sku_id, bin_id)).on_hand == 10 - len(ret.lines)
    assert ledger_problems(db.session) == []
