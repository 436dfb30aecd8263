"""The catalog in Chinese: pages, refusals with their values, and counts in either language."""

from __future__ import annotations

import pytest

from erp.extensions import db


@pytest.fixture
def purchasing(login_as):
    return login_as("purchasing")


@pytest.fixture
def chinese(client):
    """Make the test client's browser ask for Chinese."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    yield
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)


def test_sku_list_in_chinese(client, purchasing, create_sku, chinese):
    sku = create_sku("TS-RED-M", barcode="4006381333931", weight_g=1250)
    db.session.commit()

    page = client.get("/catalog/skus").get_data(as_text=True)

    assert '<html lang="zh-Hans">' in page
    for expected in ("<h1>SKU</h1>", "扫描或输入 SKU、条码或名称", "导出到 Excel", sku.code,
                     "1.250 kg", ">启用<", "将勾选的 SKU 设为"):
        assert expected in page, expected


def test_duplicate_sku_code_is_refused_in_chinese(client, purchasing, create_sku,
                                                  create_product, chinese):
    create_sku("TS-RED-M")
    product = create_product()
    db.session.commit()

    response = client.post(f"/catalog/products/{product.id}/skus/new",
                           data={"code": "ts-red-m", "status": "active"})

    assert "要创建 SKU“TS-RED-M”，必须换一个代码：该代码已被使用。" in response.get_data(
        as_text=True)


@pytest.mark.parametrize(("ticked", "english", "chinese_text"), [
    (1, "1 SKU set to discontinued.", "已将 1 个 SKU 设为已停售。"),
    (2, "2 SKUs set to discontinued.", "已将 2 个 SKU 设为已停售。"),
])
def test_bulk_status_flash_counts_skus(client, purchasing, create_sku, ticked, english,
                                       chinese_text):
    skus = [create_sku() for _ in range(2 * ticked)]
    db.session.commit()
    first, second = skus[:ticked], skus[ticked:]

    page = client.post("/catalog/skus/status", follow_redirects=True, data={
        "sku_ids": [str(s.id) for s in first], "status": "discontinued"}).get_data(as_text=True)
    assert english in page

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = client.post("/catalog/skus/status", follow_redirects=True, data={
        "sku_ids": [str(s.id) for s in second], "status": "discontinued"}).get_data(as_text=True)
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)
    assert chinese_text in page
