"""The large data set: 100,000 SKUs, 1,000,000 moves, 200,000 orders, 150,000 parcels, 5,000 cases.

``erp demo --scale large`` loads it as a demo database, and the report and dashboard benchmarks
build it in their temporary databases.

Built by bulk ``INSERT`` statements (executemany of lists of dicts, in chunks) with explicit
primary keys into an empty database, so nothing needs ``RETURNING``; PostgreSQL sequences are
moved past the ids afterwards. Everything is deterministic. Call :func:`build` inside an app
context on an empty schema; it commits.

- **Catalog**: ``n_skus`` SKUs of 5 brands (:func:`bench.data.sample_catalog`).
- **Ledger** (10 moves per SKU, spread over ``DAYS`` days up to now): an opening balance and two
  receipts from the supplier into the SKU's bin at their own unit costs, then three picks (bin
  to the packing bench) each followed by its ship (packing bench to the customer). Picks never
  take more than the opening, so no balance goes negative. One SKU in four ships nothing in
  the last 120 days (slow movers). The SKU's average cost is the quantity-weighted cost of its
  three receipts, and ``stock_level`` is rebuilt from the moves in SQL (``INSERT ... SELECT``
  of moves in minus moves out per SKU and physical location), so the ledger is consistent.
- **Orders**: ``n_orders`` orders of one or two lines, placed over ``DAYS`` days to 8 countries on
  4 services with cut-offs; enough of them shipped for about ``n_parcels`` parcels (a dispatched
  parcel with customs lines 4 to 40 hours later, one two-line order in ten split in two
  parcels), 3 % backordered, the rest new. Orders pay by card, PayPal or Alipay; each parcel
  has its rate-table quote in CNY (one in five a billed cost too), and each parcel line's units
  leave the SKU's home bin by a ``ship`` move referencing the parcel at the SKU's average cost,
  as dispatch posts them (``ship_moves``, on top of the ledger's ``n_moves``; the ledger's slow
  movers are never ordered). Monthly EUR and CNY exchange rates cover the period.
- **Purchasing and after-sales**: 20 suppliers, 400 purchase orders of 5 lines in every state
  with receipts, and ``n_cases`` after-sales cases spread evenly over the shipped orders, half of
  them closed with an approved refund.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, insert, select, text, update

from erp.scale import catalog
from erp.scale.catalog import create_bins

DAYS = 500
CHUNK = 20_000
COUNTRIES = ("DE", "FR", "GB", "US", "NL", "IT", "ES", "JP")
SERVICES = (("POST-REG", "Registered air mail", "15:00"), ("EPACKET", "Tracked packet", "16:00"),
            ("EMS", "EMS", "14:00"), ("EXPRESS", "Express worldwide", "17:30"))
PAYMENT_METHODS = ("card", "paypal", "card", "alipay")
REASONS = (("WRONG_SIZE", "Wrong size or fit"), ("DEFECTIVE", "Defective or damaged"),
           ("WRONG_ITEM", "Wrong item sent"), ("CHANGED_MIND", "Changed mind"),
           ("NOT_AS_DESCRIBED", "Not as described"))


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _chunks(rows, size: int = CHUNK):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(table, rows) -> int:
    """Insert an iterable of dicts in chunks; return how many."""
    from erp.extensions import db

    count = 0
    for batch in _chunks(rows):
        db.session.execute(insert(table), batch)
        count += len(batch)
    return count


def _scramble(i: int) -> int:
    return (i * 2654435761) & 0xFFFFFFFF


FIRST_NAMES = ("Anna", "Lukas", "Chloé", "James", "Sofia", "Daan", "Giulia", "Mateo", "Yuki",
               "Olivia", "Noah", "Emma", "Léa", "Oscar", "Mia", "Hugo")
LAST_NAMES = ("Schmidt", "Martin", "Smith", "Johnson", "de Vries", "Rossi", "García", "Tanaka",
              "Müller", "Dubois", "Brown", "Jansen", "Bianchi", "López", "Sato", "Wilson")


LARGE_SIZES = {"n_skus": 100_000, "n_moves": 1_000_000, "n_orders": 200_000,
               "n_parcels": 150_000, "n_cases": 5_000}


def build(n_skus: int = 100_000, n_moves: int = 1_000_000, n_orders: int = 200_000,
          n_parcels: int = 150_000, n_cases: int = 5_000, now: datetime | None = None) -> dict:
    """Generate the data set (see the module); return what was made and how long it took."""
    from erp.catalog.models import Sku
    from erp.extensions import db
    from erp.warehouse import services as warehouse_services
    from erp.warehouse.models import Location, LocationKind

    started = time.perf_counter()
    now = now or datetime.now(UTC).replace(microsecond=0)
    catalog.sample_catalog(n_skus)
    warehouse = warehouse_services.create_warehouse(code="BIG", name="Large warehouse",
                                                    country="CN", actor=None)
    bins = create_bins(warehouse.id, 2_000)
    packing = Location(warehouse_id=warehouse.id, code="PACK-01", kind=LocationKind.packing,
                       pick_sequence=0, active=True)
    db.session.add(packing)
    supplier = warehouse_services.virtual_location(LocationKind.supplier)
    customer = warehouse_services.virtual_location(LocationKind.customer)
    db.session.flush()
    sku_ids = list(db.session.scalars(select(Sku.id).order_by(Sku.id)))
    _log(f"   catalog of {len(sku_ids):,} SKUs in {time.perf_counter() - started:.0f} s")
    moves = _ledger(sku_ids, bins, packing.id, supplier.id, customer.id, n_moves, now)
    orders, parcels, shipped = _orders(sku_ids, n_orders, n_parcels, now, bins, customer.id)
    _log(f"   {orders:,} orders and {parcels:,} parcels in {time.perf_counter() - started:.0f} s")
    levels = _levels(supplier.id, customer.id)
    _log(f"   {moves + shipped:,} moves and {levels:,} levels in "
         f"{time.perf_counter() - started:.0f} s")
    _rates(now)
    # planner statistics for the tables just filled, before the after-sales step joins them
    # (without them PostgreSQL may plan that join as if the tables were empty)
    db.session.execute(text("ANALYZE customer_order"))
    db.session.execute(text("ANALYZE customer_order_line"))
    _purchasing(sku_ids, bins[0], now)
    cases = _aftersales(n_cases, now)
    db.session.commit()
    _fix_sequences()
    # Planner statistics, as autovacuum (PostgreSQL) or a maintenance ANALYZE (SQLite) keeps
    # them on a live database; without them a bulk-loaded table looks empty to the planner.
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    return {"skus": len(sku_ids), "moves": moves, "ship_moves": shipped, "levels": levels,
            "orders": orders, "parcels": parcels, "cases": cases,
            "build_seconds": round(time.perf_counter() - started, 1)}


def _ledger(sku_ids, bins, packing_id, supplier_id, customer_id, n_moves, now) -> int:
    """Insert ``n_moves`` moves (10 per SKU, cycling) and set each SKU's average cost."""
    from erp.catalog.models import Sku
    from erp.extensions import db
    from erp.warehouse.models import MoveKind, StockMove

    start = now - timedelta(days=DAYS)
    n = len(sku_ids)
    per_sku = max(1, n_moves // n)
    costs: dict[int, tuple[int, int]] = {}  # sku -> (costed qty, costed raw)

    def rows():
        for i, sku in enumerate(sku_ids):
            home = bins[i % len(bins)]
            h = _scramble(i)
            base = 100 + h % 900  # cents
            slow = i % 4 == 0
            opening_day = h % 20
            plan = [(MoveKind.opening, supplier_id, home, 40, base, opening_day),
                    (MoveKind.receipt, supplier_id, home, 20, base + 25, 30 + h % 200),
                    (MoveKind.receipt, supplier_id, home, 20, base + 50, 240 + h % 200)]
            last = DAYS - 121 if slow else DAYS - 1
            for k in range(3):
                day = min(last, opening_day + 1 + (h >> (3 + k * 5)) % (last - opening_day))
                qty = 1 + (h >> k) % 5
                plan.append((MoveKind.pick, home, packing_id, qty, 0, day))
                plan.append((MoveKind.ship, packing_id, customer_id, qty, 0, day))
            plan.append((MoveKind.transfer, home, bins[(i * 7 + 1) % len(bins)], 1, 0,
                         opening_day + 1))
            costed_qty = costed_raw = 0
            for j, (kind, src, dst, qty, cents, day) in enumerate(plan[:per_sku]):
                if cents:
                    costed_qty += qty
                    costed_raw += qty * cents * 100
                yield {"sku_id": sku, "from_location_id": src, "to_location_id": dst,
                       "quantity": qty, "unit_cost": Decimal(cents).scaleb(-2),
                       "kind": kind, "ref_type": "bench", "ref_id": i, "actor_id": None,
                       "at": start + timedelta(days=day, minutes=(h >> 4) % 600 + j),
                       "note": None}
            costs[sku] = (costed_qty, costed_raw)

    count = _insert(StockMove.__table__, rows())
    for batch in _chunks(costs.items(), 10_000):
        db.session.execute(update(Sku), [
            {"id": sku, "avg_cost": (Decimal(raw) / qty / 10_000).quantize(Decimal("0.0001"))
             if qty else Decimal(0)} for sku, (qty, raw) in batch])
    return count


def _levels(supplier_id: int, customer_id: int) -> int:
    """Rebuild ``stock_level`` from the moves in SQL: in minus out per SKU and physical bin."""
    from erp.extensions import db

    db.session.execute(text("DELETE FROM stock_level"))
    db.session.execute(text(
        "INSERT INTO stock_level (sku_id, location_id, on_hand, reserved) "
        "SELECT sku_id, loc, SUM(qty), 0 FROM ("
        " SELECT sku_id, to_location_id AS loc, quantity AS qty FROM stock_move"
        " UNION ALL SELECT sku_id, from_location_id, -quantity FROM stock_move) flows "
        "WHERE loc NOT IN (:supplier, :customer) GROUP BY sku_id, loc HAVING SUM(qty) <> 0"),
        {"supplier": supplier_id, "customer": customer_id})
    return db.session.scalar(text("SELECT COUNT(*) FROM stock_level"))


def _orders(sku_ids, n_orders, n_parcels, now, bins, customer_id) -> tuple[int, int, int]:
    """Insert the orders, their lines, parcels and parcel lines with explicit ids.

    One order in two has two lines and one of those in ten ships as two parcels, so a shipped
    order makes 1.05 parcels: the shipped share is chosen to make about ``n_parcels``.

    For the margin report: orders pay by card, PayPal or Alipay in turn; each parcel carries
    the rate table's quote (CNY), one in five a billed cost too; and each parcel line's units
    leave the SKU's home bin by a ``ship`` move referencing the parcel, at the SKU's average
    cost (as dispatch posts them). Returns orders, parcels and those moves.
    """
    from erp.catalog.models import Sku
    from erp.extensions import db
    from erp.orders.models import OrderState
    from erp.shipping.models import (
        Carrier,
        CarrierKind,
        CustomsDocs,
        CustomsForm,
        ParcelState,
        ShippingService,
        TrackingKind,
    )
    from erp.warehouse.models import MoveKind, StockMove

    carrier = Carrier(code="CNPOST", name="China Post", kind=CarrierKind.postal)
    db.session.add(carrier)
    db.session.flush()
    services = []
    for code, name, cutoff in SERVICES:
        service = ShippingService(carrier_id=carrier.id, code=code, name=name,
                                  tracking_kind=TrackingKind.free, cutoff=cutoff,
                                  customs_docs=CustomsDocs.cn23, max_weight_g=30000)
        db.session.add(service)
        services.append(service)
    db.session.flush()
    start = now - timedelta(days=DAYS)
    span = DAYS * 24 * 60
    orders, lines, parcels, parcel_lines = [], [], [], []
    line_id = parcel_id = 0
    n_skus = len(sku_ids)
    price = Decimal("19.90")
    avg_cost = dict(db.session.execute(select(Sku.id, Sku.avg_cost)).all())
    home = {sku: bins[i % len(bins)] for i, sku in enumerate(sku_ids)}
    moves: list[dict] = []
    shipped_moves = 0
    shipped_pct = max(0, min(97, round(100 * n_parcels / (1.05 * n_orders)))) if n_orders else 0
    for o in range(1, n_orders + 1):
        h = _scramble(o)
        placed = start + timedelta(minutes=(o * span) // n_orders)
        if placed > now - timedelta(hours=2):
            placed = now - timedelta(hours=2)
        roll = h % 100
        state = (OrderState.shipped if roll < shipped_pct
                 else OrderState.backordered if roll < shipped_pct + 3 else OrderState.new)
        country = COUNTRIES[h % len(COUNTRIES)]
        service = services[(h >> 3) % len(services)]
        first, last = FIRST_NAMES[(h >> 15) % 16], LAST_NAMES[(h >> 19) % 16]
        name = f"{first} {last}"
        email = f"{first}.{last}.{o}@example.com".lower().replace(" ", "")
        orders.append({"id": o, "number": f"BIG-{o:07d}", "channel": "webshop",
                       "placed_at": placed, "state": state, "priority": 0,
                       "customer_name": name, "email": email,
                       "ship_name": name, "address1": f"{1 + h % 200} Market Street",
                       "city": "City",
                       "postal_code": "10115", "country": country, "currency": "EUR",
                       "shipping_charge": Decimal("4.90"), "shipping_service": service.code,
                       "payment_method": PAYMENT_METHODS[h % len(PAYMENT_METHODS)],
                       "created_at": placed})
        my_lines = []
        for j in range(1 + (h >> 5) % 2):
            line_id += 1
            index = (h >> 7) % n_skus if j == 0 else (h >> 9) % n_skus
            if index % 4 == 0 and n_skus > 1:
                index = (index + 1) % n_skus  # slow movers (the ledger's) sell nothing
            sku = sku_ids[index]
            qty = 1 + j
            my_lines.append((line_id, sku, qty))
            lines.append({"id": line_id, "order_id": o, "sku_id": sku, "quantity": qty,
                          "unit_price": price, "allocated_qty": 0})
        if state == OrderState.shipped:
            sent = min(now - timedelta(minutes=30),
                       placed + timedelta(hours=4 + (h >> 11) % 37))
            split = (h >> 13) % 10 == 0 and len(my_lines) == 2
            groups = [my_lines[:1], my_lines[1:]] if split else [my_lines]
            for seq, group in enumerate(groups, start=1):
                parcel_id += 1
                quote = Decimal(30 + (h >> 17) % 40)
                billed = (h >> 21) % 5 == 0
                parcels.append({
                    "id": parcel_id, "number": f"PCL-{parcel_id:07d}", "order_id": o,
                    "service_id": service.id, "sequence": seq, "state": ParcelState.dispatched,
                    "tracking_number": f"TRK{parcel_id:09d}", "weight_g": 300 + h % 900,
                    "length_mm": 250, "width_mm": 180, "height_mm": 50,
                    "declared_value": price * sum(q for _, _, q in group), "currency": "EUR",
                    "customs_form": CustomsForm.cn23, "customs_category": "sale_of_goods",
                    "dutiable": False, "packed_at": sent - timedelta(hours=1),
                    "labelled_at": sent - timedelta(hours=1), "dispatched_at": sent,
                    "quoted_cost": quote, "quoted_currency": "CNY",
                    "chargeable_g": 300 + h % 900,
                    "billed_cost": quote + Decimal(h % 7) if billed else None,
                    "billed_currency": "CNY" if billed else None,
                    "billed_weight_g": 300 + h % 900 + 50 if billed else None,
                    "billed_at": sent + timedelta(days=20) if billed else None})
                for lid, sku, qty in group:
                    parcel_lines.append({
                        "parcel_id": parcel_id, "order_line_id": lid, "sku_id": sku,
                        "quantity": qty, "description": "Cotton T-shirt", "hs_code": "610910",
                        "origin_country": "CN", "net_weight_g": 180 * qty, "unit_value": price})
                    moves.append({"sku_id": sku, "from_location_id": home[sku],
                                  "to_location_id": customer_id, "quantity": qty,
                                  "unit_cost": avg_cost[sku] or Decimal(0), "kind": MoveKind.ship,
                                  "ref_type": "parcel", "ref_id": parcel_id, "actor_id": None,
                                  "at": sent, "note": None})
        if len(orders) >= CHUNK:
            _flush_orders(orders, lines, parcels, parcel_lines)
            shipped_moves += _insert(StockMove.__table__, moves)
            moves.clear()
    _flush_orders(orders, lines, parcels, parcel_lines)
    shipped_moves += _insert(StockMove.__table__, moves)
    return n_orders, parcel_id, shipped_moves


def _rates(now) -> None:
    """Monthly EUR and CNY rates to the base currency over the data set's days."""
    from erp.core import settings
    from erp.core.models import ExchangeRate
    from erp.extensions import db

    base = settings.base_currency()
    first = (now - timedelta(days=DAYS + 31)).date().replace(day=1)
    rows = []
    for currency, start in (("EUR", Decimal("1.0800")), ("CNY", Decimal("0.1390"))):
        if currency == base:
            continue
        day, step = first, 0
        while day <= now.date():
            rows.append({"currency": currency, "valid_from": day,
                         "rate": start + Decimal(step % 7 - 3).scaleb(-3 if currency == "EUR"
                                                                     else -4)})
            day = (day + timedelta(days=32)).replace(day=1)
            step += 1
    # rates the demo's base data already holds stay as they are
    held = set(db.session.execute(select(ExchangeRate.currency, ExchangeRate.valid_from)).all())
    rows = [row for row in rows if (row["currency"], row["valid_from"]) not in held]
    if rows:
        db.session.execute(insert(ExchangeRate.__table__), rows)


def _flush_orders(orders, lines, parcels, parcel_lines) -> None:
    from erp.extensions import db
    from erp.orders.models import CustomerOrder, CustomerOrderLine
    from erp.shipping.models import Parcel, ParcelLine

    for model, rows in ((CustomerOrder, orders), (CustomerOrderLine, lines), (Parcel, parcels),
                        (ParcelLine, parcel_lines)):
        if rows:
            db.session.execute(insert(model.__table__), rows)
            rows.clear()


def _purchasing(sku_ids, bin_id, now) -> None:
    """20 suppliers, 400 purchase orders of 5 lines in every state, receipts on the received."""
    from erp.extensions import db
    from erp.procurement.models import (
        PurchaseOrder,
        PurchaseOrderLine,
        PurchaseOrderState,
        Receipt,
        ReceiptLine,
        Supplier,
    )

    db.session.execute(insert(Supplier.__table__), [
        {"id": s, "code": f"SUP{s:03d}", "name": f"Supplier {s}", "country": "CN",
         "currency": "USD" if s % 2 else "EUR", "lead_time_days": 14, "active": True,
         "created_at": now} for s in range(1, 21)])
    states = list(PurchaseOrderState)
    pos, po_lines, receipts, receipt_lines = [], [], [], []
    line_id = 0
    for p in range(1, 401):
        h = _scramble(p)
        state = states[p % len(states)]
        ordered = (now - timedelta(days=h % 120)).date()
        pos.append({"id": p, "number": f"PO-{p:06d}", "supplier_id": 1 + p % 20,
                    "state": state, "currency": "USD" if (1 + p % 20) % 2 else "EUR",
                    "expected_date": ordered + timedelta(days=14), "ordered_on": ordered,
                    "created_at": now - timedelta(days=h % 120 + 1)})
        received = state in (PurchaseOrderState.received, PurchaseOrderState.closed,
                             PurchaseOrderState.partially_received)
        if received:
            receipts.append({"id": p, "number": f"RC-{p:06d}", "order_id": p,
                             "location_id": bin_id, "state": "posted",
                             "received_at": datetime.combine(
                                 ordered + timedelta(days=10 + h % 10), datetime.min.time(),
                                 UTC)})
        for j in range(5):
            line_id += 1
            qty = 50 + (h >> j) % 50
            got = qty if state != PurchaseOrderState.partially_received else qty // 2
            po_lines.append({"id": line_id, "order_id": p,
                             "sku_id": sku_ids[(h + j * 7919) % len(sku_ids)], "quantity": qty,
                             "unit_price": Decimal(200 + h % 300).scaleb(-2),
                             "received_qty": got if received else 0, "cancelled_qty": 0})
            if received:
                receipt_lines.append({"receipt_id": p, "order_line_id": line_id,
                                      "sku_id": po_lines[-1]["sku_id"], "quantity": got,
                                      "unit_cost_base": Decimal("2.5000")})
    for model, rows in ((PurchaseOrder, pos), (PurchaseOrderLine, po_lines),
                        (Receipt, receipts), (ReceiptLine, receipt_lines)):
        db.session.execute(insert(model.__table__), rows)


def _aftersales(n_cases: int, now) -> int:
    """``n_cases`` cases spread over the shipped orders (reasons cycling), half refunded."""
    from erp.aftersales.models import (
        AfterSalesCase,
        CaseLine,
        CaseState,
        CaseType,
        ReasonCode,
        Refund,
        RefundState,
    )
    from erp.extensions import db
    from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState

    db.session.execute(insert(ReasonCode.__table__), [
        {"id": i, "code": code, "name": name, "sort_order": i, "active": True}
        for i, (code, name) in enumerate(REASONS, start=1)])
    shipped = db.session.scalar(select(func.count()).select_from(CustomerOrder)
                                .where(CustomerOrder.state == OrderState.shipped)) or 0
    step = max(1, shipped // n_cases) if n_cases else 0
    first_lines: dict[int, tuple] = {}
    if step:
        query = (select(CustomerOrder.id, CustomerOrder.placed_at, CustomerOrderLine.id,
                        CustomerOrderLine.sku_id, CustomerOrder.customer_name,
                        CustomerOrder.email)
                 .join(CustomerOrderLine, CustomerOrderLine.order_id == CustomerOrder.id)
                 .where(CustomerOrder.state == OrderState.shipped)
                 .order_by(CustomerOrder.id, CustomerOrderLine.id))
        index, last = -1, None
        for order_id, placed, line_id, sku_id, name, email in db.session.execute(query):
            if order_id == last:
                continue  # only each order's first line
            last, index = order_id, index + 1
            if index % step == 0 and len(first_lines) < n_cases:
                first_lines[order_id] = (placed, line_id, sku_id, name, email)
    cases, case_lines, refunds = [], [], []
    for n, (order_id, picked) in enumerate(first_lines.items(), start=1):
        placed, line_id, sku_id, name, email = picked
        opened = min(now - timedelta(minutes=10), placed + timedelta(days=5))
        cases.append({"id": n, "number": f"RMA-{n:07d}", "order_id": order_id,
                      "case_type": CaseType.return_refund, "reason_id": 1 + n % len(REASONS),
                      "state": CaseState.closed if n % 2 else CaseState.open,
                      "contact_name": name, "contact_email": email,
                      "due_at": opened + timedelta(days=3),
                      "opened_at": opened})
        case_lines.append({"case_id": n, "order_line_id": line_id, "sku_id": sku_id,
                           "quantity": 1})
        if n % 2:
            refunds.append({"case_id": n, "kind": "refund", "amount": Decimal("19.90"),
                            "currency": "EUR", "state": RefundState.approved,
                            "requested_at": opened, "decided_at": opened + timedelta(hours=2)})
    for model, rows in ((AfterSalesCase, cases), (CaseLine, case_lines), (Refund, refunds)):
        for batch in _chunks(rows):
            db.session.execute(insert(model.__table__), batch)
    return len(cases)


def _fix_sequences() -> None:
    """On PostgreSQL, move the id sequences past the explicit ids inserted."""
    from erp.extensions import db

    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.begin() as conn:
        for table in ("customer_order", "customer_order_line", "parcel", "parcel_line",
                      "supplier", "purchase_order", "purchase_order_line", "receipt",
                      "reason_code", "aftersales_case"):
            conn.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"))
