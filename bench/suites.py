"""The benchmarks, one function per figure of ``../shared/BENCH.md``."""

from __future__ import annotations

import statistics
import time
from decimal import Decimal

from bench.runner import (
    BenchDB,
    bench,
    log,
    make_app,
    median_seconds,
    peak_mb,
    reset_peak_mb,
)


@bench("dashboard_rps")
def dashboard_rps(db: BenchDB) -> dict:
    """Signed-in home dashboard through the in-process test client: requests per second."""
    from erp.core import services
    from erp.extensions import db as sqla

    app = make_app(db)
    with app.app_context():
        services.create_user(username="manager", full_name="Bench Manager",
                             password="bench-password-1", roles=["manager", "admin"], actor=None)
        sqla.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"username": "manager",
                                           "password": "bench-password-1"})
    assert response.status_code == 302, "bench login failed"
    n = db.scale(500)

    def work():
        for _ in range(n):
            assert client.get("/").status_code == 200

    work()  # warm up templates and the connection pool
    seconds = median_seconds(work)
    log(f"   {n} dashboard requests in {seconds:.3f} s")
    with app.app_context():
        sqla.engine.dispose()
    return {"n": n, "seconds": round(seconds, 4), "per_second": round(n / seconds, 1)}


# --------------------------------------------------------------------------- catalog (issue 3)


def _runs_for(seconds: float) -> int:
    """Return how many more runs a full-size figure gets: 3 in all under 10 s, else just one."""
    return 2 if seconds < 10 else 0


def _sign_in(app, role: str = "purchasing"):
    """Create a user of ``role`` and return a test client signed in as them."""
    from erp.core import services
    from erp.extensions import db as sqla

    with app.app_context():
        services.create_user(username="bench", full_name="Bench User",
                             password="bench-password-1", roles=[role], actor=None)
        sqla.session.commit()
    client = app.test_client()
    response = client.post("/login", data={"username": "bench", "password": "bench-password-1"})
    assert response.status_code == 302, "bench login failed"
    return client


@bench("sku_import")
def sku_import(db: BenchDB) -> dict:
    """A generated SKU sheet, dry run then commit: seconds, peak memory, ratio to calamine."""
    import io
    import tempfile

    import python_calamine
    from sqlalchemy import delete

    from bench import audit_undo, data
    from erp.catalog.excel import import_skus
    from erp.catalog.models import Product, Sku
    from erp.core.models import AuditEvent
    from erp.extensions import db as sqla

    n = db.scale(100_000)
    app = make_app(db)
    with tempfile.TemporaryDirectory(prefix="erp-bench-") as tmp, app.app_context():
        brands = data.create_brands(5)
        leaves = data.create_category_tree()
        sqla.session.commit()
        path = f"{tmp}/skus.xlsx"
        data.write_sku_sheet(path, n, brands, leaves)
        with open(path, "rb") as fh:
            blob = fh.read()
        log(f"   {n:,}-row sheet written ({len(blob) / 1e6:.1f} MB)")

        def read_only():
            workbook = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(blob))
            for _ in workbook.get_sheet_by_name("SKUs").iter_rows():
                pass

        baseline = median_seconds(read_only)

        def one_run() -> tuple[float, float, float]:
            start = time.perf_counter()
            dry = import_skus(blob, filename="skus.xlsx", dry_run=True, actor=None)
            sqla.session.rollback()
            middle = time.perf_counter()
            result = import_skus(blob, filename="skus.xlsx", dry_run=False, actor=None)
            sqla.session.commit()
            end = time.perf_counter()
            if not (dry.ok and result.ok and result.created == n):
                errors = (dry.errors + result.errors)[:3]
                raise RuntimeError(f"the bench sheet was refused: {errors}")
            # back to no SKUs for the next run (not timed)
            # the newest audit rows: the chain's head steps back past them (trigger bypassed)
            audit_undo.delete_events(AuditEvent.entity_type.in_(["sku", "product"]))
            sqla.session.execute(delete(Sku))
            sqla.session.execute(delete(Product))
            sqla.session.commit()
            return end - start, middle - start, end - middle

        runs, peaks = [], []
        start_mb = reset_peak_mb()
        runs.append(one_run())
        peaks.append(peak_mb())
        for _ in range(_runs_for(runs[0][0]) if not db.quick else 2):
            reset_peak_mb()
            runs.append(one_run())
            peaks.append(peak_mb())
        sqla.engine.dispose()
    seconds, dry_seconds, commit_seconds = (statistics.median(r[i] for r in runs)
                                            for i in range(3))
    log(f"   dry run {dry_seconds:.2f} s + commit {commit_seconds:.2f} s (median of {len(runs)});"
        f" calamine alone {baseline:.2f} s")
    return {"n": n, "seconds": round(seconds, 3), "peak_mb": max(peaks),
            "ratio_to_baseline": round(seconds / baseline, 2),
            "baseline_seconds": round(baseline, 3), "dry_run_seconds": round(dry_seconds, 3),
            "commit_seconds": round(commit_seconds, 3), "start_mb": start_mb,
            "runs": len(runs)}


@bench("sku_export")
def sku_export(db: BenchDB) -> dict:
    """All SKUs of a generated catalog to .xlsx: seconds and peak memory (constant).

    Also the same rows written by bare xlsxwriter in constant-memory mode (``write_row`` per
    row, no formats, no checks), in the same run: ``ratio_to_bare`` is the export's time over
    that one (issue 22: 2 or less).
    """
    import os
    import tempfile
    from enum import Enum

    import xlsxwriter

    from bench import data
    from erp.catalog.excel import export_skus
    from erp.catalog.excel.skus import sku_export_rows
    from erp.catalog.queries import SkuFilters
    from erp.extensions import db as sqla

    n = db.scale(100_000)
    app = make_app(db)
    with app.app_context():
        data.sample_catalog(n)
        sqla.session.commit()
        log(f"   {n:,} SKUs generated")
        times, peaks, size = [], [], 0
        start_mb = reset_peak_mb()
        for run in range(3):
            if run:
                reset_peak_mb()
            start = time.perf_counter()
            size = len(export_skus(SkuFilters()))
            times.append(time.perf_counter() - start)
            peaks.append(peak_mb())
            if run == 0 and not db.quick and times[0] >= 10:
                break
        # the same rows as plain Python values, read once (not timed)
        rows = [tuple(value.value if isinstance(value, Enum) else value for value in row)
                for row in sku_export_rows(SkuFilters())]
        sqla.engine.dispose()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bare.xlsx")
        bare_times = []
        for _ in range(len(times)):
            start = time.perf_counter()
            workbook = xlsxwriter.Workbook(path, {"constant_memory": True})
            sheet = workbook.add_worksheet()
            for index, row in enumerate(rows):
                sheet.write_row(index, 0, row)
            workbook.close()
            bare_times.append(time.perf_counter() - start)
    del rows
    seconds = statistics.median(times)
    bare_seconds = statistics.median(bare_times)
    log(f"   {n:,} SKUs exported in {seconds:.2f} s ({size / 1e6:.1f} MB, median of "
        f"{len(times)}); bare xlsxwriter {bare_seconds:.2f} s")
    return {"n": n, "seconds": round(seconds, 3), "peak_mb": max(peaks),
            "start_mb": start_mb, "bytes": size, "runs": len(times),
            "bare_seconds": round(bare_seconds, 3),
            "ratio_to_bare": round(seconds / bare_seconds, 2)}


@bench("sku_list_page")
def sku_list_page(db: BenchDB) -> dict:
    """The SKU list with a search and brand, category and status filters: ms and queries."""
    from sqlalchemy import event, select

    from bench import data
    from erp.brands.models import Brand
    from erp.catalog.models import Category
    from erp.extensions import db as sqla

    n = db.scale(100_000)
    app = make_app(db)
    with app.app_context():
        data.sample_catalog(n)
        sqla.session.commit()
        brand_id = sqla.session.scalar(select(Brand.id).where(Brand.code == "BR02"))
        category_id = sqla.session.scalar(select(Category.id).where(Category.code == "C2"))
        engine = sqla.engine
    client = _sign_in(app)
    url = f"/catalog/skus?q=tee&brand={brand_id}&category={category_id}&status=active"

    statements = []

    def count(*args):
        statements.append(1)

    def queries_at(per_page: int) -> tuple[int, int]:
        app.config["ERP_PAGE_SIZE"] = per_page
        statements.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            response = client.get(url)
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200
        return len(statements), response.get_data(as_text=True).count('name="sku_ids"')

    queries_20, shown_20 = queries_at(20)
    queries_100, shown_100 = queries_at(100)
    app.config["ERP_PAGE_SIZE"] = 50  # the app's default page size
    queries_50, shown = queries_at(50)
    for _ in range(3):  # warm up
        client.get(url)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append(time.perf_counter() - start)
    with app.app_context():
        engine.dispose()
    times.sort()
    median = statistics.median(times)
    log(f"   median {median * 1000:.1f} ms over {len(times)} requests; {queries_50} queries per "
        f"page ({queries_20} at 20 rows, {queries_100} at 100; {shown_20}/{shown_100} rows shown)")
    return {"n": n, "seconds": round(median, 4), "median_ms": round(median * 1000, 1),
            "p95_ms": round(times[int(len(times) * 0.95) - 1] * 1000, 1),
            "queries": queries_50, "queries_per_page_20": queries_20,
            "queries_per_page_100": queries_100, "requests": len(times),
            "rows_on_page": shown}


# --------------------------------------------------------------------------- warehouse (issue 4)


@bench("move_tx")
def move_tx(db: BenchDB) -> dict:
    """Single-move transactions: post one transfer move through the ledger, commit, repeat."""
    from bench import data
    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.warehouse import services
    from erp.warehouse.models import LocationKind, MoveKind

    n = db.scale(10_000)
    app = make_app(db)
    with app.app_context():
        data.sample_catalog(20)
        warehouse = services.create_warehouse(code="BENCH", name="Bench warehouse",
                                              country="CN", actor=None)
        bin_a = services.create_location(warehouse, code="A-01", kind="storage", actor=None)
        bin_b = services.create_location(warehouse, code="B-01", kind="storage", actor=None)
        supplier = services.virtual_location(LocationKind.supplier)
        sku_ids = list(sqla.session.scalars(sqla.select(Sku.id).order_by(Sku.id)))
        services.post_moves([services.MoveSpec(s, supplier.id, bin_a.id, 1_000_000,
                                               MoveKind.receipt, unit_cost=2)
                             for s in sku_ids], actor=None)
        sqla.session.commit()
        # Ten SKUs taking turns, there and back: each run leaves the levels as it found them.
        specs = [services.MoveSpec(s, src, dst, 1, MoveKind.transfer, note="bench")
                 for s in sku_ids[:10] for src, dst in ((bin_a.id, bin_b.id),
                                                        (bin_b.id, bin_a.id))]

        def work(count: int) -> None:
            for k in range(count):
                services.post_move(specs[k % len(specs)], actor=None)
                sqla.session.commit()

        work(200)  # warm up the connection, the statement caches and the ORM
        seconds = median_seconds(lambda: work(n))
        sqla.engine.dispose()
    log(f"   {n:,} transactions in {seconds:.2f} s: {n / seconds:,.0f} per second")
    return {"n": n, "seconds": round(seconds, 3), "per_second": round(n / seconds, 1)}


def _settle(db: BenchDB) -> None:
    """On PostgreSQL, vacuum and analyse what was just bulk-written, as autovacuum would.

    The generator rewrites every level between the two measurements; without this the second
    one would also scan the dead rows of the first, which says nothing about the ledger.
    """
    from erp.extensions import db as sqla

    if db.kind == "postgresql":
        with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE stock_level, reservation, stock_move")


@bench("availability")
def availability(db: BenchDB) -> dict:
    """Available stock of every SKU, with a short and then a long ledger behind the levels."""
    from sqlalchemy import func, select

    from bench import data
    from bench.warehouse_data import LedgerGenerator, create_bins
    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.warehouse import services
    from erp.warehouse.models import StockMove
    from erp.warehouse.queries import availability_query

    n_skus = db.scale(100_000)
    n_moves = db.scale(1_000_000)
    small = n_moves // 10
    app = make_app(db)
    with app.app_context():
        start = time.perf_counter()
        data.sample_catalog(n_skus)
        warehouse = services.create_warehouse(code="BENCH", name="Bench warehouse",
                                              country="CN", actor=None)
        bins = create_bins(warehouse.id, 2_000)
        sku_ids = list(sqla.session.scalars(select(Sku.id).order_by(Sku.id)))
        ledger = LedgerGenerator(sku_ids, bins)
        sqla.session.commit()

        def measure() -> tuple[float, int]:
            rows = []

            def fetch():
                rows[:] = sqla.session.execute(availability_query()).all()

            fetch()  # warm up: the first read pulls the table into the cache
            took = median_seconds(fetch, runs=5)
            assert len(rows) == n_skus, f"{len(rows)} SKUs read, {n_skus} expected"
            return took, sum(r.available for r in rows)

        ledger.post(small)
        levels = ledger.write_levels()
        sqla.session.commit()
        _settle(db)
        log(f"   {n_skus:,} SKUs, {levels:,} levels, {small:,} moves generated "
            f"({time.perf_counter() - start:.0f} s so far)")
        seconds_small, available_small = measure()
        ledger.post(n_moves)
        levels = ledger.write_levels()
        sqla.session.commit()
        _settle(db)
        moves = sqla.session.scalar(select(func.count()).select_from(StockMove))
        log(f"   {moves:,} moves generated in {time.perf_counter() - start:.0f} s in all")
        seconds, available = measure()
        sqla.engine.dispose()
    log(f"   availability of {n_skus:,} SKUs: {seconds:.3f} s over {moves:,} moves, "
        f"{seconds_small:.3f} s over {small:,}")
    return {"n": n_skus, "seconds": round(seconds, 4), "moves": moves, "levels": levels,
            "seconds_small_ledger": round(seconds_small, 4), "moves_small_ledger": small,
            "available_units": available, "available_units_small_ledger": available_small}


# --------------------------------------------------------------------------- procurement (issue 5)


@bench("replenishment")
def replenishment(db: BenchDB) -> dict:
    """Replenishment suggestions over every SKU, with levels, price lists and open orders."""
    from sqlalchemy import func, select

    from bench import data, procurement_data
    from bench.warehouse_data import LedgerGenerator, create_bins
    from erp.extensions import db as sqla
    from erp.procurement.replenishment_queries import (
        ReplenishmentFilters,
        suggestion_count_query,
        suggestion_query,
    )
    from erp.procurement.services import replenishment_suggestions, suggestion_from_row
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import StockLevel

    n_skus = db.scale(100_000)
    app = make_app(db)
    with app.app_context():
        start = time.perf_counter()
        data.sample_catalog(n_skus)
        warehouse = warehouse_services.create_warehouse(code="BENCH", name="Bench warehouse",
                                                        country="CN", actor=None)
        sku_ids = procurement_data.sku_ids_in_order()
        ledger = LedgerGenerator(sku_ids, create_bins(warehouse.id, 2_000))
        ledger.post(n_skus)  # one receipt per SKU: 20 to 49 units against reorder points 0-49
        levels = ledger.write_levels()
        suppliers = procurement_data.create_suppliers()
        items = procurement_data.insert_supplier_items(sku_ids, suppliers)
        lines = procurement_data.insert_open_orders(sku_ids, suppliers,
                                                    orders=max(8, n_skus // 500),
                                                    lines_per_order=50)
        sqla.session.commit()
        _settle(db)
        if db.kind == "postgresql":
            with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE sku, product, supplier_item, "
                                     "purchase_order, purchase_order_line")
        log(f"   {n_skus:,} SKUs, {levels:,} levels, {items:,} supplier items, {lines:,} open "
            f"order lines generated in {time.perf_counter() - start:.0f} s")
        found = []

        def work():
            found[:] = replenishment_suggestions()

        work()  # warm up: the first read pulls the tables into the cache
        seconds = median_seconds(work, runs=3)
        with_supplier = sum(1 for s in found if s.has_supplier)
        # the list screen: the count and the first page of 50
        filters = ReplenishmentFilters()

        def page():
            sqla.session.scalar(suggestion_count_query(filters))
            [suggestion_from_row(r) for r in sqla.session.execute(
                suggestion_query(filters).limit(50))]

        page()
        page_seconds = median_seconds(page, runs=3)
        on_hand = sqla.session.scalar(select(func.sum(StockLevel.on_hand)))
        sqla.engine.dispose()
    log(f"   {len(found):,} suggestions ({with_supplier:,} with a supplier) over {n_skus:,} SKUs "
        f"in {seconds:.3f} s; list page (count + 50 rows) {page_seconds * 1000:.0f} ms")
    return {"n": n_skus, "seconds": round(seconds, 4), "suggestions": len(found),
            "with_supplier": with_supplier, "supplier_items": items, "open_order_lines": lines,
            "levels": levels, "units_on_hand": int(on_hand or 0),
            "page_ms": round(page_seconds * 1000, 1)}


def _inspection_plan(brand_id: int):
    """Return an approved specification version with an inspection plan (II, 2.5 / 4.0)."""
    from erp.brands import plans
    from erp.brands import services as brand_services
    from erp.brands.models import Brand
    from erp.extensions import db as sqla

    spec = brand_services.create_specification(sqla.session.get(Brand, brand_id),
                                               {"title": "Bench plan"}, actor=None)
    version = spec.versions[0]
    plans.set_plan(version, {"sampling_level": "II", "aql_critical": None, "aql_major": "2.5",
                             "aql_minor": "4.0"}, actor=None)
    for kind, cls, what in (("functional", "critical", "No needle"),
                            ("visual", "major", "No open seam"),
                            ("packaging", "minor", "Carton marks")):
        plans.add_check(version, {"kind": kind, "defect_class": cls, "description": what},
                        actor=None)
    brand_services.approve_specification_version(version, actor=None)
    return version


@bench("po_receive")
def po_receive(db: BenchDB) -> dict:
    """A 1,000-line purchase order confirmed (submit, approve, order) and received in full.

    The draft is made through the services first (timed apart, as ``draft_seconds``); the
    figure is the rest: submit, approve, mark ordered and one receipt of every line (moves,
    levels, average costs, state), committed. Every run uses SKUs of its own that already
    have stock on a shelf, so each posts the same work and the average cost really averages.
    Then the same again with an inspection plan on every line (``inspected_seconds``): each
    line opens an inspection lot (plans per defect class) and its goods go to the QC hold bin.
    """
    from sqlalchemy import event, func, select, update

    from bench import data, procurement_data
    from erp.catalog.models import Product, Sku
    from erp.core import services as core_services
    from erp.core.models import User
    from erp.extensions import db as sqla
    from erp.procurement import services
    from erp.procurement.models import PurchaseOrder, PurchaseOrderState, Supplier, SupplierItem
    from erp.quality.models import Inspection
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import Location, LocationKind, MoveKind

    n_lines = db.scale(1_000)
    runs = 3
    app = make_app(db)
    with app.app_context():
        # every tenth SKU is discontinued; half for the plain runs, half for the inspected
        data.sample_catalog(2 * n_lines * runs * 10 // 9 + 200)
        buyer = core_services.create_user(username="buyer", full_name="Bench Buyer",
                                          password="bench-password-1", roles=["purchasing"],
                                          actor=None)
        manager = core_services.create_user(username="boss", full_name="Bench Manager",
                                            password="bench-password-1", roles=["manager"],
                                            actor=None)
        warehouse = warehouse_services.create_warehouse(code="BENCH", name="Bench warehouse",
                                                        country="CN", actor=None)
        receiving = warehouse_services.create_location(warehouse, code="RCV-01",
                                                       kind="receiving", actor=None)
        shelf = warehouse_services.create_location(warehouse, code="A-01", kind="storage",
                                                   actor=None)
        supplier = procurement_data.create_suppliers()[0]  # in CNY
        plain_ids = list(sqla.session.scalars(select(Sku.id).where(Sku.status == "active")
                                              .order_by(Sku.id).limit(n_lines * runs)))
        # the inspected runs take SKUs of other products: the plan is the product's
        plain_products = select(Sku.product_id).where(Sku.id.in_(plain_ids))
        inspected_ids = list(sqla.session.scalars(
            select(Sku.id).where(Sku.status == "active", Sku.product_id.not_in(plain_products))
            .order_by(Sku.id).limit(n_lines * runs)))
        assert len(inspected_ids) == n_lines * runs, "the sample catalog is too small"
        version = _inspection_plan(sqla.session.scalar(select(Product.brand_id).limit(1)))
        sqla.session.execute(update(Product).where(Product.id.in_(
            select(Sku.product_id).where(Sku.id.in_(inspected_ids)))).values(
            spec_version_id=version.id))
        sku_ids = plain_ids + inspected_ids
        sqla.session.execute(sqla.insert(SupplierItem), [
            {"supplier_id": supplier.id, "sku_id": sku_id, "supplier_code": f"B{i:06d}",
             "unit_price": Decimal(500 + i % 900).scaleb(-2), "currency": supplier.currency,
             "moq": 1, "pack_multiple": 1, "lead_time_days": None, "preferred": True}
            for i, sku_id in enumerate(sku_ids)])
        vendor = warehouse_services.virtual_location(LocationKind.supplier)
        warehouse_services.post_moves([
            warehouse_services.MoveSpec(sku_id, vendor.id, shelf.id, 10, MoveKind.opening,
                                        unit_cost=Decimal("1.5000"))
            for sku_id in sku_ids], actor=None)
        sqla.session.commit()
        skus = {sku.id: sku for sku in sqla.session.scalars(select(Sku).where(
            Sku.id.in_(sku_ids)))}
        log(f"   {len(sku_ids):,} SKUs with stock and supplier prices ready")
        buyer_id, manager_id = buyer.id, manager.id
        supplier_id, receiving_id = supplier.id, receiving.id

        statements = []

        def count(*args):
            statements.append(1)

        times, draft_times, queries = [], [], []
        inspected_times, inspected_queries = [], []
        for run in range(2 * runs):
            inspected = run >= runs
            batch = sku_ids[run * n_lines:(run + 1) * n_lines]
            start = time.perf_counter()
            po = services.create_purchase_order(supplier, actor=buyer)
            for k, sku_id in enumerate(batch):
                services.add_purchase_order_line(po, skus[sku_id], 12 + k % 36, actor=buyer)
            sqla.session.commit()
            draft_times.append(time.perf_counter() - start)
            # the confirmation and the receipt come in later requests, on a fresh session
            po_id = po.id
            sqla.session.remove()
            statements.clear()
            event.listen(sqla.engine, "before_cursor_execute", count)
            start = time.perf_counter()
            po = sqla.session.get(PurchaseOrder, po_id)
            buyer, manager = (sqla.session.get(User, buyer_id), sqla.session.get(User, manager_id))
            receiving = sqla.session.get(Location, receiving_id)
            services.submit_purchase_order(po, actor=buyer)
            if po.state == PurchaseOrderState.awaiting_approval:
                services.approve_purchase_order(po, approver=manager)
            services.mark_purchase_order_ordered(po, actor=buyer)
            services.receive_purchase_order(po, {line.id: line.quantity for line in po.lines},
                                            location=receiving, actor=buyer)
            sqla.session.commit()
            (inspected_times if inspected else times).append(time.perf_counter() - start)
            event.remove(sqla.engine, "before_cursor_execute", count)
            (inspected_queries if inspected else queries).append(len(statements))
            assert po.state == PurchaseOrderState.received, po.state
            lots = sqla.session.scalar(select(func.count()).select_from(Inspection).where(
                Inspection.ref_id.in_([rl.id for r in po.receipts for rl in r.lines])))
            assert lots == (n_lines if inspected else 0), lots
            supplier = sqla.session.get(Supplier, supplier_id)
            skus = {sku.id: sku for sku in sqla.session.scalars(select(Sku).where(
                Sku.id.in_(sku_ids)))}
        costs = [skus[sku_id].avg_cost for sku_id in sku_ids[:3]]
        sqla.engine.dispose()
    seconds = statistics.median(times)
    inspected_seconds = statistics.median(inspected_times)
    log(f"   {n_lines:,}-line order confirmed and received in {seconds:.3f} s (median of "
        f"{runs}; {queries[-1]:,} statements); drafting it took "
        f"{statistics.median(draft_times):.2f} s; average costs now {costs}")
    log(f"   with an inspection plan on every line: {inspected_seconds:.3f} s "
        f"({inspected_queries[-1]:,} statements; {n_lines:,} lots opened)")
    return {"n": n_lines, "seconds": round(seconds, 4), "queries": queries[-1],
            "draft_seconds": round(statistics.median(draft_times), 3), "runs": runs,
            "inspected_seconds": round(inspected_seconds, 4),
            "inspected_queries": inspected_queries[-1]}


# --------------------------------------------------------------------------- orders (issue 6)


@bench("order_intake")
def order_intake(db: BenchDB) -> dict:
    """1,000 two-line orders POSTed to ``/api/v1/orders`` in-process, then allocated.

    The figure is both parts together: every order one request (Bearer token, validation,
    creation, commit), then one ``allocate_orders`` batch (a savepoint per order, reservations
    across bins in pick sequence), committed. One SKU in twenty has no stock, so a few orders
    come out backordered. Each run takes in new order numbers.
    """
    from sqlalchemy import select

    from bench import data
    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.orders import services
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import LocationKind, MoveKind

    n_orders = db.scale(1_000)
    n_skus = 200
    runs = 3
    app = make_app(db)
    with app.app_context():
        data.sample_catalog(n_skus * 10 // 9 + 10)
        warehouse = warehouse_services.create_warehouse(code="BENCH", name="Bench warehouse",
                                                        country="CN", actor=None)
        shelves = [warehouse_services.create_location(warehouse, code=f"A-{i:02d}",
                                                      kind="storage", pick_sequence=i * 10,
                                                      actor=None) for i in range(1, 4)]
        codes = list(sqla.session.scalars(select(Sku.code).where(Sku.status == "active")
                                          .order_by(Sku.id).limit(n_skus)))
        ids = dict(sqla.session.execute(select(Sku.code, Sku.id).where(Sku.code.in_(codes))).all())
        vendor = warehouse_services.virtual_location(LocationKind.supplier)
        # enough for every run (about 4 units a line) except on the SKUs left without stock
        per_bin = n_orders * runs * 2 * 3 // n_skus // len(shelves) + 5
        warehouse_services.post_moves([
            warehouse_services.MoveSpec(ids[code], vendor.id, shelf.id, per_bin,
                                        MoveKind.opening, unit_cost=Decimal("2.0000"))
            for k, code in enumerate(codes) if k % 20 for shelf in shelves], actor=None)
        _token, plaintext = services.create_api_token("bench storefront", actor=None)
        sqla.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {plaintext}"}

    def payload(run: int, n: int) -> dict:
        return {
            "number": f"WEB-{run}-{n:06d}", "placed_at": f"2026-11-{1 + n % 28:02d}T10:00:00Z",
            "customer_name": "Bench Buyer", "email": f"buyer{n}@example.com",
            "shipping_address": {"name": "Bench Buyer", "address1": f"Hauptstrasse {n}",
                                 "city": "Berlin", "postal_code": "10115", "country": "DE"},
            "currency": "EUR", "shipping_charge": "4.90", "priority": n % 3,
            "lines": [{"sku": codes[(n * 7 + k * 13) % n_skus], "quantity": 1 + (n + k) % 3,
                       "unit_price": "19.90"} for k in range(2)]}

    times, intake_times, outcomes = [], [], []
    for run in range(runs):
        bodies = [payload(run, n) for n in range(n_orders)]
        start = time.perf_counter()
        for body in bodies:
            response = client.post("/api/v1/orders", json=body, headers=headers)
            assert response.status_code == 201, response.get_json()
        intake_times.append(time.perf_counter() - start)
        with app.app_context():
            summary = services.allocate_orders(actor=None)
            sqla.session.commit()
        times.append(time.perf_counter() - start)
        assert not summary.failed, summary.failed[:3]
        assert summary.considered >= n_orders, summary  # earlier backorders are retried
        outcomes.append(summary)
    with app.app_context():
        from erp.warehouse.queries import ledger_problems
        assert ledger_problems(sqla.session) == []
        sqla.engine.dispose()
    seconds = statistics.median(times)
    intake = statistics.median(intake_times)
    last = outcomes[-1]
    log(f"   {n_orders:,} two-line orders taken in and allocated in {seconds:.3f} s (median of "
        f"{runs}; intake {intake:.3f} s, allocation {seconds - intake:.3f} s); "
        f"{len(last.allocated)} allocated, {len(last.backordered)} backordered")
    return {"n": n_orders, "seconds": round(seconds, 4), "intake_seconds": round(intake, 4),
            "allocate_seconds": round(seconds - intake, 4), "allocated": len(last.allocated),
            "backordered": len(last.backordered), "runs": runs}


@bench("order_import")
def order_import(db: BenchDB) -> dict:
    """A 50,000-line order sheet (25,000 two-line orders), dry run then commit: seconds."""
    import tempfile

    import xlsxwriter
    from sqlalchemy import delete

    from bench import audit_undo, data
    from erp.core.models import AuditEvent
    from erp.extensions import db as sqla
    from erp.orders.excel import ORDER_SPEC, import_orders
    from erp.orders.models import CustomerOrder, CustomerOrderLine

    lines = 5_000 if db.quick else 50_000
    n_orders = lines // 2
    app = make_app(db)
    countries = [("DE", "10115", "EUR"), ("FR", "75001", "EUR"), ("GB", "SW1A 1AA", "GBP"),
                 ("US", "10001", "USD"), ("HK", "", "HKD"), ("JP", "100-0001", "JPY")]
    with tempfile.TemporaryDirectory(prefix="erp-bench-") as tmp, app.app_context():
        data.sample_catalog(2_000)
        # the service the sheet asks for, serving its countries (intake checks it)
        from erp.shipping.services import carriers
        post = carriers.create_carrier(code="POST", name="Bench post", kind="postal",
                                       actor=None)
        standard = carriers.create_service(post, code="standard", name="Standard",
                                           tracking_kind="s10", customs_docs="cn22_cn23",
                                           max_weight_g=30_000, actor=None)
        carriers.set_zones(standard, {c: "ROW" for c, _, _ in countries}, actor=None)
        sqla.session.commit()
        skus = [f"SKU{i:07d}" for i in range(2_000) if i % 10]  # every tenth is discontinued
        path = f"{tmp}/orders.xlsx"
        book = xlsxwriter.Workbook(path, {"constant_memory": True,
                                          "strings_to_formulas": False})
        sheet = book.add_worksheet(str(ORDER_SPEC.title))
        keys = [column.key for column in ORDER_SPEC.columns]
        for col, column in enumerate(ORDER_SPEC.columns):
            sheet.write_string(0, col, str(column.header))
        r = 0
        for o in range(n_orders):
            country, postal, currency = countries[o % len(countries)]
            order = {"order_number": f"WEB-{o:07d}",
                     "placed_at": f"2026-11-{1 + o % 28:02d}T{o % 24:02d}:15:00",
                     "customer_name": f"Customer {o}", "email": f"c{o}@example.com",
                     "ship_name": f"Customer {o}", "address1": f"{o % 300} Main Street",
                     "city": "Springfield", "postal_code": postal, "country": country,
                     "currency": currency, "shipping_charge": 4.9,
                     "shipping_service": "standard"}
            for k in range(2):
                r += 1
                values = {**order, "sku": skus[(o * 2 + k) % len(skus)], "quantity": 1 + k,
                          "unit_price": 19.9}
                for col, key in enumerate(keys):
                    value = values.get(key)
                    if isinstance(value, str) and value:
                        sheet.write_string(r, col, value)
                    elif isinstance(value, (int, float)):
                        sheet.write_number(r, col, value)
        book.close()
        with open(path, "rb") as fh:
            blob = fh.read()
        log(f"   {lines:,}-line order sheet written ({len(blob) / 1e6:.1f} MB)")

        def one_run() -> tuple[float, float, float]:
            start = time.perf_counter()
            dry = import_orders(blob, filename="orders.xlsx", dry_run=True, actor=None)
            sqla.session.rollback()
            middle = time.perf_counter()
            result = import_orders(blob, filename="orders.xlsx", dry_run=False, actor=None)
            sqla.session.commit()
            end = time.perf_counter()
            if not (dry.ok and result.ok and result.created == n_orders):
                errors = (dry.errors + result.errors)[:3]
                raise RuntimeError(f"the bench sheet was refused: {errors}")
            # back to no orders for the next run (not timed)
            audit_undo.delete_events(AuditEvent.entity_type == "customer_order")
            sqla.session.execute(delete(CustomerOrderLine))
            sqla.session.execute(delete(CustomerOrder))
            sqla.session.commit()
            return end - start, middle - start, end - middle

        runs = [one_run() for _ in range(2 if db.quick else 3)]
        sqla.engine.dispose()
    seconds, dry_seconds, commit_seconds = (statistics.median(r[i] for r in runs)
                                            for i in range(3))
    log(f"   dry run {dry_seconds:.2f} s + commit {commit_seconds:.2f} s (median of {len(runs)})")
    return {"n": lines, "orders": n_orders, "seconds": round(seconds, 3),
            "dry_run_seconds": round(dry_seconds, 3), "commit_seconds": round(commit_seconds, 3),
            "runs": len(runs)}
