"""Stock ageing: receipts 10, 45, 120 and 200 days ago, FIFO consumption, the workbook."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from erp.extensions import db
from erp.reports.excel import stock_ageing
from erp.warehouse import services
from erp.warehouse.models import LocationKind, MoveKind
from tests.reports.excel_checks import assert_format, check_structure, column, reopen, rows


@pytest.fixture
def aged(create_sku, create_bin):
    """Post receipts of four ages, a shipment and a found quantity.

    5 units received at 10, 45, 120 and 200 days ago (1.00, 2.00, 3.00, 4.00), 7 shipped
    today (FIFO: the 13 left are the newest receipts), and a second SKU with 2 units found by an
    adjustment and never received.

    AGE-1 on hand 13: 0-30: 5, 31-90: 5, 91-180: 3, over 180: 0.
    Cost (5+10+15+20)/20 = 2.5000; values 12.50, 12.50, 7.50, 0.00; total 32.50.
    AGE-2 on hand 2, no receipt, cost its current average (0): value 0.00.
    """
    now = datetime.now(UTC)
    bin_ = create_bin()
    supplier = services.virtual_location(LocationKind.supplier)
    customer = services.virtual_location(LocationKind.customer)
    found = services.virtual_location(LocationKind.adjustment)
    sku = create_sku("AGE-1")
    for days, cost in ((200, "4.00"), (120, "3.00"), (45, "2.00"), (10, "1.00")):
        services.post_move(services.MoveSpec(sku.id, supplier.id, bin_.id, 5, MoveKind.receipt,
                                             unit_cost=Decimal(cost)),
                           actor=None, at=now - timedelta(days=days))
    services.post_move(services.MoveSpec(sku.id, bin_.id, customer.id, 7, MoveKind.ship),
                       actor=None, at=now)
    other = create_sku("AGE-2")
    services.post_move(services.MoveSpec(other.id, found.id, bin_.id, 2,
                                         MoveKind.adjustment), actor=None, at=now)
    db.session.commit()
    return now.date()


def test_ageing_buckets_are_fifo(aged):
    report = stock_ageing.ageing_at(aged)
    row, found = report.rows
    assert (row.sku, row.on_hand, row.buckets, row.no_receipt) == ("AGE-1", 13, [5, 5, 3, 0], 0)
    assert row.unit_cost == Decimal("2.5000")
    assert (found.sku, found.on_hand, found.buckets, found.no_receipt) == ("AGE-2", 2,
                                                                           [0, 0, 0, 0], 2)
    assert report.bucket_units() == [5, 5, 3, 0, 2]
    assert report.bucket_values() == [Decimal("12.50"), Decimal("12.50"), Decimal("7.50"),
                                      Decimal("0.00"), Decimal("0.00")]
    assert row.value == Decimal("32.50")


def test_ageing_at_a_past_date(aged):
    # 100 days ago: only the 200-day receipt (then 100 days old) and the 120-day one (20 days).
    report = stock_ageing.ageing_at(aged - timedelta(days=100))
    [row] = [r for r in report.rows if r.sku == "AGE-1"]
    assert (row.on_hand, row.buckets, row.no_receipt) == (10, [5, 0, 5, 0], 0)
    assert row.unit_cost == Decimal("3.5000")


def test_ageing_workbook(aged):
    data, name = stock_ageing.build(None, aged)
    assert name == f"stock-ageing-{aged.isoformat()}.xlsx"
    book = reopen(data)
    check_structure(book, ["Summary", "By SKU"], "stock_ageing")
    summary = rows(book["Summary"])
    assert [r[:2] for r in summary] == [("0-30 days", 5), ("31-90 days", 5), ("91-180 days", 3),
                                        ("Over 180 days", 0), ("No receipt", 2), ("Total", 15)]
    assert summary[-1][2] == pytest.approx(32.50)
    ws = book["By SKU"]
    assert rows(ws)[0][column(ws, "0-30 days") - 1] == 5
    assert_format(ws, 2, "91-180 days", "qty")
    assert_format(ws, 2, "Value (USD)", "money")
    assert_format(book["Summary"], 2, "Value (USD)", "money")
