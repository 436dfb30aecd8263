"""Sales and dispatch, and the customs summary, from parcels shipped through the services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from erp.reports.excel import customs_summary, sales_dispatch
from tests.reports.excel_checks import assert_format, check_structure, reopen, rows


@pytest.fixture
def shipped(customs_stock, ship_order):
    """Three shipped orders; return the period (yesterday to today).

    DE/EUR: TEE x2 @ 10.00 (HS 61), BAG x1 @ 25.50 (HS 42); FR/EUR: TEE x3 @ 10.00;
    US/USD: BAG x1 @ 30.00.
    """
    tee = customs_stock("TEE-1", 20)
    bag = customs_stock("BAG-1", 20, hs_code="420221", customs_description="Handbag")
    ship_order([(tee, 2, "10.00"), (bag, 1, "25.50")], country="DE")
    ship_order([(tee, 3, "10.00")], country="FR", city="Paris", postal_code="75001")
    ship_order([(bag, 1, "30.00")], country="US", currency="USD", city="New York",
               postal_code="10001", region="NY")
    today = datetime.now(UTC).date()
    return today - timedelta(days=1), today


def test_shipped_by_sku_and_country(shipped):
    by_sku = sales_dispatch.shipped_by("sku", *shipped)
    assert [(r.key, r.currency, r.parcels, r.units, r.value) for r in by_sku] == [
        ("TEE-1", "EUR", 2, 5, Decimal("50.00")),
        ("BAG-1", "EUR", 1, 1, Decimal("25.50")),
        ("BAG-1", "USD", 1, 1, Decimal("30.00"))]
    by_country = sales_dispatch.shipped_by("country", *shipped)
    assert [(r.key, r.currency, r.units, r.value) for r in by_country] == [
        ("DE", "EUR", 3, Decimal("45.50")), ("FR", "EUR", 3, Decimal("30.00")),
        ("US", "USD", 1, Decimal("30.00"))]
    assert sales_dispatch.totals_by_currency(by_sku) == {"EUR": (6, Decimal("75.50")),
                                                         "USD": (1, Decimal("30.00"))}
    [brand] = sales_dispatch.shipped_by("brand", *shipped)[:1]
    assert (brand.key, brand.units) == ("TESTBR", 6)


def test_nothing_shipped_before_the_period(shipped):
    start, _ = shipped
    assert sales_dispatch.shipped_by("sku", start - timedelta(days=30),
                                     start - timedelta(days=2)) == []


def test_sales_workbook(shipped):
    data, name = sales_dispatch.build(*shipped)
    assert name.startswith("sales-dispatch-")
    book = reopen(data)
    check_structure(book, ["By SKU", "By brand", "By category", "By country", "Totals"],
                    "sales_dispatch")
    assert rows(book["Totals"]) == [("EUR", 6, 75.5), ("USD", 1, 30)]
    assert_format(book["By SKU"], 2, "Units", "qty")
    assert_format(book["By SKU"], 2, "Value", "money")


def test_customs_by_country_and_chapter(shipped):
    grid = customs_summary.customs_rows(*shipped)
    assert [(r.country, r.chapter, r.currency, r.parcels, r.units, r.value) for r in grid] == [
        ("DE", "42", "EUR", 1, 1, Decimal("25.50")), ("DE", "61", "EUR", 1, 2, Decimal("20.00")),
        ("FR", "61", "EUR", 1, 3, Decimal("30.00")), ("US", "42", "USD", 1, 1, Decimal("30.00"))]
    chapters = customs_summary.customs_rows(*shipped, by_country=False)
    assert [(r.chapter, r.currency, r.parcels, r.value) for r in chapters] == [
        ("42", "EUR", 1, Decimal("25.50")), ("42", "USD", 1, Decimal("30.00")),
        ("61", "EUR", 2, Decimal("50.00"))]
    countries = customs_summary.parcels_by_country(*shipped)
    assert [(r.country, r.currency, r.parcels, r.value) for r in countries] == [
        ("DE", "EUR", 1, Decimal("45.50")), ("FR", "EUR", 1, Decimal("30.00")),
        ("US", "USD", 1, Decimal("30.00"))]


def test_customs_workbook(shipped):
    book = reopen(customs_summary.build(*shipped)[0])
    check_structure(book, ["Country x chapter", "By country", "By HS chapter", "Totals"],
                    "customs_summary")
    assert rows(book["Totals"]) == [("EUR", 2, 75.5), ("USD", 1, 30)]
    assert_format(book["Country x chapter"], 2, "Declared value", "money")
    assert_format(book["By country"], 2, "Parcels", "qty")
