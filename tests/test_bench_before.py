"""The before figures of issue 15's benchmarks: merging, alternation, the child run, the targets.

The baseline tree itself is never benchmarked here (minutes); ``python -m bench move_tx`` does.
"""

import json
import re
import textwrap

import pytest

from bench import before, runner
from bench.targets import judge, table


def _run(**figures):
    return {"n": 100, "runs": 3, **figures}


def test_merge_keeps_the_medians_and_the_ratio():
    after = [_run(seconds=2.2, intake_seconds=1.0), _run(seconds=2.0, intake_seconds=0.9),
             _run(seconds=2.6, intake_seconds=1.3)]
    previous = [_run(seconds=1.9), _run(seconds=2.1), _run(seconds=2.0)]
    line = before.merge(after, previous, "seconds")
    assert line["seconds"] == 2.2
    assert line["intake_seconds"] == 1.0  # from the run the median is
    assert line["seconds_before"] == 2.0
    assert line["ratio_to_before"] == 1.1
    assert line["seconds_rounds"] == [2.2, 2.0, 2.6]
    assert line["seconds_before_rounds"] == [1.9, 2.1, 2.0]
    assert (line["rounds"], line["before_commit"]) == (3, before.BASELINE_COMMIT)


def test_merge_of_a_rate_and_without_before_runs():
    line = before.merge([_run(per_second=900.0), _run(per_second=1100.0)],
                        [_run(per_second=1000.0), _run(per_second=1000.0)], "per_second")
    assert (line["per_second"], line["per_second_before"]) == (1000.0, 1000.0)
    assert line["ratio_to_before"] == 1.0
    alone = before.merge([_run(seconds=3.0)], [], "seconds")
    assert alone["seconds"] == 3.0
    assert not {"seconds_before", "ratio_to_before", "before_commit"} & set(alone)


def test_compare_alternates_the_trees_and_merges(monkeypatch, tmp_path):
    calls = []

    def fake_run(tree, name, kind, quick, label):
        side = "before" if tree == tmp_path else "after"
        calls.append(side)
        return _run(seconds=2.0 if side == "before" else 2.1 + 0.1 * calls.count(side))

    monkeypatch.setattr(before, "run_in_tree", fake_run)
    baseline = before.Baseline()
    monkeypatch.setattr(baseline, "tree", lambda: tmp_path)
    line = before.compare("dispatch", "sqlite", False, baseline, rounds=3)
    assert calls == ["before", "after", "after", "before", "before", "after"]
    assert (line["seconds"], line["seconds_before"], line["ratio_to_before"]) == (2.3, 2.0, 1.15)


def test_compare_without_the_baseline_leaves_the_run_to_the_runner(monkeypatch, capsys):
    monkeypatch.setattr(before, "run_in_tree", lambda *a: pytest.fail("nothing may run"))
    with before.Baseline(commit="0" * 40) as baseline:
        assert before.compare("move_tx", "sqlite", True, baseline) is None
        assert baseline.error
    assert "no before figure for move_tx" in capsys.readouterr().err


def test_a_failing_baseline_run_gives_a_line_without_before_figure(monkeypatch, tmp_path):
    def fake_run(tree, name, kind, quick, label):
        if tree == tmp_path:
            raise RuntimeError("ImportError in the old tree")
        return _run(seconds=2.0)

    monkeypatch.setattr(before, "run_in_tree", fake_run)
    baseline = before.Baseline()
    monkeypatch.setattr(baseline, "tree", lambda: tmp_path)
    line = before.compare("po_receive", "sqlite", True, baseline)
    assert line["seconds"] == 2.0
    assert line["rounds"] == before.QUICK_ROUNDS
    assert "seconds_before" not in line
    assert "ImportError in the old tree" in line["before_error"]


def test_the_runner_prints_the_line_without_before_figure_when_git_has_no_commit(
        monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    from bench import suites  # noqa: F401 - registers move_tx, replaced below
    monkeypatch.setattr(before, "BASELINE_COMMIT", "0" * 40)
    monkeypatch.setitem(runner.REGISTRY, "move_tx", runner.Bench(
        "move_tx", lambda db: {"n": 10, "seconds": 0.01, "per_second": 1000.0}))
    assert runner.run(["move_tx"], quick=True, before=True) == 0
    captured = capsys.readouterr()
    line = json.loads(captured.out.strip().splitlines()[-1])
    assert line["per_second"] == 1000.0
    assert "per_second_before" not in line
    assert "0000000" in line["before_error"]
    assert "no before figure for move_tx" in captured.err
    assert re.search(r"^move_tx\s+sqlite\s+ratio_to_before \? \(no before figure\)\s+> 0.9\s+n/a$",
                     captured.err, re.M)


def test_the_baseline_tree_is_the_commit_before_issue_15():
    with before.Baseline() as baseline:
        try:
            tree = baseline.tree()
        except before.BaselineUnavailable as err:
            pytest.skip(f"no git history here: {err}")
        assert (tree / "erp" / "__init__.py").is_file()
        assert (tree / "bench" / "runner.py").is_file()
        assert not (tree / "erp" / "core" / "locking.py").exists()  # issue 15's first commit
    assert not tree.exists()


def test_run_in_tree_imports_the_trees_own_packages(tmp_path, capsys):
    """A stand-in tree with a one-figure benchmark: the child imports its erp and bench."""
    (tmp_path / "erp").mkdir()
    (tmp_path / "erp" / "__init__.py").write_text("WHO = 'the old tree'\n")
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "__init__.py").write_text("")
    (tmp_path / "bench" / "runner.py").write_text(textwrap.dedent("""
        import contextlib, sys
        REGISTRY = {}

        class Bench:
            def __init__(self, func):
                self.func = func

        @contextlib.contextmanager
        def temp_database(kind, quick):
            yield (kind, quick)
    """))
    (tmp_path / "bench" / "suites_fake.py").write_text(textwrap.dedent("""
        import sys
        import erp
        from bench.runner import REGISTRY, Bench

        def fake(db):
            print("   measuring in", erp.WHO, file=sys.stderr)
            print('{"ts": "a request line"}', file=sys.stderr)
            return {"n": 1, "seconds": 0.5, "db": list(db)}

        REGISTRY["fake"] = Bench(fake)
    """))
    figures = before.run_in_tree(tmp_path, "fake", "sqlite", True, "[before 1/2]")
    assert figures == {"n": 1, "seconds": 0.5, "db": ["sqlite", True]}
    err = capsys.readouterr().err
    assert "[before 1/2] measuring in the old tree" in err
    assert "a request line" not in err
    with pytest.raises(RuntimeError, match="KeyError"):
        before.run_in_tree(tmp_path, "missing", "sqlite", True, "[before 2/2]")


def test_targets_judge_the_ratio_to_before():
    line = {"bench": "dispatch", "db": "sqlite", "seconds": 2.1, "seconds_before": 2.0,
            "ratio_to_before": 1.05, "quick": False}
    assert judge(line) == [("seconds 2.1", "< 5", "pass"),
                           ("ratio_to_before 1.05 (seconds 2.1 vs 2)", "< 1.1", "pass")]
    slower = {**line, "seconds": 2.4, "ratio_to_before": 1.2}
    assert [row[2] for row in judge(slower)] == ["pass", "MISS"]
    # no absolute target on PostgreSQL: the figure is reported, the ratio is judged
    assert [row[1:] for row in judge({**slower, "db": "postgresql"})] == [
        ("-", "report"), ("< 1.1", "MISS")]
    assert [row[2] for row in judge({**slower, "quick": True})] == ["quick", "quick"]
    # a rate must not fall below 90 % of the before figure
    rate = {"bench": "move_tx", "db": "postgresql", "per_second": 880.0,
            "per_second_before": 1000.0, "ratio_to_before": 0.88, "quick": False}
    assert judge(rate)[1] == ("ratio_to_before 0.88 (per_second 880.0 vs 1,000.0)", "> 0.9",
                            "MISS")
    assert judge({**rate, "per_second": 950.0, "ratio_to_before": 0.95})[1][2] == "pass"
    assert re.search(r"^move_tx\s+postgresql\s+ratio_to_before 0.88 .*> 0.9\s+MISS$",
                     table([rate]), re.M)


def test_the_dashboard_is_compared_with_the_commit_before_issue_16(monkeypatch, tmp_path):
    assert before.commit_for("dashboard_rps") == before.HOME_COMMIT
    assert before.commit_for("move_tx") == before.BASELINE_COMMIT
    monkeypatch.setattr(before, "run_in_tree", lambda tree, *a: _run(
        per_second=95.0 if tree == tmp_path else 90.0))
    baseline = before.Baseline(before.commit_for("dashboard_rps"))
    monkeypatch.setattr(baseline, "tree", lambda: tmp_path)
    line = before.compare("dashboard_rps", "sqlite", True, baseline)
    assert (line["per_second"], line["per_second_before"]) == (90.0, 95.0)
    assert line["before_commit"] == before.HOME_COMMIT
    assert [row[2] for row in judge({**line, "bench": "dashboard_rps", "db": "sqlite",
                                     "quick": False})] == ["MISS", "pass"]  # 90 < 300


# --------------------------------------------------------------------------- issue 22


def test_issue_22_figures_compare_with_the_commit_before_its_work():
    for name in ("load", "load_100", "sku_export"):
        assert before.commit_for(name) == before.PERF_COMMIT
    # issue 15's and 16's comparisons stay, and issue 22's figure is printed beside them
    assert before.commit_for("order_intake") == before.BASELINE_COMMIT
    for name in ("move_tx", "order_intake", "dashboard_rps"):
        assert before.ALSO[name] == (before.PERF_COMMIT,)
    assert before.COMPARED["load_100"] == ("server_cpu_ms_per_request", "p95_ms")
    assert before.COMPARED["sku_export"] == ("seconds",)
    assert before.rounds_for("load_100", quick=False) == 1
    assert before.rounds_for("load", quick=True) == 1
    assert before.rounds_for("move_tx", quick=False) == before.ROUNDS
    # only the issue-22 commit's tree runs today's bench package
    assert before.Baseline(before.PERF_COMMIT).same_bench
    assert not before.Baseline(before.BASELINE_COMMIT).same_bench
    assert not before.Baseline(before.HOME_COMMIT).same_bench


def test_merge_prints_every_compared_figure_beside_its_before_one():
    after = [_run(server_cpu_ms_per_request=8.0, p95_ms=120.0, errors=0)]
    previous = [_run(server_cpu_ms_per_request=16.0, p95_ms=200.0, errors=0)]
    line = before.merge(after, previous, ("server_cpu_ms_per_request", "p95_ms"),
                        before.PERF_COMMIT)
    assert (line["server_cpu_ms_per_request"], line["server_cpu_ms_per_request_before"]) == (
        8.0, 16.0)
    assert (line["p95_ms"], line["p95_ms_before"]) == (120.0, 200.0)
    assert line["ratio_to_before"] == 0.5  # of the first figure
    assert line["p95_ms_before_rounds"] == [200.0]
    assert (line["rounds"], line["before_commit"]) == (1, before.PERF_COMMIT)
    rows = judge({**line, "bench": "load_100", "db": "postgresql", "ledger_ok": True,
                  "quick": False})
    assert rows == [("p95_ms 120.0", "< 300", "pass"), ("errors 0", "0", "pass"),
                    ("ledger_ok True", "== True", "pass"),
                    ("ratio_to_before 0.5 (server_cpu_ms_per_request 8 vs 16.0)", "-",
                     "report")]
    assert judge({**line, "bench": "load_100", "db": "postgresql", "ledger_ok": False,
                  "quick": False})[2] == ("ledger_ok False", "== True", "MISS")


def test_compare_with_a_second_commit_runs_three_trees_in_turn(monkeypatch, tmp_path):
    old_tree, perf_tree = tmp_path / "old", tmp_path / "perf"
    calls = []

    def fake_run(tree, name, kind, quick, label):
        side = {old_tree: "old", perf_tree: "perf"}.get(tree, "today")
        calls.append(side)
        return _run(per_second={"old": 800.0, "perf": 600.0, "today": 1200.0}[side])

    monkeypatch.setattr(before, "run_in_tree", fake_run)
    old, perf = before.Baseline(before.BASELINE_COMMIT), before.Baseline(before.PERF_COMMIT)
    monkeypatch.setattr(old, "tree", lambda: old_tree)
    monkeypatch.setattr(perf, "tree", lambda: perf_tree)
    line = before.compare("move_tx", "sqlite", False, old, rounds=2, also=(perf,))
    assert calls == ["old", "perf", "today", "today", "perf", "old"]
    assert (line["per_second"], line["per_second_before"], line["ratio_to_before"]) == (
        1200.0, 800.0, 1.5)
    assert line["before_commit"] == before.BASELINE_COMMIT
    key = f"per_second_before_{before.PERF_COMMIT}"
    assert (line[key], line[f"ratio_to_{before.PERF_COMMIT}"]) == (600.0, 2.0)
    rows = judge({**line, "bench": "move_tx", "db": "sqlite", "quick": False})
    assert rows == [("per_second 1,200.0", "> 1,000", "pass"),
                    ("ratio_to_before 1.5 (per_second 1,200.0 vs 800.0)", "> 0.9", "pass"),
                    (f"ratio_to_{before.PERF_COMMIT} 2 (per_second 1,200.0 vs 600.0)", "-",
                     "report")]
    # another ratio of the line (sku_export's ratio_to_bare) is not a commit's
    assert len(judge({**line, "bench": "move_tx", "db": "sqlite", "quick": False,
                      "ratio_to_bare": 1.5})) == 3


def test_a_failing_second_commit_leaves_the_first_comparison(monkeypatch, tmp_path):
    def fake_run(tree, name, kind, quick, label):
        if tree == tmp_path / "perf":
            raise RuntimeError("the old erp has no such function")
        return _run(seconds=2.0)

    monkeypatch.setattr(before, "run_in_tree", fake_run)
    old, perf = before.Baseline(), before.Baseline(before.PERF_COMMIT)
    monkeypatch.setattr(old, "tree", lambda: tmp_path / "old")
    monkeypatch.setattr(perf, "tree", lambda: tmp_path / "perf")
    line = before.compare("order_intake", "sqlite", True, old, also=(perf,))
    assert (line["seconds_before"], line["ratio_to_before"]) == (2.0, 1.0)
    assert "no such function" in line[f"before_error_{before.PERF_COMMIT}"]
    assert f"ratio_to_{before.PERF_COMMIT}" not in line


def test_the_issue_22_tree_runs_todays_bench_on_its_own_erp():
    with before.Baseline(before.PERF_COMMIT) as baseline:
        try:
            tree = baseline.tree()
        except before.BaselineUnavailable as err:
            pytest.skip(f"no git history here: {err}")
        # load_100 is today's: the commit's own bench has no such benchmark
        assert "def load_100" in (tree / "bench" / "suites_load.py").read_text()
        assert (tree / "bench" / "before.py").read_text() == (
            before.ROOT / "bench" / "before.py").read_text()
        assert not (tree / "bench" / "results").exists()
        assert (tree / "erp" / "__init__.py").is_file()
    assert not tree.exists()


def test_overlay_bench_replaces_the_package(tmp_path):
    source, target = tmp_path / "today", tmp_path / "old" / "bench"
    (source / "results").mkdir(parents=True)
    (source / "results" / "latest.jsonl").write_text("{}")
    (source / "__init__.py").write_text("")
    (source / "suites_new.py").write_text("NEW = 1\n")
    target.mkdir(parents=True)
    (target / "suites_gone.py").write_text("OLD = 1\n")
    before.overlay_bench(source, target)
    assert sorted(p.name for p in target.iterdir()) == ["__init__.py", "suites_new.py"]


def test_the_runner_hands_the_second_commit_to_the_comparison(monkeypatch, tmp_path):
    monkeypatch.setattr(runner, "RESULTS", tmp_path / "latest.jsonl")
    monkeypatch.delenv("ERP_BENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("ERP_TEST_DATABASE_URL", raising=False)
    seen = {}

    def fake_compare(name, kind, quick, baseline, rounds=None, also=()):
        seen[name] = (baseline.commit, [other.commit for other in also],
                      [other.same_bench for other in also])
        return {"n": 1, "seconds": 1.0, "per_second": 1.0}

    monkeypatch.setattr(before, "compare", fake_compare)
    assert runner.run(["move_tx", "sku_export"], quick=True, before=True) == 0
    assert seen["move_tx"] == (before.BASELINE_COMMIT, [before.PERF_COMMIT], [True])
    assert seen["sku_export"] == (before.PERF_COMMIT, [], [])
