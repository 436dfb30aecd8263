"""Receiving a transfer by scanning, on a handheld (390 × 844): the demo's transfer in transit.

Each scan is the SKU's barcode and Enter; the screen fits the width, keeps the scan field
focused after a scan and after a refused one, and the receipt posts what was scanned.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from erp.extensions import db
from erp.warehouse.demo import DEMO_TRANSFER_NOTE
from erp.warehouse.models import TransferOrder, TransferState
from tests.e2e.conftest import assert_fits_handheld
from tests.e2e.test_flows import query

pytestmark = pytest.mark.e2e


def demo_transfer(server) -> tuple[int, list[tuple[str, int]]]:
    """Return the demo transfer's id and ``(scan code, units shipped)`` of its lines."""
    def find():
        transfer = db.session.scalar(select(TransferOrder).where(
            TransferOrder.note == DEMO_TRANSFER_NOTE))
        if transfer is None or transfer.state != TransferState.shipped:
            pytest.skip("the demo's transfer is no longer in transit")
        return transfer.id, [(line.sku.barcode or line.sku.code, line.picked_qty)
                             for line in transfer.lines]
    return query(server, find)


def focused_name(page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.name")


def test_receive_a_transfer_by_scanning_on_a_handheld(handheld, live_server):
    transfer_id, lines = demo_transfer(live_server)
    page = handheld("warehouse")
    page.goto(f"/warehouse/transfers/{transfer_id}/receive/scan")
    assert_fits_handheld(page)
    assert focused_name(page) == "scan"

    page.locator("input[name=scan]").fill("NO-SUCH-SKU-0000000000")
    page.locator("input[name=scan]").press("Enter")
    expect(page.locator(".field.has-error .error")).to_be_visible()
    assert_fits_handheld(page)
    assert focused_name(page) == "scan"

    scanned = 0
    for code, units in lines:
        for _ in range(units):  # one scan per item, as the scanner sends them
            page.locator("input[name=scan]").fill(code)
            page.locator("input[name=scan]").press("Enter")
            scanned += 1
            expect(page.locator(".pagehead .muted")).to_contain_text(f"{scanned} of")
            assert focused_name(page) == "scan"
    assert_fits_handheld(page)
    page.get_by_role("button", name="Receive what was scanned").click()
    expect(page.locator(".flashes")).to_contain_text("received in full")

    def state():
        return db.session.get(TransferOrder, transfer_id).state
    assert query(live_server, state) == TransferState.received
