"""Supplier performance: on-time rate, lead time seen and fill rate, from rows with known dates.

The purchase orders, lines and receipts are written directly (not through the purchasing
services), so each figure can be checked against dates and quantities chosen by hand.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from erp.extensions import db
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
    ReceiptState,
)
from erp.procurement.supplier_queries import (
    SupplierPerformance,
    supplier_performance,
    supplier_performance_of,
)

JAN_1, FEB_1, FEB_28, MAR_31 = date(2026, 1, 1), date(2026, 2, 1), date(2026, 2, 28), \
    date(2026, 3, 31)
_numbers = itertools.count(1)


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


class Rows:
    """Writes purchase orders and receipts of one SKU into one bin."""

    def __init__(self, sku, location):
        self.sku, self.location = sku, location

    def order(self, supplier, state, *, ordered_on=None, expected=None, closed_at=None,
              lines=()):
        """Write a PO with ``lines`` of ``(quantity, received, cancelled, expected_date)``."""
        po = PurchaseOrder(number=f"PO-TEST-{next(_numbers):04d}", supplier_id=supplier.id,
                           state=state, currency="CNY", ordered_on=ordered_on,
                           expected_date=expected, closed_at=closed_at)
        db.session.add(po)
        db.session.flush()
        for quantity, received, cancelled, line_expected in lines:
            db.session.add(PurchaseOrderLine(
                order_id=po.id, sku_id=self.sku.id, quantity=quantity,
                unit_price=Decimal("1.00"), received_qty=received, cancelled_qty=cancelled,
                expected_date=line_expected))
        db.session.flush()
        db.session.refresh(po)
        return po

    def receipt(self, po, when: datetime, deliveries, *, state=ReceiptState.posted):
        """Write a receipt of ``deliveries`` ``(line index, quantity)`` at ``when``."""
        rec = Receipt(number=f"RC-TEST-{next(_numbers):04d}", order_id=po.id,
                      location_id=self.location.id, state=state, received_at=when)
        db.session.add(rec)
        db.session.flush()
        for index, quantity in deliveries:
            line = po.lines[index]
            db.session.add(ReceiptLine(receipt_id=rec.id, order_line_id=line.id,
                                       sku_id=line.sku_id, quantity=quantity,
                                       unit_cost_base=Decimal("0.14")))
        db.session.flush()
        return rec


@pytest.fixture
def history(create_supplier, create_sku, create_bin):
    """Two suppliers with purchase orders and receipts on known dates (see each comment)."""
    rows = Rows(create_sku(), create_bin())
    order, receipt = rows.order, rows.receipt
    a = create_supplier("ALPHA", "Alpha Textiles")
    b = create_supplier("BETA", "Beta Trading")
    create_supplier("IDLE", "Idle Supplier")  # nothing ever ordered: never listed
    S = PurchaseOrderState

    # ALPHA, PO1: ordered Jan 1, expected Jan 20; line 2 is expected earlier, on Jan 15.
    po1 = order(a, S.received, ordered_on=JAN_1, expected=date(2026, 1, 20),
                lines=[(100, 100, 0, None), (50, 50, 0, date(2026, 1, 15))])
    receipt(po1, at(date(2026, 1, 14)), [(0, 60), (1, 50)])  # on time for both lines; 13 days
    receipt(po1, at(date(2026, 1, 25)), [(0, 40)])  # 5 days late; 24 days
    # ALPHA, PO2: ordered Feb 1, expected Feb 10, closed short on Feb 20 after 150 of 200.
    po2 = order(a, S.closed, ordered_on=FEB_1, expected=date(2026, 2, 10),
                closed_at=at(date(2026, 2, 20)), lines=[(200, 150, 50, None)])
    receipt(po2, at(date(2026, 2, 10), 23, 30), [(0, 150)])  # late evening (UTC): on time; 9 d
    receipt(po2, at(date(2026, 2, 5)), [(0, 20)], state=ReceiptState.reversed)  # ignored
    # ALPHA, PO3: still open, no dates at all: counted as a receipt, neither timed nor lead.
    po3 = order(a, S.partially_received, lines=[(10, 5, 0, None)])
    receipt(po3, at(date(2026, 2, 15)), [(0, 5)])
    # ALPHA, PO0: a receipt before the range.
    po0 = order(a, S.received, ordered_on=date(2025, 12, 1), expected=date(2025, 12, 20),
                lines=[(5, 5, 0, None)])
    receipt(po0, at(date(2025, 12, 31)), [(0, 5)])

    # BETA, PO4: one line over-delivered (12 of 10), one short (8 of 10), closed in March.
    po4 = order(b, S.closed, ordered_on=date(2026, 2, 20), expected=date(2026, 3, 1),
                closed_at=at(date(2026, 3, 3)), lines=[(10, 12, 0, None), (10, 8, 2, None)])
    receipt(po4, at(date(2026, 3, 2)), [(0, 12), (1, 8)])  # 1 day late; 10 days
    # BETA, PO5: closed with nothing received (completed on its closing date).
    order(b, S.closed, ordered_on=date(2026, 2, 25), closed_at=at(date(2026, 3, 5)),
          lines=[(5, 0, 5, None)])
    # BETA, PO6: cancelled orders never count.
    order(b, S.cancelled, ordered_on=date(2026, 3, 1), lines=[(99, 0, 0, None)])
    db.session.commit()
    return a, b


def by_code(rows: list[SupplierPerformance]) -> dict[str, SupplierPerformance]:
    return {row.code: row for row in rows}


def test_supplier_performance_over_january_and_february(history):
    rows = by_code(supplier_performance(JAN_1, FEB_28))
    assert list(rows) == ["ALPHA"]  # BETA's receipt and completions are in March
    alpha = rows["ALPHA"]
    assert alpha.name == "Alpha Textiles"
    # receipts Jan 14, Jan 25, Feb 10, Feb 15; the first three have expected dates, two on time
    assert (alpha.receipts, alpha.timed_receipts, alpha.on_time_receipts) == (4, 3, 2)
    assert alpha.on_time_rate == Decimal("0.6667")
    # 13 + 24 + 9 days over 3 receipts with an ordered-on date
    assert (alpha.lead_time_receipts, alpha.lead_time_days_total) == (3, 46)
    assert alpha.avg_lead_time_days == Decimal("15.3")
    # PO1 (150 of 150, completed Jan 25) and PO2 (150 of 200, last receipt Feb 10)
    assert (alpha.completed_orders, alpha.ordered_qty, alpha.received_qty) == (2, 350, 300)
    assert alpha.fill_rate == Decimal("0.8571")


def test_supplier_performance_only_counts_the_range(history):
    alpha = by_code(supplier_performance(FEB_1, FEB_28))["ALPHA"]
    assert (alpha.receipts, alpha.timed_receipts, alpha.on_time_receipts) == (2, 1, 1)
    assert alpha.on_time_rate == Decimal("1.0000")
    assert alpha.avg_lead_time_days == Decimal("9.0")
    assert (alpha.completed_orders, alpha.ordered_qty, alpha.received_qty) == (1, 200, 150)
    assert alpha.fill_rate == Decimal("0.7500")


def test_supplier_performance_caps_over_delivery_per_line(history):
    beta = by_code(supplier_performance(date(2026, 3, 1), MAR_31))["BETA"]
    assert (beta.receipts, beta.timed_receipts, beta.on_time_receipts) == (1, 1, 0)
    assert beta.on_time_rate == Decimal("0.0000")
    assert beta.avg_lead_time_days == Decimal("10.0")
    # PO4: 10 (12 capped) + 8 of 20; PO5: 0 of 5, completed on its closing date
    assert (beta.completed_orders, beta.ordered_qty, beta.received_qty) == (2, 25, 18)
    assert beta.fill_rate == Decimal("0.7200")


def test_supplier_performance_of_one_supplier_and_of_an_idle_one(history, create_supplier):
    alpha, beta = history
    assert supplier_performance_of(alpha, JAN_1, FEB_28).receipts == 4
    assert supplier_performance(JAN_1, MAR_31, supplier_id=beta.id)[0].code == "BETA"
    idle = supplier_performance_of(create_supplier("NEW", "New Supplier"), JAN_1, MAR_31)
    assert (idle.code, idle.receipts, idle.completed_orders) == ("NEW", 0, 0)
    assert idle.on_time_rate is None
    assert idle.avg_lead_time_days is None
    assert idle.fill_rate is None


def test_supplier_performance_of_an_empty_range(history):
    assert supplier_performance(date(2024, 1, 1), date(2024, 12, 31)) == []
