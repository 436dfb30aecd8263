"""Shipping documents: labels, CN23, commercial invoice and packing slip, parsed back with pypdf."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pypdf
import pytest

from erp.extensions import db
from erp.shipping.documents.customs import cn23_pdf, commercial_invoice_pdf
from erp.shipping.documents.labels import country_name, label_pdf, load_parcels, missing_glyphs
from erp.shipping.documents.slips import packing_slip_pdf
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsForm, Parcel, ParcelLine, ParcelState
from tests.pdfcheck import layout

LABEL_SIZE = (283.46, 425.2)
A4_SIZE = (595.28, 841.89)


def pages(data: bytes):
    """Return the pages of a PDF."""
    return pypdf.PdfReader(io.BytesIO(data)).pages


def page_size(page) -> tuple[float, float]:
    """Return a page's width and height in points, rounded to 0.01."""
    box = page.mediabox
    return round(float(box.width), 2), round(float(box.height), 2)


def text_of(data: bytes) -> str:
    """Return the text of every page of a PDF."""
    return "\n".join(page.extract_text() for page in pages(data))


def ticked(data: bytes, page: int = 1) -> list[str]:
    """Return the captions of the category boxes ticked with an X on a page."""
    runs = layout(data)[page - 1].runs
    found = []
    for mark in (run for run in runs if run.text == "X"):
        beside = [run for run in runs if run is not mark and abs(run.y - mark.y) < 2.5
                  and 0 < run.x - mark.x < 15]
        found += [run.text for run in beside]
    return found


@pytest.fixture
def make_parcel(shipping_setup, create_sku, create_order):
    """Return ``make_parcel(service="post", form="cn22", lines=2, tracking=..., **order)``."""
    skus = [create_sku(f"DOC-{i}") for i in range(3)]
    counter = iter(range(1, 1000))

    def factory(service: str = "post", form: str = "cn22", lines: int = 2,
                tracking: str | None = "auto", order=None, sequence: int = 1,
                ioss: str | None = None, **order_values):
        n = next(counter)
        if order is None:
            order = create_order([(sku, 2, "12.50") for sku in skus[:lines]], **order_values)
        parcel = Parcel(
            number=f"PCL-{n:06d}", order_id=order.id, service=shipping_setup[service],
            sequence=sequence, state=ParcelState.labelled if tracking else ParcelState.packed,
            tracking_number=(f"RR{10000000 + n:08d}9CN" if tracking == "auto" else tracking),
            weight_g=450, length_mm=250, width_mm=180, height_mm=50,
            declared_value=Decimal("25.00") * lines, currency=order.currency,
            customs_form=CustomsForm(form), ioss_number=ioss,
            labelled_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC) if tracking else None)
        for line in order.lines[:lines]:
            parcel.lines.append(ParcelLine(
                order_line_id=line.id, sku_id=line.sku_id, quantity=line.quantity,
                description="Men's cotton T-shirt", hs_code="610910", origin_country="CN",
                net_weight_g=360, unit_value=line.unit_price))
        db.session.add(parcel)
        db.session.flush()
        return parcel

    return factory


def _ids(*parcels) -> list[Parcel]:
    db.session.commit()
    return load_parcels([p.id for p in parcels])


def test_label_page_size_and_key_fields(make_parcel):
    parcel = make_parcel(ship_name="Иван Петров", address1="ул. Ленина, д. 5", city="Москва",
                         postal_code="101000", country="RU", phone="+7 900 000 00 00")
    data = label_pdf(_ids(parcel))
    found = pages(data)
    assert len(found) == 1
    assert page_size(found[0]) == LABEL_SIZE
    content = found[0].extract_text()
    assert "Иван Петров" in content
    assert "ул. Ленина, д. 5" in content
    assert "RUSSIAN FEDERATION" in content
    assert "RR 1000 0001 9 CN" in content  # the number under the barcode
    assert parcel.order.number in content
    assert "0.450 kg" in content
    assert "Registered air mail".upper() in content
    assert "Example Trading Ltd" in content  # the sender (company settings)


def test_cn22_block_only_for_cn22_parcels(make_parcel):
    cn22 = make_parcel(form="cn22")
    cn23 = make_parcel(form="cn23", service="ems", ship_name="张伟", country="JP",
                       city="東京")
    data = label_pdf(_ids(cn22, cn23))
    first, second = (page.extract_text() for page in pages(data))
    assert "CN 22" in first
    assert "Sale of goods" in first
    assert "610910" in first
    assert "50.00 EUR" in first  # total value with its currency
    assert "0.720" in first  # total net weight in kg
    assert "Date and sender's signature: 2026-03-02" in first
    assert "CN 22" not in second
    assert "CN 23 ATTACHED" in second
    assert "张伟" in second
    assert "東京" in second
    assert "JAPAN" in second


def test_ioss_never_on_the_label_but_on_the_invoice(make_parcel):
    parcel = make_parcel(service="express", form="invoice", ioss="IM1234567890")
    parcels = _ids(parcel)
    assert "IM1234567890" not in text_of(label_pdf(parcels))
    invoice = commercial_invoice_pdf(parcels)
    assert page_size(pages(invoice)[0]) == A4_SIZE
    assert "IM1234567890" in text_of(invoice)


def test_invoice_without_ioss_does_not_mention_it(make_parcel):
    parcel = make_parcel(service="express", form="invoice", country="US")
    assert "IOSS" not in text_of(commercial_invoice_pdf(_ids(parcel)))


def test_commercial_invoice_fields(make_parcel, create_order, create_sku):
    order = create_order([(create_sku("INV-1"), 3, "20.00")], ship_name="Иван Петров",
                         country="RU", city="Москва", shipping_charge=Decimal("7.50"),
                         phone="+7 900 111", buyer_tax_id="7701234567")
    parcel = make_parcel(service="express", form="invoice", order=order, lines=1)
    content = text_of(commercial_invoice_pdf(_ids(parcel)))
    for expected in ("COMMERCIAL INVOICE", parcel.number, order.number, parcel.tracking_number,
                     "DAP", "Sale", "Иван Петров", "RUSSIAN FEDERATION", "+7 900 111",
                     "7701234567", "610910", "60.00 EUR", "7.50 EUR", "67.50 EUR",
                     "0.450 kg", "Number of packages", "true and correct"):
        assert expected in content, expected


def test_cn23_fields(make_parcel):
    parcel = make_parcel(service="ems", form="cn23", ship_name="张伟", country="HK",
                         city="香港", postal_code=None, phone="+852 1234 5678",
                         buyer_tax_id="HK-IMP-1")
    data = cn23_pdf(_ids(parcel))
    assert page_size(pages(data)[0]) == A4_SIZE
    content = text_of(data)
    for expected in ("CN 23", parcel.tracking_number, "张伟", "香港", "HONG KONG",
                     "+852 1234 5678", "buyer", "HK-IMP-1", "Sale of goods", "610910",
                     "Total gross weight", "0.450", "Postal charges", "Invoice (15)",
                     "Office of origin", "2026-03-02", "I certify"):
        assert expected in content, expected
    assert ticked(data) == ["Sale of goods"]


def test_packing_slip(make_parcel):
    first = make_parcel(ship_name="张伟", sequence=1)
    second = make_parcel(order=first.order, sequence=2, lines=1)
    data = packing_slip_pdf(_ids(first, second))
    found = pages(data)
    assert len(found) == 2
    assert {page_size(p) for p in found} == {A4_SIZE}
    content = text_of(data)
    assert "张伟" in content
    assert first.order.number in content
    assert "(1/2)" in content
    assert "(2/2)" in content
    assert "DOC-0" in content
    assert "Thank you" in content


def test_multi_parcel_label_pdf_has_a_page_per_parcel_and_n_of_n(make_parcel):
    first = make_parcel()
    second = make_parcel(order=first.order, sequence=2, lines=1)
    other = make_parcel()
    data = label_pdf(_ids(first, second, other))
    texts = [page.extract_text() for page in pages(data)]
    assert len(texts) == 3
    assert "1/2" in texts[0]
    assert "2/2" in texts[1]
    assert "1/1" in texts[2]


def test_a_voided_sibling_does_not_count(make_parcel):
    first = make_parcel()
    make_parcel(order=first.order, sequence=2, lines=1).state = ParcelState.voided
    assert "1/1" in text_of(label_pdf(_ids(first)))


def test_label_refused_without_tracking_number(make_parcel):
    parcel = make_parcel(tracking=None)
    with pytest.raises(ShippingError, match=f"{parcel.number} has no tracking number"):
        label_pdf(_ids(parcel))


def test_uncovered_characters_print_as_question_marks_and_are_reported(make_parcel):
    parcel = make_parcel(ship_name="สมชาย ใจดี", country="US")  # Thai: no font covers it
    parcels = _ids(parcel)
    assert missing_glyphs(parcels) == {parcel.number: set("สมชายใจดี")}
    content = text_of(label_pdf(parcels))
    assert "????? ????" in content


def test_country_names_in_english_capitals():
    assert country_name("de") == "GERMANY"
    assert country_name("GB") == "UNITED KINGDOM"
    assert country_name("KR") == "SOUTH KOREA"
    assert country_name("XX") == "XX"


# --------------------------------------------------------------------------- views

def test_parcel_documents_download(client, login_as, make_parcel):
    parcel = make_parcel(service="ems", form="cn23")
    db.session.commit()
    login_as("warehouse")
    for endpoint, size in (("label", LABEL_SIZE), ("cn23", A4_SIZE), ("invoice", A4_SIZE),
                           ("packing-slip", A4_SIZE)):
        response = client.get(f"/shipping/parcels/{parcel.id}/{endpoint}.pdf")
        assert response.status_code == 200, endpoint
        assert response.mimetype == "application/pdf"
        assert page_size(pages(response.data)[0]) == size


def test_every_staff_role_may_print_but_not_anonymous(client, login_as, make_parcel):
    parcel = make_parcel()
    db.session.commit()
    assert client.get(f"/shipping/parcels/{parcel.id}/label.pdf").status_code == 302
    login_as("customer_service")
    assert client.get(f"/shipping/parcels/{parcel.id}/label.pdf").status_code == 200


def test_unlabelled_parcel_label_is_409(client, login_as, make_parcel):
    parcel = make_parcel(tracking=None)
    db.session.commit()
    login_as("warehouse")
    response = client.get(f"/shipping/parcels/{parcel.id}/label.pdf")
    assert response.status_code == 409
    assert b"has no tracking number yet" in response.data
    assert client.get("/shipping/parcels/999999/label.pdf").status_code == 404


def test_wave_and_batch_pdfs(client, login_as, make_parcel, shipping_setup, packing_bin):
    from erp.shipping.models import DispatchBatch, PickWave, PickWaveOrder

    first = make_parcel()
    second = make_parcel(service="ems", form="cn23")
    unlabelled = make_parcel(tracking=None)
    voided = make_parcel(order=first.order, sequence=2, lines=1)
    voided.state = ParcelState.voided
    wave = PickWave(number="WAVE-T1", packing_location_id=packing_bin.id)
    for slot, parcel in enumerate((second, first, unlabelled), start=1):
        wave.orders.append(PickWaveOrder(order_id=parcel.order_id, slot=slot))
    batch = DispatchBatch(number="DB-T1", carrier=shipping_setup["post"].carrier)
    empty = DispatchBatch(number="DB-T2", carrier=shipping_setup["post"].carrier)
    db.session.add_all([wave, batch, empty])
    db.session.flush()
    first.batch_id = second.batch_id = batch.id
    db.session.commit()
    login_as("warehouse")

    response = client.get(f"/shipping/waves/{wave.id}/labels.pdf")
    assert response.status_code == 200
    texts = [p.extract_text() for p in pages(response.data)]
    assert len(texts) == 2  # voided and unlabelled parcels are left out
    assert second.number in texts[0]
    assert first.number in texts[1]

    response = client.get(f"/shipping/batches/{batch.id}/labels.pdf")
    assert len(pages(response.data)) == 2
    response = client.get(f"/shipping/batches/{batch.id}/customs.pdf")
    assert response.status_code == 200
    content = text_of(response.data)
    assert "CN 23" in content
    assert "COMMERCIAL INVOICE" in content
    assert f"CN 23\n{second.number}" in content
    assert f"CN 23\n{first.number}" not in content  # a CN22 parcel: its label carries it

    response = client.get(f"/shipping/batches/{empty.id}/labels.pdf")
    assert response.status_code == 409
    assert b"has no parcels yet" in response.data
