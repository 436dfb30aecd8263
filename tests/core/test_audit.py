"""Audit events: written in the change's transaction, listed with filters, exported safely."""

from __future__ import annotations

import html
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import openpyxl
import pytest
from sqlalchemy import func, select

from erp.core import audit
from erp.core.models import AuditEvent, ExchangeRate, Setting
from erp.extensions import db


@dataclass
class Widget:
    """A stand-in for a domain record: a table name, an id and a reference."""

    __tablename__ = "widget"
    id: int
    name: str


@dataclass
class Gadget:
    """A second stand-in entity type."""

    __tablename__ = "gadget"
    id: int
    name: str


def count_events() -> int:
    """Return the number of audit events stored."""
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


def text_of(response) -> str:
    """Return the response body with HTML entities decoded."""
    return html.unescape(response.get_data(as_text=True))


# --------------------------------------------------------------------------- record


def test_record_rolled_back_with_its_change_leaves_no_event(app):
    row = Setting(key="company_name", value="Rolled Back Ltd")
    db.session.add(row)
    audit.record(row, "setting.updated", actor=None, changes={"company_name": [None, "x"]})
    db.session.flush()
    assert count_events() == 1  # visible inside the transaction

    db.session.rollback()

    assert count_events() == 0
    assert db.session.get(Setting, "company_name") is None


def test_record_committed_stores_actor_entity_action_and_changes(create_user):
    admin = create_user("root", roles=("admin",))
    bob = create_user("bob", roles=("warehouse",))

    audit.record(bob, "user.updated", actor=admin, changes={
        "limit": [Decimal("1.50"), Decimal("2")],
        "since": [date(2026, 1, 31), None],
        "roles": [["warehouse"], ["manager"]],
    })
    db.session.commit()
    db.session.expire_all()

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.updated")).one()
    assert event.actor_id == admin.id
    assert event.actor.username == "root"
    assert event.entity_type == "user"
    assert event.entity_id == str(bob.id)
    assert event.entity_ref == "bob"
    assert event.changes == {"limit": ["1.50", "2"], "since": ["2026-01-31", None],
                             "roles": [["warehouse"], ["manager"]]}
    assert event.at.tzinfo is not None


def test_record_new_row_flushes_to_get_its_id(app):
    row = ExchangeRate(currency="EUR", valid_from=date(2026, 1, 1), rate=Decimal("1.1"))
    db.session.add(row)
    event = audit.record(row, "exchange_rate.created", actor=None)
    db.session.commit()
    assert row.id is not None
    assert event.entity_id == str(row.id)
    assert event.entity_type == "exchange_rate"
    assert event.actor_id is None
    assert event.changes is None


# --------------------------------------------------------------------------- audit page


@pytest.fixture
def scenario(create_user):
    """Store four events at known times by known actors; return ``(admin, manager)``."""
    admin = create_user("root", roles=("admin",))
    manager = create_user("max", roles=("manager",))
    rows = [
        (Widget(1, "ref-alpha"), "widget.created", admin, datetime(2026, 1, 5, 10, 0)),
        (Widget(2, "ref-bravo"), "widget.approved", manager, datetime(2026, 1, 10, 23, 30)),
        (Gadget(3, "ref-charlie"), "gadget.approved", admin, datetime(2026, 1, 11, 0, 30)),
        (Widget(4, "ref-delta"), "widget.cancelled", None, datetime(2026, 2, 1, 8, 0)),
    ]
    for obj, action, actor, at in rows:
        event = audit.record(obj, action, actor=actor, changes={"n": [obj.id - 1, obj.id]})
        event.at = at.replace(tzinfo=UTC)
    db.session.commit()
    return admin, manager


REFS = ("ref-alpha", "ref-bravo", "ref-charlie", "ref-delta")


def shown(response) -> set[str]:
    """Return which of the scenario's references a page lists."""
    assert response.status_code == 200
    body = text_of(response)
    return {ref for ref in REFS if ref in body}


def test_audit_page_filters_by_user_entity_action_and_dates(client, login, scenario):
    admin, manager = scenario
    login("max")

    assert shown(client.get("/audit")) == set(REFS)
    assert shown(client.get(f"/audit?user_id={admin.id}")) == {"ref-alpha", "ref-charlie"}
    assert shown(client.get(f"/audit?user_id={manager.id}")) == {"ref-bravo"}
    assert shown(client.get("/audit?entity_type=widget")) == {"ref-alpha", "ref-bravo",
                                                              "ref-delta"}
    assert shown(client.get("/audit?action=approved")) == {"ref-bravo", "ref-charlie"}
    assert shown(client.get("/audit?entity_type=widget&action=approved")) == {"ref-bravo"}
    # a day runs midnight to midnight UTC: 23:30 on the 10th is in, 00:30 on the 11th is not
    assert shown(client.get("/audit?date_from=2026-01-10&date_to=2026-01-10")) == {"ref-bravo"}
    assert shown(client.get("/audit?date_from=2026-01-06")) == {"ref-bravo", "ref-charlie",
                                                                "ref-delta"}
    assert shown(client.get("/audit?date_to=2026-01-10")) == {"ref-alpha", "ref-bravo"}
    assert shown(client.get("/audit?entity_id=ref-charlie")) == {"ref-charlie"}


def test_audit_page_shows_actor_and_system(client, login, scenario):
    login("max")
    body = text_of(client.get("/audit?entity_type=widget&action=cancelled"))
    assert "ref-delta" in body
    assert "<td>system</td>" in body


def test_audit_page_refused_to_roles_without_audit(client, login_as):
    login_as("warehouse")
    assert client.get("/audit").status_code == 403
    assert client.get("/audit/export.xlsx").status_code == 403


# --------------------------------------------------------------------------- export


def read_export(response) -> list[list]:
    """Return the export's rows (header first) read back with openpyxl."""
    assert response.status_code == 200
    assert response.mimetype == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_export_audit_rows_match_filter(client, login, scenario):
    login("max")

    rows = read_export(client.get("/audit/export.xlsx?action=approved"))

    assert rows[0] == ["When (UTC)", "User", "Action", "Entity", "Id", "Reference", "Changes",
                       "What happened"]
    assert rows[1:] == [
        ["2026-01-11 00:30:00", "root", "gadget.approved", "gadget", "3", "ref-charlie",
         '{"n": [2, 3]}', "Gadget ref-charlie: n changed from 2 to 3."],
        ["2026-01-10 23:30:00", "max", "widget.approved", "widget", "2", "ref-bravo",
         '{"n": [1, 2]}', "Widget ref-bravo: n changed from 1 to 2."],
    ]


def test_export_audit_filtered_by_user_and_dates(client, login, scenario):
    admin, _ = scenario
    login("max")
    rows = read_export(client.get(
        f"/audit/export.xlsx?user_id={admin.id}&date_from=2026-01-01&date_to=2026-01-31"))
    assert [row[5] for row in rows[1:]] == ["ref-charlie", "ref-alpha"]


def test_export_audit_formula_text_stays_text(client, login_as):
    login_as("manager")
    changes = {"note": ["=HYPERLINK(\"http://evil.example\",\"x\")", "=1+1"]}
    audit.record(Widget(7, "=SUM(A1:A9)"), "widget.noted", actor=None, changes=changes)
    db.session.commit()

    response = client.get("/audit/export.xlsx?entity_type=widget")

    sheet = openpyxl.load_workbook(io.BytesIO(response.data)).active
    assert sheet.max_row == 2
    ref_cell, changes_cell = sheet.cell(2, 6), sheet.cell(2, 7)
    assert ref_cell.data_type == "s"
    assert ref_cell.value.lstrip("'") == "=SUM(A1:A9)"
    assert changes_cell.data_type == "s"
    assert json.loads(changes_cell.value) == changes
