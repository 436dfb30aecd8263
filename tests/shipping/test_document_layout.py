"""Every shipping document laid out without faults (tests/pdfcheck.py), with demo-like data.

Long SKU and spec codes, long addresses, many lines, and addresses in Germany, France, the
United Kingdom, the United States, Japan and China (in Japanese and Chinese script and in Latin
letters), each printed in its national order with the country once, last.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask_babel import force_locale

from erp.core import services as core_services
from erp.extensions import db
from erp.orders.services import allocate_orders
from erp.shipping.documents.customs import cn23_pdf, commercial_invoice_pdf, customs_pdf
from erp.shipping.documents.handover import handover_pdf
from erp.shipping.documents.labels import label_pdf, load_parcels
from erp.shipping.documents.pick_list import pick_list_pdf
from erp.shipping.documents.slips import packing_slip_pdf
from erp.shipping.models import (
    CustomsForm,
    DispatchBatch,
    Parcel,
    ParcelLine,
    ParcelState,
    PickTaskState,
)
from erp.shipping.services import waves
from tests.pdfcheck import check_layout, layout

#: (order fields, the address lines expected, in order, the country last)
ADDRESSES = {
    "DE": ({"ship_name": "Erika Mustermann-Lüdenscheid", "address1": "Kaiser-Wilhelm-Straße 124",
            "address2": "Hinterhaus, 3. Obergeschoss links", "city": "Hamburg",
            "postal_code": "20357", "region": "Hamburg"},
           ["Erika Mustermann-Lüdenscheid", "Kaiser-Wilhelm-Straße 124",
            "Hinterhaus, 3. Obergeschoss links", "20357 Hamburg", "GERMANY"]),
    "FR": ({"ship_name": "Jean-Baptiste Delacroix-Martin", "address1": "12 rue des Petits-Champs",
            "address2": "Bâtiment B, escalier 4", "city": "Paris", "postal_code": "75002"},
           ["Jean-Baptiste Delacroix-Martin", "12 rue des Petits-Champs",
            "Bâtiment B, escalier 4", "75002 Paris", "FRANCE"]),
    "GB": ({"ship_name": "Amelia Worthington-Smythe", "address1": "Flat 14, Riverside Court",
            "address2": "221 Old Kent Road", "city": "London", "postal_code": "SE1 5TY",
            "region": "Greater London"},
           ["Amelia Worthington-Smythe", "Flat 14, Riverside Court", "221 Old Kent Road",
            "London", "SE1 5TY", "UNITED KINGDOM"]),
    "US": ({"ship_name": "Jonathan Q. Applebaum", "address1": "1600 Amphitheatre Parkway",
            "address2": "Building 42, Suite 1200", "city": "Mountain View", "region": "CA",
            "postal_code": "94043-1351"},
           ["Jonathan Q. Applebaum", "1600 Amphitheatre Parkway", "Building 42, Suite 1200",
            "Mountain View, CA 94043-1351", "UNITED STATES"]),
    "JP": ({"ship_name": "山田太郎", "address1": "丸の内一丁目1番1号", "address2": "パレスビル5階",
            "city": "千代田区", "region": "東京都", "postal_code": "100-0005"},
           ["〒100-0005", "東京都", "千代田区 丸の内一丁目1番1号", "パレスビル5階", "山田太郎",
            "JAPAN"]),
    "JP-latin": ({"ship_name": "Taro Yamada", "address1": "1-1-1 Marunouchi",
                  "address2": "Palace Building 5F", "city": "Chiyoda-ku", "region": "Tokyo",
                  "postal_code": "100-0005"},
                 ["Taro Yamada", "1-1-1 Marunouchi", "Palace Building 5F", "Chiyoda-ku, Tokyo",
                  "100-0005", "JAPAN"]),
    "CN": ({"ship_name": "张伟", "address1": "建国路88号SOHO现代城5号楼2单元1801室",
            "city": "北京市", "region": "北京市", "postal_code": "100022"},
           ["100022", "北京市", "建国路88号SOHO现代城5号楼2单元1801室", "张伟", "CHINA"]),
    "CN-latin": ({"ship_name": "Zhang Wei", "address1": "Room 1801, Unit 2, Building 5",
                  "address2": "SOHO New Town, 88 Jianguo Road", "city": "Beijing",
                  "region": "Beijing", "postal_code": "100022"},
                 ["Zhang Wei", "Room 1801, Unit 2, Building 5", "SOHO New Town, 88 Jianguo Road",
                  "Beijing", "100022", "CHINA"]),
}
LONG_CODES = ["KB-SLEEP-CLO-18-36M-ORGANIC", "KB-BAG-COR-8-L-WATERPROOF",
              "NP-TEE-BLA-XXL-MERINO-180", "KB-HOOD-YEL-10Y-FLEECE-LINED"]
DESCRIPTIONS = ["Baby sleeping bag of organic cotton, 2.5 tog, cloud print",
                "Children's backpack of polyester, waterproof, 8 litres",
                "Men's merino wool T-shirt, knitted, 180 gsm",
                "Children's zip hoodie of cotton fleece, lined"]


def _in_order(text: str, expected: list[str], *, once: bool = True) -> None:
    """Assert the lines appear in ``text`` in this order, the country exactly once."""
    flat = " ".join(text.split())
    position = 0
    for line in expected:
        found = flat.find(" ".join(line.split()), position)
        assert found >= 0, f"{line!r} not found after position {position} in {flat!r}"
        position = found + len(line)
    if once:
        assert flat.count(expected[-1]) == 1, f"{expected[-1]} printed {flat.count(expected[-1])}x"


@pytest.fixture
def world(shipping_setup, create_sku, create_order):
    """Return ``parcel(country_key, service, form, lines)`` with long codes and descriptions."""
    core_services.update_settings({
        "company_name": "Lantern & Loom Trading Company Limited",
        "company_address": "Unit 5, 18th Floor, Harbour Industrial Building\n"
                           "18 Harbour Road, Nanshan District\nShenzhen 518000\nChina",
        "company_country": "CN"}, actor=None)
    skus = [create_sku(code, hs_code="6109100010", origin_country="CN",
                       colour="Cloud white", size="18-36 months")
            for code in LONG_CODES]
    counter = iter(range(1, 1000))

    def factory(key: str, service: str = "post", form: str = "cn22", lines: int = 4,
                order=None, sequence: int = 1):
        n = next(counter)
        fields, _expected = ADDRESSES[key]
        if order is None:
            order = create_order([(skus[i % len(skus)], 1 + i % 3, "1234.50")
                                  for i in range(lines)], country=key.split("-")[0],
                                 phone="+49 40 1234 5678 90", currency="EUR", **fields)
        tracking = f"JD0146000039{n:04d}" if service == "express" else f"RR{10000000 + n:08d}9CN"
        parcel = Parcel(number=f"PCL-2026-{n:06d}", order_id=order.id,
                        service=shipping_setup[service], sequence=sequence,
                        state=ParcelState.labelled, tracking_number=tracking, weight_g=1450,
                        length_mm=250, width_mm=180, height_mm=50,
                        declared_value=sum((line.unit_price * line.quantity
                                            for line in order.lines[:lines]), Decimal(0)),
                        currency="EUR",
                        customs_form=CustomsForm(form),
                        labelled_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
        for index, line in enumerate(order.lines[:lines]):
            parcel.lines.append(ParcelLine(
                order_line_id=line.id, sku_id=line.sku_id, quantity=line.quantity,
                description=DESCRIPTIONS[index % len(DESCRIPTIONS)], hs_code="6109100010",
                origin_country="CN", net_weight_g=360, unit_value=line.unit_price))
        db.session.add(parcel)
        db.session.flush()
        return parcel

    return factory


def _load(*parcels) -> list[Parcel]:
    db.session.commit()
    return load_parcels([p.id for p in parcels])


@pytest.mark.parametrize("key", list(ADDRESSES))
def test_label_in_the_national_address_order(world, key):
    parcel = world(key, lines=3)
    data = label_pdf(_load(parcel))
    pages = check_layout(data, titles=["CUSTOMS DECLARATION CN 22"])
    _in_order(pages[0].text, ADDRESSES[key][1], once=not key.startswith("CN"))
    # the sender too: the typed lines, its country once, last
    _in_order(pages[0].text, ["Lantern & Loom Trading Company Limited", "Shenzhen 518000",
                              "CHINA"], once=False)
    assert pages[0].text.count("CHINA") == 1 + (key.startswith("CN"))


def test_cn22_label_with_many_lines_refers_to_the_invoice(world):
    parcel = world("DE", lines=12)
    data = label_pdf(_load(parcel))
    pages = check_layout(data)
    assert "see invoice" in pages[0].text
    sizes = {round(run.size, 1) for run in pages[0].runs}
    assert min(sizes) >= 6.0  # the certification too


def test_labels_for_every_service(world):
    parcels = [world("US", service="express", form="invoice"),
               world("JP", service="ems", form="cn23"), world("CN-latin")]
    check_layout(label_pdf(_load(*parcels)))


@pytest.mark.parametrize("key", ["DE", "FR", "GB", "US", "JP", "CN"])
def test_cn23_is_the_upu_form_without_overlaps(world, key):
    parcel = world(key, service="ems", form="cn23", lines=9)
    data = cn23_pdf(_load(parcel))
    pages = check_layout(data, titles={"CUSTOMS DECLARATION": {1}})
    text = pages[0].text
    for caption in ("Quantity (2)", "Net weight (kg) (3)", "Value (5)", "HS tariff number (7)",
                    "Country of origin of goods (8)", "Category of item (10)",
                    "Date and sender's signature (17)", "I certify"):
        assert caption in " ".join(text.split()), caption
    _in_order(text, ADDRESSES[key][1], once=key != "CN")  # China: also the goods' origin
    # the articles' columns do not collide: each value sits under its own header
    runs = pages[0].runs
    head = {run.text: run for run in runs if run.text in ("Quantity", "(2)", "Net weight",
                                                          "Value (5)", "HS tariff number")}
    assert head["Quantity"].x < head["Net weight"].x < head["Value (5)"].x \
        < head["HS tariff number"].x


def test_cn23_several_parcels_one_title_each(world):
    first, second = world("GB", service="ems", form="cn23"), world("FR", service="ems",
                                                                   form="cn23")
    data = cn23_pdf(_load(first, second))
    pages = check_layout(data, titles=["CUSTOMS DECLARATION"])
    assert len(pages) == 2


@pytest.mark.parametrize("key", ["DE", "US", "JP", "CN-latin"])
def test_commercial_invoice_and_packing_slip(world, key):
    parcel = world(key, service="express", form="invoice", lines=14)
    parcels = _load(parcel)
    invoice = check_layout(commercial_invoice_pdf(parcels),
                           titles={f"COMMERCIAL INVOICE — {parcel.number}": {1}})
    _in_order(invoice[0].text, ADDRESSES[key][1], once=False)  # also the destination
    assert invoice[0].text.count(ADDRESSES[key][1][-1]) == 2 + key.startswith("CN")
    slip = check_layout(packing_slip_pdf(parcels), titles={"Packing slip": {1}})
    _in_order(slip[0].text, ADDRESSES[key][1])
    assert LONG_CODES[0] in slip[0].text  # whole, not broken


def test_invoice_continued_on_a_second_page_names_its_section(world):
    parcel = world("DE", service="express", form="invoice", lines=40)
    pages = check_layout(commercial_invoice_pdf(_load(parcel)),
                         titles={"COMMERCIAL INVOICE": {1, 2}})
    assert len(pages) >= 2
    assert "(continued)" in pages[1].text


def test_customs_pdf_for_a_batch(world):
    parcels = [world("DE", service="ems", form="cn23"), world("US", service="express",
                                                              form="invoice"), world("GB")]
    pages = check_layout(customs_pdf(_load(*parcels)))
    assert len(pages) == 3  # CN23 + invoice, invoice; the CN22 parcel has its label


def test_handover_sheet(world, shipping_setup):
    parcels = [world(key) for key in ADDRESSES]
    batch = DispatchBatch(number="DSP-2026-000001", carrier=shipping_setup["post"].carrier)
    db.session.add(batch)
    db.session.flush()
    for parcel in parcels:
        parcel.batch_id = batch.id
    db.session.commit()
    check_layout(handover_pdf(batch), titles={"Dispatch hand-over DSP-2026-000001": {1}})


@pytest.fixture
def wave(app, create_bin, create_sku, receive_stock, create_order, packing_bin, shipping_setup):
    """A wave of 12 orders over 4 long-coded SKUs in 4 bins, half of its tasks picked."""
    skus = [create_sku(code, colour="Cloud white", size="18-36 months") for code in LONG_CODES]
    for n, sku in enumerate(skus):
        receive_stock(sku, create_bin(f"A-{n + 1:02d}-02-03-LEVEL4", pick_sequence=n), 100)
    for n in range(12):
        fields, _expected = ADDRESSES[list(ADDRESSES)[n % len(ADDRESSES)]]
        create_order([(skus[n % 4], 1 + n % 3), (skus[(n + 1) % 4], 1)],
                     shipping_service="POST-REG", country=list(ADDRESSES)[n % 8][:2], **fields)
    allocate_orders(actor=None)
    built = waves.build_wave(waves.WaveFilters(), actor=None)
    for n, task in enumerate(built.tasks):
        if n % 2:
            task.state = PickTaskState.picked
    db.session.commit()
    return built


def test_pick_list_in_english_and_in_chinese(wave):
    # the title once on every page: the later ones say which list they continue
    pages = check_layout(pick_list_pdf(wave), titles=[f"Pick list {wave.number}"])
    assert "picked" in pages[0].text
    with force_locale("zh_Hans_CN"):
        data = pick_list_pdf(wave)
    pages = check_layout(data, titles=[f"拣货单 {wave.number}"])
    assert "已拣" in pages[0].text
    assert any(run.font == "ERP-Sans" for run in layout(data)[0].runs)


def test_pick_list_download_follows_the_readers_language(client, login_as, wave):
    login_as("warehouse")
    english = layout(client.get(f"/shipping/waves/{wave.id}/pick-list.pdf").data)[0].text
    assert "12 orders, 24 picks," in " ".join(english.split())
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    response = client.get(f"/shipping/waves/{wave.id}/pick-list.pdf")
    assert response.status_code == 200
    text = " ".join(layout(response.data)[0].text.split())
    assert f"拣货单 {wave.number}" in text
    assert "12 个订单，24 次拣货" in text
    assert "周转箱" in text


def test_papers_going_abroad_stay_english_for_a_chinese_reader(client, login_as, world):
    parcel = world("DE", service="ems", form="cn23")
    db.session.commit()
    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    for endpoint in ("label", "cn23", "invoice", "packing-slip"):
        response = client.get(f"/shipping/parcels/{parcel.id}/{endpoint}.pdf")
        assert response.status_code == 200, endpoint
        text = " ".join(layout(response.data)[0].text.split())
        assert "打印" not in text, endpoint
        assert "页" not in text, endpoint
        assert "GERMANY" in text, endpoint
        if endpoint != "label":
            assert "Page 1" in text, endpoint
