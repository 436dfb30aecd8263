"""The storefront JSON API: bearer tokens, order intake, order status, stock, OpenAPI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent, utcnow
from erp.extensions import db
from erp.orders import services
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
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


def test_identical_repost_answers_200_with_the_existing_order(client, token, dummy_sku):
    assert client.post("/api/v1/orders", json=payload(), headers=auth(token)).status_code == 201
    lines = db.session.scalar(select(func.count()).select_from(CustomerOrderLine))
    audits = db.session.scalar(select(func.count()).select_from(AuditEvent))
    # the same order as the storefront may resend it: lines in another order, a barcode for a
    # code, spaces around text, the time in another zone, money as a number
    same = payload(customer_name=" Anna Schmidt ", placed_at="2026-11-20T11:15:00+01:00",
                   shipping_charge=4.9, lines=list(reversed(payload()["lines"])))
    response = client.post("/api/v1/orders", json=same, headers=auth(token))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["customer_name"] == "Anna Schmidt"
    assert order_count() == 1
    assert db.session.scalar(select(func.count()).select_from(CustomerOrderLine)) == lines
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audits


def test_repost_with_other_values_answers_409_naming_each_difference(client, token,
                                                                     dummy_sku):
    assert client.post("/api/v1/orders", json=payload(), headers=auth(token)).status_code == 201
    lines = db.session.scalar(select(func.count()).select_from(CustomerOrderLine))
    changed = payload(customer_name="Someone Else", shipping_service="EXPRESS", lines=[
        {"sku": "TS-RED-M", "quantity": 3, "unit_price": "19.90"}])
    changed["shipping_address"]["city"] = "Potsdam"

    response = client.post("/api/v1/orders", json=changed, headers=auth(token))

    assert response.status_code == 409
    body = response.get_json()
    assert body["differences"] == {
        "customer_name": '"Someone Else" here, "Anna Schmidt" stored',
        "shipping_address.city": '"Potsdam" here, "Berlin" stored',
        "shipping_service": '"EXPRESS" here, nothing stored',
        "lines": "SKU TS-RED-M lines 3 at 19.9 != 1 at 19.9, 2 at 19.9 stored"}
    assert 'Order "WEB-1001" exists already with different values' in body["error"]
    assert order_count() == 1
    assert db.session.scalar(select(func.count()).select_from(CustomerOrderLine)) == lines
    order = db.session.scalar(select(CustomerOrder))
    assert order.customer_name == "Anna Schmidt"


@pytest.mark.parametrize(("lines", "expected"), [
    ([{"sku": "TS-RED-M", "quantity": 2, "unit_price": "19.90"}],
     "SKU TS-RED-M quantity 2 != 3 stored"),
    ([{"sku": "TS-RED-M", "quantity": 3, "unit_price": "18"}],
     "SKU TS-RED-M unit price 18 != 19.9 stored"),
    ([{"sku": "TS-RED-M", "quantity": 3, "unit_price": "19.90"},
      {"sku": "TS-BLU-L", "quantity": 1, "unit_price": "5"}],
     "SKU TS-BLU-L is not in the stored order"),
    ([{"sku": "TS-BLU-L", "quantity": 3, "unit_price": "19.90"}],
     "SKU TS-BLU-L is not in the stored order; SKU TS-RED-M of the stored order is missing "
     "here"),
])
def test_repost_with_other_lines_names_sku_and_quantities(client, token, dummy_sku, create_sku,
                                                         lines, expected):
    create_sku("TS-BLU-L")
    db.session.commit()
    one_line = payload(lines=[{"sku": "TS-RED-M", "quantity": 3, "unit_price": "19.90"}])
    assert client.post("/api/v1/orders", json=one_line, headers=auth(token)).status_code == 201
    response = client.post("/api/v1/orders", json=payload(lines=lines), headers=auth(token))
    assert response.status_code == 409
    assert response.get_json()["differences"] == {"lines": expected}


def test_line_above_review_quantity_holds_the_order_with_the_reason(client, token, dummy_sku):
    lines = [{"sku": "TS-RED-M", "quantity": 100, "unit_price": 1},
             {"sku": "4006381333931", "quantity": 101, "unit_price": 1}]
    response = client.post("/api/v1/orders", json=payload(lines=lines), headers=auth(token))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["state"] == "on_hold"
    assert body["hold_reason"] == "Review: quantity above 100 on TS-RED-M x 101"
    order = db.session.scalar(select(CustomerOrder))
    assert order.state is OrderState.on_hold
    assert order.hold_reason == "Review: quantity above 100 on TS-RED-M x 101"
    [event] = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customer_order.on_hold")).all()
    assert event.changes["state"] == ["new", "on_hold"]
    assert event.changes["note"] == "Review: quantity above 100 on TS-RED-M x 101"


def test_review_quantity_is_a_setting(client, token, dummy_sku):
    from erp.core import services as core_services

    core_services.update_settings({"order_review_quantity": "5"}, actor=None)
    db.session.commit()
    first = payload(number="WEB-1", lines=[{"sku": "TS-RED-M", "quantity": 5, "unit_price": 1}])
    second = payload(number="WEB-2", lines=[{"sku": "TS-RED-M", "quantity": 6, "unit_price": 1}])
    assert client.post("/api/v1/orders", json=first,
                       headers=auth(token)).get_json()["state"] == "new"
    body = client.post("/api/v1/orders", json=second, headers=auth(token)).get_json()
    assert (body["state"], body["hold_reason"]) == (
        "on_hold", "Review: quantity above 5 on TS-RED-M x 6")


def test_order_dated_more_than_a_day_ahead_is_refused(client, token, dummy_sku):
    ahead = (utcnow() + timedelta(days=1, minutes=5)).isoformat()
    response = client.post("/api/v1/orders", json=payload(placed_at=ahead), headers=auth(token))
    assert response.status_code == 422
    assert "more than a day ahead of now" in response.get_json()["errors"]["placed_at"]
    assert order_count() == 0
    soon = (utcnow() + timedelta(hours=23)).isoformat()
    response = client.post("/api/v1/orders", json=payload(placed_at=soon), headers=auth(token))
    assert response.status_code == 201


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
    assert set(doc["paths"]["/orders"]["post"]["responses"]) >= {"200", "201", "401", "409",
                                                                  "422"}

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


# --------------------------------------------------------------------------- intake stops what
# cannot ship: shipping's intake check (erp.shipping.services.carriers.intake_problems), with
# the packing tests' services: POST-REG takes 2,000 g, 600 mm on the longest side and 900 mm
# length + width + height, to twelve countries (not BR); EXPRESS needs a phone number.


def _to(country: str, postal_code: str = "01000-000") -> dict:
    return {"name": "Ana Souza", "address1": "Rua A 1", "city": "Sao Paulo",
            "postal_code": postal_code, "country": country}


@pytest.fixture
def services_on_file(shipping_setup, create_sku):
    """The shipping fixture's services, and a SKU too long for POST-REG (committed)."""
    create_sku("RUG-1", weight_g=900, length_mm=1200, width_mm=200, height_mm=200)
    create_sku("BOX-1", weight_g=900, length_mm=500, width_mm=400, height_mm=300)
    db.session.commit()
    return shipping_setup


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"shipping_service": "POST-REG", "shipping_address": _to("BR")}, "shipping_service",
     'Registered air mail ("POST-REG") does not serve BR; choose a service that does'),
    ({"shipping_service": "NOPE"}, "shipping_service",
     'no shipping service has the code "NOPE"; use the code of one of the ERP\'s services, or '
     "none for the packing bench to choose"),
    ({"shipping_service": "POST-REG",
      "lines": [{"sku": "TS-RED-M", "quantity": 12, "unit_price": 1}]}, "lines",
     "the goods weigh an estimated 2,160 g (catalog weight x quantity); Registered air mail "
     '("POST-REG") takes at most 2,000 g a parcel'),
    ({"shipping_service": "POST-REG",
      "lines": [{"sku": "TS-RED-M", "quantity": 1, "unit_price": 1},
                {"sku": "RUG-1", "quantity": 1, "unit_price": 1}]}, "lines[1].sku",
     'RUG-1 is 1,200 mm long; Registered air mail ("POST-REG") takes at most 600 mm on the '
     "longest side"),
    ({"shipping_service": "POST-REG",
      "lines": [{"sku": "BOX-1", "quantity": 1, "unit_price": 1}]}, "lines[0].sku",
     'BOX-1 measures 1,200 mm length + width + height; Registered air mail ("POST-REG") takes '
     "at most 900 mm"),
    ({"shipping_service": "EXPRESS", "phone": None}, "phone",
     'is required by Express worldwide ("EXPRESS")'),
])
def test_order_its_service_cannot_ship_answers_422_naming_the_field(
        client, token, dummy_sku, services_on_file, changes, field, message):
    response = client.post("/api/v1/orders", json=payload(**changes), headers=auth(token))
    assert response.status_code == 422
    assert response.get_json()["errors"] == {field: message}
    assert order_count() == 0
    assert db.session.scalar(select(func.count()).select_from(CustomerOrderLine)) == 0


def test_order_to_a_country_outside_the_service_and_too_heavy_names_both(
        client, token, dummy_sku, services_on_file):
    response = client.post("/api/v1/orders", json=payload(
        shipping_service="POST-REG", shipping_address=_to("BR"),
        lines=[{"sku": "TS-RED-M", "quantity": 20, "unit_price": 1}]), headers=auth(token))
    assert response.status_code == 422
    assert set(response.get_json()["errors"]) == {"shipping_service", "lines"}


def test_inactive_service_is_refused(client, token, dummy_sku, services_on_file):
    services_on_file["post"].active = False
    db.session.commit()
    response = client.post("/api/v1/orders", json=payload(shipping_service="POST-REG"),
                           headers=auth(token))
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "shipping_service": 'Registered air mail ("POST-REG") is inactive; choose an active '
                            "service"}
    assert order_count() == 0


def test_order_its_service_can_ship_is_taken(client, token, dummy_sku, services_on_file):
    # 11 x 180 g = 1,980 g: within the 2,000 g of POST-REG
    response = client.post("/api/v1/orders", json=payload(
        shipping_service="POST-REG",
        lines=[{"sku": "TS-RED-M", "quantity": 11, "unit_price": 1}]), headers=auth(token))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["shipping_service"] == "POST-REG"
    response = client.post("/api/v1/orders", json=payload(
        number="WEB-1002", shipping_service="EXPRESS", shipping_address=_to("US", "10001"),
        lines=[{"sku": "RUG-1", "quantity": 2, "unit_price": 1}]), headers=auth(token))
    assert response.status_code == 201, response.get_json()
    assert order_count() == 2


def test_payment_method_is_stored_lower_case_and_answered(client, token, dummy_sku):
    response = client.post("/api/v1/orders", json=payload(payment_method="PayPal"),
                           headers=auth(token))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["payment_method"] == "paypal"
    order = db.session.scalar(select(CustomerOrder))
    assert order.payment_method == "paypal"
    # a re-post with another method is another order's values: refused, naming the field
    again = client.post("/api/v1/orders", json=payload(payment_method="card"),
                        headers=auth(token))
    assert again.status_code == 409
    assert again.get_json()["differences"] == {
        "payment_method": '"card" here, "paypal" stored'}
    bad = client.post("/api/v1/orders", json=payload(number="WEB-PM-2", payment_method="pay pal"),
                      headers=auth(token))
    assert bad.status_code == 422
    assert "must be a short code" in bad.get_json()["errors"]["payment_method"]
