"""Company settings and exchange rates: admins edit, managers read, bad values are refused."""

from __future__ import annotations

import html
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.catalog import cn_customs
from erp.core import settings
from erp.core.models import AuditEvent, ExchangeRate, Setting
from erp.extensions import db
from erp.shipping.settings import EU_COUNTRIES

GOOD = {
    "company_name": "Lantern & Loom Trading Ltd",
    "company_address": "Unit 5\n18 Harbour Road\nShenzhen",
    "company_country": "CN",
    "base_currency": "USD",
    "approval_threshold": "7500",
    # settings other domains declare, posted unchanged (the page shows every declared setting)
    "adjustment_approval_threshold": "200",
    "over_receipt_tolerance_pct": "0",
    "cn22_max_sdr": "300", "cn22_max_weight_g": "2000", "ioss_number": "",
    "ioss_max_eur": "150", "eu_countries": EU_COUNTRIES,
    "uk_vat_number": "", "uk_max_gbp": "135", "dutiable_countries": "US", "eori_number": "",
    "incoterm": "DAP", "pack_weight_tolerance_pct": "10", "pack_weight_tolerance_g": "30",
    "bill_weight_tolerance_g": "50", "bill_weight_tolerance_pct": "5",
    "bill_amount_tolerance": "0.50", "bill_amount_tolerance_pct": "2",
    "return_window_days": "30", "return_window_from": "delivery", "case_due_days": "3",
    "refund_approval_threshold": "100",
    "manufacturing_defect_reasons": "DEFECTIVE", "spec_revision_rate_pct": "3",
    "spec_revision_min_units": "5", "spec_revision_window_days": "90",
    "alteration_refund_percent": "30",
    "returns_address": "", "order_review_quantity": "100", "default_language": "en",
    "split_across_warehouses": "no",
    "export_job_rows": "10000", "stock_event_interval": "60",
    "webhook_retry_hours": "24", "webhook_timeout_seconds": "10",
    "payment_fees": "card: 2.9% + 0.30\npaypal: 3.4% + 0.35\nalipay: 1.8%",
    "two_factor_roles": "admin manager", "session_lifetime_hours": "12",
    "mto_cancel_fee_percent": "50",
    # issue 21: the 9610 export's company constants (erp.customs.settings)
    **{key: "" for key in (
        "customs_ebp_code", "customs_ebp_name", "customs_ebc_code", "customs_ebc_name",
        "customs_owner_code", "customs_owner_name", "customs_agent_code", "customs_agent_name",
        "customs_cop_code", "customs_cop_name", "customs_dxp_id", "customs_customs_code",
        "customs_port_code", "customs_logistics_codes", "customs_pay_codes")},
    "customs_traf_mode": "5", "customs_wrap_type": "2", "customs_statistics_flag": "B",
    # China export customs code lists and the review at packing (erp.catalog.cn_customs)
    "cn_unit_codes": cn_customs.DEFAULT_UNITS, "cn_currency_codes": cn_customs.DEFAULT_CURRENCIES,
    "cn_country_codes": cn_customs.DEFAULT_COUNTRIES, "customs_review_at_packing": "warn",
}


def text_of(response) -> str:
    """Return the response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def field_errors(response) -> dict[str, list[str]]:
    """Return the error messages the settings form shows next to each field, by field name."""
    found = {}
    for block in re.findall(r'<div class="field has-error[^"]*">(.*?)\n  </div>',
                            response.get_data(as_text=True), flags=re.DOTALL):
        name = re.search(r'name="([^"]+)"', block).group(1)
        found[name] = [html.unescape(m) for m in re.findall(r'<div class="error">(.*?)</div>',
                                                            block, flags=re.DOTALL)]
    return found


def count(model) -> int:
    """Return the number of rows of ``model``."""
    return db.session.scalar(select(func.count()).select_from(model))


def events(action: str) -> list[AuditEvent]:
    """Return the audit events with ``action``, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


def rates() -> list[tuple[str, date, Decimal]]:
    """Return every stored exchange rate as ``(currency, valid_from, rate)``."""
    db.session.expire_all()
    return [tuple(r) for r in db.session.execute(
        select(ExchangeRate.currency, ExchangeRate.valid_from, ExchangeRate.rate)
        .order_by(ExchangeRate.currency, ExchangeRate.valid_from))]


# --------------------------------------------------------------------------- settings


def test_settings_page_admin_sees_form(client, login_as):
    login_as("admin")
    response = client.get("/settings")
    assert response.status_code == 200
    body = text_of(response)
    assert 'action="/settings"' in body
    assert 'name="company_name"' in body
    assert 'name="approval_threshold"' in body


def test_settings_page_manager_sees_values_read_only(client, login_as):
    db.session.add(Setting(key="company_name", value="Read Only Ltd"))
    db.session.commit()
    login_as("manager")
    response = client.get("/settings")
    assert response.status_code == 200
    body = text_of(response)
    assert "Read Only Ltd" in body
    assert 'action="/settings"' not in body
    assert 'name="company_name"' not in body


def test_update_settings_admin_saves_and_audits_before_after(client, login_as):
    admin = login_as("admin")

    response = client.post("/settings", data=GOOD)

    assert response.status_code == 302
    assert settings.get("company_name") == "Lantern & Loom Trading Ltd"
    assert settings.get("company_address") == "Unit 5\n18 Harbour Road\nShenzhen"
    assert settings.get("approval_threshold") == Decimal("7500")
    [event] = events("setting.updated")
    assert event.actor_id == admin.id
    assert event.entity_type == "setting"
    assert event.changes == {
        "company_name": ["Example Trading Ltd", "Lantern & Loom Trading Ltd"],
        # the setting keeps its lines; its audit copy stays on one line (escaped)
        "company_address": ["1 Harbour Road\\nShenzhen 518000\\nCN",
                            "Unit 5\\n18 Harbour Road\\nShenzhen"],
        "approval_threshold": ["5000", "7500"],
    }
    assert "Settings saved." in text_of(client.get("/settings"))


def test_update_settings_unchanged_writes_nothing(client, login_as):
    login_as("admin")
    client.post("/settings", data=GOOD)
    audits = count(AuditEvent)
    response = client.post("/settings", data=GOOD)
    assert response.status_code == 302
    assert count(AuditEvent) == audits
    assert "Nothing changed." in text_of(client.get("/settings"))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("base_currency", "XXQ", "is not an ISO 4217 currency code"),
    ("approval_threshold", "-1", "must be zero or more"),
    ("approval_threshold", "lots", "must be a number"),
    ("over_receipt_tolerance_pct", "-5", "Over-receipt tolerance"),
    ("company_name", "", "This field is required"),
])
def test_update_settings_bad_value_rerenders_with_error_and_stores_nothing(
        client, login_as, field, value, message):
    login_as("admin")
    audits = count(AuditEvent)

    response = client.post("/settings", data={**GOOD, field: value})

    assert response.status_code == 422
    body = text_of(response)
    assert message in body
    assert 'action="/settings"' in body  # the form again, with what was typed
    assert count(Setting) == 0
    assert count(AuditEvent) == audits
    assert settings.get("company_name") == "Example Trading Ltd"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("base_currency", "XXX", "Base currency (ISO 4217) XXX is an ISO 4217 code but not a "
                             "currency customers pay in"),
    ("base_currency", "XDR", "XDR is an ISO 4217 code but not a currency customers pay in"),
    ("company_country", "ZZ", "Company country (ISO 3166-1 alpha-2) 'ZZ' is not a country"),
    ("eu_countries", EU_COUNTRIES + " ZZ", "EU member states must be ISO 3166-1 alpha-2 "
                                           "country codes (e.g. DE FR); ZZ is not one."),
    ("eu_countries", "DE FR XX QQ", "QQ, XX are not."),
    ("dutiable_countries", "US USA", "Destinations where every parcel is dutiable must be ISO "
                                     "3166-1 alpha-2 country codes (e.g. DE FR); USA is not one"),
    ("incoterm", "FOB", "Incoterm on commercial invoices (DAP or DDP) must be one of DAP, DDP, "
                        "got 'FOB'."),
    ("cn22_max_weight_g", "0", "CN22 weight limit (g) must be more than zero."),
    ("cn22_max_weight_g", "2.5", "CN22 weight limit (g) must be a whole number"),
    ("cn22_max_sdr", "0", "CN22 value limit (SDR) must be more than zero."),
    ("ioss_max_eur", "-150", "IOSS threshold (EUR) must be zero or more."),
    ("uk_max_gbp", "0", "UK low-value threshold (GBP) must be more than zero."),
    ("return_window_days", "0", "Return window (days) must be more than zero."),
    ("case_due_days", "-3", "Case service level (days to resolve) must be zero or more."),
    ("order_review_quantity", "0", "Order line quantity held for review must be more than "
                                   "zero."),
    ("adjustment_approval_threshold", "lots", "Adjustment approval threshold (base currency) "
                                              "must be a number, got 'lots'."),
    ("refund_approval_threshold", "NaN", "must be zero or more"),
])
def test_update_settings_each_bad_value_refused_next_to_its_field(client, login_as, field,
                                                                  value, message):
    login_as("admin")
    audits = count(AuditEvent)

    response = client.post("/settings", data={**GOOD, field: value})

    assert response.status_code == 422
    [shown] = field_errors(response)[field]
    assert message in shown
    assert set(field_errors(response)) == {field}
    assert count(Setting) == 0
    assert count(AuditEvent) == audits


def test_update_settings_shows_every_error_at_once_and_saves_nothing(client, login_as):
    login_as("admin")
    audits = count(AuditEvent)
    bad = {"base_currency": "XXX", "company_country": "ZZ", "eu_countries": "DE FR ZZ",
           "incoterm": "EXW", "cn22_max_weight_g": "0", "company_name": ""}

    response = client.post("/settings", data={**GOOD, "approval_threshold": "9000", **bad})

    assert response.status_code == 422
    errors = field_errors(response)
    assert set(errors) == set(bad)
    assert "not a currency customers pay in" in errors["base_currency"][0]
    assert "'ZZ' is not a country" in errors["company_country"][0]
    assert "ZZ is not one" in errors["eu_countries"][0]
    assert "must be one of DAP, DDP" in errors["incoterm"][0]
    assert "must be more than zero" in errors["cn22_max_weight_g"][0]
    assert errors["company_name"] == ["This field is required."]
    body = text_of(response)
    assert 'value="DE FR ZZ"' in body  # what was typed, to correct
    # nothing saved: not the bad values, nor the good one posted with them
    assert count(Setting) == 0
    assert count(AuditEvent) == audits
    assert settings.get("approval_threshold") == Decimal("5000")
    assert settings.get("eu_countries") == frozenset(EU_COUNTRIES.split())


def test_update_settings_service_refuses_all_or_nothing(app):
    from erp.core import services
    from erp.core.errors import FieldErrors

    with pytest.raises(FieldErrors) as err:
        services.update_settings({"company_name": "New Name Ltd", "incoterm": "fob",
                                  "eu_countries": "DE ZZ"}, actor=None)
    assert err.value.errors == {
        "incoterm": "Incoterm on commercial invoices (DAP or DDP) must be one of DAP, DDP, got "
                    "'fob'.",
        "eu_countries": "EU member states must be ISO 3166-1 alpha-2 country codes (e.g. DE "
                        "FR); ZZ is not one."}
    assert str(err.value).startswith("To save the settings, you must fix 2 values: ")
    db.session.rollback()
    assert count(Setting) == 0


def test_update_settings_good_values_saved_normalised_and_audited(client, login_as):
    admin = login_as("admin")
    assert client.post("/settings", data=GOOD).status_code == 302
    good = {"base_currency": "eur", "company_country": "de", "incoterm": "ddp",
            "eu_countries": "de, fr  at", "cn22_max_weight_g": "1500",
            "order_review_quantity": "40", "return_window_days": "14"}

    response = client.post("/settings", data={**GOOD, **good})

    assert response.status_code == 302, field_errors(response)
    assert settings.get("base_currency") == "EUR"
    assert settings.get("company_country") == "DE"
    assert settings.get("incoterm") == "DDP"
    assert settings.get("eu_countries") == frozenset({"DE", "FR", "AT"})
    assert settings.get("cn22_max_weight_g") == 1500
    assert settings.get("order_review_quantity") == 40
    assert settings.get("return_window_days") == 14
    event = events("setting.updated")[-1]
    assert event.actor_id == admin.id
    assert set(event.changes) == set(good)
    assert event.changes["incoterm"] == ["DAP", "DDP"]
    assert event.changes["order_review_quantity"] == [100, 40]


def test_update_settings_manager_refused(client, login_as):
    login_as("manager")
    assert client.post("/settings", data=GOOD).status_code == 403
    assert count(Setting) == 0


# --------------------------------------------------------------------------- exchange rates


def test_set_exchange_rate_creates_and_audits(client, login_as):
    admin = login_as("admin")

    response = client.post("/settings/exchange-rates",
                           data={"currency": "cny", "valid_from": "2026-01-01", "rate": "0.138"})

    assert response.status_code == 302
    assert rates() == [("CNY", date(2026, 1, 1), Decimal("0.138"))]
    [event] = events("exchange_rate.created")
    assert event.actor_id == admin.id
    assert event.changes == {"rate": [None, "0.138"], "valid_from": [None, "2026-01-01"]}
    listing = text_of(client.get("/settings/exchange-rates"))
    assert "0.13800000" in listing


def test_set_exchange_rate_same_currency_and_date_updates(client, login_as):
    login_as("admin")
    client.post("/settings/exchange-rates",
                data={"currency": "EUR", "valid_from": "2026-01-01", "rate": "1.08"})
    client.post("/settings/exchange-rates",
                data={"currency": "EUR", "valid_from": "2026-02-01", "rate": "1.09"})

    response = client.post("/settings/exchange-rates",
                           data={"currency": "EUR", "valid_from": "2026-01-01", "rate": "1.10"})

    assert response.status_code == 302
    assert rates() == [("EUR", date(2026, 1, 1), Decimal("1.10")),
                       ("EUR", date(2026, 2, 1), Decimal("1.09"))]
    [event] = events("exchange_rate.updated")
    assert event.changes == {"rate": ["1.08000000", "1.10"]}


@pytest.mark.parametrize(("data", "message"), [
    ({"currency": "USD", "rate": "1"}, "USD is the base currency; its rate is always 1."),
    ({"currency": "EUR", "rate": "0"}, "An exchange rate must be greater than zero."),
    ({"currency": "XXQ", "rate": "1.2"}, "'XXQ' is not an ISO 4217 currency code"),
])
def test_set_exchange_rate_bad_value_refused(client, login_as, data, message):
    login_as("admin")
    audits = count(AuditEvent)
    response = client.post("/settings/exchange-rates", data={"valid_from": "2026-01-01", **data})
    assert response.status_code == 422
    assert message in text_of(response)
    assert rates() == []
    assert count(AuditEvent) == audits


@pytest.mark.parametrize(("data", "message"), [
    ({"currency": "EUR", "valid_from": "2026-01-01", "rate": "-1"},
     "Rate (base units per 1 unit): Number must be at least 0"),
    ({"currency": "EUR", "valid_from": "someday", "rate": "1.1"}, "Valid from: "),
])
def test_set_exchange_rate_bad_form_flashes_and_stores_nothing(client, login_as, data,
                                                              message):
    login_as("admin")
    response = client.post("/settings/exchange-rates", data=data)
    assert response.status_code == 302
    assert message in text_of(client.get(response.headers["Location"]))
    assert rates() == []


def test_delete_exchange_rate_removes_and_audits(client, login_as):
    admin = login_as("admin")
    client.post("/settings/exchange-rates",
                data={"currency": "GBP", "valid_from": "2026-01-01", "rate": "1.27"})
    rate_id = db.session.scalar(select(ExchangeRate.id))

    response = client.post(f"/settings/exchange-rates/{rate_id}/delete")

    assert response.status_code == 302
    assert rates() == []
    [event] = events("exchange_rate.deleted")
    assert event.actor_id == admin.id
    assert event.entity_id == str(rate_id)
    assert event.changes == {"currency": ["GBP", None], "valid_from": ["2026-01-01", None],
                             "rate": ["1.27000000", None]}
    assert client.post(f"/settings/exchange-rates/{rate_id}/delete").status_code == 404


def test_exchange_rates_manager_reads_but_cannot_change(client, login_as):
    row = ExchangeRate(currency="EUR", valid_from=date(2026, 1, 1), rate=Decimal("1.08"))
    db.session.add(row)
    db.session.commit()
    login_as("manager")

    listing = client.get("/settings/exchange-rates")
    assert listing.status_code == 200
    assert "1.08000000" in text_of(listing)
    assert 'action="/settings/exchange-rates"' not in text_of(listing)
    assert client.post("/settings/exchange-rates", data={
        "currency": "GBP", "valid_from": "2026-01-01", "rate": "1.27"}).status_code == 403
    assert client.post(f"/settings/exchange-rates/{row.id}/delete").status_code == 403
    assert rates() == [("EUR", date(2026, 1, 1), Decimal("1.08"))]


def test_settings_page_lists_settings_other_domains_declare(client, login_as):
    login_as("admin")
    body = text_of(client.get("/settings"))
    assert 'name="adjustment_approval_threshold"' in body
    assert 'name="over_receipt_tolerance_pct"' in body
    response = client.post("/settings", data={**GOOD, "over_receipt_tolerance_pct": "5"})
    assert response.status_code == 302
    assert settings.get("over_receipt_tolerance_pct") == Decimal("5")


def test_country_lists_show_as_codes_and_optional_settings_may_be_blank(client, login_as):
    login_as("admin")
    body = text_of(client.get("/settings"))
    assert "frozenset" not in body
    assert 'value="AT BE BG' in body
    response = client.post("/settings", data={**GOOD, "eu_countries": "de fr",
                                              "ioss_number": "IM1234567890"})
    assert response.status_code == 302
    assert settings.get("eu_countries") == frozenset({"DE", "FR"})
    assert settings.get("ioss_number") == "IM1234567890"
    response = client.post("/settings", data={**GOOD, "ioss_number": ""})
    assert response.status_code == 302
    assert settings.get("ioss_number") == ""
    response = client.post("/settings", data={**GOOD, "ioss_number": "IM12"})
    assert response.status_code == 422
    assert "IM followed by 10 digits" in text_of(response)
