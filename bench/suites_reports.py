"""Report benchmarks on the large data set: ``dashboard``, ``valuation_past``, ``margin_report``."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.runner import BenchDB, bench, log, make_app


def _large(db: BenchDB):
    """Create an app on ``db`` and fill it with :mod:`erp.scale.large` (a tenth when quick)."""
    from erp.extensions import db as sqla
    from erp.scale import large as data_large

    app = make_app(db)
    with app.app_context():
        made = data_large.build(n_skus=db.scale(100_000), n_moves=db.scale(1_000_000),
                                n_orders=db.scale(200_000), n_parcels=db.scale(150_000),
                                n_cases=db.scale(5_000))
        if db.kind == "postgresql":
            with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            sqla.session.execute(sqla.text("ANALYZE"))
            sqla.session.commit()
    log(f"   data set: {made}")
    return app, made


def _timed(func, runs: int = 3) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


@bench("dashboard")
def dashboard(db: BenchDB) -> dict:
    """The manager dashboard page (default period: last 30 days against the 30 before).

    Rendered through the Flask test client signed in as a manager, on 100,000 SKUs, 1,000,000
    moves and 200,000 orders; median of 3 renders after a warm-up.
    """
    from erp.core import services
    from erp.extensions import db as sqla

    app, made = _large(db)
    with app.app_context():
        services.create_user(username="manager", full_name="Bench Manager",
                             password="bench-password-1", roles=["manager"], actor=None)
        sqla.session.commit()
    client = app.test_client()
    assert client.post("/login", data={"username": "manager",
                                       "password": "bench-password-1"}).status_code == 302

    def render():
        response = client.get("/reports/dashboard")
        assert response.status_code == 200, response.status_code
        assert b'id="dashboard-data"' in response.data

    render()  # warm up templates and the connection pool
    seconds, times = _timed(render)
    with app.app_context():
        from erp.reports import dashboard as figures

        parts = {}
        period = figures.default_period()
        for name, func in (("period", lambda: figures.period_figures(period)),
                           ("snapshot", figures.snapshot)):
            start = time.perf_counter()
            func()
            parts[f"{name}_seconds"] = round(time.perf_counter() - start, 4)
        sqla.engine.dispose()
    log(f"   dashboard in {seconds:.3f} s (median of 3: "
        + ", ".join(f"{t:.3f}" for t in times) + f"); {parts}")
    return {"n": made["orders"], "seconds": round(seconds, 4), "skus": made["skus"],
            "moves": made["moves"], "parcels": made["parcels"], **parts,
            "build_seconds": made["build_seconds"]}


@bench("valuation_past")
def valuation_past(db: BenchDB) -> dict:
    """Inventory valuation at a date 180 days ago, rebuilt from the ledger (K's query).

    Times :func:`erp.reports.excel.inventory_valuation.valuation_at` (one GROUP BY pass over
    the moves, joined to SKU, product, brand and category); median of 3 after a warm-up.
    """
    from erp.extensions import db as sqla
    from erp.reports.excel.inventory_valuation import valuation_at

    app, made = _large(db)
    as_of = (datetime.now(UTC) - timedelta(days=180)).date()
    with app.app_context():
        result = []

        def run():
            result[:] = [valuation_at(as_of)]

        run()
        seconds, times = _timed(run)
        report = result[0]
        rows, units, value = len(report.rows), report.units, report.value
        sqla.engine.dispose()
    log(f"   valuation at {as_of}: {rows:,} SKUs, {units:,} units, {value:,.2f} in "
        f"{seconds:.3f} s (median of 3: " + ", ".join(f"{t:.3f}" for t in times) + ")")
    return {"n": made["moves"], "seconds": round(seconds, 4), "skus": rows, "units": units,
            "as_of": as_of.isoformat(), "build_seconds": made["build_seconds"]}


@bench("supplier_scorecard")
def supplier_scorecard(db: BenchDB) -> dict:
    """The supplier scorecard over the last 90 days: every supplier, then one supplier's page.

    Times :func:`erp.reports.scorecard.supplier_scorecard` (procurement's delivery figures by
    supplier and by specification version, inspection lots, and the shipments and
    manufacturing-defect returns of 200,000 orders mapped to suppliers); median of 3 after a
    warm-up. ``one_supplier_seconds`` is the supplier page's call. A figure to report: no
    target.
    """
    from erp.extensions import db as sqla
    from erp.reports.scorecard import supplier_scorecard as scorecard

    app, made = _large(db)
    today = datetime.now(UTC).date()
    start = today - timedelta(days=89)
    with app.app_context():
        result = []

        def run():
            result[:] = [scorecard(start, today)]

        run()
        seconds, times = _timed(run)
        card = result[0]
        first = card.suppliers[0].supplier_id if card.suppliers else 1
        one, _ = _timed(lambda: scorecard(start, today, supplier_id=first))
        suppliers, versions = len(card.suppliers), len(card.versions)
        shipped = sum(r.units_shipped for r in card.suppliers)
        sqla.engine.dispose()
    log(f"   scorecard of {suppliers} suppliers ({versions} supplier x version rows, "
        f"{shipped:,} units shipped) in {seconds:.3f} s (median of 3: "
        + ", ".join(f"{t:.3f}" for t in times) + f"); one supplier {one:.3f} s")
    return {"n": made["orders"], "seconds": round(seconds, 4), "suppliers": suppliers,
            "rows": versions, "one_supplier_seconds": round(one, 4),
            "build_seconds": made["build_seconds"]}


@bench("margin_report")
def margin_report(db: BenchDB) -> dict:
    """The margin report over every order of the large data set (200,000 orders, 500 days).

    Times :func:`erp.reports.margin.margin_report` for the whole period with every dimension
    (per order, SKU, brand, category, country, service, day, week and month): the SQL sums per
    order and line, the conversion at each order date's rate and the totals; median of 3 after
    a warm-up. The workbook built from it is timed once as ``workbook_seconds`` (a report job).
    """
    from erp.extensions import db as sqla
    from erp.reports import margin as margin_figures
    from erp.reports.excel import margin as margin_book
    from erp.scale.large import DAYS

    app, made = _large(db)
    today = datetime.now(UTC).date()
    start = today - timedelta(days=DAYS + 1)
    with app.app_context():
        result = []

        def run():
            result[:] = [margin_figures.margin_report(start, today)]

        run()
        seconds, times = _timed(run)
        report = result[0]
        begun = time.perf_counter()
        margin_book.build(start, today)
        workbook_seconds = time.perf_counter() - begun
        sqla.engine.dispose()
    counted = report.total.orders
    log(f"   margin of {counted:,} orders ({report.open_orders:,} open left out, "
        f"{report.not_converted:,} not converted): revenue {report.total.revenue:,.2f}, margin "
        f"{report.total.margin:,.2f} {report.base_currency} in {seconds:.3f} s (median of 3: "
        + ", ".join(f"{t:.3f}" for t in times) + f"); workbook {workbook_seconds:.1f} s")
    return {"n": made["orders"], "seconds": round(seconds, 4), "orders_counted": counted,
            "skus": len(report.by.get("sku", [])), "workbook_seconds": round(workbook_seconds, 2),
            "build_seconds": made["build_seconds"]}
