"""The benchmark runner of ``../shared/BENCH.md``: registry, databases, timing, output."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import targets

# BENCH.md's one line per figure; beside it latest.json, with the targets and statuses
RESULTS = Path(__file__).parent / "results" / "latest.jsonl"
SCHEMA = f"erp_bench_{os.getpid()}"  # runs side by side never drop each other's schema
QUICK_DIVISOR = 10  # --quick runs at a tenth (BENCH.md); the test suite's smoke runs go smaller


@dataclass
class Bench:
    """A registered benchmark: ``func(db) -> dict`` of figures (``n``, ``seconds``, ...)."""

    name: str
    func: Callable[[BenchDB], dict]
    kinds: tuple[str, ...] = ("sqlite", "postgresql")
    #: a benchmark that brings its own database server (``faults``): ``own_server()`` says why
    #: it cannot run here (None when it can); it runs without ERP_BENCH_DATABASE_URL
    own_server: Callable[[], str | None] | None = None


REGISTRY: dict[str, Bench] = {}


def bench(name: str, kinds: tuple[str, ...] = ("sqlite", "postgresql"),
          own_server: Callable[[], str | None] | None = None):
    """Register a benchmark function under ``name``, run on the database ``kinds`` it names.

    ``own_server`` marks a benchmark that starts its own database server (see :class:`Bench`).
    """
    def decorator(func):
        REGISTRY[name] = Bench(name, func, kinds, own_server)
        return func
    return decorator


@dataclass
class BenchDB:
    """A temporary database for one benchmark run, and the run's scale."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    quick: bool

    def scale(self, n: int) -> int:
        """Return ``n``, or a tenth of it in ``--quick`` mode."""
        return max(1, n // QUICK_DIVISOR) if self.quick else n


def log(message: str) -> None:
    """Print progress to standard error."""
    print(message, file=sys.stderr, flush=True)


def median_seconds(func: Callable[[], None], runs: int = 3) -> float:
    """Return the median wall time of ``func`` over ``runs`` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_mb() -> float:
    """Return the peak resident memory of this process in MB (since :func:`reset_peak_mb`)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_mb() -> float:
    """Return the resident memory of this process now, in MB (0 where unknown)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def reset_peak_mb() -> float:
    """Start measuring the peak memory afresh (Linux); return the resident memory now, in MB.

    Benchmarks run one after another in one process, so without this a figure's peak would
    be the highest of every benchmark before it. Elsewhere the peak is the process's.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets VmHWM to the current resident size
    except OSError:
        pass
    return current_mb()


@contextlib.contextmanager
def temp_database(kind: str, quick: bool) -> Iterator[BenchDB]:
    """Yield a fresh, empty database of ``kind``; drop it afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="erp-bench-") as tmp:
            yield BenchDB("sqlite", f"sqlite:///{tmp}/bench.sqlite3", quick)
        return
    base = pg_url()
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    sep = "&" if "?" in base else "?"
    try:
        yield BenchDB("postgresql", f"{base}{sep}options=-csearch_path%3D{SCHEMA}", quick)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        engine.dispose()


def pg_url() -> str | None:
    """Return the PostgreSQL URL to benchmark on, if one is configured."""
    return os.environ.get("ERP_BENCH_DATABASE_URL") or os.environ.get("ERP_TEST_DATABASE_URL")


def make_app(db: BenchDB):
    """Create an app on ``db`` with the schema built, and return it (context not pushed)."""
    from erp import create_app
    from erp.extensions import db as sqla

    app = create_app({"SQLALCHEMY_DATABASE_URI": db.url, "WTF_CSRF_ENABLED": False,
                      "SECRET_KEY": "bench-secret-key-0123456789",
                      "RATELIMIT_ENABLED": False,  # 1,000s of in-process API posts
                      # benchmark managers sign in with a password alone (issue 20's
                      # roles' rule would send them to enrolment first)
                      "ERP_TWO_FACTOR_REQUIRED": False})
    with app.app_context():
        sqla.create_all()
    return app


def run(names: list[str], quick: bool, before: bool = False) -> int:
    """Run the named benchmarks (all when empty) on every configured database.

    With ``before``, the benchmarks of :data:`bench.before.COMPARED` also run in the tree of
    the commit before their issue (:func:`bench.before.commit_for`, and those of
    :data:`bench.before.ALSO`), alternating with today's (``make bench`` does; the test
    suite's smoke runs do not).
    """
    from bench import (  # noqa: F401 - registers them
        events_feed,
        suites,
        suites_bills,
        suites_customs_batch,
        suites_customs_month,
        suites_faults,
        suites_jobs,
        suites_lane,
        suites_load,
        suites_race,
        suites_reports,
        suites_routing,
        suites_shipping,
        tracking_ingest,
        webhook_fanout,
    )
    from bench.before import ALSO, COMPARED, Baseline, commit_for, compare

    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        log(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(REGISTRY)}")
        return 2
    kinds = ["sqlite"] + (["postgresql"] if pg_url() else [])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    results: list[dict] = []
    baselines: dict[str, Baseline] = {}  # by commit, each extracted once
    try:
        for name in names or list(REGISTRY):
            if REGISTRY[name].own_server is not None:
                if reason := REGISTRY[name].own_server():
                    log(f"== {name}: skipped, {reason}")
                    continue
            elif not set(kinds) & set(REGISTRY[name].kinds):
                log(f"== {name}: skipped, it runs on {' and '.join(REGISTRY[name].kinds)} only"
                    " (set ERP_BENCH_DATABASE_URL or ERP_TEST_DATABASE_URL)")
                continue
            for kind in REGISTRY[name].kinds if REGISTRY[name].own_server else kinds:
                if kind not in REGISTRY[name].kinds:
                    continue
                log(f"== {name} on {kind}{' (quick)' if quick else ''}")
                figures = None
                if before and name in COMPARED:
                    baseline = baselines.setdefault(commit_for(name), Baseline(commit_for(name)))
                    also = tuple(baselines.setdefault(commit, Baseline(commit))
                                 for commit in ALSO.get(name, ()))
                    figures = compare(name, kind, quick, baseline, also=also)
                if figures is None and REGISTRY[name].own_server is not None:
                    figures = REGISTRY[name].func(BenchDB(kind, "", quick))  # its own server
                elif figures is None:
                    with temp_database(kind, quick) as db:
                        figures = REGISTRY[name].func(db)
                    if before and name in COMPARED:
                        figures["before_error"] = baseline.error
                result = {"bench": name, "db": kind, **figures, "quick": quick}
                line = json.dumps(result)
                print(line, flush=True)
                lines.append(line)
                results.append(result)
                _write(lines, results)  # after each figure: a crash later keeps the rest
    finally:
        for baseline in baselines.values():
            baseline.close()
    log("")
    log(targets.table(results))
    return 0


def _write(lines: list[str], results: list[dict]) -> None:
    """Write ``latest.jsonl`` (BENCH.md: this run's lines) and ``latest.json``.

    ``latest.json`` keeps the latest result of every benchmark and database, each with the time
    it was measured, its checks against the targets and their status: a run of some benchmarks
    replaces their entries and keeps the others'.
    """
    RESULTS.write_text("".join(f"{line}\n" for line in lines))
    summary_path = RESULTS.with_suffix(".json")
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    fresh = {(r["bench"], r["db"]) for r in results}
    try:
        kept = [r for r in json.loads(summary_path.read_text())["results"]
                if (r["bench"], r["db"]) not in fresh]
    except (OSError, ValueError, KeyError, TypeError):
        kept = []  # none yet, or unreadable: start afresh
    order = {name: i for i, name in enumerate(REGISTRY)}
    entries = kept + [{**result, "measured_at": now, "checks": [
        {"figure": figure, "target": target, "status": status}
        for figure, target, status in targets.judge(result)]} for result in results]
    entries.sort(key=lambda r: (order.get(r["bench"], len(order)), r["db"] != "sqlite"))
    summary = {"generated_at": now, "cpus": os.cpu_count(), "results": entries}
    RESULTS.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
