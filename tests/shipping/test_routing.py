"""Shipping rules choose the service: first match wins, the cheapest allowed, reasons kept."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders.models import ServiceClass
from erp.orders.services import allocate_order
from erp.shipping.errors import ShippingError
from erp.shipping.models import ServiceRate
from erp.shipping.routing_models import RoutingDecision, RoutingStage
from erp.shipping.services import routing
from erp.warehouse import services as warehouse_services
from tests.shipping import routing_fixtures

routes = routing_fixtures.routes  # the shared fixture

pytestmark = pytest.mark.usefixtures("routes")


def _decide(order):
    return routing.route_orders([order], actor=None)[0]


def _outcomes(choice) -> dict[str, str]:
    return {e["code"]: e["outcome"] for rule in choice.rules for e in rule["services"]}


def test_first_matching_rule_wins(routes, create_order):
    routes.version([("US light", "EPACKET", {"countries": "US", "max_weight_g": 500}),
                    ("Everything", "POST-REG", {})])
    order = create_order([(routes.tee, 1)], country="US", shipping_service="EMS")
    choice = _decide(order)
    assert choice.rule_name == "US light"
    assert order.shipping_service == "EPACKET"
    heavy = create_order([(routes.tee, 3)], country="US", shipping_service="EMS")
    assert _decide(heavy).rule_name == "Everything"
    assert heavy.shipping_service == "POST-REG"


def test_the_cheapest_allowed_service_is_chosen_and_the_other_is_dearer(routes, create_order):
    routes.version([("Postal", "POST-REG, EPACKET", {})])
    order = create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG")
    choice = _decide(order)
    assert choice.service_code == "EPACKET"
    assert choice.cost == Decimal("3.90")
    assert _outcomes(choice) == {"EPACKET": "chosen", "POST-REG": "dearer"}
    decision = db.session.scalar(select(RoutingDecision).where(
        RoutingDecision.order_id == order.id))
    assert decision.stage == RoutingStage.allocation
    assert decision.previous_service == "POST-REG"
    assert decision.service.code == "EPACKET"
    texts = [row["text"] for row in routing.decision_rows(decision)]
    assert "Registered air mail: dearer (4.50 USD)" in texts


def test_each_rejection_reason_is_kept(routes, create_order, dummy_warehouse):
    s = routes.setup
    abroad = warehouse_services.create_warehouse(code="WH-US", name="US returns", country="US",
                                                 actor=None)
    s["epacket"].warehouses.append(abroad)
    db.session.execute(delete(ServiceRate).where(ServiceRate.service_id == s["express"].id,
                                                 ServiceRate.zone == "ROW",
                                                 ServiceRate.max_weight_g > 500))
    db.session.flush()
    routes.version([("All", "EMS, POST-REG, EPACKET, EXPRESS", {})])
    order = create_order([(routes.phone, 1), (routes.tee, 1)], country="US",
                         shipping_service="POST-REG", warehouse_id=dummy_warehouse.id)
    choice = _decide(order)
    assert _outcomes(choice) == {"EMS": "not_served", "EPACKET": "warehouse",
                                 "POST-REG": "goods", "EXPRESS": "phone"}
    assert choice.service_id is None
    assert order.shipping_service == "POST-REG"  # kept: nothing can carry it
    decision = routing.latest_decision(order.id)
    texts = " | ".join(row["text"] for row in routing.decision_rows(decision))
    assert "EMS: does not serve US" in texts
    assert "Tracked small packet: does not ship from the order's warehouse" in texts
    assert ("Registered air mail does not accept goods with battery contained in equipment."
            in texts)
    assert "Express worldwide: needs the addressee's phone number" in texts

    heavy = create_order([(routes.tee, 12)], country="US", shipping_service="EMS", phone="1")
    outcomes = _outcomes(_decide(heavy))
    assert outcomes["POST-REG"] == "too_heavy"  # 2,400 g, over 2 kg
    assert outcomes["EXPRESS"] == "no_rate"     # ROW priced only up to 500 g
    assert outcomes["EPACKET"] == "too_heavy"   # an order without a warehouse: any


def test_no_active_version_keeps_the_storefront_service(routes, create_order):
    routes.version([("Postal", "EPACKET", {})], activate=False)
    order = create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG")
    assert routing.route_orders([order], actor=None) == []
    assert order.shipping_service == "POST-REG"
    assert routing.latest_decision(order.id) is None


def test_conditions_class_goods_value_postcode_brand(routes, create_order):
    routes.version([
        ("Express class", "EXPRESS", {"service_class": "express"}),
        ("Battery", "EXPRESS", {"goods_required": "battery_in_equipment"}),
        ("Dear", "EMS", {"min_value": "100", "value_currency": "EUR"}),
        ("Berlin", "POST-REG", {"postcode_prefixes": "101"}),
        ("Brand", "EPACKET", {"brand_codes": "TESTBR", "countries": "FR"}),
    ])
    fast = create_order([(routes.tee, 1)], service_class=ServiceClass.express, phone="1")
    assert _decide(fast).rule_name == "Express class"
    battery = create_order([(routes.phone, 1)], phone="1")
    assert _decide(battery).service_code == "EXPRESS"
    dear = create_order([(routes.tee, 1, "150.00")])
    assert _decide(dear).rule_name == "Dear"
    berlin = create_order([(routes.tee, 1)], postal_code="10115")
    assert _decide(berlin).rule_name == "Berlin"
    paris = create_order([(routes.tee, 1)], country="FR", postal_code="75001")
    assert _decide(paris).rule_name == "Brand"
    nowhere = create_order([(routes.tee, 1)], country="JP", postal_code="100-0001")
    choice = _decide(nowhere)
    assert not choice.matched
    assert choice.rule_id is None


def test_allocation_routes_the_orders_it_allocates(routes, create_order, create_bin,
                                                  receive_stock):
    routes.version([("Postal", "POST-REG, EPACKET", {})])
    receive_stock(routes.tee, create_bin("A-01"), 5)
    order = create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG")
    allocate_order(order, actor=None)
    db.session.flush()
    assert order.shipping_service == "EPACKET"
    decision = routing.latest_decision(order.id)
    assert decision.stage == RoutingStage.allocation
    assert json.loads(decision.explanation)["rules"][0]["name"] == "Postal"


def test_a_version_activates_and_rolls_back(routes):
    from erp.shipping.routing_models import RuleVersionState as V
    from erp.shipping.services import routing_rules

    first = routes.version([("Postal", "POST-REG", {})])
    second = routes.version([("Packet", "EPACKET", {})], activate=False)
    with pytest.raises(ShippingError, match="must have at least one rule"):
        routing_rules.activate_version(routes.version([], activate=False), actor=routes.manager)
    routing_rules.activate_version(second, actor=routes.manager)
    assert (first.state, second.state) == (V.retired, V.active)
    assert routing.active_version() is second
    with pytest.raises(InvalidTransition):
        routing_rules.activate_version(second, actor=routes.manager)
    with pytest.raises(ShippingError, match="it must be a draft"):
        routing_rules.add_rule(second, {"name": "x", "services": "EMS"}, actor=routes.manager)
    back = routing_rules.roll_back(second, actor=routes.manager)
    assert back is first
    assert (first.state, second.state) == (V.active, V.retired)
    copy = routing_rules.copy_version(first, actor=routes.manager)
    assert [r.name for r in copy.rules] == ["Postal"]
    assert copy.rules[0].services[0].service.code == "POST-REG"
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "rule_version", AuditEvent.entity_id == str(second.id))
        .order_by(AuditEvent.id)).all()
    assert actions == ["rule_version.created", "rule_version.active", "rule_version.retired"]


def test_simulation_counts_changes_and_the_cost_difference(routes, create_order):
    from datetime import timedelta

    from erp.core.models import utcnow
    from erp.orders.models import OrderState
    from erp.shipping.services import routing_rules

    now = utcnow()
    recent = now - timedelta(days=2)
    routes.version([("All", "POST-REG", {})])
    light = create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG",
                         placed_at=recent)
    create_order([(routes.tee, 3)], country="US", shipping_service="POST-REG",
                 placed_at=recent)  # 600 g: stays on POST-REG
    create_order([(routes.tee, 1)], country="DE", shipping_service="POST-REG",
                 placed_at=recent)  # not US: stays
    create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG",
                 placed_at=now - timedelta(days=40))  # too old
    create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG",
                 placed_at=recent, state=OrderState.cancelled)
    draft = routes.version([("US light", "EPACKET", {"countries": "US", "max_weight_g": 500}),
                            ("Rest", "POST-REG", {})], activate=False)
    sim = routing_rules.simulate(draft, now=now)
    assert sim.orders == 3
    assert sim.changed == 1
    assert sim.difference == Decimal("-0.60")
    assert sim.cost_now == Decimal("18.80")  # 4.50 + 9.80 + 4.50
    assert [(r.number, r.current, r.proposed) for r in sim.rows] == [
        (light.number, "POST-REG", "EPACKET")]
    assert light.shipping_service == "POST-REG"  # nothing changed


def test_a_discarded_draft_is_kept_read_only(routes):
    from erp.shipping.routing_models import RuleVersionState as V
    from erp.shipping.services import routing_rules

    draft = routes.version([("Postal", "POST-REG", {})], activate=False)
    copy = routing_rules.copy_version(draft, actor=routes.manager)
    routing_rules.discard_version(draft, actor=routes.manager)
    assert draft.state == V.discarded
    assert copy.copied_from_id == draft.id
    with pytest.raises(ShippingError, match="it must be a draft"):
        routing_rules.add_rule(draft, {"name": "x", "services": "EMS"}, actor=routes.manager)
    with pytest.raises(InvalidTransition):
        routing_rules.activate_version(draft, actor=routes.manager)
