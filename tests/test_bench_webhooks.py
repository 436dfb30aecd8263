"""The webhook benchmark: webhook_fanout is registered and runs at smoke size."""

import json

from bench import runner, webhook_fanout  # noqa: F401 - registers the benchmark
from bench.targets import TARGETS


def test_webhook_fanout_is_registered_with_its_target():
    assert "webhook_fanout" in runner.REGISTRY
    assert ("seconds", "<", 60, None) in TARGETS["webhook_fanout"]


def test_quick_run_delivers_every_event(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 50)  # 200 events: a smoke run
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["webhook_fanout"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("webhook_fanout", "sqlite", 200)
    assert line["seconds"] > 0
