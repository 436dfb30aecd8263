"""The Excel reports screen: permissions, and running a report as a (synchronous) job."""

from __future__ import annotations

import pytest

from erp.core import jobs
from erp.core.models import BackgroundJob, JobState
from erp.extensions import db
from tests.reports.excel_checks import reopen


@pytest.fixture
def app_config() -> dict:
    """Run background jobs synchronously."""
    return {"ERP_JOBS_SYNC": True}


@pytest.mark.parametrize(("role", "status"), [("warehouse", 403), ("purchasing", 403),
                                              ("customer_service", 403), ("manager", 200),
                                              ("admin", 200)])
def test_report_list_permissions(client, login_as, role, status):
    login_as(role)
    response = client.get("/reports/excel")
    assert response.status_code == status
    if status == 200:
        assert b"Inventory valuation at a date" in response.data
        assert b"Customs declared-value summary" in response.data


def test_warehouse_cannot_run_a_report(client, login_as):
    login_as("warehouse")
    assert client.post("/reports/excel/inventory_valuation",
                       data={"date_to": "2026-01-31"}).status_code == 403
    assert db.session.query(BackgroundJob).count() == 0


def test_running_a_report_submits_a_job(client, login_as, app):
    login_as("manager")
    response = client.post("/reports/excel/stock_ageing", data={"date_to": "2026-01-31"})
    assert response.status_code == 302
    job = db.session.query(BackgroundJob).one()
    assert response.headers["Location"].endswith(f"/reports/jobs/{job.id}")
    assert job.kind == "report"
    assert jobs.load_params(job.params)["name"] == "stock_ageing"
    assert job.state == JobState.finished, job.error
    assert job.result_name == "stock-ageing-2026-01-31.xlsx"
    with open(jobs.result_file(job), "rb") as fh:
        assert "Summary" in reopen(fh.read()).sheetnames


def test_a_bad_period_is_refused_without_a_job(client, login_as):
    login_as("manager")
    response = client.post("/reports/excel/purchase_spend",
                           data={"date_from": "2026-02-01", "date_to": "2026-01-01"},
                           follow_redirects=True)
    assert response.status_code == 200
    assert b"starts (2026-02-01) after it ends" in response.data
    assert db.session.query(BackgroundJob).count() == 0


def test_an_unknown_report_is_not_found(client, login_as):
    login_as("manager")
    assert client.post("/reports/excel/nope", data={}).status_code == 404
