"""Receiving a production order: stock in, reserved to its order line alone, then shipped."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.core import services as core_services
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_order, hold_order
from erp.production.models import ProductionState
from erp.production.services import receiving
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.warehouse.models import Reservation, StockLevel, StockMove
from tests.production.mto_helpers import measurements, set_up_suit, shipped_production_order


@pytest.fixture
def maker(create_supplier):
    return create_supplier("TAILOR", "Suzhou Tailors")


@pytest.fixture
def suit(create_product, create_sku, maker):
    return set_up_suit(create_product, create_sku, maker)


@pytest.fixture
def mto_order(create_order, suit, maker):
    """An order of one made-to-measure suit whose production order the maker has shipped."""
    _product, sku = suit
    order = create_order([(sku, 1, "480.00")], shipping_service="POST-REG")
    line = order.lines[0]
    line.measurements = measurements(chest_cm="96.5", waist_cm="80")
    db.session.flush()
    po = shipped_production_order(order, line, maker)
    return order, line, po


def test_receive_posts_stock_and_reserves_it_to_the_line(mto_order, create_bin):
    order, line, po = mto_order
    bin_ = create_bin("A-02-01-01")
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    assert po.state == ProductionState.received
    assert po.received_qty == 1
    assert po.received_at is not None
    level = db.session.get(StockLevel, (line.sku_id, bin_.id))
    assert (level.on_hand, level.reserved) == (1, 1)
    [reservation] = db.session.scalars(select(Reservation).where(
        Reservation.sku_id == line.sku_id)).all()
    assert (reservation.ref_type, reservation.ref_id, reservation.location_id) == (
        "customer_order_line", line.id, bin_.id)
    assert line.allocated_qty == 1
    assert order.state == OrderState.allocated
    assert order.warehouse_id == bin_.warehouse_id
    [move] = db.session.scalars(select(StockMove).where(
        StockMove.ref_type == "production_order")).all()
    assert (move.ref_id, move.quantity, move.to_location_id) == (po.id, 1, bin_.id)
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "production_order.received")).one()
    assert event.changes["bin"] == bin_.label
    assert event.changes["order"] == order.number


def test_receive_acts_once_and_only_when_shipped(mto_order, create_bin):
    _order, _line, po = mto_order
    bin_ = create_bin()
    receiving.receive(po, actor=None, location=bin_)
    with pytest.raises(InvalidTransition):
        receiving.receive(po, actor=None, location=bin_)
    assert db.session.scalar(select(StockLevel.on_hand).where(
        StockLevel.location_id == bin_.id)) == 1


def test_receive_refuses_a_bin_that_is_not_storage(mto_order, create_bin):
    _order, _line, po = mto_order
    with pytest.raises(ValidationError, match="choose a storage bin; it is a packing"):
        receiving.receive(po, actor=None, location=create_bin("PACK-9", kind="packing"))
    assert po.state == ProductionState.shipped


def test_free_stock_is_never_allocated_to_a_made_to_order_line(mto_order, create_bin,
                                                                 receive_stock):
    order, line, _po = mto_order
    receive_stock(line.sku, create_bin(), 5)  # e.g. a returned suit of the same SKU
    allocate_order(order, actor=None)
    assert line.allocated_qty == 0
    assert order.state == OrderState.backordered
    assert not db.session.scalars(select(Reservation)).all()


def test_goods_received_for_a_line_are_not_allocated_to_another_order(
        mto_order, create_bin, create_order):
    order, line, po = mto_order
    receiving.receive(po, actor=None, location=create_bin())
    other = create_order([(line.sku, 1, "480.00")])
    other.lines[0].mto_size = "48"
    allocate_order(other, actor=None)
    assert other.lines[0].allocated_qty == 0
    assert other.state == OrderState.backordered
    reservations = db.session.scalars(select(Reservation)).all()
    assert [(r.ref_id, r.quantity) for r in reservations] == [(line.id, 1)]


def test_received_order_is_picked_packed_and_shipped(mto_order, create_bin, packing_bin,
                                                     shipping_setup):
    for currency, rate in (("EUR", "1.1000"), ("XDR", "1.3750")):
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    order, line, po = mto_order
    receiving.receive(po, actor=None, location=create_bin())
    wave = waves.build_wave(waves.WaveFilters(), actor=None)
    waves.pick_all(wave, actor=None)
    parcel = packing.pack_order(order, weight_g=None, box=shipping_setup["boxes"][1],
                                actor=None)
    parcels.label_parcels([parcel], actor=None)
    batch = dispatch.open_batch(parcel.service.carrier, actor=None)
    dispatch.add_parcels(batch, [parcel], actor=None)
    dispatch.close_batch(batch, actor=None)
    db.session.commit()
    db.session.refresh(order)
    assert order.state == OrderState.shipped


def test_receive_screen(app, client, login_as, mto_order, create_bin):
    _order, _line, po = mto_order
    bin_ = create_bin("A-03-01-01")
    db.session.commit()
    login_as("warehouse")
    page = client.get(f"/production/orders/{po.id}/receive")
    assert page.status_code == 200
    assert b"autofocus" in page.data
    refused = client.post(f"/production/orders/{po.id}/receive", data={"location": "NOPE"})
    assert refused.status_code == 422
    done = client.post(f"/production/orders/{po.id}/receive", data={"location": "A-03-01-01"})
    assert done.status_code == 302
    after = client.get(done.headers["Location"])
    assert after.status_code == 200
    assert "nothing to receive" in after.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(type(po), po.id).state == ProductionState.received
    assert db.session.get(StockLevel, (po.sku_id, bin_.id)).reserved == 1


def test_receive_screen_needs_receiving_permission(client, login_as, mto_order):
    _order, _line, po = mto_order
    db.session.commit()
    login_as("customer_service")
    assert client.get(f"/production/orders/{po.id}/receive").status_code == 403


def test_an_order_with_other_lines_is_allocated_once_its_suit_arrives(
        suit, maker, create_order, stocked_sku, create_bin):
    _product, sku = suit
    tie = stocked_sku("TIE-1", 3)
    order = create_order([(sku, 1, "480.00"), (tie, 1, "20.00")])
    suit_line, tie_line = order.lines
    suit_line.mto_size = "48"
    allocate_order(order, actor=None)
    assert (suit_line.allocated_qty, tie_line.allocated_qty) == (0, 1)
    assert order.state == OrderState.backordered
    po = shipped_production_order(order, suit_line, maker)
    receiving.receive(po, actor=None, location=create_bin())
    assert (suit_line.allocated_qty, tie_line.allocated_qty) == (1, 1)
    assert order.state == OrderState.allocated


def test_goods_received_while_the_order_is_held_wait_reserved_for_it(mto_order, create_bin):
    """Goods received during a hold are reserved; releasing the hold allocates the order."""
    from erp.orders.services import release_order

    order, line, po = mto_order
    hold_order(order, reason="Customer asked to wait", actor=None)
    bin_ = create_bin()
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    assert po.state == ProductionState.received
    assert order.state == OrderState.on_hold
    assert line.allocated_qty == 1
    assert db.session.get(StockLevel, (line.sku_id, bin_.id)).reserved == 1
    release_order(order, actor=None)
    db.session.commit()
    assert order.state == OrderState.allocated


def test_receiving_is_refused_for_a_cancelled_order(mto_order, create_bin):
    from erp.orders.services import cancel_order

    order, _line, po = mto_order
    cancel_order(order, reason="Customer changed their mind", actor=None)
    db.session.flush()
    if po.state == ProductionState.shipped:  # production's cancel hook may have closed it
        with pytest.raises(receiving.ReceivingError, match="must be waiting for its goods"):
            receiving.receive(po, actor=None, location=create_bin())
        assert po.state == ProductionState.shipped
    else:
        assert po.state == ProductionState.cancelled
        with pytest.raises(InvalidTransition):
            receiving.receive(po, actor=None, location=create_bin())


def test_a_hold_keeps_the_made_to_order_goods_reserved_to_their_line(mto_order, create_bin):
    """Allocation never gives made-to-order stock to a line, so a hold must not release it."""
    from erp.orders.services import release_order

    order, line, po = mto_order
    bin_ = create_bin("A-02-01-02")
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    hold_order(order, reason="Customer asked to wait", actor=None)
    db.session.commit()
    assert order.state == OrderState.on_hold
    assert line.allocated_qty == 1
    assert db.session.get(StockLevel, (line.sku_id, bin_.id)).reserved == 1
    release_order(order, actor=None)
    db.session.commit()
    assert order.state == OrderState.allocated
    assert line.allocated_qty == 1
    [reservation] = db.session.scalars(select(Reservation).where(
        Reservation.sku_id == line.sku_id)).all()
    assert (reservation.ref_type, reservation.ref_id) == ("customer_order_line", line.id)
