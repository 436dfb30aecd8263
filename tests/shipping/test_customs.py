"""Customs: CN22 against CN23 at the threshold, IOSS on and off, dutiable, customs lines."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.core import services as core_services
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsForm
from erp.shipping.services import customs, packing
from tests.shipping import test_packing as _packing

# the packing tests' fixtures, shared
customs_sku = _packing.customs_sku
picked_order = _packing.picked_order
shipping_rates = _packing.shipping_rates

ON = date(2026, 3, 2)


def _set(**values):
    core_services.update_settings({k: str(v) for k, v in values.items()}, actor=None)
    db.session.flush()


@pytest.mark.usefixtures("shipping_rates")
@pytest.mark.parametrize(("value", "currency", "expected"), [
    ("375.00", "EUR", CustomsForm.cn22),     # exactly 300 SDR
    ("375.01", "EUR", CustomsForm.cn23),     # just above
    ("412.50", "USD", CustomsForm.cn22),     # exactly 300 SDR in the base currency
    ("412.51", "USD", CustomsForm.cn23),
    ("10.00", "EUR", CustomsForm.cn22),
])
def test_cn22_or_cn23_by_value_at_the_threshold(shipping_setup, value, currency, expected):
    post = shipping_setup["post"]
    assert customs.choose_customs_form(post, Decimal(value), currency, 500, ON) == expected


@pytest.mark.usefixtures("shipping_rates")
def test_cn23_above_the_weight_limit_and_by_service(shipping_setup):
    post = shipping_setup["post"]
    assert customs.choose_customs_form(post, Decimal("10"), "EUR", 2000, ON) == CustomsForm.cn22
    assert customs.choose_customs_form(post, Decimal("10"), "EUR", 2001, ON) == CustomsForm.cn23
    # EMS always takes a CN23, express a commercial invoice, whatever the value
    assert customs.choose_customs_form(shipping_setup["ems"], Decimal("1"), "EUR", 100, ON) \
        == CustomsForm.cn23
    assert customs.choose_customs_form(shipping_setup["express"], Decimal("1"), "EUR", 100,
                                       ON) == CustomsForm.invoice
    # the thresholds are settings
    _set(cn22_max_sdr="5", cn22_max_weight_g="3000")
    assert customs.choose_customs_form(post, Decimal("10"), "EUR", 2500, ON) == CustomsForm.cn23
    assert customs.choose_customs_form(post, Decimal("4"), "EUR", 2500, ON) == CustomsForm.cn22


def test_missing_sdr_rate_asks_for_one(shipping_setup):
    with pytest.raises(ShippingError, match="no XDR exchange rate .*enter one"):
        customs.choose_customs_form(shipping_setup["post"], Decimal("10"), "USD", 100, ON)
    # a service that needs no conversion does not ask
    assert customs.choose_customs_form(shipping_setup["ems"], Decimal("10"), "USD", 100, ON) \
        == CustomsForm.cn23


def test_parcel_gets_cn22_or_cn23_when_closed(picked_order, customs_sku, shipping_setup):
    shipping_setup["post"].max_weight_g = 5000
    sku = customs_sku("TS-1")
    box = shipping_setup["boxes"][1]
    small = picked_order([(sku, 1, "375.00")])
    big = picked_order([(sku, 1, "375.01")])
    heavy = picked_order([(sku, 1, "20.00")])
    ems = picked_order([(sku, 1, "20.00")], service="EMS")
    express = picked_order([(sku, 1, "20.00")], service="EXPRESS", phone="+1 555 0100")
    forms = {}
    for name, order, weight in (("small", small, 500), ("big", big, 500),
                                ("heavy", heavy, 2100), ("ems", ems, 500),
                                ("express", express, 500)):
        forms[name] = packing.pack_order(order, weight_g=weight, box=box,
                                         actor=None).customs_form
    assert forms == {"small": CustomsForm.cn22, "big": CustomsForm.cn23,
                     "heavy": CustomsForm.cn23, "ems": CustomsForm.cn23,
                     "express": CustomsForm.invoice}


@pytest.mark.usefixtures("shipping_rates")
def test_ioss_on_and_off(create_order, customs_sku):
    sku = customs_sku("TS-1")
    de = create_order([(sku, 1, "100.00")], country="DE", currency="EUR")
    us = create_order([(sku, 1, "100.00")], country="US", currency="USD")
    # no IOSS number set: off
    assert customs.ioss_for(de, Decimal("100"), "EUR", ON) is None
    _set(ioss_number="IM2760000123")
    assert customs.ioss_for(de, Decimal("100"), "EUR", ON) == "IM2760000123"
    assert customs.ioss_for(de, Decimal("150.00"), "EUR", ON) == "IM2760000123"
    assert customs.ioss_for(de, Decimal("150.01"), "EUR", ON) is None   # above the threshold
    assert customs.ioss_for(us, Decimal("100"), "USD", ON) is None      # not in the EU
    # converted to EUR: 165 USD = 150 EUR (in), 165.01 USD just above (out)
    assert customs.ioss_for(de, Decimal("165.00"), "USD", ON) == "IM2760000123"
    assert customs.ioss_for(de, Decimal("165.02"), "USD", ON) is None
    # a marketplace's IOSS number on the order wins over the retailer's
    de.ioss_number = "IM4420000999"
    assert customs.ioss_for(de, Decimal("100"), "EUR", ON) == "IM4420000999"


def test_parcel_carries_ioss_and_dutiable(picked_order, customs_sku, shipping_setup):
    _set(ioss_number="IM2760000123")
    sku = customs_sku("TS-1")
    box = shipping_setup["boxes"][0]
    eu = packing.pack_order(picked_order([(sku, 2, "40.00")], country="FR"), weight_g=400,
                            box=box, actor=None)
    dear = packing.pack_order(picked_order([(sku, 2, "80.00")], country="FR"), weight_g=400,
                              box=box, actor=None)
    us = packing.pack_order(picked_order([(sku, 1, "40.00")], country="US", currency="USD"),
                            weight_g=300, box=box, actor=None)
    assert (eu.ioss_number, eu.dutiable) == ("IM2760000123", False)
    assert (dear.ioss_number, dear.dutiable) == (None, False)
    assert (us.ioss_number, us.dutiable) == (None, True)


def test_dutiable_countries_are_a_setting(app):
    assert customs.is_dutiable("US")
    assert customs.is_dutiable("us")
    assert not customs.is_dutiable("DE")
    _set(dutiable_countries="US, BR")
    assert customs.is_dutiable("BR")


def test_customs_lines_from_the_catalog(create_order, customs_sku, create_category,
                                        create_product):
    category = create_category("APP-TOP", hs_code="610990",
                               customs_description="Cotton tops", origin_country="VN")
    inherit = customs_sku("TOP-1", hs_code=None, customs_description=None,
                          origin_country=None, product=create_product(category=category),
                          weight_g=200)
    own = customs_sku("TS-1", weight_g=150)
    order = create_order([(inherit, 3, "7.00"), (own, 2, "12.50")])
    first, second = order.lines
    lines = customs.customs_lines_for([(first, 1), (second, 2), (first, 2)])
    assert [(ln.sku.code, ln.quantity, ln.hs_code, ln.description, ln.origin_country,
             ln.net_weight_g, ln.unit_value) for ln in lines] == [
        ("TOP-1", 3, "610990", "Cotton tops", "VN", 600, Decimal("7.00")),
        ("TS-1", 2, "610910", "Men's cotton T-shirt", "CN", 300, Decimal("12.50"))]
    assert customs.declared_value(lines) == Decimal("46.00")


def test_missing_customs_fields_name_the_sku(create_order, customs_sku):
    bare = customs_sku("BARE-1", hs_code=None, customs_description=None, origin_country=None)
    order = create_order([(bare, 1)])
    with pytest.raises(ShippingError, match="SKU BARE-1 has no HS code and no English customs "
                                            "description and no country of origin"):
        customs.customs_lines_for([(order.lines[0], 1)])


def test_check_customs_verifies_the_totals(picked_order, customs_sku, shipping_setup):
    order = picked_order([(customs_sku("TS-1"), 2, "12.50")])
    parcel = packing.pack_order(order, weight_g=400, box=shipping_setup["boxes"][0],
                                actor=None)
    customs.check_customs(parcel)
    parcel.declared_value = Decimal("30.00")
    with pytest.raises(ShippingError, match="declares 30.00 EUR, but its customs lines add up "
                                            "to 25.00"):
        customs.check_customs(parcel)
    parcel.declared_value = Decimal("25.00")
    parcel.lines[0].hs_code = "6109"
    with pytest.raises(ShippingError, match="at least 6 digits"):
        customs.check_customs(parcel)
