"""The carriers' tracking webhook: authentication, 422 messages, idempotent repeats."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from erp.extensions import db
from erp.shipping.api import signature
from erp.shipping.carriers.base import TrackingStatus
from erp.shipping.models import ParcelTrackingEvent

SECRET = "s3cret-tracking-key"
URL = "/api/v1/carriers/CNPOST/tracking"


@pytest.fixture
def shipped(outbound_floor):
    order, (parcel,) = outbound_floor.dispatched([(outbound_floor.tee, 1)])
    carrier = outbound_floor.setup["post"].carrier
    carrier.tracking_secret = SECRET
    db.session.commit()
    return order, parcel


def body(parcel, **changes):
    event = {"tracking_number": parcel.tracking_number, "occurred_at": "2026-12-01T10:00:00Z",
             "status": "in_transit", "code": "ARR", "description": "Arrived", "location": "FRA"}
    event.update(changes)
    return json.dumps([event]).encode()


def post(client, data: bytes, *, secret=SECRET, how="signature"):
    headers = {"Content-Type": "application/json"}
    if how == "signature":
        headers["X-Erp-Signature"] = signature(secret, data)
    elif how == "bearer":
        headers["Authorization"] = f"Bearer {secret}"
    return client.post(URL, data=data, headers=headers)


def count():
    return db.session.scalar(select(func.count()).select_from(ParcelTrackingEvent))


def test_signed_events_are_accepted(client, shipped):
    order, parcel = shipped
    response = post(client, body(parcel))
    assert response.status_code == 202, response.get_json()
    answer = response.get_json()
    assert (answer["received"], answer["stored"], answer["unknown"]) == (1, 1, 0)
    db.session.expire_all()
    assert parcel.tracking_status == TrackingStatus.in_transit
    assert db.session.scalar(select(ParcelTrackingEvent.source)) == "webhook"


def test_bearer_secret_is_accepted(client, shipped):
    order, parcel = shipped
    assert post(client, body(parcel), how="bearer").status_code == 202


def test_repeats_store_once(client, shipped):
    order, parcel = shipped
    data = body(parcel)
    assert post(client, data).get_json()["stored"] == 1
    again = post(client, data)
    assert again.status_code == 202
    assert (again.get_json()["stored"], again.get_json()["duplicates"]) == (0, 1)
    assert count() == 1


def test_no_credentials_is_401(client, shipped):
    order, parcel = shipped
    response = post(client, body(parcel), how=None)
    assert response.status_code == 401
    assert "X-Erp-Signature" in response.get_json()["error"]


@pytest.mark.parametrize("how", ["signature", "bearer"])
def test_wrong_secret_is_403(client, shipped, how):
    order, parcel = shipped
    response = post(client, body(parcel), secret="guess", how=how)
    assert response.status_code == 403
    assert count() == 0


def test_a_body_changed_after_signing_is_403(client, shipped):
    order, parcel = shipped
    signed = signature(SECRET, body(parcel))
    response = client.post(URL, data=body(parcel, code="DLV", status="delivered"),
                           headers={"X-Erp-Signature": signed,
                                    "Content-Type": "application/json"})
    assert response.status_code == 403


def test_carrier_without_secret_or_unknown_is_403(client, shipped, outbound_floor):
    order, parcel = shipped
    data = body(parcel)
    response = client.post("/api/v1/carriers/EXP/tracking", data=data,
                           headers={"X-Erp-Signature": signature(SECRET, data)})
    assert response.status_code == 403
    response = client.post("/api/v1/carriers/NOPE/tracking", data=data,
                           headers={"X-Erp-Signature": signature(SECRET, data)})
    assert response.status_code == 403


def test_field_errors_are_422_naming_index_and_field(client, shipped):
    order, parcel = shipped
    events = [{"tracking_number": parcel.tracking_number, "occurred_at": "2026-12-01T10:00:00Z",
               "status": "in_transit", "code": "ACC"},
              {"tracking_number": parcel.tracking_number, "occurred_at": "tomorrow",
               "status": "lost", "code": "X"},
              {"occurred_at": "2026-12-01T10:00:00Z", "status": "delivered", "code": "D"}]
    data = json.dumps(events).encode()
    response = post(client, data)
    assert response.status_code == 422
    answer = response.get_json()
    assert [(e["index"], e["field"]) for e in answer["errors"]] == [
        (1, "occurred_at"), (1, "status"), (2, "tracking_number")]
    assert answer["error"].startswith("Nothing was stored; event 1, occurred_at:")
    assert count() == 0  # the good first event is not stored either


def test_bad_json_is_422(client, shipped):
    response = post(client, b"{not json")
    assert response.status_code == 422
    assert "not JSON" in response.get_json()["error"]
    response = post(client, b'{"tracking_number": "X"}')
    assert response.status_code == 422
    assert "JSON list" in response.get_json()["errors"][0]["message"]


def test_unknown_numbers_are_reported(client, shipped):
    order, parcel = shipped
    data = json.dumps([{"tracking_number": "ZZ1", "occurred_at": "2026-12-01T10:00:00Z",
                        "status": "in_transit", "code": "ACC"}]).encode()
    answer = post(client, data).get_json()
    assert answer["unknown"] == 1
    assert answer["unknown_numbers"] == ["ZZ1"]
