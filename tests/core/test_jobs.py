"""Background jobs: in-process (synchronous and in a thread) and on the real RQ queue on Redis.

The job kinds used here are registered by this module only (prefix ``test_``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.core import jobs
from erp.core.jobs import JobContext, JobError, JobResult
from erp.core.models import BackgroundJob, JobState, utcnow
from erp.extensions import db

REDIS_URL = os.environ.get("ERP_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
GATE = threading.Event()  # the gated job waits for it


@jobs.register("test_echo")
def echo_job(job: JobContext, *, text: str, day: date | None = None,
             amount: Decimal | None = None) -> JobResult:
    """Write the params to a text file, reporting progress half-way."""
    job.progress(50, "Half way")
    body = f"{text}|{day!r}|{amount!r}|{job.user_id}"
    return JobResult(body.encode(), "echo result.txt", "text/plain")


@jobs.register("test_gated")
def gated_job(job: JobContext) -> JobResult:
    """Report 40 %, then wait for the test to open the gate."""
    job.progress(40, "Counting")
    if not GATE.wait(15):
        raise JobError("The gate never opened.")
    return JobResult(b"done", "gated.txt", "text/plain")


@jobs.register("test_refused")
def refused_job(job: JobContext) -> JobResult:
    raise JobError("No data in that period.")


@jobs.register("test_crash")
def crash_job(job: JobContext) -> JobResult:
    job.progress(10)
    raise RuntimeError("internal detail: password=hunter2")


def _fresh(job_id: str) -> BackgroundJob:
    """Return the job row as the database has it now (as another session sees it)."""
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(BackgroundJob, job_id)


def _wait_state(job_id: str, states, timeout: float = 10.0) -> BackgroundJob:
    deadline = time.monotonic() + timeout
    while True:
        job = _fresh(job_id)
        if job.state in states or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


@pytest.fixture
def user(create_user):
    return create_user("jobowner", roles=("manager",))


@pytest.fixture
def in_process(app):
    """No Redis: jobs run in this process (whatever ERP_REDIS_URL the environment sets)."""
    app.config["ERP_REDIS_URL"] = None
    yield app
    GATE.set()
    assert jobs.wait_for_threads(20)
    GATE.clear()


def test_submit_with_wait_runs_synchronously_and_stores_the_file(app, in_process, user):
    job = jobs.submit("test_echo", user=user, wait=True, text="hello", day=date(2026, 3, 1),
                      amount=Decimal("12.50"))
    assert job.state == JobState.finished
    assert job.progress == 100
    assert job.message is None  # the last step's message is cleared
    assert job.user_id == user.id
    assert job.started_at
    assert job.finished_at
    assert job.error is None
    assert job.result_path == f"jobs/{job.id}/echo_result.txt"
    assert job.result_name == "echo result.txt"
    assert job.result_mime == "text/plain"
    path = jobs.result_file(job)
    assert path == os.path.join(app.instance_path, "jobs", job.id, "echo_result.txt")
    with open(path, "rb") as fh:
        assert fh.read() == (f"hello|datetime.date(2026, 3, 1)|Decimal('12.50')|{user.id}"
                             .encode())
    assert jobs.load_params(job.params) == {"text": "hello", "day": date(2026, 3, 1),
                                            "amount": Decimal("12.50")}


def test_sync_config_runs_synchronously(app, in_process, user):
    app.config["ERP_JOBS_SYNC"] = True
    job = jobs.submit("test_echo", user=user, text="sync")
    assert job.state == JobState.finished
    assert not jobs._THREADS


def test_background_thread_returns_at_once_and_finishes(app, in_process, user):
    GATE.clear()
    job = jobs.submit("test_gated", user=user)
    # the request returns while the job waits at the gate
    assert job.state == JobState.queued
    running = _wait_state(job.id, {JobState.running, JobState.finished, JobState.failed})
    assert running.state == JobState.running
    GATE.set()
    done = _wait_state(job.id, {JobState.finished, JobState.failed}, timeout=5)
    assert done.state == JobState.finished, done.error
    with open(jobs.result_file(done), "rb") as fh:
        assert fh.read() == b"done"


def test_progress_is_visible_from_another_session_while_running(app, in_process, user):
    GATE.clear()
    job = jobs.submit("test_gated", user=user)
    deadline = time.monotonic() + 10
    while True:
        db.session.rollback()
        row = db.session.execute(select(BackgroundJob.state, BackgroundJob.progress,
                                        BackgroundJob.message)
                                 .where(BackgroundJob.id == job.id)).one()
        if row.progress == 40 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert (row.state, row.progress, row.message) == (JobState.running, 40, "Counting")
    GATE.set()
    assert _wait_state(job.id, {JobState.finished, JobState.failed}).state == JobState.finished


def test_progress_skips_unchanged_values_and_clamps(app, in_process, user, count_queries):
    job = jobs.submit("test_echo", user=user, wait=True, text="x")
    context = JobContext(job.id, job.kind, {}, user.id)
    context.progress(150, "Almost")
    assert _fresh(job.id).progress == 100
    with count_queries() as counter:
        context.progress(100, "Almost")
    assert counter.count == 0
    context.progress(-5, "x" * 300)
    row = _fresh(job.id)
    assert row.progress == 0
    assert row.message == "x" * 200


def test_a_job_error_is_stored_with_its_message(app, in_process, user):
    job = jobs.submit("test_refused", user=user, wait=True)
    assert job.state == JobState.failed
    assert job.error == "No data in that period."
    assert job.result_path is None
    assert jobs.result_file(job) is None
    assert not os.path.exists(os.path.join(app.instance_path, "jobs", job.id))


def test_an_unexpected_error_is_logged_but_not_shown(app, in_process, user, caplog):
    with caplog.at_level(logging.ERROR, logger="erp.core.jobs"):
        job = jobs.submit("test_crash", user=user, wait=True)
    assert job.state == JobState.failed
    assert "RuntimeError" in job.error
    assert "hunter2" not in job.error
    assert "Traceback" not in job.error
    assert any("hunter2" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_a_failure_in_a_thread_is_stored(app, in_process, user):
    job = jobs.submit("test_refused", user=user)
    done = _wait_state(job.id, {JobState.finished, JobState.failed})
    assert done.state == JobState.failed
    assert done.error == "No data in that period."


def test_unknown_kind_is_refused_before_anything_is_stored(app, in_process, user):
    with pytest.raises(KeyError):
        jobs.submit("no_such_kind", user=user)
    assert db.session.scalar(select(BackgroundJob.id)) is None


def test_a_row_with_an_unregistered_kind_fails_cleanly(app, user):
    db.session.add(BackgroundJob(id=str(uuid.uuid4()), kind="gone", params="{}",
                                 user_id=user.id))
    db.session.commit()
    job_id = db.session.scalar(select(BackgroundJob.id))
    assert jobs.run_job(job_id) == "failed"
    assert "Unknown job kind" in _fresh(job_id).error
    assert jobs.run_job("no-such-id") is None


def test_params_must_be_storable(app, in_process, user):
    with pytest.raises(TypeError):
        jobs.submit("test_echo", user=user, wait=True, text=object())


def test_get_only_for_the_owner_or_an_admin(app, in_process, user, create_user):
    job = jobs.submit("test_echo", user=user, wait=True, text="mine")
    other = create_user("other", roles=("manager",))
    admin = create_user("boss", roles=("admin",))
    assert jobs.get(job.id, user) is job
    assert jobs.get(job.id, admin) is job
    assert jobs.get(job.id, other) is None
    assert jobs.get("no-such-id", user) is None


def test_cleanup_removes_old_files_orphans_and_stale_running_jobs(app, in_process, user):
    old = jobs.submit("test_echo", user=user, wait=True, text="old")
    new = jobs.submit("test_echo", user=user, wait=True, text="new")
    old.finished_at = utcnow() - timedelta(days=8)
    stale = BackgroundJob(id=str(uuid.uuid4()), kind="test_echo", params="{}",
                          user_id=user.id, state=JobState.running,
                          started_at=utcnow() - timedelta(days=1))
    db.session.add(stale)
    db.session.commit()
    orphan = os.path.join(app.instance_path, "jobs", "orphan")
    os.makedirs(orphan)
    old_path = jobs.result_file(old)
    assert jobs.cleanup() == 2  # the old job's folder and the orphan
    assert not os.path.exists(old_path)
    assert not os.path.exists(orphan)
    assert _fresh(old.id).result_path is None
    assert jobs.result_file(_fresh(old.id)) is None
    assert jobs.result_file(_fresh(new.id)) is not None
    stale = _fresh(stale.id)
    assert stale.state == JobState.failed
    assert "interrupted" in stale.error


def test_worker_command_needs_redis_url(app, runner):
    app.config["ERP_REDIS_URL"] = None
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 1
    assert "ERP_REDIS_URL is not set" in result.output


# --- the real queue ---------------------------------------------------------------------------


@pytest.fixture
def redis_queue(app):
    """Point the app at Redis on a queue of its own; skip (fail in CI) if Redis is down."""
    import redis
    import rq

    connection = redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except redis.exceptions.RedisError as exc:
        if (os.environ.get("CI") or "").lower() not in ("", "0", "false"):
            pytest.fail(f"Redis at {REDIS_URL} is unreachable in CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is unreachable: {exc}")
    name = f"erp-test-{uuid.uuid4().hex}"
    app.config.update(ERP_REDIS_URL=REDIS_URL, ERP_JOBS_QUEUE=name)
    queue = rq.Queue(name, connection=connection)
    yield queue
    queue.delete(delete_jobs=True)
    for registry in (queue.failed_job_registry, queue.finished_job_registry,
                     queue.started_job_registry):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)
    connection.close()


def test_rq_queue_runs_the_job_in_a_worker(app, user, redis_queue):
    job = jobs.submit("test_echo", user=user, text="via redis", day=date(2026, 1, 31))
    assert job.state == JobState.queued
    assert redis_queue.count == 1
    assert redis_queue.job_ids == [f"erp-{job.id}"]
    assert _fresh(job.id).state == JobState.queued  # nothing runs until a worker takes it
    worker = jobs.make_worker([redis_queue], redis_queue.connection, simple=True, burst=True)
    assert worker.work(burst=True)
    done = _fresh(job.id)
    assert done.state == JobState.finished, done.error
    assert done.progress == 100
    assert done.message is None
    with open(jobs.result_file(done), "rb") as fh:
        assert fh.read() == f"via redis|datetime.date(2026, 1, 31)|None|{user.id}".encode()
    assert redis_queue.count == 0


def test_rq_failure_is_stored_on_the_job(app, user, redis_queue):
    job = jobs.submit("test_refused", user=user)
    worker = jobs.make_worker([redis_queue], redis_queue.connection, simple=True, burst=True)
    worker.work(burst=True)
    done = _fresh(job.id)
    assert done.state == JobState.failed
    assert done.error == "No data in that period."


def test_worker_command_cleans_up_then_runs_the_queue(app, runner, user, redis_queue):
    orphan = os.path.join(app.instance_path, "jobs", "orphan")
    os.makedirs(orphan)
    job_id = jobs.submit("test_echo", user=user, text="cli").id
    result = runner.invoke(args=["worker", "--burst", "--simple"])
    assert result.exit_code == 0, result.output
    assert not os.path.exists(orphan)
    assert _fresh(job_id).state == JobState.finished


def test_an_unreachable_queue_leaves_the_job_waiting_for_the_dispatcher(app, user):
    app.config.update(ERP_REDIS_URL="redis://127.0.0.1:1/0")
    job = jobs.submit("test_echo", user=user, text="lost")
    job = _fresh(job.id)
    assert job.state == JobState.queued
    assert job.dispatched_at is None
    assert job.queue_ref is None
    assert "Waiting for the job queue" in job.message
