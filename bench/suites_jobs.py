"""Background job benchmarks: ``allocate_all`` (10,000 orders allocated through the job)."""

from __future__ import annotations

import statistics
import time

from bench.runner import BenchDB, bench, log
from bench.suites_reports import _large

RUNS = 3


@bench("allocate_all")
def allocate_all(db: BenchDB) -> dict:
    """10,000 orders allocated on the large data set through the ``allocate_all`` job.

    The large data set holds about 60,000 orders to allocate (new and backordered); each of
    the 3 runs is one "Allocate all" job limited to the next 10,000 of them (a tenth with
    ``--quick``), run through the job framework as a worker runs it (:func:`jobs.submit` with
    ``wait``): queue read, batches of 500 each committed, progress after each batch, summary.
    ``seconds`` is the median run.
    """
    from erp.core import jobs, services
    from erp.extensions import db as sqla
    from erp.orders import jobs as order_jobs
    from erp.orders.services import allocation_queue

    app, made = _large(db)
    n = db.scale(10_000)
    times, outcomes = [], []
    with app.app_context():
        app.config["ERP_REDIS_URL"] = None
        user = services.create_user(username="allocator", full_name="Bench Allocator",
                                    password="bench-password-1", roles=["customer_service"],
                                    actor=None)
        sqla.session.commit()
        waiting = len(allocation_queue())
        sqla.session.rollback()
        for _ in range(RUNS):
            start = time.perf_counter()
            job = jobs.submit(order_jobs.KIND, user=user, wait=True, limit=n)
            times.append(time.perf_counter() - start)
            summary = jobs.load_summary(job) or {}
            if job.error or summary.get("total") != n:
                raise RuntimeError(f"allocation run ended {job.state.value}: "
                                   f"{job.error or summary}")
            outcomes.append(summary)
        sqla.engine.dispose()
    seconds = statistics.median(times)
    allocated = sum(s["allocated"] for s in outcomes)
    backordered = sum(s["backordered"] for s in outcomes)
    skipped = sum(s["skipped"] for s in outcomes)
    log(f"   {RUNS} runs of {n:,} of the {waiting:,} orders waiting: "
        + ", ".join(f"{t:.2f}" for t in times) + f" s; {allocated:,} allocated, "
        f"{backordered:,} backordered, {skipped:,} skipped")
    return {"n": n, "seconds": round(seconds, 3), "runs_seconds": [round(t, 3) for t in times],
            "per_second": round(n / seconds, 1), "allocated": allocated,
            "backordered": backordered, "skipped": skipped, "waiting": waiting,
            "build_seconds": made["build_seconds"]}
