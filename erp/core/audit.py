"""Audit events: who changed what, when, with the values before and after.

``record`` adds the event to the current session, so it commits or rolls back with the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from erp.core.models import AuditEvent
from erp.extensions import db


def entity_name(obj: Any) -> str:
    """Return the audit entity name of a model instance (its table name)."""
    return getattr(obj, "__tablename__", type(obj).__name__.lower())


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (Decimal, float)):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return str(value)


def _reference(obj: Any) -> str | None:
    for attr in ("number", "code", "username", "key", "name"):
        value = getattr(obj, attr, None)
        if value:
            return str(value)[:120]
    return None


def record(obj: Any, action: str, *, actor: Any, changes: Mapping | None = None) -> AuditEvent:
    """Add an audit event for ``obj`` to the current transaction and return it.

    :param obj: the model instance changed (flushed first if it has no id yet).
    :param action: ``<noun>.<verb_past>``, e.g. ``purchase_order.approved``.
    :param actor: the user who acted, or ``None`` for the system.
    :param changes: ``{field: [before, after]}`` or any JSON-able detail.
    """
    if getattr(obj, "id", None) is None and hasattr(obj, "id"):
        db.session.flush()
    ident = getattr(obj, "id", None)
    if ident is None:
        ident = getattr(obj, "key", None) or getattr(obj, "name", None)
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        entity_type=entity_name(obj),
        entity_id=str(ident),
        entity_ref=_reference(obj),
        action=action,
        changes=_jsonable(changes) if changes else None,
    )
    db.session.add(event)
    return event


def diff(obj: Any, values: Mapping[str, Any]) -> dict[str, list]:
    """Return ``{field: [before, after]}`` for the fields of ``values`` that differ on ``obj``."""
    return {k: [getattr(obj, k), v] for k, v in values.items() if getattr(obj, k) != v}
