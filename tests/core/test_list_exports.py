"""List exports (orders, parcels, stock): small ones download at once, large ones run as a job.

The same click on a list's export link downloads the file while the list has at most
``export_job_rows`` rows, and otherwise starts an ``export`` job whose page shows the progress
and then the download (:mod:`erp.core.exports`). Both ways give the same workbook.
"""

from __future__ import annotations

import html
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from erp.core import exports, jobs
from erp.core.models import BackgroundJob, JobState, Setting
from erp.extensions import db
from tests.fixtures.core import PASSWORD

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: (list, export URL, role, filters): each list with a filter of each kind its form has
LISTS = [
    ("orders", "/orders/export.xlsx", "customer_service",
     {"country": "DE", "date_from": "2000-01-01", "state": ""}),
    ("parcels", "/shipping/parcels/export.xlsx", "warehouse", {"state": "dispatched"}),
    ("stock", "/warehouse/stock/export.xlsx", "manager", {"available": "yes"}),
]


@pytest.fixture(autouse=True)
def _in_process(app):
    """No Redis: export jobs run in a thread of this process."""
    app.config["ERP_REDIS_URL"] = None
    yield
    finish()


def finish() -> None:
    """End the session's transaction (the requests share it), then wait for the job threads."""
    db.session.rollback()
    assert jobs.wait_for_threads(30)


@pytest.fixture
def data(app):
    """A small copy of the large data set: orders, dispatched parcels and stock in 2,000 bins."""
    from erp.scale import large

    return large.build(n_skus=20, n_moves=200, n_orders=60, n_parcels=30, n_cases=2)


def lower_threshold(rows: int) -> None:
    db.session.merge(Setting(key=exports.JOB_ROWS_SETTING, value=str(rows)))
    db.session.commit()


def sheet_rows(data: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True))


def export_jobs() -> list[BackgroundJob]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(BackgroundJob).where(BackgroundJob.kind == "export")
                                   .order_by(BackgroundJob.created_at)))


def download(client, url: str, **query) -> tuple[str, bytes]:
    """Return the ``(Content-Disposition, bytes)`` of a download (its file closed after)."""
    with client.get(url, query_string=query) as response:
        assert response.status_code == 200, response.status_code
        assert response.mimetype == XLSX
        return response.headers["Content-Disposition"], response.data


@pytest.mark.parametrize(("name", "url", "role", "filters"), LISTS)
def test_a_small_export_downloads_at_once(client, login_as, data, name, url, role, filters):
    login_as(role)
    disposition, data = download(client, url)
    assert f"{name}-" in disposition
    assert len(sheet_rows(data)) > 4
    assert export_jobs() == []


@pytest.mark.parametrize(("name", "url", "role", "filters"), LISTS)
def test_a_large_export_runs_as_a_job_and_gives_the_same_file(client, login_as, data, name,
                                                               url, role, filters):
    user = login_as(role)
    direct = sheet_rows(download(client, url, **filters)[1])
    assert len(direct) > 4  # the header and the rows the filters keep
    lower_threshold(3)
    response = client.get(url, query_string=filters)
    assert response.status_code == 302
    job_url = response.headers["Location"]
    assert "/reports/jobs/" in job_url
    finish()
    job = export_jobs()[0]
    assert (job.state, job.error, job.user_id) == (JobState.finished, None, user.id)
    params = jobs.load_params(job.params)
    assert (params["name"], params["total"]) == (name, len(direct) - 1)
    page = html.unescape(client.get(job_url).get_data(as_text=True))
    assert f'href="{job_url}/download"' in page
    assert f"Download {name}-" in page
    assert "<h1>Export of " in page
    disposition, data = download(client, f"{job_url}/download")
    assert f"{name}-" in disposition
    assert sheet_rows(data) == direct


def test_stock_costs_follow_the_person_who_exports(client, login_as, data):
    lower_threshold(3)
    login_as("warehouse")  # no core.view_costs
    job_url = client.get("/warehouse/stock/export.xlsx").headers["Location"]
    finish()
    header = sheet_rows(download(client, f"{job_url}/download")[1])[0]
    assert "Bin" in header
    assert "Average cost" not in header
    assert "Value" not in header


def test_another_users_export_cannot_be_downloaded(client, login_as, create_user, login, data):
    lower_threshold(3)
    login_as("customer_service")
    job_url = client.get("/orders/export.xlsx").headers["Location"]
    finish()
    download(client, f"{job_url}/download")
    create_user("cs2", roles=("customer_service",))
    client.post("/logout")
    assert login("cs2", PASSWORD).status_code == 302
    for url in (job_url, f"{job_url}.json", f"{job_url}/download"):
        assert client.get(url).status_code == 404, url


def test_the_export_job_reports_progress_in_rows(app, create_user, data, monkeypatch):
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 25)
    user = create_user("cs", roles=("customer_service",))
    seen = []
    job = jobs.submit("export", user=user, wait=True, listener=lambda p, m: seen.append((p, m)),
                      name="orders", filters={})
    assert job.state == JobState.finished, job.error
    # the row count as the list is when the job runs; 100 % is written when the job ends
    assert seen == [(0, "Writing 60 rows…"), (41, "25 of 60 rows written"),
                    (83, "50 of 60 rows written")]


def test_the_job_file_neutralises_formulas(client, login_as, create_order, stocked_sku, app):
    app.config["ERP_JOBS_SYNC"] = True
    sku = stocked_sku("FORMULA-1", 5)
    for n in range(4):
        create_order([(sku, 1)], number=f"F-{n}",
                     customer_name='=HYPERLINK("http://evil.example","click")')
    db.session.commit()
    lower_threshold(2)
    login_as("customer_service")
    job_url = client.get("/orders/export.xlsx").headers["Location"]
    sheet = load_workbook(io.BytesIO(download(client, f"{job_url}/download")[1])).active
    assert sheet.cell(row=2, column=5).value.startswith("'=HYPERLINK")
    assert sheet.cell(row=2, column=5).data_type == "s"


def test_a_user_who_may_no_longer_read_the_list_gets_no_file(app, create_user, data):
    user = create_user("gone", roles=("customer_service",))
    user.active = False
    db.session.commit()
    job = jobs.submit("export", user=user, wait=True, name="orders", filters={})
    assert job.state == JobState.failed
    assert job.error == "You may no longer read this list, so it was not exported."
    assert jobs.result_file(job) is None


def test_an_unknown_export_fails_cleanly(app, create_user):
    job = jobs.submit("export", user=create_user("cs", roles=("customer_service",)), wait=True,
                      name="nothing", filters={})
    assert job.state == JobState.failed
    assert job.error == "There is no export called nothing."


def test_the_setting_is_declared_with_a_default_of_ten_thousand(app):
    from erp.core import settings

    definition = settings.SETTINGS[exports.JOB_ROWS_SETTING]
    assert settings.get(exports.JOB_ROWS_SETTING) == 10_000
    assert str(definition.label) == "Background export above (rows)"
    lower_threshold(5)
    assert exports.job_threshold() == 5


def test_the_export_job_page_in_chinese(client, login_as, data, app):
    app.config["ERP_JOBS_SYNC"] = True
    lower_threshold(3)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    login_as("warehouse")
    job_url = client.get("/shipping/parcels/export.xlsx").headers["Location"]
    page = html.unescape(client.get(job_url).get_data(as_text=True))
    assert "<h1>包裹导出</h1>" in page
    assert "下载 parcels-" in page
    assert "我的后台任务" in page
