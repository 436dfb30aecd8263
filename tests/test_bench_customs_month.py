"""The customs_month benchmark is registered and runs at smoke size."""

import json

from bench import runner, suites_customs_month  # noqa: F401 - registers the benchmark


def test_customs_month_quick_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 1000)  # 150 parcels
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["customs_month"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"], line["list_lines"]) == (
        "customs_month", "sqlite", 150, 225)
    assert line["seconds"] > 0
    assert line["summary_lines"] > 0
