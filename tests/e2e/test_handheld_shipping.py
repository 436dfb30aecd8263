"""The shipping scanner screens on a handheld (390 × 844): picking, packing, dispatch.

Each page must fit the screen without scrolling sideways, with the scan field focused, so a
picker or packer can scan straight away (``assert_fits_handheld``). The demo's outbound work
gives each screen something to show; a wave with an open pick is built when the browser flows
have picked the demo's open wave already.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.shipping.models import BatchState, DispatchBatch, PickTask, PickTaskState
from erp.shipping.services import waves
from tests.e2e.conftest import HANDHELD, Staff, assert_fits_handheld
from tests.e2e.test_flows import query

pytestmark = pytest.mark.e2e


def wave_with_an_open_pick(server) -> int:
    """Return the id of a wave with an open pick task, building one if none is left."""
    def find():
        task = db.session.scalar(select(PickTask).where(PickTask.state == PickTaskState.open)
                                 .order_by(PickTask.id).limit(1))
        if task is not None:
            return task.wave_id
        wave = waves.build_wave(waves.WaveFilters(max_orders=2), actor=None)
        db.session.commit()
        return wave.id
    return query(server, find)


def order_being_picked(server) -> int:
    """Return the id of an order the packing station can work on (in picking)."""
    found = query(server, lambda: db.session.scalar(
        select(CustomerOrder.id).where(CustomerOrder.state == OrderState.picking)
        .order_by(CustomerOrder.id).limit(1)))
    assert found, "the demo data has no order in picking"
    return found


def open_batch(server) -> int:
    """Return the id of an open dispatch batch (the demo leaves some open)."""
    found = query(server, lambda: db.session.scalar(
        select(DispatchBatch.id).where(DispatchBatch.state == BatchState.open)
        .order_by(DispatchBatch.id).limit(1)))
    assert found, "the demo data has no open dispatch batch"
    return found


def test_pick_screen_fits_a_handheld_with_the_bin_field_focused(handheld, live_server):
    wave_id = wave_with_an_open_pick(live_server)
    page = handheld("warehouse")
    page.goto(f"/shipping/waves/{wave_id}/pick")
    expect(page.get_by_role("button", name="Confirm pick")).to_be_visible()
    assert_fits_handheld(page)
    expect(page.get_by_label("Bin", exact=True)).to_be_focused()


def test_packing_station_fits_a_handheld_before_and_with_an_order(handheld, live_server):
    page = handheld("warehouse")
    page.goto("/shipping/packing")
    assert_fits_handheld(page)
    expect(page.get_by_label("Scan the order or the tote")).to_be_focused()

    page.goto(f"/shipping/packing/{order_being_picked(live_server)}")
    expect(page.get_by_role("heading", name="Lines")).to_be_visible()
    assert_fits_handheld(page)


def test_dispatch_batch_fits_a_handheld_with_the_scan_field_focused(handheld, live_server):
    page = handheld("warehouse")
    page.goto(f"/shipping/batches/{open_batch(live_server)}")
    expect(page.get_by_role("button", name="Add to batch")).to_be_visible()
    assert_fits_handheld(page)
    expect(page.get_by_label("Tracking or parcel number")).to_be_focused()
    # the last buttons of the page are on the screen too, not cut off at its edge
    close = page.get_by_role("button", name="Close batch and hand over")
    close.scroll_into_view_if_needed()
    box = close.bounding_box()
    assert box is not None
    assert box["x"] >= 0, box
    assert box["x"] + box["width"] <= HANDHELD["width"], box


def test_dispatch_batch_fits_a_handheld_in_chinese(browser, live_server):
    people = Staff(browser, live_server, viewport=HANDHELD, locale="zh-CN")
    try:
        page = people("warehouse")
        page.goto(f"/shipping/batches/{open_batch(live_server)}")
        expect(page.get_by_role("button", name="加入批次")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_contain_text("发货批次")
        assert_fits_handheld(page)
    finally:
        people.close()
