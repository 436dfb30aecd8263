"""A browser flow in Chinese: the manager's Excel report, with a browser that asks for zh-CN.

The same steps as ``test_manager_exports_excel_report``, read in Chinese: the menus, the card,
the button, the job page and its progress, and the workbook, whose sheets and headers are in
the language of whoever ran the report.
"""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.e2e.test_flows import heading

pytestmark = pytest.mark.e2e


def test_manager_runs_an_excel_report_in_chinese(chinese_staff):
    manager = chinese_staff("manager")
    expect(manager.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(heading(manager)).to_contain_text("您好")

    nav = manager.get_by_role("navigation", name="主菜单")
    nav.locator("summary", has_text="报表").click()
    nav.get_by_role("link", name="Excel 报表", exact=True).click()
    card = manager.locator("section.card", has=manager.get_by_role("heading", name="销售与发货"))
    card.get_by_role("button", name="运行报表").click()

    expect(heading(manager)).to_have_text("Excel 报表")
    expect(manager.locator("#job-state")).to_have_text("已完结")
    expect(manager.get_by_label("进度")).to_have_attribute("value", "100")
    link = manager.get_by_role("link", name=re.compile(r"^下载 .*\.xlsx$"))
    with manager.expect_download() as download:
        link.click()
    book = load_workbook(io.BytesIO(download.value.path().read_bytes()), read_only=True)
    assert {"按 SKU", "合计"} <= set(book.sheetnames)
    header = next(book["合计"].iter_rows(values_only=True))
    assert header[:3] == ("币种", "件数", "价值")
