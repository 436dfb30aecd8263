"""Killed processes lose nothing and write nothing by halves.

Each test starts a real child process (:mod:`tests.core.faults_child`) on the test's database
that SIGKILLs itself in the middle of a unit of work: a background job as it stores its file,
an API request before and after its commit, a stock transfer before its commit. Then the test
checks what the database and the disk hold, and that the retry the client or the dispatcher
makes gets the right outcome.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from erp.core import jobs
from erp.core.models import BackgroundJob, IdempotencyKey, JobState, utcnow
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import CustomerOrder
from erp.warehouse.models import StockLevel, StockMove
from tests.core import faults_child  # noqa: F401 - registers the job kind the child runs
from tests.orders.intake_data import payload

STALE = 60  # ERP_JOBS_STALE_SECONDS of the test app and its children


@pytest.fixture
def app_config():
    """A Redis nobody listens on: the dispatcher cannot hand jobs to a runner of this process."""
    return {"ERP_REDIS_URL": "redis://127.0.0.1:1/0", "ERP_JOBS_STALE_SECONDS": STALE}


def run_child(app, mode: str, **args) -> None:
    """Fork a child running ``mode`` on the test's database; check that SIGKILL ended it.

    The child builds its own app (its own engine and connections: none of the test's cross
    the fork) and kills itself in the middle of the work; forking spares it the imports.
    """
    db.session.commit()  # the child must see everything the test made (and wait for no lock)
    args.update(db=app.config["SQLALCHEMY_DATABASE_URI"], instance=app.instance_path,
                stale=STALE)
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            faults_child.main(mode, args)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status), f"the child exited with {os.waitstatus_to_exitcode(status)}"
    assert os.WTERMSIG(status) == signal.SIGKILL


def fresh(model, ident):
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(model, ident)


def order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(CustomerOrder))


# --- a background job killed as it stores its file ------------------------------------------------


def test_a_killed_job_is_retried_then_failed_and_no_partial_file_is_offered(
        app, client, login_as):
    owner = login_as("manager")
    job_id = str(uuid.uuid4())
    db.session.add(BackgroundJob(id=job_id, kind="test_fault_report", params="{}",
                                 user_id=owner.id, created_at=utcnow(),
                                 dispatched_at=utcnow(), queue_ref="sync"))
    folder = os.path.join(app.instance_path, "jobs", job_id)
    for attempt in (1, 2, 3):
        run_child(app, "job", job_id=job_id)
        job = fresh(BackgroundJob, job_id)
        assert (job.state, job.attempts, job.progress) == (JobState.running, attempt, 50)
        # the file was written whole under a temporary name; nothing under its own name
        assert os.listdir(folder)
        assert all(n.endswith(".part") for n in os.listdir(folder))
        assert jobs.result_file(job) is None
        assert client.get(f"/reports/jobs/{job_id}/download").status_code == 404
        assert client.get(f"/reports/jobs/{job_id}.json").json["download_url"] is None
        # still beating? no: the dispatcher finds it once its heartbeat is stale
        assert jobs.dispatch(now=utcnow() + timedelta(seconds=STALE - 5)) == {
            "retried": 0, "failed": 0, "lost": 0, "dispatched": 0}
        counts = jobs.dispatch(now=utcnow() + timedelta(seconds=STALE + 1))
        job = fresh(BackgroundJob, job_id)
        if attempt < 3:
            assert counts["retried"] == 1
            assert job.state == JobState.queued
            assert f"attempt {attempt + 1} of 3" in job.message
            assert job.dispatched_at is None  # Redis refused it: it waits for the dispatcher
        else:
            assert counts["failed"] == 1
            assert job.state == JobState.failed
            assert "interrupted 3 times" in job.error
        assert not os.path.exists(folder)  # the killed run's temporary file is gone
    # a failed job is not run again
    assert jobs.run_job(job_id) == "failed"
    assert fresh(BackgroundJob, job_id).attempts == 3


def test_a_run_never_takes_a_job_another_run_claimed(app, create_user):
    owner = create_user("owner", roles=("manager",))
    job_id = str(uuid.uuid4())
    db.session.add(BackgroundJob(id=job_id, kind="test_fault_report", params="{}",
                                 user_id=owner.id, created_at=utcnow(), state=JobState.running,
                                 attempts=1, started_at=utcnow(), heartbeat_at=utcnow()))
    db.session.commit()
    assert jobs.run_job(job_id) == "running"  # the second delivery of an enqueued job
    job = fresh(BackgroundJob, job_id)
    assert (job.state, job.attempts) == (JobState.running, 1)


def test_a_finished_run_stores_its_file_whole_and_beats(app, create_user):
    owner = create_user("owner", roles=("manager",))
    job = jobs.submit("test_fault_report", user=owner, wait=True)
    assert job.state == JobState.finished
    assert job.attempts == 1
    assert job.heartbeat_at is not None
    path = jobs.result_file(job)
    assert os.path.getsize(path) == faults_child.REPORT_BYTES
    assert os.listdir(os.path.dirname(path)) == ["report.xlsx"]  # no temporary file left


def test_without_redis_the_ticker_runs_what_waited_in_a_thread(app, create_user, monkeypatch):
    from erp.core import periodic
    app.config["ERP_REDIS_URL"] = None
    owner = create_user("owner", roles=("manager",))
    job_id = str(uuid.uuid4())
    db.session.add(BackgroundJob(id=job_id, kind="test_fault_report", params="{}",
                                 user_id=owner.id, created_at=utcnow()))
    db.session.commit()
    # a one-off `erp tick` leaves it: its thread would die with the command
    assert jobs.dispatch()["dispatched"] == 0
    monkeypatch.setattr(periodic, "TASKS", {"jobs.dispatch": periodic.Task(
        "jobs.dispatch", jobs.dispatch, 60)})
    ticker = periodic.Ticker(app, resolution=0.05)
    ticker.start()
    try:
        deadline = time.monotonic() + 20
        while fresh(BackgroundJob, job_id).state != JobState.finished \
                and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        ticker.stop()
        assert jobs.wait_for_threads(20)
    job = fresh(BackgroundJob, job_id)
    assert job.state == JobState.finished, job.error
    assert job.queue_ref == "thread"


# --- a web worker killed in the middle of an API request -----------------------------------------


@pytest.fixture
def token(app, dummy_admin):
    _, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return plaintext


def post(client, token, key):
    return client.post("/api/v1/orders", json=payload(), headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": key})


def expire_lease(key: str) -> None:
    db.session.execute(update(IdempotencyKey).where(IdempotencyKey.key == key).values(
        created_at=utcnow() - timedelta(seconds=31)))
    db.session.commit()


def test_a_request_killed_before_its_commit_leaves_nothing_and_its_retry_runs_once(
        app, client, token, dummy_sku):
    run_child(app, "api", token=token, key="k-before", body=payload(), when="before")
    assert order_count() == 0  # the flushed order died with its connection
    claim = db.session.scalar(select(IdempotencyKey))
    assert (claim.key, claim.status_code) == ("k-before", None)
    # during the lease, the retry is told to wait
    waiting = post(client, token, "k-before")
    assert waiting.status_code == 409
    assert waiting.headers["Retry-After"] == "1"
    assert order_count() == 0
    # after it, the retry takes the claim over and runs
    expire_lease("k-before")
    created = post(client, token, "k-before")
    assert created.status_code == 201, created.get_json()
    assert order_count() == 1
    again = post(client, token, "k-before")
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == created.get_json()
    assert order_count() == 1


def test_a_request_killed_after_its_commit_is_answered_with_its_order_on_retry(
        app, client, token, dummy_sku):
    run_child(app, "api", token=token, key="k-after", body=payload(), when="after")
    assert order_count() == 1
    assert db.session.scalar(select(IdempotencyKey.status_code)) is None  # no answer stored
    expire_lease("k-after")
    retry = post(client, token, "k-after")
    assert retry.status_code == 200  # the order already exists: the same one, not a second
    assert retry.get_json()["number"] == "WEB-1001"
    assert order_count() == 1


def test_a_stale_claim_of_another_request_is_not_taken_over(app, client, token, dummy_sku):
    run_child(app, "api", token=token, key="k-other", body=payload(), when="before")
    expire_lease("k-other")
    other = payload()
    other["lines"][0]["quantity"] = 5
    assert post_body(client, token, "k-other", other).status_code == 422
    assert order_count() == 0


def post_body(client, token, key, body):
    return client.post("/api/v1/orders", json=body, headers={
        "Authorization": f"Bearer {token}", "Idempotency-Key": key})


# --- a form submission killed before its commit ---------------------------------------------------


def test_a_form_killed_before_its_commit_keeps_no_key_and_its_resend_acts_once(app, client,
                                                                               login_as):
    from erp.core.models import ExchangeRate, FormSubmission
    login_as("admin")
    form = {"currency": "EUR", "valid_from": "2026-12-01", "rate": "1.08",
            "_submission": "k" * 24}
    run_child(app, "form", cookie=client.get_cookie("session").value, form=form)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(ExchangeRate)) == 0
    assert db.session.scalar(select(func.count()).select_from(FormSubmission)) == 0
    # the browser sends the same form again: it runs (its key died with the first attempt)
    assert client.post("/settings/exchange-rates", data=form).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ExchangeRate)) == 1
    again = client.post("/settings/exchange-rates", data=form, follow_redirects=True)
    assert "Already done" in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ExchangeRate)) == 1


# --- a warehouse action killed before its commit --------------------------------------------------


def test_a_transfer_killed_before_its_commit_moves_nothing(app, runner, dummy_sku, create_bin,
                                                          receive_stock):
    source, target = create_bin(), create_bin()
    receive_stock(dummy_sku, source, 10)
    db.session.commit()
    moves = db.session.scalar(select(func.count()).select_from(StockMove))
    run_child(app, "transfer", sku=dummy_sku.id, quantity=4,
              **{"from": source.id, "to": target.id})
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == moves
    levels = dict(db.session.execute(select(StockLevel.location_id, StockLevel.on_hand)
                                     .where(StockLevel.sku_id == dummy_sku.id)).all())
    assert levels.get(source.id) == 10
    assert not levels.get(target.id)
    result = runner.invoke(args=["check-ledger"])
    assert result.exit_code == 0, result.output
