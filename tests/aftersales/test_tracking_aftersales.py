"""Tracking in after-sales: automatic lost-parcel cases and the return window from delivery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.lost_parcels import open_lost_parcel_cases
from erp.aftersales.models import AfterSalesCase, CaseType
from erp.aftersales.services import cases
from erp.core import periodic
from erp.core import services as core_services
from erp.core.models import AuditEvent, utcnow
from erp.extensions import db
from erp.shipping.carriers.base import TrackingEvent, TrackingStatus
from erp.shipping.services.tracking_events import ingest


@pytest.fixture
def shipped(ship_order, customs_stock, reasons):
    tee = customs_stock("TEE-1")
    return ship_order([(tee, 2, "15.00")])


def _dispatched(order, days_ago):
    order.parcel.dispatched_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()


def _event(order, days_ago, status="in_transit", code="ARR"):
    at = (utcnow() - timedelta(days=days_ago)).replace(microsecond=0)
    ingest([TrackingEvent(order.parcel.tracking_number, at, TrackingStatus(status), code, "")],
           source="poll")
    db.session.commit()


def lost_cases():
    return list(db.session.scalars(select(AfterSalesCase).where(
        AfterSalesCase.case_type == CaseType.lost_parcel)))


def _set(key, value):
    core_services.update_settings({key: value}, actor=None)
    db.session.commit()


# --------------------------------------------------------------------------- lost parcels


def test_a_silent_parcel_opens_one_lost_case(shipped):
    _dispatched(shipped, 11)  # POST-REG is a postal service: 10 days
    result = open_lost_parcel_cases()
    db.session.commit()
    assert result["opened"] == 1
    (case,) = lost_cases()
    assert case.parcel_id == shipped.parcel.id
    assert case.opened_by_id is None
    assert case.reason.code == "LOST"
    assert [(line.sku.code, line.quantity) for line in case.lines] == [("TEE-1", 2)]
    assert case.notes[0].body.startswith("Opened automatically: no tracking event for 11 days")
    assert "after 10 days" in case.notes[0].body
    audit = db.session.scalar(select(AuditEvent).where(
        AuditEvent.entity_type == "aftersales_case", AuditEvent.entity_id == str(case.id)))
    assert audit.actor_id is None
    # once: a second run (and the periodic task) opens nothing more
    assert open_lost_parcel_cases()["opened"] == 0
    periodic.run_task("aftersales.lost_parcels")
    assert len(lost_cases()) == 1


def test_counts_from_the_last_event(shipped):
    _dispatched(shipped, 20)
    _event(shipped, 3)
    assert open_lost_parcel_cases()["opened"] == 0
    _event(shipped, 12, code="OLD")  # an older event arriving late changes nothing
    assert open_lost_parcel_cases()["opened"] == 0
    assert lost_cases() == []


def test_not_for_delivered_parcels(shipped):
    _dispatched(shipped, 30)
    _event(shipped, 25, status="delivered", code="DLV")
    assert open_lost_parcel_cases()["opened"] == 0


def test_respects_the_service_days(shipped):
    _dispatched(shipped, 6)
    assert open_lost_parcel_cases()["opened"] == 0
    shipped.parcel.service.lost_after_days = 5
    db.session.commit()
    assert open_lost_parcel_cases()["opened"] == 1


def test_lost_case_ignores_the_return_window(shipped):
    _set("return_window_days", "5")
    _dispatched(shipped, 40)
    assert open_lost_parcel_cases()["opened"] == 1


# --------------------------------------------------------------------------- return window


def test_window_counts_from_delivery_by_default(shipped, reasons):
    _dispatched(shipped, 40)
    delivered = (utcnow() - timedelta(days=10)).replace(microsecond=0)
    assert cases.return_window_ends(shipped) < utcnow()  # not delivered: from shipping
    ingest([TrackingEvent(shipped.parcel.tracking_number, delivered, TrackingStatus.delivered,
                          "DLV", "")], source="webhook")
    db.session.commit()
    assert cases.return_window_ends(shipped) == delivered + timedelta(days=30)
    case = cases.open_case(shipped, case_type=CaseType.return_refund,
                           reason=reasons["WRONG_SIZE"],
                           lines={shipped.lines[0].id: 1}, actor=None)
    assert case.window_override_note is None


def test_window_from_shipping_when_set(shipped, reasons):
    _dispatched(shipped, 40)
    delivered = datetime.now(UTC) - timedelta(days=10)
    ingest([TrackingEvent(shipped.parcel.tracking_number, delivered, TrackingStatus.delivered,
                          "DLV", "")], source="webhook")
    _set("return_window_from", "shipping")
    assert cases.return_window_ends(shipped) < utcnow()
    with pytest.raises(AfterSalesError, match="return window closed"):
        cases.open_case(shipped, case_type=CaseType.return_refund, reason=reasons["WRONG_SIZE"],
                        lines={shipped.lines[0].id: 1}, actor=None)


def test_lost_case_count(shipped):
    _dispatched(shipped, 11)
    open_lost_parcel_cases()
    assert db.session.scalar(select(func.count()).select_from(AfterSalesCase)) == 1


# --------------------------------------------------------------------------- returned to sender


def test_rts_scan_receives_once(shipped, returns_bins, create_user):
    from erp.aftersales.models import CaseState, ReturnItem
    from erp.aftersales.services.returned_to_sender import receive_returned_parcel

    keeper = create_user("keeper", roles=("warehouse",))
    _event(shipped, 2, status="returning", code="RTS")
    got = receive_returned_parcel(f" {shipped.parcel.tracking_number} ", decision="refund",
                                  actor=keeper)
    db.session.commit()
    assert got.new
    case = got.case
    assert case.case_type == CaseType.return_refund
    assert case.state == CaseState.received  # the inspection takes it from here
    assert [(i.sku.code, i.quantity) for i in case.items] == [("TEE-1", 2)]
    assert shipped.parcel.tracking_status == TrackingStatus.returned
    assert shipped.parcel.returned_at is not None
    again = receive_returned_parcel(shipped.parcel.tracking_number, decision="reship",
                                    actor=keeper)
    db.session.commit()
    assert not again.new
    assert again.case.id == case.id
    assert db.session.scalar(select(func.sum(ReturnItem.quantity))) == 2
    assert db.session.scalar(select(func.count()).select_from(AfterSalesCase)) == 1


def test_rts_unknown_number_is_refused(shipped):
    from erp.aftersales.services.returned_to_sender import receive_returned_parcel

    with pytest.raises(AfterSalesError, match="No dispatched parcel"):
        receive_returned_parcel("XX000000000CN", decision="reship", actor=None)


def test_rts_scanner_screen(client, login_as, shipped, returns_bins):
    login_as("warehouse")
    page = client.get("/aftersales/returns/returned-to-sender")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "autofocus" in html
    assert "scaninput" in html
    data = {"tracking_number": shipped.parcel.tracking_number, "decision": "reship"}
    response = client.post("/aftersales/returns/returned-to-sender", data=data)
    assert response.status_code == 302
    response = client.post("/aftersales/returns/returned-to-sender", data=data,
                           follow_redirects=True)
    assert "received back already" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(AfterSalesCase)) == 1
    bad = client.post("/aftersales/returns/returned-to-sender",
                      data={"tracking_number": "NOPE123", "decision": "reship"})
    assert bad.status_code == 422
    # the order page shows the case (re-shipping) with the parcel's tracking status
    order_page = client.get(f"/orders/{shipped.id}").get_data(as_text=True)
    assert "Return replacement" in order_page
    assert "returned to sender" in order_page
