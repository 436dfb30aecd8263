"""The core speaks Chinese: pages, refusals with their placeholders, plurals, Excel headers."""

from __future__ import annotations

import html
import io

import openpyxl
import pytest
from flask_babel import force_locale

from erp.core import excel
from erp.core.i18n import _l, in_every_language
from erp.core.services import LoginThrottled, authenticate


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


SPEC = excel.Spec("things", _l("Orders"), (
    excel.Column("number", _l("Order number"), required=True),
    excel.Column("quantity", _l("Quantity"), type="int", required=True),
    excel.Column("note", _l("Notes")),
    excel.Column("gift", _l("Priority"), type="bool"),
))


def test_a_lazy_header_is_known_in_every_language(app):
    assert in_every_language(_l("Quantity")) == ["Quantity", "数量"]
    assert in_every_language("Plain") == ["Plain"]


def test_template_in_chinese_imports_for_an_english_reader(app):
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        template = excel.template_workbook(SPEC)
    book = openpyxl.load_workbook(io.BytesIO(template))
    sheet = book.worksheets[0]
    assert [c.value for c in sheet[1]] == ["订单号", "数量", "备注", "优先级"]
    assert book.sheetnames == ["订单", "帮助"]
    help_rows = [[c.value for c in row] for row in book["帮助"].iter_rows()]
    assert help_rows[0][:4] == ["列", "类型", "必填", "不可重复"]
    assert help_rows[2][1:3] == ["整数", "是"]
    sheet.append(["'=1+2", 3, "雨伞", "是"])  # as an export neutralises a formula
    sheet.append(["N-2", 1, None, "否"])
    out = io.BytesIO()
    book.save(out)

    with app.test_request_context(), force_locale("en"):
        parsed = excel.read_workbook(out.getvalue(), SPEC)

    assert parsed.ok, [str(e) for e in parsed.errors]
    assert [(r["number"], r["quantity"], r["note"], r["gift"]) for r in parsed.rows] == [
        ("=1+2", 3, "雨伞", True), ("N-2", 1, None, False)]


def test_headers_match_by_key_english_or_chinese_in_any_case(app):
    data = "number,QUANTITY,备注\nN-1,2,x\n".encode()
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        parsed = excel.read_workbook(data, SPEC, filename="orders.csv")
    assert parsed.ok
    assert parsed.rows[0]["quantity"] == 2


def test_errors_name_the_column_in_the_readers_language_and_the_report_marks_it(app):
    data = "订单号,数量\nN-1,lots\n".encode()
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        parsed = excel.read_workbook(data, SPEC, filename="orders.csv")
        assert [str(e) for e in parsed.errors] == ['第 2 行，“数量”列：必须是整数，收到的是 "lots"']
        report = excel.error_report_workbook(data, SPEC, parsed.errors, filename="orders.csv")
    sheet = openpyxl.load_workbook(io.BytesIO(report)).active
    assert sheet.cell(1, 3).value == "错误"
    assert sheet.cell(2, 3).value.startswith("数量：必须是整数")
    assert sheet.cell(2, 2).fill.start_color.rgb.endswith("FFC7CE")

    # the report fixed and uploaded again by an English reader: the Chinese "错误" column is
    # recognised as the earlier report's and reused, not doubled
    with app.test_request_context(), force_locale("en"):
        again = excel.error_report_workbook(report, SPEC, [excel.CellError(2, "Quantity", "x")])
    sheet = openpyxl.load_workbook(io.BytesIO(again)).active
    assert sheet.cell(1, 3).value == "Errors"
    assert sheet.max_column == 3
    assert sheet.cell(2, 3).value == "Quantity: x"


def test_export_writes_headers_in_the_readers_language_and_neutralises_formulas(app):
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        data = excel.export_workbook(SPEC, [{"number": "=HYPERLINK(\"x\")", "quantity": 1}])
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert [c.value for c in sheet[1]] == ["订单号", "数量", "备注", "优先级"]
    assert sheet.cell(2, 1).data_type == "s"
    assert sheet.cell(2, 1).value == "'=HYPERLINK(\"x\")"


def test_throttle_says_one_second_not_one_seconds(app, create_user):
    from datetime import timedelta

    from erp.core.models import utcnow
    from erp.core.services import SLOW_AFTER
    create_user("alice", roles=("warehouse",))
    now = utcnow()
    for i in range(SLOW_AFTER):
        try:
            authenticate("alice", "wrong-password!", address="10.0.0.1",
                         now=now + timedelta(milliseconds=i))
        except Exception:  # noqa: BLE001 - wrong passwords
            pass
    for lang, wanted in (("en", "Wait 1 second before"), ("zh_Hans_CN", "请等待 1 秒后再试")):
        with app.test_request_context(), force_locale(lang), \
                pytest.raises(LoginThrottled, match=wanted):
            authenticate("alice", "wrong-password!", address="10.0.0.1",
                         now=now + timedelta(seconds=1, milliseconds=500))


def test_chinese_pages_and_refusals_with_their_placeholders(client, login_as):
    login_as("admin")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"

    users = text_of(client.get("/admin/users"))
    assert "新建用户" in users
    assert "1 行" in users or "行" in users

    page = text_of(client.post("/admin/users/new", data={
        "username": "admin", "full_name": "Someone", "roles": ["warehouse"],
        "password": "long enough password"}))
    assert "无法创建用户“admin”：用户名已被占用，请换一个。" in page

    missing = text_of(client.get("/no-such-page"))
    assert "未找到" in missing


def test_the_audit_page_is_in_chinese(client, login_as):
    login_as("admin")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = text_of(client.get("/audit"))
    assert "审计日志" in page
    assert "已创建用户 admin，角色：管理员。" in page
