"""Supplier services: every rule and refusal, price-list items, preferred switching, audit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core import services as core_services
from erp.core.errors import DomainError, ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import Supplier, SupplierItem
from erp.procurement.services import SupplierError

SUPPLIER = {"code": "sztex", "name": "Shenzhen Textiles", "country": "China", "currency": "cny"}


def events(action: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    return list(db.session.scalars(stmt))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def refused(error_type, field: str, call, *args, **kwargs) -> DomainError:
    """Run ``call``, expect ``error_type`` naming ``field``; roll back; return the error."""
    with pytest.raises(error_type) as info:
        call(*args, **kwargs)
    db.session.rollback()
    assert info.value.field == field, str(info.value)
    return info.value


# --------------------------------------------------------------------------- suppliers


def test_create_supplier_normalises_and_audits(app, create_user):
    buyer = create_user("buyer", roles=("purchasing",))
    supplier = services.create_supplier(
        **SUPPLIER, actor=buyer, contact_name="  Li Wei ", email="sales@sztex.example.com",
        phone="+86 755 1234 5678", address="88 Bao'an Road\nShenzhen", payment_terms="",
        lead_time_days="21")
    db.session.commit()
    assert (supplier.code, supplier.country, supplier.currency) == ("SZTEX", "CN", "CNY")
    assert (supplier.contact_name, supplier.payment_terms) == ("Li Wei", None)
    assert supplier.lead_time_days == 21
    assert supplier.active is True
    [event] = events("supplier.created")
    assert (event.actor_id, event.entity_type, event.entity_ref) == (buyer.id, "supplier",
                                                                       "SZTEX")
    assert event.changes["code"] == [None, "SZTEX"]
    assert event.changes["country"] == [None, "CN"]
    assert "payment_terms" not in event.changes


def test_create_supplier_defaults_lead_time_to_14_days(app):
    supplier = services.create_supplier(**SUPPLIER, actor=None)
    assert supplier.lead_time_days == 14


def test_create_supplier_with_a_taken_code_fails(create_supplier):
    create_supplier("SZTEX")
    err = refused(SupplierError, "code", services.create_supplier, **SUPPLIER, actor=None)
    assert 'To create supplier "SZTEX"' in str(err)
    assert count(Supplier) == 1


@pytest.mark.parametrize(("field", "value", "message"), [
    ("code", "X", "is not a supplier code"),
    ("code", "HAS SPACE", "is not a supplier code"),
    ("code", "A" * 21, "is not a supplier code"),
    ("code", "", "is not a supplier code"),
    ("name", "  ", "needs a name"),
    ("name", "N" * 201, "at most 200 characters"),
    ("country", "Atlantis", "is not a country"),
    ("country", "", "a country is required"),
    ("currency", "XYZ", "not an ISO 4217 currency"),
    ("email", "not-an-email", "is not an email address"),
    ("phone", "call me", "is not a phone number"),
    ("contact_name", "C" * 121, "at most 120 characters"),
    ("address", "A" * 1001, "at most 1,000 characters"),
    ("payment_terms", "P" * 121, "at most 120 characters"),
    ("lead_time_days", -1, "from 0 to 999"),
    ("lead_time_days", 1000, "from 0 to 999"),
    ("lead_time_days", "abc", "from 0 to 999"),
    ("lead_time_days", "1.5", "from 0 to 999"),
    ("lead_time_days", True, "from 0 to 999"),
])
def test_create_supplier_refuses_bad_values_naming_the_field(app, field, value, message):
    err = refused(ValidationError, field, services.create_supplier,
                  **{**SUPPLIER, field: value}, actor=None)
    assert message in str(err)
    assert count(Supplier) == 0
    assert events() == []


def test_update_supplier_changes_and_audits_only_what_differs(create_supplier):
    supplier = create_supplier("SZTEX", "Shenzhen Textiles", email="old@sztex.example.com")
    services.update_supplier(supplier, actor=None, name="Shenzhen Textiles Co.", email="",
                             lead_time_days=30, currency="CNY")
    db.session.commit()
    assert (supplier.name, supplier.email, supplier.lead_time_days) == (
        "Shenzhen Textiles Co.", None, 30)
    [event] = events("supplier.updated")
    assert event.changes == {"name": ["Shenzhen Textiles", "Shenzhen Textiles Co."],
                             "email": ["old@sztex.example.com", None],
                             "lead_time_days": [14, 30]}


def test_update_supplier_without_a_change_writes_no_event(create_supplier):
    supplier = create_supplier("SZTEX", "Shenzhen Textiles")
    services.update_supplier(supplier, actor=None, code="sztex", name="Shenzhen Textiles")
    assert events("supplier.updated") == []


def test_update_supplier_to_a_taken_code_fails(create_supplier):
    create_supplier("SZTEX")
    other = create_supplier("NINGBO")
    err = refused(SupplierError, "code", services.update_supplier, other, actor=None,
                  code="sztex")
    assert 'To rename supplier "NINGBO" to "SZTEX", you must choose another code' in str(err)
    db.session.expire_all()
    assert other.code == "NINGBO"


def test_update_supplier_refuses_a_bad_value_and_changes_nothing(create_supplier):
    supplier = create_supplier("SZTEX", "Shenzhen Textiles")
    refused(ValidationError, "country", services.update_supplier, supplier, actor=None,
            name="Renamed", country="Narnia")
    db.session.expire_all()
    assert supplier.name == "Shenzhen Textiles"
    assert events("supplier.updated") == []


def test_update_supplier_refuses_unknown_fields(create_supplier):
    supplier = create_supplier()
    with pytest.raises(TypeError, match="active"):
        services.update_supplier(supplier, actor=None, active=False)


def test_set_supplier_active_audits_each_change_once(create_supplier):
    supplier = create_supplier("SZTEX")
    services.set_supplier_active(supplier, False, actor=None)
    services.set_supplier_active(supplier, False, actor=None)
    db.session.commit()
    assert supplier.active is False
    assert [e.changes for e in events("supplier.deactivated")] == [{"active": [True, False]}]
    services.set_supplier_active(supplier, True, actor=None)
    assert len(events("supplier.reactivated")) == 1


# --------------------------------------------------------------------------- supplier items


def test_set_supplier_item_creates_with_supplier_defaults(create_supplier, dummy_sku):
    supplier = create_supplier("SZTEX", currency="CNY")
    item = services.set_supplier_item(supplier, dummy_sku, unit_price="12.5", actor=None,
                                      supplier_code=" ST-001 ")
    db.session.commit()
    assert (item.unit_price, item.currency, item.supplier_code) == (Decimal("12.5000"), "CNY",
                                                                    "ST-001")
    assert (item.moq, item.pack_multiple, item.lead_time_days, item.preferred) == (
        1, 1, None, False)
    [event] = events("supplier_item.created")
    assert event.entity_type == "supplier_item"
    assert event.changes["supplier"] == "SZTEX"
    assert event.changes["sku"] == "TS-RED-M"
    assert event.changes["unit_price"] == [None, "12.5000"]


def test_set_supplier_item_updates_the_same_item(create_supplier, dummy_sku):
    supplier = create_supplier("SZTEX")
    first = services.set_supplier_item(supplier, dummy_sku, unit_price=Decimal("12.5"),
                                       actor=None, moq=100, pack_multiple=10)
    second = services.set_supplier_item(supplier, dummy_sku, unit_price=Decimal("11.8"),
                                        actor=None, currency="usd", moq=100, pack_multiple=10,
                                        lead_time_days=30)
    db.session.commit()
    assert first is second
    assert count(SupplierItem) == 1
    assert (second.unit_price, second.currency, second.lead_time_days) == (
        Decimal("11.8000"), "USD", 30)
    [event] = events("supplier_item.updated")
    assert event.changes == {"supplier": "SZTEX", "sku": "TS-RED-M",
                             "unit_price": ["12.5000", "11.8000"], "currency": ["CNY", "USD"],
                             "lead_time_days": [None, 30]}


def test_set_supplier_item_without_a_change_writes_no_event(create_supplier_item):
    item = create_supplier_item(unit_price="3.20", moq=50)
    services.set_supplier_item(item.supplier, item.sku, unit_price="3.2000", actor=None, moq=50)
    assert events("supplier_item.updated") == []


def test_set_supplier_item_accepts_a_zero_price_and_large_packs(create_supplier, dummy_sku):
    item = services.set_supplier_item(create_supplier(), dummy_sku, unit_price=0, actor=None,
                                      moq="1200", pack_multiple=12.0, lead_time_days=0)
    assert (item.unit_price, item.moq, item.pack_multiple, item.lead_time_days) == (
        Decimal("0.0000"), 1200, 12, 0)


@pytest.mark.parametrize(("field", "values", "message"), [
    ("unit_price", {"unit_price": "-0.01"}, "zero or more"),
    ("unit_price", {"unit_price": "abc"}, "must be a number"),
    ("unit_price", {"unit_price": ""}, "A unit price is required"),
    ("unit_price", {"unit_price": "1.23456"}, "at most 4 decimal places"),
    ("unit_price", {"unit_price": "1e12"}, "less than"),
    ("unit_price", {"unit_price": "NaN"}, "finite"),
    ("currency", {"currency": "XXXX"}, "not an ISO 4217 currency"),
    ("moq", {"moq": 0}, "The minimum order quantity (MOQ) must be a whole number from 1"),
    ("moq", {"moq": "2.5"}, "whole number"),
    ("moq", {"moq": None}, "whole number"),
    ("pack_multiple", {"pack_multiple": 0}, "The pack multiple must be a whole number from 1"),
    ("pack_multiple", {"pack_multiple": -6}, "from 1"),
    ("pack_multiple", {"pack_multiple": 2_000_000_000}, "to 1,000,000,000"),
    ("lead_time_days", {"lead_time_days": -1}, "from 0 to 999"),
    ("supplier_code", {"supplier_code": "S" * 61}, "at most 60 characters"),
])
def test_set_supplier_item_refuses_bad_values_naming_the_field(create_supplier, dummy_sku,
                                                               field, values, message):
    supplier = create_supplier()
    kwargs = {"unit_price": "1.00", **values}
    err = refused(ValidationError, field, services.set_supplier_item, supplier, dummy_sku,
                  actor=None, **kwargs)
    assert message in str(err)
    assert count(SupplierItem) == 0
    assert events("supplier_item.created") == []


def test_a_refused_update_leaves_the_item_as_it_was(create_supplier_item):
    item = create_supplier_item(unit_price="4.00", moq=10)
    refused(ValidationError, "moq", services.set_supplier_item, item.supplier, item.sku,
            unit_price="3.00", moq=0, actor=None)
    db.session.expire_all()
    assert (item.unit_price, item.moq) == (Decimal("4.0000"), 10)


def test_marking_preferred_unmarks_the_other_suppliers(create_supplier, create_sku):
    sku, other_sku = create_sku(), create_sku()
    alpha, beta = create_supplier("ALPHA"), create_supplier("BETA")
    a = services.set_supplier_item(alpha, sku, unit_price=5, actor=None, preferred=True)
    a_other = services.set_supplier_item(alpha, other_sku, unit_price=5, actor=None,
                                         preferred=True)
    b = services.set_supplier_item(beta, sku, unit_price=6, actor=None)
    db.session.commit()
    assert (a.preferred, b.preferred) == (True, False)

    services.set_supplier_item(beta, sku, unit_price=6, actor=None, preferred=True)
    db.session.commit()
    db.session.expire_all()
    assert (a.preferred, b.preferred, a_other.preferred) == (False, True, True)
    unmarked = [e for e in events("supplier_item.updated") if e.entity_id == str(a.id)]
    assert [e.changes["preferred"] for e in unmarked] == [[True, False]]
    assert "BETA preferred instead" in unmarked[0].changes["reason"]

    # an update without preferred=True un-marks it: the service sets every value given
    services.set_supplier_item(beta, sku, unit_price=6, actor=None)
    assert b.preferred is False


def test_marking_preferred_for_an_inactive_supplier_fails(create_supplier, dummy_sku):
    supplier = create_supplier("OLD", active=False)
    err = refused(SupplierError, "preferred", services.set_supplier_item, supplier, dummy_sku,
                  unit_price=1, preferred=True, actor=None)
    assert "reactivate the supplier first" in str(err)
    assert count(SupplierItem) == 0
    # not preferred, the price list of an inactive supplier may still be kept
    services.set_supplier_item(supplier, dummy_sku, unit_price=1, actor=None)
    assert count(SupplierItem) == 1


def test_a_deactivated_supplier_keeps_its_preferred_item(create_supplier, create_supplier_item,
                                                         dummy_sku):
    supplier = create_supplier("OLD")
    item = create_supplier_item(supplier, dummy_sku, unit_price="2.00", preferred=True)
    services.set_supplier_active(supplier, False, actor=None)
    services.set_supplier_item(supplier, dummy_sku, unit_price="2.50", preferred=True,
                               actor=None)
    assert (item.preferred, item.unit_price) == (True, Decimal("2.5000"))


def test_remove_supplier_item_deletes_and_audits(create_supplier_item):
    item = create_supplier_item(unit_price="7.00", preferred=True)
    supplier, item_id = item.supplier, item.id
    assert len(supplier.items) == 1
    services.remove_supplier_item(item, actor=None)
    db.session.commit()
    assert db.session.get(SupplierItem, item_id) is None
    assert supplier.items == []
    [event] = events("supplier_item.removed")
    assert event.entity_id == str(item_id)
    assert event.changes["unit_price"] == ["7.0000", None]
    assert event.changes["preferred"] == [True, None]


# --------------------------------------------------------------------------- choosing


@pytest.fixture
def rates(app):
    """CNY at 0.14 USD and EUR at 1.10 USD from 2026-01-01 (USD is the test base currency)."""
    core_services.set_exchange_rate("CNY", date(2026, 1, 1), Decimal("0.14"), actor=None)
    core_services.set_exchange_rate("EUR", date(2026, 1, 1), Decimal("1.10"), actor=None)
    db.session.commit()


ON = date(2026, 6, 1)


def test_preferred_supplier_item_is_the_preferred_one_even_if_dearer(rates, create_supplier,
                                                                     create_supplier_item,
                                                                     dummy_sku):
    create_supplier_item(create_supplier("CHEAP", currency="USD"), dummy_sku, unit_price="1.00")
    dear = create_supplier_item(create_supplier("DEAR", currency="USD"), dummy_sku,
                                unit_price="9.00", preferred=True)
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) == dear


def test_preferred_supplier_item_else_the_cheapest_in_base_currency(rates, create_supplier,
                                                                    create_supplier_item,
                                                                    dummy_sku):
    create_supplier_item(create_supplier("USD1", currency="USD"), dummy_sku, unit_price="10.00")
    cny = create_supplier_item(create_supplier("CNY1", currency="CNY"), dummy_sku,
                               unit_price="70.00")  # 9.80 USD: cheapest, though 70 > 10
    create_supplier_item(create_supplier("EUR1", currency="EUR"), dummy_sku, unit_price="9.50")
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) == cny


def test_preferred_supplier_item_ranks_prices_without_a_rate_last(rates, create_supplier,
                                                                  create_supplier_item,
                                                                  dummy_sku):
    create_supplier_item(create_supplier("GBP1", currency="GBP"), dummy_sku, unit_price="0.01")
    usd = create_supplier_item(create_supplier("USD1", currency="USD"), dummy_sku,
                               unit_price="50.00")
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) == usd
    # before any CNY rate is known, a CNY price cannot be compared either
    cny = create_supplier_item(create_supplier("CNY1", currency="CNY"), dummy_sku,
                               unit_price="1.00")
    assert services.preferred_supplier_item(dummy_sku.id, on=date(2025, 6, 1)) == usd
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) == cny


def test_preferred_supplier_item_breaks_ties_by_lead_time(rates, create_supplier,
                                                          create_supplier_item, dummy_sku):
    create_supplier_item(create_supplier("SLOW", currency="USD", lead_time_days=30), dummy_sku,
                         unit_price="5.00")
    fast = create_supplier_item(create_supplier("FAST", currency="USD", lead_time_days=30),
                                dummy_sku, unit_price="5.00", lead_time_days=7)
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) == fast


def test_preferred_supplier_item_ignores_inactive_suppliers(rates, create_supplier,
                                                            create_supplier_item, dummy_sku):
    old = create_supplier("OLD", currency="USD")
    create_supplier_item(old, dummy_sku, unit_price="1.00", preferred=True)
    current = create_supplier_item(create_supplier("NEW", currency="USD"), dummy_sku,
                                   unit_price="3.00")
    services.set_supplier_active(old, False, actor=None)
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) == current
    services.set_supplier_active(current.supplier, False, actor=None)
    assert services.preferred_supplier_item(dummy_sku.id, on=ON) is None


def test_preferred_supplier_items_for_many_skus(rates, create_supplier, create_supplier_item,
                                                create_sku):
    alpha = create_supplier("ALPHA", currency="USD")
    beta = create_supplier("BETA", currency="USD")
    one, two, unsold = create_sku(), create_sku(), create_sku()
    create_supplier_item(alpha, one, unit_price="2.00")
    b_one = create_supplier_item(beta, one, unit_price="1.00")
    a_two = create_supplier_item(alpha, two, unit_price="8.00", preferred=True)
    create_supplier_item(beta, two, unit_price="4.00")
    assert services.preferred_supplier_items([one.id, two.id, unsold.id], on=ON) == {
        one.id: b_one, two.id: a_two}
    assert services.preferred_supplier_items([]) == {}
