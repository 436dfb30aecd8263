"""The monthly 9610 summary benchmark: ``customs_month``."""

from __future__ import annotations

import time

from bench.runner import BenchDB, bench, log, make_app, median_seconds

PERIOD = "2026-11"


def _analyse(db: BenchDB) -> None:
    """Planner statistics for the bulk-loaded tables, as autovacuum would have kept them."""
    from erp.extensions import db as sqla

    if db.kind == "postgresql":
        with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE customs_declaration, customs_declaration_line, "
                                 "parcel, customer_order")
    else:
        sqla.session.execute(sqla.text("ANALYZE"))
        sqla.session.commit()


@bench("customs_month")
def customs_month(db: BenchDB) -> dict:
    """A month's 9610 summary over 150,000 parcels' ledger (1.5 lines each) and its workbook.

    Untimed: 150,000 dispatched 9610 parcels of one closed batch, each with its declaration and
    one or two lines (five HS codes, six destinations, three currencies), inserted directly
    (:mod:`bench.customs_month_data`). Timed (median of 3): :func:`monthly_summary` and the
    summary workbook (:func:`erp.customs.views.months.summary_workbook`) written from it, as the
    month page and its download do (each reads the summary once). Reported too:
    ``check_seconds`` (``erp check-customs`` over the ledger) and ``trace_seconds`` (the
    biggest summary line's first trace page and count).
    """
    from bench.customs_month_data import bench_parcels, insert_ledger
    from erp.core.viewhelpers import RowPagination
    from erp.customs import summary
    from erp.customs.check import check_customs
    from erp.customs.views.months import summary_workbook
    from erp.extensions import db as sqla

    n = db.scale(150_000)
    app = make_app(db)
    with app.app_context():
        begun = time.perf_counter()
        made = insert_ledger(bench_parcels(n, PERIOD), tag="B")
        sqla.session.commit()
        _analyse(db)
        log(f"   {made['parcels']:,} parcels, {made['lines']:,} list lines in "
            f"{time.perf_counter() - begun:.0f} s")
    result = {}
    with app.test_request_context():

        def run():
            lines = summary.monthly_summary(PERIOD)
            data = summary_workbook(PERIOD, lines)
            result.update(lines=lines, size=len(data))

        run()  # warm-up
        seconds = median_seconds(run)
        lines = result["lines"]
        begun = time.perf_counter()
        report = check_customs()
        check_seconds = time.perf_counter() - begun
        biggest = max(lines, key=lambda x: x.lines)
        begun = time.perf_counter()
        page = RowPagination(select=summary.trace_query(PERIOD, biggest.key),
                             count_select=summary.trace_count_query(PERIOD, biggest.key),
                             session=sqla.session(), page=1, per_page=50, max_per_page=None,
                             error_out=False)
        assert page.total == biggest.lines
        assert len(page.items) == min(50, biggest.lines)
        trace_seconds = time.perf_counter() - begun
        sqla.session.remove()
        sqla.engine.dispose()
    assert report.ok, report.problems[:5]
    assert sum(x.lines for x in lines) == made["lines"]
    log(f"   {len(lines)} summary lines over {made['lines']:,} list lines in {seconds:.2f} s "
        f"(workbook {result['size'] / 1e3:.0f} kB); check {check_seconds:.2f} s, trace of "
        f"{biggest.lines:,} lines {trace_seconds:.2f} s")
    return {"n": made["parcels"], "seconds": round(seconds, 3), "list_lines": made["lines"],
            "summary_lines": len(lines), "check_seconds": round(check_seconds, 3),
            "trace_seconds": round(trace_seconds, 3)}
