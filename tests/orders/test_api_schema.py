"""Property tests of the storefront API against its own OpenAPI document, with schemathesis.

Every operation of ``/api/v1/openapi.json`` is called in-process (WSGI) with a valid bearer
token, with data that fits the document (positive) and data that does not (negative), and each
answer must: never be a server error; use a status code the document lists; have the content
type the document gives; match the document's response schema; and, for negative data, be a
4xx refusal.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import func, select

from erp.extensions import db
from erp.orders import services
from erp.orders.models import CustomerOrder
from erp.orders.openapi import OPENAPI
from tests.orders.intake_data import payload

SCHEMA = schemathesis.openapi.from_dict(OPENAPI)
OPERATIONS = [("POST", "/orders"), ("GET", "/orders"), ("GET", "/orders/{number}"),
              ("POST", "/orders/{number}/cancel"), ("POST", "/orders/{number}/hold"),
              ("POST", "/orders/{number}/release"), ("POST", "/orders/{number}/address"),
              ("GET", "/events"), ("GET", "/products"), ("GET", "/stock"),
              ("GET", "/openapi.json")]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 15, GenerationMode.NEGATIVE: 15}


@pytest.fixture
def app_config() -> dict:
    """A high API limit: the generated requests must not run into the rate limit."""
    return {"ERP_API_RATE_LIMIT": "100000 per minute"}


@pytest.fixture
def token(app, dummy_admin, dummy_sku) -> str:
    """An active API token, with one active SKU (TS-RED-M) and one order (WEB-1001) in place."""
    _, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    client = app.test_client()
    response = client.post("/api/v1/orders", json=payload(),
                           headers={"Authorization": f"Bearer {plaintext}"})
    assert response.status_code == 201, response.get_json()
    return plaintext


def test_the_document_is_the_one_served(client):
    assert client.get("/api/v1/openapi.json").get_json() == OPENAPI
    assert {(method.upper(), path) for path, item in OPENAPI["paths"].items()
            for method in item} == set(OPERATIONS)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["positive", "negative"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS,
                         ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_api_conforms_to_its_document(app, token, method, path, mode):
    operation = SCHEMA[path][method]
    if mode is GenerationMode.NEGATIVE and not _can_be_negative(operation):
        pytest.skip("nothing in this operation's request can be made invalid")
    # A query string or path segment is text either way (an "object" and an "array" of
    # strings look alike on the wire), so only a body can be checked for refusal.
    rejects = mode is GenerationMode.NEGATIVE and "requestBody" in operation.definition.raw
    checks = CHECKS + ([negative_data_rejection] if rejects else [])
    headers = {"Authorization": f"Bearer {token}"}

    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(app=app, headers=headers)
        case.validate_response(response, checks=checks)

    run()


def _can_be_negative(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), [
    ("GET", "/orders/{number}", {"path_parameters": {"number": "WEB-1001"}}, 200),
    ("GET", "/orders/{number}", {"path_parameters": {"number": "NOPE"}}, 404),
    ("POST", "/orders", {"body": payload(number="WEB-3003")}, 201),
    ("POST", "/orders", {"body": payload()}, 200),
    ("POST", "/orders", {"body": payload(number="WEB-4004", currency="EURO")}, 422),
    ("POST", "/orders", {"body": payload(customer_name="Someone Else")}, 409),
    ("POST", "/orders", {"body": payload(number="WEB-5005", lines=[
        {"sku": "TS-RED-M", "quantity": 500, "unit_price": "1"}])}, 201),
    ("GET", "/stock", {"query": {"sku": ["TS-RED-M", "NOPE"]}}, 200),
    ("GET", "/stock", {}, 200),
    ("GET", "/orders", {"query": {"updated_since": "2000-01-01T00:00:00Z", "limit": 1}}, 200),
    ("GET", "/orders", {"query": {"after": "nope"}}, 400),
    ("GET", "/events", {"query": {"type": ["order.accepted"]}}, 200),
    ("GET", "/events", {"query": {"limit": 501}}, 400),
    ("GET", "/products", {"query": {"limit": 5}}, 200),
    ("POST", "/orders/{number}/address",
     {"path_parameters": {"number": "WEB-1001"}, "body": {"city": "Hamburg"}}, 200),
    ("POST", "/orders/{number}/address",
     {"path_parameters": {"number": "WEB-1001"}, "body": {"country": "Atlantis"}}, 422),
    ("POST", "/orders/{number}/release", {"path_parameters": {"number": "WEB-1001"}}, 409),
    ("POST", "/orders/{number}/hold",
     {"path_parameters": {"number": "WEB-1001"}, "body": {"reason": "Check"}}, 200),
    ("POST", "/orders/{number}/cancel",
     {"path_parameters": {"number": "WEB-1001"}, "body": {"reason": "Gone"}}, 200),
    ("POST", "/orders/{number}/cancel",
     {"path_parameters": {"number": "NOPE"}, "body": {"reason": "Gone"}}, 404),
], ids=["order", "no-order", "create", "duplicate", "refused", "conflict", "held",
        "stock-some", "stock-all", "changed-orders", "bad-cursor", "events", "events-limit",
        "products", "address", "address-refused", "release-refused", "hold",
        "cancel", "cancel-no-order"])
def test_known_answers_conform_to_the_document(app, token, method, path, kwargs, status):
    """Answers the generated data rarely reaches (an existing order, a 201) are checked too."""
    case = SCHEMA[path][method].Case(**kwargs, **(
        {"media_type": "application/json"} if "body" in kwargs else {}))
    response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status, response.text
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("app_config", [{"ERP_API_RATE_LIMIT": "1 per minute"}], ids=["1"])
def test_rate_limited_answer_conforms_to_the_document(app, token):
    case = SCHEMA["/stock"]["GET"].Case()
    response = case.call(app=app, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 429  # the token fixture's order used the one request
    case.validate_response(response, checks=CHECKS)


def test_positive_orders_are_really_stored(app, token):
    """The positive run's 201s are real orders: the document's example shape is accepted."""
    before = db.session.scalar(select(func.count()).select_from(CustomerOrder))
    response = app.test_client().post(
        "/api/v1/orders", json=payload(number="WEB-2002"),
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == before + 1


@pytest.mark.parametrize(("body", "content_type"), [
    (b"{", "application/json"), (b"null", "application/json"), (b"[]", "application/json"),
    (b'"text"', "application/json"), (b"\xff\xfe", "application/json"),
    (b'{"number": 1}', "text/plain"), (b'{"lines": "x"}', "application/json"),
    (b'{"lines": [null], "shipping_address": 5}', "application/json"),
    (b'{"number": "' + b"9" * 5000 + b'"}', "application/json"),
])
def test_malformed_bodies_are_4xx_never_500(client, token, body, content_type):
    response = client.post("/api/v1/orders", data=body, content_type=content_type,
                           headers={"Authorization": f"Bearer {token}"})
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert response.is_json
