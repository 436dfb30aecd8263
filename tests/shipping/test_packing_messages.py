"""The packing station's messages after a scan, a close and a label, and where they lead.

The views write these messages before their commit (the commit expires every object, and
reading them after it loaded the order, its lines and the parcels again): the texts must be
the ones the committed rows give.
"""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from erp.extensions import db
from erp.shipping.models import PackingStation
from erp.shipping.services import lane, packing
from tests.shipping import test_packing as _packing
from tests.shipping.test_packing_views import bench_order  # noqa: F401 - a fixture

customs_sku = _packing.customs_sku
picked_order = _packing.picked_order
shipping_rates = _packing.shipping_rates

_FLASH = re.compile(r'class="flash flash-(\w+)"[^>]*>(.*?)</div>', re.DOTALL)


def flashes(client, response) -> list[tuple[str, str]]:
    """Follow the redirect; return the page's ``(kind, text)`` messages."""
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = client.get(response.location).get_data(as_text=True)
    return [(kind, " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split()))
            for kind, text in _FLASH.findall(page)]


def test_scan_close_and_label_say_what_was_done(client, login_as,
                                                bench_order,  # noqa: F811 - the fixture
                                                shipping_setup):
    login_as("warehouse")
    base = f"/shipping/packing/{bench_order.id}"
    scan = client.post(f"{base}/scan", data={"code": "TS-1"})
    assert scan.location.endswith(base)
    assert ("success", "TS-1: 1 of 2 scanned.") in flashes(client, scan)
    assert ("success", "TS-1: 2 of 2 scanned.") in flashes(
        client, client.post(f"{base}/scan", data={"code": "TS-1"}))

    closed = client.post(f"{base}/close", data={"box": "S", "weight_g": "420"})
    assert closed.location.endswith(base)
    db.session.expire_all()
    [first] = packing.order_parcels(bench_order)
    assert ("success", f"Parcel {first.number} closed (CN22, 420 g). Scan the items of the "
            "next parcel.") in flashes(client, closed)

    client.post(f"{base}/scan", data={"code": "CAP-1"})
    last = client.post(f"{base}/close", data={
        "box": "", "weight_g": "150", "length_mm": "200", "width_mm": "150", "height_mm": "40"})
    db.session.expire_all()
    second = packing.order_parcels(bench_order)[1]
    assert ("success", f"Parcel {second.number} closed (CN22, 150 g). The order is packed: "
            "label it.") in flashes(client, last)

    labelled = client.post(f"{base}/label")
    assert labelled.location.endswith(base)
    messages = flashes(client, labelled)
    db.session.expire_all()
    first, second = packing.order_parcels(bench_order)
    assert ("success", f"Labelled: {first.number} → {first.tracking_number}, "
            f"{second.number} → {second.tracking_number}. Print the labels below.") in messages


def test_a_station_closing_on_the_last_item_says_so(client, login_as, outbound_floor):
    floor = outbound_floor
    lane.set_sku_packing(floor.tee, floor.setup["boxes"][0], actor=None)
    db.session.commit()
    login_as("admin")
    client.post("/shipping/packing/stations/new", data={
        "code": "PACK-1", "name": "Bench one", "warehouse": floor.bench.warehouse_id,
        "close_on_last_item": "y"})
    station = db.session.scalar(select(PackingStation))
    client.post("/shipping/packing/stations/choose", data={"station": station.id})
    order = floor.picked([(floor.tee, 1)])

    last = client.post(f"/shipping/packing/{order.id}/scan", data={"code": "TEE-BLK-M"})
    assert last.location.endswith(f"/shipping/packing/{order.id}")
    page = client.get(last.location).get_data(as_text=True)
    db.session.expire_all()
    [parcel] = packing.order_parcels(order)
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert (f"Last item scanned: parcel {parcel.number} closed ({parcel.weight_g:,} g) and "
            f"labelled {parcel.tracking_number}. The label is printing.") in text
    assert f"/shipping/packing/parcels/{parcel.id}/label.pdf" in page  # printed once
    assert f"/shipping/packing/parcels/{parcel.id}/label.pdf" not in \
        client.get(last.location).get_data(as_text=True)
