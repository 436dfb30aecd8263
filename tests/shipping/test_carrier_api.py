"""Booking parcels through a carrier's API, against the carrier simulator running as a process.

Booking (number and label stored, label in the batch PDF), the carrier's refusal shown at
packing, time-outs and outages retried without half-booking, cancelling on void, and tracking
timelines to each end state.
"""

from __future__ import annotations

import io
import time
from dataclasses import replace
from decimal import Decimal

import pytest
import requests
from pypdf import PdfReader
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.shipping.carriers.base import CarrierRefused, ShipmentRequest, TrackingStatus
from erp.shipping.carriers.http import HttpCarrierAdapter
from erp.shipping.carriers.registry import PostalAdapter, adapter_for
from erp.shipping.documents.labels import label_pdf, load_parcels
from erp.shipping.models import Carrier, Parcel, ParcelLabel, ParcelState
from erp.shipping.services import bookings, dispatch, parcels
from erp.shipping.services.bookings import CarrierRefusedError, CarrierUnavailableError
from tests.fixtures.shipping import run_carrier_sim

PHONE = "+49 30 1234567"


@pytest.fixture
def api_floor(outbound_floor, api_service):
    """The outbound floor with the simulator's express service SIMX-EXP (committed)."""
    db.session.commit()
    outbound_floor.api_service = api_service
    return outbound_floor


def _packed(floor, *, name="Erika Mustermann", postal_code="10115", **values):
    return floor.packed([(floor.tee, 1)], shipping_service=floor.api_service.code,
                        phone=PHONE, ship_name=name, customer_name=name,
                        postal_code=postal_code, **values)


def _label_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# --------------------------------------------------------------------------- adapters


def test_adapter_for_reads_the_carrier(api_floor):
    assert isinstance(adapter_for(api_floor.api_service.carrier), HttpCarrierAdapter)
    post = api_floor.setup["post"]
    adapter = adapter_for(post.carrier)
    assert isinstance(adapter, PostalAdapter)
    assert adapter.track(["RR100000000CN"]) == []
    booking = adapter.book(replace(_request("PCL-X"), service_code=post.code))
    assert booking.tracking_number.startswith("RR")
    assert booking.label_pdf is None
    with pytest.raises(CarrierRefused, match="has no service"):
        adapter.book(_request("PCL-X"))


def test_wrong_token_is_a_refusal(carrier_sim):
    adapter = HttpCarrierAdapter(carrier_sim.url, "wrong", timeout_s=5)
    with pytest.raises(CarrierRefused) as err:
        adapter.track(["SX1"])
    assert err.value.code == "unauthorized"


def test_rate_limit_is_waited_out(carrier_sim):
    """Over the rate limit the carrier answers 429 with Retry-After: the adapter waits once."""
    carrier_sim.reset()
    headers = {"Authorization": f"Bearer {carrier_sim.token}"}
    carrier_sim.chaos(rate_limit=1)
    try:
        # three calls at once: two of them fall in the same second
        answers = [requests.get(f"{carrier_sim.url}/v1/tracking", params={"numbers": "SX1"},
                                headers=headers, timeout=5) for _ in range(3)]
    finally:
        carrier_sim.chaos(rate_limit=0)
    limited = [a for a in answers if a.status_code == 429]
    assert limited
    assert limited[0].headers["Retry-After"] == "1"
    assert limited[0].json()["error"]["code"] == "rate_limited"
    adapter = HttpCarrierAdapter(carrier_sim.url, carrier_sim.token, timeout_s=5)
    carrier_sim.chaos(fail_next=1, status=429)
    assert adapter.track(["SX1"]) == []  # waited a second, asked again


# --------------------------------------------------------------------------- booking


def test_labelling_books_with_the_carrier_and_prints_its_label(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    assert parcel.state == ParcelState.labelled
    assert parcel.tracking_number.startswith("SX")
    stored = db.session.scalar(select(ParcelLabel).where(ParcelLabel.parcel_id == parcel.id))
    assert stored.tracking_number == parcel.tracking_number
    assert stored.carrier_reference.startswith("SHP-")
    assert stored.idempotency_key == parcel.number
    assert stored.pdf.startswith(b"%PDF")
    held = carrier_sim.bookings(parcel.number)
    assert [b["tracking_number"] for b in held] == [parcel.tracking_number]
    # the batch labels: erp's label for the postal parcel, the carrier's for this one
    _, postal = api_floor.packed([(api_floor.mug, 1)])
    parcels.label_parcel(postal, actor=api_floor.packer)
    db.session.commit()
    pdf = label_pdf(load_parcels([postal.id, parcel.id]))
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) == 2
    assert "SIM EXPRESS" not in pages[0].extract_text()
    assert "SIM EXPRESS" in pages[1].extract_text()
    assert parcel.tracking_number in pages[1].extract_text()


def test_batch_labels_pdf_includes_the_carrier_label(api_floor, client, login_as):
    order, parcel = _packed(api_floor)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    batch = dispatch.open_batch(api_floor.api_service.carrier, actor=api_floor.packer)
    dispatch.add_parcels(batch, [parcel], actor=api_floor.packer)
    db.session.commit()
    login_as("warehouse")
    answer = client.get(f"/shipping/batches/{batch.id}/labels.pdf")
    assert answer.status_code == 200
    text = _label_text(answer.data)
    assert "SIM EXPRESS" in text
    assert parcel.tracking_number in text


def test_refused_postcode_is_shown_with_the_carriers_reason(api_floor, carrier_sim):
    order, parcel = _packed(api_floor, postal_code="10005")
    with pytest.raises(CarrierRefusedError, match="Sim Express refused to book parcel "
                       f"{parcel.number}: postcode 10005 does not exist"):
        parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.rollback()
    db.session.refresh(parcel)
    assert parcel.state == ParcelState.packed
    assert parcel.tracking_number is None
    assert carrier_sim.bookings(parcel.number) == []


def test_refusal_at_the_packing_station(api_floor, client, login_as):
    order, parcel = _packed(api_floor, postal_code="1234")  # not a German postcode
    login_as("warehouse")
    answer = client.post(f"/shipping/packing/{order.id}/label", data={})
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert "Sim Express refused to book parcel" in text
    assert "postcode 1234 is not a valid DE postcode" in text
    db.session.expire_all()
    assert db.session.get(Parcel, parcel.id).state == ParcelState.packed
    # in Chinese, around the carrier's own words
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9"
    text = client.post(f"/shipping/packing/{order.id}/label", data={}).get_data(as_text=True)
    assert f"Sim Express 拒绝为包裹 {parcel.number} 下单：postcode 1234 is not a valid DE " \
           "postcode" in text


def test_outage_is_retried_inside_the_call(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    carrier_sim.chaos(fail_next=2, status=503)  # the third attempt gets through
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    assert parcel.tracking_number.startswith("SX")
    assert len(carrier_sim.bookings(parcel.number)) == 1


def test_lasting_outage_leaves_nothing_half_booked(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    carrier_sim.chaos(fail_next=3, status=502)
    with pytest.raises(CarrierUnavailableError, match="Sim Express is unavailable .*502.*Try "
                                                      "again"):
        parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.rollback()
    db.session.refresh(parcel)
    assert parcel.state == ParcelState.packed
    assert parcel.tracking_number is None
    assert db.session.scalar(select(func.count()).select_from(ParcelLabel)) == 0
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    assert len(carrier_sim.bookings(parcel.number)) == 1


def test_time_out_after_booking_then_retry_books_once(api_floor, carrier_sim):
    """The carrier booked but every answer came too late: the retry gets that booking."""
    carrier = api_floor.api_service.carrier
    carrier.api_timeout_s = 1
    order, parcel = _packed(api_floor)
    carrier_sim.chaos(slow_next=3, delay_s=1.2)
    with pytest.raises(CarrierUnavailableError, match="no answer within 1 s"):
        parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.rollback()
    db.session.refresh(parcel)
    assert parcel.tracking_number is None
    # the simulator did book it (the answer was lost), once, under the parcel number
    held = carrier_sim.bookings(parcel.number)
    assert len(held) == 1
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    assert parcel.tracking_number == held[0]["tracking_number"]
    assert len(carrier_sim.bookings(parcel.number)) == 1


# --------------------------------------------------------------------------- cancelling


def test_void_cancels_the_booking(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    parcels.void_parcel(parcel, reason="Wrong box", actor=api_floor.packer)
    db.session.commit()
    assert parcel.state == ParcelState.voided
    assert carrier_sim.bookings(parcel.number)[0]["cancelled"] is True
    assert bookings.live_label(parcel) is None


def test_void_label_then_relabel_books_anew(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    first = parcel.tracking_number
    parcels.void_label(parcel, reason="address changed", actor=api_floor.packer)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    assert parcel.tracking_number != first
    held = carrier_sim.bookings(parcel.number)
    assert [(b["key"], b["cancelled"]) for b in held] == [
        (parcel.number, True), (f"{parcel.number}-2", False)]


def test_cancel_refused_once_handed_over(carrier_sim):
    carrier_sim.reset()
    adapter = HttpCarrierAdapter(carrier_sim.url, carrier_sim.token, timeout_s=5)
    booking = adapter.book(_request("PCL-H-1"))
    carrier_sim.advance(13)  # the courier collects 12 hours after booking
    with pytest.raises(CarrierRefused, match="already collected") as err:
        adapter.cancel(booking)
    assert err.value.code == "already_handed_over"


def test_void_refused_with_the_carriers_reason(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    carrier_sim.advance(13)
    with pytest.raises(CarrierRefusedError, match="refused to cancel the booking of parcel "
                                                  ".*already collected by the courier"):
        parcels.void_parcel(parcel, reason="Wrong box", actor=api_floor.packer)
    db.session.rollback()
    db.session.refresh(parcel)
    assert parcel.state == ParcelState.labelled
    assert carrier_sim.bookings(parcel.number)[0]["cancelled"] is False


def test_void_while_the_carrier_is_down_is_refused(api_floor, carrier_sim):
    order, parcel = _packed(api_floor)
    parcels.label_parcel(parcel, actor=api_floor.packer)
    db.session.commit()
    carrier_sim.chaos(fail_next=3, status=503)
    with pytest.raises(CarrierUnavailableError, match="was not cancelled .*Try again"):
        parcels.void_parcel(parcel, reason="Wrong box", actor=api_floor.packer)
    db.session.rollback()
    db.session.refresh(parcel)
    assert parcel.state == ParcelState.labelled
    parcels.void_parcel(parcel, reason="Wrong box", actor=api_floor.packer)
    db.session.commit()
    assert parcel.state == ParcelState.voided


# --------------------------------------------------------------------------- tracking


def _request(reference, name="Erika Mustermann"):
    return ShipmentRequest(
        reference=reference, service_code="SIM-EXPRESS",
        recipient={"name": name, "address1": "Hauptstrasse 1", "city": "Berlin",
                   "postal_code": "10115", "country": "DE"},
        weight_g=500, length_mm=300, width_mm=200, height_mm=100, currency="EUR",
        declared_value=Decimal("25.00"))


@pytest.mark.parametrize(("tag", "statuses"), [
    ("delivered", ["in_transit", "in_transit", "in_transit", "out_for_delivery", "delivered"]),
    ("customs", ["in_transit", "in_transit", "exception", "in_transit", "out_for_delivery",
                 "delivered"]),
    ("seized", ["in_transit", "in_transit", "exception", "returning", "returned"]),
    ("returned", ["in_transit", "in_transit", "out_for_delivery", "exception", "returning",
                  "returned"]),
    ("silent", ["in_transit"]),
])
def test_tracking_timelines_reach_their_end(carrier_sim, tag, statuses):
    carrier_sim.reset()
    adapter = HttpCarrierAdapter(carrier_sim.url, carrier_sim.token, timeout_s=5)
    booking = adapter.book(_request(f"PCL-T-{tag}", name=f"Erika Mustermann [{tag}]"))
    assert adapter.track([booking.tracking_number]) == []  # not picked up yet
    carrier_sim.advance(24 * 30)  # a month later
    events = adapter.track([booking.tracking_number])
    assert [e.status.value for e in events] == statuses
    assert all(e.tracking_number == booking.tracking_number for e in events)
    assert [e.occurred_at for e in events] == sorted(e.occurred_at for e in events)
    assert events[0].code == "ACCEPTED"
    if tag == "customs":
        assert events[2].code == "CUSTOMS_HOLD"
        assert events[-1].status == TrackingStatus.delivered


def test_tracking_progresses_with_the_time_scale():
    """A simulator at 864,000x lives ten days a second: the parcel gets delivered."""
    with run_carrier_sim("--time-scale", "864000") as fast:
        adapter = HttpCarrierAdapter(fast.url, fast.token, timeout_s=5)
        booking = adapter.book(_request("PCL-P-2", name="A [delivered]"))
        seen = []
        for _ in range(200):  # wait (at most 10 s) until the clock took it to the door
            seen = adapter.track([booking.tracking_number])
            if seen and seen[-1].status == TrackingStatus.delivered:
                break
            time.sleep(0.05)
        assert [e.code for e in seen] == ["ACCEPTED", "DEPARTED", "CUSTOMS_CLEARED",
                                          "OUT_FOR_DELIVERY", "DELIVERED"]
        assert adapter.track(["UNKNOWN"]) == []


def test_random_timelines_are_seeded(carrier_sim):
    carrier_sim.reset()
    adapter = HttpCarrierAdapter(carrier_sim.url, carrier_sim.token, timeout_s=5)
    kinds = set()
    for n in range(30):
        booking = adapter.book(_request(f"PCL-R-{n}"))
        kinds.add(carrier_sim.bookings(f"PCL-R-{n}")[0]["timeline"])
        assert booking.tracking_number
    assert len(kinds) >= 2  # a mix, drawn from the seed and the number


def test_booking_twice_with_one_key_gives_one_booking(carrier_sim):
    adapter = HttpCarrierAdapter(carrier_sim.url, carrier_sim.token, timeout_s=5)
    first = adapter.book(_request("PCL-I-1"))
    again = adapter.book(_request("PCL-I-1"))
    assert first == again
    assert len(carrier_sim.bookings("PCL-I-1")) == 1
    with pytest.raises(CarrierRefused, match="not available") as err:
        adapter.book(replace(_request("PCL-I-2"), service_code="NOPE"))
    assert err.value.code == "service_unavailable"


# --------------------------------------------------------------------------- carrier screens


def test_carrier_screen_configures_the_api_without_showing_the_token(client, login_as, app):
    login_as("admin")
    data = {"code": "sfx", "name": "SF Express", "kind": "express", "adapter": "http",
            "api_endpoint": "https://api.sf.example/", "api_timeout_s": "8"}
    refused = client.post("/shipping/carriers/new", data=data)
    assert refused.status_code == 200
    assert "needs the API token" in refused.get_data(as_text=True)
    assert client.post("/shipping/carriers/new", data={
        **data, "api_token": "s3cret-token-1234"}).status_code == 302
    carrier = db.session.scalar(select(Carrier).where(Carrier.code == "SFX"))
    assert (carrier.adapter, carrier.api_endpoint, carrier.api_token, carrier.api_timeout_s) \
        == ("http", "https://api.sf.example", "s3cret-token-1234", 8)
    page = client.get(f"/shipping/carriers/{carrier.id}/edit").get_data(as_text=True)
    assert "s3cret-token-1234" not in page
    assert "…1234" in page
    # saved again with the token field empty: the token stays
    assert client.post(f"/shipping/carriers/{carrier.id}/edit", data={
        **data, "code": "SFX", "active": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Carrier, carrier.id).api_token == "s3cret-token-1234"
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == "carrier")).all()
    assert events
    assert all("s3cret" not in str(e.changes) for e in events)
    bad = client.post("/shipping/carriers/new", data={**data, "code": "X2",
                                                      "api_endpoint": "ftp://nope"})
    assert "is not an API endpoint" in bad.get_data(as_text=True)
