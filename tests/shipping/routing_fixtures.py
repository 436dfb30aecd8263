"""Fixtures of the shipping-rule tests: services with distinct prices, a rule version factory."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import delete

from erp.catalog.models import BatteryKind
from erp.extensions import db
from erp.shipping.models import GoodsAttribute, ServiceGoodsLimit, ServiceRate, ServiceZone
from erp.shipping.services import routing_rules


@pytest.fixture
def routes(shipping_setup, create_sku, create_user):
    """Services priced apart, SKUs (a T-shirt, a phone with a battery) and ``version(rules)``.

    POST-REG 4.50 / EPACKET 3.90 up to 500 g (ROW), both 2 kg at most; EMS does not serve the
    US; EXPRESS (30 kg, 12.00 up to 500 g) alone accepts batteries in equipment, and needs a
    phone. ``version([(name, services, conditions), ...], activate=True)`` makes a version.
    """
    s = shipping_setup
    db.session.execute(delete(ServiceRate).where(ServiceRate.service_id == s["epacket"].id,
                                                 ServiceRate.max_weight_g == 500))
    db.session.add(ServiceRate(service_id=s["epacket"].id, zone="ROW", max_weight_g=500,
                               price=Decimal("3.90"), currency="USD"))
    db.session.add(ServiceRate(service_id=s["epacket"].id, zone="EU", max_weight_g=500,
                               price=Decimal("3.90"), currency="USD"))
    db.session.execute(delete(ServiceRate).where(ServiceRate.service_id == s["express"].id,
                                                 ServiceRate.max_weight_g == 500))
    for zone in ("EU", "ROW"):
        db.session.add(ServiceRate(service_id=s["express"].id, zone=zone, max_weight_g=500,
                                   price=Decimal("12.00"), currency="USD"))
    db.session.execute(delete(ServiceZone).where(ServiceZone.service_id == s["ems"].id,
                                                 ServiceZone.country == "US"))
    db.session.add(ServiceGoodsLimit(service_id=s["express"].id,
                                     attribute=GoodsAttribute.battery_in_equipment,
                                     max_per_parcel=0))
    manager = create_user("boss", roles=("manager",))
    tee = create_sku("TEE-1", weight_g=200, hs_code="610910", customs_description="T-shirt",
                     origin_country="CN")
    phone = create_sku("PHONE-1", weight_g=300, hs_code="851713", customs_description="Phone",
                       origin_country="CN")
    phone.battery, phone.battery_cells = BatteryKind.in_equipment, 1
    db.session.flush()

    def version(rules, *, activate=True):
        made = routing_rules.create_version(actor=manager)
        for name, services, conditions in rules:
            routing_rules.add_rule(made, {"name": name, "services": services, **conditions},
                                   actor=manager)
        if activate:
            routing_rules.activate_version(made, actor=manager)
        db.session.flush()
        return made

    class Routes:
        pass

    out = Routes()
    out.setup, out.manager, out.tee, out.phone, out.version = s, manager, tee, phone, version
    return out
