"""Pick wave screens: list, export, new wave with preview, detail, scanner picking, permissions."""

from __future__ import annotations

import html
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from erp.extensions import db
from erp.orders.models import OrderState
from erp.orders.services import allocate_orders
from erp.shipping.models import PickTask, PickTaskState, PickWave, WaveState
from erp.shipping.services import waves
from erp.warehouse.models import CycleCount, StockLevel


@pytest.fixture
def allocated(app, create_bin, create_sku, receive_stock, create_order, packing_bin,
              shipping_setup):
    """Two allocated orders: a DE single-item (POST-REG) and a FR two-item (EMS)."""
    near = create_bin("C-01-01-01", pick_sequence=100)
    far = create_bin("A-01-01-01", pick_sequence=300)
    red = create_sku("TS-RED-M", barcode="4006381333931")
    blue = create_sku("TS-BLUE-M")
    receive_stock(red, far, 10)
    receive_stock(blue, near, 10)
    de = create_order([(red, 1)], shipping_service="POST-REG", country="DE")
    fr = create_order([(red, 1), (blue, 1)], shipping_service="EMS", country="FR",
                      city="Paris", postal_code="75001")
    allocate_orders(actor=None)
    db.session.commit()
    return {"de": de, "fr": fr, "red": red, "blue": blue, "near": near, "far": far,
            "pack": packing_bin}


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_new_wave_preview_then_build(client, login_as, allocated):
    login_as("warehouse")
    form = client.get("/shipping/waves/new")
    assert form.status_code == 200
    text = page(form)
    assert "autofocus" in text
    assert "POST-REG · Registered air mail" in text
    assert "style=" not in text
    preview = client.post("/shipping/waves/new", data={"service_code": "EMS", "items": "",
                                                      "max_orders": "50", "preview": "1"})
    assert preview.status_code == 200
    assert "1 order matches these filters" in page(preview)
    assert db.session.scalar(select(PickWave)) is None
    none = client.post("/shipping/waves/new", data={"country": "JP", "max_orders": "50",
                                                   "build": "1"})
    assert none.status_code == 422
    assert "No allocated order" in page(none)
    built = client.post("/shipping/waves/new", data={"items": "multi", "max_orders": "50",
                                                    "build": "1"})
    assert built.status_code == 302
    wave = db.session.scalar(select(PickWave))
    assert built.headers["Location"].endswith(f"/shipping/waves/{wave.id}")
    assert [o.order.number for o in wave.orders] == [allocated["fr"].number]
    bad = client.post("/shipping/waves/new", data={"max_orders": "0", "build": "1"})
    assert bad.status_code == 422


def test_list_detail_export_and_pick_list(client, login_as, allocated):
    wave = waves.build_wave(waves.WaveFilters(), actor=None)
    db.session.commit()
    login_as("manager")  # shipping.view only
    listing = client.get("/shipping/waves")
    assert listing.status_code == 200
    assert wave.number in page(listing)
    assert "New wave" not in page(listing)
    assert wave.number in page(client.get("/shipping/waves?state=open"))
    assert wave.number not in page(client.get("/shipping/waves?state=done"))
    assert wave.number not in page(client.get("/shipping/waves?q=nothing"))
    export = client.get("/shipping/waves/export.xlsx?state=open")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.data)).active
    assert sheet.cell(2, 1).value == wave.number
    detail = client.get(f"/shipping/waves/{wave.id}")
    assert detail.status_code == 200
    text = page(detail)
    assert "A-01-01-01" in text
    assert allocated["fr"].number in text
    assert "Confirm all picks" not in text  # no shipping.work
    assert "style=" not in text
    pdf = client.get(f"/shipping/waves/{wave.id}/pick-list.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert client.get("/shipping/waves/999/pick-list.pdf").status_code == 404


def test_scanner_picking_refuses_a_wrong_bin_then_picks(client, login_as, allocated):
    wave = waves.build_wave(waves.WaveFilters(), actor=None)
    db.session.commit()
    login_as("warehouse")
    url = f"/shipping/waves/{wave.id}/pick"
    screen = client.get(url)
    assert screen.status_code == 200
    text = page(screen)
    first = waves.next_task(wave)
    assert first.location.code == "C-01-01-01"  # the nearest bin comes first
    assert "Next: bin C-01-01-01" in text
    assert 'name="bin_code"' in text
    assert "autofocus" in text
    assert f'name="task_id" type="hidden" value="{first.id}"' in text
    wrong = client.post(url, data={"task_id": first.id, "bin_code": "A-01-01-01",
                                   "sku_code": "TS-BLUE-M", "qty": "1"})
    assert wrong.status_code == 422
    assert "Wrong bin: you scanned A-01-01-01" in page(wrong)
    bin_only = client.post(url, data={"task_id": first.id, "bin_code": "C-01-01-01"})
    assert bin_only.status_code == 200  # the SKU is asked next, the bin kept
    assert 'value="C-01-01-01"' in page(bin_only)
    done = client.post(url, data={"task_id": first.id, "bin_code": "C-01-01-01",
                                  "sku_code": "TS-BLUE-M", "qty": "1"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(PickTask, first.id).state == PickTaskState.picked
    level = db.session.scalar(select(StockLevel).where(
        StockLevel.sku_id == allocated["blue"].id, StockLevel.location_id == allocated["pack"].id))
    assert level.on_hand == 1
    assert "Next: bin A-01-01-01" in page(client.get(url))
    stale = client.post(url, data={"task_id": first.id, "bin_code": "C-01-01-01",
                                   "sku_code": "TS-BLUE-M", "qty": "1"}, follow_redirects=True)
    assert "is already picked; here is the next one" in page(stale)
    db.session.expire_all()
    assert db.session.get(PickTask, first.id).picked_qty == 1


def test_short_pick_from_the_screen_then_confirm_all_and_finish(client, login_as, allocated):
    wave = waves.build_wave(waves.WaveFilters(), actor=None)
    db.session.commit()
    login_as("warehouse")
    task = waves.next_task(wave)
    response = client.post(f"/shipping/waves/{wave.id}/tasks/{task.id}/short",
                           data={"found_qty": "0"}, follow_redirects=True)
    assert response.status_code == 200
    assert "Short pick of TS-BLUE-M" in page(response)
    db.session.expire_all()
    assert allocated["fr"].state == OrderState.backordered
    assert db.session.scalar(select(CycleCount)) is not None
    finish = client.post(f"/shipping/waves/{wave.id}/finish", follow_redirects=True)
    assert "still open" in page(finish)
    confirm = client.post(f"/shipping/waves/{wave.id}/pick-all", follow_redirects=True)
    assert f"2 picks of wave {wave.number} confirmed." in page(confirm)
    detail = page(client.get(f"/shipping/waves/{wave.id}"))
    assert "Short picks" in detail
    finish = client.post(f"/shipping/waves/{wave.id}/finish", follow_redirects=True)
    assert f"Wave {wave.number} is done." in page(finish)
    db.session.expire_all()
    assert db.session.get(PickWave, wave.id).state == WaveState.done
    done_screen = page(client.get(f"/shipping/waves/{wave.id}/pick"))
    assert "Every pick of this wave is picked or reported short." in done_screen


def test_start_button(client, login_as, allocated):
    wave = waves.build_wave(waves.WaveFilters(), actor=None)
    db.session.commit()
    login_as("admin")
    response = client.post(f"/shipping/waves/{wave.id}/start", follow_redirects=True)
    assert f"Wave {wave.number} is picking." in page(response)
    again = client.post(f"/shipping/waves/{wave.id}/start", follow_redirects=True)
    assert "error" in page(again)


@pytest.mark.parametrize("role", ["manager", "customer_service", "purchasing"])
def test_roles_without_shipping_work_are_refused(client, login_as, allocated, role):
    wave = waves.build_wave(waves.WaveFilters(), actor=None)
    db.session.commit()
    task = waves.next_task(wave)
    login_as(role)
    assert client.get(f"/shipping/waves/{wave.id}").status_code == 200
    assert client.get("/shipping/waves/new").status_code == 403
    assert client.post("/shipping/waves/new", data={"max_orders": "5"}).status_code == 403
    assert client.get(f"/shipping/waves/{wave.id}/pick").status_code == 403
    for action in ("start", "pick-all", "finish"):
        assert client.post(f"/shipping/waves/{wave.id}/{action}").status_code == 403
    assert client.post(f"/shipping/waves/{wave.id}/tasks/{task.id}/short",
                       data={"found_qty": "0"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(PickWave, wave.id).state == WaveState.open


def test_anonymous_is_sent_to_login(client, allocated):
    response = client.get("/shipping/waves")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
