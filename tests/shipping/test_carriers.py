"""Carriers and services: validation, zones, limits with volumetric weight, quotes, boxes."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import CarrierKind, CustomsDocs, ShippingService, TrackingKind
from erp.shipping.services import boxes, carriers, tracking


def _actions(entity_type: str) -> list[str]:
    return sorted(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == entity_type)).all())


def test_create_carrier_and_service(app):
    carrier = carriers.create_carrier(code="sfx", name="SF Express", kind="express", actor=None)
    assert carrier.code == "SFX"
    assert carrier.kind == CarrierKind.express
    service = carriers.create_service(
        carrier, code="SF-INTL", name="SF International", tracking_kind="free",
        customs_docs="commercial_invoice", max_weight_g="30000", max_longest_mm=1200,
        max_sum_mm=0, volumetric_divisor=5000, cutoff="9:30", actor=None)
    assert service.cutoff == "09:30"
    assert service.tracking_kind == TrackingKind.free
    assert service.customs_docs == CustomsDocs.commercial_invoice
    assert carriers.service_by_code("SF-INTL") is service
    assert carriers.service_by_code("sf-intl") is None  # exactly as orders request it
    carriers.update_service(service, max_weight_g=25000, actor=None)
    assert service.max_weight_g == 25000
    assert _actions("carrier") == ["carrier.created"]
    assert _actions("shipping_service") == ["shipping_service.created",
                                            "shipping_service.updated"]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("max_weight_g", -1, "maximum weight"),
    ("max_sum_mm", "abc", "sum of the sides"),
    ("volumetric_divisor", 1.5, "volumetric divisor"),
    ("cutoff", "25:00", "not a cut-off time"),
    ("cutoff", "3pm", "not a cut-off time"),
    ("code", "bad code!", "not a service code"),
    ("tracking_kind", "barcode", "tracking number kind"),
])
def test_service_validation(app, shipping_setup, field, value, message):
    with pytest.raises(ValidationError, match=message) as err:
        carriers.update_service(shipping_setup["post"], actor=None, **{field: value})
    assert err.value.field == field


def test_duplicate_codes_refused(app, shipping_setup):
    with pytest.raises(ShippingError, match="a service already uses it"):
        carriers.create_service(shipping_setup["post"].carrier, code="EMS", name="x",
                                tracking_kind="s10", customs_docs="cn23", actor=None)
    with pytest.raises(ShippingError, match="a carrier already uses it"):
        carriers.create_carrier(code="cnpost", name="x", actor=None)


def test_set_zones(app, shipping_setup):
    service = shipping_setup["ems"]
    carriers.set_zones(service, {"Germany": "eu", "USA": "row", "BR": "ROW"}, actor=None)
    assert {z.country: z.zone for z in service.zones} == {"DE": "EU", "US": "ROW", "BR": "ROW"}
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "shipping_service.zones_set")).one()
    assert event.changes["added"] == {"BR": "ROW"}
    assert "FR" in event.changes["removed"]
    with pytest.raises(ValidationError, match="not a country"):
        carriers.set_zones(service, {"Atlantis": "EU"}, actor=None)


def test_parse_zone_lines():
    assert carriers.parse_zone_lines("DE EU\n\nus, row\nGB=UK") == {
        "DE": "EU", "US": "ROW", "GB": "UK"}
    with pytest.raises(ValidationError, match="Line 2"):
        carriers.parse_zone_lines("DE EU\nFR")


def _order(service="POST-REG", country="DE"):
    return SimpleNamespace(number="NP-1", shipping_service=service, country=country)


def test_service_for_order(app, shipping_setup):
    assert carriers.service_for_order(_order()) is shipping_setup["post"]
    with pytest.raises(ShippingError, match='Order NP-1 asks for shipping service "NOPE", '
                                            "which does not exist"):
        carriers.service_for_order(_order("NOPE"))
    with pytest.raises(ShippingError, match="asks for no shipping service"):
        carriers.service_for_order(_order(None))
    with pytest.raises(ShippingError, match="goes to BR, which Registered air mail"):
        carriers.service_for_order(_order(country="BR"))
    carriers.update_service(shipping_setup["post"], active=False, actor=None)
    with pytest.raises(ShippingError, match="is inactive"):
        carriers.service_for_order(_order())


def test_chargeable_weight(app, shipping_setup):
    express, post = shipping_setup["express"], shipping_setup["post"]
    # 500 x 400 x 300 mm = 60,000 cm3 / 5000 = 12 kg
    assert carriers.chargeable_weight_g(express, 3000, 500, 400, 300) == 12000
    assert carriers.chargeable_weight_g(express, 15000, 500, 400, 300) == 15000
    assert carriers.chargeable_weight_g(express, 100, 101, 101, 100) == 205  # rounded up
    assert carriers.chargeable_weight_g(post, 3000, 500, 400, 300) == 3000  # no divisor
    assert carriers.chargeable_weight_g(express, 800, None, None, None) == 800


def test_check_parcel_limits(app, shipping_setup):
    post, express = shipping_setup["post"], shipping_setup["express"]
    carriers.check_parcel_limits(post, weight_g=2000, length_mm=300, width_mm=200,
                                 height_mm=100)
    with pytest.raises(ShippingError, match=r"The parcel weighs 2,350 g \(chargeable\); "
                                            r"Registered air mail takes at most 2,000 g\."):
        carriers.check_parcel_limits(post, weight_g=2350, length_mm=300, width_mm=200,
                                     height_mm=100)
    with pytest.raises(ShippingError, match="longest side is 610 mm; Registered air mail takes "
                                            "at most 600 mm"):
        carriers.check_parcel_limits(post, weight_g=500, length_mm=610, width_mm=100,
                                     height_mm=100)
    with pytest.raises(ShippingError, match=r"length \+ width \+ height is 1,000 mm; "
                                            "Registered air mail takes at most 900 mm"):
        carriers.check_parcel_limits(post, weight_g=500, length_mm=400, width_mm=300,
                                     height_mm=300)
    with pytest.raises(ShippingError, match=r"weighs 48,000 g \(chargeable: volumetric; the "
                                            r"actual weight is 5,000 g\); Express worldwide"):
        carriers.check_parcel_limits(express, weight_g=5000, length_mm=1000, width_mm=600,
                                     height_mm=400)
    with pytest.raises(ShippingError, match="Enter the parcel's weight"):
        carriers.check_parcel_limits(post, weight_g=0, length_mm=None, width_mm=None,
                                     height_mm=None)


def test_quote(app, shipping_setup):
    post = shipping_setup["post"]
    assert carriers.quote(post, "DE", 400) == (Decimal("4.50"), "USD")
    assert carriers.quote(post, "US", 501) == (Decimal("9.80"), "USD")
    assert carriers.quote(post, "US", 2001) is None  # no band heavy enough
    assert carriers.quote(post, "BR", 100) is None  # not served


def test_set_rate_validation_and_audit(app, shipping_setup):
    post = shipping_setup["post"]
    rate, outcome = carriers.set_rate(post, zone="eu", max_weight_g=100, price="2.1",
                                      currency="eur", actor=None)
    assert outcome == "created"
    assert (rate.zone, rate.price, rate.currency) == ("EU", Decimal("2.10"), "EUR")
    assert carriers.set_rate(post, zone="EU", max_weight_g=100, price="2.10", currency="EUR",
                             actor=None)[1] == "skipped"
    with pytest.raises(ValidationError, match="zero or more"):
        carriers.set_rate(post, zone="EU", max_weight_g=100, price="-1", currency="EUR",
                          actor=None)
    with pytest.raises(ValidationError, match="weight band"):
        carriers.set_rate(post, zone="EU", max_weight_g=0, price="1", currency="EUR",
                          actor=None)
    carriers.remove_rate(rate, actor=None)
    assert _actions("service_rate") == ["service_rate.created", "service_rate.removed"]


def test_boxes(app, shipping_setup):
    box = boxes.create_box(code="xl", name="Extra large", length_mm=600, width_mm=500,
                           height_mm=400, tare_g=700, actor=None)
    assert box.code == "XL"
    assert [b.code for b in boxes.active_boxes()] == ["S", "M", "L", "XL"]
    boxes.update_box(box, active=False, actor=None)
    assert "XL" not in [b.code for b in boxes.active_boxes()]
    with pytest.raises(ValidationError, match="The width"):
        boxes.create_box(code="B", name="Bad", length_mm=10, width_mm=0, height_mm=10,
                         actor=None)
    with pytest.raises(ShippingError, match="a box already uses it"):
        boxes.create_box(code="m", name="Dup", length_mm=10, width_mm=10, height_mm=10,
                         actor=None)
    assert _actions("box") == ["box.created", "box.updated"]


def test_demo_serves_every_demo_order_and_loads_once(app):
    from erp.cli import load_demo_core
    from erp.core import settings
    from erp.core.models import ExchangeRate
    from erp.orders import demo as orders_demo
    from erp.shipping import demo
    from erp.shipping.models import Box, TrackingRange

    load_demo_core()
    demo.load_demo()
    db.session.commit()
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    for country in orders_demo.ADDRESSES:
        code = orders_demo.SERVICES.get(country, "dhl-parcel-eu")
        service = carriers.service_for_order(SimpleNamespace(
            number="NP-X", shipping_service=code, country=country))
        assert carriers.quote(service, country, 400) is not None, (code, country)
    kinds = {s.code: (s.carrier.kind, s.tracking_kind) for s in db.session.scalars(
        select(ShippingService))}
    assert kinds["EMS"] == (CarrierKind.postal, TrackingKind.s10)
    assert kinds["dhl-express"] == (CarrierKind.express, TrackingKind.free)
    assert {b.code for b in db.session.scalars(select(Box))} == {"S", "M", "L", "XL"}
    assert {"XDR", "EUR", "GBP"} <= set(db.session.scalars(select(ExchangeRate.currency)))
    assert settings.get("ioss_number") == "IM1560000001"
    assert [r.prefix for r in tracking.ranges_running_low()] == ["EE"]
    assert tracking.draw_number(carriers.service_by_code("royal-mail-intl"),
                                actor=None) == "RR100000003CN"
    db.session.rollback()
    demo.load_demo()
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert db.session.scalar(select(func.count()).select_from(TrackingRange)) == 5
