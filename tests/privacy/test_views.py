"""The personal-data screen: search, exports, the anonymise confirmation, permissions."""

from __future__ import annotations

import html
import io
import json

import openpyxl
import pytest
from sqlalchemy import select

from erp.core.models import AuditEvent
from erp.core.viewhelpers import XLSX_MIME
from erp.extensions import db
from erp.privacy.services import ANONYMISED_NAME
from tests.privacy.conftest import EMAIL, NAME


def _events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


@pytest.mark.parametrize("role", ["warehouse", "purchasing"])
def test_privacy_screens_refused_to_warehouse_and_purchasing(client, login_as, role):
    login_as(role)
    assert client.get("/privacy/").status_code == 403
    assert client.post("/privacy/", data={"email": EMAIL}).status_code == 403
    assert client.post("/privacy/export", data={"email": EMAIL, "format": "json"}
                       ).status_code == 403
    assert client.post("/privacy/anonymise", data={"email": EMAIL, "confirm_email": EMAIL,
                                                   "reason": "x"}).status_code == 403
    assert b"Personal data" not in client.get("/").data  # not in the menu either


def test_customer_service_searches_and_exports_but_cannot_anonymise(world, client, login_as):
    login_as("customer_service")
    page = client.get("/privacy/")
    assert page.status_code == 200
    assert b'name="email"' in page.data
    assert b"autofocus" in page.data
    found = client.post("/privacy/", data={"email": " Jane.ROE@example.com"})
    assert found.status_code == 200
    text = found.get_data(as_text=True)
    assert world.shipped.number in text
    assert world.case.number in text
    assert world.other.number not in text
    assert "Export Excel" in text
    assert "Export JSON" in text
    assert 'action="/privacy/anonymise"' not in text  # admins only

    xlsx = client.post("/privacy/export", data={"email": EMAIL, "format": "xlsx"})
    assert xlsx.status_code == 200
    assert xlsx.mimetype == XLSX_MIME
    assert "attachment" in xlsx.headers["Content-Disposition"]
    assert EMAIL not in xlsx.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(xlsx.data))
    assert book["Orders"].max_row == 3
    download = client.post("/privacy/export", data={"email": EMAIL, "format": "json"})
    assert download.mimetype == "application/json"
    data = json.loads(download.data)
    assert [o["number"] for o in data["records"]["orders"]] == [world.shipped.number,
                                                               world.cancelled.number]
    assert [e.changes["format"] for e in _events("privacy.exported")] == ["xlsx", "json"]

    refused = client.post("/privacy/anonymise", data={"email": EMAIL, "confirm_email": EMAIL,
                                                      "reason": "Erasure request"})
    assert refused.status_code == 403
    db.session.expire_all()
    assert world.shipped.customer_name == NAME


def test_search_and_export_of_unknown_or_bad_email(app, client, login_as):
    login_as("manager")
    nothing = client.post("/privacy/", data={"email": "ghost@example.com"})
    assert 'Nothing is held about "ghost@example.com".' in html.unescape(
        nothing.get_data(as_text=True))
    bad = client.post("/privacy/", data={"email": "not-an-email"})
    assert "you must give an e-mail address" in bad.get_data(as_text=True)
    export = client.post("/privacy/export", data={"email": "ghost@example.com",
                                                  "format": "json"})
    assert export.status_code == 302
    assert _events("privacy.exported") == []


def test_admin_anonymises_after_typing_the_email_again(world, client, login_as):
    login_as("admin")
    page = client.post("/privacy/", data={"email": EMAIL}).get_data(as_text=True)
    assert 'action="/privacy/anonymise"' in page
    mismatch = client.post("/privacy/anonymise", data={
        "email": EMAIL, "confirm_email": "jane@example.com", "reason": "Erasure request"})
    assert mismatch.status_code == 422
    assert "type the same e-mail again" in mismatch.get_data(as_text=True)
    no_reason = client.post("/privacy/anonymise", data={
        "email": EMAIL, "confirm_email": EMAIL, "reason": ""})
    assert no_reason.status_code == 422
    db.session.expire_all()
    assert world.shipped.customer_name == NAME
    assert _events("privacy.anonymised") == []

    done = client.post("/privacy/anonymise", data={
        "email": EMAIL, "confirm_email": " JANE.ROE@example.com ", "reason": "Erasure request"})
    assert done.status_code == 302
    assert done.headers["Location"].endswith("/privacy/")
    shown = client.get("/privacy/").get_data(as_text=True)
    assert "Personal data anonymised: 2 orders, 1 case," in shown
    db.session.expire_all()
    assert world.shipped.customer_name == ANONYMISED_NAME
    assert world.case.contact_email is None
    [event] = _events("privacy.anonymised")
    assert event.changes["reason"] == "Erasure request"
    after = client.post("/privacy/", data={"email": EMAIL}).get_data(as_text=True)
    assert "Nothing is held about" in after
    assert "was anonymised on" in after


def test_admin_anonymise_refused_while_an_order_is_open(world, client, login_as, create_order):
    pending = create_order([(world.shipped.lines[0].sku, 1)], email=EMAIL, customer_name=NAME)
    db.session.commit()
    login_as("admin")
    page = client.post("/privacy/", data={"email": EMAIL}).get_data(as_text=True)
    assert f"order {pending.number} (new)" in page
    assert 'action="/privacy/anonymise"' not in page
    refused = client.post("/privacy/anonymise", data={
        "email": EMAIL, "confirm_email": EMAIL, "reason": "Erasure request"})
    assert refused.status_code == 422
    assert f"order {pending.number} (new)" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert world.shipped.customer_name == NAME
    assert pending.customer_name == NAME
    assert _events("privacy.anonymised") == []
