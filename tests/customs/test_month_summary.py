"""The monthly 9610 summary: grouping by the summary-declaration keys, sums, trace, screens."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from bench.customs_month_data import insert_ledger
from erp.customs.summary import SummaryKey, monthly_summary, periods, summary_trace
from erp.extensions import db

TEE, BAG = "6109100021", "4202220090"
DE, FR = "304", "305"
CNY, EUR = "142", "300"


def _line(gcode, country, currency, qty, value, qty2=None, unit2=None):
    return {"gcode": gcode, "country": country, "currency": currency, "qty": Decimal(qty),
            "qty1": Decimal(qty), "unit1": "011", "qty2": qty2, "unit2": unit2,
            "price": Decimal(value) / Decimal(qty), "total_price": Decimal(value)}


def _tee(country, currency, qty, value):
    return _line(TEE, country, currency, qty, value, Decimal("0.2") * qty, "035")


@pytest.fixture
def ledger(app):
    """Seven parcels in 2026-11, one in 2026-10, one non-9610 and one undeclared."""
    parcels = [
        # 0: a tee to Germany in CNY, and a bag to Germany in CNY (two groups, one parcel)
        {"lines": [_tee(DE, CNY, 2, "200.00"), _line(BAG, DE, CNY, 1, "80.50")]},
        # 1: another tee to Germany in CNY (same group as parcel 0's first line)
        {"lines": [_tee(DE, CNY, 1, "99.90")]},
        # 2: a tee to France in CNY
        {"lines": [_tee(FR, CNY, 3, "270.00")]},
        # 3: a tee to Germany in EUR
        {"country": DE, "currency": EUR, "lines": [_tee(DE, EUR, 1, "15.00")]},
        # 4: two bags to France in EUR on two lines of one parcel (one parcel, two lines)
        {"currency": EUR, "lines": [_line(BAG, FR, EUR, 1, "10.00"),
                                    _line(BAG, FR, EUR, 2, "20.00")]},
        # 5: another month: not in November's summary
        {"period": "2026-10", "ie_date": "20261031", "lines": [_tee(DE, CNY, 5, "500.00")]},
        # 6: not 9610 (a general-trade declaration): excluded
        {"trade_mode": "0110", "lines": [_tee(DE, CNY, 7, "700.00")]},
        # 7: dispatched under 9610 without a declaration (check-customs' business)
        {"declare": False},
    ]
    made = insert_ledger(parcels, tag="S")
    db.session.commit()
    return made


def _by_key(lines):
    return {(x.gcode, x.country, x.currency): x for x in lines}


def test_summary_groups_by_the_declaration_keys_with_exact_sums(ledger):
    lines = monthly_summary("2026-11")
    got = _by_key(lines)
    assert sorted(got) == sorted([(TEE, DE, CNY), (BAG, DE, CNY), (TEE, FR, CNY),
                                  (TEE, DE, EUR), (BAG, FR, EUR)])
    tee_de = got[(TEE, DE, CNY)]
    assert (tee_de.qty1, tee_de.qty2, tee_de.total_price) == (
        Decimal(3), Decimal("0.6"), Decimal("299.90"))
    assert (tee_de.parcels, tee_de.lines) == (2, 2)
    assert (tee_de.unit1, tee_de.unit2, tee_de.ebc_code, tee_de.port_code, tee_de.trade_mode) \
        == ("011", "035", "4403960ABC", "5301", "9610")
    bag_de = got[(BAG, DE, CNY)]
    assert (bag_de.qty1, bag_de.qty2, bag_de.total_price, bag_de.parcels, bag_de.lines) == (
        Decimal(1), None, Decimal("80.50"), 1, 1)
    assert (got[(TEE, FR, CNY)].qty1, got[(TEE, FR, CNY)].total_price) == (3, Decimal("270.00"))
    assert got[(TEE, DE, EUR)].total_price == Decimal("15.00")
    bag_fr = got[(BAG, FR, EUR)]
    assert (bag_fr.qty1, bag_fr.total_price, bag_fr.parcels, bag_fr.lines) == (
        Decimal(3), Decimal("30.00"), 1, 2)
    # the whole month: neither October's parcel nor the 0110 declaration is in it
    assert sum(x.total_price for x in lines) == Decimal("695.40")
    assert sum(x.lines for x in lines) == 7


def test_other_months_and_trade_modes_stay_apart(ledger):
    october = monthly_summary("2026-10")
    assert [(x.gcode, x.qty1, x.total_price) for x in october] == [
        (TEE, Decimal(5), Decimal("500.00"))]
    assert monthly_summary("2026-12") == []
    assert [(p.period, p.parcels) for p in periods()] == [("2026-11", 5), ("2026-10", 1)]


def test_a_summary_line_traces_back_to_its_parcels(ledger):
    tee_de = _by_key(monthly_summary("2026-11"))[(TEE, DE, CNY)]
    rows = summary_trace("2026-11", tee_de.key)
    numbers = ledger["parcel_numbers"]
    assert [(r.parcel_number, r.gnum, r.qty1, r.total_price) for r in rows] == [
        (numbers[0], 1, Decimal(2), Decimal("200.00")),
        (numbers[1], 1, Decimal(1), Decimal("99.90"))]
    assert rows[0].tracking_number == "TR" + numbers[0][1:]
    assert rows[0].order_no == "O" + numbers[0][1:]
    assert rows[0].cop_no == "CN" + numbers[0][1:]
    assert rows[0].sku_code
    # the traced rows add up to the summary line
    assert sum(r.total_price for r in rows) == tee_de.total_price
    bag_fr = _by_key(monthly_summary("2026-11"))[(BAG, FR, EUR)]
    assert [(r.gnum, r.qty) for r in summary_trace("2026-11", bag_fr.key)] == [
        (1, Decimal(1)), (2, Decimal(2))]
    # a key with no second unit does not pick up the lines that have one
    no_unit2 = SummaryKey(**{**tee_de.key.__dict__, "unit2": None})
    assert summary_trace("2026-11", no_unit2) == []


def test_key_round_trips_through_query_arguments():
    key = SummaryKey("E1", TEE, DE, CNY, "5301", "9610", "011", None)
    assert SummaryKey.from_args(key.as_args()) == key
    assert SummaryKey.from_args({"gcode": TEE}) is None


def test_month_screens_and_workbooks(ledger, login_as, client):
    login_as("manager")
    page = client.get("/customs/months")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "2026-11" in html
    assert "2026-10" in html
    assert "2026-10" not in client.get("/customs/months?q=2026-11").get_data(as_text=True)
    detail = client.get("/customs/months/2026-11")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert TEE in html
    assert BAG in html
    assert "299.90" in html
    key = _by_key(monthly_summary("2026-11"))[(TEE, DE, CNY)].key
    trace = client.get("/customs/months/2026-11/trace", query_string=key.as_args())
    assert trace.status_code == 200
    assert ledger["parcel_numbers"][1] in trace.get_data(as_text=True)
    assert ledger["parcel_numbers"][2] not in trace.get_data(as_text=True)
    assert client.get("/customs/months/2026-13").status_code == 404
    assert client.get("/customs/months/2026-11/trace?gcode=1").status_code == 404

    book = client.get("/customs/months/2026-11/summary.xlsx")
    assert book.status_code == 200
    sheet = load_workbook(io.BytesIO(book.data), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + 5
    header = rows[0]
    values = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert sum(Decimal(str(v["Total value"])) for v in values) == Decimal("695.40")
    assert {v["HS code"] for v in values} == {TEE, BAG}

    trace_book = client.get("/customs/months/2026-11/trace.xlsx", query_string=key.as_args())
    rows = list(load_workbook(io.BytesIO(trace_book.data), read_only=True)
                .active.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == ledger["parcel_numbers"][:2]
    months = client.get("/customs/months/export.xlsx")
    rows = list(load_workbook(io.BytesIO(months.data), read_only=True)
                .active.iter_rows(values_only=True))
    assert [r[:3] for r in rows[1:]] == [("2026-11", 5, 7), ("2026-10", 1, 1)]


def test_people_without_customs_access_do_not_see_the_months(ledger, login_as, client):
    login_as("customer_service")
    assert client.get("/customs/months").status_code == 403


def test_month_page_and_trace_are_paginated(ledger, app, login_as, client):
    login_as("manager")
    app.config["ERP_PAGE_SIZE"] = 2
    pages = [client.get(f"/customs/months/2026-11?page={n}").get_data(as_text=True)
             for n in (1, 2, 3)]
    assert all("Page %d of 3" % n in html for n, html in enumerate(pages, start=1))
    # five summary lines, each on exactly one page
    trace_links = [html.count("/customs/months/2026-11/trace?") for html in pages]
    assert trace_links == [2, 2, 1]
    key = _by_key(monthly_summary("2026-11"))[(BAG, FR, EUR)].key
    app.config["ERP_PAGE_SIZE"] = 1
    second = client.get("/customs/months/2026-11/trace",
                        query_string={**key.as_args(), "page": 2}).get_data(as_text=True)
    assert "Page 2 of 2" in second
    assert "CN" + ledger["parcel_numbers"][4][1:] in second
