"""Packing and the classification review.

A parcel of products whose customs data is not confirmed warns at the packing station, or is
refused when ``customs_review_at_packing`` says so.
"""

from __future__ import annotations

import pytest

from erp.catalog import cn_customs
from erp.core.models import Setting
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import Parcel
from erp.shipping.services import packing
from tests.shipping import test_lane_pack as _lane_pack
from tests.shipping import test_packing as _packing

customs_sku = _packing.customs_sku
picked_order = _packing.picked_order
shipping_rates = _packing.shipping_rates
twins = _lane_pack.twins


@pytest.fixture
def bench_order(picked_order, customs_sku):
    """An order of 1 x TS-1 and 1 x CAP-1 (their products unconfirmed), picked, committed."""
    shirt, cap = customs_sku("TS-1"), customs_sku("CAP-1")
    order = picked_order([(shirt, 1, "12.50"), (cap, 1, "8.00")], number="WEB-88")
    db.session.commit()
    order.skus = (shirt, cap)
    return order


def _refuse():
    db.session.add(Setting(key="customs_review_at_packing", value="refuse"))
    db.session.commit()


def test_by_default_the_station_warns_naming_the_products_and_packing_goes_on(
        client, login_as, bench_order, shipping_setup):
    shirt, cap = bench_order.skus
    login_as("warehouse")
    text = client.get(f"/shipping/packing/{bench_order.id}").get_data(as_text=True)
    assert "customs-review" in text
    assert (f"The customs data of {shirt.product.code} (unconfirmed), {cap.product.code} "
            "(unconfirmed) is not confirmed") in text
    packing.scan_item(bench_order, "TS-1", actor=None)
    packing.scan_item(bench_order, "CAP-1", actor=None)
    parcel = packing.close_parcel(bench_order, weight_g=420,
                                  box=shipping_setup["boxes"][0], actor=None)
    assert isinstance(parcel, Parcel)
    # once confirmed, no warning
    cn_customs.confirm_products([shirt.product, cap.product], actor=None)
    db.session.commit()
    text = client.get(f"/shipping/packing/{bench_order.id}").get_data(as_text=True)
    assert "is not confirmed" not in text


def test_refuse_setting_refuses_the_parcel_naming_products_until_confirmed(
        bench_order, shipping_setup):
    shirt, cap = bench_order.skus
    cn_customs.confirm_products([cap.product], actor=None)
    _refuse()
    packing.scan_item(bench_order, "TS-1", actor=None)
    packing.scan_item(bench_order, "CAP-1", actor=None)
    db.session.commit()
    with pytest.raises(ShippingError) as info:
        packing.close_parcel(bench_order, weight_g=420, box=shipping_setup["boxes"][0],
                             actor=None)
    message = str(info.value)
    assert f"{shirt.product.code} (unconfirmed)" in message
    assert cap.product.code not in message
    assert "Confirm them in Catalog › Customs review" in message
    db.session.rollback()
    cn_customs.confirm_products([shirt.product], actor=None)
    db.session.commit()
    parcel = packing.close_parcel(bench_order, weight_g=420, box=shipping_setup["boxes"][0],
                                  actor=None)
    assert parcel.order_id == bench_order.id


def test_refuse_setting_names_a_product_changed_since_confirmation(bench_order, shipping_setup):
    from erp.catalog import services

    shirt, cap = bench_order.skus
    cn_customs.confirm_products([shirt.product, cap.product], actor=None)
    services.update_sku(shirt, actor=None, customs_description="Merino wool T-shirt")
    _refuse()
    with pytest.raises(ShippingError, match=r"\(changed since confirmation\)"):
        packing.pack_orders([bench_order], box=shipping_setup["boxes"][0], actor=None)


def test_refused_on_the_station_screen(client, login_as, bench_order, shipping_setup):
    _refuse()
    login_as("warehouse")
    client.post(f"/shipping/packing/{bench_order.id}/scan", data={"code": "TS-1"})
    client.post(f"/shipping/packing/{bench_order.id}/scan", data={"code": "CAP-1"})
    box = shipping_setup["boxes"][0]
    response = client.post(f"/shipping/packing/{bench_order.id}/close",
                           data={"weight_g": "420", "box": box.code}, follow_redirects=True)
    text = response.get_data(as_text=True)
    assert "This parcel cannot be closed: the customs data of" in text
    assert db.session.query(Parcel).count() == 0


def test_refuse_setting_reaches_the_single_item_lane(twins):
    """The lane's lean path leaves a refusing setting to the normal path, which refuses."""
    from erp.shipping.services import lane, lane_pack

    floor = twins
    wave, _orders = floor.make()
    _refuse()
    assert lane_pack.pack_and_label(wave.id, "TEE-BLK-M", actor=floor.packer) is None
    with pytest.raises(ShippingError, match=r"customs data of .*\(unconfirmed\)"):
        lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)
    db.session.rollback()
    assert db.session.query(Parcel).count() == 0
    cn_customs.confirm_products([floor.tee.product_id], actor=None)
    db.session.commit()
    parcel = lane.lane_scan(wave, "TEE-BLK-M", actor=floor.packer)
    assert parcel is not None
