"""Receiving on a handheld scanner (390 × 844): every screen fits and the scan field has focus.

The clerk scans the purchase order number on the delivery note, counts lines by scanning
barcodes, and opens a receipt; no screen may scroll sideways, and the field the scanner types
into is focused as each page opens. Nothing is posted: the demo data stays as it was for the
other flows.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from erp.catalog.models import Sku
from erp.extensions import db
from erp.procurement.models import PurchaseOrder, PurchaseOrderState
from tests.e2e.conftest import HANDHELD, Staff, assert_fits_handheld

pytestmark = pytest.mark.e2e


def _receivable_line(server) -> tuple[str, str, str]:
    """Return (order number, SKU code, barcode) of a line the demo still has to receive."""
    with server.app.app_context():
        try:
            orders = db.session.scalars(
                select(PurchaseOrder).where(PurchaseOrder.state.in_(
                    [PurchaseOrderState.ordered, PurchaseOrderState.partially_received]))
                .order_by(PurchaseOrder.number)).all()
            for po in orders:
                for line in po.lines:
                    if line.remaining_qty:
                        sku = db.session.get(Sku, line.sku_id)
                        if sku.barcode:
                            return po.number, sku.code, sku.barcode
        finally:
            db.session.remove()
    pytest.fail("the demo has no line left to receive")


def test_receiving_screens_fit_a_handheld(handheld, live_server):
    number, sku_code, barcode = _receivable_line(live_server)
    clerk = handheld("warehouse")

    # The start screen: the PO-number field is focused, the lists are stacked cards.
    clerk.goto("/procurement/receiving")
    expect(clerk.locator("h1")).to_have_text("Receiving")
    assert_fits_handheld(clerk)

    # Scan the delivery note's PO number: the receiving form opens, the SKU scan box focused.
    number_field = clerk.locator("input[name=number]")
    expect(number_field).to_be_focused()
    number_field.fill(number)
    number_field.press("Enter")
    expect(clerk).to_have_url(re.compile(r"/procurement/receiving/\d+$"))
    expect(clerk.locator("h1")).to_contain_text(number)
    assert_fits_handheld(clerk)

    # Each scan of a barcode counts one more on its line; the page still fits.
    qty = clerk.get_by_label(f"Units of {sku_code} received now").first
    before = int(qty.input_value() or 0)
    scanner = clerk.locator("input[name=scan]")
    expect(scanner).to_be_focused()
    for _ in range(2):
        scanner.fill(barcode)
        scanner.press("Enter")
        expect(scanner).to_be_empty()
    expect(qty).to_have_value(str(before + 2))
    box = qty.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390, box  # the quantity box is on the screen
    assert_fits_handheld(clerk)

    # A receipt from the start screen's latest receipts: it fits, the next delivery's PO
    # number can be scanned at once.
    clerk.goto("/procurement/receiving")
    clerk.locator("a[href*='/procurement/receipts/']").first.click()
    expect(clerk).to_have_url(re.compile(r"/procurement/receipts/\d+$"))
    expect(clerk.locator("h1")).to_contain_text("Receipt")
    assert_fits_handheld(clerk)
    expect(clerk.locator("input[name=number]")).to_be_focused()


@pytest.fixture
def chinese_handheld(browser, live_server):
    """Return a :class:`Staff` on a 390 × 844 handheld whose browser asks for Chinese."""
    people = Staff(browser, live_server, viewport=HANDHELD, locale="zh-CN")
    yield people
    people.close()


def test_receiving_screens_fit_a_handheld_in_chinese(chinese_handheld, live_server):
    number, sku_code, _barcode = _receivable_line(live_server)
    clerk = chinese_handheld("warehouse")

    clerk.goto("/procurement/receiving")
    expect(clerk.locator("h1")).to_have_text("收货")
    assert_fits_handheld(clerk)
    clerk.locator("input[name=number]").fill(number)
    clerk.locator("input[name=number]").press("Enter")
    expect(clerk.locator("h1")).to_contain_text(number)
    expect(clerk.get_by_label(f"{sku_code} 本次收货件数").first).to_be_visible()
    assert_fits_handheld(clerk)
    clerk.goto("/procurement/receiving")
    clerk.locator("a[href*='/procurement/receipts/']").first.click()
    expect(clerk.locator("h1")).to_contain_text("收货单")
    assert_fits_handheld(clerk)
