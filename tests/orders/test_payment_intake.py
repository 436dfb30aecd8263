"""Payment data, trade mode 9610 and made-to-order line specs at intake (API and order sheet).

The made-to-order hooks are replaced for each test (``monkeypatch``) by a recording check and
a recording ``orders_paid``, so these tests hold whatever production registers there.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.errors import DomainError
from erp.core.models import Setting
from erp.extensions import db
from erp.orders import hooks, services
from erp.orders.excel import ORDER_SPEC, import_orders
from erp.orders.exports import export_orders
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.orders.queries import OrderFilters
from erp.orders.services.intake import parse_measurements_text, parse_trade_mode
from tests.orders.intake_data import payload, row, sheet

PAYMENT = {"provider": "Stripe", "transaction": "ch_3PXyZ12345", "amount": "44.60",
           "currency": "EUR", "paid_at": "2026-11-20T18:16:00+08:00"}


@pytest.fixture
def token(app, dummy_admin):
    _, plaintext = services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


@pytest.fixture
def recorded(monkeypatch):
    """Replace the made-to-order hooks; return what they were called with."""
    calls = {"checks": [], "paid": []}

    def check(sku, size, measurements):
        calls["checks"].append((sku.code, size, measurements))
        if size == "XXXL":
            raise ValueError("size XXXL is not in the template (S, M, L)")
        if measurements and measurements.get("chest_cm", Decimal(0)) > 200:
            raise ValueError("chest_cm must be between 70 and 140")

    def paid(orders, *, actor):
        calls["paid"].append([order.number for order in orders])

    monkeypatch.setattr(hooks, "made_to_order_checks", [check])
    monkeypatch.setattr(hooks, "orders_paid", [paid])
    return calls


@pytest.fixture
def mto_sku(dummy_sku, create_sku, create_product):
    """Return a SKU of a made-to-order product (TAILOR-1); TS-RED-M stays an ordinary one."""
    product = create_product(name="Tailored dress")
    product.made_to_order = True
    sku = create_sku("TAILOR-1", product=product)
    db.session.commit()
    return sku


def post(client, token, body, key=None):
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post("/api/v1/orders", json=body, headers=headers)


def order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CustomerOrder))


def set_default_mode(value: str) -> None:
    db.session.merge(Setting(key="default_trade_mode", value=value))
    db.session.commit()


def mto_line(**changes):
    return {"sku": "TAILOR-1", "quantity": 1, "unit_price": "199.00", **changes}


# --------------------------------------------------------------------------- API: payment


def test_api_takes_the_payment_and_trade_mode(client, token, dummy_sku, recorded):
    response = post(client, token, payload(trade_mode="9610", payment=PAYMENT))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["trade_mode"] == "9610"
    assert body["payment"] == {"provider": "Stripe", "transaction": "ch_3PXyZ12345",
                               "amount": "44.6000", "currency": "EUR",
                               "paid_at": "2026-11-20T10:16:00Z"}
    order = db.session.scalar(select(CustomerOrder))
    assert order.payment_amount == Decimal("44.60")
    assert order.paid_at.isoformat() == "2026-11-20T10:16:00+00:00"  # +08:00 stored as UTC
    assert recorded["paid"] == [["WEB-1001"]]
    again = client.get("/api/v1/orders/WEB-1001",
                       headers={"Authorization": f"Bearer {token}"}).get_json()
    assert again["payment"] == body["payment"]
    assert again["trade_mode"] == "9610"


def test_an_order_without_payment_is_taken_as_before(client, token, dummy_sku, recorded):
    response = post(client, token, payload())
    assert response.status_code == 201
    assert response.get_json()["trade_mode"] is None
    assert response.get_json()["payment"] is None
    assert recorded["paid"] == []  # not paid: nothing for production


@pytest.mark.parametrize("field", ["provider", "transaction", "amount", "currency", "paid_at"])
def test_each_missing_payment_field_under_9610_is_refused_by_name(client, token, dummy_sku,
                                                                  recorded, field):
    partial = {k: v for k, v in PAYMENT.items() if k != field}
    response = post(client, token, payload(trade_mode="9610", payment=partial))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert list(errors) == [f"payment.{field}"]
    assert "9610" in errors[f"payment.{field}"]
    assert order_count() == 0


def test_9610_without_any_payment_names_all_five(client, token, dummy_sku, recorded):
    response = post(client, token, payload(trade_mode="9610"))
    assert response.status_code == 422
    assert sorted(response.get_json()["errors"]) == sorted(
        f"payment.{k}" for k in ("provider", "transaction", "amount", "currency", "paid_at"))


@pytest.mark.parametrize(("field", "value", "words"), [
    ("amount", "0", "more than 0"), ("amount", "-5", "negative"),
    ("amount", "12.345", "2 decimals"), ("amount", "abc", "number"),
    ("currency", "EURO", "ISO 4217"), ("currency", "XAU", "not a currency"),
    ("paid_at", "2026-11-20T10:16:00", "zone"), ("paid_at", "yesterday", "ISO 8601"),
    ("paid_at", "2099-01-01T00:00:00Z", "ahead"),
    ("provider", "x" * 101, "at most 100"), ("transaction", "t" * 61, "at most 60"),
])
def test_bad_payment_values_are_refused(client, token, dummy_sku, recorded, field, value, words):
    response = post(client, token, payload(payment={**PAYMENT, field: value}))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert words in errors[f"payment.{field}"]
    assert order_count() == 0


def test_bad_trade_mode_and_payment_shape_are_refused(client, token, dummy_sku, recorded):
    response = post(client, token, payload(trade_mode="9710", payment="paid"))
    errors = response.get_json()["errors"]
    assert response.status_code == 422
    assert "9610" in errors["trade_mode"]
    assert errors["payment"] == "must be an object"
    response = post(client, token, payload(payment={**PAYMENT, "fee": "1"}))
    assert "fee" in response.get_json()["errors"]["payment"]


def test_default_trade_mode_applies_to_orders_that_do_not_say(client, token, dummy_sku,
                                                               recorded):
    set_default_mode("9610")
    response = post(client, token, payload())
    assert response.status_code == 422
    assert "payment.transaction" in response.get_json()["errors"]
    response = post(client, token, payload(payment=PAYMENT))
    assert response.status_code == 201
    assert response.get_json()["trade_mode"] == "9610"


def test_default_trade_mode_setting_is_validated():
    assert parse_trade_mode("") == ""
    assert parse_trade_mode(" 9610 ") == "9610"
    with pytest.raises(ValueError, match="9610"):
        parse_trade_mode("1210")


def test_a_resent_order_with_another_payment_is_a_conflict(client, token, dummy_sku, recorded):
    assert post(client, token, payload(payment=PAYMENT)).status_code == 201
    same = post(client, token, payload(payment={**PAYMENT, "amount": 44.6}))
    assert same.status_code == 200
    other = post(client, token, payload(payment={**PAYMENT, "transaction": "ch_other"}))
    assert other.status_code == 409
    assert "payment.transaction" in other.get_json()["differences"]
    assert recorded["paid"] == [["WEB-1001"]]  # once: the repeats created nothing


def test_orders_paid_is_not_called_on_an_idempotent_replay(client, token, dummy_sku, recorded):
    body = payload(payment=PAYMENT)
    first = post(client, token, body, key="pay-1")
    second = post(client, token, body, key="pay-1")
    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert recorded["paid"] == [["WEB-1001"]]
    assert order_count() == 1


def test_a_refusal_by_orders_paid_refuses_the_order(client, token, dummy_sku, monkeypatch):
    def refuse(orders, *, actor):
        raise services.OrderRejected({"lines[0]": "the maker is closed"})

    monkeypatch.setattr(hooks, "orders_paid", [refuse])
    response = post(client, token, payload(payment=PAYMENT))
    assert response.status_code == 422
    assert order_count() == 0

    def refuse_domain(orders, *, actor):
        raise DomainError("No maker is set for this product.", field="lines[0]")

    monkeypatch.setattr(hooks, "orders_paid", [refuse_domain])
    response = post(client, token, payload(payment=PAYMENT))
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"lines[0]": "No maker is set for this product."}
    assert order_count() == 0


# --------------------------------------------------------------------------- API: MTO lines


def test_made_to_order_line_with_a_size(client, token, mto_sku, recorded):
    body = payload(payment=PAYMENT, lines=[mto_line(size="M"),
                                           {"sku": "TS-RED-M", "quantity": 1,
                                            "unit_price": "19.90"}])
    response = post(client, token, body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["lines"][0]["size"] == "M"
    assert "size" not in response.get_json()["lines"][1]
    assert recorded["checks"] == [("TAILOR-1", "M", None)]  # only the made-to-order line
    assert recorded["paid"] == [["WEB-1001"]]
    line = db.session.scalar(select(CustomerOrderLine).where(
        CustomerOrderLine.mto_size.is_not(None)))
    assert (line.mto_size, line.measurements) == ("M", None)


def test_made_to_order_line_with_measurements(client, token, mto_sku, recorded):
    body = payload(payment=PAYMENT,
                   lines=[mto_line(measurements={"waist_cm": 80, "chest_cm": 96.50})])
    response = post(client, token, body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["lines"][0]["measurements"] == {"chest_cm": "96.5",
                                                               "waist_cm": "80"}
    assert recorded["checks"] == [("TAILOR-1", None, {"waist_cm": Decimal("80"),
                                                      "chest_cm": Decimal("96.5")})]
    stored = db.session.scalar(select(CustomerOrderLine.measurements))
    assert stored == '{"chest_cm": "96.5", "waist_cm": "80"}'  # sorted, decimal strings
    assert json.loads(stored) == {"chest_cm": "96.5", "waist_cm": "80"}


@pytest.mark.parametrize(("line", "path", "words"), [
    (mto_line(), "lines[0]", "give its size or its measurements"),
    (mto_line(size="M", measurements={"chest_cm": 90}), "lines[0]", "not both"),
    (mto_line(size="XXXL"), "lines[0]", "XXXL is not in the template"),
    (mto_line(measurements={"chest_cm": 250}), "lines[0]", "between 70 and 140"),
    (mto_line(measurements={"chest_cm": "wide"}), "lines[0].measurements", "must be a number"),
    (mto_line(measurements=[90]), "lines[0].measurements", "must be an object"),
    (mto_line(size="S" * 31), "lines[0].size", "at most 30"),
    ({"sku": "TS-RED-M", "quantity": 1, "unit_price": "19.90",
      "measurements": {"chest_cm": 90}}, "lines[0]", "not made to order"),
    ({"sku": "TS-RED-M", "quantity": 1, "unit_price": "19.90", "size": "M"},
     "lines[0]", "not made to order"),
])
def test_made_to_order_line_rules(client, token, mto_sku, recorded, line, path, words):
    response = post(client, token, payload(payment=PAYMENT, lines=[line]))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert words in errors[path], errors
    assert order_count() == 0
    assert recorded["paid"] == []


def test_a_resent_order_with_other_measurements_is_a_conflict(client, token, mto_sku, recorded):
    body = payload(payment=PAYMENT, lines=[mto_line(measurements={"chest_cm": 96.5})])
    assert post(client, token, body).status_code == 201
    same = payload(payment=PAYMENT, lines=[mto_line(measurements={"chest_cm": "96.50"})])
    assert post(client, token, same).status_code == 200
    other = payload(payment=PAYMENT, lines=[mto_line(measurements={"chest_cm": 98})])
    response = post(client, token, other)
    assert response.status_code == 409
    assert "TAILOR-1" in response.get_json()["differences"]["lines"]
    assert recorded["paid"] == [["WEB-1001"]]


def test_a_made_to_order_line_needs_a_paid_order(client, token, mto_sku, recorded):
    response = post(client, token, payload(lines=[mto_line(size="M")]))
    assert response.status_code == 422
    message = response.get_json()["errors"]["payment.paid_at"]
    assert "line 1" in message
    assert "TAILOR-1" in message
    assert recorded["checks"] == []
    assert order_count() == 0


def test_the_hook_error_names_the_second_line(client, token, mto_sku, recorded):
    lines = [mto_line(size="M"), mto_line(size="XXXL")]
    response = post(client, token, payload(payment=PAYMENT, lines=lines))
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert list(errors) == ["lines[1]"]
    assert "TAILOR-1" in errors["lines[1]"]


# --------------------------------------------------------------------------- order sheet


def run(data: bytes, *, dry_run: bool = False):
    result = import_orders(data, filename="orders.xlsx", dry_run=dry_run, actor=None)
    if result.ok and not dry_run:
        db.session.commit()
    else:
        db.session.rollback()
    return result


SHEET_PAYMENT = {"payment_provider": "PayPal", "payment_transaction": "PP-7781",
                 "payment_amount": 16.0, "payment_currency": "GBP",
                 "paid_at": "2026-11-20T10:20:00Z"}


def errors_of(result) -> list[tuple[int, str, str]]:
    return [(e.row, str(e.column), e.message) for e in result.errors]


def test_sheet_takes_the_payment_and_calls_orders_paid_once_per_order(app, mto_sku, recorded):
    rows = [row("WEB-1", trade_mode="9610", **SHEET_PAYMENT),
            row("WEB-1", sku="TAILOR-1", size="M", **{**SHEET_PAYMENT, "trade_mode": "9610"}),
            row("WEB-2")]
    result = run(sheet(rows))
    assert result.ok, errors_of(result)
    order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == "WEB-1"))
    assert (order.trade_mode, order.payment_provider, order.payment_transaction,
            order.payment_amount, order.payment_currency) == (
        "9610", "PayPal", "PP-7781", Decimal("16"), "GBP")
    assert order.paid_at.isoformat() == "2026-11-20T10:20:00+00:00"
    assert [line.mto_size for line in order.lines] == [None, "M"]
    assert recorded["paid"] == [["WEB-1"]]  # WEB-2 is not paid
    assert recorded["checks"] == [("TAILOR-1", "M", None)]
    # the same file again creates nothing and hands nothing to production
    assert run(sheet(rows)).ok
    assert recorded["paid"] == [["WEB-1"]]


def test_sheet_measurements_column(app, mto_sku, recorded):
    result = run(sheet([row("WEB-1", sku="TAILOR-1", measurements="chest_cm=96.5; waist_cm=80",
                            **SHEET_PAYMENT)]))
    assert result.ok, errors_of(result)
    assert db.session.scalar(select(CustomerOrderLine.measurements)) == (
        '{"chest_cm": "96.5", "waist_cm": "80"}')


def test_sheet_missing_payment_under_9610_names_row_and_column(app, dummy_sku, recorded):
    partial = {k: v for k, v in SHEET_PAYMENT.items() if k != "payment_transaction"}
    result = run(sheet([row("WEB-1", trade_mode="9610", **partial)]))
    assert not result.ok
    headers = {c.key: str(c.header) for c in ORDER_SPEC.columns}
    assert [(r, c) for r, c, _m in errors_of(result)] == [(2, headers["payment_transaction"])]
    assert order_count() == 0


def test_sheet_default_trade_mode(app, dummy_sku, recorded):
    set_default_mode("9610")
    result = run(sheet([row("WEB-1")]))
    assert not result.ok
    assert {c for _r, c, _m in errors_of(result)} == {
        str(c.header) for c in ORDER_SPEC.columns if c.key in SHEET_PAYMENT}


def test_sheet_bad_payment_values(app, dummy_sku, recorded):
    result = run(sheet([row("WEB-1", **{**SHEET_PAYMENT, "payment_amount": 1.234,
                                        "payment_currency": "POUND"})]))
    headers = {c.key: str(c.header) for c in ORDER_SPEC.columns}
    found = {c: m for _r, c, m in errors_of(result)}
    assert "2 decimals" in found[headers["payment_amount"]]
    assert headers["payment_currency"] in found
    assert order_count() == 0


def test_sheet_made_to_order_rules_name_the_row(app, mto_sku, recorded):
    headers = {c.key: str(c.header) for c in ORDER_SPEC.columns}
    result = run(sheet([row("WEB-1", **SHEET_PAYMENT),
                        row("WEB-1", sku="TAILOR-1", size="XXXL", **SHEET_PAYMENT),
                        row("WEB-2", sku="TAILOR-1", size="M"),
                        row("WEB-3", measurements="chest_cm=90"),
                        row("WEB-4", sku="TAILOR-1", measurements="chest_cm 90",
                            **SHEET_PAYMENT)]))
    assert not result.ok
    found = {(r, c): m for r, c, m in errors_of(result)}
    assert "XXXL" in found[(3, headers["sku"])]  # the hook's reason at the line's row
    assert "TAILOR-1" in found[(4, headers["paid_at"])]  # not paid
    assert "not made to order" in found[(5, headers["sku"])]
    assert "code=number" in found[(6, headers["measurements"])]
    assert order_count() == 0
    assert recorded["paid"] == []


def test_measurements_text_parsing():
    assert parse_measurements_text("chest_cm=96.5; waist_cm=80;") == {"chest_cm": "96.5",
                                                                       "waist_cm": "80"}
    with pytest.raises(ValueError, match="twice"):
        parse_measurements_text("a=1; a=2")


# --------------------------------------------------------------------------- screens


def test_order_page_shows_payment_and_specs(client, login_as, mto_sku, recorded):
    cleaned, errors = services.validate_order_payload(payload(
        trade_mode="9610", payment=PAYMENT, lines=[mto_line(measurements={"chest_cm": 96.5})]))
    assert not errors
    services.create_order(cleaned, actor=None)
    db.session.commit()
    order = db.session.scalar(select(CustomerOrder))
    login_as("admin")
    page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "ch_3PXyZ12345" in page
    assert "Stripe" in page
    assert "9610" in page
    assert "chest_cm" in page
    assert "96.5" in page


def test_order_list_export_has_the_payment_columns(app, dummy_sku, recorded):
    cleaned, errors = services.validate_order_payload(payload(trade_mode="9610",
                                                              payment=PAYMENT))
    assert not errors
    services.create_order(cleaned, actor=None)
    db.session.commit()
    import io

    from openpyxl import load_workbook

    sheet_ = load_workbook(io.BytesIO(export_orders(OrderFilters()))).active
    header = [c.value for c in sheet_[1]]
    values = dict(zip(header, [c.value for c in sheet_[2]], strict=True))
    assert values["Payment transaction"] == "ch_3PXyZ12345"
    assert values["Trade mode"] == "9610"
    assert Decimal(str(values["Paid amount"])) == Decimal("44.6")
