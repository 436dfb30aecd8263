"""Opening a case: finding the order by its number, a parcel's tracking number or an e-mail."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from erp.aftersales.queries import find_orders_for_case


@pytest.fixture
def tee(customs_stock):
    return customs_stock("TEE-1", qty=40)


@pytest.fixture
def erika(ship_order, tee, reasons):
    """Two shipped orders of one customer, the second placed later."""
    first = ship_order([(tee, 1, "15.00")], number="WEB-7001", email="Erika@Example.com",
                       placed_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    second = ship_order([(tee, 2, "15.00")], number="WEB-7002", email="erika@example.com",
                        placed_at=datetime(2026, 4, 1, 9, 0, tzinfo=UTC), country="FR")
    return first, second


# --------------------------------------------------------------------------- the query


def test_an_order_number_finds_that_order_alone(erika):
    first, _second = erika
    search = find_orders_for_case("  web-7001 ")
    assert search.orders == [first]
    assert search.text == "web-7001"
    assert not search.more


def test_a_parcel_tracking_number_finds_its_order(erika):
    _first, second = erika
    tracking = second.parcel.tracking_number
    assert tracking
    assert find_orders_for_case(tracking).orders == [second]
    assert find_orders_for_case(tracking.lower()).orders == [second]


def test_an_email_finds_every_order_of_the_customer_newest_first(erika):
    first, second = erika
    assert find_orders_for_case("ERIKA@example.COM").orders == [second, first]


def test_an_email_of_one_order_finds_it(ship_order, tee, reasons):
    order = ship_order([(tee, 1)], email="solo@example.com")
    assert find_orders_for_case("solo@example.com").orders == [order]


def test_nothing_found_and_nothing_typed(erika):
    assert find_orders_for_case("nobody@example.com").orders == []
    assert find_orders_for_case("ZZ999999999GB").orders == []
    assert find_orders_for_case("").orders == []
    assert find_orders_for_case(None).orders == []


def test_an_order_id_is_still_found_when_nothing_else_matches(erika):
    first, _second = erika
    assert find_orders_for_case(str(first.id)).orders == [first]


def test_the_list_is_capped_and_says_so(erika):
    search = find_orders_for_case("erika@example.com", limit=1)
    assert [o.number for o in search.orders] == ["WEB-7002"]
    assert search.more


# --------------------------------------------------------------------------- the screen


def test_one_match_by_tracking_opens_the_case_form(client, login_as, erika):
    login_as("customer_service")
    _first, second = erika
    page = client.get("/aftersales/cases/new",
                      query_string={"order": second.parcel.tracking_number})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "New case for order" in text
    assert "WEB-7002" in text
    assert 'name="case_type"' in text


def test_one_match_by_email_opens_the_case_form(client, login_as, ship_order, tee, reasons):
    login_as("customer_service")
    order = ship_order([(tee, 1)], email="solo@example.com")
    text = client.get("/aftersales/cases/new",
                      query_string={"order": "Solo@Example.com"}).get_data(as_text=True)
    assert "New case for order" in text
    assert order.number in text
    assert 'name="case_type"' in text


def test_several_matches_list_the_orders_to_choose_from(client, login_as, erika):
    login_as("customer_service")
    page = client.get("/aftersales/cases/new", query_string={"order": "erika@example.com"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "2 orders match" in text
    assert 'name="case_type"' not in text  # no form until one is chosen
    # number, date, customer, country and state of each, newest first
    assert text.index("WEB-7002") < text.index("WEB-7001")
    assert 'href="/aftersales/cases/new?order=WEB-7001"' in text
    assert "2026-03-01" in text
    assert "2026-04-01" in text
    assert "Erika Mustermann" in text
    assert ">FR<" in text
    assert "shipped" in text
    chosen = client.get("/aftersales/cases/new?order=WEB-7001").get_data(as_text=True)
    assert 'name="case_type"' in chosen


def test_no_match_says_what_was_searched(client, login_as, erika):
    login_as("customer_service")
    text = client.get("/aftersales/cases/new",
                      query_string={"order": "nobody@example.com"}).get_data(as_text=True)
    assert ('No order has "nobody@example.com" as its order number, as the tracking number of '
            "one of its parcels or as the customer's e-mail address.") in text
    assert 'value="nobody@example.com"' in text  # kept in the field to correct it


def test_several_matches_in_chinese(client, login_as, erika):
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    text = client.get("/aftersales/cases/new",
                      query_string={"order": "erika@example.com"}).get_data(as_text=True)
    assert "有 2 个订单与“erika@example.com”匹配" in text
    assert "2026年3月1日" in text
