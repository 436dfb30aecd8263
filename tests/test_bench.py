"""The benchmark runner works end to end at smoke-test size (no timing is asserted)."""

import json

from bench import runner


def test_dashboard_rps_quick_prints_a_figure(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["dashboard_rps"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["bench"] == "dashboard_rps"
    assert line["db"] == "sqlite"
    assert line["n"] == 50
    assert line["per_second"] > 0
    assert (tmp_path / "latest.jsonl").read_text().strip() == json.dumps(line)


def test_unknown_benchmark_is_refused(capsys):
    assert runner.run(["no_such_figure"], quick=True) == 2
    assert "unknown benchmark" in capsys.readouterr().err
