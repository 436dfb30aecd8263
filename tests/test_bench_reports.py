"""The report benchmarks: registered, run at smoke size, and their data set is consistent."""

import json

import pytest

from bench import runner, suites_reports  # noqa: F401 - registers the benchmarks


def test_report_benchmarks_are_registered():
    assert {"dashboard", "valuation_past", "supplier_scorecard",
            "margin_report"} <= set(runner.REGISTRY)


@pytest.mark.parametrize("name", ["dashboard", "valuation_past", "supplier_scorecard",
                                  "margin_report"])
def test_quick_run_prints_a_figure(name, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.setattr(runner, "QUICK_DIVISOR", 100)  # a hundredth of the large set: a smoke run
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    assert runner.run([name], quick=True) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (line["bench"], line["db"]) == (name, "sqlite")
    assert line["n"] == (10_000 if name == "valuation_past" else 2_000)
    assert line["seconds"] > 0


def test_large_data_set_keeps_the_ledger_consistent(app):
    from erp.extensions import db
    from erp.scale import large as data_large
    from erp.warehouse.queries import ledger_problems

    made = data_large.build(n_skus=200, n_moves=2_000, n_orders=500, n_parcels=300, n_cases=20)
    assert (made["skus"], made["moves"], made["orders"], made["cases"]) == (200, 2_000, 500, 20)
    assert 270 <= made["parcels"] <= 330  # the shipped share is sized for about 300 parcels
    assert ledger_problems(db.session) == []
    # the margin report's inputs: a ship move per parcel line, quotes, payment methods, rates
    assert made["ship_moves"] > 300


def test_margin_report_over_the_large_data_set(app):
    from datetime import UTC, datetime, timedelta

    from erp.reports.margin import margin_report
    from erp.scale import large as data_large

    made = data_large.build(n_skus=200, n_moves=2_000, n_orders=500, n_parcels=300, n_cases=20)
    today = datetime.now(UTC).date()
    report = margin_report(today - timedelta(days=data_large.DAYS + 1), today)
    assert report.not_converted == 0
    assert report.total.orders + report.open_orders == made["orders"]
    assert report.total.cogs > 0
    assert report.total.shipping_cost > 0
    assert report.total.fee > 0
    assert report.total.refunds > 0
    assert sum(r.margin for r in report.by["sku"]) == report.total.margin
