"""Order intake services: validation shared by the API and the sheet, creation, idempotence."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders import services
from erp.orders.models import CustomerOrder, OrderState
from tests.orders.intake_data import payload


def test_a_valid_payload_is_cleaned():
    cleaned, errors = services.validate_order_payload(payload(
        shipping_address={"name": "A", "address1": "x", "city": "Paris", "postal_code": "75001",
                          "country": "france"}, placed_at="2026-11-20T10:15:00"))
    assert errors == {}
    assert cleaned["country"] == "FR"
    assert cleaned["currency"] == "EUR"
    assert cleaned["placed_at"] == datetime(2026, 11, 20, 10, 15, tzinfo=UTC)  # naive = UTC
    assert cleaned["shipping_charge"] == Decimal("4.90")
    assert cleaned["lines"][1] == {"sku": "4006381333931", "quantity": 1,
                                   "unit_price": Decimal("19.9")}
    assert cleaned["channel"] == "webshop"


def test_missing_fields_are_named():
    _, errors = services.validate_order_payload({})
    assert errors == {"number": "is required", "customer_name": "is required",
                      "placed_at": "is required", "shipping_address": "is required",
                      "currency": "is required", "lines": "is required"}
    _, errors = services.validate_order_payload(payload(lines=[], shipping_address={}))
    assert errors["lines"] == "needs at least one line"
    for field in ("name", "address1", "city", "country"):
        assert errors[f"shipping_address.{field}"] == "is required"


@pytest.mark.parametrize(("changes", "field", "message"), [
    ({"placed_at": "yesterday"}, "placed_at", "ISO 8601"),
    ({"email": "not-an-email"}, "email", "not an email"),
    ({"currency": "EURO"}, "currency", "ISO 4217"),
    ({"currency": "XXX"}, "currency", "not a currency customers pay in"),
    ({"currency": "xau"}, "currency", "not a currency customers pay in"),
    ({"ioss_number": "IM12"}, "ioss_number", "IM followed by 10 digits"),
    ({"number": "N" * 41}, "number", "too long"),
    ({"customer_name": 12}, "customer_name", "must be text"),
    ({"shipping_charge": "-1"}, "shipping_charge", "negative"),
    ({"priority": "high"}, "priority", "whole number"),
    ({"lines": "abc"}, "lines", "must be a list"),
    ({"lines": [{"sku": "X", "quantity": "2", "unit_price": 1}]}, "lines[0].quantity",
     "must be a whole number"),
    ({"lines": [{"sku": "X", "quantity": 1.5, "unit_price": 1}]}, "lines[0].quantity",
     "must be a whole number"),
    ({"lines": [{"sku": "X", "quantity": 0, "unit_price": 1}]}, "lines[0].quantity",
     "at least 1"),
    ({"lines": [{"sku": "X", "quantity": True, "unit_price": 1}]}, "lines[0].quantity",
     "whole number"),
    ({"lines": [{"sku": "X", "quantity": 1, "unit_price": "1.2.3"}]}, "lines[0].unit_price",
     "must be a number"),
    ({"lines": [{"sku": "X", "quantity": 1, "unit_price": [1]}]}, "lines[0].unit_price",
     "must be a number"),
    ({"lines": [{"sku": 5, "quantity": 1, "unit_price": 1}]}, "lines[0].sku", "must be text"),
    ({"lines": ["x"]}, "lines[0]", "must be an object"),
    ({"shipping_address": "Berlin"}, "shipping_address", "must be an object"),
])
def test_bad_values_are_refused_naming_the_field(changes, field, message):
    _, errors = services.validate_order_payload(payload(**changes))
    assert message in errors[field], errors


def test_country_and_postal_code_rules():
    def address(country, postal_code=None):
        return payload(shipping_address={"name": "A", "address1": "x", "city": "c",
                                         "country": country, "postal_code": postal_code})

    _, errors = services.validate_order_payload(address("XX", "1"))
    assert "ISO 3166-1" in errors["shipping_address.country"]
    _, errors = services.validate_order_payload(address("US"))
    assert errors["shipping_address.postal_code"] == "is required for addresses in US"
    for country in ("HK", "AE", "QA", "IE"):
        assert country in services.NO_POSTAL_CODE_COUNTRIES
        assert services.validate_order_payload(address(country))[1] == {}
    _, errors = services.validate_order_payload(address("DE", "1" * 21))
    assert "too long" in errors["shipping_address.postal_code"]


def test_create_order_is_idempotent_on_the_number(app, dummy_sku):
    cleaned, errors = services.validate_order_payload(payload())
    assert errors == {}
    order, created = services.create_order(cleaned, actor=None)
    db.session.commit()
    assert created
    assert order.state is OrderState.new
    assert [(line.sku_id, line.quantity) for line in order.lines] == [(dummy_sku.id, 2),
                                                                     (dummy_sku.id, 1)]
    again, created = services.create_order(cleaned, actor=None)
    assert not created
    assert again.id == order.id
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == 1
    events = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "customer_order")).all()
    assert events == ["customer_order.created"]


def test_unknown_sku_rejects_the_whole_order(app, dummy_sku):
    cleaned, _ = services.validate_order_payload(payload(lines=[
        {"sku": "TS-RED-M", "quantity": 1, "unit_price": 1},
        {"sku": "NOPE", "quantity": 1, "unit_price": 1}]))
    with pytest.raises(services.OrderRejected) as err:
        services.create_order(cleaned, actor=None)
    assert list(err.value.errors) == ["lines[1].sku"]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == 0


def test_sku_codes_resolve_case_insensitively(app, dummy_sku):
    assert services.resolve_skus(["ts-red-m", "4006381333931", "nope"]) == {
        "ts-red-m": dummy_sku.id, "4006381333931": dummy_sku.id}


def test_created_order_reads_as_it_was_stored(app, dummy_sku):
    """The objects create_order returns (written with Core) match a reload from the database."""
    from erp.orders.api import order_json
    cleaned, _ = services.validate_order_payload(payload(placed_at="2026-11-20T12:15:00+02:00"))
    order, created = services.create_order(cleaned, actor=None)
    assert created
    before = order_json(order)
    assert before["shipping_charge"] == "4.9000"
    assert before["placed_at"] == "2026-11-20T10:15:00+00:00"
    assert [line.sku.code for line in order.lines] == ["TS-RED-M", "TS-RED-M"]
    db.session.commit()
    db.session.expire_all()
    assert order_json(db.session.get(CustomerOrder, order.id)) == before
    assert order.created_at is not None
    event = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "customer_order.created")).one()
    assert (event.entity_id, event.entity_ref) == (str(order.id), "WEB-1001")
    assert event.changes == {"channel": "webshop", "lines": 2, "country": "DE"}


def test_placed_at_may_be_at_most_a_day_ahead():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    _, errors = services.validate_order_payload(payload(placed_at="2026-11-21T10:15:00Z"),
                                                now=now)
    assert errors == {}
    _, errors = services.validate_order_payload(payload(placed_at="2026-11-21T10:16:00Z"),
                                                now=now)
    assert errors == {"placed_at": "is 2026-11-21T10:16+00:00, more than a day ahead of now "
                                   "(2026-11-20T10:15+00:00); an order cannot be placed in the "
                                   "future"}


def test_review_reason_names_the_lines_and_fits_the_column():
    assert services.review_reason([("A", 100), ("B", 3)], 100) is None
    assert services.review_reason([("A", 101), ("B", 3), ("C", 1000)], 100) == (
        "Review: quantity above 100 on A x 101, C x 1,000")
    long = services.review_reason([(f"SKU-{i:04d}", 500) for i in range(30)], 100)
    assert len(long) == 200
    assert long.endswith("...")
