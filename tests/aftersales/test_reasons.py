"""Reason codes: the managed list (unique upper-case codes, names, deactivation, defaults)."""

from __future__ import annotations

import pytest

from erp.aftersales.services import reasons
from erp.core.errors import ValidationError


def test_create_and_order(app):
    first = reasons.create_reason(code="wrong-size", name="Wrong size", actor=None)
    assert first.code == "WRONG_SIZE"
    assert first.active
    second = reasons.create_reason(code="LATE", name="Arrived late", actor=None)
    assert second.sort_order > first.sort_order
    assert [r.code for r in reasons.active_reasons()] == ["WRONG_SIZE", "LATE"]


@pytest.mark.parametrize(("code", "name", "message"), [
    ("", "x", "needs a code"),
    ("BAD!", "x", "capital letters, digits and underscores"),
    ("X" * 31, "x", "at most 30"),
    ("OK", " ", "needs a name"),
])
def test_invalid(app, code, name, message):
    with pytest.raises(ValidationError, match=message):
        reasons.create_reason(code=code, name=name, actor=None)


def test_unique(app):
    reasons.create_reason(code="LOST", name="Lost", actor=None)
    with pytest.raises(ValidationError, match="already exists"):
        reasons.create_reason(code="lost", name="Lost again", actor=None)


def test_update_and_deactivate(app):
    reason = reasons.create_reason(code="LOST", name="Lost", actor=None)
    other = reasons.create_reason(code="LATE", name="Late", actor=None)
    reasons.update_reason(reason, code="LOST_TRANSIT", name="Lost in transit", actor=None,
                          sort_order=9)
    assert (reason.code, reason.name, reason.sort_order) == ("LOST_TRANSIT", "Lost in transit", 9)
    with pytest.raises(ValidationError, match="already exists"):
        reasons.update_reason(other, code="LOST_TRANSIT", name="x", actor=None)
    reasons.deactivate_reason(reason, actor=None)
    assert reason not in reasons.active_reasons()
    assert reason in reasons.all_reasons()
    reasons.activate_reason(reason, actor=None)
    assert reason in reasons.active_reasons()


def test_ensure_defaults(app):
    reasons.create_reason(code="LOST", name="Our own wording", actor=None)
    added = reasons.ensure_default_reasons(None)
    assert {r.code for r in added} == {"WRONG_SIZE", "NOT_AS_DESCRIBED", "DEFECTIVE",
                                       "WRONG_ITEM", "LATE", "CHANGED_MIND"}
    assert reasons.ensure_default_reasons(None) == []
    assert len(reasons.all_reasons()) == 7
