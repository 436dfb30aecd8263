"""The state-machine helper every stateful model uses (STYLE.md section 4).

Each model declares its enum and a ``<MODEL>_STATES = StateMachine(...)`` table next to it;
services call :func:`transition`, which checks the table, sets ``obj.state`` and writes the audit
event with ``(old_state, new_state)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

from erp.core.errors import DomainError

#: every StateMachine created, so the meta-test can check them all
REGISTRY: list[StateMachine] = []


class InvalidTransition(DomainError):
    """The current state does not allow the requested change."""

    def __init__(self, obj: Any, current: StrEnum, target: StrEnum, machine: StateMachine):
        from erp.core.i18n import _
        ref = getattr(obj, "number", None) or getattr(obj, "code", None) or getattr(obj, "id", "")
        allowed = ", ".join(machine.label(s) for s in sorted(machine.targets(current)))
        params = {"noun": machine.noun, "ref": ref, "target": machine.label(target),
                  "current": machine.label(current), "allowed": allowed}
        if allowed:
            message = _('To move %(noun)s "%(ref)s" to "%(target)s", it must be in a state that '
                        'allows it; it is "%(current)s" (allowed next: %(allowed)s).', **params)
        else:
            message = _('To move %(noun)s "%(ref)s" to "%(target)s", it must be in a state that '
                        'allows it; it is "%(current)s" (a final state).', **params)
        super().__init__(message)
        self.current = current
        self.target = target


class StateMachine:
    """An explicit table of allowed ``(from, to)`` transitions, with labels, colours and groups."""

    def __init__(self, enum: type[StrEnum], *, initial: StrEnum,
                 transitions: Iterable[tuple[StrEnum, StrEnum]], noun: str,
                 labels: Mapping[StrEnum, str] | None = None,
                 colours: Mapping[StrEnum, str] | None = None,
                 groups: Mapping[str, Iterable[StrEnum]] | None = None):
        self.enum = enum
        self.initial = initial
        self.transitions = frozenset(transitions)
        self.noun = noun
        self.labels = {s: (labels or {}).get(s, s.value.replace("_", " ")) for s in enum}
        self.colours = {s: (colours or {}).get(s, "grey") for s in enum}
        self.groups = {name: frozenset(states) for name, states in (groups or {}).items()}
        #: called as ``listener(obj, old, new)`` by :func:`transition` after each change
        self.listeners: list = []
        REGISTRY.append(self)

    def listen(self, listener) -> None:
        """Have ``listener(obj, old, new)`` called after every :func:`transition` (the outbox)."""
        if listener not in self.listeners:
            self.listeners.append(listener)

    def can(self, current: StrEnum, target: StrEnum) -> bool:
        """Return whether ``current -> target`` is in the table."""
        return (self.enum(current), self.enum(target)) in self.transitions

    def targets(self, current: StrEnum) -> set[StrEnum]:
        """Return the states reachable in one step from ``current``."""
        return {t for f, t in self.transitions if f == current}

    def label(self, state: StrEnum | str) -> str:
        """Return the human label of a state, in the reader's language if it is a lazy string."""
        return str(self.labels[self.enum(state)])

    def colour(self, state: StrEnum | str) -> str:
        """Return the badge colour of a state."""
        return self.colours[self.enum(state)]

    def in_group(self, state: StrEnum | str, group: str) -> bool:
        """Return whether ``state`` belongs to the named group (e.g. ``"open"``)."""
        return self.enum(state) in self.groups[group]

    def check(self, obj: Any, target: StrEnum) -> StrEnum:
        """Return the current state of ``obj`` if it may move to ``target``.

        :raises InvalidTransition: naming the current state.
        """
        current = self.enum(obj.state)
        if not self.can(current, target):
            raise InvalidTransition(obj, current, self.enum(target), self)
        return current


def transition(obj: Any, target: StrEnum, *, machine: StateMachine, actor: Any,
               note: str | None = None, changes: Mapping | None = None) -> StrEnum:
    """Move ``obj`` to ``target`` after checking the table, and audit ``(old, new)``.

    :returns: the previous state.
    :raises InvalidTransition: if the table does not allow it.
    """
    from erp.core import audit  # local: audit imports models, which may import this module

    old = machine.check(obj, target)
    obj.state = machine.enum(target)
    payload = {"state": [old.value, obj.state.value]}
    if changes:
        payload.update(changes)
    if note:
        payload["note"] = note
    audit.record(obj, f"{audit.entity_name(obj)}.{obj.state.value}", actor=actor, changes=payload)
    for listener in machine.listeners:
        listener(obj, old, obj.state)
    return old
