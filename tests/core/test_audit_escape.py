"""Text in the audit trail and the logs cannot forge lines: control characters are escaped."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from erp.core import audit
from erp.core.audit import escape_control
from erp.core.models import AuditEvent
from erp.core.requestlog import JsonFormatter, TextFormatter
from erp.extensions import db

FORGED = "ok\n2026-12-07 10:00:00 INFO erp.auth [x] admin signed in"


@dataclass
class Note:
    """A stand-in record whose reference a user typed."""

    __tablename__ = "note"
    id: int
    name: str


@pytest.mark.parametrize(("text", "expected"), [
    ("plain text, 中文, é", "plain text, 中文, é"),
    ("a\nb", "a\\nb"),
    ("a\r\nb\tc", "a\\r\\nb\\tc"),
    ("\x00\x1b[31mred\x7f", "\\x00\\x1b[31mred\\x7f"),
    ("next\x85line", "next\\x85line"),
    ("sep\u2028par\u2029", "sep\\u2028par\\u2029"),
])
def test_escape_control(text, expected):
    assert escape_control(text) == expected
    assert "\n" not in escape_control(text)


def test_escape_control_returns_clean_text_itself():
    text = "nothing to escape"
    assert escape_control(text) is text


def test_record_escapes_reference_and_changes_but_the_record_keeps_its_text(app):
    note = Note(1, "Bin A\nforged")
    audit.record(note, "note.updated", actor=None, changes={
        "body": [None, FORGED], "lines": ["one\ntwo"], "key\n": {"nested": "x\u2028y"}})
    db.session.commit()

    event = db.session.scalars(select(AuditEvent)).one()
    assert event.entity_ref == "Bin A\\nforged"
    assert event.changes == {"body": [None, FORGED.replace("\n", "\\n")],
                             "lines": ["one\\ntwo"], "key\\n": {"nested": "x\\u2028y"}}
    assert note.name == "Bin A\nforged"  # the domain's own data keeps its line breaks


def test_record_many_escapes_reference_and_changes(app):
    audit.record_many("note", "note.imported", [(1, "N\r1", {"body": [None, "a\nb"]})],
                      actor=None)
    db.session.commit()

    event = db.session.scalars(select(AuditEvent)).one()
    assert event.entity_ref == "N\\r1"
    assert event.changes == {"body": [None, "a\\nb"]}


def _record(message: str, *args) -> logging.LogRecord:
    record = logging.LogRecord("erp.auth", logging.WARNING, __file__, 1, message, args, None)
    record.request_id = "r1"
    return record


def test_text_log_lines_cannot_be_forged():
    line = TextFormatter().format(_record("Sign-in failed for %s", FORGED))
    assert "\n" not in line
    assert line.endswith("[r1] Sign-in failed for " + FORGED.replace("\n", "\\n"))


def test_json_log_lines_carry_the_escaped_message():
    line = JsonFormatter().format(_record("Sign-in failed for %s", "a\u2028b\nc"))
    assert "\n" not in line
    assert "\u2028" not in line
    assert json.loads(line)["message"] == "Sign-in failed for a\\u2028b\\nc"


def test_request_line_escapes_a_decoded_path(client, caplog):
    caplog.set_level(logging.INFO, logger="erp.request")
    client.get("/login%0AINFO%20forged")
    [record] = [r for r in caplog.records if r.name == "erp.request"]
    assert record.request_fields["path"] == "/login\\nINFO forged"
    assert "\n" not in TextFormatter().format(record)
