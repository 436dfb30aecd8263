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


# --------------------------------------------------------------------------- layout

@pytest.fixture
def long_case(ship_order, customs_stock, reasons):
    """A return of 8 long-coded SKUs to a Japanese address written in Japanese."""
    skus = [customs_stock(f"KB-SLEEP-CLO-18-36M-ORGANIC-{n}", 5, colour="Cloud white",
                          size="18-36 months") for n in range(8)]
    order = ship_order([(sku, 1, "19.90") for sku in skus], country="JP", ship_name="山田太郎",
                       customer_name="山田太郎", address1="丸の内一丁目1番1号",
                       address2="パレスビル5階", city="千代田区", region="東京都",
                       postal_code="100-0005", currency="EUR")
    case = cases.open_case(order, case_type=CaseType.return_refund, reason=reasons["WRONG_SIZE"],
                           lines={line.id: 1 for line in order.lines}, actor=None)
    cases.authorise_return(case, actor=None)
    return case


def test_authorisation_and_label_layout(long_case):
    from tests.pdfcheck import check_layout

    core_services.update_settings({"returns_address": (
        "Lantern & Loom Returns Centre\nUnit 12, Dock Road Industrial Estate, Gate B\n"
        "Felixstowe IP11 3QW\nUnited Kingdom")}, actor=None)
    pages = check_layout(documents.return_authorisation_pdf(long_case),
                         titles=[f"Return authorisation {long_case.number}"])
    text = " ".join(pages[0].text.split())
    assert "〒100-0005 東京都 千代田区 丸の内一丁目1番1号 パレスビル5階 山田太郎 JAPAN" in text
    assert "Felixstowe IP11 3QW UNITED KINGDOM" in text
    assert "United Kingdom" not in text
    assert "KB-SLEEP-CLO-18-36M-ORGANIC-7" in {run.text for run in pages[0].runs}
    label = check_layout(documents.return_label_pdf(long_case))
    assert "山田太郎" in label[0].text
    assert "UNITED KINGDOM" in label[0].text
