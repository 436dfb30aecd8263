"""Webhook screens: endpoints, secret shown once, deliveries, export, replay, roles, Chinese."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from markupsafe import escape
from sqlalchemy import select

from erp.core import events, webhooks
from erp.core.webhooks import DeliveryState, WebhookDelivery, WebhookEndpoint
from erp.extensions import db
from tests.core.webhook_receiver import Receiver

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{32}")


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def admin(login_as):
    return login_as("admin")


def register(client, receiver, **overrides):
    data = {"name": "Web store", "url": receiver.url,
            "event_types": ["order.allocated", "order.shipped"], "active": "y", **overrides}
    return client.post("/admin/webhooks/new", data=data)


def test_admin_registers_an_endpoint_and_sees_its_secret_once(client, admin, receiver):
    page = client.get("/admin/webhooks/new").get_data(as_text=True)
    assert "order.allocated" in page
    # with what each type means
    assert str(escape(str(events.EVENT_TYPES["order.allocated"]))) in page
    assert 'name="csrf_token"' in page
    response = register(client, receiver)
    assert response.status_code == 200
    secret = SECRET.search(response.get_data(as_text=True)).group(0)
    endpoint = db.session.scalar(select(WebhookEndpoint))
    assert endpoint.secret == secret
    assert endpoint.event_types == ["order.allocated", "order.shipped"]
    detail = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert secret not in detail
    assert endpoint.secret_hint in detail
    assert secret not in client.get("/admin/webhooks").get_data(as_text=True)


def test_a_bad_address_is_refused_next_to_its_field(client, admin):
    response = client.post("/admin/webhooks/new", data={
        "name": "Shop", "url": "ftp://shop.example.com", "event_types": []})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "http:// or https://" in page
    assert "Choose at least one event type." in page
    assert db.session.scalar(select(WebhookEndpoint)) is None


def test_edit_disable_and_rotate(client, admin, receiver):
    register(client, receiver)
    endpoint = db.session.scalar(select(WebhookEndpoint))
    old = endpoint.secret
    response = client.post(f"/admin/webhooks/{endpoint.id}/edit", data={
        "name": "Store", "url": receiver.url, "event_types": ["order.shipped"]})
    assert response.status_code == 302
    db.session.refresh(endpoint)
    assert (endpoint.name, endpoint.active, endpoint.event_types) == \
        ("Store", False, ["order.shipped"])
    response = client.post(f"/admin/webhooks/{endpoint.id}/rotate")
    new = SECRET.search(response.get_data(as_text=True)).group(0)
    db.session.refresh(endpoint)
    assert new == endpoint.secret != old


def test_deliveries_list_filter_detail_export_and_replay(client, admin, receiver):
    register(client, receiver)
    for number in ("SO-1", "SO-2"):
        events.emit("order.allocated", {"number": number}, key=events.order_key(number))
    db.session.commit()
    receiver.mode = "fail"
    webhooks.run()
    first, second = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
    page = client.get("/admin/webhooks/deliveries?state=pending").get_data(as_text=True)
    assert f"#{first.id}" in page
    assert f"#{second.id}" in page
    page = client.get(f"/admin/webhooks/deliveries?event_id={first.event.event_id}")
    assert f"#{second.id}" not in page.get_data(as_text=True)
    assert "No delivery matches." in client.get(
        "/admin/webhooks/deliveries?state=dead").get_data(as_text=True)
    detail = client.get(f"/admin/webhooks/deliveries/{first.id}").get_data(as_text=True)
    assert "HTTP 500" in detail
    assert "receiver broke" in detail
    assert first.event.event_id in detail
    endpoint_page = client.get(f"/admin/webhooks/{first.endpoint_id}").get_data(as_text=True)
    assert "0.0 %" in endpoint_page
    assert "HTTP 500" in endpoint_page
    export = client.get("/admin/webhooks/deliveries/export.xlsx?state=pending")
    assert export.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(export.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Delivery", "Endpoint", "Event id")
    assert sorted(r[2] for r in rows[1:]) == sorted([first.event.event_id,
                                                     second.event.event_id])
    response = client.post(f"/admin/webhooks/deliveries/{first.id}/replay")
    assert response.status_code == 302
    replays = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.replay)).all()
    assert [(d.outbox_event_id, d.state, d.requested_by.username) for d in replays] == \
        [(first.outbox_event_id, DeliveryState.pending, "admin")]


def test_replay_a_period_from_the_endpoint_page(client, admin, receiver):
    register(client, receiver)
    endpoint = db.session.scalar(select(WebhookEndpoint))
    events.emit("order.allocated", {"number": "SO-1"}, key=events.order_key("SO-1"))
    db.session.commit()
    webhooks.run()
    response = client.post(f"/admin/webhooks/{endpoint.id}/replay", data={
        "since": "2000-01-01T00:00", "until": "2100-01-01T00:00"})
    assert response.status_code == 302
    assert len(db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.replay)).all()) == 1
    response = client.post(f"/admin/webhooks/{endpoint.id}/replay", data={
        "since": "2000-01-02T00:00", "until": "2000-01-01T00:00"}, follow_redirects=True)
    assert "start is before its end" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ["manager", "purchasing", "warehouse", "customer_service"])
def test_only_admins_manage_webhooks(client, login_as, role):
    login_as(role)
    for path in ("/admin/webhooks", "/admin/webhooks/new", "/admin/webhooks/deliveries",
                 "/admin/webhooks/deliveries/export.xlsx"):
        assert client.get(path).status_code == 403, path
    assert client.post("/admin/webhooks/new", data={"name": "x"}).status_code == 403


def test_forms_need_the_csrf_token(app, client, admin, receiver):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        response = register(client, receiver)
        assert response.status_code in (400, 422)
        assert db.session.scalar(select(WebhookEndpoint)) is None
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_the_screens_read_in_chinese(client, create_user, login, receiver):
    create_user("zhadmin", roles=("admin",), language="zh_Hans_CN")
    login("zhadmin")
    webhooks.create_endpoint(name="Shop", url=receiver.url, event_types=["order.shipped"],
                             actor=None)
    db.session.commit()
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "No webhook endpoint yet." not in page
    assert "Webhook" in page  # the proper noun stays
    new = client.get("/admin/webhooks/new").get_data(as_text=True)
    assert "事件类型" in new
    deliveries = client.get("/admin/webhooks/deliveries").get_data(as_text=True)
    assert "投递" in deliveries
