"""The sku_export benchmark prints its ratio to a bare xlsxwriter write of the same rows."""

import json

import pytest

from bench import runner, suites, targets  # noqa: F401 - registers it


def test_sku_export_has_the_issue_22_targets():
    assert "sku_export" in runner.REGISTRY
    assert targets.TARGETS["sku_export"] == [("seconds", "<", 12, targets.BOTH),
                                             ("ratio_to_bare", "<", 2.0, targets.BOTH)]


def test_sku_export_quick_run_prints_the_bare_figures(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 100)  # 1,000 SKUs
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["sku_export"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("sku_export", "sqlite", 1000)
    assert line["seconds"] > 0
    assert line["bare_seconds"] > 0
    # (both times are rounded on the line, the ratio is of the unrounded ones)
    assert line["ratio_to_bare"] == pytest.approx(line["seconds"] / line["bare_seconds"],
                                                  rel=0.05, abs=0.02)
