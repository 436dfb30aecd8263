"""Browser checks of the home page and the header search on a 390 px handheld."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import assert_fits_handheld

pytestmark = pytest.mark.e2e


def _fits(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.evaluate("window.innerWidth"), f"{page.url}: {width} px wide"


def test_home_and_header_search_fit_a_handheld(handheld):
    from playwright.sync_api import expect

    page = handheld("warehouse")
    _fits(page)  # the home page: the warehouse's queues and the search box
    expect(page.locator(".stat-title", has_text="Put-away tasks open")).to_be_visible()
    box = page.locator("header input[name=find]")
    expect(box).to_be_visible()
    # a bin code typed in the header opens the bin's stock
    box.fill("a-01-01-01")
    box.press("Enter")
    expect(page).to_have_url(re.compile(r"/warehouse/stock/bin/\d+$"))
    _fits(page)
    # part of a code lists the matches by kind, on a page that fits and keeps the box focused
    page.locator("header input[name=find]").fill("A-01")
    page.locator("header input[name=find]").press("Enter")
    expect(page.locator("#found-bin li").first).to_be_visible()
    assert_fits_handheld(page)


def test_scanner_screens_keep_their_focus_beside_the_header_search(handheld):
    page = handheld("warehouse")
    page.goto("/warehouse/putaway")
    assert_fits_handheld(page)
