"""Redis goes away: sign-in and the order API keep working, jobs wait and then drain.

Every test runs its own redis-server (:mod:`tests.redis_process`) and stops it to make Redis
"down"; the app's ``ERP_REDIS_URL`` and rate-limit storage point at it.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import redis
import rq
from sqlalchemy import func, select

from erp.core import jobs
from erp.core.events import OutboxEvent
from erp.core.models import BackgroundJob, JobState
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import CustomerOrder
from tests.core import faults_child
from tests.core.test_ready import stamped  # noqa: F401 - the /ready tests' fixture
from tests.fixtures.core import PASSWORD
from tests.orders.intake_data import payload
from tests.redis_process import redis_server  # noqa: F401 - the fixture

QUEUE = "erp-faults-test"


@pytest.fixture
def app_config(redis_server):  # noqa: F811
    """The app's jobs, webhook pumps and rate-limit counters all on the test's own Redis."""
    return {"ERP_REDIS_URL": redis_server.url, "RATELIMIT_STORAGE_URI": redis_server.url,
            "ERP_JOBS_QUEUE": QUEUE}


def fresh(job_id: str) -> BackgroundJob:
    db.session.rollback()
    db.session.expire_all()
    return db.session.get(BackgroundJob, job_id)


def rq_queue(server) -> rq.Queue:
    return rq.Queue(QUEUE, connection=redis.from_url(server.url))


# --- requests -------------------------------------------------------------------------------------


def test_sign_in_works_with_redis_down_and_is_still_limited(app, create_user,
                                                            redis_server):  # noqa: F811
    app.config["ERP_LOGIN_RATE_LIMIT"] = "3 per minute"
    user = create_user("wes", roles=("warehouse",))
    form = {"username": user.username, "password": PASSWORD}
    assert app.test_client().post("/login", data=form).status_code == 302
    assert redis.from_url(redis_server.url).keys("LIMITS*")  # counted in Redis while it is up
    redis_server.stop()
    started = time.monotonic()
    for _ in range(2):
        assert app.test_client().post("/login", data=form).status_code == 302
    assert time.monotonic() - started < 5
    # the limit still holds, counted in this process's memory meanwhile
    assert app.test_client().post("/login", data=form).status_code == 302
    assert app.test_client().post("/login", data=form).status_code == 429


def test_the_order_api_works_with_redis_down(app, client, dummy_admin, dummy_sku,
                                             redis_server):  # noqa: F811
    _, token = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "k-1"}
    redis_server.stop()
    created = client.post("/api/v1/orders", json=payload(), headers=headers)
    assert created.status_code == 201, created.get_json()
    replay = client.post("/api/v1/orders", json=payload(), headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    second = client.post("/api/v1/orders", json=payload(number="WEB-1002"),
                         headers={**headers, "Idempotency-Key": "k-2"})
    assert second.status_code == 201
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == 2
    # their events wait in the outbox (in the database) for the ticker's delivery
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) >= 2


def test_ready_reports_redis_degraded_without_failing(stamped, client,  # noqa: F811
                                                      redis_server):  # noqa: F811
    up = client.get("/ready")
    assert up.status_code == 200
    assert (up.json["status"], up.json["database"], up.json["redis"]) == ("ready", "ok", "ok")
    redis_server.stop()
    started = time.monotonic()
    down = client.get("/ready")
    assert time.monotonic() - started < 3
    assert down.status_code == 200
    assert (down.json["status"], down.json["database"], down.json["redis"]) == (
        "degraded", "ok", "unreachable")
    redis_server.start()
    assert client.get("/ready").json["status"] == "ready"


# --- jobs -----------------------------------------------------------------------------------------


def test_a_job_submitted_with_redis_down_waits_then_is_dispatched_once(
        app, create_user, redis_server):  # noqa: F811
    owner = create_user("owner", roles=("manager",))
    redis_server.stop()
    job = jobs.submit("test_fault_report", user=owner)
    job = fresh(job.id)
    assert job.state == JobState.queued  # not failed: it waits in the database
    assert job.dispatched_at is None
    assert jobs.dispatch()["dispatched"] == 0  # Redis still away
    assert fresh(job.id).state == JobState.queued
    redis_server.start()
    assert jobs.dispatch() == {"retried": 0, "failed": 0, "lost": 0, "dispatched": 1}
    assert jobs.dispatch()["dispatched"] == 0  # never handed over twice
    queue = rq_queue(redis_server)
    assert queue.count == 1
    assert fresh(job.id).queue_ref == queue.job_ids[0]
    worker = jobs.make_worker([queue], queue.connection, simple=True, burst=True)
    assert worker.work(burst=True)
    done = fresh(job.id)
    assert done.state == JobState.finished, done.error
    assert done.message is None
    assert os.path.getsize(jobs.result_file(done)) == faults_child.REPORT_BYTES


def test_a_job_lost_by_a_redis_restart_is_handed_over_again(app, create_user,
                                                            redis_server):  # noqa: F811
    from datetime import timedelta

    from erp.core.models import utcnow
    owner = create_user("owner", roles=("manager",))
    job = jobs.submit("test_fault_report", user=owner)
    assert rq_queue(redis_server).count == 1
    redis_server.stop()
    redis_server.start()  # empty: the queued entry is gone
    assert rq_queue(redis_server).count == 0
    later = utcnow() + timedelta(seconds=jobs.stale_seconds() + 1)
    assert jobs.dispatch() == {"retried": 0, "failed": 0, "lost": 0, "dispatched": 0}
    assert jobs.dispatch(now=later) == {"retried": 0, "failed": 0, "lost": 1, "dispatched": 1}
    assert rq_queue(redis_server).count == 1
    assert fresh(job.id).queue_ref != f"erp-{job.id}"  # a new RQ id: the old one may linger
    assert jobs.dispatch(now=later)["lost"] == 0  # it is on the queue now


def fork_worker(app, redis_server) -> int:  # noqa: F811
    """Start a real RQ worker on ``redis_server`` in a child process; return its pid."""
    pid = os.fork()
    if pid == 0:  # the worker: never back into pytest
        try:
            faults_child.main("worker", {"db": app.config["SQLALCHEMY_DATABASE_URI"],
                                         "instance": app.instance_path,
                                         "redis": redis_server.url, "queue": QUEUE})
        finally:
            os._exit(3)
    return pid


def test_the_worker_survives_redis_going_away_and_drains_what_waited(
        app, create_user, redis_server):  # noqa: F811
    owner = create_user("owner", roles=("manager",))
    db.session.commit()
    pid = fork_worker(app, redis_server)
    try:
        first = jobs.submit("test_fault_report", user=owner)
        assert wait_for(first.id, JobState.finished).state == JobState.finished
        redis_server.stop()
        time.sleep(0.5)  # the worker meets the closed connection
        waiting = jobs.submit("test_fault_report", user=owner)
        assert fresh(waiting.id).dispatched_at is None
        redis_server.start()
        returned = time.monotonic()
        done = wait_for(waiting.id, JobState.finished, timeout=30)
        assert done.state == JobState.finished, done.error
        assert time.monotonic() - returned < 15  # drained well within the minute
        assert done.attempts == 1
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_work_horse_killed_mid_job_is_retried_on_the_worker(app, create_user, tmp_path,
                                                               redis_server):  # noqa: F811
    from datetime import timedelta

    from erp.core.models import utcnow
    owner = create_user("owner", roles=("manager",))
    db.session.commit()
    pid = fork_worker(app, redis_server)
    try:
        job = jobs.submit("test_fault_slow", user=owner, marker=str(tmp_path / "first-run"))
        deadline = time.monotonic() + 30
        while not (fresh(job.id).message or "").startswith("pid ") \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        horse = int(fresh(job.id).message.split()[1])
        assert horse not in (os.getpid(), pid)  # RQ's work horse, forked for the job
        os.kill(horse, signal.SIGKILL)
        time.sleep(0.5)
        assert (fresh(job.id).state, fresh(job.id).attempts) == (JobState.running, 1)
        counts = jobs.dispatch(now=utcnow() + timedelta(seconds=jobs.stale_seconds() + 1))
        assert counts["retried"] == 1
        if not counts["dispatched"]:
            # a loaded machine may miss Redis's 1 s answer: the dispatcher's next round hands
            # the job over (the job waits in the database meanwhile, never lost)
            assert fresh(job.id).state == JobState.queued
            time.sleep(jobs.REDIS_PAUSE_SECONDS + 0.1)
            counts = jobs.dispatch()
        assert counts["dispatched"] == 1
        done = wait_for(job.id, JobState.finished)
        assert done.state == JobState.finished, done.error
        assert done.attempts == 2
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def wait_for(job_id: str, state: JobState, timeout: float = 30) -> BackgroundJob:
    deadline = time.monotonic() + timeout
    while True:
        job = fresh(job_id)
        if job.state in (state, JobState.failed) or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_a_webhook_wake_with_redis_down_costs_the_request_nothing(app, redis_server):  # noqa: F811
    from erp.core import webhooks
    redis_server.stop()
    started = time.monotonic()
    webhooks.wake()  # refused: Redis is noted away for a moment
    assert jobs.redis_paused(app)
    for _ in range(100):
        webhooks.wake()  # not even tried meanwhile
    assert time.monotonic() - started < 1
