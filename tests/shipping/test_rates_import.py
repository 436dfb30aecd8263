"""Rate tables and zones in Excel: all or nothing, errors by row and column, round trip."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.extensions import db
from erp.shipping import excel as shipping_excel
from erp.shipping.models import ServiceRate, ServiceZone

RATE_HEADERS = ["Service code", "Zone", "Max weight (g)", "Price", "Currency"]
ZONE_HEADERS = ["Service code", "Country", "Zone"]


def xlsx(*rows, headers=RATE_HEADERS, title="Shipping rates") -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    sheet.append(headers)
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _counts() -> tuple[int, int, int]:
    db.session.commit()  # the setup, so a rollback after the import keeps it
    return (db.session.scalar(select(func.count()).select_from(ServiceRate)),
            db.session.scalar(select(func.count()).select_from(ServiceZone)),
            db.session.scalar(select(func.count()).select_from(AuditEvent)))


def _rate(service_code, zone, band) -> ServiceRate | None:
    return db.session.scalar(select(ServiceRate).join(ServiceRate.service).where(
        ServiceRate.zone == zone, ServiceRate.max_weight_g == band,
        ServiceRate.service.has(code=service_code)))


def test_rates_import_creates_and_updates(app, shipping_setup):
    data = xlsx(["POST-REG", "eu", 500, 5.25, "usd"],     # updates 4.50
                ["POST-REG", "EU", 1000, 7, "USD"],        # new band
                ["EMS", "ROW", 2000, 9.8, "USD"])          # unchanged
    dry = shipping_excel.import_rates(data, dry_run=True, actor=None)
    assert dry.ok
    assert _rate("POST-REG", "EU", 1000) is None
    result = shipping_excel.import_rates(data, dry_run=False, actor=None)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (1, 1, 1)
    assert _rate("POST-REG", "EU", 500).price == Decimal("5.25")
    assert _rate("POST-REG", "EU", 1000).price == Decimal("7.00")
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "service_rate")).all()
    assert sorted(actions) == ["service_rate.created", "service_rate.updated"]


def test_export_imports_unchanged(app, shipping_setup):
    data = shipping_excel.export_rates()
    result = shipping_excel.import_rates(data, dry_run=False, actor=None)
    assert result.ok, result.errors
    assert result.created == 0
    assert result.updated == 0
    assert result.skipped == db.session.scalar(select(func.count()).select_from(ServiceRate))
    zones = shipping_excel.import_zones(shipping_excel.export_zones(), dry_run=False, actor=None)
    assert zones.ok, zones.errors
    assert zones.created == 0
    assert zones.updated == 0
    one = openpyxl.load_workbook(io.BytesIO(shipping_excel.export_rates(
        shipping_setup["ems"].id))).active
    assert {r[0] for r in one.iter_rows(min_row=2, values_only=True)} == {"EMS"}


@pytest.mark.parametrize(("rows", "where"), [
    ([["NOPE", "EU", 500, 1, "USD"]], ("Service code", 'no shipping service has the code '
                                                       '"NOPE"')),
    ([["POST-REG", "EU", 500, -1, "USD"]], ("Price", "must be zero or more")),
    ([["POST-REG", "EU", 0, 1, "USD"]], ("Max weight (g)", "from 1 to")),
    ([["POST-REG", "EU", 500, 1, "XYZ"]], ("Currency", "not an ISO 4217")),
    ([["POST-REG", "MARS", 500, 1, "USD"]], ("Zone", 'serves no country in zone "MARS"')),
    ([["POST-REG", "EU", 500, 1.234, "USD"]], ("Price", "at most 2 decimal places")),
    ([["POST-REG", "EU", 700, 1, "USD"], ["POST-REG", "EU", 700, 2, "USD"]],
     ("Max weight (g)", "also in row 3")),
])
def test_bad_rate_rows_write_nothing(app, shipping_setup, rows, where):
    good = ["EMS", "EU", 100, 1, "USD"]
    before = _counts()
    result = shipping_excel.import_rates(xlsx(good, *rows), dry_run=False, actor=None)
    assert not result.ok
    column, message = where
    assert any(e.column == column and message in e.message and e.row >= 3
               for e in result.errors), [str(e) for e in result.errors]
    db.session.rollback()
    assert _counts() == before
    assert _rate("EMS", "EU", 100) is None


def test_wrong_columns_refused(app, shipping_setup):
    before = _counts()
    result = shipping_excel.import_rates(
        xlsx(["POST-REG", "EU", 1], headers=["Service", "Area", "Weight"]),
        dry_run=False, actor=None)
    assert not result.ok
    assert "missing required columns" in result.errors[0].message
    assert _counts() == before


def test_zones_import(app, shipping_setup):
    data = xlsx(["POST-REG", "Germany", "EU2"], ["POST-REG", "br", "ROW"],
                ["EMS", "DE", "EU"], headers=ZONE_HEADERS, title="Shipping zones")
    result = shipping_excel.import_zones(data, dry_run=False, actor=None)
    assert result.ok, result.errors
    assert (result.created, result.updated, result.skipped) == (1, 1, 1)
    post = shipping_setup["post"]
    db.session.refresh(post)
    zones = {z.country: z.zone for z in post.zones}
    assert zones["DE"] == "EU2"
    assert zones["BR"] == "ROW"
    assert "FR" in zones  # countries not in the file are kept


def test_bad_country_writes_nothing(app, shipping_setup):
    before = _counts()
    data = xlsx(["POST-REG", "BR", "ROW"], ["POST-REG", "Atlantis", "ROW"],
                ["NOPE", "DE", "EU"], headers=ZONE_HEADERS, title="Shipping zones")
    result = shipping_excel.import_zones(data, dry_run=False, actor=None)
    assert not result.ok
    messages = {(e.row, e.column): e.message for e in result.errors}
    assert "not a country" in messages[(3, "Country")]
    assert "no shipping service" in messages[(4, "Service code")]
    db.session.rollback()
    assert _counts() == before


def test_templates(app):
    from erp.core import excel

    for spec in (shipping_excel.RATE_SPEC, shipping_excel.ZONE_SPEC):
        sheet = openpyxl.load_workbook(io.BytesIO(excel.template_workbook(spec))).worksheets[0]
        assert [c.value for c in sheet[1]] == [c.header for c in spec.columns]
