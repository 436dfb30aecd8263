"""The faults benchmark: registration, its pieces, its private servers and a short run.

The benchmark itself (``python -m bench faults``, about 7 minutes) runs by hand or in ``make
bench``. Here its private PostgreSQL cluster and Redis are started, restarted and removed, and
a short run (seconds-long faults, a fiftieth of the data) goes through the whole harness: the
app under gunicorn with its worker and ticker, the load, PostgreSQL restarted, Redis stopped,
gunicorn workers and a report job's work horse killed, the ledger and audit checks (once, at
the end) and the count of lost documents. The short run is a PostgreSQL benchmark's test: it
runs in the PostgreSQL pass (``ERP_TEST_DATABASE_URL`` set), where the machine has
PostgreSQL's programs. It takes a few minutes on a busy machine (the data, four gunicorn
workers and the ``erp`` commands each start the app).
"""

import json
import os
import threading
import time
from pathlib import Path

import pytest

from bench import faults_infra, runner, suites_faults
from bench.runner import BenchDB
from bench.targets import TARGETS, judge

PG_URL = os.environ.get("ERP_TEST_DATABASE_URL")
MISSING = faults_infra.missing()
needs_servers = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def test_faults_is_registered_with_its_own_server_and_targets():
    bench = runner.REGISTRY["faults"]
    assert bench.func is suites_faults.faults
    assert bench.kinds == ("postgresql",)
    assert bench.own_server is faults_infra.missing
    assert TARGETS["faults"] == [("lost_or_duplicated", "==", 0, None),
                                 ("pg_recovery_seconds", "<", 10, None),
                                 ("redis_drain_seconds", "<", 60, None)]
    line = {"bench": "faults", "db": "postgresql", "lost_or_duplicated": 0,
            "pg_recovery_seconds": 1.2, "redis_drain_seconds": None}
    assert [status for _, _, status in judge(line)] == ["pass", "pass", "MISS"]


def test_faults_is_skipped_with_the_reason_when_servers_are_missing(capsys, monkeypatch,
                                                                    tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner.REGISTRY["faults"], "own_server",
                        lambda: "redis-server is not installed")
    assert runner.run(["faults"], quick=True) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "faults: skipped, redis-server is not installed" in captured.err


def test_answers_of_the_api_are_compared_with_the_order_sent():
    payload = {"number": "FLT-1", "lines": [{"sku": "A", "quantity": 1},
                                            {"sku": "B", "quantity": 2}]}
    same = json.dumps({"number": "FLT-1", "lines": [{"sku": "B", "quantity": 2},
                                                    {"sku": "A", "quantity": 1}]})
    assert suites_faults._order_mismatch(same, payload) == ""
    assert suites_faults._order_mismatch('{"number": "FLT-2", "lines": []}', payload) \
        == "number 'FLT-2'"
    assert suites_faults._order_mismatch('{"number": "FLT-1", "lines": []}', payload) \
        .startswith("lines []")
    assert suites_faults._order_mismatch("<html>", payload) == "not JSON"
    assert suites_faults._same_json('{"a": 1, "b": 2}', '{"b": 2, "a": 1}')


def test_pages_and_records_are_read_as_the_harness_needs():
    page = ('<input type="hidden" name="csrf_token" value="t1"><input name="bin" '
            'value="LOAD/RCV-01"><input name="qty-7" data-max="5" value="">'
            '<input name="qty-8" data-max="0" value="">')
    assert suites_faults.receivable_lines(page) == [{"id": 7, "room": 5}]
    assert suites_faults.field_value(page, "bin") == "LOAD/RCV-01"
    assert suites_faults._path("http://127.0.0.1:5/shipping/packing/3?x=1") \
        == "/shipping/packing/3?x=1"
    rec = suites_faults.Rec
    records = [rec("api", "a", 1.0, 1.5, 0, False, "connection"),
               rec("api", "a", 2.0, 2.9, 201, True), rec("staff", "b", 2.1, 2.2, 200, True),
               rec("staff", "c", 0.5, 3.0, 200, True)]
    assert suites_faults._first_success_after(records, 2.0).name == "b"
    assert suites_faults._first_success_after(records, 5.0) is None
    figures = suites_faults.summary(records)
    assert (figures["requests"], figures["errors"]) == (4, 1)
    assert figures["errors_by_reason"] == {"connection": 1}


def test_the_gate_holds_new_requests_until_those_in_flight_end():
    gate = suites_faults.Gate()
    entered = threading.Event()
    leave = threading.Event()

    def request():
        with gate.step():
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=request)
    thread.start()
    assert entered.wait(5)
    threading.Timer(0.3, leave.set).start()
    started = time.monotonic()
    gate.hold()
    assert time.monotonic() - started >= 0.2  # it waited for the request in flight
    assert gate.busy == 0
    assert not gate.go.is_set()
    gate.release()
    thread.join(5)
    gate.stopping.set()
    assert not gate.sleep(1)  # stopping: no more sleeping


@needs_servers
def test_private_servers_start_restart_stop_and_leave_nothing():
    pg = faults_infra.PrivatePostgres()
    redis = faults_infra.PrivateRedis()
    try:
        pg.init()
        assert pg.accepting()
        pg.restart_fast()
        assert pg.accepting()
        redis.start()
        assert redis.answers()
        redis.stop()
        assert not redis.answers()
        redis.start()  # on the same port again
        assert redis.answers()
    finally:
        pg.close()
        redis.close()
    assert not pg.accepting()
    assert not Path(pg.root).exists()
    assert not Path(redis.root).exists()


@needs_servers
@pytest.mark.skipif(not PG_URL, reason="a PostgreSQL benchmark: its run is tested in the "
                                       "PostgreSQL pass (ERP_TEST_DATABASE_URL)")
def test_a_short_run_goes_through_every_fault(monkeypatch):
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 50)  # a fiftieth of the data
    plan = suites_faults.Plan(warmup=1, settle=1, redis_down=3, redis_jobs=1, drain_limit=45,
                              kill_every=2, kill_for=3, horse_limit=45, packers=1,
                              receivers=1, api_threads=1, think=0.2, per_packer=4,
                              per_receiver=1, stale_seconds=5, check_each=False,
                              skus=20_000)
    figures = suites_faults.run_faults(BenchDB("postgresql", "", True), plan)
    assert figures["requests"] > 20
    assert figures["faults"] == ["pg_restart", "redis_outage", "kill_workers", "kill_job"]
    assert [c["after"] for c in figures["checks"]] == ["kill_job"]  # once, at the end here
    # the app's own guarantees
    assert figures["ledger_ok"] is True
    assert figures["audit_ok"] is True
    assert figures["lost_or_duplicated"] == 0
    assert figures["api_acknowledged"] > 0
    assert figures["replays_different"] == 0
    assert figures["pg_recovery_seconds"] is not None
    assert figures["pg_recovery_seconds"] < 10
    assert figures["workers_killed"] >= 1
    assert figures["timeouts"] == 0  # every request got an answer or a connection error
    assert figures["job_download"] in ("none", "complete")  # never a partial file
    assert figures["job_kill_ok"] is True  # retried (at most 3 runs) or failed
    # started while Redis was down, then drained (or not: the benchmark's target judges it)
    assert figures["redis_jobs_submitted"] == 1
    assert figures["redis_jobs_refused"] == 0
    assert (figures["redis_drain_seconds"] is not None) == (figures["redis_jobs_finished"] == 1)
    assert figures["thread_crashes"] == 0
    for key in ("ready_answers", "job_state_after_kill", "failed_per_connection",
                "pg_failed_requests", "api_unanswered"):
        assert key in figures
