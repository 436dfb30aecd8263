"""Scenarios of after-sales: a return for refund, a replacement, a lost parcel.

Each starts from an order that really shipped (wave, pick, pack, label, dispatch) and calls the
services only, committing where a screen would. At each step the stock in the bins, at the
returns location and at the customer, the states and the ledger are checked.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.aftersales.models import CaseState, CaseType, RefundState
from erp.aftersales.services import cases, resolution, returns
from erp.core.errors import DomainError, PermissionDenied
from erp.core.permissions import has_permission
from erp.extensions import db
from erp.orders.models import OrderState
from erp.shipping.models import Box, PickWaveOrder
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.warehouse.models import LocationKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import virtual_location


def on_hand(sku, location) -> int:
    db.session.expire_all()
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


def at_customer(sku) -> int:
    """Units of the SKU shipped to customers minus those that came back."""
    place = virtual_location(LocationKind.customer)
    went = db.session.scalar(select(func.coalesce(func.sum(StockMove.quantity), 0)).where(
        StockMove.sku_id == sku.id, StockMove.to_location_id == place.id))
    came = db.session.scalar(select(func.coalesce(func.sum(StockMove.quantity), 0)).where(
        StockMove.sku_id == sku.id, StockMove.from_location_id == place.id))
    return went - came


def ledger_ok():
    db.session.flush()
    assert ledger_problems(db.session) == []


@pytest.fixture
def people(create_user):
    return {"agent": create_user("agent", roles=("customer_service",)),
            "packer": create_user("packer", roles=("warehouse",)),
            "boss": create_user("boss", roles=("manager",))}


def test_return_for_refund(ship_order, customs_stock, reasons, returns_bins, people,
                           create_bin):
    # 1. A customer bought 2 T-shirts at 15.00 EUR; they shipped. The shelf has 8 left.
    tee = customs_stock("TEE-RET", qty=10)
    shelf = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == tee.id)).location
    order = ship_order([(tee, 2, "15.00")])
    assert (on_hand(tee, shelf), at_customer(tee)) == (8, 2)

    # 2. Customer service opens a return for refund of one (wrong size) and authorises it.
    case = cases.open_case(order, case_type=CaseType.return_refund,
                           reason=reasons["WRONG_SIZE"], lines={order.lines[0].id: 1},
                           actor=people["agent"])
    cases.authorise_return(case, actor=people["agent"])
    db.session.commit()
    assert case.state == CaseState.awaiting_return
    assert case.number.startswith("RMA-")

    # 3. The warehouse scans the RMA and receives the T-shirt into the returns location; a
    #    second receipt is refused.
    found = returns.find_case_for_receipt(case.number.lower())
    assert found.id == case.id
    [item] = returns.receive_return(case, [(case.lines[0].id, tee.id, None, 1)],
                                    actor=people["packer"])
    db.session.commit()
    assert case.state == CaseState.received
    assert (on_hand(tee, returns_bins["returns"]), at_customer(tee)) == (1, 1)
    with pytest.raises(DomainError, match="received"):
        returns.receive_return(case, [(case.lines[0].id, tee.id, None, 1)],
                               actor=people["packer"])
    db.session.rollback()
    ledger_ok()

    # 4. Inspection grades it A: it goes back on the shelf it came from.
    returns.inspect_return(case, {item.id: [("A", 1, shelf.id)]}, actor=people["packer"])
    db.session.commit()
    assert case.state == CaseState.inspected
    assert (on_hand(tee, shelf), on_hand(tee, returns_bins["returns"])) == (9, 0)
    ledger_ok()

    # 5. A refund above the line value is refused without a manager's override; 15.00 is
    #    refunded (under the threshold: approved at once) and resolves the case.
    with pytest.raises(DomainError, match="15.00"):
        resolution.request_refund(case, amount="20.00", actor=people["agent"])
    db.session.rollback()
    refund = resolution.request_refund(case, amount="15.00", actor=people["agent"])
    db.session.commit()
    assert refund.state == RefundState.approved
    assert refund.amount == Decimal("15.00")
    assert refund.currency == "EUR"
    db.session.refresh(case)
    assert case.state == CaseState.resolved
    cases.close_case(case, actor=people["agent"])
    db.session.commit()
    assert case.state == CaseState.closed
    ledger_ok()


def test_replacement_ships(ship_order, customs_stock, reasons, returns_bins, people,
                           shipping_setup):
    # 1. A mug arrived broken; no return is asked (replacement without return).
    mug = customs_stock("MUG-REP", qty=5, hs_code="691200", customs_description="Ceramic mug")
    order = ship_order([(mug, 1, "12.00")])
    case = cases.open_case(order, case_type=CaseType.replacement_only,
                           reason=reasons["DEFECTIVE"], lines={order.lines[0].id: 1},
                           actor=people["agent"])
    db.session.commit()

    # 2. The replacement is a new order, linked, allocated at once; the case is resolved. A
    #    second replacement is refused.
    replacement = resolution.create_replacement(case, actor=people["agent"])
    db.session.commit()
    assert case.replacement_order_id == replacement.id
    assert replacement.state == OrderState.allocated
    assert case.state == CaseState.resolved
    assert replacement.lines[0].unit_price == Decimal("12.00")  # customs declares the value
    with pytest.raises(DomainError) as second:
        resolution.create_replacement(case, actor=people["agent"])
    assert replacement.number in str(second.value)
    db.session.rollback()

    # 3. It goes out through the normal outbound flow and ships.
    wave = waves.build_wave(waves.WaveFilters(), actor=people["packer"])
    assert [o.order_id for o in db.session.scalars(
        select(PickWaveOrder).where(PickWaveOrder.wave_id == wave.id))] == [replacement.id]
    waves.pick_all(wave, actor=people["packer"])
    box = db.session.scalar(select(Box).where(Box.code == "M"))
    parcel = packing.pack_order(replacement, weight_g=None, box=box, actor=people["packer"])
    assert parcel.declared_value == Decimal("12.00")
    parcels.label_parcels([parcel], actor=people["packer"])
    batch = dispatch.open_batch(parcel.service.carrier, actor=people["packer"])
    dispatch.add_parcels(batch, [parcel], actor=people["packer"])
    dispatch.close_batch(batch, actor=people["packer"])
    db.session.commit()
    db.session.refresh(replacement)
    assert replacement.state == OrderState.shipped
    assert at_customer(mug) == 2
    ledger_ok()


def test_lost_parcel_refunded_without_return(ship_order, customs_stock, reasons, people):
    # 1. A parcel of 3 caps at 10.00 USD is lost; the claim is opened on that parcel.
    cap = customs_stock("CAP-LOST", qty=6)
    order = ship_order([(cap, 3, "10.00")], country="US", city="Portland", region="OR",
                       postal_code="97201", currency="USD")
    case = cases.open_case(order, case_type=CaseType.lost_parcel, reason=reasons["LOST"],
                           lines={order.lines[0].id: 3}, parcel=order.parcel,
                           actor=people["agent"])
    db.session.commit()
    moves_before = db.session.scalar(select(func.count()).select_from(StockMove))

    # 2. Nothing comes back: authorising a return is refused for a lost parcel.
    with pytest.raises(DomainError) as refused:
        cases.authorise_return(case, actor=people["agent"])
    assert case.number in str(refused.value)
    db.session.rollback()

    # 3. The full 30.00 refund: approved at once (under the threshold), the case resolved,
    #    and no stock moved.
    refund = resolution.request_refund(case, amount="30.00", actor=people["agent"])
    db.session.commit()
    assert (refund.state, case.state) == (RefundState.approved, CaseState.resolved)
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == moves_before
    assert at_customer(cap) == 3
    ledger_ok()


def test_roles_customer_service_moves_no_stock_and_warehouse_approves_no_refund(
        ship_order, customs_stock, reasons, people, client, login_as):
    # Customer service cannot post stock moves (no transfer screen, no receiving of returns).
    assert not has_permission(people["agent"], "warehouse.move")
    assert not has_permission(people["agent"], "aftersales.receive")
    login_as("customer_service")
    assert client.get("/warehouse/transfer").status_code == 403
    assert client.get("/aftersales/returns/1/receive").status_code == 403

    # Warehouse staff cannot approve refunds: a refund above the threshold waits for a manager.
    watch = customs_stock("WATCH-1", qty=3, hs_code="910211",
                          customs_description="Quartz wristwatch")
    order = ship_order([(watch, 1, "250.00")])
    case = cases.open_case(order, case_type=CaseType.refund_only,
                           reason=reasons["NOT_AS_DESCRIBED"], lines={order.lines[0].id: 1},
                           actor=people["agent"])
    refund = resolution.request_refund(case, amount="250.00", actor=people["agent"])
    db.session.commit()
    assert refund.state == RefundState.pending
    with pytest.raises(PermissionDenied):
        resolution.approve_refund(refund, actor=people["packer"])
    db.session.rollback()
    resolution.approve_refund(refund, actor=people["boss"])
    db.session.commit()
    assert refund.state == RefundState.approved
