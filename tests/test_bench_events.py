"""The event feed benchmark: events_feed is registered and runs at smoke size."""

import json

from bench import events_feed, runner  # noqa: F401 - registers the benchmark
from bench.targets import TARGETS


def test_events_feed_is_registered_with_its_target():
    assert "events_feed" in runner.REGISTRY
    assert ("seconds", "<", 10, None) in TARGETS["events_feed"]


def test_quick_run_prints_a_figure(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 100)  # 1,000 events: a smoke run
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["events_feed"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"], line["pages"]) == ("events_feed", "sqlite",
                                                                     1000, 2)
    assert line["seconds"] > 0
