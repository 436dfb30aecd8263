"""The single-item lane benchmark: ``single_item_lane``."""

from __future__ import annotations

import statistics
import time

from bench.runner import BenchDB, bench, log, make_app
from bench.suites_shipping import _outbound_setup


def _analyze(db: BenchDB) -> None:
    """Refresh the planner's statistics of the tables the lane reads, as autovacuum would."""
    from erp.extensions import db as sqla

    tables = "customer_order, customer_order_line, pick_task, pick_wave_order, parcel"
    if db.kind == "postgresql":
        with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM ANALYZE {tables}")
    else:
        sqla.session.execute(sqla.text("ANALYZE"))
        sqla.session.commit()


@bench("single_item_lane")
def single_item_lane(db: BenchDB) -> dict:
    """1,000 single-item orders from scans to labels, in process.

    Untimed: the outbound floor of ``dispatch`` (one order in two has one line of one unit),
    every SKU with a default box whose stock SKU has stock at the packing location, the orders
    allocated, a single-item wave of 1,000 built and picked. Timed: 1,000 scans at the lane
    (:func:`lane.lane_scan` with the SKU's code, then a commit each, as each scan is a
    request): the oldest waiting order for the SKU found, packed into its default box, its box
    SKU consumed, labelled. Median of 3 runs, each on a fresh wave, its tables analysed first
    (as autovacuum keeps the planner's statistics: without it PostgreSQL believes no order is
    picking, the wave having just moved them all, and looks for the scanned order among them
    instead of by its id).
    """
    from sqlalchemy import func, select

    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.orders import services as order_services
    from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
    from erp.shipping.models import Box, Parcel, PickWaveOrder, WaveKind
    from erp.shipping.services import lane, waves
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import Location, LocationKind, MoveKind

    n_orders = db.scale(1_000)
    runs = 3
    app = make_app(db)
    with app.app_context():
        setup = _outbound_setup(2 * n_orders, runs)  # half of them single-item
        box = sqla.session.get(Box, setup["box_id"])
        mailer = sqla.session.scalar(select(Sku).order_by(Sku.id.desc()).limit(1))  # unsold
        box.sku_id = mailer.id
        bench_bin = sqla.session.scalar(select(Location).where(
            Location.kind == LocationKind.packing))
        vendor = warehouse_services.virtual_location(LocationKind.supplier)
        warehouse_services.post_moves([warehouse_services.MoveSpec(
            mailer.id, vendor.id, bench_bin.id, n_orders * runs, MoveKind.opening)], actor=None)
        for sku in sqla.session.scalars(select(Sku).where(Sku.id.in_(
                select(CustomerOrderLine.sku_id).distinct()))):
            lane.set_sku_packing(sku, box, actor=None)
        sqla.session.commit()
    times = []
    for _run in range(runs):
        with app.app_context():
            summary = order_services.allocate_orders(actor=None, limit=2 * n_orders)
            sqla.session.commit()
            assert len(summary.allocated) == 2 * n_orders, summary
            wave = waves.build_wave(waves.WaveFilters(max_orders=n_orders), actor=None,
                                    kind=WaveKind.single_item)
            waves.pick_all(wave, actor=None)
            sqla.session.commit()
            _analyze(db)
            wave_id = wave.id
            scans = list(sqla.session.scalars(
                select(Sku.code).join(CustomerOrderLine, CustomerOrderLine.sku_id == Sku.id)
                .join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrderLine.order_id)
                .where(PickWaveOrder.wave_id == wave_id).order_by(PickWaveOrder.slot)))
            assert len(scans) == n_orders, len(scans)
            sqla.session.expunge_all()
            start = time.perf_counter()
            marks = []
            for code in scans:  # each scan is a request: its own session and commit
                wave = sqla.session.get(waves.PickWave, wave_id)
                lane.lane_scan(wave, code, actor=None)
                sqla.session.commit()
                sqla.session.remove()
                marks.append(time.perf_counter())
            log(f"   first tenth {marks[len(marks) // 10] - start:.3f} s, last tenth "
                f"{marks[-1] - marks[-1 - len(marks) // 10]:.3f} s")
            times.append(time.perf_counter() - start)
            left = sqla.session.scalar(select(func.count()).select_from(PickWaveOrder).join(
                CustomerOrder, CustomerOrder.id == PickWaveOrder.order_id).where(
                PickWaveOrder.wave_id == wave_id, CustomerOrder.state != OrderState.packed))
            assert left == 0, left
            assert sqla.session.scalar(select(func.count()).select_from(Parcel).where(
                Parcel.state == "labelled", Parcel.box_id == setup["box_id"])) \
                == n_orders * (_run + 1)
    with app.app_context():
        from erp.warehouse.queries import ledger_problems
        assert ledger_problems(sqla.session) == []
        sqla.engine.dispose()
    seconds = statistics.median(times)
    log(f"   {n_orders:,} single-item orders scanned, packed and labelled at the lane in "
        f"{seconds:.3f} s (median of {runs}; {1000 * seconds / n_orders:.2f} ms a scan)")
    return {"n": n_orders, "seconds": round(seconds, 4),
            "per_second": round(n_orders / seconds, 1),
            "ms_per_scan": round(1000 * seconds / n_orders, 3), "runs": runs}
