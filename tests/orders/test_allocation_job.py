""""Allocate all" as a background job: progress, summary, one run at a time, batches committed.

The view and ``erp allocate`` start the job kind ``allocate_all`` (:mod:`erp.orders.jobs`); it
runs in a thread here (no Redis), synchronously with ``ERP_JOBS_SYNC``, and on the real RQ queue
in the last tests (skipped when Redis is down, as in tests/core/test_jobs.py).
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from erp.core import jobs
from erp.core.models import AuditEvent, BackgroundJob, JobState, utcnow
from erp.extensions import db
from erp.orders import jobs as order_jobs
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocation
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems
from tests.core.test_jobs import redis_queue  # noqa: F401 - the real queue's fixture
from tests.fixtures.core import PASSWORD

O = OrderState  # noqa: E741
KIND = order_jobs.KIND


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def states() -> list[OrderState]:
    db.session.expire_all()
    return list(db.session.scalars(select(CustomerOrder.state).order_by(CustomerOrder.id)))


def job_rows() -> list[BackgroundJob]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(BackgroundJob).where(BackgroundJob.kind == KIND)
                                   .order_by(BackgroundJob.created_at)))


@pytest.fixture(autouse=True)
def _in_process(app):
    """No Redis: jobs run in a thread of this process (whatever the environment sets)."""
    app.config["ERP_REDIS_URL"] = None
    yield
    finish()


def finish() -> None:
    """Wait for the jobs running in threads.

    The test's requests share its app context, so the session may still hold the transaction
    of the last request (on SQLite, a POST's write lock): end it first, as a request's
    teardown does.
    """
    db.session.rollback()
    assert jobs.wait_for_threads(30)


@pytest.fixture
def waiting(create_order, stocked_sku):
    """Three orders of 1, 2 and 3 units for 4 in stock: allocated, allocated, backordered."""
    sku = stocked_sku("JOB-TEE", 4, "A-01-01-01")
    made = [create_order([(sku, qty)], number=f"JOB-{qty}") for qty in (1, 2, 3)]
    db.session.commit()
    return made


def test_allocate_all_runs_in_the_background_then_shows_the_summary(client, login_as,
                                                                     waiting):
    user = login_as("customer_service")
    response = client.post("/orders/allocate")
    assert response.status_code == 302
    job_id = response.headers["Location"].rsplit("/", 1)[1]
    assert response.headers["Location"].endswith(f"/reports/jobs/{job_id}")
    finish()
    job = job_rows()[0]
    assert (job.id, job.state, job.user_id, job.error) == (job_id, JobState.finished, user.id,
                                                           None)
    assert states() == [O.allocated, O.allocated, O.backordered]
    assert jobs.load_summary(job) == {"total": 3, "allocated": 2, "backordered": 1,
                                      "failed": 0, "changed": 0, "skipped": 0, "failures": []}
    page = text(client.get(f"/reports/jobs/{job_id}"))
    assert "<h1>Allocation run</h1>" in page
    assert "3 orders considered." in page
    assert "2 orders allocated" in page
    assert "1 order backordered (waiting for stock)" in page
    assert "0 orders skipped" in page
    assert 'data-reload-when-done' not in page  # finished: nothing left to wait for
    # each order keeps its own lock and audit event, with the person who started the run
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action.in_(["customer_order.allocated", "customer_order.backordered"]))).all()
    assert sorted(e.entity_ref for e in events) == ["JOB-1", "JOB-2", "JOB-3"]
    assert {e.actor_id for e in events} == {user.id}
    assert ledger_problems(db.session) == []


def test_a_running_job_page_polls_and_reloads_for_the_summary(client, login_as):
    user = login_as("customer_service")
    job = BackgroundJob(id=str(uuid.uuid4()), kind=KIND, params="{}", user_id=user.id,
                        state=JobState.running, progress=40,
                        message=order_jobs.progress_message(2_000, 5_000), created_at=utcnow())
    db.session.add(job)
    db.session.commit()
    page = text(client.get(f"/reports/jobs/{job.id}"))
    assert 'data-reload-when-done="true"' in page
    assert 'value="40"' in page
    assert "2,000 of 5,000 orders done" in page
    assert 'id="job-summary"' not in page


def test_progress_is_reported_per_batch_in_orders_done(app, create_user, waiting,
                                                       monkeypatch):
    monkeypatch.setattr(order_jobs, "BATCH_SIZE", 1)
    seen = []
    user = create_user("cs", roles=("customer_service",))
    job = jobs.submit(KIND, user=user, wait=True, listener=lambda p, m: seen.append((p, m)))
    assert job.state == JobState.finished, job.error
    assert seen == [(0, "0 of 3 orders done"), (33, "1 of 3 orders done"),
                    (66, "2 of 3 orders done"), (100, "3 of 3 orders done")]


def test_each_batch_is_committed_so_a_crash_keeps_what_was_done(app, create_user, waiting,
                                                                monkeypatch):
    monkeypatch.setattr(order_jobs, "BATCH_SIZE", 1)
    real = order_jobs.allocate_batch
    calls = []

    def failing_second(ids, *, actor):
        calls.append(ids)
        if len(calls) == 2:
            raise RuntimeError("the power went out")
        return real(ids, actor=actor)

    monkeypatch.setattr(order_jobs, "allocate_batch", failing_second)
    user = create_user("cs", roles=("customer_service",))
    job = jobs.submit(KIND, user=user, wait=True)
    assert job.state == JobState.failed
    assert "RuntimeError" in job.error
    # the first batch was committed before the second began; the second left nothing
    assert states() == [O.allocated, O.new, O.new]
    assert db.session.scalar(select(func.sum(StockLevel.reserved))) == 1
    assert ledger_problems(db.session) == []


def test_a_deadlocked_batch_is_run_again(app, create_user, waiting, monkeypatch):
    from sqlalchemy.exc import OperationalError

    class Deadlock(Exception):
        sqlstate = "40P01"

    real = order_jobs.allocate_batch
    calls = []

    def deadlock_once(ids, *, actor):
        calls.append(ids)
        if len(calls) == 1:
            raise OperationalError("UPDATE stock_level ...", {}, Deadlock())
        return real(ids, actor=actor)

    monkeypatch.setattr(order_jobs, "allocate_batch", deadlock_once)
    monkeypatch.setattr("erp.core.transactions.backoff", lambda attempt: 0)
    job = jobs.submit(KIND, user=create_user("cs", roles=("customer_service",)), wait=True)
    assert job.state == JobState.finished, job.error
    assert len(calls) == 2
    assert states() == [O.allocated, O.allocated, O.backordered]


def test_orders_changed_meanwhile_and_failures_are_skipped_with_reasons(app, create_user,
                                                                        waiting, monkeypatch):
    from erp.core.errors import DomainError
    first, second, third = waiting
    real_queue = order_jobs.allocation_queue

    def queue_then_someone_cancels(*, limit=None):
        ids = real_queue(limit=limit)
        first.state = O.cancelled  # another person, between the queue and the batch
        first.cancel_reason = "Customer asked"
        db.session.commit()
        return ids

    real_reserve = allocation.reserve_many

    def refuse_third(specs, *, actor, **options):
        if any(spec.ref_id == third.lines[0].id for spec in specs):
            raise DomainError("Bin A-01-01-01 is being counted.")
        return real_reserve(specs, actor=actor, **options)

    monkeypatch.setattr(order_jobs, "allocation_queue", queue_then_someone_cancels)
    monkeypatch.setattr(allocation, "reserve_many", refuse_third)
    job = jobs.submit(KIND, user=create_user("cs", roles=("customer_service",)), wait=True)
    assert job.state == JobState.finished, job.error
    summary = jobs.load_summary(job)
    assert summary == {"total": 3, "allocated": 1, "backordered": 0, "failed": 1,
                       "changed": 1, "skipped": 2,
                       "failures": [["JOB-3", "Bin A-01-01-01 is being counted."]]}
    assert states() == [O.cancelled, O.allocated, O.new]


def test_the_summary_page_lists_the_failures(client, login_as):
    user = login_as("customer_service")
    job = BackgroundJob(id=str(uuid.uuid4()), kind=KIND, params="{}", user_id=user.id,
                        state=JobState.finished, progress=100, created_at=utcnow(),
                        summary=jobs.dump_params({
                            "total": 3, "allocated": 1, "backordered": 0, "failed": 1,
                            "changed": 1, "skipped": 2,
                            "failures": [["JOB-3", "Bin A-01-01-01 is being counted."]]}))
    db.session.add(job)
    db.session.commit()
    page = text(client.get(f"/reports/jobs/{job.id}"))
    assert "1 order allocated" in page
    assert "0 orders backordered (waiting for stock)" in page
    assert "2 orders skipped" in page
    assert "1 order was changed by someone else during the run" in page
    assert "1 order could not be allocated" in page
    assert re.search(r'<a href="/orders/\?q=JOB-3">JOB-3</a></td><td>Bin A-01-01-01 is being '
                     r"counted.</td>", page)


def test_nothing_to_allocate_says_so(client, login_as, app):
    app.config["ERP_JOBS_SYNC"] = True
    login_as("customer_service")
    page = text(client.post("/orders/allocate", follow_redirects=True))
    assert "No order was waiting for allocation." in page


def test_a_repeated_submission_starts_no_second_run(client, login_as, waiting, app):
    app.config["ERP_JOBS_SYNC"] = True
    login_as("customer_service")
    form = {"_submission": "k" * 24}
    first = client.post("/orders/allocate", data=form)
    again = client.post("/orders/allocate", data=form)
    assert first.status_code == again.status_code == 302
    assert again.headers["Location"] == first.headers["Location"]
    assert len(job_rows()) == 1
    assert "nothing was done again" in text(client.get(again.headers["Location"]))


def test_while_a_run_is_under_way_the_button_leads_to_it(client, login_as, create_user,
                                                         login, waiting):
    owner = login_as("customer_service")
    running = BackgroundJob(id=str(uuid.uuid4()), kind=KIND, params="{}", user_id=owner.id,
                            state=JobState.running, progress=10, created_at=utcnow())
    db.session.add(running)
    db.session.commit()
    again = client.post("/orders/allocate")
    assert again.headers["Location"].endswith(f"/reports/jobs/{running.id}")
    assert "An allocation run is already under way: here is its progress." in text(
        client.get(again.headers["Location"]))
    # someone else may not open that job's page: back to the list, naming who started it
    create_user("cs2", roles=("customer_service",), full_name="Wen Li")
    client.post("/logout")
    assert login("cs2", PASSWORD).status_code == 302
    other = client.post("/orders/allocate")
    assert other.headers["Location"].endswith("/orders/")
    page = text(client.get("/orders/"))
    assert "An allocation run started by Test User at" in page
    assert "is still under way; start another once it has finished." in page
    assert len(job_rows()) == 1
    assert states() == [O.new, O.new, O.new]


def test_a_stale_run_does_not_block_a_new_one(client, login_as, waiting, app):
    app.config["ERP_JOBS_SYNC"] = True
    owner = login_as("customer_service")
    db.session.add(BackgroundJob(id=str(uuid.uuid4()), kind=KIND, params="{}",
                                 user_id=owner.id, state=JobState.running,
                                 created_at=utcnow() - timedelta(days=1)))
    db.session.commit()
    response = client.post("/orders/allocate")
    assert "/reports/jobs/" in response.headers["Location"]
    assert len(job_rows()) == 2
    assert states() == [O.allocated, O.allocated, O.backordered]


def test_customer_service_may_follow_their_run_but_not_run_reports(client, login_as, app):
    app.config["ERP_JOBS_SYNC"] = True
    login_as("customer_service")
    response = client.post("/orders/allocate")
    job_page = client.get(response.headers["Location"])
    assert job_page.status_code == 200
    assert client.get("/reports/jobs").status_code == 200
    assert "Run a report" not in text(client.get("/reports/jobs"))
    assert client.get("/reports/excel").status_code == 403


def test_the_job_page_and_refusal_in_chinese(client, login_as, create_user, login, waiting,
                                             app):
    app.config["ERP_JOBS_SYNC"] = True
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    login_as("customer_service")
    response = client.post("/orders/allocate")
    job = job_rows()[0]
    assert job.language == "zh_Hans_CN"
    page = text(client.get(response.headers["Location"]))
    assert "<h1>批量分配</h1>" in page
    assert "共处理 3 个订单。" in page
    assert "已分配 2 个订单" in page
    assert "1 个订单缺货待补（等待到货）" in page
    # a run under way, seen by someone else in Chinese: the refusal names who started it
    job.state = JobState.running
    db.session.commit()
    create_user("cs2", roles=("customer_service",))
    client.post("/logout")
    login("cs2", PASSWORD)
    client.post("/orders/allocate")
    listed = text(client.get("/orders/"))
    assert "Test User 于 " in listed
    assert "发起的批量分配仍在进行" in listed


def test_the_progress_message_follows_the_language_of_who_started_it(app, create_user,
                                                                     waiting):
    seen = []
    user = create_user("cs", roles=("customer_service",), language="zh_Hans_CN")
    job = jobs.submit(KIND, user=user, wait=True, listener=lambda p, m: seen.append(m))
    assert job.language == "zh_Hans_CN"
    assert seen[-1] == "已完成 3 / 3 个订单"


# --- the command -------------------------------------------------------------------------------


def test_allocate_command_runs_the_job_and_prints_progress(runner, waiting):
    result = runner.invoke(args=["allocate", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "2 orders considered: 2 allocated, 0 backordered, 0 skipped." in result.output
    assert "100 %  2 of 2 orders done" in result.output
    assert states() == [O.allocated, O.allocated, O.new]
    job = job_rows()[0]
    assert (job.state, job.user_id, jobs.load_params(job.params)) == (
        JobState.finished, None, {"limit": 2})


def test_allocate_command_refuses_while_a_run_is_under_way(runner, waiting):
    db.session.add(BackgroundJob(id=str(uuid.uuid4()), kind=KIND, params="{}",
                                 state=JobState.queued, created_at=utcnow()))
    db.session.commit()
    result = runner.invoke(args=["allocate"])
    assert result.exit_code == 1
    assert "is already under way" in result.output
    assert states() == [O.new, O.new, O.new]


# --- the real queue ----------------------------------------------------------------------------


def test_allocate_all_on_the_rq_queue(client, login_as, waiting, redis_queue):  # noqa: F811
    login_as("customer_service")
    response = client.post("/orders/allocate")
    job = job_rows()[0]
    assert response.headers["Location"].endswith(f"/reports/jobs/{job.id}")
    assert job.state == JobState.queued
    assert redis_queue.job_ids == [f"erp-{job.id}"]
    # a second click while it waits for a worker leads to the same job
    assert client.post("/orders/allocate").headers["Location"] == response.headers["Location"]
    assert redis_queue.count == 1
    worker = jobs.make_worker([redis_queue], redis_queue.connection, simple=True, burst=True)
    assert worker.work(burst=True)
    job = job_rows()[0]
    assert job.state == JobState.finished, job.error
    assert jobs.load_summary(job)["allocated"] == 2
    assert states() == [O.allocated, O.allocated, O.backordered]
