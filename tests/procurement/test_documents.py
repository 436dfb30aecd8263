"""The purchase order PDF: A4, company, supplier, lines with supplier codes and specifications."""

from __future__ import annotations

import base64
import re
import zlib
from decimal import Decimal

import pytest

from erp.brands import services as brand_services
from erp.extensions import db
from erp.procurement import documents, services
from erp.procurement.models import PurchaseOrderState

COMPANY = documents.Company(name="Lantern & Loom Trading Ltd",
                            address="1 Harbour Road\nShenzhen 518000\nCN")


def page_text(pdf: bytes) -> str:
    """Return the strings drawn on the pages (content streams decoded), joined by spaces."""
    chunks = []
    for stream in re.findall(rb"\bstream\r?\n(.*?)endstream", pdf, re.S):
        data = stream.strip()
        if data.endswith(b"~>"):  # reportlab writes ASCII85 over Flate
            data = base64.a85decode(data[:-2])
        try:
            chunks.append(zlib.decompress(data))
        except zlib.error:
            chunks.append(data)
    strings = re.findall(rb"\(((?:[^()\\]|\\.)*)\) Tj", b"\n".join(chunks))
    return " ".join(s.decode("latin-1").replace("\\(", "(").replace("\\)", ")")
                    for s in strings)


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page(?!s)", pdf))


@pytest.fixture
def specified_order(create_supplier_row, create_supplier_item_row, create_sku, create_product,
                    create_brand, create_specification, create_user, create_purchase_order):
    """An ordered PO of a private-brand tee made to specification v1, and a plain mug."""
    brand = create_brand("LUMA", "Luma Home")
    spec = create_specification(brand, title="Crew-neck tee, 180 gsm")
    version = spec.versions[0]
    approver = create_user("spec-mgr", roles=("manager",))
    brand_services.approve_specification_version(version, actor=approver)
    tee = create_sku("LUMA-TEE-M", product=create_product("LUMA-TEE", name="Luma crew tee",
                                                          brand=brand, spec_version=version),
                     colour="Black", size="M")
    mug = create_sku("MUG-WHITE", product=create_product("MUG", name="White mug"))
    supplier = create_supplier_row("SZTEX", name="Shenzhen Textiles Co.", contact_name="Li Wei",
                                   email="sales@sztex.example.com", address="88 Bao'an Road",
                                   payment_terms="30% deposit, 70% before shipping")
    create_supplier_item_row(supplier, tee, "4.20", supplier_code="SZ-CT-180")
    create_supplier_item_row(supplier, mug, "1.10", supplier_code="SZ-MUG")
    db.session.commit()
    po = create_purchase_order(supplier, lines=[(tee, 300), (mug, 48)], state="ordered",
                               notes="Pack by size & colour.")
    return po, version.label


def test_purchase_order_pdf_shows_company_supplier_lines_terms_and_specs(specified_order):
    po, spec_label = specified_order
    total, _, _ = services.purchase_order_totals(po)
    pdf = documents.purchase_order_pdf(po, company=COMPANY, total=total)
    assert pdf.startswith(b"%PDF")
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf  # A4
    shown = page_text(pdf)
    for expected in (po.number, "Lantern & Loom Trading Ltd", "1 Harbour Road",
                     "Shenzhen Textiles Co.", "SZTEX", "Li Wei", "sales@sztex.example.com",
                     "LUMA-TEE-M", "SZ-CT-180", "SZ-MUG", "Luma crew tee", "Black / M",
                     spec_label, "30% deposit, 70% before shipping", "300", "4.20",
                     "1,260.00", "1,312.80 USD", "Pack by size & colour."):
        assert expected in shown, expected
    assert total == Decimal("1312.80")


def test_purchase_order_pdf_marks_drafts_as_not_yet_valid(create_purchase_order):
    po = create_purchase_order()
    pdf = documents.purchase_order_pdf(po, company=COMPANY, total=po.total)
    shown = page_text(pdf)
    assert f"draft #{po.id}" in shown
    assert "DRAFT: not valid as an order yet" in shown


def test_purchase_order_pdf_shows_cancelled_quantities_of_a_closed_order(purchase_order_in):
    po = purchase_order_in("closed")
    assert po.state == PurchaseOrderState.closed
    pdf = documents.purchase_order_pdf(po, company=COMPANY, total=po.total)
    assert "6 of 10 cancelled" in page_text(pdf)


def test_a_long_purchase_order_runs_over_several_pages(create_purchase_order, create_sku):
    po = create_purchase_order(lines=[(create_sku(), 1, "1.00") for _ in range(120)])
    pdf = documents.purchase_order_pdf(po, company=COMPANY, total=po.total)
    assert page_count(pdf) >= 3
    assert "120.00 USD" in page_text(pdf)


# --------------------------------------------------------------------------- layout, language

LONG_CODES = [f"KB-BAG-COR-8-L-WATERPROOF-{n:03d}" for n in range(30)]


@pytest.fixture
def long_order(create_supplier_row, create_supplier_item_row, create_sku, create_product,
               create_purchase_order):
    """Return ``long_order(language)``: 30 lines of long-coded SKUs from a supplier in China."""

    def factory(language: str = "en"):
        supplier = create_supplier_row(
            name="Shaoxing Keqiao Textile Mill Co., Ltd. (export department)",
            contact_name="Chen Jing", email="sales@kqtex.example.com", phone="+86 575 8412 3377",
            address="No. 18 Textile City Avenue, Keqiao District\nShaoxing, Zhejiang 312030\n"
                    "China", payment_terms="30% deposit, 70% before shipment",
            language=language)
        product = create_product(name="Children's waterproof backpack, recycled polyester")
        skus = [create_sku(code, product=product, colour="Coral", size="8 L / large")
                for code in LONG_CODES]
        for n, sku in enumerate(skus):
            create_supplier_item_row(supplier, sku, "12.3456",
                                     supplier_code=f"KQTEX-BP-2026-{n:04d}-COR")
        db.session.commit()
        return create_purchase_order(supplier, lines=[(sku, 600 + n) for n, sku in
                                                      enumerate(skus)], state="ordered",
                                     notes="Pack 12 per carton; carton labels with our SKU.")

    return factory


def test_purchase_order_layout_with_long_codes_and_many_lines(long_order):
    from tests.pdfcheck import check_layout

    po = long_order("en")
    pdf = documents.purchase_order_pdf(po, company=COMPANY, total=po.total)
    pages = check_layout(pdf, titles=[f"Purchase order {po.number}"])
    assert len(pages) >= 2
    texts = {run.text for page in pages for run in page.runs}
    for code in LONG_CODES:  # never broken: each code is one run
        assert code in texts, code
    assert "KQTEX-BP-2026-0000-COR" in texts
    # the supplier's address: as typed, the country once, last, in capitals
    first = " ".join(pages[0].text.split())
    assert "Shaoxing, Zhejiang 312030 CHINA" in first
    assert "China" not in first


def test_chinese_supplier_gets_the_order_in_chinese_and_english(long_order):
    from tests.pdfcheck import check_layout, layout

    po = long_order("zh_Hans_CN")
    pdf = documents.purchase_order_pdf(po, company=COMPANY, total=po.total)
    pages = check_layout(pdf, titles=[f"采购单 Purchase order {po.number}"])
    text = " ".join(pages[0].text.split())
    for expected in ("供应商 Supplier", "订单号 Order number", "付款条件 Payment terms",
                     "数量 Qty", "单价 Unit price"):
        assert expected in text, expected
    fonts_used = {run.font for run in layout(pdf)[0].runs if "采购单" in run.text}
    assert fonts_used == {"ERP-Sans"}


def test_english_supplier_gets_english_only(long_order):
    po = long_order("en")
    text = page_text(documents.purchase_order_pdf(po, company=COMPANY, total=po.total))
    assert "Order number" in text
    assert "采购单" not in text
