"""Receiving a production order whose specification has an inspection plan: QC first, then reserve.

The goods go into an inspection lot in the QC hold bin; they are reserved to their order line
only when the lot is accepted, or released as a concession after a rejection. A rejected lot
reserves nothing and shows on the production order's page.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.brands.models import DefectClass
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_order, cancel_order, hold_order
from erp.production.models import ProductionState
from erp.production.services import receiving
from erp.quality import services as quality
from erp.quality.models import Inspection, InspectionState
from erp.warehouse.models import Reservation, StockLevel
from tests.concurrency_helpers import POOL_CONFIG, race
from tests.production.mto_helpers import measurements, set_up_suit, shipped_production_order

I = InspectionState  # noqa: E741 - as in the quality package


@pytest.fixture
def app_config():
    return POOL_CONFIG  # the race below needs a connection per thread


@pytest.fixture
def maker(create_supplier):
    return create_supplier("TAILOR", "Suzhou Tailors")


@pytest.fixture
def planned_suit(create_product, create_sku, create_planned_sku, maker):
    """A made-to-order suit whose product's specification version has an inspection plan."""
    product, sku = set_up_suit(create_product, create_sku, maker)
    create_planned_sku(sku=sku)
    return product, sku


@pytest.fixture
def mto_order(create_order, planned_suit, maker):
    """An order of one made-to-measure suit whose production order the maker has shipped."""
    _product, sku = planned_suit
    order = create_order([(sku, 1, "480.00")], shipping_service="POST-REG")
    line = order.lines[0]
    line.measurements = measurements(chest_cm="96.5", waist_cm="80")
    db.session.flush()
    po = shipped_production_order(order, line, maker)
    return order, line, po


def level(sku_id, location_id) -> tuple[int, int]:
    found = db.session.get(StockLevel, (sku_id, location_id))
    return (found.on_hand, found.reserved) if found else (0, 0)


def reservations() -> list[tuple[int, int, int]]:
    return [(r.ref_id, r.location_id, r.quantity)
            for r in db.session.scalars(select(Reservation).order_by(Reservation.id))]


def lot_of(po) -> Inspection:
    return db.session.scalars(select(Inspection).where(
        Inspection.ref_type == "production_order", Inspection.ref_id == po.id)).one()


def decide(lot, *, critical: int = 0):
    checks = {c.defect_class: c.id for c in lot.spec_version.checks}
    quality.record_defects(lot, {checks[DefectClass.critical]: quality.DefectEntry(count=critical)},
                           actor=None)
    quality.decide_inspection(lot, actor=None)
    db.session.commit()
    return lot


def test_receiving_opens_a_lot_and_holds_the_goods_unreserved(mto_order, create_bin):
    order, line, po = mto_order
    bin_ = create_bin("A-02-01-01")
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    assert po.state == ProductionState.received
    assert po.received_qty == 1
    lot = lot_of(po)
    assert lot.state == I.pending
    assert (lot.supplier_id, lot.sku_id, lot.lot_size) == (po.maker_id, po.sku_id, 1)
    assert lot.release_location_id == bin_.id
    assert po.number in lot.reference
    assert order.number in lot.reference
    assert level(po.sku_id, lot.hold_location_id) == (1, 0)
    assert level(po.sku_id, bin_.id) == (0, 0)
    assert reservations() == []
    assert line.allocated_qty == 0
    assert order.state != OrderState.allocated
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "production_order.received")).one()
    assert event.changes["inspection"] == lot.number
    assert event.changes["release_bin"] == bin_.label


def test_an_accepted_lot_is_reserved_to_its_line_alone(mto_order, create_bin, create_order):
    order, line, po = mto_order
    bin_ = create_bin("A-02-01-01")
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    lot = decide(lot_of(po))
    assert lot.state == I.accepted
    db.session.expire_all()
    assert level(po.sku_id, bin_.id) == (1, 1)
    assert level(po.sku_id, lot.hold_location_id) == (0, 0)
    assert reservations() == [(line.id, bin_.id, 1)]
    line = db.session.get(type(line), line.id)
    assert line.allocated_qty == 1
    assert line.order.state == OrderState.allocated
    assert line.order.warehouse_id == bin_.warehouse_id
    assert db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "production_order.lot_reserved")).one().changes["inspection"] \
        == lot.number
    other = create_order([(line.sku, 1, "480.00")])
    other.lines[0].mto_size = "48"
    allocate_order(other, actor=None)
    assert other.lines[0].allocated_qty == 0
    assert other.state == OrderState.backordered
    assert reservations() == [(line.id, bin_.id, 1)]


def test_a_rejected_lot_reserves_nothing_and_a_concession_reserves_it(mto_order, create_bin):
    order, line, po = mto_order
    bin_ = create_bin("A-02-01-01")
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    lot = decide(lot_of(po), critical=1)
    assert lot.state == I.rejected
    db.session.expire_all()
    assert level(po.sku_id, lot.quarantine_location_id) == (1, 0)
    assert level(po.sku_id, bin_.id) == (0, 0)
    assert reservations() == []
    assert db.session.get(type(line), line.id).allocated_qty == 0
    quality.release_inspection(lot, actor=None, reason="Customer accepts the lining colour")
    db.session.commit()
    db.session.expire_all()
    assert level(po.sku_id, lot.quarantine_location_id) == (0, 0)
    assert level(po.sku_id, bin_.id) == (1, 1)
    assert reservations() == [(line.id, bin_.id, 1)]
    line = db.session.get(type(line), line.id)
    assert line.allocated_qty == 1
    assert line.order.state == OrderState.allocated


def test_a_lot_accepted_while_the_order_is_held_is_reserved_to_it(mto_order, create_bin):
    """Accepted goods are reserved during a hold, which keeps made-to-order goods reserved."""
    order, line, po = mto_order
    bin_ = create_bin()
    receiving.receive(po, actor=None, location=bin_)
    hold_order(order, reason="Customer asked to wait", actor=None)
    db.session.commit()
    lot = decide(lot_of(po))
    assert lot.state == I.accepted
    db.session.expire_all()
    assert level(po.sku_id, bin_.id) == (1, 1)
    assert reservations() == [(line.id, bin_.id, 1)]
    assert db.session.get(type(order), order.id).state == OrderState.on_hold


def test_a_lot_accepted_after_the_order_was_cancelled_is_not_reserved(mto_order, create_bin):
    from erp.orders.services import cancel_order

    order, _line, po = mto_order
    bin_ = create_bin()
    receiving.receive(po, actor=None, location=bin_)
    cancel_order(order, reason="Customer changed their mind", actor=None)
    db.session.commit()
    lot = decide(lot_of(po))
    assert lot.state == I.accepted  # quality's decision stands; the goods wait free
    db.session.expire_all()
    assert level(po.sku_id, bin_.id) == (1, 0)
    assert reservations() == []
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "production_order.lot_not_reserved")).one()
    assert (event.changes["reason"], event.changes["order_state"]) == ("order_state",
                                                                         "cancelled")


def test_without_a_plan_the_goods_are_reserved_at_once(create_product, create_sku, maker,
                                                       create_order, create_bin):
    _product, sku = set_up_suit(create_product, create_sku, maker)
    order = create_order([(sku, 1, "480.00")])
    order.lines[0].mto_size = "48"
    po = shipped_production_order(order, order.lines[0], maker)
    bin_ = create_bin()
    receiving.receive(po, actor=None, location=bin_)
    assert not receiving.is_inspected(po)
    assert receiving.inspections_of(po.id) == []
    assert level(sku.id, bin_.id) == (1, 1)


def test_the_pages_show_the_lot_and_its_state(client, login_as, mto_order, create_bin):
    _order, _line, po = mto_order
    create_bin("A-03-01-01")
    db.session.commit()
    login_as("warehouse")
    page = client.get(f"/production/orders/{po.id}/receive")
    assert "inspection lot" in page.get_data(as_text=True)
    done = client.post(f"/production/orders/{po.id}/receive", data={"location": "A-03-01-01"})
    assert done.status_code == 302
    lot = lot_of(po)
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert lot.number in after
    decide(lot, critical=1)
    login_as("manager")
    detail = client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    assert f"/quality/inspections/{lot.id}" in detail
    assert "Ask the maker for a remake" in detail


@pytest.mark.postgres
def test_accepting_the_lot_while_the_order_is_cancelled_leaves_nothing_reserved(
        app, mto_order, create_bin):
    """Accepting the lot and cancelling the order at once: both act, nothing stays reserved.

    The reservation locks the order first, so it either sees the order cancelled (and reserves
    nothing) or reserves before the cancel, which then releases it.
    """
    order, line, po = mto_order
    bin_ = create_bin()
    receiving.receive(po, actor=None, location=bin_)
    db.session.commit()
    lot_id, order_id, sku_id = lot_of(po).id, order.id, po.sku_id

    def prepare(n):
        if n == 0:
            lot = db.session.get(Inspection, lot_id)
            _ = lot.plans, lot.defects, lot.spec_version.checks, lot.release_location
            return lambda: quality.decide_inspection(lot, actor=None)
        target = db.session.get(CustomerOrder, order_id)
        _ = target.lines
        return lambda: cancel_order(target, reason="Customer changed their mind", actor=None)

    outcomes = race(app, prepare, calls=2)
    assert outcomes.wins == 2
    assert db.session.get(CustomerOrder, order_id).state == OrderState.cancelled
    assert db.session.get(Inspection, lot_id).state == I.accepted
    assert level(sku_id, bin_.id) == (1, 0)
    assert reservations() == []
