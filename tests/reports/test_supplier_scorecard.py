"""The supplier scorecard: each figure of a hand-built history, computed by hand.

See :mod:`tests.fixtures.scorecard` for the history.
"""

from __future__ import annotations

import html
from datetime import timedelta
from decimal import Decimal

from erp.core.models import Setting, utcnow
from erp.extensions import db
from erp.reports.excel import supplier_scorecard as scorecard_report
from erp.reports.registry import REPORTS, build_report
from erp.reports.scorecard import supplier_scorecard
from tests.fixtures.scorecard import ago
from tests.reports.excel_checks import check_structure, column, reopen, rows


def period():
    today = utcnow().date()
    return today - timedelta(days=89), today


def test_scorecard_per_supplier(scorecard_data):
    card = supplier_scorecard(*period())
    alpha, beta = card.suppliers
    assert (alpha.supplier_code, beta.supplier_code) == ("ALPHA", "BETA")
    # R1 on time (both lines by the promised date), R2 five days late
    assert (alpha.on_time_receipts, alpha.timed_receipts) == (1, 2)
    assert alpha.on_time_rate == Decimal("0.5000")
    # PO1: 100 + 40 of 100 + 50 (10 cancelled count as not delivered)
    assert (alpha.completed_orders, alpha.received_qty, alpha.ordered_qty) == (1, 140, 150)
    assert alpha.fill_rate == Decimal("0.9333")
    # 3 lots in the period (accepted, rejected, released), 2 count as rejected
    assert (alpha.lots, alpha.lots_rejected) == (3, 2)
    assert alpha.lot_rejection_rate == Decimal("0.6667")
    # 1 + 4 + 2 defects over 20 + 13 + 8 units: 7 / 41 x 1,000,000 = 170,731.7
    assert (alpha.defects, alpha.units_inspected) == (7, 41)
    assert alpha.dpm == Decimal("170732")
    # T1 10 + T2 4 shipped; 2 + 1 DEFECTIVE back (WRONG_SIZE is not manufacturing)
    assert (alpha.units_returned, alpha.units_shipped) == (3, 14)
    assert alpha.return_rate == Decimal("0.2143")
    assert alpha.reasons == {"DEFECTIVE": 3}
    # BETA: received late in the evening of the promised day: on time; no lot; the damaged
    # parcel's case is the carrier's
    assert beta.on_time_rate == Decimal("1.0000")
    assert beta.fill_rate == Decimal("1.0000")
    assert (beta.lots, beta.lot_rejection_rate, beta.dpm) == (0, None, None)
    assert (beta.units_returned, beta.units_shipped, beta.return_rate) == (0, 4, Decimal("0"))


def test_scorecard_per_specification_version(scorecard_data):
    d = scorecard_data
    card = supplier_scorecard(*period())
    by_key = {(r.supplier_code, r.spec_version_id): r for r in card.versions}
    assert list(by_key) == [("ALPHA", d.v1.id), ("ALPHA", d.v2.id), ("BETA", None)]
    v1, v2 = by_key["ALPHA", d.v1.id], by_key["ALPHA", d.v2.id]
    assert v1.spec_label == d.v1.label
    assert (v1.on_time_receipts, v1.timed_receipts, v1.on_time_rate) == (1, 2, Decimal("0.5"))
    assert (v2.on_time_receipts, v2.timed_receipts, v2.on_time_rate) == (1, 1, Decimal("1"))
    assert (v1.received_qty, v1.ordered_qty, v1.fill_rate) == (100, 100, Decimal("1"))
    assert (v2.received_qty, v2.ordered_qty, v2.fill_rate) == (40, 50, Decimal("0.8"))
    assert (v1.lots, v1.lots_rejected, v1.lot_rejection_rate) == (2, 1, Decimal("0.5"))
    assert (v2.lots, v2.lots_rejected, v2.lot_rejection_rate) == (1, 1, Decimal("1"))
    assert (v1.dpm, v2.dpm) == (Decimal("151515"), Decimal("250000"))  # 5/33, 2/8
    assert (v1.units_returned, v1.units_shipped, v1.return_rate) == (2, 10, Decimal("0.2"))
    assert (v2.units_returned, v2.units_shipped, v2.return_rate) == (1, 4, Decimal("0.25"))
    beta = by_key["BETA", None]
    assert (beta.timed_receipts, beta.units_shipped) == (1, 4)


def test_scorecard_period_and_one_supplier(scorecard_data):
    d = scorecard_data
    # the 50 days before yesterday: no shipment, no case; R1, R2, PO1 and the three lots
    card = supplier_scorecard(ago(50), ago(1), supplier_id=d.alpha.id)
    assert [r.supplier_code for r in card.suppliers] == ["ALPHA"]
    alpha = card.suppliers[0]
    assert (alpha.timed_receipts, alpha.lots, alpha.units_shipped) == (2, 3, 0)
    assert alpha.return_rate is None
    # the lot decided 100 days ago counts in its own period
    old = supplier_scorecard(ago(101), ago(99)).suppliers[0]
    assert (old.lots, old.lots_rejected, old.defects, old.units_inspected) == (1, 1, 9, 13)


def test_manufacturing_defect_reasons_follow_the_setting(scorecard_data):
    db.session.add(Setting(key="manufacturing_defect_reasons", value="DEFECTIVE WRONG_SIZE"))
    db.session.commit()
    alpha = supplier_scorecard(*period()).suppliers[0]
    assert alpha.reasons == {"DEFECTIVE": 3, "WRONG_SIZE": 1}
    assert alpha.return_rate == Decimal("0.2857")  # 4 / 14
    db.session.get(Setting, "manufacturing_defect_reasons").value = ""
    db.session.commit()
    alpha = supplier_scorecard(*period()).suppliers[0]
    assert (alpha.units_returned, alpha.return_rate) == (0, Decimal("0"))


def test_scorecard_workbook(scorecard_data):
    d = scorecard_data
    start, end = period()
    assert "supplier_scorecard" in REPORTS
    data, name = build_report("supplier_scorecard", start, end, user="tester")
    assert name.startswith("supplier-scorecard-")
    book = reopen(data)
    check_structure(book, ["By supplier", "By specification"], "supplier_scorecard")
    ws = book["By supplier"]
    alpha, beta = rows(ws)
    assert alpha[:2] == ("ALPHA", "Alpha Textiles")
    assert alpha[column(ws, "On-time delivery") - 1] == 0.5
    assert alpha[column(ws, "Fill rate") - 1] == 0.9333
    assert alpha[column(ws, "Lot rejection rate") - 1] == 0.6667
    assert alpha[column(ws, "Defects per million") - 1] == 170732
    assert alpha[column(ws, "Units returned (manufacturing)") - 1] == 3
    assert alpha[column(ws, "Manufacturing return rate") - 1] == 0.2143
    assert alpha[column(ws, "Return reasons (units)") - 1] == "DEFECTIVE 3"
    assert beta[column(ws, "Lot rejection rate") - 1] is None
    assert ws.cell(2, column(ws, "Fill rate")).number_format == "0.0%"
    specs = rows(book["By specification"])
    assert [r[:2] for r in specs] == [("ALPHA", d.v1.label), ("ALPHA", d.v2.label),
                                      ("BETA", "No specification")]
    params = [r[0] for r in book["Parameters"].iter_rows(values_only=True)]
    assert "Manufacturing return rate" in params
    assert scorecard_report.TITLE


def test_supplier_page_shows_the_scorecard(scorecard_data, client, login_as):
    d = scorecard_data
    login_as("purchasing")
    body = html.unescape(client.get(f"/procurement/suppliers/{d.alpha.id}")
                         .get_data(as_text=True))
    assert 'id="scorecard"' in body
    for figure in ("21.4 %", "3 / 14",  # manufacturing returns
                   "66.7 %", "2 / 3",  # lots rejected
                   "170,732", d.v1.label, d.v2.label):
        assert figure in body
    assert "Every supplier in an Excel report" not in body  # purchasing may not run reports


def test_supplier_page_scorecard_period(scorecard_data, client, login_as):
    d = scorecard_data
    login_as("manager")
    body = client.get(f"/procurement/suppliers/{d.alpha.id}?date_from={ago(50).isoformat()}"
                      f"&date_to={ago(1).isoformat()}").get_data(as_text=True)
    assert "Every supplier in an Excel report" in body
    assert "0 / 0" in body  # nothing shipped in that period


def test_supplier_page_in_chinese(scorecard_data, client, login_as):
    login_as("manager")
    body = client.get(f"/procurement/suppliers/{scorecard_data.alpha.id}",
                      headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Scorecard" not in body
    assert "Manufacturing return rate" not in body


def test_sku_owner_is_the_last_receipt_else_the_preferred_item(scorecard_data, create_sku,
                                                                create_supplier_item):
    from erp.procurement import supplier_queries

    d = scorecard_data
    listed = create_sku("T4")
    create_supplier_item(d.beta, listed, preferred=False)
    create_supplier_item(d.alpha, listed, preferred=True)  # preferred wins over code order
    only_beta = create_sku("T5")
    create_supplier_item(d.beta, only_beta)
    create_supplier_item(d.beta, d.t1, preferred=True)  # T1's last receipt still decides
    nobody = create_sku("T6")
    expected = {d.t1.id: d.alpha.id, d.t2.id: d.alpha.id, d.t3.id: d.beta.id,
                listed.id: d.alpha.id, only_beta.id: d.beta.id}
    skus = [*expected, nobody.id]
    assert supplier_queries.sku_suppliers(skus) == expected
    assert supplier_queries.sku_suppliers([]) == {}
    assert supplier_queries.supplier_sku_ids(d.beta.id) == {d.t3.id, listed.id, only_beta.id,
                                                            d.t1.id}
    # the one-pass path (many SKUs) answers the same
    many = skus + list(range(100_000, 101_001))
    assert supplier_queries.sku_suppliers(many) == expected
