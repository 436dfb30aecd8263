"""Job screens: the job page with its progress bar, the JSON it polls, the download, the list."""

from __future__ import annotations

import re

import pytest

from erp.core import jobs
from erp.core.jobs import JobContext, JobError, JobResult
from erp.core.models import BackgroundJob, JobState
from erp.extensions import db
from tests.fixtures.core import PASSWORD

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@jobs.register("test_view_file")
def file_job(job: JobContext, *, size: int = 3) -> JobResult:
    job.progress(60, "Writing rows")
    return JobResult(b"x" * size, "stock report.xlsx", XLSX)


@jobs.register("test_view_refused")
def refused_job(job: JobContext) -> JobResult:
    raise JobError("No stock moves in that period.")


@pytest.fixture(autouse=True)
def _in_process(app):
    app.config["ERP_REDIS_URL"] = None


@pytest.fixture
def manager(login_as):
    return login_as("manager")


def _job(user, kind="test_view_file", **params) -> BackgroundJob:
    return jobs.submit(kind, user=user, wait=True, **params)


def test_job_page_shows_progress_bar_and_download_when_finished(client, manager):
    job = _job(manager)
    response = client.get(f"/reports/jobs/{job.id}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert re.search(r'<progress id="job-progress" max="100" value="100">', html)
    assert f'href="/reports/jobs/{job.id}/download"' in html
    assert 'id="job-download-row" hidden' not in html
    assert "Download stock report.xlsx" in html
    assert f'data-status-url="/reports/jobs/{job.id}.json"' in html
    assert '<script src="/static/js/jobs.js" defer></script>' in html
    # no inline script or style (CSP)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "style=" not in html
    assert "<style" not in html


def test_status_json_and_download(client, manager):
    job = _job(manager, size=5)
    status = client.get(f"/reports/jobs/{job.id}.json")
    assert status.status_code == 200
    assert status.headers["Cache-Control"] == "no-store"
    assert status.json == {
        "id": job.id, "state": "finished", "state_label": "Finished", "progress": 100,
        "message": "", "error": None, "done": True,
        "download_url": f"/reports/jobs/{job.id}/download",
        "result_name": "stock report.xlsx", "expired": False,
        "started_at": job.started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "finished_at": job.finished_at.strftime("%Y-%m-%d %H:%M UTC")}
    with client.get(f"/reports/jobs/{job.id}/download") as download:
        assert download.status_code == 200
        assert download.data == b"xxxxx"
        assert download.mimetype == XLSX
        assert "attachment" in download.headers["Content-Disposition"]
        assert "stock report.xlsx" in download.headers["Content-Disposition"]


def test_a_running_job_polls_and_shows_no_link_yet(client, manager):
    job = BackgroundJob(id="11111111-2222-3333-4444-555555555555", kind="test_view_file",
                        params="{}", user_id=manager.id, state=JobState.running, progress=35,
                        message="Reading moves")
    db.session.add(job)
    db.session.commit()
    html = client.get(f"/reports/jobs/{job.id}").get_data(as_text=True)
    assert 'data-done="false"' in html
    assert 'value="35"' in html
    assert "Reading moves" in html
    assert 'id="job-download-row" hidden' in html
    status = client.get(f"/reports/jobs/{job.id}.json").json
    assert (status["state"], status["progress"], status["done"]) == ("running", 35, False)
    assert status["download_url"] is None
    assert client.get(f"/reports/jobs/{job.id}/download").status_code == 404


def test_a_failed_job_shows_its_error(client, manager):
    job = _job(manager, "test_view_refused")
    html = client.get(f"/reports/jobs/{job.id}").get_data(as_text=True)
    assert "No stock moves in that period." in html
    assert 'id="job-error" hidden' not in html
    assert 'id="job-download-row" hidden' in html
    assert client.get(f"/reports/jobs/{job.id}.json").json["error"] == \
        "No stock moves in that period."
    assert client.get(f"/reports/jobs/{job.id}/download").status_code == 404


def test_another_users_job_is_not_found_but_an_admin_sees_it(app, client, manager,
                                                              create_user, login):
    job = _job(manager)
    other = create_user("manager2", roles=("manager",))
    client.post("/logout")
    assert login(other.username, PASSWORD).status_code == 302
    for url in (f"/reports/jobs/{job.id}", f"/reports/jobs/{job.id}.json",
                f"/reports/jobs/{job.id}/download"):
        assert client.get(url).status_code == 404, url
    assert job.id not in client.get("/reports/jobs").get_data(as_text=True)
    admin = create_user("boss", roles=("admin",))
    client.post("/logout")
    login(admin.username, PASSWORD)
    assert client.get(f"/reports/jobs/{job.id}").status_code == 200
    with client.get(f"/reports/jobs/{job.id}/download") as download:
        assert download.data == b"xxx"


def test_unknown_job_is_not_found(client, manager):
    assert client.get("/reports/jobs/no-such-job").status_code == 404
    assert client.get("/reports/jobs/no-such-job.json").status_code == 404


def test_every_role_follows_only_its_own_jobs(client, login_as, create_user):
    # large exports and allocation runs are jobs too, so every member of staff has a job list;
    # someone else's job is not found (its id does not leak), as for managers above
    manager = create_user("m1", roles=("manager",))
    job = _job(manager)
    warehouse = login_as("warehouse")
    for url in (f"/reports/jobs/{job.id}", f"/reports/jobs/{job.id}.json",
                f"/reports/jobs/{job.id}/download"):
        assert client.get(url).status_code == 404, url
    listed = client.get("/reports/jobs")
    assert listed.status_code == 200
    assert job.id not in listed.get_data(as_text=True)
    assert "Run a report" not in listed.get_data(as_text=True)  # reports stay for managers
    own = _job(warehouse)
    assert client.get(f"/reports/jobs/{own.id}").status_code == 200


def test_job_list_shows_the_users_jobs_paginated(app, client, manager):
    app.config["ERP_PAGE_SIZE"] = 2
    done = [_job(manager) for _ in range(2)]
    failed = _job(manager, "test_view_refused")
    first = client.get("/reports/jobs").get_data(as_text=True)
    second = client.get("/reports/jobs?page=2").get_data(as_text=True)
    both = first + second
    for job in [*done, failed]:
        assert f"/reports/jobs/{job.id}" in both
    assert "Page 1 of 2" in first
    assert "No stock moves in that period." in both
    assert both.count("stock report.xlsx") == 2
    assert "style=" not in first


def test_job_list_is_empty_at_first(client, manager):
    html = client.get("/reports/jobs").get_data(as_text=True)
    assert "No job yet" in html


def test_expired_file_is_said_so(app, client, manager):
    job = _job(manager)
    import shutil
    shutil.rmtree(f"{app.instance_path}/jobs/{job.id}")
    status = client.get(f"/reports/jobs/{job.id}.json").json
    assert status["expired"] is True
    assert status["download_url"] is None
    assert client.get(f"/reports/jobs/{job.id}/download").status_code == 404
