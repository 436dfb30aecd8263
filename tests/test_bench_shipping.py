"""The shipping benchmarks: labels_pdf and dispatch are registered and run at smoke size."""

import json

import pytest

from bench import runner, suites_shipping  # noqa: F401 - registers the benchmarks


def test_shipping_benchmarks_are_registered():
    assert {"labels_pdf", "dispatch"} <= set(runner.REGISTRY)


@pytest.mark.parametrize("name", ["labels_pdf", "dispatch"])
def test_quick_run_prints_a_figure(name, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run([name], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == (name, "sqlite", 100)
    assert line["seconds"] > 0
