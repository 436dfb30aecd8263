"""Margin: one EUR order worked out by hand equals the report, before and after a carrier bill.

The base currency is USD. The order (placed 2026-01-05, EUR at 1.10 then; 1.20 from March):

- TEE x2 @ 19.90 and MUG x1 @ 12.50: goods 52.30 EUR = 57.53 USD; shipping 4.95 EUR = 5.445
  -> 5.45 USD; revenue 62.98.
- Cost of goods: TEE received 10 @ 4.00 and 10 @ 5.00 (average 4.50), MUG 3 @ 3.3333:
  2 x 4.50 = 9.00 and 1 x 3.3333 = 3.33 (each line to the cent): 12.33.
- Shipping cost: the rate table's quote at labelling, 45.00 CNY at 0.14 = 6.30; once a carrier
  bill says 52.00 CNY: 7.28.
- Packaging: one medium box, its stock SKU received at 0.45: 0.45.
- Payment fee (card: 2.9 % + 0.30): 57.25 EUR x 2.9 % x 1.10 + 0.30 = 2.126275 -> 2.13.
- Margin: 62.98 - 12.33 - 6.30 - 0.45 - 2.13 = 41.77; after the bill 40.79.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import delete, select

from erp.aftersales.models import AfterSalesCase, CaseType, Refund, RefundState
from erp.core import services as core_services
from erp.core import settings
from erp.core.errors import FieldErrors
from erp.core.models import ExchangeRate
from erp.extensions import db
from erp.orders.payments import parse_fees
from erp.reports import margin

DAY = date(2026, 1, 5)


@pytest.fixture
def costed(create_sku, create_bin, receive_stock, shipping_setup, reasons, create_user):
    """Stock at known costs, a rate table, a box SKU, the rates and the card fee. Committed."""
    for currency, rate, since in (("EUR", "1.1000", date(2000, 1, 1)),
                                  ("EUR", "1.2000", date(2026, 3, 1)),
                                  ("CNY", "0.1400", date(2000, 1, 1))):
        core_services.set_exchange_rate(currency, since, Decimal(rate), actor=None)
    customs = {"hs_code": "610910", "customs_description": "Cotton T-shirt",
               "origin_country": "CN", "weight_g": 180}
    tee, mug = create_sku("TEE-M", **customs), create_sku("MUG-W", **customs)
    box_sku = create_sku("BOX-M", **customs)
    shelf = create_bin()
    receive_stock(tee, shelf, 10, "4.00")
    receive_stock(tee, shelf, 10, "5.00")
    receive_stock(mug, create_bin(), 3, "3.3333")
    receive_stock(box_sku, create_bin(), 50, "0.45")
    shipping_setup["boxes"][1].sku_id = box_sku.id
    post = shipping_setup["post"]
    for rate in post.rates:  # the rate table quotes the EU zone in CNY, one price
        if rate.zone == "EU":
            rate.price, rate.currency = Decimal("45.00"), "CNY"
    admin = create_user("fees-admin", roles=("admin",))
    core_services.update_settings({"payment_fees": "card: 2.9% + 0.30\npaypal: 3.4%"},
                                  actor=admin)
    db.session.commit()
    return {"tee": tee, "mug": mug}


@pytest.fixture
def order(costed, ship_order):
    """The order of the module's docstring, shipped."""
    return ship_order([(costed["tee"], 2, "19.90"), (costed["mug"], 1, "12.50")],
                      shipping_charge=Decimal("4.95"), payment_method="card",
                      placed_at=datetime(2026, 1, 5, 10, 0, tzinfo=UTC))


def _parts(row) -> dict:
    return {name: getattr(row, name) for name in margin.COMPONENTS}


def test_one_order_by_hand_before_and_after_the_carrier_bill(order):
    report = margin.margin_report(DAY, DAY)
    [row] = report.orders
    assert row.key == order.number
    assert _parts(row) == {
        "goods": Decimal("57.53"), "shipping_charged": Decimal("5.45"),
        "cogs": Decimal("12.33"), "shipping_cost": Decimal("6.30"),
        "packaging": Decimal("0.45"), "fee": Decimal("2.13"), "refunds": Decimal("0.00"),
        "replacements": Decimal("0.00")}
    assert row.revenue == Decimal("62.98")
    assert row.margin == Decimal("41.77")
    assert row.margin_pct == Decimal("0.6632")
    assert report.total.margin == Decimal("41.77")
    assert report.base_currency == "USD"
    assert (report.open_orders, report.not_converted) == (0, 0)

    # the carrier's bill replaces the quote (set as bill matching sets it)
    order.parcel.billed_cost = Decimal("52.00")
    order.parcel.billed_currency = "CNY"
    order.parcel.billed_weight_g = 900
    order.parcel.billed_at = datetime(2026, 1, 20, tzinfo=UTC)
    db.session.commit()
    after = margin.margin_report(DAY, DAY)
    assert after.orders[0].shipping_cost == Decimal("7.28")
    assert after.total.margin == Decimal("40.79")


def test_every_dimension_adds_up_to_the_total(order):
    report = margin.margin_report(DAY, DAY)
    for dimension in margin.DIMENSIONS:
        rows = report.orders if dimension == "order" else report.by[dimension]
        assert sum(r.margin for r in rows) == report.total.margin, dimension
        assert sum(r.revenue for r in rows) == report.total.revenue, dimension
    by_sku = {r.key: r for r in report.by["sku"]}
    # goods by line value (39.80 / 52.30 of 57.53 = 43.78, the rest 13.75); cost of goods:
    # the line's own
    assert (by_sku["TEE-M"].goods, by_sku["TEE-M"].cogs, by_sku["TEE-M"].units) == (
        Decimal("43.78"), Decimal("9.00"), 2)
    assert (by_sku["MUG-W"].goods, by_sku["MUG-W"].cogs) == (Decimal("13.75"), Decimal("3.33"))
    assert [r.key for r in report.by["country"]] == ["DE"]
    assert [r.key for r in report.by["service"]] == ["POST-REG"]
    assert [r.key for r in report.by["month"]] == ["2026-01"]
    assert [r.key for r in report.by["week"]] == ["2026-01-05"]


def test_a_refund_and_a_replacement_reduce_the_margin(order, costed, ship_order, reasons):
    replacement = ship_order([(costed["tee"], 1, "19.90")], channel="replacement",
                             placed_at=datetime(2026, 1, 9, 10, 0, tzinfo=UTC))
    case = AfterSalesCase(number="RMA-2026-000001", order_id=order.id,
                          case_type=CaseType.return_replacement,
                          reason_id=reasons["DEFECTIVE"].id, contact_name="Erika",
                          due_at=datetime(2026, 1, 12, tzinfo=UTC),
                          replacement_order_id=replacement.id)
    db.session.add(case)
    db.session.flush()
    db.session.add_all([
        Refund(case_id=case.id, amount=Decimal("10.00"), currency="EUR",
               state=RefundState.approved, decided_at=datetime(2026, 1, 10, tzinfo=UTC)),
        Refund(case_id=case.id, amount=Decimal("99.00"), currency="EUR",
               state=RefundState.rejected)])
    db.session.commit()
    report = margin.margin_report(DAY, date(2026, 1, 31))
    # the replacement order is no order of its own: its costs are the original's
    assert [r.key for r in report.orders] == [order.number]
    [row] = report.orders
    # refund 10.00 EUR at the order date's 1.10; replacement: 1 x 4.50 + 6.30 + 0.45
    assert (row.refunds, row.replacements) == (Decimal("11.00"), Decimal("11.25"))
    assert row.margin == Decimal("41.77") - Decimal("11.00") - Decimal("11.25")


def test_open_orders_and_missing_rates_are_left_out(costed, ship_order, create_order):
    create_order([(costed["tee"], 1)], placed_at=datetime(2026, 1, 5, 11, 0, tzinfo=UTC))
    ship_order([(costed["tee"], 1, "10.00")], currency="GBP",
               placed_at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    db.session.execute(delete(ExchangeRate).where(ExchangeRate.currency == "GBP"))
    db.session.commit()
    report = margin.margin_report(DAY, DAY)
    assert len(report.orders) == 0
    assert (report.open_orders, report.not_converted, report.missing_rates) == (1, 1, ["GBP"])


def test_unpriced_payment_method_costs_no_fee(costed, ship_order, client, login_as):
    ship_order([(costed["tee"], 1, "10.00")], payment_method="cod",
               placed_at=datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    report = margin.margin_report(DAY, DAY)
    assert report.total.fee == Decimal("0.00")
    assert report.unpriced_methods == {"cod": 1}
    login_as("manager")
    page = _text(client.get("/reports/margin?date_from=2026-01-05&date_to=2026-01-05"))
    assert "Payment methods without a fee in the settings (charged nothing): cod × 1." in page


# --------------------------------------------------------------------------- fee setting


def test_payment_fees_setting_parses_and_prints():
    fees = parse_fees("Card: 2.9% + 0.30\n\n# comment\npaypal: 3.4%\nbank: 0.50\nfree: 0")
    assert fees == {"card": (Decimal("2.9"), Decimal("0.30")),
                    "paypal": (Decimal("3.4"), Decimal(0)),
                    "bank": (Decimal(0), Decimal("0.50")), "free": (Decimal(0), Decimal(0))}
    assert str(fees) == "bank: 0.5\ncard: 2.9% + 0.3\nfree: 0\npaypal: 3.4%"
    assert parse_fees(str(fees)) == fees
    assert fees.fee("card", Decimal("100")) == (Decimal("2.9"), Decimal("0.30"))
    assert fees.fee("unknown", Decimal("100")) == (Decimal(0), Decimal(0))


@pytest.mark.parametrize(("text", "message"), [
    ("card 2.9%", 'line 1: write "method: percent% + fixed"'),
    ("card: 2.9%\ncard: 1%", "line 2: card is listed twice"),
    ("card: 100%", "line 1: a fee of 100% is not below 100%"),
    ("card: -1", "line 1: '-1' is not an amount of zero or more"),
    ("card: x%", "line 1: 'x' is not an amount of zero or more"),
    ("card: 1% + 2%", "line 1: card has two percentages"),
    ("card: 1 + 2", "line 1: card has two fixed amounts"),
    ("card:", "line 1: card has no fee; write 0 for none"),
    ("credit card: 1%", "line 1: the method must be a short code"),
])
def test_payment_fees_setting_refuses_bad_lines(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_fees(text)


def test_settings_service_refuses_bad_fees_and_keeps_the_old(app, create_user):
    admin = create_user("fee-admin", roles=("admin",))
    with pytest.raises(FieldErrors) as err:
        core_services.update_settings({"payment_fees": "card: 150%"}, actor=admin)
    assert "payment_fees" in err.value.errors
    assert settings.get("payment_fees") == parse_fees(
        "card: 2.9% + 0.30\npaypal: 3.4% + 0.35\nalipay: 1.8%")


def test_payment_method_from_the_api_payload(app):
    from erp.orders.services.intake import validate_order_payload

    base = {"number": "PM-1", "placed_at": "2026-01-05T10:00:00", "customer_name": "A",
            "shipping_address": {"name": "A", "address1": "x", "city": "Berlin",
                                 "postal_code": "10115", "country": "DE"},
            "currency": "EUR", "lines": [{"sku": "TEE", "quantity": 1, "unit_price": "1"}]}
    cleaned, errors = validate_order_payload({**base, "payment_method": " PayPal "})
    assert not errors
    assert cleaned["payment_method"] == "paypal"
    _cleaned, errors = validate_order_payload({**base, "payment_method": "pay pal!"})
    assert "payment_method" in errors
    assert db.session.scalar(select(AfterSalesCase.id)) is None


# --------------------------------------------------------------------------- workbook


def test_margin_workbook_has_sheets_and_charts(order):
    from erp.reports import registry
    from erp.reports.excel import margin as margin_book
    from tests.reports.excel_checks import assert_format, check_structure, column, reopen, rows

    data, name = registry.build_report("margin", DAY, DAY, user="manager")
    assert name == "margin-2026-01-05-2026-01-05.xlsx"
    book = reopen(data)
    check_structure(book, ["Summary", "Counts", *(str(t) for t in margin_book.SHEETS.values())],
                    "margin")
    summary = dict(rows(book["Summary"]))
    assert summary["Revenue"] == pytest.approx(62.98)
    assert summary["Margin"] == pytest.approx(41.77)
    assert summary["Shipping cost"] == pytest.approx(-6.30)
    [line] = rows(book["Orders"])
    assert line[0] == order.number
    assert line[column(book["Orders"], "Margin") - 1] == pytest.approx(41.77)
    assert_format(book["By country"], 2, "Margin", "money")
    assert_format(book["By country"], 2, "Margin %", "percent")
    assert len(book["By month"]._charts) == 1
    assert len(book["By country"]._charts) == 1
    assert len(book["By brand"]._charts) == 1


# --------------------------------------------------------------------------- screens


def _text(response) -> str:
    import html

    return html.unescape(response.get_data(as_text=True))


def test_margin_screen_by_order_and_dimension(order, client, login_as):
    login_as("manager")
    page = _text(client.get("/reports/margin?date_from=2026-01-05&date_to=2026-01-05"))
    assert order.number in page
    assert "41.77" in page
    assert "62.98" in page
    assert "How the margin is worked out" in page
    by_sku = _text(client.get("/reports/margin?dimension=sku&date_from=2026-01-05"
                              "&date_to=2026-01-05"))
    assert "TEE-M" in by_sku
    assert "MUG-W" in by_sku
    assert "spread over its lines by line value" in by_sku
    searched = _text(client.get("/reports/margin?dimension=sku&q=mug&date_from=2026-01-05"
                                "&date_to=2026-01-05"))
    assert "MUG-W" in searched
    assert "TEE-M" not in searched
    odd = _text(client.get("/reports/margin?dimension=nonsense&date_from=2026-01-09"
                           "&date_to=2026-01-01"))
    assert "The period's start is after its end" in odd


def test_margin_screen_is_for_managers(order, client, login_as):
    login_as("warehouse")
    assert client.get("/reports/margin").status_code == 403
    login_as("customer_service")
    assert client.get("/reports/margin").status_code == 403


def test_dashboard_margin_tile(order, client, login_as):
    login_as("manager")
    page = _text(client.get("/reports/dashboard?date_from=2026-01-01&date_to=2026-01-10"))
    tile = page[page.index('id="tile-margin"'):]
    tile = tile[:tile.index("</a>")]
    assert "41.77" in tile
    assert "66.3 %" in tile  # 41.77 / 62.98
    assert "62.98" in tile


def test_margin_report_is_listed_and_runs_as_a_job(order, client, login_as):
    login_as("manager")
    assert "report-margin" in _text(client.get("/reports/excel"))
