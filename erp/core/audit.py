"""Audit events: who changed what, when, with the values before and after.

``record`` adds the event to the current session, so it commits or rolls back with the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from erp.core.models import AuditEvent, utcnow
from erp.extensions import db


def entity_name(obj: Any) -> str:
    """Return the audit entity name of a model instance (its table name)."""
    return getattr(obj, "__tablename__", type(obj).__name__.lower())


_PLAIN = frozenset({type(None), bool, int, str})  # JSON as they are (checked by exact type)


def jsonable(value: Any) -> Any:
    """Return ``value`` as JSON data: Decimal and float as strings, enums by value, dates ISO."""
    if type(value) in _PLAIN:
        return value
    if type(value) is dict:
        # The usual {field: [before, after]} without a call per plain value: imports audit
        # 100,000s of rows at a time.
        out = {}
        for key, item in value.items():
            kind = type(item)
            if kind in _PLAIN:
                out[str(key)] = item
            elif kind is list and len(item) == 2:
                before, after = item
                out[str(key)] = [before if type(before) in _PLAIN else jsonable(before),
                                 after if type(after) in _PLAIN else jsonable(after)]
            else:
                out[str(key)] = jsonable(item)
        return out
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, (Decimal, float)):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [jsonable(v) for v in value]
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
        changes=jsonable(changes) if changes else None,
    )
    db.session.add(event)
    return event


def record_many(entity_type: str, action: str,
                events: Iterable[tuple[Any, str | None, Mapping | None]], *,
                actor: Any) -> int:
    """Add many audit events in one bulk INSERT (for imports); return how many were added.

    Like :func:`record`, the events belong to the current transaction.

    :param entity_type: the table name of the entities, e.g. ``"sku"``.
    :param events: ``(entity id, reference, changes)`` for each entity changed.
    """
    now = utcnow()
    actor_id = getattr(actor, "id", None)
    rows = [{"at": now, "actor_id": actor_id, "entity_type": entity_type,
             "entity_id": str(ident), "entity_ref": str(ref)[:120] if ref else None,
             "action": action, "changes": jsonable(changes) if changes else None}
            for ident, ref, changes in events]
    if rows:
        # a Core INSERT (one executemany): the ORM's per-row bookkeeping is not needed here
        db.session.execute(AuditEvent.__table__.insert(), rows)
    return len(rows)


def diff(obj: Any, values: Mapping[str, Any]) -> dict[str, list]:
    """Return ``{field: [before, after]}`` for the fields of ``values`` that differ on ``obj``."""
    return {k: [getattr(obj, k), v] for k, v in values.items() if getattr(obj, k) != v}
