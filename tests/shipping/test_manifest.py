"""The carrier manifest (Excel) and the hand-over sheet (PDF) of a dispatch batch."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from pypdf import PdfReader

from erp.extensions import db
from erp.shipping.documents.handover import handover_pdf
from erp.shipping.manifest import COLUMNS, MANIFEST_SHEET, TOTALS_SHEET, manifest_xlsx
from erp.shipping.services import dispatch
from tests.shipping import test_dispatch

# the builder of labelled parcels, shared with the dispatch tests
dispatch_world = test_dispatch.dispatch_world

HEADERS = [header for header, _kind, _width in COLUMNS]


@pytest.fixture
def filled_batch(dispatch_world, dummy_admin):
    """Return a China Post batch with two parcels: one with two customs lines, one to the US."""
    w = dispatch_world
    batch = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    first = w.parcel(w.setup["post"], [(w.sku, 2), (w.mug, 1)],
                     ship_name='=HYPERLINK("http://evil.example","click")', phone="+49 30 123",
                     postal_code="01067")
    second = w.parcel(w.setup["epacket"], [(w.sku, 1)], country="US", city="Austin",
                      currency="USD", ship_name="Иван Петров", postal_code="78701")
    for parcel in (first, second):
        dispatch.scan_into_batch(batch, parcel.tracking_number, actor=dummy_admin)
    db.session.flush()
    return batch, first, second


def _rows(sheet) -> list[dict]:
    values = list(sheet.iter_rows(values_only=True))
    header = list(values[0])
    return [dict(zip(header, row, strict=True)) for row in values[1:]]


def test_manifest_one_row_per_customs_line(filled_batch):
    batch, first, second = filled_batch
    book = openpyxl.load_workbook(io.BytesIO(manifest_xlsx(batch)))
    sheet = book[MANIFEST_SHEET]
    assert [c.value for c in sheet[1]] == HEADERS
    assert sheet.freeze_panes == "A2"
    rows = _rows(sheet)
    assert len(rows) == 3
    assert [r["Tracking number"] for r in rows] == [first.tracking_number] * 2 + [
        second.tracking_number]
    assert [r["Line"] for r in rows] == [1, 2, 1]
    head = rows[0]
    assert head["Order"] == first.order.number
    assert head["Service code"] == "POST-REG"
    assert head["Country"] == "DE"
    assert head["Postcode"] == "01067"  # text: the leading zero stays
    assert head["Phone"] == "+49 30 123"
    assert head["IOSS number"] == "IM1234567890"
    assert head["Dutiable"] == "no"
    assert head["Customs form"] == "cn22"
    assert head["Weight kg"] == pytest.approx(first.weight_g / 1000)
    assert head["Declared value"] == pytest.approx(float(first.declared_value))
    assert head["HS code"] == "610910"
    assert head["Quantity"] == 2
    assert head["Net weight kg"] == pytest.approx(0.36)
    assert head["Line value"] == pytest.approx(19.80)
    assert rows[2]["Addressee"] == "Иван Петров"
    assert rows[2]["Currency"] == "USD"
    assert rows[2]["IOSS number"] is None


def test_manifest_number_formats_and_text(filled_batch):
    batch, _first, _second = filled_batch
    sheet = openpyxl.load_workbook(io.BytesIO(manifest_xlsx(batch)))[MANIFEST_SHEET]
    col = {header: n + 1 for n, header in enumerate(HEADERS)}
    assert sheet.cell(2, col["Weight kg"]).number_format == "0.000"
    assert sheet.cell(2, col["Declared value"]).number_format == "#,##0.00"
    assert sheet.cell(2, col["Quantity"]).number_format == "0"
    assert sheet.cell(2, col["Tracking number"]).data_type == "s"


def test_manifest_neutralises_a_formula_addressee(filled_batch):
    batch, _first, _second = filled_batch
    sheet = openpyxl.load_workbook(io.BytesIO(manifest_xlsx(batch)))[MANIFEST_SHEET]
    cell = sheet.cell(2, HEADERS.index("Addressee") + 1)
    assert cell.data_type == "s"
    assert cell.value == '\'=HYPERLINK("http://evil.example","click")'


def test_manifest_totals_sheet(filled_batch):
    batch, first, second = filled_batch
    sheet = openpyxl.load_workbook(io.BytesIO(manifest_xlsx(batch)))[TOTALS_SHEET]
    values = {row[0]: row[1] for row in sheet.iter_rows(values_only=True) if row[0]}
    assert values["Batch"] == batch.number
    assert values["Parcels"] == 2
    assert values["Customs lines"] == 3
    assert values["Units"] == 4
    assert values["Gross weight kg"] == pytest.approx((first.weight_g + second.weight_g) / 1000)
    amounts = {row[1]: row[0] for row in sheet.iter_rows(values_only=True)
               if row[1] in ("EUR", "USD")}
    assert amounts == {"EUR": pytest.approx(29.70), "USD": pytest.approx(9.90)}
    assert values["DE"] == 1
    assert values["US"] == 1


def test_manifest_of_an_empty_batch_has_headers_only(dispatch_world, dummy_admin):
    batch = dispatch.open_batch(dispatch_world.setup["post"].carrier, actor=dummy_admin)
    book = openpyxl.load_workbook(io.BytesIO(manifest_xlsx(batch)))
    assert _rows(book[MANIFEST_SHEET]) == []


def test_handover_pdf_is_a4_with_totals(filled_batch, dummy_admin):
    batch, first, second = filled_batch
    dispatch.close_batch(batch, actor=dummy_admin)
    reader = PdfReader(io.BytesIO(handover_pdf(batch, company="Example Trading Ltd")))
    page = reader.pages[0]
    assert round(float(page.mediabox.width)) == 595
    assert round(float(page.mediabox.height)) == 842
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert f"Dispatch hand-over {batch.number}" in text
    assert "China Post" in text
    assert first.tracking_number in text
    assert second.tracking_number in text
    assert first.order.number in text
    assert "Parcels" in text
    weight = (first.weight_g + second.weight_g) / 1000
    assert f"{weight:,.3f} kg" in text
    assert "29.70 EUR" in text
    assert "9.90 USD" in text
    assert "Received by (driver)" in text
    assert "Handed over by (warehouse)" in text


def test_handover_pdf_of_many_parcels_runs_over_pages(dispatch_world, dummy_admin):
    w = dispatch_world
    batch = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    for _ in range(60):
        w.parcel(w.setup["post"], [(w.sku, 1)]).batch_id = batch.id
    db.session.flush()
    reader = PdfReader(io.BytesIO(handover_pdf(batch)))
    assert len(reader.pages) >= 2
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Tracking number" in reader.pages[1].extract_text()  # the header repeats
    assert f"{Decimal('9.90') * 60:,.2f} EUR" in text


def test_manifest_neutralises_a_formula_phone(dispatch_world, dummy_admin):
    w = dispatch_world
    batch = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    w.parcel(w.setup["post"], [(w.sku, 1)], phone="+1+cmd|' /C calc'!A0").batch_id = batch.id
    db.session.flush()
    sheet = openpyxl.load_workbook(io.BytesIO(manifest_xlsx(batch)))[MANIFEST_SHEET]
    assert sheet.cell(2, HEADERS.index("Phone") + 1).value == "'+1+cmd|' /C calc'!A0"


def test_handover_pdf_prints_a_chinese_carrier_name(filled_batch):
    batch, _first, _second = filled_batch
    batch.carrier.name = "中国邮政"
    text = PdfReader(io.BytesIO(handover_pdf(batch))).pages[0].extract_text()
    assert "中国邮政" in text
