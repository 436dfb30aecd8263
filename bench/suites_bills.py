"""The carrier bill benchmark: ``carrier_bill`` (a 100,000-line bill imported and matched)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, date, datetime
from decimal import Decimal

from bench.runner import BenchDB, bench, log, make_app

PERIOD = (date(2026, 3, 1), date(2026, 3, 31))


def _bill_rows(parcels: list[tuple[str, int]]) -> list[dict]:
    """Return the bill's rows: as many lines as parcels, with disputes of every kind.

    A freight line for each parcel but the last 0.5 % (dispatched, not billed), one in 100 of
    them 300 g over (and 9.80 instead of 4.50); the last 0.5 % of the lines bill parcels a
    second time (two in three) or name unknown tracking numbers (one in three).
    """
    rows = []
    n = len(parcels)
    kept = parcels[: n - n // 200]  # the last half percent: dispatched, not billed
    for i, (tracking, grams) in enumerate(kept):
        over = 300 if i % 100 == 0 else 0
        rows.append({"tracking_number": tracking, "weight_kg": Decimal(grams + over) / 1000,
                     "amount": Decimal("9.80") if over else Decimal("4.50"), "currency": "USD",
                     "shipped_on": PERIOD[0]})
    i = 0
    while len(rows) < n:  # fill up to n lines: duplicates, then unknown numbers
        tracking, grams = kept[i * 2]
        if i % 3 == 2:
            tracking = f"ZZ{i:09d}CN"
        rows.append({"tracking_number": tracking, "weight_kg": Decimal(grams) / 1000,
                     "amount": Decimal("4.50"), "currency": "USD", "shipped_on": PERIOD[0]})
        i += 1
    return rows


def _vacuum(db: BenchDB) -> None:
    """Vacuum and analyse the parcels and bill lines, as autovacuum keeps them between bills."""
    from erp.extensions import db as sqla

    if db.kind == "postgresql":
        with sqla.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE parcel, carrier_bill, carrier_bill_line")
    else:
        sqla.session.execute(sqla.text("ANALYZE"))
        sqla.session.commit()


@bench("carrier_bill")
def carrier_bill(db: BenchDB) -> dict:
    """A 100,000-line carrier bill (.xlsx) imported and matched against 100,000 parcels.

    Untimed: 100,000 labelled parcels of China Post (:func:`create_parcels`), set dispatched
    in March with their chargeable weight and quote; the bill written as an .xlsx workbook
    (one freight line per parcel but the last 0.5 %, 1 % of them 300 g over, the rest of the
    100,000 lines duplicates and unknown tracking numbers). Timed: :func:`bills.import_bill`
    (the upload checks, parsing with python-calamine, every row validated, the parcels and
    earlier bills looked up, 100,000 lines inserted, the parcels' billed cost set) and the
    commit. Median of 3 runs; between runs the bill is deleted and the parcels' billed cost
    cleared, then the tables vacuumed and analysed (untimed, as autovacuum would have done
    long before a month's bill comes). Reported too: the time of the bill page's dispute
    totals (``disputes_seconds``).
    """
    from sqlalchemy import delete, select, update

    from bench.suites_shipping import create_parcels
    from erp.core import excel
    from erp.extensions import db as sqla
    from erp.shipping.bill_queries import dispute_totals
    from erp.shipping.models import Carrier, CarrierBill, CarrierBillLine, Parcel
    from erp.shipping.services import bills

    n = db.scale(100_000)
    runs = 3
    app = make_app(db)
    with app.app_context():
        create_parcels(n)
        at = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
        sqla.session.execute(update(Parcel).values(
            state="dispatched", dispatched_at=at, chargeable_g=Parcel.weight_g,
            quoted_cost=Decimal("4.50"), quoted_currency="USD"))
        sqla.session.commit()
        parcels = sqla.session.execute(select(Parcel.tracking_number, Parcel.weight_g)
                                       .order_by(Parcel.id)).all()
        data = excel.export_workbook(bills.BILL_SPEC, _bill_rows([tuple(p) for p in parcels]))
        carrier_id = sqla.session.scalar(select(Carrier.id).where(Carrier.code == "CNPOST"))
        sqla.session.commit()
        _vacuum(db)
    log(f"   bill of {n:,} lines: {len(data) / 1e6:.1f} MB")
    times, dispute_times = [], []
    outcome = None
    for _run in range(runs):
        with app.app_context():
            carrier = sqla.session.get(Carrier, carrier_id)
            sqla.session.commit()
            start = time.perf_counter()
            result = bills.import_bill(data, filename="bill.xlsx", carrier=carrier,
                                       reference="MAR-2026", period_start=PERIOD[0],
                                       period_end=PERIOD[1], dry_run=False, actor=None,
                                       savepoint=False)
            sqla.session.commit()
            times.append(time.perf_counter() - start)
            assert result.ok, result.errors[:5]
            bill = sqla.session.scalar(select(CarrierBill))
            start = time.perf_counter()
            totals = {t.kind.value: t.count for t in dispute_totals(bill)}
            dispute_times.append(time.perf_counter() - start)
            outcome = (bill.line_count, bill.matched_count, totals)
            # untimed: the next run imports the same bill again
            sqla.session.execute(delete(CarrierBillLine))
            sqla.session.execute(delete(CarrierBill))
            sqla.session.execute(update(Parcel).values(
                billed_cost=None, billed_currency=None, billed_weight_g=None, billed_at=None))
            sqla.session.commit()
            _vacuum(db)
    with app.app_context():
        sqla.engine.dispose()
    seconds = statistics.median(times)
    lines, matched, totals = outcome
    log(f"   {lines:,}-line bill imported and matched in {seconds:.3f} s (median of {runs}); "
        f"{matched:,} matched; disputes {totals} in {statistics.median(dispute_times):.2f} s")
    return {"n": lines, "seconds": round(seconds, 4), "per_second": round(lines / seconds, 1),
            "matched": matched, "disputes_seconds": round(statistics.median(dispute_times), 4),
            **{f"disputes_{k}": v for k, v in totals.items()}, "runs": runs}
