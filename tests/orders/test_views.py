"""Customer-service order screens: search, detail, actions through the views, export."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime

import pytest
from openpyxl import load_workbook

from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState

O = OrderState  # noqa: E741


def text(response) -> str:
    """Return the page with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def refreshed(order: CustomerOrder) -> CustomerOrder:
    db.session.expire_all()
    return db.session.get(CustomerOrder, order.id)


@pytest.fixture
def orders(create_order, stocked_sku):
    """Three committed orders: DE (tee), US (mug, placed later), GB (tee and mug, on hold)."""
    tee = stocked_sku("TEE-BLK-M", 10, "A-01-01-01")
    mug = stocked_sku("MUG-WHT", 0)
    de = create_order([(tee, 2)], number="WEB-1001", customer_name="Erika Mustermann",
                      email="erika@example.de", placed_at=datetime(2026, 3, 1, 10, tzinfo=UTC))
    us = create_order([(mug, 1, "12.50")], number="WEB-1002", customer_name="John Smith",
                      email="john.smith@example.com", country="US", city="Portland",
                      region="OR", postal_code="97201", currency="USD",
                      placed_at=datetime(2026, 3, 5, 10, tzinfo=UTC))
    gb = create_order([(tee, 1), (mug, 3)], number="WEB-1003", customer_name="Amelia Jones",
                      email="amelia@example.co.uk", country="GB", city="Leeds",
                      postal_code="LS1 4AP", currency="GBP", state=O.on_hold,
                      hold_reason="Address check",
                      placed_at=datetime(2026, 3, 9, 10, tzinfo=UTC))
    db.session.commit()
    return {"de": de, "us": us, "gb": gb, "tee": tee, "mug": mug}


def numbers(response) -> set[str]:
    return set(re.findall(r">(WEB-\d+)</a>", response.get_data(as_text=True)))


@pytest.mark.parametrize(("args", "expected"), [
    ({}, {"WEB-1001", "WEB-1002", "WEB-1003"}),
    ({"q": "WEB-1002"}, {"WEB-1002"}),
    ({"q": "web-100"}, {"WEB-1001", "WEB-1002", "WEB-1003"}),
    ({"q": "john.smith@example"}, {"WEB-1002"}),
    ({"q": "mustermann"}, {"WEB-1001"}),
    ({"sku": "mug-wht"}, {"WEB-1002", "WEB-1003"}),
    ({"sku": "TEE-BLK-M"}, {"WEB-1001", "WEB-1003"}),
    ({"sku": "NOPE"}, set()),
    ({"state": "on_hold"}, {"WEB-1003"}),
    ({"state": "allocatable"}, {"WEB-1001", "WEB-1002"}),
    ({"country": "gb"}, {"WEB-1003"}),
    ({"date_from": "2026-03-05"}, {"WEB-1002", "WEB-1003"}),
    ({"date_to": "2026-03-05"}, {"WEB-1001", "WEB-1002"}),
    ({"date_from": "2026-03-02", "date_to": "2026-03-08"}, {"WEB-1002"}),
    ({"q": "smith", "country": "DE"}, set()),
])
def test_search_by_each_criterion(client, login_as, orders, args, expected):
    login_as("customer_service")
    response = client.get("/orders/", query_string=args)
    assert response.status_code == 200
    assert numbers(response) == expected


def test_list_shows_line_count_and_goods_total_and_focuses_search(client, login_as, orders):
    login_as("customer_service")
    page = text(client.get("/orders/", query_string={"q": "WEB-1003"}))
    assert re.search(r'<input[^>]*name="q"[^>]*autofocus', page)
    row = page[page.index("WEB-1003"):]
    assert "Address check" in row
    assert "Allocate all" in page
    # 1 x 9.90 + 3 x 9.90
    assert "39.60" in row


def test_list_is_one_query_per_page(client, login_as, orders, create_order, app):
    from sqlalchemy import event

    login_as("manager")
    for n in range(15):
        create_order([(orders["tee"], 1), (orders["mug"], 2)], number=f"WEB-2{n:03d}")
    db.session.commit()
    seen = []

    def count(conn, cursor, statement, *args):
        if "customer_order" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        assert client.get("/orders/").status_code == 200
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    # the rows, their count, and the country choices: never one per order
    assert len(seen) <= 3


def test_state_pages_and_dashboard_cards(client, login_as, orders):
    login_as("customer_service")
    assert numbers(client.get("/orders/on-hold")) == {"WEB-1003"}
    assert numbers(client.get("/orders/to-allocate")) == {"WEB-1001", "WEB-1002"}
    assert numbers(client.get("/orders/backordered")) == set()
    home = text(client.get("/"))
    for title in ("Orders to allocate", "Backordered", "On hold"):
        assert title in home


def test_detail_shows_reservations_history_and_no_parcels(client, login_as, orders):
    login_as("customer_service")
    de = orders["de"]
    response = client.post(f"/orders/{de.id}/allocate", follow_redirects=True)
    page = text(response)
    assert "Order WEB-1001 is allocated." in page
    assert refreshed(de).state == O.allocated
    assert "A-01-01-01 × 2" in page
    assert "No parcels yet" in page
    assert "customer_order.state_changed" in page or "customer_order." in page
    assert "new → allocated" in page


def test_allocation_short_of_stock_backorders(client, login_as, orders):
    login_as("customer_service")
    page = text(client.post(f"/orders/{orders['us'].id}/allocate", follow_redirects=True))
    assert "is backordered" in page
    assert refreshed(orders["us"]).state == O.backordered


def test_hold_and_release_through_the_views(client, login_as, orders):
    login_as("customer_service")
    de = orders["de"]
    client.post(f"/orders/{de.id}/allocate")
    page = text(client.post(f"/orders/{de.id}/hold", data={"reason": "Customer called"},
                            follow_redirects=True))
    assert "Order WEB-1001 is on hold." in page
    order = refreshed(de)
    assert order.state == O.on_hold
    assert order.hold_reason == "Customer called"
    assert order.lines[0].allocated_qty == 0
    assert "Customer called" in page
    page = text(client.post(f"/orders/{de.id}/release", follow_redirects=True))
    assert "Order WEB-1001 released; it is allocated." in page
    assert refreshed(de).state == O.allocated


def test_hold_without_reason_is_refused_with_a_message(client, login_as, orders):
    login_as("customer_service")
    de = orders["de"]
    page = text(client.post(f"/orders/{de.id}/hold", data={"reason": ""},
                            follow_redirects=True))
    assert "This field is required." in page
    assert refreshed(de).state == O.new


def test_refusals_are_shown_as_messages(client, login_as, orders):
    login_as("customer_service")
    de = orders["de"]
    page = text(client.post(f"/orders/{de.id}/release", follow_redirects=True))
    assert 'To move order "WEB-1001" to "new"' in page
    assert 'it is "new"' in page
    client.post(f"/orders/{de.id}/cancel", data={"reason": "Duplicate"})
    page = text(client.post(f"/orders/{de.id}/hold", data={"reason": "Late"},
                            follow_redirects=True))
    assert 'it is "cancelled"' in page
    assert refreshed(de).state == O.cancelled
    response = client.get(f"/orders/{de.id}/address", follow_redirects=True)
    assert "can no longer change" in text(response)


def test_cancel_releases_reservations(client, login_as, orders):
    login_as("customer_service")
    gb = orders["gb"]
    client.post(f"/orders/{gb.id}/release")
    assert refreshed(gb).lines[0].allocated_qty == 1
    page = text(client.post(f"/orders/{gb.id}/cancel", data={"reason": "Customer changed mind"},
                            follow_redirects=True))
    assert "Order WEB-1003 cancelled." in page
    order = refreshed(gb)
    assert order.state == O.cancelled
    assert order.cancel_reason == "Customer changed mind"
    assert [line.allocated_qty for line in order.lines] == [0, 0]
    assert "Cancel order" not in page
    assert "Edit shipping address" not in page


def test_edit_shipping_address(client, login_as, orders):
    login_as("customer_service")
    us = orders["us"]
    page = text(client.get(f"/orders/{us.id}/address"))
    assert re.search(r'<input[^>]*autofocus[^>]*name="ship_name"|<input[^>]*name="ship_name"'
                     r'[^>]*autofocus', page)
    data = {"ship_name": "John Smith", "address1": "500 SW Main St", "address2": "Apt 4",
            "city": "Portland", "region": "OR", "postal_code": "97204", "country": "us",
            "phone": ""}
    response = client.post(f"/orders/{us.id}/address", data=data, follow_redirects=True)
    page = text(response)
    assert "Shipping address of order WEB-1002 saved." in page
    order = refreshed(us)
    assert (order.address1, order.postal_code, order.country) == ("500 SW Main St", "97204", "US")
    assert "customer_order.address_changed" in page


def test_edit_address_refused_by_the_service_shows_the_reason(client, login_as, orders):
    login_as("customer_service")
    us = orders["us"]
    data = {"ship_name": "John Smith", "address1": "1 Main St", "city": "Portland",
            "postal_code": "", "country": "US"}
    response = client.post(f"/orders/{us.id}/address", data=data)
    assert response.status_code == 422
    assert "addresses in US need one" in text(response)
    data.update(postal_code="97201", country="XX")
    response = client.post(f"/orders/{us.id}/address", data=data)
    assert response.status_code == 422
    assert "ISO 3166-1 country" in text(response)
    assert refreshed(us).address1 != "1 Main St"


def test_allocate_all_button(client, login_as, orders, app):
    app.config["ERP_JOBS_SYNC"] = True  # the job runs in the request (see test_allocation_job)
    login_as("customer_service")
    page = text(client.post("/orders/allocate", follow_redirects=True))
    assert "2 orders considered." in page
    assert "1 order allocated" in page
    assert "1 order backordered (waiting for stock)" in page
    assert refreshed(orders["de"]).state == O.allocated
    assert refreshed(orders["us"]).state == O.backordered
    assert refreshed(orders["gb"]).state == O.on_hold


@pytest.mark.parametrize("action", ["allocate", "hold", "release", "cancel", "address"])
def test_warehouse_role_gets_403_on_actions(client, login_as, orders, action):
    login_as("warehouse")
    de = orders["de"]
    assert client.get(f"/orders/{de.id}").status_code == 200
    response = client.post(f"/orders/{de.id}/{action}", data={"reason": "x"})
    assert response.status_code == 403
    assert client.post("/orders/allocate").status_code == 403
    assert refreshed(de).state == O.new


def test_warehouse_role_sees_no_action_buttons(client, login_as, orders):
    login_as("warehouse")
    page = text(client.get(f"/orders/{orders['de'].id}"))
    for label in ("Allocate", "Hold", "Cancel order", "Edit shipping address"):
        assert f">{label}<" not in page
    assert "Allocate all" not in text(client.get("/orders/"))


def test_export_uses_filters_and_neutralises_formulas(client, login_as, orders, create_order):
    login_as("customer_service")
    create_order([(orders["tee"], 1)], number="WEB-6666", country="FR", city="Paris",
                 postal_code="75001",
                 customer_name='=HYPERLINK("http://evil.example","click")')
    db.session.commit()
    response = client.get("/orders/export.xlsx", query_string={"country": "FR"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Order"
    assert [r[0] for r in rows[1:]] == ["WEB-6666"]
    name = rows[1][4]
    assert name.startswith("'=HYPERLINK")
    assert sheet.cell(row=2, column=5).data_type == "s"
    response = client.get("/orders/export.xlsx", query_string={"sku": "MUG-WHT"})
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sorted(r[0] for r in sheet.iter_rows(min_row=2, values_only=True)) == [
        "WEB-1002", "WEB-1003"]


def test_list_and_detail_show_the_warehouse_and_filter_by_it(client, login_as, orders,
                                                            dummy_warehouse):
    from erp.warehouse import services as warehouse_services

    lax = warehouse_services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                              actor=None)
    db.session.commit()
    login_as("customer_service")
    de = orders["de"]
    client.post(f"/orders/{de.id}/allocate")
    page = text(client.get(f"/orders/{de.id}"))
    assert "Ships from" in page
    assert "WH1" in page
    listed = text(client.get("/orders/", query_string={"q": "WEB-1001"}))
    assert "<td>WH1</td>" in listed
    assert numbers(client.get("/orders/", query_string={"warehouse": dummy_warehouse.id})) == \
        {"WEB-1001"}
    assert numbers(client.get("/orders/", query_string={"warehouse": lax.id})) == set()
    assert "chosen at allocation" in text(client.get(f"/orders/{orders['us'].id}"))
