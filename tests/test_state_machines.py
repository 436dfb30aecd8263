"""Every registered state machine is well formed (STYLE.md section 8, Tryton's workflow test).

For each machine in ``erp.core.states.REGISTRY``: the initial state and every state in the
transition table are members of its enum; every member is reachable from the initial state;
terminal states (no exits) exist and every state can still reach one, so no record can be
trapped in a loop; a group named "terminal" or "final" lists exactly the states without exits;
every member has a label and a badge colour the stylesheet defines.
"""

from __future__ import annotations

import os
import re
from collections import deque
from enum import StrEnum

import pytest
from flask_babel.speaklater import LazyString

from erp.core import states
from erp.core.states import StateMachine

TERMINAL_GROUPS = ("terminal", "final")


def badge_colours(app) -> set[str]:
    """Return the badge colours the stylesheet styles ("grey" is the plain ``.badge``)."""
    with open(os.path.join(app.static_folder, "css", "app.css")) as fh:
        css = fh.read()
    assert re.search(r"^\.badge\s*\{", css, re.M), "the plain .badge style is missing"
    return {"grey", *re.findall(r"\.badge-([a-z]+)\s*\{", css)}


def _reachable(machine: StateMachine, start) -> set:
    seen, todo = {start}, deque([start])
    while todo:
        for target in machine.targets(todo.popleft()):
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def machine_problems(machine: StateMachine, colours: set[str]) -> list[str]:
    """Return what is wrong with ``machine`` (an empty list when it is well formed)."""
    enum = machine.enum
    members = set(enum)
    problems = []

    def is_member(state) -> bool:
        return isinstance(state, enum) and state in members

    if not is_member(machine.initial):
        problems.append(f"initial state {machine.initial!r} is not a {enum.__name__} member")
    for pair in sorted(machine.transitions, key=str):
        if len(pair) != 2:
            problems.append(f"transition {pair!r} is not a (from, to) pair")
            continue
        for state in pair:
            if not is_member(state):
                problems.append(f"transition {pair!r}: {state!r} is not a {enum.__name__} member")
    if problems:
        return problems  # the graph checks below would only repeat these

    unreachable = members - _reachable(machine, machine.initial)
    problems += [f"state {s.value!r} cannot be reached from {machine.initial.value!r}"
                 for s in sorted(unreachable)]
    terminal = {s for s in members if not machine.targets(s)}
    if not terminal:
        problems.append("no terminal state (a state without exits)")
    elif machine.initial in terminal:
        problems.append(f"initial state {machine.initial.value!r} has no exits")
    else:
        trapped = {s for s in members if not (_reachable(machine, s) & terminal)}
        problems += [f"state {s.value!r} can never reach a terminal state"
                     for s in sorted(trapped)]
    for name in TERMINAL_GROUPS:
        if name in machine.groups and set(machine.groups[name]) != terminal:
            problems.append(f"group {name!r} is {sorted(s.value for s in machine.groups[name])}"
                            f", but the states without exits are "
                            f"{sorted(s.value for s in terminal)}")
    for name, group in machine.groups.items():
        if not group:
            problems.append(f"group {name!r} is empty")
        problems += [f"group {name!r}: {s!r} is not a {enum.__name__} member"
                     for s in group if not is_member(s)]

    for state in sorted(members):
        label = machine.labels.get(state)
        # a label is text, or lazy text (flask-babel's LazyString) translated when shown
        if not isinstance(label, (str, LazyString)) or not str(label).strip():
            problems.append(f"state {state.value!r} has no label")
        colour = machine.colours.get(state)
        if colour not in colours:
            problems.append(f"state {state.value!r} has colour {colour!r}, which app.css does "
                            f"not style (known: {sorted(colours)})")
    return problems


def test_every_registered_state_machine_is_well_formed(app):
    # ``app`` ran create_app(), which imports every domain and so registers every machine
    assert isinstance(states.REGISTRY, list)
    assert all(isinstance(m, StateMachine) for m in states.REGISTRY)
    colours = badge_colours(app)
    problems = {f"{m.noun} ({m.enum.__name__})": machine_problems(m, colours)
                for m in states.REGISTRY}
    assert {name: found for name, found in problems.items() if found} == {}


# --------------------------------------------------------------------------- the checker itself


class Doc(StrEnum):
    """A sample document workflow."""

    draft = "draft"
    open = "open"
    done = "done"
    cancelled = "cancelled"


class Other(StrEnum):
    """An unrelated enum."""

    draft = "draft"


D = Doc
GOOD_TRANSITIONS = {(D.draft, D.open), (D.open, D.done), (D.draft, D.cancelled),
                    (D.open, D.cancelled)}


@pytest.fixture
def make_machine():
    """Return a factory of sample machines, all removed from the registry afterwards."""
    made = []

    def factory(transitions=GOOD_TRANSITIONS, **kwargs):
        kwargs.setdefault("initial", D.draft)
        machine = StateMachine(D, transitions=transitions, noun="sample", **kwargs)
        made.append(machine)
        return machine

    yield factory
    for machine in made:
        states.REGISTRY.remove(machine)


@pytest.fixture
def colours(app):
    """Return the badge colours of the stylesheet."""
    return badge_colours(app)


def test_checker_accepts_well_formed_machine(make_machine, colours):
    machine = make_machine(colours={D.done: "green", D.cancelled: "red"},
                           groups={"open": {D.draft, D.open}, "final": {D.done, D.cancelled}})
    assert machine_problems(machine, colours) == []


def test_checker_reports_unreachable_state(make_machine, colours):
    machine = make_machine({(D.draft, D.done), (D.open, D.done)})
    assert machine_problems(machine, colours) == [
        "state 'cancelled' cannot be reached from 'draft'",
        "state 'open' cannot be reached from 'draft'",
    ]


def test_checker_reports_state_of_another_enum(make_machine, colours):
    machine = make_machine(GOOD_TRANSITIONS | {(D.done, Other.draft)})
    assert machine_problems(machine, colours) == [
        f"transition {(D.done, Other.draft)!r}: {Other.draft!r} is not a Doc member"]


def test_checker_reports_machine_without_terminal_state(make_machine, colours):
    machine = make_machine({(D.draft, D.open), (D.open, D.done), (D.done, D.cancelled),
                            (D.cancelled, D.draft)})
    assert machine_problems(machine, colours) == ["no terminal state (a state without exits)"]


def test_checker_reports_states_that_can_never_finish(make_machine, colours):
    machine = make_machine({(D.draft, D.open), (D.open, D.done), (D.done, D.open),
                            (D.draft, D.cancelled)})
    assert machine_problems(machine, colours) == [
        "state 'done' can never reach a terminal state",
        "state 'open' can never reach a terminal state",
    ]


def test_checker_reports_wrong_final_group_and_unknown_colour(make_machine, colours):
    machine = make_machine(colours={D.done: "chartreuse"}, groups={"final": {D.done}})
    assert machine_problems(machine, colours) == [
        "group 'final' is ['done'], but the states without exits are ['cancelled', 'done']",
        "state 'done' has colour 'chartreuse', which app.css does not style "
        f"(known: {sorted(colours)})",
    ]


def test_checker_reports_initial_without_exits(make_machine, colours):
    machine = make_machine(set(), initial=D.draft)
    problems = machine_problems(machine, colours)
    assert "initial state 'draft' has no exits" in problems
    assert "state 'open' cannot be reached from 'draft'" in problems
