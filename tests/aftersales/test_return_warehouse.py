"""Returns go to a receiving warehouse: by the route for the buyer's country, or as chosen."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import Grade
from erp.aftersales.services import returns
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services.routes import create_route
from tests.aftersales.test_returns import returned  # noqa: F401 - the fixture


@pytest.fixture
def lax(dummy_warehouse):
    """Return warehouse US-LAX with returns and storage bins; US returns route to it."""
    lax = warehouse_services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                              actor=None)
    bins = {kind: warehouse_services.create_location(lax, code=f"L-{kind.upper()}", kind=kind,
                                                     pick_sequence=n, actor=None)
            for n, kind in enumerate(("returns", "storage", "quarantine"), start=1)}
    create_route(country="US", area="*", warehouses=[lax, dummy_warehouse], actor=None)
    lax.bins = bins
    return lax


def on_hand(sku_id, location_id) -> int:
    level = db.session.get(StockLevel, (sku_id, location_id))
    return level.on_hand if level is not None else 0


def test_default_by_route_and_goods_go_into_that_warehouse(returned, lax):  # noqa: F811
    case = returned()
    case.order.country = "US"  # shipped to the US: the route names US-LAX first
    db.session.flush()
    assert returns.default_return_warehouse(case) is lax
    line = case.lines[0]
    items = returns.receive_return(case, [(line.id, None, None, 3)], actor=None)
    assert case.return_warehouse_id == lax.id
    assert on_hand(line.sku_id, lax.bins["returns"].id) == 3
    returns.inspect_return(case, {items[0].id: [(Grade.A, 3, None)]}, actor=None)
    assert on_hand(line.sku_id, lax.bins["storage"].id) == 3  # restocked where it came back
    assert ledger_problems(db.session) == []


def test_other_countries_return_to_the_first_warehouse_with_a_returns_bin(
        returned, lax, returns_bins, dummy_warehouse):  # noqa: F811
    case = returned()  # shipped to DE: no route, every warehouse; WH1 has a returns bin
    assert returns.default_return_warehouse(case) == dummy_warehouse


def test_chosen_warehouse_is_audited_and_refused_without_returns_bin(
        returned, lax, dummy_warehouse, returns_bins):  # noqa: F811
    case = returned()
    returns.set_return_warehouse(case, lax.id, actor=None)
    assert returns.receiving_warehouse(case) is lax
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "aftersales_case.return_warehouse"))
    assert event.changes["return_warehouse"] == [None, "US-LAX"]
    bare = warehouse_services.create_warehouse(code="EU-AMS", name="Amsterdam", country="NL",
                                               actor=None)
    with pytest.raises(AfterSalesError, match="EU-AMS"):
        returns.set_return_warehouse(case, bare.id, actor=None)
    line = case.lines[0]
    returns.receive_return(case, [(line.id, None, None, 1)], actor=None)
    assert on_hand(line.sku_id, lax.bins["returns"].id) == 1
    with pytest.raises(AfterSalesError, match="not be received yet"):
        returns.set_return_warehouse(case, dummy_warehouse.id, actor=None)


def test_case_page_shows_and_changes_the_warehouse(
        client, login_as, returned, lax, returns_bins):  # noqa: F811
    case = returned()
    db.session.commit()
    login_as("customer_service")
    page = client.get(f"/aftersales/cases/{case.id}").get_data(as_text=True)
    assert "Goods come back to" in page
    assert 'name="warehouse_id"' in page
    response = client.post(f"/aftersales/cases/{case.id}/return-warehouse",
                           data={"warehouse_id": str(lax.id)})
    assert response.status_code == 302
    db.session.expire_all()
    assert returns.receiving_warehouse(case).code == "US-LAX"
