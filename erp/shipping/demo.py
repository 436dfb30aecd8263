"""Demo shipping data: carriers, services, zones, rate tables, tracking ranges and boxes.

Idempotent: a carrier, service, range or box that exists is left alone. A first version of
shipping rules (:data:`RULES`) is activated when none exists, so orders are routed at
allocation and packing. The service codes are
the ones the demo orders request (:data:`erp.orders.demo.SERVICES`, ``dhl-parcel-eu`` for the
rest of the EU): a China Post registered air-mail service (Royal Mail delivers it in the UK), an
e-packet-like tracked small packet (USPS delivers it in the US), EMS, and DHL's express and
parcel services. The EMS range is kept small so the running-low warning shows.

One more express carrier, Sim Express (``SIMX``), books its parcels through its API: the
carrier simulator ``make run`` starts beside the app (``erp carrier-sim``, at
``ERP_CARRIER_SIM_URL``, default http://127.0.0.1:5081, token ``ERP_CARRIER_SIM_TOKEN``,
default ``sim-token``). Choose its service "Sim Express Worldwide" when closing a parcel at
the packing station, then label it: the number and label come from the simulator.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from erp.core import services as core_services
from erp.core import settings
from erp.core.errors import DomainError
from erp.core.models import ExchangeRate
from erp.core.money import rate_on
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.shipping.services import boxes, carriers, tracking

#: every country the demo orders go to, and its rate zone
COUNTRIES = {"US": "US", "GB": "GB", "DE": "EU", "FR": "EU", "NL": "EU", "ES": "EU", "IT": "EU",
             "AU": "ROW", "CA": "ROW", "JP": "ASIA"}
EU = {c: "EU" for c in ("DE", "FR", "NL", "ES", "IT", "AT", "BE", "IE", "PL", "PT")}

CARRIERS = (
    ("CNPOST", "China Post", "postal", "CP-440300-0815"),
    ("DHL", "DHL Express", "express", "960012345"),
)

#: code, carrier, name, tracking, customs, max g, longest mm, sum mm, divisor, cut-off, phone,
#: zones, rates {zone: [(band g, price)]} in currency, range (prefix, first, last, suffix,
#: width, warn below)
SERVICES = (
    ("royal-mail-intl", "CNPOST", "Registered air mail", "s10", "cn22_cn23", 2000, 600, 900, 0,
     "16:00", False, COUNTRIES, "CNY",
     {"US": [(250, "38"), (500, "62"), (1000, "105"), (2000, "190")],
      "GB": [(250, "35"), (500, "58"), (1000, "98"), (2000, "176")],
      "EU": [(250, "36"), (500, "60"), (1000, "101"), (2000, "182")],
      "ROW": [(250, "40"), (500, "66"), (1000, "112"), (2000, "204")],
      "ASIA": [(250, "28"), (500, "45"), (1000, "76"), (2000, "138")]},
     ("RR", 10000000, 10099999, "CN", 8, 500)),
    ("usps-ground", "CNPOST", "ePacket tracked small packet", "s10", "cn22_cn23", 2000, 600,
     900, 0, "15:30", False, {"US": "US", "CA": "ROW", "AU": "ROW", "GB": "GB"}, "CNY",
     {"US": [(200, "32"), (500, "55"), (1000, "92"), (2000, "168")],
      "GB": [(200, "30"), (500, "52"), (1000, "88"), (2000, "160")],
      "ROW": [(200, "35"), (500, "60"), (1000, "100"), (2000, "185")]},
     ("LK", 10000000, 10099999, "CN", 8, 500)),
    ("EMS", "CNPOST", "EMS", "s10", "cn23", 30000, 1500, 3000, 6000, "15:00", True, COUNTRIES,
     "CNY",
     {zone: [(500, base), (1000, str(int(base) + 45)), (5000, str(int(base) + 260)),
             (30000, str(int(base) + 1350))]
      for zone, base in (("US", "180"), ("GB", "170"), ("EU", "175"), ("ROW", "190"),
                         ("ASIA", "120"))},
     ("EE", 10000000, 10000999, "CN", 8, 1200)),
    ("dhl-express", "DHL", "DHL Express Worldwide", "free", "commercial_invoice", 70000, 1200,
     3000, 5000, "17:00", True, COUNTRIES, "USD",
     {zone: [(500, base), (1000, f"{Decimal(base) + 6:.2f}"), (5000, f"{Decimal(base) + 38:.2f}"),
             (70000, f"{Decimal(base) + 210:.2f}")]
      for zone, base in (("US", "32.50"), ("GB", "29.90"), ("EU", "30.50"), ("ROW", "36.00"),
                         ("ASIA", "24.00"))},
     ("JD01", 1, 99999999, "", 10, 500)),
    ("dhl-parcel-eu", "DHL", "DHL Parcel Europe", "free", "commercial_invoice", 31500, 1200,
     3000, 6000, "17:00", False, EU, "USD",
     {"EU": [(1000, "14.90"), (5000, "21.50"), (31500, "39.00")]},
     ("JVGL", 1, 99999999, "", 10, 500)),
)

#: the carrier booked through the simulator's API, and its service
SIM_CARRIER = ("SIMX", "Sim Express", "express")
SIM_SERVICE = ("sim-express", "Sim Express Worldwide", "SIM-EXPRESS", COUNTRIES, "USD",
               {zone: [(500, base), (2000, f"{Decimal(base) + 9:.2f}"),
                       (30000, f"{Decimal(base) + 95:.2f}")]
                for zone, base in (("US", "24.00"), ("GB", "22.00"), ("EU", "22.50"),
                                   ("ROW", "28.00"), ("ASIA", "18.00"))})


def _sim_carrier(actor) -> None:
    """Create the carrier booked through the carrier simulator, and its service (once)."""
    code, name, kind = SIM_CARRIER
    carrier = carriers.carrier_by_code(code)
    if carrier is None:
        carrier = carriers.create_carrier(
            code=code, name=name, kind=kind, adapter="http",
            api_endpoint=os.environ.get("ERP_CARRIER_SIM_URL", "http://127.0.0.1:5081"),
            api_token=os.environ.get("ERP_CARRIER_SIM_TOKEN", "sim-token"), api_timeout_s=5,
            actor=actor)
    service_code, service_name, remote, zones, currency, rates = SIM_SERVICE
    if carriers.service_by_code(service_code) is not None:
        return
    service = carriers.create_service(
        carrier, code=service_code, name=service_name, tracking_kind="free",
        customs_docs="commercial_invoice", max_weight_g=30000, max_longest_mm=1200,
        max_sum_mm=3000, volumetric_divisor=5000, cutoff="18:00",
        carrier_service_code=remote, actor=actor)
    carriers.set_zones(service, zones, actor=actor)
    for zone, bands in rates.items():
        for band, price in bands:
            carriers.set_rate(service, zone=zone, max_weight_g=band, price=price,
                              currency=currency, actor=actor)


BOXES = (
    ("S", "Small mailer", 250, 180, 50, 40),
    ("M", "Medium box", 350, 250, 150, 150),
    ("L", "Large box", 500, 400, 300, 400),
    ("XL", "Extra large box", 600, 500, 400, 650),
)

#: units of USD per unit; converted to the base currency when it is not USD
RATES_USD = {"XDR": "1.3300", "EUR": "1.0850", "GBP": "1.2700"}


def _exchange_rates(actor) -> None:
    base = settings.base_currency()
    on = date(2026, 1, 1)
    for currency, usd in RATES_USD.items():
        if currency == base or db.session.scalar(select(ExchangeRate.id).where(
                ExchangeRate.currency == currency).limit(1)) is not None:
            continue
        try:
            usd_in_base = rate_on("USD", on, base=base)
        except DomainError:
            continue  # no USD rate to derive it from; enter it under Settings
        core_services.set_exchange_rate(currency, on, (Decimal(usd) * usd_in_base)
                                        .quantize(Decimal("0.000001")), actor=actor)


#: the demo's active shipping rules: (name, services, conditions), tried in this order
RULES = (
    ("Batteries by express", "dhl-express",
     {"goods_required": "battery_in_equipment,battery_with_equipment,battery_alone"}),
    ("Express class", "dhl-express", {"service_class": "express"}),
    ("US light", "usps-ground, royal-mail-intl", {"countries": "US", "max_weight_g": "500"}),
    ("EU parcels over 2 kg", "dhl-parcel-eu, EMS",
     {"countries": ",".join(EU), "min_weight_g": "2001"}),
    ("Postal up to 2 kg", "royal-mail-intl, usps-ground", {"max_weight_g": "2000"}),
    ("Heavy", "EMS, dhl-express", {}),
)


def _rules(actor) -> None:
    """Activate the demo's shipping rules once (a version exists: left alone)."""
    from erp.shipping.routing_models import RuleVersion
    from erp.shipping.services import goods, routing_rules

    if db.session.scalar(select(RuleVersion.id).limit(1)) is not None:
        return
    express = carriers.service_by_code("dhl-express")
    if not express.goods_limits:  # the express courier takes batteries in or with equipment
        goods.set_goods_limits(express, {"battery_in_equipment": 0,
                                         "battery_with_equipment": 2}, actor=actor)
    version = routing_rules.create_version(actor=actor, note="Demo rules")
    for name, codes, conditions in RULES:
        routing_rules.add_rule(version, {"name": name, "services": codes, **conditions},
                               actor=actor)
    routing_rules.activate_version(version, actor=actor)


def load_demo() -> None:
    """Create the demo carriers, services, zones, rates, ranges and boxes (once)."""
    actor = get_user_by_username("service")
    for code, name, kind, account in CARRIERS:
        if carriers.carrier_by_code(code) is None:
            carriers.create_carrier(code=code, name=name, kind=kind, account_number=account,
                                    actor=actor)
    for (code, carrier_code, name, kind, docs, max_g, longest, total, divisor, cutoff, phone,
         zones, currency, rates, rng) in SERVICES:
        if carriers.service_by_code(code) is not None:
            continue
        service = carriers.create_service(
            carriers.carrier_by_code(carrier_code), code=code, name=name, tracking_kind=kind,
            customs_docs=docs, max_weight_g=max_g, max_longest_mm=longest, max_sum_mm=total,
            volumetric_divisor=divisor, cutoff=cutoff, requires_phone=phone, actor=actor)
        carriers.set_zones(service, zones, actor=actor)
        for zone, bands in rates.items():
            for band, price in bands:
                carriers.set_rate(service, zone=zone, max_weight_g=band, price=price,
                                  currency=currency, actor=actor)
        prefix, first, last, suffix, width, warn = rng
        tracking.add_range(service, prefix=prefix, first_serial=first, last_serial=last,
                           suffix=suffix, width=width, warn_below=warn, actor=actor)
    _sim_carrier(actor)
    for code, name, length, width, height, tare in BOXES:
        if boxes.box_by_code(code) is None:
            boxes.create_box(code=code, name=name, length_mm=length, width_mm=width,
                             height_mm=height, tare_g=tare, actor=actor)
    _exchange_rates(actor)
    _rules(actor)
    if not settings.get("ioss_number"):
        core_services.update_settings({"ioss_number": "IM1560000001"}, actor=actor)
    db.session.flush()
