"""The job benchmark: allocate_all is registered and runs at smoke size."""

import json

from bench import runner, suites_jobs  # noqa: F401 - registers the benchmark
from bench.targets import TARGETS


def test_allocate_all_is_registered_with_its_target():
    assert "allocate_all" in runner.REGISTRY
    assert ("seconds", "<", 20, ("sqlite",)) in TARGETS["allocate_all"]


def test_quick_run_prints_a_figure(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 100)  # a hundredth of the large set: a smoke run
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["allocate_all"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("allocate_all", "sqlite", 100)
    assert line["seconds"] > 0
    # three runs of 100 orders, each allocated or backordered, none skipped
    assert line["allocated"] + line["backordered"] == 300
    assert line["skipped"] == 0
