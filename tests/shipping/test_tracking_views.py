"""Tracking screens: exception queue, parcel and order pages, file import, forms and the poll."""

from __future__ import annotations

import io
import sys
import types
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from erp.core import periodic
from erp.extensions import db
from erp.shipping import tracking_poll
from erp.shipping.carriers.base import CarrierUnavailable, TrackingEvent, TrackingStatus
from erp.shipping.models import ParcelTrackingEvent
from erp.shipping.services.tracking_events import ingest

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def shipped(outbound_floor):
    order, (parcel,) = outbound_floor.dispatched([(outbound_floor.tee, 1)])
    return order, parcel


def _exception(parcel, description="Address incomplete"):
    ingest([TrackingEvent(parcel.tracking_number, T0, TrackingStatus.in_transit, "ACC",
                          "Accepted", "Shenzhen"),
            TrackingEvent(parcel.tracking_number, T0 + timedelta(days=1),
                          TrackingStatus.exception, "ADR", description, "Berlin")],
           source="poll")
    db.session.commit()


def count():
    return db.session.scalar(select(func.count()).select_from(ParcelTrackingEvent))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_exception_queue(client, login_as, shipped, lang):
    order, parcel = shipped
    _exception(parcel)
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    page = client.get("/shipping/exceptions")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert parcel.number in body
    assert order.number in body
    assert "Address incomplete" in body
    assert ("Tracking exceptions" if lang == "en" else "物流异常") in body
    assert parcel.number not in client.get("/shipping/exceptions?q=NOPE").get_data(as_text=True)
    assert parcel.number in client.get(
        f"/shipping/exceptions?q={order.number}&carrier=CNPOST&min_days=3"
    ).get_data(as_text=True)
    export = client.get("/shipping/exceptions/export.xlsx")
    assert export.status_code == 200
    sheet = load_workbook(io.BytesIO(export.data)).active
    values = [c.value for c in sheet[2]]
    assert parcel.number in values
    assert "Address incomplete" in values


def test_exception_queue_is_for_customer_service_and_managers(client, login_as, shipped):
    login_as("warehouse")
    assert client.get("/shipping/exceptions").status_code == 403
    client.post("/logout")
    login_as("manager")
    assert client.get("/shipping/exceptions").status_code == 200


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_parcel_and_order_pages_show_tracking(client, login_as, shipped, lang):
    order, parcel = shipped
    _exception(parcel, description="Customs hold")
    login_as("customer_service")
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    body = client.get(f"/shipping/parcels/{parcel.id}").get_data(as_text=True)
    assert "Customs hold" in body
    assert "Accepted" in body
    assert body.index("Customs hold") < body.index("Accepted")  # newest first
    assert ("exception" if lang == "en" else "异常") in body
    order_page = client.get(f"/orders/{order.id}").get_data(as_text=True)
    assert "Customs hold" in order_page
    assert ("Tracking status" if lang == "en" else "物流状态") in order_page


def test_import_screen_dry_run_then_import(client, login_as, shipped):
    order, parcel = shipped
    login_as("warehouse")
    assert client.get("/shipping/tracking/import").status_code == 200
    assert client.get("/shipping/tracking/import/template.xlsx").status_code == 200
    csv = (f"tracking_number,occurred_at,status,code,description,location\n"
           f"{parcel.tracking_number},2026-12-01T09:00:00Z,in_transit,ACC,Accepted,SZX\n")
    dry = client.post("/shipping/tracking/import", data={
        "file": (io.BytesIO(csv.encode()), "tracking.csv"), "action": "check"})
    assert dry.status_code == 200
    assert count() == 0
    done = client.post("/shipping/tracking/import", data={
        "file": (io.BytesIO(csv.encode()), "tracking.csv"), "action": "import"})
    assert done.status_code == 302
    assert count() == 1
    assert db.session.scalar(select(ParcelTrackingEvent.source)) == "import"


def test_import_screen_refuses_a_bad_row(client, login_as, shipped):
    order, parcel = shipped
    login_as("warehouse")
    csv = (f"tracking_number,occurred_at,status,code,description,location\n"
           f"{parcel.tracking_number},2026-12-01T09:00:00Z,in_transit,ACC,,\n"
           f"{parcel.tracking_number},2026-12-01T10:00:00Z,lost,DEP,,\n")
    page = client.post("/shipping/tracking/import", data={
        "file": (io.BytesIO(csv.encode()), "tracking.csv"), "action": "import"})
    body = page.get_data(as_text=True)
    assert "lost" in body
    assert ">3<" in body.replace(" ", "")
    assert count() == 0


def test_cli_import(app, shipped, tmp_path):
    order, parcel = shipped
    good = tmp_path / "tracking.csv"
    good.write_text("tracking_number,occurred_at,status,code,description,location\n"
                    f"{parcel.tracking_number},2026-12-01T09:00:00Z,delivered,DLV,,\n")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["import", "tracking", str(good), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert count() == 0
    result = runner.invoke(args=["import", "tracking", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 events stored" in result.output
    assert count() == 1
    bad = tmp_path / "bad.csv"
    bad.write_text("tracking_number,occurred_at,status,code\n"
                   f"{parcel.tracking_number},soon,delivered,DLV2\n")
    result = runner.invoke(args=["import", "tracking", str(bad)])
    assert result.exit_code == 1
    assert "Row 2, occurred_at" in result.output
    assert count() == 1


def test_service_form_sets_lost_days_and_carrier_secret(client, login_as, shipped,
                                                       outbound_floor):
    from erp.core.models import AuditEvent

    service = outbound_floor.setup["post"]
    carrier = service.carrier
    assert service.lost_after_days == 10
    login_as("warehouse")
    form = client.get(f"/shipping/services/{service.id}/edit")
    assert form.status_code == 200
    data = {"code": service.code, "name": service.name, "tracking_kind": "s10",
            "customs_docs": "cn22_cn23", "max_weight_g": "2000", "max_longest_mm": "600",
            "max_sum_mm": "900", "volumetric_divisor": "0", "cutoff": "15:00",
            "active": "y", "lost_after_days": "7"}
    assert client.post(f"/shipping/services/{service.id}/edit", data=data).status_code == 302
    db.session.refresh(service)
    assert service.lost_after_days == 7
    data = {"code": carrier.code, "name": carrier.name, "kind": "postal", "active": "y",
            "tracking_secret": "a-long-enough-secret-123"}
    assert client.post(f"/shipping/carriers/{carrier.id}/edit", data=data).status_code == 302
    db.session.refresh(carrier)
    assert carrier.tracking_secret == "a-long-enough-secret-123"
    logged = db.session.scalars(select(AuditEvent.changes).where(
        AuditEvent.action == "carrier.updated")).all()
    assert "a-long-enough-secret-123" not in str(logged)
    data["tracking_secret"] = ""  # empty keeps it
    assert client.post(f"/shipping/carriers/{carrier.id}/edit", data=data).status_code == 302
    db.session.refresh(carrier)
    assert carrier.tracking_secret == "a-long-enough-secret-123"


# --------------------------------------------------------------------------- the poll


def test_poll_without_registry_skips(shipped, monkeypatch):
    monkeypatch.setitem(sys.modules, "erp.shipping.carriers.registry", None)
    assert tracking_poll.poll() == {"skipped": "no adapter registry"}


class _Adapter:
    """A carrier adapter as the registry hands them out (the real ones are another helper's)."""

    def __init__(self, fail=False):
        self.fail, self.calls = fail, []

    def track(self, numbers):
        self.calls.append(list(numbers))
        if self.fail:
            raise CarrierUnavailable("timed out")
        return [TrackingEvent(n, T0, TrackingStatus.in_transit, "ACC", "Accepted")
                for n in numbers]


def test_poll_asks_each_carrier_in_batches(shipped, outbound_floor, monkeypatch):
    order, parcel = shipped
    number = parcel.tracking_number
    adapter = _Adapter()
    registry = types.ModuleType("erp.shipping.carriers.registry")
    registry.adapter_for = lambda carrier: adapter
    monkeypatch.setitem(sys.modules, "erp.shipping.carriers.registry", registry)
    monkeypatch.setattr(tracking_poll, "BATCH", 1)
    result = periodic.run_task("tracking.poll")
    assert result["stored"] == 1
    assert result["errors"] == 0
    assert adapter.calls == [[number]]
    assert count() == 1
    # a delivered parcel is not polled again
    ingest([TrackingEvent(number, T0 + timedelta(days=2),
                          TrackingStatus.delivered, "DLV", "")], source="webhook")
    db.session.commit()
    adapter.calls.clear()
    tracking_poll.poll()
    assert adapter.calls == []


def test_poll_logs_carrier_errors(shipped, monkeypatch, caplog):
    registry = types.ModuleType("erp.shipping.carriers.registry")
    registry.adapter_for = lambda carrier: _Adapter(fail=True)
    monkeypatch.setitem(sys.modules, "erp.shipping.carriers.registry", registry)
    result = tracking_poll.poll()
    assert result["errors"] == 1
    assert "timed out" in caplog.text
