"""Warehouse routes: services, the screen (list, add, edit, delete, reorder), Excel both ways."""

from __future__ import annotations

import html
import io
import re

import openpyxl
import pytest
from sqlalchemy import select

from erp.core.errors import DomainError, ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import WarehouseRoute
from erp.warehouse.services import routes

HEADERS = ["Country", "Area", "Warehouses", "Note"]


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def xlsx(rows, headers=HEADERS) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.fixture
def lax(dummy_warehouse):
    """Return warehouse US-LAX (WH1 exists too)."""
    return services.create_warehouse(code="US-LAX", name="Los Angeles", country="US",
                                     actor=None)


def table() -> list[tuple[str, str, str]]:
    return [(r.country, r.area, " ".join(w.code for w in r.warehouses))
            for r in routes.list_routes()]


def test_route_for_matches_region_postcode_and_any(lax):
    routes.create_route(country="us", area="ca", warehouses="US-LAX", actor=None)
    routes.create_route(country="US", area="100", warehouses="WH1", actor=None)
    routes.create_route(country="*", area="", warehouses="WH1 US-LAX", actor=None)
    assert table() == [("US", "CA", "US-LAX"), ("US", "100", "WH1"), ("*", "*", "WH1 US-LAX")]
    assert routes.route_for("US", "CA", "90001").area == "CA"
    assert routes.route_for("US", "NY", "10001").area == "100"
    assert routes.route_for("DE", None, "10115").country == "*"
    assert [w.code for w in routes.warehouses_for("US", "CA", "90001")] == ["US-LAX"]


@pytest.mark.parametrize(("values", "field", "message"), [
    ({"country": "XX"}, "country", "Country:"),
    ({"area": "9$"}, "area", "Area:"),
    ({"warehouses": ""}, "warehouses", "name at least one warehouse"),
    ({"warehouses": "WH9"}, "warehouses", 'there is no warehouse "WH9"'),
    ({"warehouses": "WH1 wh1"}, "warehouses", "warehouse WH1 is named twice"),
])
def test_create_route_refuses_bad_values(lax, values, field, message):
    with pytest.raises(ValidationError) as err:
        routes.create_route(**{"country": "US", "area": "*", "warehouses": "WH1", **values},
                            actor=None)
    assert err.value.field == field
    assert message in str(err.value)
    assert table() == []


def test_same_destination_twice_is_refused(lax):
    routes.create_route(country="US", area="*", warehouses="WH1", actor=None)
    with pytest.raises(DomainError, match="exists already"):
        routes.create_route(country="US", area="", warehouses="US-LAX", actor=None)


def test_move_update_delete_are_audited(lax):
    first = routes.create_route(country="US", area="*", warehouses="WH1", actor=None)
    second = routes.create_route(country="DE", area="*", warehouses="WH1", actor=None)
    routes.move_route(second, position=1, actor=None)
    routes.move_route(second, position=1, actor=None)  # a repeat changes nothing
    assert [r.id for r in routes.list_routes()] == [second.id, first.id]
    routes.update_route(first, country="US", area="*", warehouses="US-LAX WH1", actor=None)
    assert table()[1] == ("US", "*", "US-LAX WH1")
    routes.delete_route(second, actor=None)
    actions = list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "warehouse_route").order_by(AuditEvent.id)))
    assert actions == ["warehouse_route.created", "warehouse_route.created",
                       "warehouse_route.moved", "warehouse_route.updated",
                       "warehouse_route.deleted"]
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "warehouse_route.updated"))
    assert event.changes["warehouses"] == ["WH1", "US-LAX WH1"]


# --------------------------------------------------------------------------- the screen


def test_screen_adds_edits_reorders_and_deletes(client, login_as, lax):
    db.session.commit()
    login_as("manager")
    page = text(client.get("/warehouse/routes"))
    assert "No route yet" in page
    response = client.post("/warehouse/routes/new", data={
        "country": "US", "area": "", "warehouses": "US-LAX WH1", "note": "West coast"})
    assert response.status_code == 302
    client.post("/warehouse/routes/new", data={"country": "DE", "warehouses": "WH1"})
    page = text(client.get("/warehouse/routes"))
    assert "US-LAX → WH1" in page
    us, de = routes.list_routes()
    assert client.post(f"/warehouse/routes/{de.id}/move", data={"position": "1"}).status_code \
        == 302
    db.session.expire_all()
    assert [r.country for r in routes.list_routes()] == ["DE", "US"]
    form = text(client.get(f"/warehouse/routes/{us.id}/edit"))
    assert 'value="US-LAX WH1"' in form
    response = client.post(f"/warehouse/routes/{us.id}/edit", data={
        "country": "US", "area": "CA", "warehouses": "WH7"})
    assert response.status_code == 200
    assert 'there is no warehouse "WH7"' in text(response)
    client.post(f"/warehouse/routes/{us.id}/delete")
    db.session.expire_all()
    assert [r.country for r in routes.list_routes()] == ["DE"]


@pytest.mark.parametrize("role", ["customer_service", "purchasing"])
def test_only_managers_and_warehouse_keep_routes(client, login_as, lax, role):
    route = routes.create_route(country="US", area="*", warehouses="WH1", actor=None)
    db.session.commit()
    login_as(role)
    assert client.get("/warehouse/routes").status_code == 200
    assert client.get("/warehouse/routes/new").status_code == 403
    assert client.post(f"/warehouse/routes/{route.id}/delete").status_code == 403
    assert client.get("/warehouse/routes/import").status_code == 403


# --------------------------------------------------------------------------- Excel


def test_export_then_import_round_trips(client, login_as, lax):
    routes.create_route(country="US", area="*", warehouses="US-LAX WH1", note="=cmd",
                        actor=None)
    db.session.commit()
    login_as("warehouse")
    response = client.get("/warehouse/routes/export.xlsx")
    rows = [list(r) for r in openpyxl.load_workbook(io.BytesIO(response.data)).active
            .iter_rows(values_only=True)]
    assert rows[0] == HEADERS
    assert rows[1][:3] == ["US", "*", "US-LAX WH1"]
    assert rows[1][3] in ("'=cmd", "=cmd")  # written as text, never a formula
    response = client.post("/warehouse/routes/import", data={
        "file": (io.BytesIO(response.data), "routes.xlsx"), "action": "import"},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200
    assert table() == [("US", "*", "US-LAX WH1")]


def test_import_dry_run_then_import_replaces_the_table(client, login_as, lax):
    routes.create_route(country="FR", area="*", warehouses="WH1", actor=None)
    db.session.commit()
    login_as("manager")
    data = xlsx([["US", "90", "WH1", None], ["US", None, "US-LAX WH1", "rest of US"]])
    response = client.post("/warehouse/routes/import", data={
        "file": (io.BytesIO(data), "routes.xlsx"), "action": "dry_run"},
        content_type="multipart/form-data")
    assert "No errors in routes.xlsx" in text(response)
    assert table() == [("FR", "*", "WH1")]
    response = client.post("/warehouse/routes/import", data={
        "file": (io.BytesIO(data), "routes.xlsx"), "action": "import"},
        content_type="multipart/form-data", follow_redirects=True)
    assert "2 created" in text(response)
    db.session.expire_all()
    assert table() == [("US", "90", "WH1"), ("US", "*", "US-LAX WH1")]


def test_import_errors_name_row_field_and_reason(client, login_as, lax):
    routes.create_route(country="FR", area="*", warehouses="WH1", actor=None)
    db.session.commit()
    login_as("manager")
    data = xlsx([["US", None, "WH9", None], ["XX", None, "WH1", None],
                 ["DE", None, "WH1", None], ["DE", "*", "US-LAX", None]])
    response = client.post("/warehouse/routes/import", data={
        "file": (io.BytesIO(data), "routes.xlsx"), "action": "import"},
        content_type="multipart/form-data")
    page = text(response)
    assert "3 errors in routes.xlsx" in page
    errors = re.findall(r'<tr><td class="num">(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>',
                        page)
    assert (errors[0][0], errors[0][1]) == ("2", "Warehouses")
    assert 'there is no warehouse "WH9"' in errors[0][2]
    assert (errors[1][0], errors[1][1]) == ("3", "Country")
    assert ("5", "Area", "the same country and area as row 4") in errors
    db.session.expire_all()
    assert table() == [("FR", "*", "WH1")]  # nothing written
    assert db.session.scalar(select(WarehouseRoute).where(WarehouseRoute.country == "DE")) \
        is None
