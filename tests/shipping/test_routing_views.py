"""Shipping rule screens: versions, rules, activation, roll back, Excel, simulation, order panel."""

from __future__ import annotations

import io
import re

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from erp.extensions import db
from erp.shipping.routing_models import Rule, RuleVersion, RuleVersionState
from erp.shipping.services import routing
from tests.shipping import routing_fixtures

routes = routing_fixtures.routes  # the shared fixture


def _text(response) -> str:
    return response.get_data(as_text=True)


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_manager_builds_activates_and_rolls_back_with_csrf(app, client, login_as, routes):
    first = routes.version([("Postal", "POST-REG", {})])
    db.session.commit()
    login_as("manager")
    app.config["WTF_CSRF_ENABLED"] = True
    page = _text(client.get("/shipping/rules"))
    assert "Copy the active version into a draft" in page
    assert client.post(f"/shipping/rules/{first.id}/copy").status_code == 400  # no token
    answer = client.post(f"/shipping/rules/{first.id}/copy", data={"csrf_token": _token(page)})
    assert answer.status_code == 302
    draft = db.session.scalar(select(RuleVersion).where(RuleVersion.state ==
                                                        RuleVersionState.draft))
    detail = _text(client.get(f"/shipping/rules/{draft.id}"))
    assert "Postal" in detail
    token = _token(detail)
    answer = client.post(f"/shipping/rules/{draft.id}/rules/new", data={
        "csrf_token": token, "name": "US light", "services": "EPACKET, POST-REG",
        "countries": "US", "max_weight_g": "500", "goods_excluded": ["battery_in_equipment"]})
    assert answer.status_code == 302, _text(answer)
    refused = client.post(f"/shipping/rules/{draft.id}/rules/new", data={
        "csrf_token": token, "name": "Bad", "services": "NOPE"})
    assert refused.status_code == 200
    assert "No shipping service has the code &#34;NOPE&#34;." in _text(refused)
    rule = db.session.scalar(select(Rule).where(Rule.name == "US light"))
    assert client.post(f"/shipping/rules/rule/{rule.id}/move",
                       data={"csrf_token": token, "direction": "up"}).status_code == 302
    db.session.expire_all()
    assert [r.name for r in draft.rules] == ["US light", "Postal"]
    assert client.post(f"/shipping/rules/{draft.id}/activate",
                       data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert draft.state == RuleVersionState.active
    assert first.state == RuleVersionState.retired
    # an active version is read-only
    refused = client.post(f"/shipping/rules/rule/{rule.id}/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "it must be a draft" in _text(refused)
    db.session.expire_all()
    assert db.session.get(Rule, rule.id) is not None
    assert client.post(f"/shipping/rules/{draft.id}/roll-back",
                       data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    assert first.state == RuleVersionState.active
    assert draft.state == RuleVersionState.retired


def test_warehouse_staff_may_look_but_not_change(client, login_as, routes):
    version = routes.version([("Postal", "POST-REG", {})])
    db.session.commit()
    login_as("warehouse")
    assert client.get("/shipping/rules").status_code == 200
    assert client.get(f"/shipping/rules/{version.id}").status_code == 200
    assert client.post(f"/shipping/rules/{version.id}/copy").status_code == 403
    assert client.get(f"/shipping/rules/{version.id}/simulate").status_code == 403


def test_excel_round_trip_and_import_errors_name_row_field_and_reason(client, login_as,
                                                                       routes):
    active = routes.version([("US light", "EPACKET, POST-REG",
                              {"countries": "US", "max_weight_g": "500"}),
                             ("Battery", "EXPRESS", {"goods_required": "battery_in_equipment"})])
    draft = routes.version([], activate=False)
    db.session.commit()
    login_as("manager")
    exported = client.get(f"/shipping/rules/{active.id}/export.xlsx")
    assert exported.status_code == 200
    data = exported.data
    checked = client.post(f"/shipping/rules/{draft.id}/import", data={
        "file": (io.BytesIO(data), "rules.xlsx"), "action": "check"},
        content_type="multipart/form-data")
    assert checked.status_code == 200
    assert "2 rules would replace" in _text(checked)
    db.session.expire_all()
    assert draft.rules == []
    imported = client.post(f"/shipping/rules/{draft.id}/import", data={
        "file": (io.BytesIO(data), "rules.xlsx"), "action": "import"},
        content_type="multipart/form-data")
    assert imported.status_code == 302
    db.session.expire_all()
    assert [(r.name, [s.service.code for s in r.services]) for r in draft.rules] == [
        ("US light", ["EPACKET", "POST-REG"]), ("Battery", ["EXPRESS"])]

    book = load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    sheet.cell(row=2, column=headers.index("Services") + 1, value="NOPE")
    sheet.cell(row=3, column=headers.index("Goods with any of") + 1, value="plutonium")
    buffer = io.BytesIO()
    book.save(buffer)
    refused = client.post(f"/shipping/rules/{draft.id}/import", data={
        "file": (io.BytesIO(buffer.getvalue()), "rules.xlsx"), "action": "import"},
        content_type="multipart/form-data")
    assert refused.status_code == 422
    page = _text(refused)
    assert re.search(r"<td class=\"num\">2</td><td>Services</td><td>No shipping service has "
                     r"the code &#34;NOPE&#34;</td>", page), page
    assert re.search(r"<td class=\"num\">3</td><td>Goods with any of</td><td>Unknown goods "
                     r"attribute plutonium", page)
    db.session.expire_all()
    assert len(draft.rules) == 2  # all or nothing: the earlier import stands


def test_empty_workbook_is_refused(client, login_as, routes):
    draft = routes.version([], activate=False)
    db.session.commit()
    login_as("manager")
    book = Workbook()
    book.active.append(["Rule", "Services"])
    buffer = io.BytesIO()
    book.save(buffer)
    refused = client.post(f"/shipping/rules/{draft.id}/import", data={
        "file": (io.BytesIO(buffer.getvalue()), "rules.xlsx"), "action": "import"},
        content_type="multipart/form-data")
    assert refused.status_code == 422
    assert "the file has no data rows below the header" in _text(refused)


def test_order_page_shows_the_routing_panel(client, login_as, routes, create_order):
    routes.version([("Postal", "POST-REG, EPACKET", {})])
    order = create_order([(routes.tee, 1)], country="US", shipping_service="POST-REG")
    routing.route_orders([order], actor=None)
    db.session.commit()
    login_as("customer_service")
    page = _text(client.get(f"/orders/{order.id}"))
    assert "Routing" in page
    assert "rule Postal of shipping rules v1 chose EPACKET" in page
    assert "Registered air mail: dearer" in page
