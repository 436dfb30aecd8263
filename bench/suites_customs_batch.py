"""Customs benchmark ``customs_batch``: the 9610 export of a closed 5,000-parcel batch."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal

from bench.runner import BenchDB, bench, log, make_app
from bench.suites_shipping import create_parcels

COMPANY = {
    "customs_ebp_code": "4403960S01", "customs_ebp_name": "深圳市样例跨境电商有限公司",
    "customs_ebc_code": "4403960S01", "customs_ebc_name": "深圳市样例跨境电商有限公司",
    "customs_owner_code": "4403960S01", "customs_owner_name": "深圳市样例跨境电商有限公司",
    "customs_agent_code": "4403980B03", "customs_agent_name": "深圳市样例报关有限公司",
    "customs_cop_code": "4403980B03", "customs_cop_name": "深圳市样例报关有限公司",
    "customs_dxp_id": "DXPENT0000054321", "customs_customs_code": "5317",
    "customs_port_code": "5317",
    "customs_logistics_codes": "CNPOST 4403980L02 深圳市样例国际物流有限公司",
    "customs_pay_codes": "PayPal 4403960P04 深圳市样例跨境支付有限公司",
}


def create_closed_batch(n: int) -> int:
    """Insert ``n`` labelled parcels of paid 9610 orders in one batch, write its ledger.

    Built with bulk statements (the shipping benchmark's parcels, then UPDATEs making their
    orders 9610 and paid, SKUs with Chinese customs data); the ledger is written by the same
    function a batch close calls. Returns the batch id. Committed.
    """
    from sqlalchemy import func, select, update

    from erp.catalog.models import Sku
    from erp.core.models import Setting
    from erp.customs import ledger
    from erp.extensions import db as sqla
    from erp.orders.models import CustomerOrder, CustomerOrderLine
    from erp.shipping.models import Carrier, DispatchBatch, Parcel

    create_parcels(n)
    session = sqla.session
    session.add_all([Setting(key=k, value=v) for k, v in COMPANY.items()])
    session.execute(update(Sku).values(
        cn_hs_code="6109100021", cn_name="T恤衫", cn_elements="针织|男式|棉100%|无品牌|M码",
        cn_sale_unit="011", cn_unit1="011", cn_unit2="035"))
    goods = dict(session.execute(
        select(CustomerOrderLine.order_id,
               func.sum(CustomerOrderLine.quantity * CustomerOrderLine.unit_price))
        .group_by(CustomerOrderLine.order_id)).all())
    paid = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    session.execute(update(CustomerOrder).where(CustomerOrder.country == "RU")
                    .values(country="DE"))
    session.execute(update(CustomerOrder), [
        {"id": order_id, "trade_mode": "9610", "payment_provider": "PayPal",
         "payment_transaction": f"PAY{order_id:09d}", "payment_currency": "EUR",
         "payment_amount": Decimal(total).quantize(Decimal("0.01")) + Decimal("4.90"),
         "paid_at": paid} for order_id, total in goods.items()])
    carrier_id = session.scalar(select(Carrier.id))
    batch = DispatchBatch(number="DSP-BENCH-000001", carrier_id=carrier_id)
    session.add(batch)
    session.flush()
    session.execute(update(Parcel).values(batch_id=batch.id, weight_g=2000))
    parcel_ids = list(session.scalars(select(Parcel.id).order_by(Parcel.id)))
    start = time.perf_counter()
    written = ledger.write_ledger(batch, parcel_ids, actor=None, at=datetime.now(UTC))
    log(f"   ledger of {written:,} parcels written in {time.perf_counter() - start:.2f} s")
    assert written == n, written
    session.commit()
    return batch.id


@bench("customs_batch")
def customs_batch(db: BenchDB) -> dict:
    """The 9610 export of a closed 5,000-parcel batch: the workbook and the XML ZIP.

    Median of 3 runs, each reading the ledger and building both files (four message types
    split in files of 100 entities).
    """
    from erp.customs.workbook import batch_workbook
    from erp.customs.xml import batch_zip
    from erp.extensions import db as sqla
    from erp.shipping.models import DispatchBatch

    n = db.scale(5_000)
    app = make_app(db)
    with app.app_context():
        start = time.perf_counter()
        batch_id = create_closed_batch(n)
        setup = time.perf_counter() - start
        times, xml_times = [], []
        for _ in range(3):
            sqla.session.expunge_all()
            batch = sqla.session.get(DispatchBatch, batch_id)
            start = time.perf_counter()
            book = batch_workbook(batch)
            middle = time.perf_counter()
            archive = batch_zip(batch)
            times.append(time.perf_counter() - start)
            xml_times.append(time.perf_counter() - middle)
        sqla.engine.dispose()
    seconds = statistics.median(times)
    log(f"   {n:,} parcels exported in {seconds:.3f} s (median of 3; XML "
        f"{statistics.median(xml_times):.3f} s); workbook {len(book) / 1e6:.1f} MB, ZIP "
        f"{len(archive) / 1e6:.1f} MB; data built in {setup:.1f} s")
    return {"n": n, "seconds": round(seconds, 4),
            "xml_seconds": round(statistics.median(xml_times), 4),
            "workbook_mb": round(len(book) / 1e6, 2), "zip_mb": round(len(archive) / 1e6, 2)}
