"""Case and reason screens: queue, search, export, opening, the case page, actions, roles."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from erp.aftersales.models import AfterSalesCase, CaseState, CaseType, ReasonCode
from erp.aftersales.services import cases
from erp.extensions import db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50


@pytest.fixture
def shipped(ship_order, customs_stock, reasons):
    return ship_order([(customs_stock("TEE-1"), 3, "15.00")], email="erika@example.com")


@pytest.fixture
def case(shipped, reasons):
    case = cases.open_case(shipped, case_type=CaseType.return_refund,
                           reason=reasons["WRONG_SIZE"], lines={shipped.lines[0].id: 1},
                           actor=None)
    db.session.commit()
    return case


def test_queue_search_and_export(client, login_as, case, shipped):
    login_as("customer_service")
    page = client.get("/aftersales/cases")
    assert page.status_code == 200
    assert case.number in page.get_data(as_text=True)
    assert "autofocus" in page.get_data(as_text=True)
    for q in (shipped.number, "erika@", shipped.parcel.tracking_number):
        body = client.get("/aftersales/cases", query_string={"q": q, "state": "active"})
        assert case.number in body.get_data(as_text=True), q
    none = client.get("/aftersales/cases", query_string={"q": "zzz", "state": "active"})
    assert case.number not in none.get_data(as_text=True)
    mine = client.get("/aftersales/cases", query_string={"agent": "mine"})
    assert case.number not in mine.get_data(as_text=True)
    scanned = client.get("/aftersales/cases", query_string={"q": case.number})
    assert scanned.status_code == 302
    assert f"/cases/{case.id}" in scanned.location
    export = client.get("/aftersales/cases/export.xlsx", query_string={"state": "open"})
    assert export.status_code == 200
    assert export.data[:2] == b"PK"


def test_open_case_screen(client, login_as, shipped, reasons):
    login_as("customer_service")
    assert client.get("/aftersales/cases/new").status_code == 200
    assert "No order" in client.get("/aftersales/cases/new?order=NOPE",
                                    follow_redirects=True).get_data(as_text=True)
    form = client.get(f"/aftersales/cases/new?order={shipped.number}")
    assert form.status_code == 200
    assert "TEE-1" in form.get_data(as_text=True)
    line = shipped.lines[0]
    refused = client.post(f"/aftersales/cases/new?order={shipped.number}", data={
        "case_type": "return_refund", "reason_id": reasons["WRONG_SIZE"].id, "parcel_id": 0,
        f"qty-{line.id}": 5})
    assert refused.status_code == 422
    assert "more than order" in refused.get_data(as_text=True)
    done = client.post(f"/aftersales/cases/new?order={shipped.id}", data={
        "case_type": "return_refund", "reason_id": reasons["WRONG_SIZE"].id, "parcel_id": 0,
        f"qty-{line.id}": 2, "note": "Too small"})
    assert done.status_code == 302
    case = db.session.scalar(select(AfterSalesCase))
    assert case.lines[0].quantity == 2
    assert case.notes[0].body == "Too small"


def test_warehouse_cannot_open_a_case(client, login_as, shipped):
    login_as("warehouse")
    assert client.get(f"/aftersales/cases/new?order={shipped.number}").status_code == 403
    assert client.post(f"/aftersales/cases/new?order={shipped.number}").status_code == 403
    assert client.get("/aftersales/cases").status_code == 200


def test_case_page_and_actions(client, login_as, case):
    user = login_as("customer_service")
    url = f"/aftersales/cases/{case.id}"
    page = client.get(url)
    assert page.status_code == 200
    assert case.number in page.get_data(as_text=True)
    # papers only once the return is authorised
    assert client.get(f"{url}/authorisation.pdf").status_code == 302
    assert client.post(f"{url}/take").status_code == 302
    assert client.post(f"{url}/authorise", data={"return_tracking": "RR1"}).status_code == 302
    db.session.refresh(case)
    assert case.state == CaseState.awaiting_return
    assert case.assigned_to_id == user.id
    pdf = client.get(f"{url}/authorisation.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert client.get(f"{url}/label.pdf").data[:4] == b"%PDF"
    client.post(f"{url}/notes", data={"body": "Label sent", "visibility": "customer"})
    up = client.post(f"{url}/attachments", content_type="multipart/form-data",
                     data={"file": (io.BytesIO(PNG), "damage.png", "image/png")})
    assert up.status_code == 302
    bad = client.post(f"{url}/attachments", content_type="multipart/form-data",
                      data={"file": (io.BytesIO(b"MZ..."), "x.exe", "application/octet-stream")},
                      follow_redirects=True)
    assert "only photos" in bad.get_data(as_text=True)
    db.session.refresh(case)
    assert case.notes[-1].body == "Label sent"
    assert len(case.attachments) == 1
    download = client.get(f"{url}/attachments/{case.attachments[0].id}")
    assert download.status_code == 200
    assert download.data == PNG
    assert client.get(f"/aftersales/cases/999/attachments/{case.attachments[0].id}"
                      ).status_code == 404
    page = client.get(url).get_data(as_text=True)
    assert "customer-facing" in page
    assert "damage.png" in page
    assert "History" in page
    client.post(f"{url}/reject", data={"reason": "Outside policy"})
    client.post(f"{url}/close")
    db.session.refresh(case)
    assert case.state == CaseState.closed


def test_refused_action_is_flashed(client, login_as, shipped, reasons):
    login_as("customer_service")
    case = cases.open_case(shipped, case_type=CaseType.refund_only, reason=reasons["LATE"],
                           lines={shipped.lines[0].id: 1}, actor=None)
    db.session.commit()
    page = client.post(f"/aftersales/cases/{case.id}/authorise", follow_redirects=True)
    assert "no goods come back" in page.get_data(as_text=True)


def test_viewer_roles_cannot_act(client, login_as, case):
    login_as("warehouse")
    assert client.get(f"/aftersales/cases/{case.id}").status_code == 200
    for action in ("authorise", "take", "notes", "reject", "close"):
        assert client.post(f"/aftersales/cases/{case.id}/{action}").status_code == 403


def test_order_page_panel(client, login_as, case, shipped):
    login_as("customer_service")
    page = client.get(f"/orders/{shipped.id}").get_data(as_text=True)
    assert case.number in page
    assert "Open a case" in page


def test_reason_screens(client, login_as, reasons):
    login_as("warehouse")
    assert client.get("/aftersales/reasons").status_code == 200
    assert client.get("/aftersales/reasons/new").status_code == 403
    client.post("/logout")
    login_as("customer_service")
    new = client.post("/aftersales/reasons/new", data={"code": "gift", "name": "Unwanted gift"})
    assert new.status_code == 302
    assert db.session.scalar(select(ReasonCode).where(ReasonCode.code == "GIFT")) is not None
    dup = client.post("/aftersales/reasons/new", data={"code": "GIFT", "name": "Again"})
    assert dup.status_code == 422
    assert "already exists" in dup.get_data(as_text=True)
    late = reasons["LATE"]
    assert client.post(f"/aftersales/reasons/{late.id}/deactivate").status_code == 302
    db.session.refresh(late)
    assert not late.active
    edit = client.post(f"/aftersales/reasons/{late.id}/edit",
                       data={"code": "LATE", "name": "Arrived too late", "active": "y"})
    assert edit.status_code == 302
    db.session.refresh(late)
    assert late.active
    assert late.name == "Arrived too late"
    assert client.post("/aftersales/reasons/defaults").status_code == 302
