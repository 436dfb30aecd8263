"""The state-machine helper: allowed transitions set the state and audit; others change nothing."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pytest
from sqlalchemy import func, select

from erp.core import states
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition, StateMachine, transition
from erp.extensions import db


class LampState(StrEnum):
    """A throwaway workflow."""

    draft = "draft"
    lit = "lit"
    broken = "broken"


S = LampState


@dataclass
class Lamp:
    """A model-like object: what ``transition`` and ``audit.record`` need."""

    __tablename__ = "lamp"
    id: int
    state: LampState
    code: str = "LAMP-1"


@pytest.fixture
def machine():
    """Return a lamp state machine, removed from the registry afterwards."""
    m = StateMachine(S, initial=S.draft, noun="lamp",
                     transitions={(S.draft, S.lit), (S.lit, S.draft), (S.lit, S.broken)},
                     labels={S.lit: "Switched on"}, colours={S.broken: "red"},
                     groups={"open": {S.draft, S.lit}})
    yield m
    states.REGISTRY.remove(m)


def audit_events() -> list[AuditEvent]:
    """Return the stored audit events."""
    db.session.flush()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_state_machine_registers_itself(machine):
    assert machine in states.REGISTRY


def test_transition_allowed_sets_state_and_audits(app, create_user, machine):
    actor = create_user("alice", roles=("manager",))
    lamp = Lamp(id=1, state=S.draft)

    old = transition(lamp, S.lit, machine=machine, actor=actor, note="first light")
    db.session.commit()

    assert old is S.draft
    assert lamp.state is S.lit
    [event] = [e for e in audit_events() if e.entity_type == "lamp"]
    assert event.action == "lamp.lit"
    assert event.entity_id == "1"
    assert event.entity_ref == "LAMP-1"
    assert event.actor_id == actor.id
    assert event.changes == {"state": ["draft", "lit"], "note": "first light"}


def test_transition_accepts_state_stored_as_plain_string(app, machine):
    lamp = Lamp(id=2, state="lit")  # as loaded from a column before enum coercion
    transition(lamp, S.broken, machine=machine, actor=None)
    assert lamp.state is S.broken
    assert audit_events()[-1].changes == {"state": ["lit", "broken"]}


def test_transition_disallowed_raises_naming_current_state_and_changes_nothing(app, machine):
    lamp = Lamp(id=3, state=S.broken)
    before = db.session.scalar(select(func.count()).select_from(AuditEvent))

    with pytest.raises(InvalidTransition) as exc:
        transition(lamp, S.lit, machine=machine, actor=None)

    assert str(exc.value) == ('To move lamp "LAMP-1" to "Switched on", it must be in a state '
                              'that allows it; it is "broken" (a final state).')
    assert exc.value.current is S.broken
    assert exc.value.target is S.lit
    assert exc.value.status_code == 409
    assert lamp.state is S.broken
    assert not db.session.new
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_transition_disallowed_message_lists_allowed_next_states(app, machine):
    lamp = Lamp(id=4, state=S.draft)
    with pytest.raises(InvalidTransition, match=r'it is "draft" \(allowed next: Switched on\)\.'):
        transition(lamp, S.broken, machine=machine, actor=None)
    assert lamp.state is S.draft
    assert not db.session.new


def test_state_machine_labels_colours_groups(machine):
    assert machine.label(S.lit) == "Switched on"
    assert machine.label("draft") == "draft"  # default: the value, underscores as spaces
    assert machine.colour(S.broken) == "red"
    assert machine.colour(S.draft) == "grey"
    assert machine.in_group(S.lit, "open")
    assert not machine.in_group(S.broken, "open")
    assert machine.targets(S.lit) == {S.draft, S.broken}
    assert machine.can("draft", "lit")
    assert not machine.can(S.draft, S.broken)
