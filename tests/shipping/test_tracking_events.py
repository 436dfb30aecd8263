"""Tracking after dispatch: the one ingest every source uses, and the carriers' CSV files."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from erp.core.audit import AuditEvent
from erp.core.events import OutboxEvent
from erp.extensions import db
from erp.orders.models import OrderState
from erp.shipping.carriers.base import TrackingEvent, TrackingStatus
from erp.shipping.models import ParcelTrackingEvent
from erp.shipping.services import tracking_events
from erp.shipping.services.tracking_events import import_csv, ingest

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
S = TrackingStatus


def ev(parcel, hours, status, code, description="", location=None):
    return TrackingEvent(parcel.tracking_number, T0 + timedelta(hours=hours), S(status), code,
                         description, location)


def stored(parcel):
    return db.session.scalar(select(func.count()).select_from(ParcelTrackingEvent)
                             .where(ParcelTrackingEvent.parcel_id == parcel.id))


def outbox(type_):
    return list(db.session.scalars(select(OutboxEvent).where(OutboxEvent.type == type_)))


@pytest.fixture
def shipped(outbound_floor):
    order, (parcel,) = outbound_floor.dispatched([(outbound_floor.tee, 1)])
    return order, parcel


def test_events_are_stored_once_across_sources(shipped):
    order, parcel = shipped
    first = [ev(parcel, 1, "in_transit", "ACC", "Accepted", "Shenzhen"),
             ev(parcel, 5, "in_transit", "DEP", "Departed")]
    summary = ingest(first, source="poll")
    assert (summary.received, summary.stored, summary.duplicates) == (2, 2, 0)
    again = ingest(first + [ev(parcel, 9, "in_transit", "ARR")], source="webhook")
    assert (again.stored, again.duplicates) == (1, 2)
    db.session.commit()
    assert stored(parcel) == 3
    sources = set(db.session.scalars(select(ParcelTrackingEvent.source)))
    assert sources == {"poll", "webhook"}
    assert parcel.tracking_status == S.in_transit
    assert parcel.last_tracking_at == T0 + timedelta(hours=9)


def test_a_late_old_event_does_not_move_the_parcel_back(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 10, "out_for_delivery", "OFD")], source="webhook")
    summary = ingest([ev(parcel, 2, "in_transit", "DEP")], source="poll")
    db.session.commit()
    assert summary.stored == 1
    assert summary.parcels_changed == 0
    assert parcel.tracking_status == S.out_for_delivery
    assert parcel.last_tracking_at == T0 + timedelta(hours=10)


def test_events_out_of_order_in_one_call_take_the_latest(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 7, "out_for_delivery", "OFD"), ev(parcel, 1, "in_transit", "ACC"),
            ev(parcel, 4, "exception", "CUS", "Held at customs")], source="poll")
    db.session.commit()
    assert parcel.tracking_status == S.out_for_delivery
    assert outbox("parcel.exception") == []  # it never showed exception


def test_every_status_change_is_audited(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 1, "in_transit", "ACC")], source="poll")
    ingest([ev(parcel, 3, "in_transit", "DEP")], source="poll")   # same status: no audit
    ingest([ev(parcel, 5, "out_for_delivery", "OFD")], source="poll")
    db.session.commit()
    changes = [e.changes for e in db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == "parcel",
                                 AuditEvent.action == "parcel.tracking",
                                 AuditEvent.entity_id == str(parcel.id)).order_by(AuditEvent.id))]
    assert [c["tracking_status"] for c in changes] == [[None, "in_transit"],
                                                       ["in_transit", "out_for_delivery"]]


def test_unknown_numbers_are_counted_not_fatal(shipped):
    order, parcel = shipped
    stranger = TrackingEvent("ZZ999999999CN", T0, S.in_transit, "ACC", "")
    summary = ingest([stranger, ev(parcel, 1, "in_transit", "ACC")], source="webhook")
    assert summary.unknown == 1
    assert summary.unknown_numbers == ["ZZ999999999CN"]
    assert summary.stored == 1


def test_all_parcels_delivered_delivers_the_order(outbound_floor):
    floor = outbound_floor
    order, (first, second) = floor.dispatched([(floor.tee, 1), (floor.mug, 1)],
                                              parts=[[("TEE-BLK-M", 1)], [("MUG-WHT", 1)]])
    assert order.state == OrderState.shipped
    ingest([ev(first, 20, "delivered", "DLV")], source="poll")
    db.session.commit()
    assert order.state == OrderState.shipped  # one of two
    assert first.delivered_at == T0 + timedelta(hours=20)
    summary = ingest([ev(second, 30, "delivered", "DLV")], source="webhook")
    db.session.commit()
    assert summary.orders_delivered == 1
    db.session.refresh(order)
    assert order.state == OrderState.delivered
    delivered = outbox("order.delivered")
    assert [e.key for e in delivered] == [f"order:{order.number}"]


def test_exception_writes_a_parcel_exception_event(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 3, "exception", "ADR", "Address incomplete", "Berlin")], source="poll")
    db.session.commit()
    (event,) = outbox("parcel.exception")
    assert event.key == f"order:{order.number}"
    assert event.payload["parcel"] == parcel.number
    assert event.payload["tracking_number"] == parcel.tracking_number
    assert event.payload["description"] == "Address incomplete"
    # still in exception: the same event again writes nothing more
    ingest([ev(parcel, 3, "exception", "ADR")], source="webhook")
    db.session.commit()
    assert len(outbox("parcel.exception")) == 1


def test_delivered_is_final(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 3, "delivered", "DLV")], source="poll")
    ingest([ev(parcel, 5, "exception", "XX")], source="poll")
    db.session.commit()
    assert parcel.tracking_status == S.delivered
    assert stored(parcel) == 2


def test_a_rollback_leaves_no_event(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 3, "exception", "ADR")], source="poll")
    db.session.rollback()
    assert stored(parcel) == 0
    assert outbox("parcel.exception") == []
    db.session.refresh(parcel)
    assert parcel.tracking_status is None


def test_an_unknown_source_is_a_programming_error(shipped):
    with pytest.raises(ValueError, match="Unknown tracking source"):
        ingest([], source="fax")


# --------------------------------------------------------------------------- CSV files


def csv_file(*rows, header="tracking_number,occurred_at,status,code,description,location"):
    return io.StringIO("\n".join([header, *rows]) + "\n", newline="")


def test_csv_import_stores_and_moves(shipped):
    order, parcel = shipped
    tn = parcel.tracking_number
    outcome = import_csv(csv_file(f"{tn},2026-12-01T09:00:00Z,in_transit,ACC,Accepted,SZX",
                                  f"{tn},2026-12-02T09:00:00+08:00,delivered,DLV,Delivered,",
                                  "XX1,2026-12-02T09:00:00Z,in_transit,ACC,,"),
                         dry_run=False)
    assert outcome.ok, outcome.errors
    db.session.commit()
    assert outcome.summary.stored == 2
    assert outcome.summary.unknown == 1
    assert parcel.tracking_status == S.delivered
    assert parcel.delivered_at == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    db.session.refresh(order)
    assert order.state == OrderState.delivered


def test_csv_dry_run_writes_nothing(shipped):
    order, parcel = shipped
    outcome = import_csv(csv_file(f"{parcel.tracking_number},2026-12-01T09:00:00Z,in_transit,"
                                  "ACC,,"), dry_run=True)
    assert outcome.ok
    db.session.commit()
    assert stored(parcel) == 0
    assert parcel.tracking_status is None


def test_csv_one_bad_row_refuses_all(shipped):
    order, parcel = shipped
    tn = parcel.tracking_number
    outcome = import_csv(csv_file(f"{tn},2026-12-01T09:00:00Z,in_transit,ACC,,",
                                  f"{tn},yesterday,in_transit,DEP,,",
                                  f"{tn},2026-12-01T12:00:00Z,lost,X,,",
                                  f"{tn},2026-12-01T13:00:00Z,in_transit,,,"),
                         dry_run=False)
    assert not outcome.ok
    found = [(e.row, e.column) for e in outcome.errors]
    assert found == [(3, "occurred_at"), (4, "status"), (5, "code")]
    assert "yesterday" in outcome.errors[0].message
    assert "Row 3, occurred_at" in str(outcome.errors[0])
    db.session.rollback()
    assert stored(parcel) == 0


def test_csv_missing_column_is_named(shipped):
    outcome = import_csv(csv_file("A,B", header="tracking_number,when"), dry_run=False)
    assert not outcome.ok
    assert {e.column for e in outcome.errors} == {"occurred_at", "status", "code"}


def test_csv_and_webhook_share_the_dedup(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 1, "in_transit", "ACC")], source="webhook")
    outcome = import_csv(csv_file(f"{parcel.tracking_number},2026-12-01T09:00:00Z,in_transit,"
                                  "ACC,,"), dry_run=False)
    db.session.commit()
    assert outcome.summary.stored == 0
    assert outcome.summary.duplicates == 1
    assert stored(parcel) == 1


def test_events_of_newest_first(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 1, "in_transit", "ACC"), ev(parcel, 5, "in_transit", "DEP")],
           source="poll")
    assert [e.code for e in tracking_events.events_of([parcel.id])] == ["DEP", "ACC"]


def test_the_audit_log_reads_the_tracking_change(shipped):
    from erp.core import audit
    from erp.core.models import AuditEvent

    order, parcel = shipped
    ingest([ev(parcel, 1, "in_transit", "ACC")], source="poll")
    ingest([ev(parcel, 5, "exception", "ADR")], source="poll")
    db.session.commit()
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "parcel.tracking")
                                .order_by(AuditEvent.id)).all()
    texts = [audit.describe(e) for e in events]
    assert texts == [f"Parcel {parcel.number}: the carrier reports in transit (event ACC).",
                     f"Parcel {parcel.number}: the carrier reports exception (was in transit; "
                     "event ADR)."]


def test_csv_import_of_older_events_does_not_move_back(shipped):
    order, parcel = shipped
    ingest([ev(parcel, 10, "out_for_delivery", "OFD")], source="webhook")
    outcome = import_csv(csv_file(f"{parcel.tracking_number},2026-12-01T09:00:00Z,in_transit,"
                                  "ACC,,", f"{parcel.tracking_number},2026-12-01T10:00:00Z,"
                                  "exception,ADR,,"), dry_run=False)
    db.session.commit()
    assert outcome.summary.stored == 2
    assert parcel.tracking_status == S.out_for_delivery
    assert outbox("parcel.exception") == []
