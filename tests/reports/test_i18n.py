"""Reports in Chinese: the screens, the dashboard's chart labels and the workbooks.

A report job runs outside the request that started it, in the language of whoever started it.
"""

from __future__ import annotations

import html
import json
import re

import pytest

from erp.core import jobs
from erp.core.models import User
from erp.extensions import db
from tests.reports.excel_checks import reopen


@pytest.fixture
def app_config() -> dict:
    """Run background jobs synchronously."""
    return {"ERP_JOBS_SYNC": True}


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


def test_a_report_job_is_written_in_the_language_it_was_started_in(app, login_as):
    manager = login_as("manager")
    user = db.session.get(User, manager.id)
    job = jobs.submit("report", user=user, wait=True, name="stock_ageing",
                      date_to="2026-01-31", language="zh_Hans_CN")
    with open(jobs.result_file(job), "rb") as fh:
        book = reopen(fh.read())
    assert book.sheetnames == ["汇总", "按 SKU", "参数"]
    assert [c.value for c in book["汇总"][1]] == ["库龄（收货后天数）", "件数", "价值（USD）"]
    assert book["汇总"]["A2"].value == "0-30 天"
    params = {row[0]: row[1] for row in book["参数"].iter_rows(min_row=2, values_only=True)}
    assert params["报表"] == "按收货日期统计的库龄"

    english = jobs.submit("report", user=user, wait=True, name="stock_ageing",
                          date_to="2026-01-31")
    with open(jobs.result_file(english), "rb") as fh:
        assert reopen(fh.read()).sheetnames == ["Summary", "By SKU", "Parameters"]


def test_the_report_screen_passes_the_readers_language_to_the_job(client, login_as,
                                                                 monkeypatch):
    submitted = {}

    def submit(kind, *, user, **params):
        submitted.update(params, kind=kind)
        return type("Job", (), {"id": "x"})()

    monkeypatch.setattr("erp.reports.views.exports.jobs.submit", submit)
    login_as("manager")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    assert client.post("/reports/excel/stock_ageing",
                       data={"date_to": "2026-01-31"}).status_code == 302
    assert submitted["kind"] == "report"
    assert submitted["language"] == "zh_Hans_CN"


def test_the_job_page_names_its_parameters_in_chinese(client, login_as):
    manager = login_as("manager")
    job = jobs.submit("report", user=db.session.get(User, manager.id), wait=True,
                      name="stock_ageing", date_to="2026-01-31", language="zh_Hans_CN")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    page = page_of(client.get(f"/reports/jobs/{job.id}"))
    assert "<dt>语言</dt><dd>简体中文</dd>" in page
    assert "<dt>报表</dt><dd>按收货日期统计的库龄</dd>" in page
    assert "下载 stock-ageing-2026-01-31.xlsx" in page
    assert '<span class="badge badge-green" id="job-state">已完成</span>' in page
