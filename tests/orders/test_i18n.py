"""The order screens in Chinese, and an order sheet downloaded in Chinese imported in English."""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.orders.excel import ORDER_SPEC
from erp.orders.models import CustomerOrder
from tests.orders.intake_data import row


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def order(create_order, stocked_sku):
    tee = stocked_sku("TEE-BLK-M", 10, "A-01-01-01")
    made = create_order([(tee, 2)], number="WEB-1001", customer_name="Erika Mustermann",
                        placed_at=datetime(2026, 3, 1, 10, tzinfo=UTC))
    db.session.commit()
    return made


def test_order_page_hold_and_refusal_in_chinese(client, login_as, order):
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"

    page = text(client.post(f"/orders/{order.id}/allocate", follow_redirects=True))
    assert "订单 WEB-1001" in page
    assert "订单 WEB-1001 已分配：预留 2 件。" in page  # the history, as a sentence
    assert "暂扣原因？" in page

    refused = text(client.post(f"/orders/{order.id}/hold", data={"reason": " "},
                               follow_redirects=True))
    assert "该字段是必填字段。" in refused  # WTForms' own Chinese

    held = text(client.post(f"/orders/{order.id}/hold", data={"reason": "客户来电"},
                            follow_redirects=True))
    assert "订单 WEB-1001 已暂扣。" in held
    assert "订单 WEB-1001 已暂扣；已释放 2 件预留。备注：客户来电" in held


def test_order_list_counts_rows_with_plurals(client, login_as, order):
    login_as("customer_service")
    assert "1 row<" in client.get("/orders/").get_data(as_text=True)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert "1 行" in text(client.get("/orders/"))


def test_order_sheet_downloaded_in_chinese_imports_for_an_english_reader(client, login_as,
                                                                         dummy_sku):
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    template = client.get("/orders/import/template.xlsx")
    assert template.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(template.data))
    sheet = book.worksheets[0]
    headers = [cell.value for cell in sheet[1]]
    assert headers[:3] == ["订单号", "下单时间", "客户姓名"]
    values = row("WEB-7")
    sheet.append([values.get(column.key) for column in ORDER_SPEC.columns])
    upload = io.BytesIO()
    book.save(upload)

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    checked = text(client.post("/orders/import", data={
        "action": "dry_run", "file": (io.BytesIO(upload.getvalue()), "orders.xlsx")},
        content_type="multipart/form-data"))
    assert "No errors in orders.xlsx" in checked
    assert "1 new order, 1 line." in checked

    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    bad = sheet.cell(2, headers.index("数量") + 1)
    bad.value = "lots"
    upload = io.BytesIO()
    book.save(upload)
    refused = text(client.post("/orders/import", data={
        "action": "dry_run", "file": (io.BytesIO(upload.getvalue()), "orders.xlsx")},
        content_type="multipart/form-data"))
    assert "orders.xlsx 中有 1 个错误" in refused
    assert "必须是整数，收到的是 \"lots\"" in refused
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == 0
