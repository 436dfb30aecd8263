"""Reports in Chinese: the screens, the dashboard's chart labels, the workbooks, refusals.

A report job runs outside the request that started it; the job framework runs it in the
language of whoever started it, and the workbook is written in the language it runs in.
"""

from __future__ import annotations

import html
import json
import re

from tests.reports.excel_checks import reopen


def page_of(response) -> str:
    """Return the page with entities decoded."""
    return html.unescape(response.get_data(as_text=True))


def test_report_list_and_dashboard_read_in_chinese(client, login_as):
    login_as("manager")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = page_of(client.get("/reports/excel"))
    assert "<h1>Excel 报表</h1>" in page
    assert "指定日期的库存估值" in page
    assert "运行报表" in page

    page = page_of(client.get("/reports/dashboard?date_from=2026-03-01&date_to=2026-03-03"))
    assert "<h1>仪表盘</h1>" in page
    assert "2026年3月1日 – 2026年3月3日（3 天），对比 2026年2月26日 – 2026年2月28日" in page
    data = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', page, re.S).group(1))
    assert data["text"]["on_time"] == "准时发货"


def test_dashboard_counts_days_with_a_plural(client, login_as):
    login_as("manager")
    page = page_of(client.get("/reports/dashboard?date_from=2026-03-01&date_to=2026-03-01"))
    assert "2026-03-01 – 2026-03-01 (1 day) compared with 2026-02-28 – 2026-02-28" in page
    page = page_of(client.get("/reports/dashboard?date_from=2026-03-01&date_to=2026-03-02"))
    assert "(2 days)" in page


def test_a_report_workbook_is_written_in_the_readers_language(app):
    from flask_babel import force_locale

    from erp.reports.registry import build_report

    with app.test_request_context(), force_locale("zh_Hans_CN"):
        data, name = build_report("stock_ageing", date_to="2026-01-31")
    assert name == "stock-ageing-2026-01-31.xlsx"
    book = reopen(data)
    assert book.sheetnames == ["汇总", "按 SKU", "参数"]
    assert [c.value for c in book["汇总"][1]] == ["库龄（收货后天数）", "件数", "价值（USD）"]
    assert book["汇总"]["A2"].value == "0-30 天"
    params = {row[0]: row[1] for row in book["参数"].iter_rows(min_row=2, values_only=True)}
    assert params["报表"] == "按收货日期统计的库龄"

    with app.test_request_context():
        data, _name = build_report("stock_ageing", date_to="2026-01-31")
    assert reopen(data).sheetnames == ["Summary", "By SKU", "Parameters"]


def test_a_refused_period_reads_in_chinese_with_its_dates(client, login_as):
    login_as("manager")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = page_of(client.post("/reports/excel/purchase_spend",
                               data={"date_from": "2026-02-01", "date_to": "2026-01-01"},
                               follow_redirects=True))
    assert "期间的开始日期（2026-02-01）晚于结束日期（2026-01-01）。" in page


def test_a_report_job_page_names_its_report_and_period_in_chinese(app, client, login_as):
    app.config["ERP_JOBS_SYNC"] = True  # the job runs within the request
    login_as("manager")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"

    page = page_of(client.post("/reports/excel/stock_ageing", data={"date_to": "2026-01-31"},
                               follow_redirects=True))

    assert "<dt>报表</dt><dd>按收货日期统计的库龄</dd>" in page
    assert "<dt>截至</dt><dd>2026-01-31</dd>" in page
    assert "Date to" not in page
