"""Production order screens: list, export, detail with its moves, board, the order's panel."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from openpyxl import load_workbook

from erp.extensions import db
from erp.production.models import ProductionState
from erp.production.services import orders as production
from tests.production.po_helpers import MEASURED, made_to_order_sku, paid_order

PS = ProductionState


@pytest.fixture
def po(create_sku, create_supplier, create_order):
    sku = made_to_order_sku(create_sku, create_supplier)
    order = paid_order(create_order, sku, measurements=MEASURED)
    [made] = production.create_for_orders([order], actor=None)
    db.session.commit()
    return made


def test_list_searches_by_number_order_and_maker(app, client, login_as, po):
    login_as("customer_service")
    for q in (po.number, po.order.number, "suzhou"):
        page = client.get("/production/orders", query_string={"q": q}).get_data(as_text=True)
        assert po.number in page, q
    page = client.get("/production/orders", query_string={"q": "nobody"}).get_data(as_text=True)
    assert po.number not in page
    page = client.get("/production/orders", query_string={"state": "shipped"}).get_data(
        as_text=True)
    assert po.number not in page
    po.due_date = date.today() + timedelta(days=1)
    db.session.commit()
    page = client.get("/production/orders", query_string={"late": "1"}).get_data(as_text=True)
    assert po.number not in page  # due tomorrow
    po.due_date = date.today() - timedelta(days=1)
    db.session.commit()
    page = client.get("/production/orders", query_string={"late": "1"}).get_data(as_text=True)
    assert po.number in page


def test_export_lists_the_measurements(app, client, login_as, po):
    login_as("purchasing")
    response = client.get("/production/orders/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    flat = [str(value) for row in rows for value in row if value is not None]
    assert po.number in flat
    assert any("chest_cm=96.5" in value for value in flat)


def test_detail_shows_measurements_and_moves_on(app, client, login_as, po):
    login_as("purchasing")
    page = client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    assert "Chest" in page
    assert "96.5" in page
    assert "Production started" in page
    response = client.post(f"/production/orders/{po.id}/move", data={"to": "in_production"})
    assert response.status_code == 302
    db.session.expire_all()
    assert po.state == PS.in_production
    # the same move again is refused, nothing changes
    response = client.post(f"/production/orders/{po.id}/move", data={"to": "in_production"})
    assert response.status_code == 409
    db.session.expire_all()
    assert po.state == PS.in_production


def test_viewers_see_no_moves_and_may_not_post(app, client, login_as, po):
    login_as("warehouse")
    page = client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    assert "Production started" not in page
    assert client.post(f"/production/orders/{po.id}/move",
                       data={"to": "in_production"}).status_code == 403


def test_receive_link_only_when_shipped_and_the_view_exists(app, client, login_as, po):
    # the warehouse receives (procurement.receive); purchasing, who moves the order, may not
    login_as("warehouse")
    link = f"/production/orders/{po.id}/receive"
    assert link not in client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    for move in (production.start, production.finish, production.ship):
        move(po, actor=None)
    db.session.commit()
    page = client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    assert (link in page) == ("production.receive" in app.view_functions)
    client.post("/logout")
    login_as("purchasing")
    assert link not in client.get(f"/production/orders/{po.id}").get_data(as_text=True)


def test_board_shows_the_late_order(app, client, login_as, po):
    po.due_date = date.today() - timedelta(days=3)
    db.session.commit()
    login_as("manager")
    page = client.get("/production/board").get_data(as_text=True)
    late = page.split('id="late"')[1].split('id="due"')[0]
    assert po.number in late


def test_order_page_shows_its_production_orders(app, client, login_as, po):
    login_as("customer_service")
    page = client.get(f"/orders/{po.order_id}").get_data(as_text=True)
    assert "Production orders" in page
    assert po.number in page


def test_receive_link_with_the_receiving_view(app, client, login_as, po):
    """With mto's view registered (a stand-in here), a shipped order offers "Receive"."""
    from erp.core.permissions import permission_required

    if "production.receive" not in app.view_functions:
        @permission_required("production.view")
        def receive(po_id):
            return "receive"
        app.view_functions["production.receive"] = receive
    login_as("warehouse")
    page = client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    assert f"/production/orders/{po.id}/receive" not in page  # ordered: nothing to receive
    for move in (production.start, production.finish, production.ship):
        move(po, actor=None)
    db.session.commit()
    page = client.get(f"/production/orders/{po.id}").get_data(as_text=True)
    assert f"/production/orders/{po.id}/receive" in page


def test_search_takes_wildcards_literally(app, client, login_as, po):
    login_as("purchasing")
    for q in ("%", "_", "mo-%"):
        page = client.get("/production/orders", query_string={"q": q}).get_data(as_text=True)
        assert po.number not in page, q
