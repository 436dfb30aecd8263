"""The warehouse in Chinese: pages, refusals with their figures filled in, plural forms, sheets."""

from __future__ import annotations

import html as htmllib
import io

import openpyxl
import pytest
from flask_babel import force_locale

from erp.extensions import db
from erp.warehouse import count_excel, services
from erp.warehouse.services import CountError, StockError


def page_of(response) -> str:
    """Return the page with entities decoded, as the reader sees it."""
    return htmllib.unescape(response.get_data(as_text=True))


@pytest.fixture
def chinese(client):
    """Return the client with a browser that asks for Chinese."""
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    return client


@pytest.fixture
def stocked(dummy_sku, create_bin, receive_stock):
    """TS-RED-M: 10 in WH1/A-01, 3 of them reserved; WH1/A-02 empty."""
    a, empty = create_bin("A-01"), create_bin("A-02")
    receive_stock(dummy_sku, a, 10, "2.00")
    services.reserve(dummy_sku, a, 3, ref_type="order_line", ref_id=42, actor=None)
    db.session.commit()
    return dummy_sku, a, empty


def test_stock_pages_read_in_chinese(chinese, login_as, stocked):
    login_as("manager")
    page = page_of(chinese.get("/warehouse/stock"))
    assert "<title>库存" in page
    assert "扫描或输入 SKU、条码、库位或名称" in page  # the search's placeholder
    assert "<th class=\"num\">在库</th>" in page
    assert "存储" in page  # the bin kind, not "storage"
    assert "storage</td>" not in page

    page = page_of(chinese.get("/warehouse/valuation"))
    assert "全部库存：<strong>10</strong> 件，价值 <strong>20.00 USD</strong>" in page


def test_transfer_refusal_in_chinese_names_the_figures(chinese, login_as, stocked):
    login_as("warehouse")
    response = chinese.post("/warehouse/transfer", data={
        "from_bin": "A-01", "sku": "TS-RED-M", "quantity": "8", "to_bin": "A-02"})
    assert response.status_code == 422
    assert ("库位 WH1/A-01 中的 SKU“TS-RED-M” 在库 10 件，其中已预留 3 件；只能移动 7 件，"
            "不能移动 8 件。") in page_of(response)


def test_service_refusal_follows_the_readers_language(app, stocked):
    sku, a, _ = stocked
    with app.test_request_context():
        with force_locale("zh_Hans_CN"), pytest.raises(StockError) as refused:
            services.reserve(sku, a, 9, ref_type="order_line", ref_id=43, actor=None)
        assert str(refused.value) == ("库位 WH1/A-01 中的 SKU“TS-RED-M” 可用 7 件（在库 10 件，"
                                      "已预留 3 件），不能预留 9 件。")
        with pytest.raises(StockError, match="has 7 available"):
            services.reserve(sku, a, 9, ref_type="order_line", ref_id=43, actor=None)


def test_count_lines_saved_flash_has_its_plural(client, login_as, stocked):
    sku, a, _ = stocked
    count = services.open_cycle_count(a.warehouse, location_ids=[a.id], actor=None)
    db.session.commit()
    line = count.lines[0]
    login_as("warehouse")
    page = page_of(client.post(f"/warehouse/counts/{count.id}/lines",
                               data={f"counted-{line.id}": "9"}, follow_redirects=True))
    assert "1 line saved." in page
    assert "1 lines" not in page
    assert "1 of 1 line<" in page  # counted so far, singular too


def test_submitting_an_uncounted_count_is_refused_in_chinese_with_its_counts(
        app, create_bin, receive_stock, dummy_sku):
    a, b = create_bin("A-01"), create_bin("A-02")
    receive_stock(dummy_sku, a, 2)
    receive_stock(dummy_sku, b, 2)
    count = services.open_cycle_count(a.warehouse, location_ids=[a.id, b.id], actor=None)
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        with pytest.raises(CountError) as refused:
            services.submit_for_review(count, actor=None)
    assert str(refused.value) == (f"要提交循环盘点“{count.number}”审核，必须盘点每一行：2 行中还有 "
                                  "2 行未盘点（第一个：库位 A-01 中的 SKU“TS-RED-M”）。")
    with app.test_request_context(), pytest.raises(CountError) as refused:
        services.submit_for_review(count, actor=None)
    assert "2 of 2 are not counted yet" in str(refused.value)


def test_putaway_counts_waiting_tasks_and_units_with_plurals(client, chinese, login_as,
                                                              create_bin, receive_stock,
                                                              dummy_sku):
    create_bin("A-01-01-01", pick_sequence=100)
    receive_stock(dummy_sku, create_bin("RCV-01", kind="receiving"), 1)
    db.session.commit()
    login_as("warehouse")
    assert "1 task · 1 unit waiting" in page_of(chinese.get(
        "/warehouse/putaway", headers={"Accept-Language": "en"}))
    page = page_of(chinese.get("/warehouse/putaway"))
    assert "1 个任务 · 1 件待上架" in page
    assert "放入 <strong>A-01-01-01</strong>" not in page  # no task scanned yet
    assert "待处理的任务" in page


def test_count_sheet_export_has_chinese_headers_for_a_chinese_reader(app, stocked):
    _, a, _ = stocked
    count = services.open_cycle_count(a.warehouse, location_ids=[a.id], actor=None)
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        data = count_excel.export_count_lines(count)
    header = [c.value for c in openpyxl.load_workbook(io.BytesIO(data)).active[1]]
    assert header[:4] == ["盘点单号", "库位", "SKU", "条码"]
    assert header[-1] == "实盘数量"
