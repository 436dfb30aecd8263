"""Carrier bills: the quote kept at labelling, the import and its matching, the disputes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core import excel
from erp.core import services as core_services
from erp.core.errors import FieldErrors
from erp.core.models import AuditEvent, utcnow
from erp.extensions import db
from erp.shipping import bill_queries as queries
from erp.shipping.bill_queries import DisputeKind
from erp.shipping.models import Carrier, CarrierBill, CarrierBillLine, Parcel, ParcelState
from erp.shipping.services import bills, dispatch, lane_pack, parcels
from tests.shipping import test_lane_pack as _lane
from tests.shipping import test_parcels as _parcels

# the parcel and lane tests' fixtures, shared
customs_sku = _parcels.customs_sku
picked_order = _parcels.picked_order
shipping_rates = _parcels.shipping_rates
packed = _parcels.packed
twins = _lane.twins

TODAY = utcnow().date()
PERIOD = (TODAY - timedelta(days=1), TODAY + timedelta(days=1))


def sheet(rows: list[dict]) -> bytes:
    """Return a carrier bill workbook of ``rows`` (keys of BILL_SPEC), as the template heads it."""
    return excel.export_workbook(bills.BILL_SPEC, rows)


def line(tracking, kg, amount, currency="USD", **more) -> dict:
    return {"tracking_number": tracking, "weight_kg": None if kg is None else Decimal(kg),
            "amount": Decimal(amount), "currency": currency, **more}


def kg(grams: int) -> str:
    return str(Decimal(grams) / 1000)


def run(data: bytes, *, reference="INV-1", carrier=None, dry_run=False, actor=None,
        period=PERIOD, filename="bill.xlsx"):
    carrier = carrier or db.session.scalar(select(Carrier).where(Carrier.code == "CNPOST"))
    return bills.import_bill(data, filename=filename, carrier=carrier, reference=reference,
                             period_start=period[0], period_end=period[1], dry_run=dry_run,
                             actor=actor)


@pytest.fixture
def dispatched(packed):
    """Return ``dispatched(n)``: n parcels of China Post labelled and dispatched today."""

    def factory(n: int) -> list[Parcel]:
        made = parcels.label_parcels(packed(n=n), actor=None)
        batch = dispatch.open_batch(made[0].service.carrier, actor=None)
        dispatch.add_parcels(batch, made, actor=None)
        dispatch.close_batch(batch, actor=None)
        db.session.flush()
        assert all(p.state == ParcelState.dispatched for p in made)
        return made

    return factory


def disputes(bill: CarrierBill) -> dict[DisputeKind, list]:
    tol = queries.Tolerances.current()
    return {kind: db.session.execute(queries.dispute_query(bill, kind, tol)).all()
            for kind in DisputeKind}


# --------------------------------------------------------------------------- the quote


def test_labelling_keeps_the_rate_tables_quote(packed, shipping_setup):
    post = packed(n=2)
    express = packed("EXPRESS")
    parcels.label_parcels(post + express, actor=None)
    for parcel in post:
        # postal: no volumetric divisor; 500 g band of zone EU
        assert parcel.chargeable_g == parcel.weight_g
        assert (parcel.quoted_cost, parcel.quoted_currency) == (Decimal("4.5000"), "USD")
    # express: volumetric weight 250 x 180 x 50 mm / 5000 = 450 g, above the actual weight
    [courier] = express
    assert courier.chargeable_g == max(courier.weight_g, 450)
    db.session.expire_all()
    stored = db.session.get(Parcel, courier.id)
    assert (stored.quoted_cost, stored.quoted_currency) == (Decimal("4.5000"), "USD")
    assert stored.chargeable_g == courier.chargeable_g


def test_labelling_without_a_fitting_band_keeps_no_quote(packed, shipping_setup):
    from erp.shipping.models import ServiceRate
    db.session.execute(ServiceRate.__table__.delete().where(
        ServiceRate.service_id == shipping_setup["post"].id))
    [parcel] = parcels.label_parcels(packed(), actor=None)
    assert parcel.quoted_cost is None
    assert parcel.quoted_currency is None
    assert parcel.chargeable_g == parcel.weight_g


def test_the_lane_keeps_the_quote_too(twins):
    wave, (first, _second) = twins.make()
    parcel = lane_pack.pack_and_label(wave.id, "tee-blk-m", actor=twins.packer)
    assert parcel is not None
    assert parcel.chargeable_g == parcel.weight_g
    assert (parcel.quoted_cost, parcel.quoted_currency) == (Decimal("4.5000"), "USD")
    db.session.expire_all()
    stored = db.session.get(Parcel, parcel.id)
    assert (stored.quoted_cost, stored.quoted_currency, stored.chargeable_g) == (
        Decimal("4.5000"), "USD", parcel.weight_g)


# --------------------------------------------------------------------------- the test


def test_a_bill_with_a_duplicate_a_missing_parcel_and_an_overweight_line(dispatched):
    """The issue's test: each reported, with the figures side by side."""
    a, b, c, d = dispatched(4)
    data = sheet([
        line(a.tracking_number, kg(a.chargeable_g), "4.50", shipped_on=TODAY,
             line_reference="L-1"),
        line(b.tracking_number, kg(b.chargeable_g + 300), "4.50"),      # overweight
        line(d.tracking_number, kg(d.chargeable_g + 20), "4.50"),       # within 50 g
        line(d.tracking_number, None, "0.40", charge="fuel"),           # a surcharge
        line(a.tracking_number, kg(a.chargeable_g), "4.50"),            # billed twice
        line("RR999999999CN", "0.25", "4.50"),                          # unknown to erp
        line(c.tracking_number.lower()[:4] + " " + c.tracking_number[4:], None, "0.10",
             charge="remote area"),                                     # c: no freight line
    ])
    result = run(data)
    assert result.ok, result.errors
    assert result.created == 7
    bill = db.session.scalar(select(CarrierBill))
    assert (bill.line_count, bill.matched_count, bill.currency) == (7, 6, "USD")
    assert bill.total_amount == Decimal("23.0000")

    found = disputes(bill)
    [over] = found[DisputeKind.overweight]
    assert (over.tracking_number, over.expected_g, over.billed_g, over.diff_g) == (
        b.tracking_number, b.chargeable_g, b.chargeable_g + 300, 300)
    assert over.row == 3
    [twice] = found[DisputeKind.duplicate]
    assert (twice.row, twice.tracking_number, twice.billed_amount) == (
        6, a.tracking_number, Decimal("4.5000"))
    assert (twice.first_reference, twice.first_row) == ("INV-1", 2)
    [unknown] = found[DisputeKind.unknown]
    assert (unknown.row, unknown.tracking_number, unknown.parcel_id) == (7, "RR999999999CN", None)
    [missing] = found[DisputeKind.not_billed]
    assert (missing.parcel_id, missing.expected_amount) == (c.id, Decimal("4.5000"))
    assert found[DisputeKind.overcharged] == []

    totals = {t.kind: t for t in queries.dispute_totals(bill)}
    assert totals[DisputeKind.overweight].count == 1
    assert totals[DisputeKind.overweight].diff_g == 300
    assert totals[DisputeKind.duplicate].diff_amount == Decimal("4.50")
    assert totals[DisputeKind.unknown].diff_amount == Decimal("4.50")
    assert totals[DisputeKind.not_billed].expected_amount == Decimal("4.50")

    # the parcels' billed cost: freight plus surcharges; the duplicate is not added
    db.session.expire_all()
    a, b, c, d = (db.session.get(Parcel, p.id) for p in (a, b, c, d))
    assert (a.billed_cost, a.billed_currency, a.billed_weight_g) == (
        Decimal("4.5000"), "USD", a.chargeable_g)
    assert b.billed_weight_g == b.chargeable_g + 300
    assert d.billed_cost == Decimal("4.9000")
    assert d.billed_weight_g == d.chargeable_g + 20
    assert c.billed_cost == Decimal("0.1000")
    assert c.billed_weight_g is None
    assert a.billed_at is not None
    first = db.session.scalar(select(CarrierBillLine).where(CarrierBillLine.row == 2))
    assert (first.shipped_on, first.line_reference, first.amount, first.duplicate) == (
        TODAY, "L-1", Decimal("4.5000"), False)
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "carrier_bill.imported"))
    assert event.changes["duplicates"] == 1
    assert event.changes["unknown"] == 1

    # the dispute export holds every kind
    import io

    from openpyxl import load_workbook
    book = load_workbook(io.BytesIO(queries.export_disputes(bill)), read_only=True)
    rows = list(book.active.iter_rows(values_only=True))
    assert len(rows) == 1 + 4
    assert rows[1][0] == "Billed weight above erp's"
    assert rows[1][6] == 300


def test_an_amount_above_the_quote_is_disputed_beyond_both_tolerances(dispatched):
    a, b, c = dispatched(3)
    core_services.update_settings({"bill_amount_tolerance": "0.50",
                                   "bill_amount_tolerance_pct": "5"}, actor=None)
    result = run(sheet([line(a.tracking_number, kg(a.chargeable_g), "5.00"),   # +0.50: ok
                        line(b.tracking_number, kg(b.chargeable_g), "5.10"),   # +0.60: disputed
                        line(c.tracking_number, kg(c.chargeable_g), "4.00")]))  # below
    assert result.ok, result.errors
    bill = db.session.scalar(select(CarrierBill))
    [over] = disputes(bill)[DisputeKind.overcharged]
    assert (over.tracking_number, over.expected_amount, over.billed_amount, over.diff_amount) == (
        b.tracking_number, Decimal("4.5000"), Decimal("5.1000"), Decimal("0.6000"))
    assert disputes(bill)[DisputeKind.not_billed] == []


def test_a_later_bill_sees_earlier_billing_and_fills_the_gap(dispatched):
    a, b = dispatched(2)
    assert run(sheet([line(a.tracking_number, kg(a.chargeable_g), "4.50")])).ok
    first = db.session.scalar(select(CarrierBill))
    assert [r.parcel_id for r in disputes(first)[DisputeKind.not_billed]] == [b.id]
    assert run(sheet([line(a.tracking_number, kg(a.chargeable_g), "4.50"),
                      line(b.tracking_number, kg(b.chargeable_g), "4.50")]),
               reference="INV-2").ok
    second = db.session.scalar(select(CarrierBill).where(CarrierBill.reference == "INV-2"))
    [twice] = disputes(second)[DisputeKind.duplicate]
    assert (twice.tracking_number, twice.first_reference, twice.first_row) == (
        a.tracking_number, "INV-1", 2)
    assert disputes(first)[DisputeKind.not_billed] == []  # b is billed now
    db.session.expire_all()
    assert db.session.get(Parcel, a.id).billed_cost == Decimal("4.5000")  # not doubled


# --------------------------------------------------------------------------- refusals


def test_the_same_bill_or_file_is_refused_a_second_time(dispatched):
    [a] = dispatched(1)
    data = sheet([line(a.tracking_number, kg(a.chargeable_g), "4.50")])
    assert run(data).ok
    again = run(data)
    assert [str(e) for e in again.errors] == [
        f"Bill INV-1 of China Post was imported already (on {TODAY.isoformat()}); a bill is "
        "imported once."]
    assert not run(sheet([line(a.tracking_number, "0.1", "1")]), reference="inv-1").ok
    other = run(data, reference="INV-9", dry_run=True)
    assert "This file was imported already as bill INV-1" in str(other.errors[0])
    assert db.session.scalar(select(func.count()).select_from(CarrierBill)) == 1


def test_bad_rows_are_named_and_nothing_is_written(dispatched):
    [a] = dispatched(1)
    rows = [line(a.tracking_number, kg(a.chargeable_g), "4.50"),
            {"tracking_number": "", "weight_kg": "0.2", "amount": "1", "currency": "USD"},
            {"tracking_number": "RR1", "weight_kg": "abc", "amount": "1", "currency": "USD"},
            line("RR2", "0.1234", "1"),
            line("RR3", None, "1"),
            line("RR4", "0.1", "1", currency="EUR"),
            line("RR5", "0.1", "1", currency="ZZZ")]
    result = run(sheet(rows))
    got = [(e.row, e.column, e.message) for e in result.errors]
    assert got[0] == (3, "Tracking number", "is required")
    assert got[1][:2] == (4, "Billed weight (kg)")
    assert "must be a number" in got[1][2]
    assert got[2] == (5, "Billed weight (kg)", "may have at most 3 decimals (whole grams)")
    assert got[3][:2] == (6, "Billed weight (kg)")
    assert "freight line" in got[3][2]
    assert got[4][:2] == (7, "Currency")
    assert "the bill is in USD (row 2)" in got[4][2]
    assert got[5][:2] == (8, "Currency")
    assert "ISO 4217" in got[5][2]
    assert db.session.scalar(select(func.count()).select_from(CarrierBillLine)) == 0
    assert db.session.scalar(select(func.count()).select_from(CarrierBill)) == 0


def test_a_dry_run_writes_nothing_and_csv_is_read(dispatched):
    [a] = dispatched(1)
    csv = ("Tracking number,Billed weight (kg),Amount,Currency,Charge\n"
           f"{a.tracking_number},{kg(a.chargeable_g)},4.50,USD,\n").encode()
    result = run(csv, dry_run=True, filename="bill.csv")
    assert result.ok
    assert result.row_count == 1
    assert db.session.scalar(select(func.count()).select_from(CarrierBill)) == 0
    assert run(csv, filename="bill.csv").ok
    db.session.expire_all()
    assert db.session.get(Parcel, a.id).billed_cost == Decimal("4.5000")


def test_the_header_is_checked(dispatched):
    with pytest.raises(FieldErrors) as caught:
        bills.import_bill(b"", filename="x.xlsx", carrier=None, reference=" ",
                          period_start=date(2026, 3, 2), period_end=date(2026, 3, 1),
                          dry_run=True, actor=None)
    assert set(caught.value.errors) == {"carrier_id", "reference", "period_end"}


# --------------------------------------------------------------------------- screens


def test_screens_import_list_detail_and_exports(dispatched, client, login_as):
    [a, b] = dispatched(2)
    db.session.commit()
    carrier_id = a.service.carrier_id
    login_as("warehouse")
    assert client.get("/shipping/bills").status_code == 403
    client.post("/logout")
    login_as("manager")
    assert client.get("/shipping/bills/import").status_code == 200
    data = sheet([line(a.tracking_number, kg(a.chargeable_g + 400), "4.50")])
    form = {"carrier_id": str(carrier_id), "reference": "M-7",
            "period_start": PERIOD[0].isoformat(), "period_end": PERIOD[1].isoformat()}
    import io
    checked = client.post("/shipping/bills/import", data={
        **form, "action": "dry_run", "file": (io.BytesIO(data), "bill.xlsx")},
        content_type="multipart/form-data")
    assert checked.status_code == 200
    assert "No errors in bill.xlsx" in checked.get_data(as_text=True)
    done = client.post("/shipping/bills/import", data={
        **form, "action": "import", "file": (io.BytesIO(data), "bill.xlsx")},
        content_type="multipart/form-data")
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Carrier bill M-7" in page
    assert a.tracking_number in page
    assert "Billed weight above erp&#39;s" in page
    listing = client.get("/shipping/bills?q=m-7").get_data(as_text=True)
    assert "M-7" in listing
    assert client.get("/shipping/bills/export.xlsx").status_code == 200
    bill = db.session.scalar(select(CarrierBill))
    assert client.get(f"/shipping/bills/{bill.id}/disputes.xlsx").status_code == 200
    assert client.get(f"/shipping/bills/{bill.id}?kind=not_billed").get_data(
        as_text=True).count(b.tracking_number) == 1
    again = client.post("/shipping/bills/import", data={
        **form, "action": "import", "file": (io.BytesIO(data), "bill.xlsx")},
        content_type="multipart/form-data")
    assert again.status_code == 422
    assert "was imported already" in again.get_data(as_text=True)
    assert client.get("/shipping/bills/template.xlsx").status_code == 200
    parcel_page = client.get(f"/shipping/parcels/{a.id}").get_data(as_text=True)
    assert "quoted 4.50 USD for" in parcel_page
    assert "billed 4.50 USD</strong> for" in parcel_page


def test_the_demo_bill_has_a_few_disputes_and_loads_once(dispatched, create_user):
    from erp.shipping.demo_bills import load_demo

    create_user("manager", roles=("manager",))
    dispatched(4)
    load_demo()
    load_demo()
    [bill] = db.session.scalars(select(CarrierBill)).all()
    assert bill.imported_by.username == "manager"
    counts = {t.kind: t.count for t in queries.dispute_totals(bill)}
    assert counts == {DisputeKind.overweight: 1, DisputeKind.overcharged: 1,
                      DisputeKind.duplicate: 1, DisputeKind.unknown: 1,
                      DisputeKind.not_billed: 1}
