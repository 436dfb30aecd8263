"""The service page's warehouses and goods: which warehouses it ships from, what it accepts."""

from __future__ import annotations

import html

from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.shipping.services.goods import limits_of
from erp.shipping.services.service_warehouses import ships_from
from erp.warehouse import services as warehouse_services


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_set_warehouses_and_goods_limits_on_the_service_page(client, login_as, shipping_setup,
                                                             dummy_warehouse):
    lax = warehouse_services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                              actor=None)
    post = shipping_setup["post"]
    db.session.commit()
    login_as("warehouse")
    page = text(client.get(f"/shipping/services/{post.id}"))
    assert "every warehouse" in page
    assert 'name="limit_battery_in_equipment"' in page

    response = client.post(f"/shipping/services/{post.id}/goods", data={
        "warehouses": [str(lax.id)], "limit_battery_in_equipment": "2", "limit_magnet": "0"})
    assert response.status_code == 302
    db.session.expire_all()
    assert limits_of([post.id])[post.id] == {"battery_in_equipment": 2, "magnet": 0}
    assert [w.code for w in post.warehouses] == ["US-LAX"]
    assert ships_from(post, lax.id)
    assert not ships_from(post, dummy_warehouse.id)
    page = text(client.get(f"/shipping/services/{post.id}"))
    assert "at most 2 cells a parcel" in page
    assert "magnet" in page
    actions = set(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "shipping_service")))
    assert {"shipping_service.warehouses", "shipping_service.goods_limits"} <= actions

    bad = client.post(f"/shipping/services/{post.id}/goods", data={"limit_liquid": "-1"})
    assert bad.status_code == 422
    assert "must be a whole number" in text(bad)
    db.session.expire_all()
    assert limits_of([post.id])[post.id] == {"battery_in_equipment": 2, "magnet": 0}


def test_only_shipping_managers_set_goods(client, login_as, shipping_setup):
    post = shipping_setup["post"]
    db.session.commit()
    login_as("customer_service")
    assert client.post(f"/shipping/services/{post.id}/goods",
                       data={"limit_magnet": "0"}).status_code == 403
    assert 'name="limit_magnet"' not in text(client.get(f"/shipping/services/{post.id}"))
