"""Returns on a handheld scanner: the scan, receive and inspect screens fit 390 px.

The warehouse clerk scans the RMA on a return parcel with a handheld; each screen must show
without horizontal scrolling, with the scan field (or the first grade) focused. The demo
database has cases awaiting their return and cases received, waiting for inspection. The
screens are only opened, never posted, so the other flows see the demo as it was.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import HANDHELD, Staff, assert_fits_handheld

pytestmark = pytest.mark.e2e


@pytest.fixture
def chinese_handheld(browser, live_server):
    """Return a :class:`Staff` on a 390 × 844 handheld whose browser asks for Chinese."""
    people = Staff(browser, live_server, viewport=HANDHELD, locale="zh-CN")
    yield people
    people.close()


def _walk_returns(page) -> None:
    """Open the scan screen, the first return to receive and the first to inspect; each fits."""
    page.goto("/aftersales/returns")
    expect(page.locator("input[name=number]")).to_be_focused()
    assert_fits_handheld(page)

    receive = page.locator("a[href$='/receive']").first
    href = receive.get_attribute("href")
    receive.click()
    page.wait_for_url(f"**{href}")
    expect(page.locator("input[name=scan]")).to_be_focused()
    assert_fits_handheld(page)

    page.goto("/aftersales/returns")
    inspect = page.locator("a[href$='/inspect']").first
    href = inspect.get_attribute("href")
    inspect.click()
    page.wait_for_url(f"**{href}")
    expect(page.locator("#inspect-form input[autofocus]")).to_be_focused()
    assert_fits_handheld(page)


def test_returned_to_sender_scanner_fits_a_handheld(handheld, chinese_handheld):
    for page in (handheld("warehouse"), chinese_handheld("warehouse")):
        page.goto("/aftersales/returns/returned-to-sender")
        expect(page.locator("input[name=tracking_number]")).to_be_focused()
        assert_fits_handheld(page)


def test_returns_screens_fit_a_handheld(handheld):
    _walk_returns(handheld("warehouse"))


def test_returns_screens_fit_a_handheld_in_chinese(chinese_handheld):
    page = chinese_handheld("warehouse")
    _walk_returns(page)
    expect(page.get_by_role("button", name="检验并移库")).to_be_visible()
