"""A customs ledger written directly, for the monthly summary's benchmark and tests.

The ledger is normally written at batch close (customs export); here its rows are inserted with
Core bulk inserts, together with the real orders, parcels and closed batch the foreign keys
need, so a month of 150,000 parcels takes seconds. Call inside an app context; flushes, never
commits.

A parcel is described by a dict (every key optional, :data:`PARCEL_DEFAULTS`) and its lines by
dicts (:data:`LINE_DEFAULTS`); ``declare=False`` leaves a dispatched parcel without declaration.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import insert, select

CHUNK = 10_000

PARCEL_DEFAULTS = {
    "order_trade_mode": "9610", "period": "2026-11", "ie_date": "20261115", "trade_mode": "9610",
    "ebc_code": "4403960ABC", "port_code": "5301", "country": "304", "currency": "142",
    "declare": True,
}
LINE_DEFAULTS = {
    "gcode": "6109100021", "country": "304", "currency": "142", "qty": Decimal(1), "unit": "011",
    "qty1": Decimal(1), "unit1": "011", "qty2": Decimal("0.2"), "unit2": "035",
    "price": Decimal("100"), "total_price": None,
}


def _setup(tag: str):
    """Return (sku ids, service id, batch id): a few SKUs, a carrier and a closed batch."""
    from erp.catalog.models import Sku
    from erp.extensions import db
    from erp.scale import catalog
    from erp.shipping.models import (
        BatchState,
        Carrier,
        CarrierKind,
        CustomsDocs,
        DispatchBatch,
        ShippingService,
        TrackingKind,
    )

    sku_ids = list(db.session.scalars(select(Sku.id).order_by(Sku.id).limit(10)))
    if not sku_ids:
        catalog.sample_catalog(10, brands=1)
        sku_ids = list(db.session.scalars(select(Sku.id).order_by(Sku.id).limit(10)))
    carrier = Carrier(code=f"C9610{tag}", name="China Post (9610)", kind=CarrierKind.postal)
    service = ShippingService(carrier=carrier, code=f"C9610-{tag}", name="Registered air mail",
                              tracking_kind=TrackingKind.free, customs_docs=CustomsDocs.cn23,
                              max_weight_g=30000)
    at = datetime(2026, 11, 15, 8, 0, tzinfo=UTC)
    batch = DispatchBatch(number=f"B9610-{tag}", carrier=carrier, state=BatchState.closed,
                          opened_at=at, closed_at=at)
    db.session.add_all([carrier, service, batch])
    db.session.flush()
    return sku_ids, service.id, batch.id


def _chunks(items: Iterable, size: int = CHUNK) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def insert_ledger(parcels: Iterable[dict], *, tag: str = "T") -> dict:
    """Insert the described parcels (orders, parcels, declarations, lines); return counts.

    ``tag`` keeps numbers apart when called twice on one database. Returns ``{"parcels",
    "declarations", "lines", "batch_id", "parcel_numbers"}`` (the numbers in order).
    """
    from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
    from erp.extensions import db
    from erp.orders.models import CustomerOrder
    from erp.shipping.models import CustomsForm, Parcel, ParcelState

    sku_ids, service_id, batch_id = _setup(tag)
    at = datetime(2026, 11, 15, 8, 0, tzinfo=UTC)
    counts = {"parcels": 0, "declarations": 0, "lines": 0, "batch_id": batch_id,
              "parcel_numbers": []}
    index = 0
    for chunk in _chunks(parcels):
        specs = [{**PARCEL_DEFAULTS, **spec} for spec in chunk]
        numbers = [f"{tag}{index + k:07d}" for k in range(len(specs))]
        index += len(specs)
        db.session.execute(insert(CustomerOrder), [{
            "number": f"O{number}", "placed_at": at, "state": "shipped", "customer_name": "Buyer",
            "ship_name": "Buyer", "address1": "Hauptstrasse 1", "city": "Berlin",
            "postal_code": "10115", "country": "DE", "currency": "CNY",
            "shipping_charge": Decimal(0), "priority": 0, "channel": "webshop",
            "trade_mode": spec["order_trade_mode"], "payment_provider": "Alipay",
            "payment_transaction": f"T{number}", "payment_amount": Decimal(0),
            "payment_currency": "CNY", "paid_at": at, "created_at": at}
            for number, spec in zip(numbers, specs, strict=True)])
        order_ids = dict(db.session.execute(
            select(CustomerOrder.number, CustomerOrder.id)
            .where(CustomerOrder.number.in_([f"O{n}" for n in numbers]))).all())
        db.session.execute(insert(Parcel), [{
            "number": f"P{number}", "order_id": order_ids[f"O{number}"],
            "service_id": service_id, "batch_id": batch_id, "sequence": 1,
            "state": ParcelState.dispatched, "tracking_number": f"TR{number}", "weight_g": 500,
            "length_mm": 250, "width_mm": 180, "height_mm": 50, "declared_value": Decimal(0),
            "currency": "CNY", "customs_form": CustomsForm.cn23, "dutiable": False,
            "packed_at": at, "labelled_at": at, "dispatched_at": at} for number in numbers])
        parcel_ids = dict(db.session.execute(
            select(Parcel.number, Parcel.id)
            .where(Parcel.number.in_([f"P{n}" for n in numbers]))).all())
        counts["parcels"] += len(numbers)
        counts["parcel_numbers"].extend(f"P{n}" for n in numbers)
        heads, all_lines = [], {}
        for k, (number, spec) in enumerate(zip(numbers, specs, strict=True)):
            if not spec["declare"]:
                continue
            lines = [{**LINE_DEFAULTS, **line} for line in spec.get("lines") or [{}]]
            for line in lines:
                if line["total_price"] is None:
                    line["total_price"] = line["price"] * line["qty"]
            all_lines[f"CN{number}"] = lines
            value = sum((line["total_price"] for line in lines), Decimal(0))
            heads.append({
                "parcel_id": parcel_ids[f"P{number}"], "batch_id": batch_id,
                "order_id": order_ids[f"O{number}"], "issued_at": at,
                "period": spec["period"], "ie_date": spec["ie_date"], "cop_no": f"CN{number}",
                "order_no": f"O{number}", "ebp_code": spec["ebc_code"],
                "ebc_code": spec["ebc_code"], "owner_code": spec["ebc_code"],
                "agent_code": "4403980XYZ", "logistics_code": "1100000001",
                "logistics_no": f"TR{number}", "customs_code": spec["port_code"],
                "port_code": spec["port_code"], "trade_mode": spec["trade_mode"],
                "traf_mode": "5", "country": spec["country"], "currency": spec["currency"],
                "goods_value": spec.get("goods_value", value), "order_freight": Decimal(0),
                "freight": Decimal(0), "insured_fee": Decimal(0), "payment_amount": value,
                "pay_code": None, "pay_name": "Alipay", "pay_no": f"T{number}",
                "accounting_date": spec["ie_date"] + "080000",
                "logistics_name": "China Post", "goods_info": "T-shirt",
                "gross_weight": Decimal("0.5"), "net_weight": Decimal("0.4"), "pack_no": 1,
                "_k": k})
        if not heads:
            continue
        db.session.execute(insert(CustomsDeclaration),
                           [{key: v for key, v in h.items() if key != "_k"} for h in heads])
        declaration_ids = dict(db.session.execute(
            select(CustomsDeclaration.cop_no, CustomsDeclaration.id)
            .where(CustomsDeclaration.cop_no.in_([h["cop_no"] for h in heads]))).all())
        rows = []
        for h in heads:
            for gnum, line in enumerate(all_lines[h["cop_no"]], start=1):
                sku_id = sku_ids[(h["_k"] + gnum) % len(sku_ids)]
                rows.append({
                    "declaration_id": declaration_ids[h["cop_no"]], "gnum": gnum,
                    "sku_id": sku_id, "item_no": f"SKU{sku_id}", "item_name": "Cotton T-shirt",
                    "gcode": line["gcode"], "gname": "棉制针织T恤衫", "gmodel": "针织|棉100%",
                    "bar_code": "无", "country": line["country"],
                    "currency": line["currency"], "qty": line["qty"], "unit": line["unit"],
                    "qty1": line["qty1"], "unit1": line["unit1"], "qty2": line["qty2"],
                    "unit2": line["unit2"], "price": line["price"],
                    "total_price": line["total_price"]})
        db.session.execute(insert(CustomsDeclarationLine), rows)
        counts["declarations"] += len(heads)
        counts["lines"] += len(rows)
    db.session.flush()
    return counts


#: the month's mix for the benchmark: (gcode, unit1, unit2, qty2 per unit)
BENCH_CODES = (("6109100021", "011", "035", Decimal("0.18")),
               ("6110200029", "011", "035", Decimal("0.35")),
               ("6204430090", "011", "035", Decimal("0.25")),
               ("4202220090", "011", None, None),
               ("6404199000", "025", "035", Decimal("0.60")))
BENCH_COUNTRIES = ("304", "303", "305", "502", "116", "307")
BENCH_CURRENCIES = ("142", "300", "502")


def bench_parcels(n: int, period: str = "2026-11") -> Iterator[dict]:
    """Describe ``n`` parcels of one month: 1.5 lines each on average, five HS codes."""
    year, month = period.split("-")
    for i in range(n):
        country = BENCH_COUNTRIES[i % len(BENCH_COUNTRIES)]
        currency = BENCH_CURRENCIES[(i // 7) % len(BENCH_CURRENCIES)]
        lines = []
        for j in range(1 + i % 2):
            gcode, unit1, unit2, weight = BENCH_CODES[(i + 3 * j) % len(BENCH_CODES)]
            qty = Decimal(1 + (i + j) % 3)
            lines.append({"gcode": gcode, "country": country, "currency": currency,
                          "qty": qty, "qty1": qty, "unit1": unit1,
                          "qty2": weight * qty if weight is not None else None,
                          "unit2": unit2, "price": Decimal("59.90") + (i % 40)})
        yield {"period": period, "ie_date": f"{year}{month}{1 + i % 28:02d}",
               "country": country, "currency": currency, "lines": lines}
