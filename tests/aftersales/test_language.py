"""After-sales in the reader's language: Chinese pages, refusals with their values, plurals."""

from __future__ import annotations

import io

import openpyxl
import pytest
from flask_babel import force_locale

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import CASE_STATES, CaseState, CaseType
from erp.aftersales.services import cases, resolution
from erp.extensions import db

ZH = "zh-CN"


@pytest.fixture
def shipped(ship_order, customs_stock, reasons):
    return ship_order([(customs_stock("TEE-1"), 3, "15.00")], number="WEB-8001")


@pytest.fixture
def case(shipped, reasons):
    case = cases.open_case(shipped, case_type=CaseType.return_refund,
                           reason=reasons["WRONG_SIZE"], lines={shipped.lines[0].id: 1},
                           actor=None)
    db.session.commit()
    return case


def test_case_queue_in_chinese(client, login_as, case):
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    text = client.get("/aftersales/cases").get_data(as_text=True)
    assert "<title>售后单" in text
    assert ">新建售后单</a>" in text
    assert ">待处理</span>" in text  # the state badge
    assert ">退货退款</td>" in text  # the case type
    assert "按 RMA 号、订单号、运单号、电子邮件或联系人姓名搜索" in text


def test_returns_receiving_in_chinese(client, login_as, case):
    cases.authorise_return(case, actor=None)
    db.session.commit()
    login_as("warehouse")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    text = client.get("/aftersales/returns").get_data(as_text=True)
    assert "<h1>退货收货</h1>" in text
    assert "RMA 号或退货运单号" in text
    assert 'data-label="退货运单号"' in text
    page = client.get(f"/aftersales/returns/{case.id}/receive").get_data(as_text=True)
    assert "扫描 SKU（加 1 件）" in page
    assert ">确认收货</button>" in page


def test_refusal_in_chinese_names_its_values(client, login_as, shipped, reasons):
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    line = shipped.lines[0]
    refused = client.post(f"/aftersales/cases/new?order={shipped.number}", data={
        "case_type": "return_refund", "reason_id": reasons["WRONG_SIZE"].id, "parcel_id": 0,
        f"qty-{line.id}": 5})
    assert refused.status_code == 422
    assert ("TEE-1：5 件超过订单 WEB-8001 还可申请的数量（已发货 3 件；最多 3 件）。"
            in refused.get_data(as_text=True))


def test_service_refusal_is_in_the_reader_language(app, case):
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        with pytest.raises(AfterSalesError) as refused:
            resolution.request_refund(case, amount="500.00", actor=None)
    assert str(refused.value) == (
        f"{case.number} 的退款 500.00 EUR 超过了还可退款的金额（15.00 EUR：行金额 15.00 减去"
        "已批准或待审批的退款）。请降低金额，或由经理特批。")
    db.session.rollback()
    with app.test_request_context(), force_locale("en"):
        with pytest.raises(AfterSalesError, match=r"is above what may still be refunded "
                                                  r"\(15\.00 EUR: the lines' value 15\.00"):
            resolution.request_refund(case, amount="500.00", actor=None)


def test_state_labels_follow_the_reader(app):
    assert CASE_STATES.labels[CaseState.awaiting_return] == "awaiting return"  # the table's own
    with app.test_request_context():
        with force_locale("zh_Hans_CN"):
            assert CASE_STATES.label(CaseState.awaiting_return) == "待退货"
        with force_locale("en"):
            assert CASE_STATES.label(CaseState.awaiting_return) == "awaiting return"


@pytest.mark.parametrize(("count", "english"), [
    (1, "1 refund marked as exported."),
    (2, "2 refunds marked as exported."),
])
def test_finance_confirmation_counts_refunds(client, login_as, ship_order, customs_stock,
                                             reasons, count, english):
    tee = customs_stock("TEE-1")
    refunds = []
    for n in range(count):
        order = ship_order([(tee, 1, "20.00")], number=f"WEB-81{n:02d}")
        case = cases.open_case(order, case_type=CaseType.refund_only,
                               reason=reasons["DEFECTIVE"], lines={order.lines[0].id: 1},
                               actor=None)
        refunds.append(resolution.request_refund(case, amount="5.00", actor=None))
    db.session.commit()
    login_as("manager")
    ids = ",".join(str(r.id) for r in refunds)
    page = client.get("/aftersales/refunds/finance").get_data(as_text=True)
    confirm = "Confirm: finance has this 1" if count == 1 else f"Confirm: finance has these {count}"
    assert confirm in page
    done = client.post("/aftersales/refunds/finance/mark-exported", data={"ids": ids},
                       follow_redirects=True).get_data(as_text=True)
    assert english in done


def test_plural_in_chinese_keeps_the_count(client, login_as, ship_order, customs_stock,
                                           reasons):
    tee = customs_stock("TEE-1")
    for n in range(2):
        ship_order([(tee, 1)], number=f"WEB-82{n:02d}", email="twice@example.com")
    login_as("customer_service")
    text = client.get("/aftersales/cases/new",
                      query_string={"order": "twice@example.com"}).get_data(as_text=True)
    assert "2 orders match" in text
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    text = client.get("/aftersales/cases/new",
                      query_string={"order": "twice@example.com"}).get_data(as_text=True)
    assert "有 2 个订单与“twice@example.com”匹配" in text


def test_case_export_is_headed_in_chinese(client, login_as, case):
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = ZH
    data = client.get("/aftersales/cases/export.xlsx").data
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["RMA", "状态", "类型"]
    row = [c.value for c in sheet[2]]
    assert row[:3] == [case.number, "待处理", "退货退款"]
