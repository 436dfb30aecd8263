"""Browser flow of the single-item lane: the packer scans only items, labels come out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from erp.catalog.models import Sku
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.shipping.models import Parcel, PickWave, PickWaveOrder, WaveKind
from tests.e2e.test_flows import query

pytestmark = pytest.mark.e2e


def lane_items(server) -> tuple[int, list[str]]:
    """Return the demo's single-item wave and the barcodes (or codes) of its waiting items."""
    def find():
        wave = db.session.scalar(select(PickWave).where(PickWave.kind == WaveKind.single_item)
                                 .order_by(PickWave.id).limit(1))
        assert wave is not None, "the demo has no single-item wave"
        rows = db.session.execute(
            select(Sku.code, Sku.barcode)
            .join(CustomerOrderLine, CustomerOrderLine.sku_id == Sku.id)
            .join(CustomerOrder, CustomerOrder.id == CustomerOrderLine.order_id)
            .join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
            .where(PickWaveOrder.wave_id == wave.id,
                   CustomerOrder.state == OrderState.picking)
            .order_by(PickWaveOrder.slot)).all()
        return wave.id, [barcode or code for code, barcode in rows]
    return query(server, find)


def test_the_lane_scans_only_items_and_prints_their_labels(staff, live_server):
    wave_id, items = lane_items(live_server)
    assert len(items) >= 2, items
    page = staff("warehouse")
    page.goto("/shipping/packing/stations")
    page.get_by_label("Packing station").select_option(label="LANE-1 · Lane bench 1")
    page.get_by_role("button", name="Work at this station").click()
    expect(page.get_by_text("You are packing at station LANE-1.")).to_be_visible()

    page.goto(f"/shipping/waves/{wave_id}/lane")
    scan = page.get_by_label("Scan item")
    expect(scan).to_be_focused()
    for item in items[:2]:
        scan = page.get_by_label("Scan item")
        scan.fill(item)
        scan.press("Enter")
        expect(page.locator("#lane-print")).to_be_visible()
        expect(page.get_by_text("The label is printing.")).to_be_visible()
        frame = page.locator("#lane-label")
        expect(frame).to_have_attribute("src", re.compile(r"/packing/parcels/\d+/label\.pdf$"))
        expect(page.get_by_label("Scan item")).to_be_focused()
    # an item no order waits for is refused, and nothing is packed
    scan = page.get_by_label("Scan item")
    scan.fill("NO-SUCH-ITEM")
    scan.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text('No SKU has the code or barcode')

    labelled = query(live_server, lambda: db.session.execute(
        select(Parcel.id, Parcel.tracking_number)
        .join(PickWaveOrder, PickWaveOrder.order_id == Parcel.order_id)
        .where(PickWaveOrder.wave_id == wave_id)).all())
    assert len(labelled) == 2
    assert all(tracking for _, tracking in labelled)
    for parcel_id, _ in labelled:
        response = page.request.get(f"/shipping/packing/parcels/{parcel_id}/label.pdf")
        assert response.status == 200
        assert response.body().startswith(b"%PDF")
