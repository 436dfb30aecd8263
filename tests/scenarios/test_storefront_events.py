"""From the storefront's order to its delivery, as a subscribed storefront hears it.

The order comes in through the API; the warehouse allocates, picks, packs and labels it (the
label booked with the carrier simulator, running as a process), and dispatches it; the carrier's
timeline moves on and the tracking poll brings the delivery in. A real local receiver,
subscribed to the order events, gets each one once, signed as Standard Webhooks say, in the
order they happened; the pull feed lists the same events in the same order.
"""

from __future__ import annotations

import json

import pytest
from standardwebhooks import Webhook

from erp.core import events, webhooks
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import CustomerOrder, OrderState
from erp.shipping.models import ParcelState
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.shipping.tracking_poll import poll
from tests.core.webhook_receiver import Receiver

ORDER_EVENTS = ["order.accepted", "order.allocated", "order.backordered", "order.held",
                "order.released", "order.cancelled", "order.shipped", "order.delivered"]


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def storefront(app, dummy_admin):
    _, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def _order_payload(sku_code: str, service: str) -> dict:
    return {
        "number": "WEB-10001", "placed_at": "2026-12-01T09:30:00Z",
        "customer_name": "Erika Mustermann", "email": "erika@example.com",
        "phone": "+49 30 1234567",
        # the simulator's timeline is chosen by the name's suffix: this one is delivered
        "shipping_address": {"name": "Erika Mustermann [delivered]",
                             "address1": "Invalidenstrasse 117", "city": "Berlin",
                             "postal_code": "10115", "country": "DE"},
        "currency": "EUR", "shipping_charge": "4.90", "shipping_service": service,
        "lines": [{"sku": sku_code, "quantity": 2, "unit_price": "19.90"}],
    }


def test_an_order_from_intake_to_delivered_reaches_the_storefront(
        app, client, storefront, receiver, outbound_floor, api_service, carrier_sim):
    floor = outbound_floor
    endpoint, secret = webhooks.create_endpoint(name="Web store", url=receiver.url,
                                                event_types=ORDER_EVENTS, actor=None)
    db.session.commit()

    # 1. the storefront posts the order
    answer = client.post("/api/v1/orders", json=_order_payload(floor.tee.code, api_service.code),
                         headers=storefront)
    assert answer.status_code == 201, answer.get_json()
    order = db.session.query(CustomerOrder).filter_by(number="WEB-10001").one()

    # 2. the warehouse: allocated, picked, packed, labelled (booked with the carrier)
    order_services.allocate_order(order, actor=floor.agent)
    db.session.commit()
    wave = waves.build_wave(waves.WaveFilters(), actor=floor.packer)
    waves.pick_all(wave, actor=floor.packer)
    waves.finish_wave(wave, actor=floor.packer)
    db.session.commit()
    parcel = packing.pack_order(order, weight_g=700, box=floor.setup["boxes"][1],
                                actor=floor.packer)
    parcels.label_parcel(parcel, actor=floor.packer)
    db.session.commit()
    assert parcel.tracking_number
    assert [b["tracking_number"] for b in carrier_sim.bookings(parcel.number)] == \
        [parcel.tracking_number]

    # 3. handed over in a closed batch
    batch = dispatch.open_batch(api_service.carrier, actor=floor.packer)
    dispatch.add_parcels(batch, [parcel], actor=floor.packer)
    dispatch.close_batch(batch, actor=floor.packer)
    db.session.commit()
    assert order.state == OrderState.shipped

    # 4. days pass at the carrier; the poll brings the events in, up to the delivery
    carrier_sim.advance(24 * 10)
    totals = poll()
    assert totals["stored"] > 0, totals
    db.session.expire_all()
    assert db.session.get(CustomerOrder, order.id).state == OrderState.delivered

    # 5. the deliveries: each event once, signed, in the order it happened
    events.sequence_all()
    webhooks.run()
    db.session.commit()
    got = [json.loads(r.body) for r in receiver.requests]
    assert [e["type"] for e in got] == ["order.accepted", "order.allocated", "order.shipped",
                                        "order.delivered"]
    assert {e["data"]["order"] for e in got} == {"WEB-10001"}
    shipped = got[2]["data"]
    assert [p["tracking_number"] for p in shipped["parcels"]] == [parcel.tracking_number]
    verifier = Webhook(secret)
    for request, event in zip(receiver.requests, got, strict=True):
        assert verifier.verify(request.body, request.headers)["id"] == event["id"]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 4

    # ... and the pull feed has the same events, in the same order
    feed = client.get("/api/v1/events?limit=500&type=" + ",".join(ORDER_EVENTS),
                      headers=storefront).get_json()
    assert [e["id"] for e in feed["events"]] == [e["id"] for e in got]

    # nothing more to send: a second pump sends nothing again
    webhooks.run()
    db.session.commit()
    assert len(receiver.requests) == 4
    assert parcel.state == ParcelState.dispatched
