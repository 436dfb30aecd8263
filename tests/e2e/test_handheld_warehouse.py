"""The warehouse's scanner screens on a handheld (390 × 844): put-away, transfer, counts.

Each screen must fit the width without horizontal scrolling and keep the scan field focused
(``assert_fits_handheld``), when it opens, after a scan and after a refused scan. The demo has
one open cycle count (``erp.warehouse.demo``); put-away tasks exist once goods were received.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from erp.extensions import db
from erp.warehouse.demo import DEMO_COUNT_NOTE
from erp.warehouse.models import CycleCount, CycleCountLine, CycleCountState, Location
from tests.e2e.conftest import assert_fits_handheld
from tests.e2e.test_flows import query

pytestmark = pytest.mark.e2e


def demo_count(server) -> tuple[int, str]:
    """Return the demo's open count: its id and the code of a bin it lists."""
    def find():
        count = db.session.scalar(select(CycleCount).where(
            CycleCount.note == DEMO_COUNT_NOTE, CycleCount.state == CycleCountState.open))
        if count is None:
            pytest.skip("the demo's cycle count is no longer open")
        bin_code = db.session.scalar(
            select(Location.code).join(CycleCountLine, CycleCountLine.location_id == Location.id)
            .where(CycleCountLine.count_id == count.id).order_by(Location.code).limit(1))
        return count.id, bin_code
    return query(server, find)


def focused_name(page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.name")


def test_putaway_fits_a_handheld(handheld):
    page = handheld("warehouse")
    page.goto("/warehouse/putaway")
    assert_fits_handheld(page)
    assert focused_name(page) == "scan"

    tasks = page.locator(".tasklist a")
    if tasks.count():  # a task opened: its card, and the bin to scan next
        tasks.first.click()
        expect(page.locator(".putaway-task")).to_be_visible()
        assert_fits_handheld(page)
        assert focused_name(page) == "bin"

    page.goto("/warehouse/putaway")
    page.locator("input[name=scan]").fill("NO-SUCH-TASK-OR-SKU-0000000000")
    page.locator("form.scanform button[type=submit]").click()
    expect(page.locator(".field.has-error .error")).to_be_visible()
    assert_fits_handheld(page)
    assert focused_name(page) == "scan"


def test_transfer_fits_a_handheld(handheld):
    page = handheld("warehouse")
    page.goto("/warehouse/transfer")
    assert_fits_handheld(page)
    assert focused_name(page) == "from_bin"

    page.locator("input[name=from_bin]").fill("NO-SUCH-BIN-99-99-99")
    page.locator("input[name=sku]").fill("NO-SUCH-SKU")
    page.locator("input[name=quantity]").fill("1")
    page.locator("input[name=to_bin]").fill("A-01-01-01")
    page.locator("form.scanform button[type=submit]").click()
    expect(page.locator(".field.has-error .error")).to_be_visible()
    assert_fits_handheld(page)
    assert focused_name(page) == "from_bin"


def test_count_scan_fits_a_handheld(handheld, live_server):
    count_id, bin_code = demo_count(live_server)
    page = handheld("warehouse")
    page.goto(f"/warehouse/counts/{count_id}/scan")
    assert_fits_handheld(page)
    assert focused_name(page) == "bin_code"

    page.locator("input[name=bin_code]").fill(bin_code)
    page.locator("input[name=bin_code]").press("Enter")  # on to the SKU, nothing sent yet
    assert focused_name(page) == "sku_code"

    page.goto(f"/warehouse/counts/{count_id}/scan?bin={bin_code}")  # as after a scan
    expect(page.locator("table.scan-lines")).to_be_visible()
    assert_fits_handheld(page)
    assert focused_name(page) == "sku_code"

    page.locator("input[name=sku_code]").fill("NO-SUCH-SKU-0000000000000000")
    page.locator("input[name=sku_code]").press("Enter")
    expect(page.locator(".field.has-error .error")).to_be_visible()
    assert_fits_handheld(page)


def test_count_entry_fits_a_handheld(handheld, live_server):
    count_id, _ = demo_count(live_server)
    page = handheld("warehouse")
    page.goto(f"/warehouse/counts/{count_id}")
    assert_fits_handheld(page)
    assert (focused_name(page) or "").startswith("counted-")


def test_scanner_screens_fit_a_handheld_in_chinese(browser, live_server):
    from tests.e2e.conftest import HANDHELD, Staff

    people = Staff(browser, live_server, viewport=HANDHELD, locale="zh-CN")
    try:
        page = people("warehouse")
        count_id, _ = demo_count(live_server)
        for url, field in (("/warehouse/putaway", "scan"), ("/warehouse/transfer", "from_bin"),
                           (f"/warehouse/counts/{count_id}/scan", "bin_code")):
            page.goto(url)
            assert page.locator("html").get_attribute("lang") == "zh-Hans"
            assert_fits_handheld(page)
            assert focused_name(page) == field, url
    finally:
        people.close()
