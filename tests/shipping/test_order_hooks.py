"""Shipping's additions to the order screens: tracking-number search and the parcels panel."""

from __future__ import annotations

import html
import re
from decimal import Decimal

from erp.extensions import db
from erp.orders.hooks import tracking_numbers_for
from erp.orders.models import OrderState
from erp.shipping.models import CustomsForm, Parcel, ParcelLine, ParcelState


def _parcel(order, service, *, number, tracking, state=ParcelState.labelled, sequence=1):
    line = order.lines[0]
    parcel = Parcel(number=number, order_id=order.id, service_id=service.id, sequence=sequence,
                    state=state, tracking_number=tracking, weight_g=400, length_mm=250,
                    width_mm=180, height_mm=50, declared_value=Decimal("19.80"), currency="EUR",
                    customs_form=CustomsForm.cn22)
    parcel.lines.append(ParcelLine(order_line_id=line.id, sku_id=line.sku_id, quantity=2,
                                   description="Cotton T-shirt", hs_code="610910",
                                   origin_country="CN", net_weight_g=360,
                                   unit_value=Decimal("9.90")))
    db.session.add(parcel)
    db.session.flush()
    return parcel


def _order_numbers(response) -> set[str]:
    return set(re.findall(r">(WEB-\d+)</a>", response.get_data(as_text=True)))


def test_order_search_finds_tracking_and_parcel_numbers(client, login_as, create_order,
                                                        stocked_sku, shipping_setup):
    tee = stocked_sku("TEE-1", 10)
    first = create_order([(tee, 2)], number="WEB-2001", state=OrderState.packed)
    second = create_order([(tee, 1)], number="WEB-2002", state=OrderState.packed)
    _parcel(first, shipping_setup["post"], number="PCL-2026-000001", tracking="RR100000003CN")
    _parcel(second, shipping_setup["post"], number="PCL-2026-000002", tracking="RR100000017CN")
    db.session.commit()
    login_as("customer_service")
    assert _order_numbers(client.get("/orders/?q=RR 100 000 003 CN")) == {"WEB-2001"}
    assert _order_numbers(client.get("/orders/?q=rr100000017cn")) == {"WEB-2002"}
    assert _order_numbers(client.get("/orders/?q=PCL-2026-000002")) == {"WEB-2002"}
    assert _order_numbers(client.get("/orders/?q=RR999999999CN")) == set()


def test_order_page_lists_parcels_and_api_numbers_skip_voided(client, login_as, create_order,
                                                              stocked_sku, shipping_setup):
    tee = stocked_sku("TEE-1", 10)
    order = create_order([(tee, 2)], number="WEB-2003", state=OrderState.packed)
    _parcel(order, shipping_setup["post"], number="PCL-2026-000003", tracking="RR100000025CN")
    _parcel(order, shipping_setup["post"], number="PCL-2026-000004", tracking="RR100000034CN",
            state=ParcelState.voided, sequence=2)
    db.session.commit()
    assert tracking_numbers_for([order.id]) == {order.id: ["RR100000025CN"]}
    login_as("customer_service")
    page = html.unescape(client.get(f"/orders/{order.id}").get_data(as_text=True))
    assert "PCL-2026-000003" in page
    assert "RR100000025CN" in page
    assert "voided" in page
    assert "No parcels yet" not in page


def test_order_page_without_parcels_says_so(client, login_as, create_order, stocked_sku):
    order = create_order([(stocked_sku("TEE-1", 1), 1)], number="WEB-2004")
    db.session.commit()
    login_as("customer_service")
    assert "No parcels yet" in client.get(f"/orders/{order.id}").get_data(as_text=True)


def test_api_order_shows_tracking_numbers(client, create_order, stocked_sku, shipping_setup):
    from erp.orders.services import create_api_token

    tee = stocked_sku("TEE-1", 10)
    order = create_order([(tee, 2)], number="WEB-2005", state=OrderState.shipped)
    _parcel(order, shipping_setup["post"], number="PCL-2026-000005", tracking="RR100000003CN")
    _token, plaintext = create_api_token("shop", actor=None)
    db.session.commit()
    response = client.get("/api/v1/orders/WEB-2005",
                          headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 200
    assert response.get_json()["state"] == "shipped"
    assert response.get_json()["tracking_numbers"] == ["RR100000003CN"]
