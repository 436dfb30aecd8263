"""Finding, exporting and anonymising one consumer's personal data (services)."""

from __future__ import annotations

import io
import json
from datetime import datetime

import openpyxl
import pytest
from sqlalchemy import func, select, update

from erp.aftersales.exports import mark_exported
from erp.aftersales.models import CaseAttachment, CaseNote, CaseType, Refund
from erp.aftersales.services import cases, resolution
from erp.core import audit, auditchain
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.privacy import services
from erp.privacy.services import ANONYMISED_NAME, KINDS, PrivacyError
from erp.shipping.models import Parcel, ParcelLine
from erp.warehouse.models import StockLevel, StockMove
from erp.warehouse.queries import ledger_problems
from tests.privacy.conftest import (
    EMAIL,
    NAME,
    OTHER_TEXTS,
    SUBJECT_TEXTS,
    text_hits,
    text_values,
)


def _snapshot() -> dict:
    """Return what anonymising must keep: lines, amounts, parcels, customs lines, the ledger."""
    return {
        "orders": db.session.execute(select(
            CustomerOrder.number, CustomerOrder.state, CustomerOrder.country,
            CustomerOrder.currency, CustomerOrder.shipping_charge)
            .order_by(CustomerOrder.id)).all(),
        "lines": db.session.execute(select(
            CustomerOrderLine.id, CustomerOrderLine.order_id, CustomerOrderLine.sku_id,
            CustomerOrderLine.quantity, CustomerOrderLine.unit_price)
            .order_by(CustomerOrderLine.id)).all(),
        "parcels": db.session.execute(select(
            Parcel.number, Parcel.tracking_number, Parcel.state, Parcel.declared_value,
            Parcel.weight_g).order_by(Parcel.id)).all(),
        "customs": db.session.execute(select(
            ParcelLine.id, ParcelLine.description, ParcelLine.hs_code, ParcelLine.origin_country,
            ParcelLine.quantity, ParcelLine.unit_value).order_by(ParcelLine.id)).all(),
        "refunds": db.session.execute(select(Refund.id, Refund.amount, Refund.state)
                                      .order_by(Refund.id)).all(),
        "moves": db.session.execute(select(StockMove.id, StockMove.sku_id, StockMove.quantity)
                                    .order_by(StockMove.id)).all(),
        "levels": db.session.execute(select(StockLevel.sku_id, StockLevel.location_id,
                                            StockLevel.on_hand, StockLevel.reserved)
                                     .order_by(StockLevel.sku_id, StockLevel.location_id)).all(),
    }


def _privacy_events(action: str = "privacy.anonymised") -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --------------------------------------------------------------------------- find


def test_find_subject_is_trimmed_and_case_insensitive(world):
    summary = services.find_subject("  JANE.Roe@EXAMPLE.com ")
    assert summary.email == EMAIL
    assert summary.found
    assert summary.can_anonymise
    assert summary.order_numbers == [world.shipped.number, world.cancelled.number]
    assert summary.case_numbers == [world.case.number]
    assert summary.counts["orders"] == 2
    assert summary.counts["order_lines"] == 3
    assert summary.counts["parcels"] == 1
    assert summary.counts["cases"] == 1
    assert summary.counts["case_notes"] == 2
    assert summary.counts["case_attachments"] == 1
    assert summary.counts["return_items"] == 1
    assert summary.counts["refunds"] == 1
    # the events of its orders, parcel, case and refund, and the other customer's hold note
    assert summary.counts["audit_events"] > 10
    assert summary.blockers == []
    nobody = services.find_subject("nobody@example.com")
    assert not nobody.found
    assert not nobody.can_anonymise
    assert nobody.message == 'Nothing is held about "nobody@example.com".'
    assert nobody.order_numbers == []
    assert nobody.case_numbers == []


@pytest.mark.parametrize("email", ["", "   ", "no-at-sign", "a b@example.com"])
def test_find_subject_refuses_what_is_not_an_email(app, email):
    with pytest.raises(ValidationError) as err:
        services.find_subject(email)
    assert err.value.field == "email"


# --------------------------------------------------------------------------- export


def test_export_subject_holds_every_kind_and_nothing_of_others(world):
    data = services.export_subject("Jane.Roe@example.com")
    text = json.dumps(data)  # JSON-serialisable as it is
    assert data["email"] == EMAIL
    assert list(data["records"]) == list(KINDS)
    for kind in KINDS:
        assert data["records"][kind], kind
        assert data["counts"][kind] == len(data["records"][kind])
        assert set(data["records"][kind][0]) == set(data["fields"][kind])
    orders = {o["number"]: o for o in data["records"]["orders"]}
    assert set(orders) == {world.shipped.number, world.cancelled.number}
    shipped = orders[world.shipped.number]
    assert (shipped["customer_name"], shipped["phone"], shipped["country"]) == (
        NAME, "+44 20 7946 0958", "GB")
    assert shipped["state"] == "shipped"
    datetime.fromisoformat(shipped["placed_at"])
    lines = data["records"]["order_lines"]
    assert {(line["sku_code"], line["quantity"]) for line in lines} == {
        ("TEE-1", 2), ("TEE-2", 1), ("TEE-1", 1)}
    assert all(isinstance(line["unit_price"], str) for line in lines)
    assert data["records"]["parcels"][0]["tracking_number"] == world.shipped.parcel.tracking_number
    assert data["records"]["parcel_lines"][0]["hs_code"] == "610910"
    assert data["records"]["cases"][0]["contact_email"] == EMAIL
    assert data["records"]["refunds"][0]["amount"] == "30.0000"
    attachment = data["records"]["case_attachments"][0]
    assert attachment["filename"] == "roe-damage.png"
    assert "data" not in attachment
    actions = {e["action"] for e in data["records"]["audit_events"]}
    assert {"aftersales_case.contact_changed", "customer_order.address_changed",
            "customer_order.on_hold"} <= actions
    # the other customer's own records never come along
    for other in OTHER_TEXTS[1:]:
        assert other not in text
    assert world.other.number not in {o["number"] for o in data["records"]["orders"]}


def test_export_subject_xlsx_one_sheet_per_kind_formula_kept_as_text(create_order, create_sku):
    sku = create_sku("MUG-1")
    formula = '=HYPERLINK("http://evil.example","click")'
    create_order([(sku, 1)], email="formula@example.com", customer_name=formula,
                 notes="@SUM(1+1)")
    db.session.commit()
    book = openpyxl.load_workbook(io.BytesIO(services.export_subject_xlsx("FORMULA@example.com")))
    assert book.sheetnames == ["Summary", *KINDS.values()]
    sheet = book["Orders"]
    headers = [cell.value for cell in sheet[1]]
    assert headers == list(services.FIELDS["orders"])
    row = {h: cell for h, cell in zip(headers, sheet[2], strict=True)}
    assert row["customer_name"].data_type == "s"
    assert row["customer_name"].value == "'" + formula
    assert row["notes"].value == "'@SUM(1+1)"
    assert row["email"].value == "formula@example.com"
    assert book["Order lines"].max_row == 2
    assert book["Parcels"].max_row == 1  # headers only: none shipped yet
    summary = {r[0].value: r[1].value for r in book["Summary"].iter_rows(min_row=2)}
    assert summary["E-mail"] == "formula@example.com"
    assert summary["Orders"] == 1


# --------------------------------------------------------------------------- anonymise


def test_anonymise_subject_removes_personal_data_everywhere(world, people):
    values = text_values()
    for needle in SUBJECT_TEXTS:
        assert text_hits(needle, values), needle  # the search below really looks
    result = services.anonymise_subject(" Jane.Roe@Example.com", actor=people["admin"],
                                        reason="Erasure request of 2026-11-20")
    db.session.commit()
    assert result.found
    assert result.order_numbers == [world.shipped.number, world.cancelled.number]
    assert result.counts["case_attachments"] == 1
    assert "anonymised" in result.message
    assert EMAIL not in result.message
    db.session.expire_all()
    values = text_values()
    for needle in SUBJECT_TEXTS:
        assert text_hits(needle, values) == [], needle
    for needle in OTHER_TEXTS:
        assert text_hits(needle, values), needle
    for order in (world.shipped, world.cancelled):
        assert (order.customer_name, order.ship_name, order.email, order.phone) == (
            ANONYMISED_NAME, ANONYMISED_NAME, None, None)
        assert (order.address1, order.address2, order.city, order.postal_code) == (
            "", None, "", None)
        assert (order.buyer_tax_id, order.notes, order.country) == (None, None, "GB")
    assert "[anonymised]" in world.cancelled.cancel_reason
    case = world.case
    assert (case.contact_name, case.contact_email, case.contact_phone) == (
        ANONYMISED_NAME, None, None)
    assert db.session.scalar(select(func.count()).select_from(CaseAttachment)) == 0
    assert all("Jane" not in note.body
               for note in db.session.scalars(select(CaseNote)))
    assert world.other.customer_name == "Otto Other"
    assert world.other.email == "other@example.com"


def test_anonymise_subject_keeps_orders_amounts_parcels_and_ledger(world, people):
    before = _snapshot()
    assert ledger_problems(db.session) == []
    services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.commit()
    db.session.expire_all()
    assert _snapshot() == before
    assert ledger_problems(db.session) == []


def test_anonymise_subject_audits_under_a_hash_without_the_email(world, people, runner):
    services.log_export(EMAIL, actor=people["cs"], fmt="json")
    [exported] = _privacy_events("privacy.exported")
    assert exported.entity_id == services.subject_hash(EMAIL)
    assert exported.changes == {"subject_hash": exported.entity_id, "format": "json",
                                "counts": services.find_subject(EMAIL).counts}
    assert EMAIL not in json.dumps(exported.changes)
    services.anonymise_subject(EMAIL, actor=people["admin"],
                               reason=f"Erasure request from {EMAIL} by e-mail")
    db.session.commit()
    [event] = _privacy_events()
    assert event.entity_type == "data_subject"
    assert event.entity_id == services.subject_hash("JANE.ROE@example.com")
    assert event.actor_id == people["admin"].id
    stored = json.dumps(event.changes)
    assert EMAIL not in stored.lower()
    assert NAME not in stored
    assert event.changes["reason"] == "Erasure request from [anonymised] by e-mail"
    assert event.changes["orders"] == [world.shipped.number, world.cancelled.number]
    assert event.changes["counts"]["orders"] == 2
    assert event.changes["subject_hash"] == event.entity_id
    # afterwards nothing is held, and the search says it was anonymised
    summary = services.find_subject(EMAIL)
    assert not summary.found
    assert len(summary.anonymised_at) == 1
    assert runner.invoke(args=["check-ledger"]).exit_code == 0


def test_anonymise_subject_passes_check_audit_listing_what_it_scrubbed(world, people, runner):
    assert runner.invoke(args=["check-audit"]).exit_code == 0
    services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.commit()
    [event] = _privacy_events()
    scrubbed = event.changes[auditchain.EXCUSE_KEY]
    assert len(scrubbed) == event.changes["counts"]["audit_events"] > 0

    result = runner.invoke(args=["check-audit"])

    assert result.exit_code == 0, result.output
    assert f"{len(scrubbed)} row(s) scrubbed by a recorded anonymisation" in result.output


def test_row_scrubbed_twice_still_passes_check_audit(world, people):
    services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.commit()
    [first] = _privacy_events()
    again = db.session.get(AuditEvent, int(next(iter(first.changes[auditchain.EXCUSE_KEY]))))
    # a later anonymisation scrubs the same row again: it lists the digest the row was sealed
    # with, not that of the already scrubbed changes
    excused = auditchain.excuse_list([again])
    assert excused == {str(again.id): first.changes[auditchain.EXCUSE_KEY][str(again.id)]}
    auditchain.allow_redaction()
    again.changes = {"scrubbed": "twice"}
    audit.record(world.other, "privacy.anonymised", actor=None,
                 changes={auditchain.EXCUSE_KEY: excused})
    db.session.commit()

    report = auditchain.verify()

    assert report.ok, report.problems
    assert report.excused == len(first.changes[auditchain.EXCUSE_KEY])


def test_scrubbed_row_changed_otherwise_still_fails_check_audit(world, people):
    services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.commit()
    [event] = _privacy_events()
    victim = int(next(iter(event.changes[auditchain.EXCUSE_KEY])))
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(update(AuditEvent).where(AuditEvent.id == victim)
                     .values(action="order.forged"))

    report = auditchain.verify()

    assert not report.ok
    assert f"audit row {victim} " in report.problems[0]


def test_scrubbing_without_the_anonymisation_fails_check_audit(world, people):
    victim = _privacy_events("order.held")[:1] or db.session.scalars(
        select(AuditEvent).where(AuditEvent.changes.is_not(None)).limit(1)).all()
    victim_id = victim[0].id
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL {auditchain.REDACTION_SETTING} = 'on'")
        conn.execute(update(AuditEvent).where(AuditEvent.id == victim_id)
                     .values(changes={"note": "[anonymised]"}))

    report = auditchain.verify()

    assert not report.ok
    assert f"audit row {victim_id} " in report.problems[0]


def test_anonymise_subject_refused_with_an_unfinished_order_changes_nothing(
        world, create_order, people):
    sku = world.shipped.lines[0].sku
    pending = create_order([(sku, 1)], email=EMAIL, customer_name=NAME)
    db.session.commit()
    before = text_values()
    with pytest.raises(PrivacyError) as err:
        services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.rollback()
    assert f"order {pending.number} (new)" in str(err.value)
    assert EMAIL in str(err.value)
    assert text_values() == before
    assert _privacy_events() == []
    assert world.shipped.customer_name == NAME
    assert services.find_subject(EMAIL).blockers == [f"order {pending.number} (new)"]


def test_anonymise_subject_refused_while_a_case_is_open_or_a_refund_unpaid(
        ship_order, customs_stock, reasons, people):
    tee = customs_stock("TEE-9")
    order = ship_order([(tee, 1, "25.00")], email=EMAIL, customer_name=NAME)
    case = cases.open_case(order, case_type=CaseType.refund_only, reason="DEFECTIVE",
                           lines={order.lines[0].id: 1}, actor=people["cs"])
    db.session.commit()
    with pytest.raises(PrivacyError, match=rf"case {case.number} \(open\)"):
        services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.rollback()
    refund = resolution.request_refund(case, amount="25.00", actor=people["cs"])
    db.session.commit()
    assert services.find_subject(EMAIL).blockers == [
        f"refund of {case.number} (25.0000 EUR, approved but not yet exported for finance)"]
    with pytest.raises(PrivacyError, match="not yet exported"):
        services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.rollback()
    mark_exported([refund.id], actor=people["cs"])
    result = services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.commit()
    assert result.counts["refunds"] == 1
    assert order.customer_name == ANONYMISED_NAME


def test_anonymise_subject_is_all_or_nothing(world, people, monkeypatch):
    before = text_values()

    def fail(*args, **kwargs):
        raise RuntimeError("the database went away")

    # the last write of the service fails: everything before it must roll back too
    monkeypatch.setattr(audit, "record", fail)
    with pytest.raises(RuntimeError):
        services.anonymise_subject(EMAIL, actor=people["admin"], reason="Erasure request")
    db.session.rollback()
    db.session.expire_all()
    assert text_values() == before
    assert world.shipped.customer_name == NAME
    assert db.session.scalar(select(func.count()).select_from(CaseAttachment)) == 1


def test_anonymise_unknown_email_is_nothing_held(app):
    result = services.anonymise_subject("ghost@example.com", actor=None, reason="Request")
    assert not result.found
    assert result.message == 'Nothing is held about "ghost@example.com"; nothing was changed.'
    assert _privacy_events() == []


@pytest.mark.parametrize(("reason", "match"), [("  ", "give the reason"),
                                               ("x" * 501, "500 characters")])
def test_anonymise_needs_a_reason(create_order, create_sku, reason, match):
    order = create_order([(create_sku("MUG-1"), 1)], email=EMAIL, customer_name=NAME,
                         state="cancelled")
    db.session.commit()
    with pytest.raises(ValidationError, match=match) as err:
        services.anonymise_subject(EMAIL, actor=None, reason=reason)
    assert err.value.field == "reason"
    assert order.customer_name == NAME
