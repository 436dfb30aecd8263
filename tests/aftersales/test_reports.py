"""Return-rate figures on a small hand-computed dataset, its workbook, and the finance export."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest

from erp.aftersales import exports, reports
from erp.aftersales.models import CaseType, RefundState
from erp.aftersales.services import cases, resolution
from erp.brands.models import Brand
from erp.core.models import utcnow
from erp.extensions import db


@pytest.fixture
def dataset(ship_order, customs_stock, create_product, create_category, reasons,
            returns_bins, create_user):
    """Ship 8 units (DE: 4 TEE + 2 SHOE; GB: 2 TEE) and open four cases.

    Counted: a return of 1 TEE (wrong size) and a refund-only of 1 SHOE (defective, refunded
    5.00 EUR). Not counted: a rejected return of 2 TEE, a lost parcel (refunded 10.00 GBP).
    """
    agent = create_user("agent", roles=("customer_service",))
    shoes = create_category("SHOE", "Shoes")
    other = Brand(code="RUN", name="Runner Co")
    db.session.add(other)
    db.session.flush()
    tee = customs_stock("TEE-1")
    shoe = customs_stock("SHOE-1", product=create_product(category=shoes, brand=other,
                                                          name="Trail shoe"))
    de = ship_order([(tee, 4, "10.00"), (shoe, 2, "50.00")], country="DE")
    gb = ship_order([(tee, 2, "8.00")], country="GB", currency="GBP",
                    ship_name="Ann Smith", customer_name="Ann Smith", city="London",
                    postal_code="NW1 6XE")
    cases.open_case(de, case_type=CaseType.return_refund, reason=reasons["WRONG_SIZE"],
                    lines={de.lines[0].id: 1}, actor=agent)
    refund_only = cases.open_case(de, case_type=CaseType.refund_only,
                                  reason=reasons["DEFECTIVE"], lines={de.lines[1].id: 1},
                                  actor=agent)
    resolution.request_refund(refund_only, amount="5.00", actor=agent, note="scuffed")
    rejected = cases.open_case(gb, case_type=CaseType.return_refund,
                               reason=reasons["CHANGED_MIND"], lines={gb.lines[0].id: 2},
                               actor=agent)
    cases.reject_case(rejected, reason="Worn", actor=agent)
    lost = cases.open_case(gb, case_type=CaseType.lost_parcel, reason=reasons["LOST"],
                           lines={gb.lines[0].id: 2}, actor=agent)
    resolution.request_refund(lost, amount="10.00", actor=agent)
    db.session.commit()
    return {"tee": tee, "shoe": shoe, "agent": agent}


def _today():
    return utcnow().date()


def _by_key(rows):
    return {r.key: (r.shipped, r.returned, r.rate) for r in rows}


def test_return_rates_by_every_dimension(dataset):
    report = reports.return_report(_today(), _today())
    assert (report.shipped, report.returned) == (8, 2)
    assert report.rate == Decimal("0.25")
    assert _by_key(report.rows["sku"]) == {
        "TEE-1": (6, 1, Decimal(1) / Decimal(6)), "SHOE-1": (2, 1, Decimal("0.5"))}
    assert _by_key(report.rows["category"]) == {
        "GEN": (6, 1, Decimal(1) / Decimal(6)), "SHOE": (2, 1, Decimal("0.5"))}
    assert _by_key(report.rows["brand"]) == {
        "TESTBR": (6, 1, Decimal(1) / Decimal(6)), "RUN": (2, 1, Decimal("0.5"))}
    assert _by_key(report.rows["reason"]) == {
        "WRONG_SIZE": (8, 1, Decimal("0.125")), "DEFECTIVE": (8, 1, Decimal("0.125"))}
    assert _by_key(report.rows["country"]) == {
        "DE": (6, 2, Decimal(2) / Decimal(6)), "GB": (2, 0, Decimal(0))}
    assert report.refunds == {"EUR": Decimal("5.00"), "GBP": Decimal("10.00")}
    assert report.refund_count == 2


def test_return_rates_outside_the_period_are_empty(dataset):
    earlier = _today() - timedelta(days=40)
    report = reports.return_report(earlier, earlier + timedelta(days=5))
    assert (report.shipped, report.returned, report.rate) == (0, 0, None)
    assert all(rows == [] for rows in report.rows.values())
    assert report.refunds == {}


def test_unknown_dimension_is_refused(app):
    with pytest.raises(ValueError, match="dimension"):
        reports.return_rates("colour", _today(), _today())


def test_report_workbook_has_a_sheet_per_dimension(dataset):
    data = reports.report_workbook(reports.return_report(_today(), _today()))
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["By sku", "By brand", "By category", "By reason", "By country",
                               "Parameters"]
    sheet = book["By sku"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E3"
    assert [c.value for c in sheet[1]] == ["SKU", "Name", "Units shipped", "Units returned",
                                           "Return rate"]
    rows = {r[0].value: r for r in sheet.iter_rows(min_row=2)}
    assert rows["SHOE-1"][4].value == pytest.approx(0.5)
    assert rows["SHOE-1"][4].number_format == "0.0%"
    assert rows["TEE-1"][2].value == 6
    params = {r[0].value: r[1].value for r in book["Parameters"].iter_rows(min_row=2)}
    assert params["Units shipped"] == 8
    assert params["Refunds approved (EUR)"] == pytest.approx(5.0)
    assert params["Return rate"] == pytest.approx(0.25)


def test_finance_export_neutralises_formulas_and_marks_exported(
        ship_order, customs_stock, reasons, returns_bins, create_user):
    agent = create_user("agent", roles=("customer_service",))
    tee = customs_stock("TEE-1")
    order = ship_order([(tee, 1, "20.00")], customer_name="=HYPERLINK(\"http://x\")",
                       ship_name="Eve")
    case = cases.open_case(order, case_type=CaseType.refund_only, reason=reasons["DEFECTIVE"],
                           lines={order.lines[0].id: 1}, actor=agent)
    refund = resolution.request_refund(case, amount="12.34", actor=agent, note="+1 goodwill")
    db.session.commit()
    assert refund.state == RefundState.approved

    data = exports.export_refunds(unexported_only=True)
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [c.value for c in sheet[1]]
    assert header[:10] == ["RMA", "Order", "Customer", "Email", "Amount", "Currency", "Kind",
                           "Approved by", "Approved at (UTC)", "Note"]
    row = [c for c in sheet[2]]
    assert row[0].value == case.number
    assert row[2].value == "'=HYPERLINK(\"http://x\")"
    assert row[2].data_type == "s"
    assert row[4].value == pytest.approx(12.34)
    assert row[4].number_format == "0.00"
    assert row[9].value == "'+1 goodwill"
    assert sheet.freeze_panes == "A2"

    assert exports.mark_exported([refund.id, 999_999], actor=agent) == 1
    assert exports.mark_exported([refund.id], actor=agent) == 0  # a second confirm: nothing
    db.session.commit()
    assert refund.exported_at is not None
    empty = openpyxl.load_workbook(io.BytesIO(exports.export_refunds(unexported_only=True)))
    assert empty.active.max_row == 1
    period = openpyxl.load_workbook(io.BytesIO(exports.export_refunds(
        date_from=_today(), date_to=_today())))
    assert period.active.max_row == 2
