"""Refund screens: the form, the list and approvals, replacements, finance, the report."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from flask import url_for

from erp.aftersales.models import CaseState, CaseType, Refund, RefundState
from erp.aftersales.services import cases, resolution
from erp.core.viewhelpers import XLSX_MIME
from erp.extensions import db


@pytest.fixture
def setup(ship_order, customs_stock, reasons, returns_bins, create_user):
    """Return a shipped order (1 x COAT at 150.00 EUR, 2 x TEE at 15.00) and an agent."""
    coat, tee = customs_stock("COAT-1"), customs_stock("TEE-1")
    order = ship_order([(coat, 1, "150.00"), (tee, 2, "15.00")])
    agent = create_user("agent0", roles=("customer_service",))
    return {"order": order, "agent": agent, "reasons": reasons}


def _case(setup, case_type=CaseType.refund_only, line=0, qty=1):
    order = setup["order"]
    case = cases.open_case(order, case_type=case_type, reason=setup["reasons"]["DEFECTIVE"],
                           lines={order.lines[line].id: qty}, actor=setup["agent"])
    db.session.commit()
    return case


def test_refund_form_shows_refundable_and_creates_refund(client, login_as, setup):
    case = _case(setup, line=1, qty=2)
    login_as("customer_service")
    page = client.get(f"/aftersales/cases/{case.id}/refunds/new")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "30.00 EUR" in text
    assert "Override" not in text  # only for approvers
    response = client.post(f"/aftersales/cases/{case.id}/refunds/new",
                           data={"kind": "refund", "amount": "12.50", "note": "one torn"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/aftersales/cases/{case.id}")
    refund = db.session.query(Refund).one()
    assert refund.amount == Decimal("12.50")
    assert refund.state == RefundState.approved
    db.session.refresh(case)
    assert case.state == CaseState.resolved


def test_refund_form_refuses_over_value_and_shows_message(client, login_as, setup):
    case = _case(setup, line=1, qty=1)
    login_as("customer_service")
    response = client.post(f"/aftersales/cases/{case.id}/refunds/new",
                           data={"kind": "refund", "amount": "99.00", "override": "y"})
    assert response.status_code == 422
    assert "above what may still be refunded" in response.get_data(as_text=True)
    assert db.session.query(Refund).count() == 0


def test_admin_override_on_the_form(client, login_as, setup):
    case = _case(setup, line=1, qty=1)
    login_as("admin")
    assert "Override" in client.get(f"/aftersales/cases/{case.id}/refunds/new").get_data(
        as_text=True)
    response = client.post(f"/aftersales/cases/{case.id}/refunds/new",
                           data={"kind": "refund", "amount": "20.00", "override": "y"})
    assert response.status_code == 302
    assert db.session.query(Refund).one().over_value_override is True


@pytest.mark.parametrize("role", ["warehouse", "manager", "purchasing"])
def test_refund_form_forbidden_without_edit(client, login_as, setup, role):
    case = _case(setup)
    login_as(role)
    assert client.get(f"/aftersales/cases/{case.id}/refunds/new").status_code == 403
    assert client.post(f"/aftersales/cases/{case.id}/replacement").status_code == 403


def test_pending_refund_listed_first_and_approved_by_manager(client, login_as, setup):
    small = _case(setup, line=1, qty=1)
    resolution.request_refund(small, amount="5.00", actor=setup["agent"])
    big = _case(setup, case_type=CaseType.lost_parcel, line=0)
    pending = resolution.request_refund(big, amount="150.00", actor=setup["agent"])
    db.session.commit()
    assert pending.state == RefundState.pending

    login_as("warehouse")
    text = client.get("/aftersales/refunds").get_data(as_text=True)
    assert f"/aftersales/refunds/{pending.id}/approve" not in text
    assert client.post(f"/aftersales/refunds/{pending.id}/approve").status_code == 403
    client.post("/logout")

    login_as("manager")
    text = client.get("/aftersales/refunds").get_data(as_text=True)
    assert text.index(big.number) < text.index(small.number)  # pending first
    assert f"/aftersales/refunds/{pending.id}/approve" in text
    assert "1 refund waiting" in text
    response = client.post(f"/aftersales/refunds/{pending.id}/approve")
    assert response.status_code == 302
    db.session.refresh(pending)
    assert pending.state == RefundState.approved
    db.session.refresh(big)
    assert big.state == CaseState.resolved
    filtered = client.get("/aftersales/refunds?state=pending").get_data(as_text=True)
    assert "No refund matches." in filtered


def test_reject_needs_a_reason(client, login_as, setup):
    case = _case(setup, case_type=CaseType.damaged, line=0)
    refund = resolution.request_refund(case, amount="150.00", actor=setup["agent"])
    db.session.commit()
    login_as("manager")
    client.post(f"/aftersales/refunds/{refund.id}/reject", data={"reason": ""})
    db.session.refresh(refund)
    assert refund.state == RefundState.pending
    client.post(f"/aftersales/refunds/{refund.id}/reject", data={"reason": "Claim open"})
    db.session.refresh(refund)
    assert refund.state == RefundState.rejected


def test_refund_list_export(client, login_as, setup):
    case = _case(setup, line=1)
    resolution.request_refund(case, amount="5.00", actor=setup["agent"])
    db.session.commit()
    login_as("warehouse")
    response = client.get("/aftersales/refunds/export.xlsx?kind=refund")
    assert response.mimetype == XLSX_MIME
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet["A2"].value == case.number


def test_replacement_button_creates_order(client, login_as, setup):
    case = _case(setup, case_type=CaseType.replacement_only, line=1)
    login_as("customer_service")
    response = client.post(f"/aftersales/cases/{case.id}/replacement")
    assert response.status_code == 302
    db.session.refresh(case)
    assert case.replacement_order.number == f"{setup['order'].number}-R1"
    client.post(f"/aftersales/cases/{case.id}/replacement")  # refused: flashed, nothing new
    page = client.get(f"/aftersales/cases/{case.id}", follow_redirects=True)
    assert page.status_code == 200


def test_finance_page_download_and_confirm(client, login_as, setup):
    case = _case(setup, line=1)
    refund = resolution.request_refund(case, amount="5.00", actor=setup["agent"])
    db.session.commit()
    login_as("warehouse")
    assert client.get("/aftersales/refunds/finance").status_code == 403
    client.post("/logout")
    login_as("customer_service")
    page = client.get("/aftersales/refunds/finance").get_data(as_text=True)
    assert case.number in page
    download = client.get("/aftersales/refunds/finance.xlsx")
    assert download.mimetype == XLSX_MIME
    response = client.post("/aftersales/refunds/finance/mark-exported",
                           data={"ids": str(refund.id)})
    assert response.status_code == 302
    db.session.refresh(refund)
    assert refund.exported_at is not None
    assert "No approved refund to export." in client.get(
        "/aftersales/refunds/finance").get_data(as_text=True)


def test_return_report_page_and_download(client, login_as, setup):
    _case(setup, case_type=CaseType.return_refund, line=1, qty=1)
    login_as("manager")
    page = client.get("/aftersales/reports/returns?dimension=country")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "By reason" in text
    assert "33.3 %" in text  # 1 of 3 units to DE
    response = client.get("/aftersales/reports/returns.xlsx")
    assert response.mimetype == XLSX_MIME
    assert "Parameters" in openpyxl.load_workbook(io.BytesIO(response.data)).sheetnames
    client.post("/logout")
    login_as("warehouse")
    assert client.get("/aftersales/reports/returns").status_code == 403


def test_endpoints_exist(app):
    with app.test_request_context():
        assert url_for("aftersales.refund_list") == "/aftersales/refunds"
        assert url_for("aftersales.return_report") == "/aftersales/reports/returns"
        assert url_for("aftersales.refund_new", case_id=3) == "/aftersales/cases/3/refunds/new"
        assert url_for("aftersales.replacement_create", case_id=3) == \
            "/aftersales/cases/3/replacement"



def test_case_page_offers_a_replacement_button_until_used(client, login_as, setup):
    case = _case(setup, case_type=CaseType.replacement_only, line=1)
    login_as("customer_service")
    page = client.get(f"/aftersales/cases/{case.id}").get_data(as_text=True)
    assert "Create replacement order" in page
    assert client.post(f"/aftersales/cases/{case.id}/replacement").status_code == 302
    page = client.get(f"/aftersales/cases/{case.id}").get_data(as_text=True)
    assert "Create replacement order" not in page
    assert f"{setup['order'].number}-R1" in page
