"""The production order PDF: the maker's language, the header, the measurements table."""

from __future__ import annotations

import pytest

from erp.production import documents
from erp.production.services import orders as production
from tests.pdfcheck import check_layout
from tests.production.po_helpers import MEASURED, made_to_order_sku, paid_order

COMPANY = documents.Company(name="Nordlicht Mode GmbH", address="Lindenstrasse 5\n10969 Berlin",
                            country="DE")


@pytest.fixture
def production_order(create_sku, create_supplier, create_order):
    def factory(language: str, **line):
        sku = made_to_order_sku(create_sku, create_supplier, language=language,
                                code=f"MTO-{language[:2].upper()}")
        order = paid_order(create_order, sku, **line)
        return production.create_for_orders([order], actor=None)[0]

    return factory


def _text(pages) -> str:
    return " ".join(" ".join(page.text.split()) for page in pages)


def test_english_maker_gets_the_measurements_table(app, production_order):
    po = production_order("en", measurements=MEASURED)
    pages = check_layout(documents.production_order_pdf(po, company=COMPANY),
                         titles=[f"Production order {po.number}"])
    text = _text(pages)
    for expected in (po.order.number, po.due_date.isoformat(), po.sku.code, "Silk dress",
                     "Measurement", "Chest", "chest_cm", "96.5", "Waist", "80", "Hips", "102",
                     "Length", "110", "cm"):
        assert expected in text, expected
    assert "胸围" not in text
    assert "生产单" not in text


def test_chinese_maker_gets_chinese_with_english(app, production_order):
    po = production_order("zh_Hans_CN", measurements=MEASURED)
    pages = check_layout(documents.production_order_pdf(po, company=COMPANY),
                         titles=[f"生产单 Production order {po.number}"])
    text = _text(pages)
    for expected in ("交货日期 Due date", "胸围 Chest", "腰围 Waist", "96.5", "chest_cm",
                     "Suzhou Silk Tailors"):
        assert expected in text, expected


def test_a_standard_size_prints_the_size(app, production_order):
    po = production_order("en", size="XL")
    text = _text(check_layout(documents.production_order_pdf(po, company=COMPANY)))
    assert "Size XL" in text
    assert "chest_cm" not in text


def test_the_pdf_view(app, client, login_as, production_order):
    po = production_order("zh_Hans_CN", measurements=MEASURED)
    from erp.extensions import db
    db.session.commit()
    login_as("warehouse")
    response = client.get(f"/production/orders/{po.id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
