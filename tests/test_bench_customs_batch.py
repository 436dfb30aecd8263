"""The customs_batch benchmark is registered, has a target and runs at smoke size."""

import json

from bench import runner, suites_customs_batch, targets  # noqa: F401 - registers it


def test_customs_batch_is_registered_with_a_target():
    assert "customs_batch" in runner.REGISTRY
    assert targets.TARGETS["customs_batch"] == [("seconds", "<", 5, targets.BOTH)]


def test_customs_batch_quick_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 100)  # 50 parcels
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["customs_batch"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("customs_batch", "sqlite", 50)
    assert line["seconds"] > 0
    assert line["zip_mb"] > 0
