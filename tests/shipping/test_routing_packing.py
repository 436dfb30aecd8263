"""Routing again at packing, with the weighed parcel: a changed service, a refused parcel."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import PackScan, Parcel
from erp.shipping.routing_models import RoutingDecision, RoutingStage
from erp.shipping.services import packing, routing
from tests.shipping import routing_fixtures

routes = routing_fixtures.routes  # the shared fixture


@pytest.fixture
def floor(outbound_floor, routes, receive_stock):
    """The outbound floor with routes' SKUs in stock (T-shirts and phones in A-01)."""
    receive_stock(routes.tee, outbound_floor.a01, 10)
    receive_stock(routes.phone, outbound_floor.a01, 10)
    db.session.commit()
    return outbound_floor


def _scan_all(order, floor):
    for line in order.lines:
        packing.scan_item(order, line.sku.code, quantity=line.quantity, actor=floor.packer)


def test_battery_refused_at_routing_and_at_packing(floor, routes):
    routes.version([("All", "POST-REG", {})])
    db.session.commit()
    order = floor.picked([(routes.phone, 1)], country="US", shipping_service="POST-REG")
    decision = routing.latest_decision(order.id)
    assert decision.stage == RoutingStage.allocation
    assert decision.service_id is None  # nothing can carry it: the order keeps its service
    assert order.shipping_service == "POST-REG"
    rows = routing.decision_rows(decision)
    assert rows[0]["outcome"] == "goods"
    _scan_all(order, floor)
    with pytest.raises(ShippingError) as refused:
        packing.close_parcel(order, weight_g=350, box=floor.setup["boxes"][0],
                             actor=floor.packer)
    assert str(refused.value) == (
        f"No service of shipping rule All can carry order {order.number}: Registered air mail "
        "does not accept goods with battery contained in equipment.")
    assert packing.order_parcels(order) == []


def test_battery_refused_at_packing_without_rules(floor, routes):
    order = floor.picked([(routes.phone, 1)], country="US", shipping_service="POST-REG")
    _scan_all(order, floor)
    with pytest.raises(ShippingError, match="Registered air mail does not accept goods with "
                                            "battery contained in equipment"):
        packing.close_parcel(order, weight_g=350, box=floor.setup["boxes"][0],
                             actor=floor.packer)
    with pytest.raises(ShippingError, match="does not accept goods with battery"):
        packing.pack_order(order, weight_g=350, box=floor.setup["boxes"][0],
                           actor=floor.packer)


def test_the_weighed_parcel_changes_the_service_and_the_packer_is_told(client, login_as,
                                                                       floor, routes):
    routes.version([("US light", "EPACKET", {"countries": "US", "max_weight_g": 500}),
                    ("Rest", "EMS, POST-REG", {})])
    db.session.commit()
    order = floor.picked([(routes.tee, 1)], country="US", shipping_service="POST-REG")
    assert order.shipping_service == "EPACKET"  # 200 g in the catalog
    _scan_all(order, floor)
    db.session.commit()
    login_as("warehouse")
    # 700 g is far above the expected weight: refused until the packer confirms it
    data = {"weight_g": "700", "box": "S"}
    answer = client.post(f"/shipping/packing/{order.id}/close", data=data)
    assert answer.status_code == 422
    assert "recount" in answer.get_data(as_text=True)
    answer = client.post(f"/shipping/packing/{order.id}/close",
                         data={**data, "confirm_weight": "y"}, follow_redirects=True)
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    assert "Service changed from EPACKET to POST-REG: rule Rest" in page
    db.session.expire_all()
    assert order.shipping_service == "POST-REG"
    scan = db.session.scalar(select(PackScan).where(PackScan.order_id == order.id))
    parcel = db.session.get(Parcel, scan.parcel_id)
    decisions = db.session.scalars(select(RoutingDecision).where(
        RoutingDecision.order_id == order.id).order_by(RoutingDecision.id)).all()
    assert [d.stage for d in decisions] == [RoutingStage.allocation, RoutingStage.packing]
    assert decisions[-1].weight_g == 700
    assert parcel.service.code == "POST-REG"
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "customer_order.service_routed"))
    assert event.changes["shipping_service"] == ["EPACKET", "POST-REG"]
    assert event.changes["reason"] == "Rest"


def test_bulk_packing_routes_every_parcel(floor, routes):
    routes.version([("Light", "EPACKET", {"max_weight_g": 500}), ("Rest", "POST-REG", {})])
    db.session.commit()
    order = floor.picked([(routes.tee, 1)], country="US", shipping_service="EMS")
    assert order.shipping_service == "EPACKET"
    parcel = packing.pack_order(order, weight_g=900, box=floor.setup["boxes"][0],
                                actor=floor.packer)
    assert parcel.service.code == "POST-REG"
    assert "Service changed from EPACKET to POST-REG" in parcel.routing.notice
