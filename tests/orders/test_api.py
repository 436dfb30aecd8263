"""The storefront JSON API: bearer tokens, order intake, order status, stock, OpenAPI."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.orders import services
from erp.orders.models import CustomerOrder, CustomerOrderLine
from tests.orders.intake_data import payload


@pytest.fixture
def token(app, dummy_admin):
    """Return the plaintext of an active API token."""
    _, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CustomerOrder))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}])
def test_missing_or_wrong_token_is_refused(client, token, dummy_sku, headers):
    for method, url in (("POST", "/api/v1/orders"), ("GET", "/api/v1/orders/WEB-1001"),
                        ("GET", "/api/v1/stock")):
        response = client.open(url, method=method, json=payload(), headers=headers)
        assert response.status_code == 401, url
        assert response.is_json
        assert "error" in response.get_json()
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert order_count() == 0


def test_revoked_token_is_refused(client, token, dummy_sku, dummy_admin):
    assert client.get("/api/v1/stock", headers=auth(token)).status_code == 200
    services.revoke_api_token(services.find_api_token(token), actor=dummy_admin)
    db.session.commit()
    response = client.post("/api/v1/orders", json=payload(), headers=auth(token))
    assert response.status_code == 401
    assert order_count() == 0


def test_a_session_is_not_a_token(client, login_as, dummy_sku):
    login_as("admin")
    assert client.post("/api/v1/orders", json=payload()).status_code == 401


def test_create_answers_201_with_the_order(client, token, dummy_sku):
    response = client.post("/api/v1/orders", json=payload(), headers=auth(token))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["number"] == "WEB-1001"
    assert body["state"] == "new"
    assert body["shipping_address"]["country"] == "DE"
    assert body["lines"] == [
        {"sku": "TS-RED-M", "quantity": 2, "unit_price": "19.9000", "allocated_quantity": 0},
        {"sku": "TS-RED-M", "quantity": 1, "unit_price": "19.9000", "allocated_quantity": 0}]
    assert body["tracking_numbers"] == []
    assert body["placed_at"].startswith("2026-11-20T10:15:00")
    assert services.find_api_token(token).last_used_at is not None


def test_duplicate_number_answers_200_and_writes_nothing(client, token, dummy_sku):
    assert client.post("/api/v1/orders", json=payload(), headers=auth(token)).status_code == 201
    lines = db.session.scalar(select(func.count()).select_from(CustomerOrderLine))
    changed = payload(customer_name="Someone Else", lines=[
        {"sku": "TS-RED-M", "quantity": 9, "unit_price": 1}])
    response = client.post("/api/v1/orders", json=changed, headers=auth(token))
    assert response.status_code == 200
    assert response.get_json()["customer_name"] == "Anna Schmidt"
    assert order_count() == 1
    assert db.session.scalar(select(func.count()).select_from(CustomerOrderLine)) == lines


@pytest.mark.parametrize(("changes", "field"), [
    ({"shipping_address": {"name": "A", "address1": "x", "city": "c", "country": "ZZ",
                           "postal_code": "1"}}, "shipping_address.country"),
    ({"shipping_address": {"name": "A", "address1": "x", "city": "c", "country": "US"}},
     "shipping_address.postal_code"),
    ({"lines": [{"sku": "TS-RED-M", "quantity": 1, "unit_price": 1},
                {"sku": "UNKNOWN", "quantity": 1, "unit_price": 1}]}, "lines[1].sku"),
    ({"customer_name": "x" * 121}, "customer_name"),
    ({"lines": [{"sku": "TS-RED-M", "quantity": "two", "unit_price": 1}]},
     "lines[0].quantity"),
    ({"number": 1001}, "number"),
    ({"shipping_charge": {"amount": 1}}, "shipping_charge"),
])
def test_bad_input_answers_422_with_field_errors(client, token, dummy_sku, changes, field):
    response = client.post("/api/v1/orders", json=payload(**changes), headers=auth(token))
    assert response.status_code == 422
    assert field in response.get_json()["errors"], response.get_json()
    assert order_count() == 0
    assert db.session.scalar(select(func.count()).select_from(CustomerOrderLine)) == 0


def test_non_json_answers_400(client, token):
    response = client.post("/api/v1/orders", data="number=1", headers=auth(token),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    response = client.post("/api/v1/orders", data="{not json", headers=auth(token),
                           content_type="application/json")
    assert response.status_code == 400
    response = client.post("/api/v1/orders", json=[1, 2], headers=auth(token))
    assert response.status_code == 422


def test_get_order(client, token, dummy_sku):
    assert client.get("/api/v1/orders/WEB-1001", headers=auth(token)).status_code == 404
    client.post("/api/v1/orders", json=payload(), headers=auth(token))
    response = client.get("/api/v1/orders/WEB-1001", headers=auth(token))
    assert response.status_code == 200
    body = response.get_json()
    assert body["state"] == "new"
    assert body["tracking_numbers"] == []
    assert len(body["lines"]) == 2


def test_stock_lists_available_quantities(client, token, create_sku, create_bin,
                                          receive_stock):
    aaa = create_sku("AAA-1")
    create_sku("BBB-2")
    receive_stock(aaa, create_bin(), 7)
    receive_stock(aaa, create_bin(), 5)
    create_sku("OLD-1", status="discontinued")
    db.session.commit()
    response = client.get("/api/v1/stock", headers=auth(token))
    assert response.status_code == 200
    assert response.get_json() == {"stock": [
        {"sku": "AAA-1", "available": 12, "inbound": 0, "blocked": 0},
        {"sku": "BBB-2", "available": 0, "inbound": 0, "blocked": 0}]}
    response = client.get("/api/v1/stock?sku=bbb-2&sku=NOPE", headers=auth(token))
    assert response.get_json() == {"stock": [
        {"sku": "BBB-2", "available": 0, "inbound": 0, "blocked": 0}]}


def test_stock_available_is_what_allocation_can_reserve(
        client, token, dummy_warehouse, create_sku, create_bin, receive_stock, create_order):
    """Receiving is inbound; quarantine, frozen and inactive bins are blocked."""
    from erp.orders.services import allocate_order
    from erp.warehouse import services as warehouse_services

    sku = create_sku("AAA-1")
    shelf, counted, retired = create_bin(), create_bin(), create_bin()
    receive_stock(sku, shelf, 10)
    warehouse_services.reserve(sku, shelf, 3, ref_type="test", ref_id=1, actor=None)
    receive_stock(sku, create_bin("RCV-01", kind="receiving"), 4)
    receive_stock(sku, create_bin("QUA-01", kind="quarantine"), 3)
    receive_stock(sku, create_bin("RET-01", kind="returns"), 1)
    receive_stock(sku, counted, 5)
    warehouse_services.open_cycle_count(dummy_warehouse, location_ids=[counted.id], actor=None)
    warehouse_services.update_location(retired, kind="storage", pick_sequence=5, active=False,
                                       actor=None)
    receive_stock(sku, retired, 2)  # a posting does not ask whether the bin is active
    db.session.commit()
    body = client.get("/api/v1/stock?sku=AAA-1", headers=auth(token)).get_json()
    assert body == {"stock": [{"sku": "AAA-1", "available": 7, "inbound": 4, "blocked": 11}]}

    order = create_order([(sku, 8)])
    allocate_order(order, actor=None)
    assert order.lines[0].allocated_qty == 7  # all that was offered, and no more
    db.session.commit()
    body = client.get("/api/v1/stock?sku=AAA-1", headers=auth(token)).get_json()
    assert body["stock"][0]["available"] == 0


def test_openapi_document_is_public_and_describes_the_paths(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.1")
    assert {"/orders", "/orders/{number}", "/stock", "/openapi.json"} <= set(doc["paths"])
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert set(doc["paths"]["/orders"]["post"]["responses"]) >= {"200", "201", "401", "422"}

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    for ref in refs(doc):
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref
