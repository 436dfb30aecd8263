"""Shipping rule versions posted 8 times at once: activated once, rolled back once."""

from __future__ import annotations

from sqlalchemy import select

from erp.extensions import db
from erp.shipping.routing_models import RuleVersion
from erp.shipping.services import routing_rules
from tests.concurrency.guarded import SAFE_TO_REPEAT, Scenario, audit_count, guarded


def _version(get, *, activate: bool) -> RuleVersion:
    get("shipping_setup")
    version = routing_rules.create_version(actor=None)
    routing_rules.add_rule(version, {"name": "Postal", "services": "POST-REG"}, actor=None)
    if activate:
        routing_rules.activate_version(version, actor=None)
    db.session.commit()
    return version


def _states() -> list[str]:
    db.session.expire_all()
    return [v.state.value for v in db.session.scalars(select(RuleVersion)
                                                      .order_by(RuleVersion.number))]


@guarded("shipping.activate_rule_version")
def activate_the_same_version(get) -> Scenario:
    """8 activations of draft v2: active once, v1 retired once."""
    first = _version(get, activate=True)
    draft = _version(get, activate=False)

    def check(answers):
        assert _states() == ["retired", "active"]
        assert audit_count("rule_version.active", of=draft) == 1
        assert audit_count("rule_version.retired", of=first) == 1

    return Scenario("manager", f"/shipping/rules/{draft.id}/activate", {}, check)


@guarded("shipping.roll_back_rule_version")
def roll_back_the_same_version(get) -> Scenario:
    """8 roll backs of v2: v1 active again once, v2 retired once."""
    first = _version(get, activate=True)
    second = _version(get, activate=True)

    def check(answers):
        assert _states() == ["active", "retired"]
        assert audit_count("rule_version.retired", of=second) == 1
        assert audit_count("rule_version.active", of=first) == 2  # activated, then rolled back

    return Scenario("manager", f"/shipping/rules/{second.id}/roll-back", {}, check)


_DRAFT = ("starts a draft of its own (numbers are unique); drafts are scratch copies that "
          "route nothing until one is activated, which acts once")
_DRAFT_EDIT = ("changes a draft's rules under the version's lock; a draft routes nothing, and "
               "one person's repeat is caught by the form's one-time key")
SAFE_TO_REPEAT.update({
    "shipping.create_rule_version": _DRAFT,
    "shipping.copy_rule_version": _DRAFT,
    "shipping.discard_rule_version": "moves the draft to discarded under its lock: the others "
                                     "find it discarded and are refused",
    "shipping.create_rule": _DRAFT_EDIT,
    "shipping.edit_rule": _DRAFT_EDIT,
    "shipping.delete_rule": "a deleted rule cannot be deleted twice (404)",
    "shipping.move_rule": _DRAFT_EDIT,
    "shipping.import_rules": "an all-or-nothing import that replaces the draft's rules: 8 "
                             "identical files leave the same rules",
})
