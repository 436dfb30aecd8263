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


def test_tracking_ingest_quick_run(capsys, monkeypatch, tmp_path):
    from bench import tracking_ingest  # noqa: F401 - registers it

    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 1000)  # 100 parcels, 1,002 events
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["tracking_ingest"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("tracking_ingest", "sqlite", 1002)
    assert (line["stored"], line["unknown"], line["orders_delivered"]) == (1000, 2, 10)
    assert line["seconds"] > 0


def test_routing_quick_run(capsys, monkeypatch, tmp_path):
    from bench import suites_routing  # noqa: F401 - registers it

    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["routing"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("routing", "sqlite", 1000)
    assert line["seconds"] > 0
    assert 0 < line["changed"] <= 1000


def test_single_item_lane_quick_run(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 50)  # 20 orders
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["single_item_lane"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("single_item_lane", "sqlite", 20)
    assert line["seconds"] > 0


def test_carrier_bill_quick_run(capsys, monkeypatch, tmp_path):
    from bench import suites_bills  # noqa: F401 - registers it

    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 100)  # 1,000 parcels and lines
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run(["carrier_bill"], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"], line["n"]) == ("carrier_bill", "sqlite", 1000)
    assert line["seconds"] > 0
    assert (line["disputes_overweight"], line["disputes_not_billed"]) == (10, 5)
    assert line["disputes_duplicate"] + line["disputes_unknown"] == 5
