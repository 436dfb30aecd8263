"""The race benchmark: pages and figures, its data and rounds against a live server, the skip.

The rounds run here against the app served in-process one request at a time, on the test's
database. The benchmark itself (gunicorn on PostgreSQL) runs by hand,
``ERP_TEST_DATABASE_URL=... python -m bench race --quick``, or here with
``ERP_BENCH_TEST_SERVER=1``.
"""

import json
import os
import threading

import pytest
from werkzeug.serving import make_server

from bench import runner, suites_race

PG_URL = os.environ.get("ERP_TEST_DATABASE_URL")
KINDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

PAGE = """<form method="post" novalidate><input id="csrf_token" name="csrf_token" type="hidden"
  value="t&amp;1"><input name="username" type="text" value=""></form>
<form method="post" action="/orders/7/allocate" class="inline">
  <input name="csrf_token" type="hidden" value="tok-7"><input type="hidden" name="submission"
  value="k-1"><button type="submit">Allocate</button></form>
<div class="flashes" role="status"><div class="flash flash-success">Order RACE-1 is
  allocated.</div><div class="flash flash-error">Nothing &quot;left&quot;</div></div>"""


def test_race_is_registered_for_postgresql_only():
    assert runner.REGISTRY["race"].kinds == ("postgresql",)
    assert runner.REGISTRY["race"].func is suites_race.race


def test_race_without_postgresql_is_skipped_with_a_message(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["race"], quick=True) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "race: skipped, it runs on postgresql only" in captured.err


def test_pages_are_read_as_a_browser_would():
    assert suites_race.form_fields(PAGE, "/orders/7/allocate") == {"csrf_token": "tok-7",
                                                                   "submission": "k-1"}
    assert suites_race.form_fields(PAGE, "/login", here="/login") == {"csrf_token": "t&1"}
    assert suites_race.form_fields(PAGE, "/orders/8/allocate") is None
    assert suites_race.flashes(PAGE) == [("success", "Order RACE-1 is allocated."),
                                         ("error", 'Nothing "left"')]


def test_figures_of_the_rounds():
    count = {"allocated": 10, "reserved": 10, "level_reserved": 10}
    seen = suites_race.RoundAnswers([302] * 48 + [500, 0], ["allocated"] * 10, 0.5)
    late = suites_race.RoundAnswers([302] * 49 + [403], ["allocated"] * 10, 0.9)
    figures = suites_race._summary([count, {**count, "allocated": 11}], [seen, late])
    assert figures["successes_per_round"] == [10, 11]  # the rounds disagree: every round's
    assert figures["reserved_per_round"] == 10
    assert figures["http_successes_per_round"] == 10
    assert (figures["errors_5xx"], figures["errors_other"]) == (2, 1)
    assert figures["http_statuses"] == {"0": 1, "302": 97, "403": 1, "500": 1}
    assert (figures["seconds_per_round"], figures["max_seconds_per_round"]) == (0.7, 0.9)


@pytest.mark.parametrize("kind", KINDS)
def test_rounds_against_the_app_reserve_exactly_the_units(kind):
    with runner.temp_database(kind, quick=True) as db:
        app = runner.make_app(db)
        usernames, plan = suites_race.build_data(app, rounds=2, requests=6, units=2)
        assert len(usernames) == 6
        assert [len(r.order_ids) for r in plan] == [6, 6]
        assert plan[0].sku_id != plan[1].sku_id
        before = suites_race.count_round(app, plan[0])
        assert before == {"allocated": 0, "backordered": 0, "untouched": 6, "reserved": 0,
                          "level_reserved": 0, "on_hand": 2}
        server = make_server("127.0.0.1", 0, app, threaded=False)  # one request at a time
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            counts, answers = suites_race.play(app, f"http://127.0.0.1:{server.port}",
                                               usernames, plan)
        finally:
            server.shutdown()
            thread.join()
            with app.app_context():
                from erp.extensions import db as sqla
                sqla.engine.dispose()
    for count, seen in zip(counts, answers, strict=True):
        assert count == {"allocated": 2, "backordered": 4, "untouched": 0, "reserved": 2,
                         "level_reserved": 2, "on_hand": 2}
        assert seen.statuses == [302] * 6
        assert seen.outcomes.count("allocated") == 2
        assert all(o == "allocated" or "backordered" in o for o in seen.outcomes)
        assert seen.seconds > 0
    figures = suites_race._summary(counts, answers)
    assert (figures["successes_per_round"], figures["errors_5xx"]) == (2, 0)


@pytest.mark.skipif(not (PG_URL and os.environ.get("ERP_BENCH_TEST_SERVER")),
                    reason="gunicorn on PostgreSQL takes a minute on a busy machine: set "
                           "ERP_BENCH_TEST_SERVER=1 (and ERP_TEST_DATABASE_URL) to run it")
def test_race_quick_under_gunicorn(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(suites_race, "REQUESTS", 8)
    monkeypatch.setattr(suites_race, "UNITS", 3)
    assert runner.run(["race"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"], line["rounds"]) == ("race", "postgresql",
                                                                     16, 2)
    assert line["successes_per_round"] == 3
    assert line["reserved_per_round"] == 3
    assert line["errors_5xx"] == 0
    assert line["ledger_ok"]


def test_targets_want_exactly_ten_in_every_round_and_no_5xx():
    from bench.targets import judge

    line = {"bench": "race", "db": "postgresql", "successes_per_round": 10, "errors_5xx": 0,
            "quick": False}
    assert judge(line) == [("successes_per_round 10", "== 10", "pass"),
                           ("errors_5xx 0", "0", "pass")]
    disagree = {**line, "successes_per_round": [10, 12, 10], "errors_5xx": 2}
    assert judge(disagree) == [("successes_per_round [10, 12, 10]", "== 10", "MISS"),
                               ("errors_5xx 2", "0", "MISS")]
    assert judge({**line, "successes_per_round": 11})[0][2] == "MISS"
    assert [row[2] for row in judge({**disagree, "quick": True})] == ["quick", "quick"]
