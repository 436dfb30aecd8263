"""The load benchmark without a server: registration, the stats parser, the locustfile's helpers.

The benchmark itself (gunicorn, PostgreSQL, 60 s of locust) is run by hand:
``ERP_TEST_DATABASE_URL=... python -m bench load``. Importing locust monkey-patches the
standard library with gevent, so the locustfile is imported in a child process only.
"""

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench import runner, suites_load

ROOT = Path(__file__).resolve().parent.parent
HEADER = ('"Type","Name","Request Count","Failure Count","Median Response Time",'
          '"Average Response Time","Min Response Time","Max Response Time",'
          '"Average Content Size","Requests/s","Failures/s","50%","66%","75%","80%","90%",'
          '"95%","98%","99%","99.9%","99.99%","100%"\n')


def _row(kind, name, n, failures, p50, p95, p99, rps):
    return (f'"{kind}","{name}","{n}","{failures}","{p50}","40.1","3","900","5120","{rps}",'
            f'"0.0","{p50}","60","70","80","90","{p95}","200","{p99}","900","900","900"\n')


def test_load_is_registered_for_postgresql_only():
    bench = runner.REGISTRY["load"]
    assert bench.kinds == ("postgresql",)
    assert bench.func is suites_load.load


def test_parse_stats_reads_the_aggregated_row_and_each_name(tmp_path):
    path = tmp_path / "load_stats.csv"
    path.write_text(HEADER
                    + _row("GET", "packing: order", 120, 0, 45, 110, 180, 2.0)
                    + _row("POST", "packing: close parcel", 30, 2, 80, 260, 300, 0.5)
                    + _row("GET", "stock: list", 25, 0, 60, 140, 150, 0.4)
                    + _row("", "Aggregated", 175, 2, 50, 150, 240, 2.9))
    figures = suites_load.parse_stats(path)
    assert {k: figures[k] for k in ("n", "errors", "p50_ms", "p95_ms", "p99_ms",
                                    "per_second")} == {
        "n": 175, "errors": 2, "p50_ms": 50.0, "p95_ms": 150.0, "p99_ms": 240.0,
        "per_second": 2.9}
    assert figures["by_name"]["packing: close parcel"] == {"n": 30, "errors": 2,
                                                          "p95_ms": 260.0}
    assert "Aggregated" not in figures["by_name"]
    assert suites_load.slowest(figures["by_name"], 2) == {"packing: close parcel": 260.0,
                                                         "stock: list": 140.0}


def test_parse_stats_without_aggregated_row_fails(tmp_path):
    path = tmp_path / "load_stats.csv"
    path.write_text(HEADER + _row("GET", "home", 3, 0, 10, 20, 30, 1.0))
    with pytest.raises(ValueError, match="no Aggregated row"):
        suites_load.parse_stats(path)


def test_accounts_match_the_brief():
    roles = [role for _, role in suites_load._accounts()]
    assert {r: roles.count(r) for r in set(roles)} == {
        "warehouse": 10, "purchasing": 4, "customer_service": 3, "manager": 3}
    names = [name for name, _ in suites_load._accounts()]
    assert len(set(names)) == len(names)


@pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                    reason="locust is in the bench extra")
def test_locustfile_imports_and_parses_pages(tmp_path):
    work = {"password": "pw", "warehouse": [{"username": "wh01", "orders": [],
                                             "purchase_orders": ["PO-1"], "box": "L"}],
            "office": ["mgr01"], "browse": {"order_ids": [1], "search": ["tee"]}}
    (tmp_path / "work.json").write_text(json.dumps(work))
    script = textwrap.dedent("""
        import json, os, sys
        sys.path.insert(0, os.getcwd())
        os.environ["ERP_LOAD_WORK"] = sys.argv[1]
        from bench import locustfile as lf
        page = '''<form><input id="csrf_token" name="csrf_token" type="hidden" value="tok.en-1">
          <input type="text" name="bin" value="LOAD/RCV-01">
          <input type="number" min="0" class="qty-input" name="qty-7"
                 value="" data-sku="SKU1" data-barcode="2000" data-max="5">
          <input type="number" class="qty-input" name="qty-8" value="1" data-sku="SKU2"
                 data-barcode="" data-max="0"></form>
          <div class="flash flash-error" role="alert"><h2>Refused</h2>
          <p><strong>SKU X is not in order &quot;A&quot;</strong></p></div>'''
        print(json.dumps({
            "classes": sorted(c.__name__ for c in (lf.Packer, lf.Receiver, lf.Office)),
            "weights": [lf.Packer.weight, lf.Receiver.weight, lf.Office.weight],
            "accounts": [a["username"] for a in lf.WAREHOUSE_ACCOUNTS],
            "csrf": lf.csrf_token(page), "bin": lf.field_value(page, "bin"),
            "lines": lf.receivable_lines(page), "refusal": lf.refusal(page),
            "ok_page": lf.refusal('<div class="flash flash-success">Saved.</div>'),
            "p95": lf.percentile([float(i) for i in range(1, 101)], 95),
            # 2 users signed in at t=10 and t=12: only requests started from t=12 count
            "at_work": lf.signed_in_figures([(9.0, 900.0), (11.0, 800.0), (12.0, 50.0),
                                             (13.0, 70.0)], [12.0, 10.0], 2),
            "nobody": lf.signed_in_figures([(1.0, 5.0)], [], 2)}))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "work.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["classes"] == ["Office", "Packer", "Receiver"]
    assert out["weights"] == [6, 4, 10]
    assert out["accounts"] == ["wh01"]
    assert out["csrf"] == "tok.en-1"
    assert out["bin"] == "LOAD/RCV-01"
    assert out["lines"] == [{"id": 7, "barcode": "2000", "room": 5}]
    assert out["refusal"] == 'Refused SKU X is not in order "A"'
    assert out["ok_page"] is None
    assert out["p95"] == 95.0
    assert out["at_work"] == {"n": 2, "p50_ms": 50.0, "p95_ms": 70.0, "p99_ms": 70.0}
    assert out["nobody"]["n"] == 0


# --------------------------------------------------------------------------- load_100 (issue 22)


def test_load_100_is_registered_for_postgresql_only():
    bench = runner.REGISTRY["load_100"]
    assert bench.kinds == ("postgresql",)
    assert bench.func is suites_load.load_100


def test_load_100_staff_are_loads_mix_five_times_over():
    roles = [role for _, role in suites_load._accounts(suites_load.ACCOUNTS_100)]
    assert {r: roles.count(r) for r in set(roles)} == {
        "warehouse": 50, "purchasing": 20, "customer_service": 15, "manager": 15}
    # locust's weights (6:4:10) make 30 packers and 20 receivers of the 50 warehouse accounts,
    # and 50 office users of the 50 office accounts: nobody shares an account (or a code)
    quick = [role for _, role in suites_load._accounts(suites_load.ACCOUNTS_100_QUICK)]
    assert len(quick) == 10
    assert quick.count("warehouse") == 5


def test_load_100_runs_load_with_the_storefront(monkeypatch):
    calls = []
    monkeypatch.setattr(suites_load, "run_load", lambda db, **kw: calls.append(kw) or {})
    suites_load.load_100(runner.BenchDB("postgresql", "postgresql://x", quick=False))
    suites_load.load_100(runner.BenchDB("postgresql", "postgresql://x", quick=True))
    suites_load.load(runner.BenchDB("postgresql", "postgresql://x", quick=False))
    full, quick, load = calls
    assert (full["users"], full["seconds"], full["api"]) == (
        100, 120, {"users": 10, "per_second": 10})
    assert full["accounts"] is suites_load.ACCOUNTS_100
    assert (quick["users"], quick["seconds"], quick["api"]["per_second"]) == (10, 15, 2)
    assert (load["users"], load["seconds"], load.get("api")) == (20, 60, None)


@pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                    reason="locust is in the bench extra")
def test_the_storefront_posts_valid_orders_at_its_pace(tmp_path, app):
    from erp.orders import services

    work = {"password": "pw", "warehouse": [], "office": [],
            "browse": {"order_ids": [], "search": []},
            "api": {"users": 4, "per_second": 10, "token": "tok", "skus": ["SKU-A", "SKU-B"],
                    "prefix": "API-"}}
    (tmp_path / "work.json").write_text(json.dumps(work))
    script = textwrap.dedent("""
        import json, os, sys
        sys.path.insert(0, os.getcwd())
        os.environ["ERP_LOAD_WORK"] = sys.argv[1]
        from bench import locustfile as lf
        print(json.dumps({
            "abstract": lf.Storefront.abstract, "fixed_count": lf.Storefront.fixed_count,
            "rate": lf.API_RATE_PER_USER,
            "orders": [lf.api_order(f"API-1-{n}", n, lf.API["skus"]) for n in (1, 2)]}))
    """)
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "work.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert (out["abstract"], out["fixed_count"], out["rate"]) == (False, 4, 2.5)
    assert [len(order["lines"]) for order in out["orders"]] == [2, 1]
    with app.app_context():
        for order in out["orders"]:
            cleaned, errors = services.validate_order_payload(order)
            assert errors == {}, errors
            assert cleaned["number"] == order["number"]
    # without an api entry (the load benchmark) the class is abstract: locust leaves it out
    plain = {**work}
    del plain["api"]
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    done = subprocess.run([sys.executable, "-c", script.replace('lf.API["skus"]', '["X"]'),
                           str(tmp_path / "plain.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert json.loads(done.stdout.strip().splitlines()[-1])["abstract"] is True
