"""Shipping benchmarks: ``labels_pdf`` (one PDF of 1,000 parcel labels)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from bench.runner import BenchDB, bench, log, make_app

NAMES = ("Erika Mustermann", "Иван Петров", "张伟", "Jean Dupont", "山田太郎", "Ольга Смирнова")
CITIES = {"DE": "Berlin", "RU": "Москва", "CN": "北京", "FR": "Paris", "JP": "東京",
          "US": "New York"}


def create_parcels(n: int) -> list[int]:
    """Insert ``n`` labelled parcels (orders, customs lines) and return their ids.

    A mix of CN22 and CN23 parcels on two postal services, one order in five split in two
    parcels, and one addressee in three in Cyrillic or Chinese. Flushed, not committed.
    """
    from sqlalchemy import insert, select

    from bench import data
    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, CustomerOrderLine
    from erp.shipping import s10
    from erp.shipping.models import (
        Carrier,
        CarrierKind,
        CustomsDocs,
        CustomsForm,
        Parcel,
        ParcelLine,
        ParcelState,
        ShippingService,
        TrackingKind,
    )

    data.sample_catalog(20)
    sku_ids = list(sqla.session.scalars(select(Sku.id).order_by(Sku.id).limit(20)))
    carrier = Carrier(code="CNPOST", name="China Post", kind=CarrierKind.postal)
    post = ShippingService(carrier=carrier, code="POST-REG", name="Registered air mail",
                           tracking_kind=TrackingKind.s10, customs_docs=CustomsDocs.cn22_cn23,
                           max_weight_g=2000)
    ems = ShippingService(carrier=carrier, code="EMS", name="EMS", tracking_kind=TrackingKind.s10,
                          customs_docs=CustomsDocs.cn23, max_weight_g=30000)
    sqla.session.add_all([carrier, post, ems])
    sqla.session.flush()
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    countries = list(CITIES)
    n_orders = n * 5 // 6 + 1
    orders, lines = [], []
    for i in range(n_orders):
        country = countries[i % len(countries)]
        orders.append({"number": f"WEB-{i:06d}", "placed_at": now, "state": "packed",
                       "customer_name": NAMES[i % len(NAMES)], "ship_name": NAMES[i % len(NAMES)],
                       "address1": f"Hauptstrasse {i}", "city": CITIES[country],
                       "postal_code": f"{10000 + i % 80000}", "country": country,
                       "currency": "EUR", "shipping_charge": Decimal("4.90"), "priority": 0,
                       "channel": "webshop", "email": f"buyer{i}@example.com",
                       "phone": "+49 30 1234567" if i % 2 else None, "created_at": now})
    sqla.session.execute(insert(CustomerOrder), orders)
    order_ids = list(sqla.session.scalars(select(CustomerOrder.id).order_by(CustomerOrder.id)))
    for k, order_id in enumerate(order_ids):
        for j in range(1 + k % 3):
            lines.append({"order_id": order_id, "sku_id": sku_ids[(k + j) % len(sku_ids)],
                          "quantity": 1 + j, "unit_price": Decimal("19.90"),
                          "allocated_qty": 1 + j})
    sqla.session.execute(insert(CustomerOrderLine), lines)
    order_lines: dict[int, list[tuple[int, int, int]]] = {}
    for line_id, order_id, sku_id, qty in sqla.session.execute(
            select(CustomerOrderLine.id, CustomerOrderLine.order_id, CustomerOrderLine.sku_id,
                   CustomerOrderLine.quantity).order_by(CustomerOrderLine.id)):
        order_lines.setdefault(order_id, []).append((line_id, sku_id, qty))
    parcels = []
    plan = []  # (order_id, sequence)
    for k, order_id in enumerate(order_ids):
        plan.append((order_id, 1))
        if k % 5 == 0 and len(plan) < n:
            plan.append((order_id, 2))
    plan = plan[:n]
    for i, (order_id, sequence) in enumerate(plan):
        cn22 = i % 3 != 0
        service = post if cn22 else ems
        parcels.append({
            "number": f"PCL-{i:07d}", "order_id": order_id, "service_id": service.id,
            "sequence": sequence, "state": ParcelState.labelled,
            "tracking_number": s10.make("RR" if cn22 else "EE", 10000000 + i, "CN"),
            "weight_g": 300 + i % 900, "length_mm": 250, "width_mm": 180, "height_mm": 50,
            "declared_value": Decimal("39.80"), "currency": "EUR",
            "customs_form": CustomsForm.cn22 if cn22 else CustomsForm.cn23,
            "customs_category": "sale_of_goods", "dutiable": False, "packed_at": now,
            "labelled_at": now})
    sqla.session.execute(insert(Parcel), parcels)
    parcel_rows = sqla.session.execute(
        select(Parcel.id, Parcel.order_id).order_by(Parcel.id)).all()
    customs = []
    for parcel_id, order_id in parcel_rows:
        for line_id, sku_id, qty in order_lines[order_id]:
            customs.append({"parcel_id": parcel_id, "order_line_id": line_id, "sku_id": sku_id,
                            "quantity": qty, "description": "Men's cotton T-shirt",
                            "hs_code": "610910", "origin_country": "CN",
                            "net_weight_g": 180 * qty, "unit_value": Decimal("19.90")})
    sqla.session.execute(insert(ParcelLine), customs)
    sqla.session.flush()
    return [row[0] for row in parcel_rows]


@bench("labels_pdf")
def labels_pdf(db: BenchDB) -> dict:
    """One PDF of 1,000 parcel labels, parcels loaded from the database and drawn.

    The figure covers loading the parcels with their orders and customs lines and drawing the
    100 x 150 mm pages (two in three with a CN22 block, one in three names in Cyrillic or
    Chinese); median of 3 runs after a warm-up (fonts are registered once per process).
    """
    from erp.extensions import db as sqla
    from erp.shipping.documents.labels import label_pdf, load_parcels

    n = db.scale(1_000)
    app = make_app(db)
    with app.app_context():
        ids = create_parcels(n)
        sqla.session.commit()
        label_pdf(load_parcels(ids[:5]))  # warm-up: fonts registered, caches filled
        times, load_times, sizes = [], [], []
        for _ in range(3):
            sqla.session.expunge_all()
            start = time.perf_counter()
            parcels = load_parcels(ids)
            middle = time.perf_counter()
            pdf = label_pdf(parcels)
            end = time.perf_counter()
            times.append(end - start)
            load_times.append(middle - start)
            sizes.append(len(pdf))
        assert pdf.count(b"/Type /Page\n") == n or pdf.count(b"/Type /Page") >= n
        sqla.engine.dispose()
    seconds = statistics.median(times)
    loading = statistics.median(load_times)
    log(f"   {n:,} labels in {seconds:.3f} s (median of 3; loading {loading:.3f} s, drawing "
        f"{seconds - loading:.3f} s); PDF {sizes[-1] / 1e6:.1f} MB")
    return {"n": n, "seconds": round(seconds, 4), "load_seconds": round(loading, 4),
            "per_second": round(n / seconds, 1), "pdf_mb": round(sizes[-1] / 1e6, 2)}


SERVICE_COUNTRIES = ("DE", "FR", "GB", "US")
BOX_CODE = "L"
BOX_TARE_G = 300


def create_services(tracking_numbers: int) -> tuple[dict, object]:
    """Create the carriers, four services and the large box; return ({code: service}, box).

    The services serve DE/FR/GB/US and each gets ``tracking_numbers`` tracking numbers.
    """
    from erp.shipping.services import boxes, carriers, tracking

    post = carriers.create_carrier(code="CNPOST", name="China Post", kind="postal", actor=None)
    courier = carriers.create_carrier(code="EXP", name="Express courier", kind="express",
                                      actor=None)
    specs = [(post, "POST-REG", "Registered air mail", "s10", "cn22_cn23", 2000, "RR", "CN", 0),
             (post, "EPACKET", "Tracked small packet", "s10", "cn22_cn23", 2000, "LK", "CN", 0),
             (post, "EMS", "EMS", "s10", "cn23", 30000, "EE", "CN", 0),
             (courier, "EXPRESS", "Express worldwide", "free", "commercial_invoice", 30000, "EX",
              "", 5000)]
    services = {}
    for carrier, code, name, kind, docs, max_g, prefix, suffix, divisor in specs:
        service = carriers.create_service(
            carrier, code=code, name=name, tracking_kind=kind, customs_docs=docs,
            max_weight_g=max_g, max_longest_mm=1000, max_sum_mm=2000,
            volumetric_divisor=divisor, requires_phone=kind == "free", actor=None)
        carriers.set_zones(service, {c: "EU" if c in {"DE", "FR"} else "ROW"
                                     for c in SERVICE_COUNTRIES}, actor=None)
        tracking.add_range(service, prefix=prefix, first_serial=10_000_000,
                           last_serial=10_000_000 + tracking_numbers, suffix=suffix,
                           warn_below=10, actor=None)
        services[code] = service
    box = boxes.create_box(code=BOX_CODE, name="Large box", length_mm=500, width_mm=400,
                           height_mm=300, tare_g=BOX_TARE_G, actor=None)
    return services, box


def _outbound_setup(n_orders: int, runs: int) -> dict:
    """Catalog, bins, carriers with four services, rates and 3 x ``n_orders`` new orders.

    Flushed and committed by the caller. Orders are one or two lines of one unit each, of SKUs
    light enough for the postal services, to DE, FR, GB and US, spread over the four services.
    """
    from sqlalchemy import insert, select

    from bench import data
    from erp.catalog.models import Sku
    from erp.core.services import set_exchange_rate
    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, CustomerOrderLine
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import LocationKind, MoveKind

    data.sample_catalog(300)
    for currency, rate in (("XDR", "1.3300"), ("EUR", "1.0800"), ("GBP", "1.2700")):
        set_exchange_rate(currency, datetime(2026, 1, 1, tzinfo=UTC).date(), Decimal(rate),
                          actor=None)
    warehouse = warehouse_services.create_warehouse(code="BENCH", name="Bench warehouse",
                                                    country="CN", actor=None)
    shelves = [warehouse_services.create_location(warehouse, code=f"A-{i:02d}", kind="storage",
                                                  pick_sequence=i * 10, actor=None)
               for i in range(1, 4)]
    warehouse_services.create_location(warehouse, code="PACK-01", kind="packing",
                                       pick_sequence=0, actor=None)
    sku_ids = list(sqla.session.scalars(
        select(Sku.id).where(Sku.status == "active", Sku.hs_code.is_not(None),
                             Sku.customs_description.is_not(None), Sku.weight_g < 600)
        .order_by(Sku.id).limit(100)))
    vendor = warehouse_services.virtual_location(LocationKind.supplier)
    per_bin = n_orders * runs * 2 // len(sku_ids) + 10
    warehouse_services.post_moves([
        warehouse_services.MoveSpec(sku_id, vendor.id, shelf.id, per_bin, MoveKind.opening,
                                    unit_cost=Decimal("2.0000"))
        for sku_id in sku_ids for shelf in shelves], actor=None)
    services, box = create_services(n_orders * runs * 2)
    # issue 18: dispatch with routing on (at allocation, and again at packing)
    from bench.suites_routing import activate_rules
    activate_rules(services)
    codes = list(services)
    sqla.session.flush()
    countries = ("DE", "FR", "GB", "US")
    postcodes = {"DE": "10115", "FR": "75001", "GB": "SW1A 1AA", "US": "10001"}
    currency = {"DE": "EUR", "FR": "EUR", "GB": "GBP", "US": "USD"}
    placed = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    ids_by_run = []
    for run in range(runs):
        rows = []
        for i in range(n_orders):
            country = countries[i % 4]
            rows.append({"number": f"BENCH-{run}-{i:06d}", "channel": "webshop",
                         "placed_at": placed, "state": "new", "priority": 0,
                         "customer_name": "Bench Buyer", "email": f"b{i}@example.com",
                         "phone": "+49 30 123456", "ship_name": "Bench Buyer",
                         "address1": f"Street {i}", "city": "City",
                         "postal_code": postcodes[country], "country": country,
                         "currency": currency[country], "shipping_charge": Decimal("4.90"),
                         "shipping_service": codes[(i // 4) % 4], "created_at": placed})
        order_ids = list(sqla.session.scalars(insert(CustomerOrder).returning(CustomerOrder.id),
                                              rows))
        lines = []
        for k, order_id in enumerate(order_ids):
            for j in range(1 + k % 2):
                lines.append({"order_id": order_id, "sku_id": sku_ids[(k * 7 + j) % len(sku_ids)],
                              "quantity": 1, "unit_price": Decimal("12.90"),
                              "allocated_qty": 0})
        sqla.session.execute(insert(CustomerOrderLine), lines)
        ids_by_run.append(order_ids)
    return {"box_id": box.id, "ids_by_run": ids_by_run}


@bench("dispatch")
def dispatch(db: BenchDB) -> dict:
    """1,000 allocated orders through wave, pick, pack, label and batch close, no PDF.

    Measured per run: one pick wave over the allocated orders, every pick confirmed
    (``pick_all``), every order packed into one parcel (weights estimated from the catalog),
    the parcels labelled (tracking numbers drawn), one dispatch batch per carrier filled and
    closed (moves to the customer, orders shipped), committed. Four services (two S10 postal,
    EMS, an express courier); median of 3 runs, each on 1,000 freshly allocated orders.
    """
    from sqlalchemy import func, select

    from erp.extensions import db as sqla
    from erp.orders import services as order_services
    from erp.orders.models import CustomerOrder, OrderState
    from erp.shipping.models import Box, Carrier, Parcel, PickWaveOrder
    from erp.shipping.services import dispatch as dispatch_services
    from erp.shipping.services import packing, parcels, waves

    n_orders = db.scale(1_000)
    runs = 3
    app = make_app(db)
    with app.app_context():
        setup = _outbound_setup(n_orders, runs)
        sqla.session.commit()
    times, steps = [], []
    for run in range(runs):
        with app.app_context():
            # untimed: allocate this run's orders (the figure starts from allocated)
            summary = order_services.allocate_orders(actor=None, limit=n_orders)
            sqla.session.commit()
            assert len(summary.allocated) == n_orders, summary
            sqla.session.expunge_all()
            marks = [time.perf_counter()]
            wave = waves.build_wave(waves.WaveFilters(max_orders=n_orders), actor=None)
            marks.append(time.perf_counter())
            waves.pick_all(wave, actor=None)
            marks.append(time.perf_counter())
            orders = list(sqla.session.scalars(
                select(CustomerOrder)
                .join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
                .where(PickWaveOrder.wave_id == wave.id)))
            packed = packing.pack_orders(orders, box=sqla.session.get(Box, setup["box_id"]),
                                         actor=None)
            marks.append(time.perf_counter())
            parcels.label_parcels(packed, actor=None)
            marks.append(time.perf_counter())
            for carrier in sqla.session.scalars(select(Carrier).order_by(Carrier.id)):
                if not dispatch_services.waiting_parcels(carrier):
                    continue  # the shipping rules sent this run's orders to other carriers
                batch = dispatch_services.open_batch(carrier, actor=None)
                dispatch_services.add_waiting_parcels(batch, actor=None)
                dispatch_services.close_batch(batch, actor=None)
            sqla.session.commit()
            marks.append(time.perf_counter())
            times.append(marks[-1] - marks[0])
            steps.append([b - a for a, b in zip(marks, marks[1:], strict=False)])
            shipped = sqla.session.scalar(select(func.count()).select_from(CustomerOrder).where(
                CustomerOrder.id.in_(setup["ids_by_run"][run]),
                CustomerOrder.state == OrderState.shipped))
            assert shipped == n_orders, shipped
            assert sqla.session.scalar(select(func.count()).select_from(Parcel).where(
                Parcel.state == "dispatched")) == n_orders * (run + 1)
    with app.app_context():
        from erp.warehouse.queries import ledger_problems
        assert ledger_problems(sqla.session) == []
        sqla.engine.dispose()
    seconds = statistics.median(times)
    middle = steps[times.index(seconds)] if seconds in times else steps[-1]
    names = ("wave", "pick", "pack", "label", "dispatch")
    log(f"   {n_orders:,} orders waved, picked, packed, labelled and dispatched in "
        f"{seconds:.3f} s (median of {runs}; "
        + ", ".join(f"{name} {t:.2f} s" for name, t in zip(names, middle, strict=True)) + ")")
    return {"n": n_orders, "seconds": round(seconds, 4), "per_second": round(n_orders / seconds, 1),
            **{f"{name}_seconds": round(t, 4) for name, t in zip(names, middle, strict=True)},
            "runs": runs}
