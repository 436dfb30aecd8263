"""Returns analysis: after-sales' figures in the reports' workbook style."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from erp.reports.excel import returns_analysis
from tests.reports.excel_checks import check_structure, reopen, rows


def test_returns_workbook(customs_stock, ship_order, reasons):
    tee = customs_stock("TEE-1", 10)
    ship_order([(tee, 4, "10.00")])
    today = datetime.now(UTC).date()
    data, name = returns_analysis.build(today - timedelta(days=6), today)
    assert name.startswith("returns-analysis-")
    book = reopen(data)
    check_structure(book, ["Summary", "By sku", "By brand", "By category", "By reason",
                           "By country", "Refunds"], "returns_analysis")
    assert rows(book["Summary"])[0] == ("Units shipped", 4, None)
    assert rows(book["By sku"]) == [("TEE-1", "TEE-1", 4, 0, 0)]
