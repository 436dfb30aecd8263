"""Purchasing in Chinese: pages, refusals with their values, counts, and English unchanged."""

from __future__ import annotations

import html

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from erp.core.errors import DomainError
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import Receipt
from tests.procurement.test_views import supplier, switch_to, tee  # noqa: F401 - fixtures


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def chinese(client):
    """Make the test client's browser ask for Chinese."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    yield
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)


def test_receiving_start_page_in_chinese(client, switch_to, purchase_order_in,  # noqa: F811
                                         chinese):
    po = purchase_order_in("ordered")
    switch_to("warehouse")

    page = text(client.get("/procurement/receiving"))

    assert '<html lang="zh-Hans">' in page
    for expected in ("<h1>收货</h1>", "待收货的采购单", "最近的收货单", "下单日期", po.number,
                     ">已下单<", "扫描送货单上的采购单编号，或手动输入，然后按回车。"):
        assert expected in page, expected
    assert "Orders to receive" not in page


def test_purchase_order_page_in_chinese_shows_money_and_counts(client, switch_to,  # noqa: F811
                                                               purchase_order_in, chinese):
    po = purchase_order_in("partially_received")  # 10 units at 5.00 USD, 4 received
    switch_to("purchasing")

    page = text(client.get(f"/procurement/purchase-orders/{po.id}"))

    assert f"采购单 {po.number}" in page
    assert ">部分收货<" in page
    assert "50.00 USD" in page  # the total, to the currency's minor units
    assert "6 件" in page  # remaining to receive
    assert "采购单明细行" in page
    assert "短收关闭" in page


def test_pack_refusal_in_chinese_has_its_values(client, switch_to, create_purchase_order,  # noqa: F811
                                               supplier, tee, chinese):  # noqa: F811
    po = create_purchase_order(supplier, lines=[])
    switch_to("purchasing")

    response = client.post(f"/procurement/purchase-orders/{po.id}/lines",
                           data={"sku": "TEE-BLK-M", "quantity": "20"})

    assert response.status_code == 422
    assert ("要向供应商“ACME”订购 SKU“TEE-BLK-M”，订购数量必须是包装倍数 12 的倍数"
            "（最接近的有效数量：24；本次填写：20）。") in text(response)


def test_service_refusal_follows_the_locale(app, create_purchase_order):
    po = create_purchase_order(lines=[])
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        with pytest.raises(DomainError) as refused:
            services.submit_purchase_order(po, actor=None)
        # the draft's reference is in Chinese too
        assert str(refused.value) == f"要提交采购单“草稿 #{po.id}”，必须先至少添加一行。"
    db.session.rollback()
    with pytest.raises(DomainError) as refused:  # outside a request: English
        services.submit_purchase_order(po, actor=None)
    assert str(refused.value) == (f'To submit purchase order "draft #{po.id}", you must first '
                                  "add at least one line.")
    db.session.rollback()


@pytest.mark.parametrize(("quantity", "english", "chinese_text"), [
    (1, "1 unit of", " 的 1 件已收入"),
    (1200, "1,200 units of", " 的 1,200 件已收入"),
])
def test_receipt_flash_counts_units(client, switch_to, create_purchase_order, supplier,  # noqa: F811
                                    tee, receiving_bin, quantity, english,  # noqa: F811
                                    chinese_text):
    po = create_purchase_order(supplier, lines=[(tee, 2400)], state="ordered")
    line = po.lines[0]
    switch_to("warehouse")
    url = f"/procurement/receiving/{po.id}"
    data = {"action": "receive", "bin": "WH1/RCV-01", f"qty-{line.id}": str(quantity)}

    page = text(client.post(url, data=data, follow_redirects=True))
    assert f"{english} {po.number} received into WH1/RCV-01." in page

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    try:
        page = text(client.post(url, data=data, follow_redirects=True))
    finally:
        client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    receipt = db.session.scalars(select(Receipt).order_by(Receipt.id.desc())).first()
    assert f"收货单 {receipt.number}：{po.number}{chinese_text} WH1/RCV-01。" in page
