"""Return authorisation (A4) and return label (100 x 150 mm): parsed back with pypdf."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from erp.aftersales import documents
from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import CaseType
from erp.aftersales.services import cases
from erp.core import services as core_services

MM = 72 / 25.4


@pytest.fixture
def case(ship_order, customs_stock, reasons):
    order = ship_order([(customs_stock("TEE-1"), 2, "15.00")], customer_name="Łukasz 王小明",
                       ship_name="Łukasz 王小明")
    case = cases.open_case(order, case_type=CaseType.return_refund, reason=reasons["WRONG_SIZE"],
                           lines={order.lines[0].id: 2}, actor=None)
    cases.authorise_return(case, actor=None)
    return case


def _read(data: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(data))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_authorisation_a4(case):
    reader, text = _read(documents.return_authorisation_pdf(case))
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 210
    assert round(float(box.height) / MM) == 297
    assert case.number in text
    assert "TEE-1" in text
    assert "Returned goods" in text
    assert "CN22/CN23" in text
    assert "Example Trading" in text  # the company address when no returns address is set
    assert documents.return_deadline(case).strftime("%Y-%m-%d") in text


def test_returns_address_setting(case):
    core_services.update_settings({"returns_address": "Returns Dept\nDock 7\nShenzhen"},
                                  actor=None)
    _, text = _read(documents.return_authorisation_pdf(case))
    assert "Dock 7" in text
    # the lines as typed, the company's country once, last, in capitals
    assert documents.return_address_lines() == ["Returns Dept", "Dock 7", "Shenzhen", "CHINA"]


def test_label_100x150(case):
    reader, text = _read(documents.return_label_pdf(case))
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 100
    assert round(float(box.height) / MM) == 150
    assert case.number in text
    assert "RETURNED GOODS" in text


def test_no_return_no_authorisation(ship_order, customs_stock, reasons):
    order = ship_order([(customs_stock("CAP-1"), 1)])
    case = cases.open_case(order, case_type=CaseType.refund_only, reason=reasons["LATE"],
                           lines={order.lines[0].id: 1}, actor=None)
    with pytest.raises(AfterSalesError, match="no return authorisation"):
        documents.return_authorisation_pdf(case)
    with pytest.raises(AfterSalesError):
        documents.return_label_pdf(case)


def test_rejected_gets_no_authorisation(case):
    cases.reject_case(case, reason="Worn", actor=None)
    with pytest.raises(AfterSalesError, match="rejected"):
        documents.return_authorisation_pdf(case)
