"""Shipping in the reader's language: Chinese screens, refusals and exports; counts in words."""

from __future__ import annotations

import io

import pytest
from flask_babel import force_locale
from openpyxl import load_workbook

from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import PARCEL_STATES, ParcelState
from erp.shipping.services import dispatch, packing
from erp.shipping.services.dispatch import AddedParcels, BatchSummary
from tests.shipping import test_dispatch

dispatch_world = test_dispatch.dispatch_world

ZH = "zh-CN,zh;q=0.9"


def page(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def batch_of_one(dispatch_world, dummy_admin):
    """Return an open China Post batch holding one labelled parcel."""
    w = dispatch_world
    batch = dispatch.open_batch(w.setup["post"].carrier, actor=dummy_admin)
    parcel = w.parcel(w.setup["post"], [(w.sku, 1)])
    dispatch.scan_into_batch(batch, parcel.tracking_number, actor=dummy_admin)
    db.session.commit()
    return batch


def test_batch_page_in_chinese(client, login_as, batch_of_one):
    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH

    text = page(client.get(f"/shipping/batches/{batch_of_one.id}"))

    assert f"发货批次 {batch_of_one.number}" in text
    for label in ("扫描包裹", "加入批次", "关闭批次并交接"):
        assert label in text
    assert f"关闭发货批次 {batch_of_one.number}（共 1 个包裹）？" in text
    assert ">待处理</span>" in text  # the batch's state badge
    assert "Scan parcels" not in text


def test_close_confirm_says_one_parcel_not_one_parcels(client, login_as, batch_of_one):
    login_as("warehouse")

    text = page(client.get(f"/shipping/batches/{batch_of_one.id}"))

    assert f"Close batch {batch_of_one.number} with 1 parcel? It is then dispatched and its " \
           "order shipped" in text
    assert "with 1 parcels" not in text


def test_refusal_in_chinese_names_what_was_scanned(client, login_as, batch_of_one):
    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH

    text = page(client.post(f"/shipping/batches/{batch_of_one.id}/scan",
                            data={"code": "PCL-NOPE-1"}, follow_redirects=True))

    assert ("已拒绝：没有运单号或包裹号为“PCL-NOPE-1”的包裹。"
            "请检查面单，或在包裹搜索中查找该包裹。") in text


def test_packing_station_refuses_an_unknown_order_in_chinese(client, login_as):
    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH

    response = client.get("/shipping/packing", query_string={"q": "WEB-404"})

    assert response.status_code == 422
    text = page(response)
    assert "<h2>已拒绝</h2>" in text
    assert "没有订单号为“WEB-404”的订单。" in text
    assert "扫描订单或周转箱" in text


def test_service_refusal_is_in_the_language_it_is_raised_in(app):
    with force_locale("zh_Hans_CN"), pytest.raises(ShippingError) as refused:
        packing.find_order_for_packing("WAVE-2026-000009/4")
    assert str(refused.value) == "波次 WAVE-2026-000009 的周转箱 4 没有订单；请核对波次号和箱位。"
    with pytest.raises(ShippingError, match=r"^Tote 4 of wave WAVE-2026-000009 holds no order"):
        packing.find_order_for_packing("WAVE-2026-000009/4")


def test_close_summary_counts_in_words(app):
    one = BatchSummary(number="DSP-2026-000001", parcels=1, units=1, weight_g=500,
                       orders_shipped=1)
    many = BatchSummary(number="DSP-2026-000002", parcels=1200, units=3, weight_g=1_250_500,
                        orders_shipped=0, orders_waiting=["WEB-1"],
                        waiting_for={"WEB-1": "still being packed"})

    assert str(one) == ("Batch DSP-2026-000001 closed: 1 parcel dispatched (1 unit, 0.500 kg); "
                        "1 order shipped.")
    assert str(many) == ("Batch DSP-2026-000002 closed: 1,200 parcels dispatched (3 units, "
                         "1,250.500 kg); 0 orders shipped; 1 order not complete yet: WEB-1 "
                         "(still being packed).")
    assert str(AddedParcels(batch="DSP-2026-000001", added=1)) == \
        "1 labelled parcel added to DSP-2026-000001."
    with force_locale("zh_Hans_CN"):
        assert str(one) == ("发货批次 DSP-2026-000001 已关闭：已发货 1 个包裹（1 件，0.500 kg）；"
                            "1 个订单已发货完成。")


def test_state_labels_follow_the_reader(app):
    assert PARCEL_STATES.label(ParcelState.labelled) == "labelled"
    assert PARCEL_STATES.labels[ParcelState.labelled] == "labelled"  # the msgid stays
    with force_locale("zh_Hans_CN"):
        assert PARCEL_STATES.label(ParcelState.labelled) == "已出面单"


def test_parcel_export_headed_in_chinese(client, login_as, dispatch_world):
    w = dispatch_world
    w.parcel(w.setup["post"], [(w.sku, 1)])
    db.session.commit()
    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH

    response = client.get("/shipping/parcels/export.xlsx")

    sheet = load_workbook(io.BytesIO(response.data)).active
    headers = [cell.value for cell in sheet[1]]
    assert headers[:3] == ["包裹", "运单号", "状态"]
    assert sheet.title == "包裹"
    assert sheet.cell(row=2, column=3).value == "已出面单"
