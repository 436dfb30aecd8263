"""The ``load`` and ``load_100`` benchmarks: gunicorn (4 workers) on PostgreSQL under staff.

Every account has two-factor sign-in (a TOTP secret enrolled at build time): each simulated
user signs in with its password and then a code its "phone" (pyotp) computes, one account per
user so no code is used twice.

The data (a mid-size catalog with stock in bins, some thousands of orders in mixed states,
staff with known passwords, picked orders waiting at the packing bench and confirmed purchase
orders waiting to be received) is built in the runner's temporary schema. Then the real app
runs under ``gunicorn -w 4`` as a subprocess, and locust (``bench/locustfile.py``, headless, one
process) plays the warehouse floor against it for 60 seconds: packers scan, close and label
parcels, receivers receive purchase order lines, and office staff browse lists and pages.
Every simulated user signs in through the login form and works on its own orders only, so
nobody fights over an order; a refusal where success is expected counts as an error.

``load_100`` (issue 22) is the same floor five times over (100 staff: 50 warehouse, 20
purchasing, 15 customer service, 15 managers) for 120 seconds, plus the web shop's server
posting 10 orders a second to ``POST /api/v1/orders`` with an API token made at build time;
its ``api_orders`` counts the orders taken in. Both run through :func:`run_load`.

gunicorn serves with the tree's ``gunicorn.conf.py`` (the app loaded and warmed up once in the
master), as production does; ``server_cpu_ms_per_request`` is the workers' CPU from the first
request locust sends to its last, over the requests (the sign-in storm included).

The figures are locust's aggregated ones (``p50_ms``, ``p95_ms``, ``p99_ms``, ``per_second``,
``errors``), the five slowest request names by p95, and ``ledger_ok``: whether every stock
level still equals its moves after the run (``erp check-ledger``'s query).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.runner import BenchDB, bench, log, make_app
from bench.suites_shipping import BOX_CODE, BOX_TARE_G, create_services

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
#: how the app is served (``preload_app``: loaded and warmed up once, before the fork)
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
PASSWORD = "load-bench-Passw0rd"
SECRET_KEY = "load-bench-secret-key-0123456789abcdef"
#: accounts per role: (role, prefix, how many)
ACCOUNTS = (("warehouse", "wh", 10), ("purchasing", "buyer", 4), ("customer_service", "cs", 3),
            ("manager", "mgr", 3))
#: ``load_100``'s staff: the same mix of roles, five times as many
ACCOUNTS_100 = (("warehouse", "wh", 50), ("purchasing", "buyer", 20),
                ("customer_service", "cs", 15), ("manager", "mgr", 15))
#: ``load_100 --quick``'s staff (10 users: 3 packers, 2 receivers, 5 office), one account
#: each: two users of one account would sign in with the same code, which is refused
ACCOUNTS_100_QUICK = (("warehouse", "wh", 5), ("purchasing", "buyer", 2),
                      ("customer_service", "cs", 2), ("manager", "mgr", 1))
#: the prefix of the order numbers the storefront (``load_100``'s API user) sends
API_ORDER_PREFIX = "API-"
COUNTRIES = ("DE", "FR", "GB", "US")
POSTCODES = {"DE": "10115", "FR": "75001", "GB": "SW1A 1AA", "US": "10001"}
CURRENCIES = {"DE": "EUR", "FR": "EUR", "GB": "GBP", "US": "USD"}
SERVICE_CODES = ("POST-REG", "EPACKET", "EMS", "EXPRESS")
RECEIVING_BIN = "RCV-01"
PO_LINES = 8
PO_LINE_QTY = 120


# --------------------------------------------------------------------------- locust's figures


def _number(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def parse_stats(path: str | Path) -> dict:
    """Read locust's ``*_stats.csv``: the "Aggregated" row, and p95 per request name.

    Returns ``{"n", "errors", "p50_ms", "p95_ms", "p99_ms", "per_second", "by_name"}``, where
    ``by_name`` maps each request name to ``{"n", "errors", "p95_ms"}``.

    :raises ValueError: if the file has no "Aggregated" row (locust did not finish).
    """
    total, by_name = None, {}
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            figures = {"n": int(_number(row.get("Request Count"))),
                       "errors": int(_number(row.get("Failure Count"))),
                       "p50_ms": _number(row.get("50%")), "p95_ms": _number(row.get("95%")),
                       "p99_ms": _number(row.get("99%")),
                       "per_second": round(_number(row.get("Requests/s")), 2)}
            if row.get("Name") == "Aggregated":
                total = figures
            elif row.get("Name"):
                by_name[row["Name"]] = {k: figures[k] for k in ("n", "errors", "p95_ms")}
    if total is None:
        raise ValueError(f"{path} has no Aggregated row: locust did not finish its run.")
    return {**total, "by_name": by_name}


def slowest(by_name: dict, count: int = 5) -> dict[str, float]:
    """Return ``{name: p95_ms}`` of the ``count`` slowest request names by p95."""
    ranked = sorted(by_name.items(), key=lambda item: (-item[1]["p95_ms"], item[0]))
    return {name: figures["p95_ms"] for name, figures in ranked[:count]}


# --------------------------------------------------------------------------- the data


def _accounts(accounts: tuple = ACCOUNTS) -> list[tuple[str, str]]:
    """Return ``(username, role)`` of every simulated member of staff (``accounts`` by role)."""
    return [(f"{prefix}{i:02d}", role) for role, prefix, count in accounts
            for i in range(1, count + 1)]


def _order_row(number: str, i: int, placed: datetime, state: str, **extra) -> dict:
    country = COUNTRIES[i % len(COUNTRIES)]
    return {"number": number, "channel": "webshop", "placed_at": placed, "state": state,
            "priority": 0, "customer_name": "Load Buyer", "email": f"buyer{i}@example.com",
            "phone": "+49 30 123456", "ship_name": "Load Buyer", "address1": f"Street {i}",
            "city": "City", "postal_code": POSTCODES[country], "country": country,
            "currency": CURRENCIES[country], "shipping_charge": Decimal("4.90"),
            "shipping_service": SERVICE_CODES[(i // 4) % len(SERVICE_CODES)],
            "created_at": placed, **extra}


def _insert_orders(rows: list[dict], sku_ids: list[int], offset: int) -> list[int]:
    """Insert orders of one or two one-unit lines (SKUs taken from ``sku_ids``); return ids."""
    from sqlalchemy import insert

    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, CustomerOrderLine

    if not rows:
        return []
    ids = list(sqla.session.scalars(
        insert(CustomerOrder).returning(CustomerOrder.id, sort_by_parameter_order=True), rows))
    lines = []
    for k, order_id in enumerate(ids):
        for j in range(1 + (offset + k) % 2):
            lines.append({"order_id": order_id,
                          "sku_id": sku_ids[((offset + k) * 7 + j) % len(sku_ids)],
                          "quantity": 1, "unit_price": Decimal("12.90"), "allocated_qty": 0})
    sqla.session.execute(insert(CustomerOrderLine), lines)
    return ids


def _shipping_setup(tracking_numbers: int):
    """Carriers, four services serving DE/FR/GB/US with tracking ranges, and the box."""
    return create_services(tracking_numbers)[0]


def _history(sku_ids: list[int], services: dict, n: int, now: datetime, start: int) -> int:
    """Insert ``n`` past orders: 80 % shipped (a dispatched parcel), the rest held or cancelled.

    Returns the next order number. They are bulk rows, as a long-running shop's history is; the
    stock ledger knows nothing of them, which ``check-ledger`` does not mind.
    """
    from sqlalchemy import insert, select

    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrderLine
    from erp.shipping.models import CustomsForm, Parcel, ParcelLine, ParcelState

    rows = []
    for i in range(n):
        placed = now - timedelta(days=60) + timedelta(minutes=i * 60 * 24 * 59 // max(n, 1))
        roll = i % 20
        if roll < 16:
            rows.append(_order_row(f"WEB-{start + i:07d}", i, placed, "shipped"))
        elif roll < 18:
            rows.append(_order_row(f"WEB-{start + i:07d}", i, placed, "on_hold",
                                   hold_reason="Address to confirm with the customer"))
        else:
            rows.append(_order_row(f"WEB-{start + i:07d}", i, placed, "cancelled",
                                   cancel_reason="Customer changed their mind"))
    ids = _insert_orders(rows, sku_ids, start)
    shipped = {order_id: row for order_id, row in zip(ids, rows, strict=True)
               if row["state"] == "shipped"}
    lines: dict[int, list] = {}
    for line_id, order_id, sku_id in sqla.session.execute(
            select(CustomerOrderLine.id, CustomerOrderLine.order_id, CustomerOrderLine.sku_id)
            .where(CustomerOrderLine.order_id.in_(list(shipped))).order_by(CustomerOrderLine.id)):
        lines.setdefault(order_id, []).append((line_id, sku_id))
    parcels = []
    for k, (order_id, row) in enumerate(shipped.items()):
        sent = row["placed_at"] + timedelta(hours=20)
        parcels.append({
            "number": f"PCL-OLD-{k + 1:07d}", "order_id": order_id,
            "service_id": services[row["shipping_service"]].id, "sequence": 1,
            "state": ParcelState.dispatched, "tracking_number": f"OLD{k + 1:09d}",
            "weight_g": 400 + k % 900, "length_mm": 500, "width_mm": 400, "height_mm": 300,
            "declared_value": Decimal("12.90") * len(lines[order_id]),
            "currency": row["currency"], "customs_form": CustomsForm.cn23,
            "customs_category": "sale_of_goods", "dutiable": False,
            "packed_at": sent - timedelta(hours=2), "labelled_at": sent - timedelta(hours=2),
            "dispatched_at": sent})
    parcel_ids = list(sqla.session.scalars(
        insert(Parcel).returning(Parcel.id, sort_by_parameter_order=True), parcels))
    sqla.session.execute(insert(ParcelLine), [
        {"parcel_id": parcel_id, "order_line_id": line_id, "sku_id": sku_id, "quantity": 1,
         "description": "Cotton T-shirt", "hs_code": "610910", "origin_country": "CN",
         "net_weight_g": 200, "unit_value": Decimal("12.90")}
        for parcel_id, order_id in zip(parcel_ids, shipped, strict=True)
        for line_id, sku_id in lines[order_id]])
    return start + n


def _packing_work(packers: list, per_packer: int, sku_ids: list[int], now: datetime,
                  start: int) -> tuple[dict, int]:
    """Orders for each packer: allocated, waved (one wave per packer) and picked in full.

    Returns ``({username: [order work]}, next order number)``; an order's work is its id,
    number, the barcodes to scan and the weight to enter.
    """
    from sqlalchemy import select

    from erp.catalog.models import Sku
    from erp.extensions import db as sqla
    from erp.orders import services as order_services
    from erp.orders.models import CustomerOrder, CustomerOrderLine
    from erp.shipping.models import PickWaveOrder
    from erp.shipping.services import waves

    n = len(packers) * per_packer
    placed = now - timedelta(hours=6)
    rows = [_order_row(f"WEB-{start + i:07d}", i, placed + timedelta(seconds=i), "new")
            for i in range(n)]
    _insert_orders(rows, sku_ids, start)
    summary = order_services.allocate_orders(actor=None)
    if len(summary.allocated) != n:
        raise RuntimeError(f"{len(summary.allocated)} of {n} packing orders allocated: "
                           f"{summary}")
    work = {}
    for user in packers:
        wave = waves.build_wave(waves.WaveFilters(max_orders=per_packer), actor=user)
        waves.pick_all(wave, actor=user)
        orders = sqla.session.scalars(
            select(CustomerOrder).join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
            .where(PickWaveOrder.wave_id == wave.id).order_by(PickWaveOrder.slot)).all()
        items = {}
        for order_id, barcode, weight in sqla.session.execute(
                select(CustomerOrderLine.order_id, Sku.barcode, Sku.weight_g)
                .join(Sku, Sku.id == CustomerOrderLine.sku_id)
                .where(CustomerOrderLine.order_id.in_([o.id for o in orders]))
                .order_by(CustomerOrderLine.id)):
            items.setdefault(order_id, []).append((barcode, weight))
        work[user.username] = [
            {"id": o.id, "number": o.number, "scan": [b for b, _ in items[o.id]],
             "weight_g": BOX_TARE_G + sum(w for _, w in items[o.id])} for o in orders]
    return work, start + n


def _receiving_work(receivers: list, per_receiver: int, sku_ids: list[int],
                    suppliers: list) -> dict:
    """Ordered purchase orders for each receiver, of SKUs no other receiver has.

    Returns ``{username: [purchase order numbers]}``.
    """
    from sqlalchemy import insert

    from erp.core.models import utcnow
    from erp.extensions import db as sqla
    from erp.procurement.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState

    now = utcnow()
    work, orders, plan = {}, [], []
    k = 0
    for user in receivers:
        work[user.username] = []
        for _ in range(per_receiver):
            supplier = suppliers[k % len(suppliers)]
            number = f"PO-LOAD-{k + 1:06d}"
            orders.append({"number": number, "supplier_id": supplier.id,
                           "state": PurchaseOrderState.ordered, "currency": supplier.currency,
                           "expected_date": now.date(), "ordered_on": now.date() - timedelta(
                               days=20), "notes": None, "created_by_id": None,
                           "created_at": now - timedelta(days=21), "approved_by_id": None,
                           "approved_at": now - timedelta(days=21), "closed_at": None})
            plan.append(sku_ids[k * PO_LINES:(k + 1) * PO_LINES])
            work[user.username].append(number)
            k += 1
    if k * PO_LINES > len(sku_ids):
        raise RuntimeError(f"{len(sku_ids)} SKUs are too few for {k} purchase orders.")
    ids = list(sqla.session.scalars(insert(PurchaseOrder).returning(
        PurchaseOrder.id, sort_by_parameter_order=True), orders))
    sqla.session.execute(insert(PurchaseOrderLine), [
        {"order_id": order_id, "sku_id": sku_id, "supplier_code": None,
         "quantity": PO_LINE_QTY, "unit_price": Decimal("4.2500"), "received_qty": 0,
         "cancelled_qty": 0, "expected_date": None}
        for order_id, skus in zip(ids, plan, strict=True) for sku_id in skus])
    return work


def _enrol(user) -> str:
    """Turn two-factor sign-in on for ``user`` as enrolment does; return the TOTP secret.

    Confirmed with the previous time step's code (still accepted, as a phone a little slow),
    so the code of the step at which locust signs the user in is unused.
    """
    import pyotp

    from erp.core import twofactor
    from erp.core.models import utcnow

    secret = twofactor.new_secret()
    now = utcnow()
    twofactor.confirm_enrolment(
        user, secret, pyotp.TOTP(secret).generate_otp(twofactor.current_step(now) - 1), now=now)
    return secret


def build_data(db: BenchDB, app, *, per_packer: int, per_receiver: int,
               skus: int = 20_000, accounts: tuple = ACCOUNTS, api: dict | None = None) -> dict:
    """Build the load test's data in ``db`` and return the work file's content (committed).

    ``skus`` sizes the catalog (a tenth with ``--quick``); the orders follow from it.
    ``accounts`` are the staff by role (:data:`ACCOUNTS`). With ``api`` (``{"users": n,
    "per_second": rate}``) an API token is created for the storefront and the work file's
    ``api`` entry gives it, the rate and the SKU codes its orders may name.
    """
    from sqlalchemy import func, select

    from bench import data, procurement_data
    from bench.warehouse_data import LedgerGenerator, create_bins
    from erp.catalog.models import Sku
    from erp.core import services as core_services
    from erp.core.models import utcnow
    from erp.extensions import db as sqla
    from erp.orders import services as order_services
    from erp.orders.models import CustomerOrder
    from erp.warehouse import services as warehouse_services

    n_skus = db.scale(skus)
    started = time.perf_counter()
    with app.app_context():
        data.sample_catalog(n_skus)
        for currency, rate in (("XDR", "1.3300"), ("GBP", "1.2700")):
            core_services.set_exchange_rate(currency, date(2026, 1, 1), Decimal(rate),
                                            actor=None)
        suppliers = procurement_data.create_suppliers()  # and the CNY and EUR rates
        warehouse = warehouse_services.create_warehouse(code="LOAD", name="Load warehouse",
                                                        country="CN", actor=None)
        bins = create_bins(warehouse.id, max(40, n_skus // 50))
        all_skus = list(sqla.session.scalars(select(Sku.id).order_by(Sku.id)))
        ledger = LedgerGenerator(all_skus, bins)
        ledger.post(len(all_skus) * 2)  # a receipt per SKU, then transfers and shipments
        ledger.write_levels()
        warehouse_services.create_location(warehouse, code="PACK-01", kind="packing",
                                           pick_sequence=0, actor=None)
        warehouse_services.create_location(warehouse, code=RECEIVING_BIN, kind="receiving",
                                           pick_sequence=0, actor=None)
        users, totp = {}, {}
        for username, role in _accounts(accounts):
            users[username] = core_services.create_user(
                username=username, full_name=f"Load {role} {username}", password=PASSWORD,
                roles=[role], actor=None)
            totp[username] = _enrol(users[username])
        staff = [u for name, u in users.items() if name.startswith("wh")]
        # packable SKUs (light, with customs data) for orders; others for purchase orders
        packable = list(sqla.session.scalars(
            select(Sku.id).where(Sku.status == "active", Sku.hs_code.is_not(None),
                                 Sku.customs_description.is_not(None), Sku.weight_g < 600)
            .order_by(Sku.id)))
        for_orders = packable[::2]
        for_purchasing = packable[1::2]
        services = _shipping_setup(len(staff) * per_packer * 2 + 100)
        now = utcnow()
        number = _history(for_orders, services, db.scale(3_000), now, start=1)
        packing, number = _packing_work(staff, per_packer, for_orders, now, number)
        # some allocated orders waiting for a wave, and a morning's new orders
        extra = db.scale(300)
        _insert_orders([_order_row(f"WEB-{number + i:07d}", i, now - timedelta(hours=2),
                                   "new") for i in range(extra)], for_orders, number)
        order_services.allocate_orders(actor=None)
        number += extra
        _insert_orders([_order_row(f"WEB-{number + i:07d}", i, now - timedelta(minutes=30),
                                   "new") for i in range(extra)], for_orders, number)
        receiving = _receiving_work(staff, per_receiver, for_purchasing, suppliers)
        procurement_data.insert_open_orders(for_purchasing[len(staff) * per_receiver
                                                           * PO_LINES:],
                                            suppliers, orders=max(8, n_skus // 500),
                                            lines_per_order=10)
        sqla.session.commit()
        order_ids = list(sqla.session.scalars(select(CustomerOrder.id).order_by(
            func.random()).limit(200)))
        search = ["tee", "Merino", "Chino", "tote", f"SKU{n_skus // 3:07d}"[:8], "runner",
                  "Yoga", "BR02"]
        orders = sqla.session.scalar(select(func.count()).select_from(CustomerOrder))
        storefront = None
        if api:
            _token, plaintext = order_services.create_api_token("load storefront", actor=None)
            codes = list(sqla.session.scalars(select(Sku.code).where(Sku.id.in_(
                for_orders[:200])).order_by(Sku.id)))
            sqla.session.commit()
            storefront = {**api, "token": plaintext, "skus": codes,
                          "prefix": API_ORDER_PREFIX}
        _analyse(db)
        sqla.engine.dispose()
    log(f"   data: {n_skus:,} SKUs, {orders:,} orders, {len(staff)} warehouse accounts with "
        f"{per_packer} picked orders and {per_receiver} purchase orders each, built in "
        f"{time.perf_counter() - started:.0f} s")
    return {"password": PASSWORD, "totp": totp,
            "warehouse": [{"username": name, "orders": packing[name],
                           "purchase_orders": receiving[name], "box": BOX_CODE}
                          for name in sorted(packing)],
            "office": [name for name, role in _accounts(accounts) if role != "warehouse"],
            "browse": {"order_ids": order_ids, "search": search},
            **({"api": storefront} if storefront else {}),
            "orders": orders, "skus": n_skus}


def _analyse(db: BenchDB) -> None:
    """Refresh the planner statistics of the bulk-written tables, as autovacuum would."""
    from erp.extensions import db as sqla

    if db.kind != "postgresql":
        return
    with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        quote = conn.dialect.identifier_preparer.quote  # "user" is a reserved word
        names = ", ".join(quote(name) for name in sqla.metadata.tables)
        conn.exec_driver_sql(f"VACUUM ANALYZE {names}")  # table names from our own metadata


# --------------------------------------------------------------------------- the processes


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_server(url: str, port: int, workers: int, log_path: Path, *,
                 two_factor_required: bool = False, env: dict[str, str] | None = None,
                 boot_seconds: int = 60, args: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start gunicorn on the database ``url``; return once ``/health`` answers.

    gunicorn reads the tree's ``gunicorn.conf.py`` (as in production); ``args`` are further
    command-line options (they win over it).

    ``two_factor_required`` (``ERP_TWO_FACTOR_REQUIRED``) is off unless asked for: the staff of
    most benchmarks and of the concurrency suite sign in with a password alone; the ``load``
    bench enrols its staff and signs in with codes, the rule on. ``env`` adds or overrides
    environment variables of the server (``ERP_REDIS_URL`` ...).

    :raises RuntimeError: if the server exits or does not answer within ``boot_seconds``.
    """
    env = {**os.environ, "ERP_DATABASE_URL": url, "ERP_SECRET_KEY": SECRET_KEY,
           "ERP_SECURE_COOKIES": "0",
           # 20 staff sign in from one address within seconds: the limits measure the
           # limiter, not the app, so they are set out of reach (they cannot be switched off)
           "ERP_API_RATE_LIMIT": "100000 per minute",
           "ERP_LOGIN_RATE_LIMIT": "10000 per minute",
           "ERP_TWO_FACTOR_REQUIRED": "1" if two_factor_required else "0", **(env or {})}
    logfile = open(log_path, "wb")  # noqa: SIM115 - closed when the server stops
    # served as production serves it: the tree's gunicorn settings where it has them (a tree
    # of an older commit, measured for a before figure, is served as that commit was)
    config = ("-c", str(GUNICORN_CONF)) if GUNICORN_CONF.is_file() else ()
    proc = subprocess.Popen(
        [_venv_bin("gunicorn"), *config, "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--timeout", "60", *args, "erp.wsgi:app"],
        cwd=ROOT, env=env, stdout=logfile, stderr=subprocess.STDOUT)
    proc.logfile = logfile
    deadline = time.monotonic() + boot_seconds
    health = f"http://127.0.0.1:{port}/health"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop_server(proc)
            raise RuntimeError(f"gunicorn exited ({proc.returncode}): "
                               + log_path.read_text(errors="replace")[-2000:])
        if _answers(health):
            break
        time.sleep(0.3)
    else:
        stop_server(proc)
        raise RuntimeError(f"gunicorn did not answer /health within {boot_seconds} s: "
                           + log_path.read_text(errors="replace")[-2000:])
    # every worker imports the app on its own: wait until all have booted and answered
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and \
            log_path.read_text(errors="replace").count("Booting worker") < workers:
        time.sleep(0.2)
    for _ in range(4 * workers):
        _answers(f"http://127.0.0.1:{port}/login")
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    """Stop gunicorn: SIGTERM (a graceful shutdown), then SIGKILL after 20 seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    logfile = getattr(proc, "logfile", None)
    if logfile is not None:
        logfile.close()


def server_cpu_seconds(master_pid: int) -> float | None:
    """Return the CPU seconds (user + system) the gunicorn workers of ``master_pid`` have used.

    Read from ``/proc`` (Linux); None elsewhere. Unlike response times, this does not grow when
    other work on the machine competes for the CPUs.
    """
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, found = 0, False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == master_pid:  # the parent pid: one of the workers
            total += int(fields[11]) + int(fields[12])  # utime + stime, in ticks
            found = True
    return total / tick if found else None


def run_locust(host: str, work_path: Path, csv_prefix: Path, *, users: int, seconds: int,
               log_path: Path, extra_users: int = 0) -> int:
    """Run locust headless against ``host``; return its exit code (1 when a request failed).

    ``users`` staff sign in at ``users / 2`` a second; ``extra_users`` are the storefront's
    API users (``Storefront.fixed_count``, from the work file), started on top of them.
    """
    env = {**os.environ, "ERP_LOAD_WORK": str(work_path),
           "ERP_LOAD_SIGNED_IN": str(csv_prefix) + "_signed_in.json"}
    spawn_rate = max(1, users // 2)
    users += extra_users
    cmd = [_venv_bin("locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(users),
           "-r", str(spawn_rate), "-t", f"{seconds}s", "--host", host, "--csv",
           str(csv_prefix), "--only-summary", "--stop-timeout", "10"]
    with open(log_path, "wb") as logfile:
        try:
            proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=logfile,
                                  stderr=subprocess.STDOUT, timeout=seconds + 120, check=False)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"locust did not finish within {seconds + 120} s") from err
    return proc.returncode


def _outcome(db: BenchDB, app, *, api: bool = False) -> dict:
    """Check the ledger and count the work done during the run.

    With ``api``, also ``api_orders``: how many of the storefront's orders the app took in.
    """
    from sqlalchemy import func, select

    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder
    from erp.procurement.models import Receipt
    from erp.shipping.models import Parcel, ParcelState
    from erp.warehouse.queries import ledger_problems

    with app.app_context():
        problems = ledger_problems(sqla.session)
        labelled = sqla.session.scalar(select(func.count()).select_from(Parcel).where(
            Parcel.state == ParcelState.labelled)) or 0
        receipts = sqla.session.scalar(select(func.count()).select_from(Receipt)) or 0
        api_orders = sqla.session.scalar(select(func.count()).select_from(CustomerOrder).where(
            CustomerOrder.number.startswith(API_ORDER_PREFIX))) if api else None
        sqla.engine.dispose()
    for problem in problems[:5]:
        log(f"   ledger: {problem}")
    return {"ledger_ok": not problems, "parcels_labelled": labelled, "receipts": receipts,
            **({"api_orders": api_orders} if api else {})}


@bench("load", kinds=("postgresql",))
def load(db: BenchDB) -> dict:
    """20 simulated staff for 60 s against gunicorn (4 workers) on PostgreSQL.

    ``--quick``: 5 users for 10 s on a tenth of the data.
    """
    if db.quick:
        return run_load(db, users=5, seconds=10, per_packer=10, per_receiver=2)
    return run_load(db, users=20, seconds=60, per_packer=40, per_receiver=3)


@bench("load_100", kinds=("postgresql",))
def load_100(db: BenchDB) -> dict:
    """100 simulated staff plus storefront orders through the API at 10 a second, for 120 s.

    The staff are ``load``'s mix five times over (:data:`ACCOUNTS_100`: 50 warehouse, 20
    purchasing, 15 customer service, 15 managers; locust's weights make 30 packers, 20
    receivers and 50 office users), each on its own orders and purchase orders, signing in
    with a password and a code. The storefront is 10 API users posting an order each second
    (``POST /api/v1/orders`` with a Bearer token created at build time). ``api_orders`` counts
    the orders the app took in.

    ``--quick``: 10 staff plus 2 orders a second for 15 s, on a tenth of the data.
    """
    if db.quick:
        return run_load(db, users=10, seconds=15, per_packer=10, per_receiver=2,
                        accounts=ACCOUNTS_100_QUICK, api={"users": 2, "per_second": 2})
    return run_load(db, users=100, seconds=120, per_packer=30, per_receiver=3,
                    accounts=ACCOUNTS_100, api={"users": 10, "per_second": 10})


def run_load(db: BenchDB, *, users: int, seconds: int, per_packer: int, per_receiver: int,
             accounts: tuple = ACCOUNTS, api: dict | None = None, workers: int = 4) -> dict:
    """Build the data, start gunicorn, play ``users`` staff (and the ``api`` storefront).

    ``load`` and ``load_100`` are this with their sizes; see :func:`build_data` for
    ``accounts`` and ``api``.
    """
    app = make_app(db)
    work = build_data(db, app, per_packer=per_packer, per_receiver=per_receiver,
                      accounts=accounts, api=api)
    with tempfile.TemporaryDirectory(prefix="erp-load-") as tmp:
        tmp_path = Path(tmp)
        work_path = tmp_path / "work.json"
        work_path.write_text(json.dumps(work))
        port = free_port()
        host_load = round(os.getloadavg()[0], 2)  # other work on the machine skews the figures
        # every account is enrolled and signs in with a code; the roles' rule is on
        server = start_server(db.url, port, workers, tmp_path / "gunicorn.log",
                              two_factor_required=True)
        try:
            log(f"   gunicorn -w {workers} on port {port}; locust: {users} users for {seconds} s"
                + (f" and {api['per_second']} API orders a second from {api['users']} users"
                   if api else "")
                + f" (load average before: {host_load} on {os.cpu_count()} CPUs)")
            cpu_before = server_cpu_seconds(server.pid)
            started = time.perf_counter()
            code = run_locust(f"http://127.0.0.1:{port}", work_path, tmp_path / "load",
                              users=users, seconds=seconds, log_path=tmp_path / "locust.log",
                              extra_users=api["users"] if api else 0)
            took = time.perf_counter() - started
            cpu_after = server_cpu_seconds(server.pid)
        finally:
            stop_server(server)
        stats_path = tmp_path / "load_stats.csv"
        if not stats_path.exists():
            raise RuntimeError(f"locust wrote no statistics (exit {code}): "
                               + (tmp_path / "locust.log").read_text(errors="replace")[-3000:])
        figures = parse_stats(stats_path)
        signed_in_path = tmp_path / "load_signed_in.json"
        at_work = json.loads(signed_in_path.read_text()) if signed_in_path.exists() else {}
        failures = tmp_path / "load_failures.csv"
        if figures["errors"] and failures.exists():
            log("   failures:\n" + failures.read_text(errors="replace")[:3000])
        server_log = (tmp_path / "gunicorn.log").read_text(errors="replace")
        if "Traceback" in server_log:
            log("   gunicorn log (tail):\n" + server_log[-3000:])
    outcome = _outcome(db, app, api=bool(api))
    by_name = figures.pop("by_name")
    server_cpu = None
    if cpu_before is not None and cpu_after is not None and figures["n"]:
        server_cpu = round((cpu_after - cpu_before) * 1000 / figures["n"], 1)
    log(f"   {figures['n']:,} requests in {took:.0f} s ({figures['per_second']}/s): p50 "
        f"{figures['p50_ms']:.0f} ms, p95 {figures['p95_ms']:.0f} ms, p99 "
        f"{figures['p99_ms']:.0f} ms, {figures['errors']} errors (once all signed in: "
        f"{at_work.get('n', 0):,} requests, p50 {at_work.get('p50_ms', 0):.0f} ms, p95 "
        f"{at_work.get('p95_ms', 0):.0f} ms); "
        f"{outcome['parcels_labelled']} parcels labelled, {outcome['receipts']} receipts, "
        + (f"{outcome['api_orders']} API orders taken in, " if api else "")
        + f"ledger {'balances' if outcome['ledger_ok'] else 'DOES NOT balance'}; the app "
        f"used {server_cpu} ms of CPU per request")
    for name, row in sorted(by_name.items(), key=lambda item: -item[1]["p95_ms"]):
        log(f"     {row['p95_ms']:>7.0f} ms p95  {row['n']:>5}  {row['errors']:>3} err  {name}")
    return {"n": figures["n"], "seconds": seconds, "p50_ms": figures["p50_ms"],
            "p95_ms": figures["p95_ms"], "p99_ms": figures["p99_ms"],
            "per_second": figures["per_second"], "errors": figures["errors"], "users": users,
            "workers": workers, "host_load_1m": host_load,
            "server_cpu_ms_per_request": server_cpu, **outcome,
            # the storefront's pace asked for, and the orders a second the app took in
            **({"api_target_per_second": api["per_second"],
                "api_per_second": round(outcome["api_orders"] / took, 2),
                "api_p95_ms": by_name.get("api: order", {}).get("p95_ms")} if api else {}),
            "slowest_p95_ms": slowest(by_name),
            # the same once every user has signed in (the sign-in storm of the start left out)
            **{f"signed_in_{k}": v for k, v in at_work.items()},
            "orders": work["orders"], "skus": work["skus"]}
