"""Purchase spend by supplier and month, converted to the base currency at the order date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from erp.core import services as core_services
from erp.extensions import db
from erp.reports.excel import purchase_spend
from tests.reports.excel_checks import assert_format, check_structure, reopen, rows

PERIOD = (date(2026, 1, 1), date(2026, 2, 28))


@pytest.fixture
def orders(create_purchase_order, create_supplier_row, create_sku, exchange_rates):
    """Build the orders of the period (and two that do not count).

    S1 (USD): 10 x 5.00 on 2026-01-15 and 4 x 2.50 on 2026-02-03; S2 (EUR, 1.10): 3 x 10.00
    on 2026-01-20 = 33.00 USD; S3 (GBP, no rate then): 2 x 7.00 on 2026-02-10; outside: S1 on
    2025-12-31 and a draft.

    By month (USD): 2026-01 83.00, 2026-02 10.00 (GBP not converted); total 93.00.
    """
    # GBP has a rate only from March: none on the order date (procurement needs one today).
    core_services.set_exchange_rate("GBP", date(2026, 3, 1), Decimal("1.25"), actor=None)
    s1 = create_supplier_row("S1", currency="USD")
    s2 = create_supplier_row("S2", currency="EUR")
    s3 = create_supplier_row("S3", currency="GBP")
    sku = create_sku("PO-SKU")
    for supplier, qty, price, day in ((s1, 10, "5.00", date(2026, 1, 15)),
                                      (s1, 4, "2.50", date(2026, 2, 3)),
                                      (s2, 3, "10.00", date(2026, 1, 20)),
                                      (s3, 2, "7.00", date(2026, 2, 10)),
                                      (s1, 1, "99.00", date(2025, 12, 31))):
        po = create_purchase_order(supplier, [(sku, qty, price)], state="ordered")
        po.ordered_on = day
    create_purchase_order(s1, [(sku, 1, "50.00")])  # a draft never counts
    db.session.commit()


def test_spend_by_supplier_and_month(orders):
    report = purchase_spend.purchase_spend(*PERIOD)
    assert [(r.supplier, r.month, r.currency, r.orders, r.amount, r.base)
            for r in report.rows] == [
        ("S1", "2026-01", "USD", 1, Decimal("50.00"), Decimal("50.00")),
        ("S1", "2026-02", "USD", 1, Decimal("10.00"), Decimal("10.00")),
        ("S2", "2026-01", "EUR", 1, Decimal("30.00"), Decimal("33.00")),
        ("S3", "2026-02", "GBP", 1, Decimal("14.00"), None)]
    assert report.by_month() == [("2026-01", Decimal("83.00")), ("2026-02", Decimal("10.00"))]
    assert report.base_total == Decimal("93.00")
    assert [s[0] for s in report.by_supplier()] == ["S1", "S2", "S3"]
    assert report.unconverted == ["S3 2026-02-10: 14.00 GBP"]


def test_spend_workbook(orders):
    data, name = purchase_spend.build(*PERIOD)
    assert name == "purchase-spend-2026-01-01-2026-02-28.xlsx"
    book = reopen(data)
    check_structure(book, ["By supplier", "By month", "Supplier x month"], "purchase_spend")
    assert rows(book["By month"]) == [("2026-01", 83), ("2026-02", 10), ("Total", 93)]
    assert_format(book["By month"], 2, "Spend (USD)", "money")
    params = [r for r in rows(book["Parameters"]) if r[0] == "Not converted (no rate)"]
    assert params == [("Not converted (no rate)", "S3 2026-02-10: 14.00 GBP")]
