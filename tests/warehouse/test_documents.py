"""Bin labels PDF: A4 sheets of 3 x 8 labels, each with the bin code and a Code 128 barcode."""

from __future__ import annotations

import re

import pytest

from erp.extensions import db
from erp.warehouse import documents, services
from erp.warehouse.queries import bin_barcode_values


def page_count(pdf: bytes) -> int:
    return len(re.findall(rb"/Type /Page(?!s)", pdf))


def shown_strings(pdf: bytes) -> list[str]:
    """Return the strings drawn with ``Tj`` in an uncompressed PDF's content streams."""
    return [s.decode("latin-1") for s in re.findall(rb"\(([^()]*)\) Tj", pdf)]


@pytest.fixture
def barcodes_drawn(monkeypatch):
    """Record the value of every Code 128 barcode drawn on a label."""
    drawn = []

    class Recording(documents.Barcode128):
        def __init__(self, value, **kwargs):
            drawn.append(value)
            super().__init__(value, **kwargs)

    monkeypatch.setattr(documents, "Barcode128", Recording)
    return drawn


def test_labels_pdf_shows_code_kind_and_barcode_of_each_bin(create_bin, barcodes_drawn):
    bins = [create_bin("A-01-01-01"), create_bin("RCV-01", kind="receiving")]
    pdf = documents.bin_labels_pdf(bins, bin_barcode_values(bins), compress=False)
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) == 1
    strings = shown_strings(pdf)
    # The big code, the barcode's human-readable line, the warehouse and the kind.
    assert strings.count("A-01-01-01") == 2
    assert strings.count("RCV-01") == 2
    assert {"WH1", "STORAGE", "RECEIVING"} <= set(strings)
    assert barcodes_drawn == ["A-01-01-01", "RCV-01"]


@pytest.mark.parametrize(("labels", "pages"), [(1, 1), (24, 1), (25, 2), (48, 2), (49, 3)])
def test_labels_pdf_puts_24_labels_on_each_a4_page(create_bin, labels, pages):
    bins = [create_bin(f"B-{n:03d}") for n in range(labels)]
    pdf = documents.bin_labels_pdf(bins, bin_barcode_values(bins), compress=False)
    assert page_count(pdf) == pages
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in pdf  # A4 in points
    assert set(shown_strings(pdf)) >= {b.code for b in bins}


def test_labels_pdf_without_bins_is_one_page_saying_so(app):
    pdf = documents.bin_labels_pdf([], {}, compress=False)
    assert page_count(pdf) == 1
    assert "No bins were selected." in shown_strings(pdf)


def test_compressed_labels_pdf_is_smaller_and_valid(create_bin):
    bins = [create_bin(f"B-{n:03d}") for n in range(30)]
    plain = documents.bin_labels_pdf(bins, bin_barcode_values(bins), compress=False)
    packed = documents.bin_labels_pdf(bins, bin_barcode_values(bins))
    assert packed.startswith(b"%PDF")
    assert packed.rstrip().endswith(b"%%EOF")
    assert len(packed) < len(plain)
    assert page_count(packed) == 2


def test_barcode_is_the_bare_code_unless_another_active_bin_shares_it(create_bin,
                                                                      barcodes_drawn):
    wh2 = services.create_warehouse(code="WH2", name="Second", country="DE", actor=None)
    shared = create_bin("A-01-01-01")
    other = services.create_location(wh2, code="A-01-01-01", kind="storage", actor=None)
    unique = create_bin("Z-09-09-09")
    values = bin_barcode_values([shared, other, unique])
    assert values == {shared.id: "WH1/A-01-01-01", other.id: "WH2/A-01-01-01",
                      unique.id: "Z-09-09-09"}
    # Every value finds its own bin again when scanned.
    for location in (shared, other, unique):
        assert services.find_location(values[location.id]) is location
    documents.bin_labels_pdf([shared, other, unique], values)
    assert barcodes_drawn == ["WH1/A-01-01-01", "WH2/A-01-01-01", "Z-09-09-09"]


def test_an_inactive_namesake_does_not_force_the_long_barcode(create_bin):
    wh2 = services.create_warehouse(code="WH2", name="Second", country="DE", actor=None)
    live = create_bin("A-01-01-01")
    old = services.create_location(wh2, code="A-01-01-01", kind="storage", actor=None)
    services.update_location(old, kind="storage", pick_sequence=0, active=False, actor=None)
    db.session.flush()
    values = bin_barcode_values([live, old])
    assert values[live.id] == "A-01-01-01"
    assert services.find_location("A-01-01-01") is live
    # The inactive bin gets the long form: its bare code would find the active namesake.
    assert values[old.id] == "WH2/A-01-01-01"


# --------------------------------------------------------------------------- layout, language

LONG_BINS = ["A-01-02-03-LEVEL4-LEFT", "MEZZANINE-B-12-07-04", "RCV-DOCK-02-OVERFLOW"]


def test_bin_labels_layout_with_long_codes(create_bin):
    from tests.pdfcheck import check_layout

    bins = [create_bin(f"{code}-{n}") for n in range(9) for code in LONG_BINS]  # 27 labels
    pages = check_layout(documents.bin_labels_pdf(bins, bin_barcode_values(bins)))
    assert len(pages) == 2
    # each code printed whole twice: large, and under its barcode
    texts = [run.text for page in pages for run in page.runs]
    assert all(texts.count(location.code) == 2 for location in bins)


def test_bin_labels_in_the_printing_users_language(create_bin):
    from flask_babel import force_locale

    from tests.pdfcheck import check_layout

    bins = [create_bin("A-01-01-01"), create_bin("RCV-01", kind="receiving")]
    with force_locale("zh_Hans_CN"):
        pdf = documents.bin_labels_pdf(bins, bin_barcode_values(bins))
    runs = check_layout(pdf)[0].runs
    assert {"存储", "收货"} <= {run.text for run in runs}
    assert {run.font for run in runs if run.text == "收货"} == {"ERP-Sans"}


@pytest.fixture
def long_count(create_sku, create_product, create_bin, receive_stock):
    """An open count of 30 lines with long bin and SKU codes and long product names."""
    product = create_product(name="Organic cotton baby sleeping bag with zip, 2.5 tog")
    skus = [create_sku(f"KB-SLEEP-CLO-18-36M-ORGANIC-{n:02d}", product=product,
                       colour="Cloud white", size="18-36 months",
                       barcode="4006381333931" if n == 0 else None)
            for n in range(10)]
    bins = [create_bin(code) for code in LONG_BINS]
    for location in bins:
        for sku in skus:
            receive_stock(sku, location, 3, "2.00")
    count = services.open_cycle_count(bins[0].warehouse, location_ids=[b.id for b in bins],
                                      note="Quarterly count of the mezzanine, zone B",
                                      actor=None)
    db.session.commit()
    return count


def test_count_sheet_layout_in_english_and_chinese(long_count):
    from flask_babel import force_locale

    from erp.warehouse.count_documents import count_sheet_pdf
    from erp.warehouse.queries import cycle_count_lines_query
    from tests.pdfcheck import check_layout

    lines = db.session.execute(cycle_count_lines_query(long_count.id)).all()
    pdf = count_sheet_pdf(long_count, lines, company="Lantern & Loom Trading Ltd")
    pages = check_layout(pdf, titles=[f"Count sheet {long_count.number}"])
    assert len(pages) >= 2
    assert "(continued)" in pages[1].text
    with force_locale("zh_Hans_CN"):
        pdf = count_sheet_pdf(long_count, lines, company="Lantern & Loom Trading Ltd")
    pages = check_layout(pdf, titles=[f"盘点表 {long_count.number}"])
    assert "库位" in pages[0].text
    assert "盲盘" in pages[0].text


def test_count_sheet_download_in_chinese(client, login_as, long_count):
    from tests.pdfcheck import layout

    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = client.get(f"/warehouse/counts/{long_count.id}/sheet.pdf")
    assert response.status_code == 200
    text = " ".join(layout(response.data)[0].text.split())
    assert f"盘点表 {long_count.number}" in text
    assert "明细行 30" in text
