"""Brands in Chinese: pages and refusals with their values."""

from __future__ import annotations

import pytest

from erp.brands import services
from erp.extensions import db


@pytest.fixture
def chinese(client):
    """Make the test client's browser ask for Chinese."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    yield
    client.environ_base.pop("HTTP_ACCEPT_LANGUAGE", None)


def test_brand_pages_in_chinese(client, login_as, chinese):
    brand = services.create_brand(code="LUMA", name="Luma Home", actor=None)
    db.session.commit()
    login_as("purchasing")

    listing = client.get("/brands/").get_data(as_text=True)
    detail = client.get(f"/brands/{brand.id}").get_data(as_text=True)

    for expected in ("<h1>品牌</h1>", "代码或名称", "自有", "启用"):
        assert expected in listing, expected
    for expected in ("自有品牌", "商标", "没有登记商标。", "规格书", "还没有规格书。"):
        assert expected in detail, expected


def test_taken_brand_code_is_refused_in_chinese(client, login_as, chinese):
    services.create_brand(code="LUMA", name="Luma Home", actor=None)
    db.session.commit()
    login_as("purchasing")

    response = client.post("/brands/new", data={"code": "luma", "name": "Other",
                                                 "kind": "private"})

    assert "要创建品牌“LUMA”，必须换一个代码：品牌 Luma Home 已在使用。" in response.get_data(
        as_text=True)
