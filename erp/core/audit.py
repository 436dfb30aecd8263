"""Audit events: who changed what, when, with the values before and after.

``record`` adds the event to the current session, so it commits or rolls back with the change.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from flask_babel.speaklater import LazyString

from erp.core.models import AuditEvent, utcnow
from erp.extensions import db

log = logging.getLogger(__name__)

#: the key of ``session.info`` saying the transaction wrote audit rows, to seal at its commit
SEALING_FLAG = "erp.audit.unsealed"


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
    db.session.info[SEALING_FLAG] = True  # chained at commit (erp.core.auditchain)
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
    buffer = _BATCH.get()
    if buffer is not None:
        buffer.extend(rows)
        return len(rows)
    _write(rows)
    return len(rows)


#: the rows of :func:`record_many` held back by :func:`batched`, or None outside one
_BATCH: contextvars.ContextVar[list[dict] | None] = contextvars.ContextVar("erp_audit_batch",
                                                                           default=None)


@contextlib.contextmanager
def batched() -> Iterator[None]:
    """Hold back the events :func:`record_many` adds in the block; write them in one INSERT.

    For a hot path that audits several kinds of change in one short transaction (a scan at the
    single-item lane: the parcel, its label, the order, the tracking range, the box's stock
    move): one statement instead of one per kind. The events are written when the block ends
    without an error, still in the current transaction; after an error they are dropped (the
    caller rolls back). :func:`record` is not held back. Nested blocks write at the outer end.
    """
    if _BATCH.get() is not None:
        yield
        return
    rows: list[dict] = []
    token = _BATCH.set(rows)
    try:
        yield
    finally:
        _BATCH.reset(token)
    _write(rows)


def _write(rows: list[dict]) -> None:
    """Insert audit rows in the current transaction, the cheapest way for their number."""
    if not rows:
        return
    db.session.info[SEALING_FLAG] = True  # chained at commit (erp.core.auditchain)
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql" and len(rows) >= COPY_ABOVE:
        _copy(rows)
    elif dialect == "sqlite":  # the driver's executemany is the cheapest at any size there
        _insert_sqlite(rows)
    else:
        # a Core INSERT (one executemany): the ORM's per-row bookkeeping is not needed here
        db.session.execute(AuditEvent.__table__.insert(), rows)


#: from this many events on, PostgreSQL takes them with COPY (SQLAlchemy's per-row parameter
#: handling cost seconds on 100,000 events of a tracking file); SQLite takes any number with
#: the driver's own executemany
COPY_ABOVE = 2000
_COPY_COLUMNS = ("at", "actor_id", "entity_type", "entity_id", "entity_ref", "action", "changes")


def _insert_sqlite(rows: list[dict]) -> None:
    """Write audit rows with one driver-level executemany, values as SQLAlchemy stores them."""
    import json

    from erp.core.types import UtcDateTime

    to_db = UtcDateTime().process_bind_param
    db.session.connection().exec_driver_sql(
        f"INSERT INTO audit_event ({', '.join(_COPY_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(to_db(row["at"], None).isoformat(" ", "microseconds"), row["actor_id"],
          row["entity_type"], row["entity_id"], row["entity_ref"], row["action"],
          json.dumps(row["changes"]))  # None as JSON null, as the JSON column writes it
         for row in rows])


def _copy(rows: list[dict]) -> None:
    """Write audit rows with PostgreSQL's COPY, in the session's transaction."""
    import json

    from erp.core.types import UtcDateTime

    to_db = UtcDateTime().process_bind_param  # naive UTC, as the column stores it
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(
            f"COPY audit_event ({', '.join(_COPY_COLUMNS)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row((to_db(row["at"], None), row["actor_id"], row["entity_type"],
                            row["entity_id"], row["entity_ref"], row["action"],
                            json.dumps(row["changes"])))  # None as JSON null, as SQLAlchemy


def diff(obj: Any, values: Mapping[str, Any]) -> dict[str, list]:
    """Return ``{field: [before, after]}`` for the fields of ``values`` that differ on ``obj``."""
    return {k: [getattr(obj, k), v] for k, v in values.items() if getattr(obj, k) != v}


# --------------------------------------------------------------------------- sentences
#
# What the audit log and the history panels show: each event as a sentence in the reader's
# language ("Received 30 × KB-BAG-NAV-8L into RCV-01 on receipt RCV-2026-000013"), never a
# dictionary. The stored action keys and changes are untouched; the sentence is made when the
# event is shown. Each domain registers its sentences in ``erp/<domain>/audit_text.py``
# (imported by its views): a template with named placeholders (``_l(...)``) or a function of
# an :class:`Event`. An action nobody registered still reads as a sentence, built from its
# changes by :func:`generic_sentence`.

Sentence = Any  # a lazy string template, or a function(Event) -> str

_SENTENCES: dict[str, Sentence] = {}
_NOUNS: dict[str, Any] = {}
_MACHINES: dict[str, Any] = {}
_LOOKUPS: dict[str, Callable[[str], str | None]] = {}
_REFS: dict[str, Callable[[int], str | None]] = {}
_FIELDS: dict[str, Any] = {}
_TEXTS: dict[str, Any] = {}
_REF_TEXT = re.compile(r"^([a-z][a-z_]*):(\d+)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_MISSING = object()


def register(action: str, sentence: Sentence) -> None:
    """Say how events of ``action`` read: a ``_l`` template or a function of an :class:`Event`.

    A template's placeholders are ``%(ref)s`` (the record's reference), ``%(entity)s`` (its
    noun) and, for each key of the event's changes, ``%(key)s`` (the value after, formatted)
    and ``%(key_before)s`` (the value before). A template that cannot be filled (a key missing
    from an old event) falls back to :func:`generic_sentence`.
    """
    _SENTENCES[action] = sentence


def register_many(sentences: Mapping[str, Sentence]) -> None:
    """Call :func:`register` for each ``{action: sentence}``."""
    for action, sentence in sentences.items():
        register(action, sentence)


def entity(entity_type: str, noun: Any, *, states: Any = None,
           lookup: Callable[[str], str | None] | None = None) -> None:
    """Declare how a kind of record is named in sentences.

    :param noun: e.g. ``_l("Purchase order")``, starting a sentence.
    :param states: the record's :class:`~erp.core.states.StateMachine`, for state labels.
    :param lookup: ``lookup(entity_id)`` returning the record's reference (its number) for
        events stored without one (a draft purchase order gets its number later).
    """
    _NOUNS[entity_type] = noun
    if states is not None:
        _MACHINES[entity_type] = states
    if lookup is not None:
        _LOOKUPS[entity_type] = lookup


def fields(labels: Mapping[str, Any]) -> None:
    """Name the keys of changes in the reader's language: ``{"weight_g": _l("weight (g)")}``."""
    _FIELDS.update(labels)


def known_texts(texts: Iterable[Any]) -> None:
    """Declare English texts that services store in changes, to show them translated.

    E.g. a system note such as "within the approval threshold": pass ``_l`` of the very
    same text.
    """
    for text in texts:
        _TEXTS[_msgid(text)] = text


def reference(ref_type: str, resolver: Callable[[int], str | None]) -> None:
    """Say how a reference ``"ref_type:id"`` held in changes reads (e.g. "receipt RCV-...").

    ``resolver(id)`` returns the text, or None when the record is gone.
    """
    _REFS[ref_type] = resolver


def _cache() -> dict:
    from flask import g, has_app_context
    if not has_app_context():
        return {}
    cache = g.get("_audit_text_cache")
    if cache is None:
        cache = g._audit_text_cache = {}
    return cache


def resolve(text: Any) -> str | None:
    """Return how a stored reference such as ``"receipt_line:16"`` reads, or None.

    Only text of that form with a registered resolver is resolved; results are cached for
    the request.
    """
    match = _REF_TEXT.match(text) if isinstance(text, str) else None
    if match is None or match.group(1) not in _REFS:
        return None
    cache = _cache()
    key = ("ref", text)
    if key not in cache:
        try:
            cache[key] = _REFS[match.group(1)](int(match.group(2)))
        except Exception:  # noqa: BLE001 - a sentence must never break the page showing it
            log.warning("Could not resolve audit reference %s", text, exc_info=True)
            cache[key] = None
    return cache[key]


def noun(entity_type: str) -> str:
    """Return the name of a kind of record in the reader's language ("Purchase order")."""
    found = _NOUNS.get(entity_type)
    return str(found) if found is not None else entity_type.replace("_", " ").capitalize()


def field_label(key: str) -> str:
    """Return the reader's name of a key of changes (``weight_g`` -> "weight (g)")."""
    found = _FIELDS.get(key)
    return str(found) if found is not None else key.replace("_", " ")


def state_label(entity_type: str, value: Any) -> str:
    """Return the label of a state of ``entity_type`` (its value when unknown)."""
    machine = _MACHINES.get(entity_type)
    if machine is not None and value is not None:
        try:
            return str(machine.label(value))
        except (KeyError, ValueError):
            pass
    return show(value)


def is_pair(value: Any) -> bool:
    """Return whether a value of changes is ``[before, after]`` (not a list of records)."""
    return isinstance(value, (list, tuple)) and len(value) == 2 and not any(
        isinstance(v, Mapping) for v in value)


def show(value: Any) -> str:
    """Format one stored value for a sentence: no brackets, braces or internal references."""
    from erp.core.i18n import _, format_number
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, int):
        return format_number(value)
    if isinstance(value, float):
        return format_number(Decimal(str(value)))
    if isinstance(value, str):
        return _show_text(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{_show_key(k)}: {show(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return "; ".join(show(v) for v in value)
    return str(value)


def _show_text(text: str) -> str:
    from erp.core.i18n import format_date, format_datetime
    resolved = resolve(text)
    if resolved is not None:
        return resolved
    if text in _TEXTS:
        return str(_TEXTS[text])
    try:
        if _ISO_DATE.match(text):
            return format_date(date.fromisoformat(text))
        if _ISO_DATETIME.match(text):
            return format_datetime(datetime.fromisoformat(text))
    except ValueError:
        pass
    return text


def _show_key(key: Any) -> str:
    return field_label(key) if isinstance(key, str) and key in _FIELDS else str(key)


class Event:
    """An audit event as sentence functions read it: values formatted, references resolved."""

    def __init__(self, event: Any):
        self.event = event
        self.action = event.action
        self.entity_type = event.entity_type
        changes = event.changes
        self.changes: dict = changes if isinstance(changes, dict) else (
            {"details": changes} if changes else {})
        self.ref = self._reference()
        self.entity = noun(self.entity_type)

    def _reference(self) -> str:
        if self.event.entity_ref:
            return self.event.entity_ref
        lookup = _LOOKUPS.get(self.entity_type)
        if lookup is not None and self.event.entity_id not in (None, "None"):
            cache = _cache()
            key = ("entity", self.entity_type, self.event.entity_id)
            if key not in cache:
                try:
                    cache[key] = lookup(self.event.entity_id)
                except Exception:  # noqa: BLE001 - a sentence must never break its page
                    log.warning("Could not look up %s %s", self.entity_type,
                                self.event.entity_id, exc_info=True)
                    cache[key] = None
            if cache[key]:
                return cache[key]
        return f"#{self.event.entity_id}"

    def raw(self, key: str, default: Any = None) -> Any:
        """Return the stored value of ``key`` (the value after, for a ``[before, after]``)."""
        value = self.changes.get(key, default)
        return value[1] if is_pair(value) else value

    def raw_before(self, key: str, default: Any = None) -> Any:
        """Return the stored value before, for a ``[before, after]`` key."""
        value = self.changes.get(key, _MISSING)
        return value[0] if is_pair(value) else default

    def has(self, key: str) -> bool:
        """Return whether ``key`` holds something (not missing, None or empty)."""
        return self.raw(key) not in (None, "", [], {})

    def __getitem__(self, key: str) -> str:
        """Return the formatted value (after) of ``key``; ``"state"`` as its label."""
        if key not in self.changes:
            raise KeyError(key)
        value = self.raw(key)
        return state_label(self.entity_type, value) if key == "state" else show(value)

    def before(self, key: str) -> str:
        """Return the formatted value before of a ``[before, after]`` key."""
        value = self.raw_before(key)
        return state_label(self.entity_type, value) if key == "state" else show(value)

    def params(self) -> dict[str, str]:
        """Return the placeholders a template may use (see :func:`register`)."""
        params = {"ref": self.ref, "entity": self.entity}
        for key, value in self.changes.items():
            params[key] = self[key]
            if is_pair(value):
                params[f"{key}_before"] = self.before(key)
        return params

    def changed(self, skip: Iterable[str] = ()) -> str:
        """Return the ``[before, after]`` changes as a phrase: "name from A to B; ..."."""
        return changes_phrase(self, skip=skip)

    def with_note(self, sentence: str, key: str = "note") -> str:
        """Return ``sentence`` followed by the event's note (or ``key``), if it has one."""
        from erp.core.i18n import _
        if not self.has(key):
            return sentence
        return _("%(sentence)s Note: %(note)s", sentence=sentence, note=self[key])


def with_changes(template: Any, *, skip: Iterable[str] = ()) -> Callable[[Event], str]:
    """Return a sentence for "updated" events: ``template`` may use ``%(changes)s``.

    ``%(changes)s`` is every ``[before, after]`` of the event ("name from A to B; ..."),
    except those in ``skip``; the other placeholders are those of :func:`register`.
    """
    skipped = tuple(skip)

    def sentence(event: Event) -> str:
        params = event.params()
        params["changes"] = event.changed(skip=skipped) or "—"
        return event.with_note(str(template) % params)

    return sentence


def changes_phrase(event: Event, *, skip: Iterable[str] = ()) -> str:
    """Return each ``[before, after]`` change as "field from A to B", joined by "; "."""
    from erp.core.i18n import _
    skipped = set(skip)
    parts = []
    for key, value in event.changes.items():
        if key in skipped or not is_pair(value):
            continue
        before, after = event.raw_before(key), event.raw(key)
        label = field_label(key) if key != "state" else _("status")
        if before in (None, "", []):
            parts.append(_("%(field)s set to %(new)s", field=label, new=event[key]))
        elif after in (None, "", []):
            parts.append(_("%(field)s cleared (was %(old)s)", field=label,
                           old=event.before(key)))
        else:
            parts.append(_("%(field)s changed from %(old)s to %(new)s", field=label,
                           old=event.before(key), new=event[key]))
    return join(parts)


def join(parts: Iterable[str]) -> str:
    """Join clauses of one sentence ("A; B" in English, "A；B" in Chinese)."""
    from erp.core.i18n import _
    # NOTE: the separator between two clauses of one sentence (a semicolon and a space)
    return _("; ").join(parts)


def generic_sentence(event: Event) -> str:
    """Return a sentence for an event no domain described: what changed, from its changes."""
    from erp.core.i18n import _
    phrase = event.changed()
    if phrase:
        return _("%(entity)s %(ref)s: %(changes)s.", entity=event.entity, ref=event.ref,
                 changes=phrase)
    what = event.action.rpartition(".")[2].replace("_", " ")
    return event.with_note(_("%(entity)s %(ref)s: %(action)s.", entity=event.entity,
                             ref=event.ref, action=what))


def describe(event: Any) -> str:
    """Return the sentence of an audit event in the reader's language.

    Never raises: an event whose registered sentence cannot be made (an old event lacking a
    key the sentence needs) reads as :func:`generic_sentence`.
    """
    wrapped = Event(event)
    sentence = _SENTENCES.get(event.action)
    if sentence is not None:
        try:
            if isinstance(sentence, (str, LazyString)):
                text = str(sentence) % wrapped.params()
                if "%(note)s" not in _msgid(sentence):
                    text = wrapped.with_note(text)
            else:
                text = sentence(wrapped)
            if text:
                return text
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            log.warning("Audit sentence for %s failed on event %s", event.action,
                        getattr(event, "id", None), exc_info=True)
    return generic_sentence(wrapped)


def _msgid(sentence: Any) -> str:
    return str(sentence._args[0]) if isinstance(sentence, LazyString) else str(sentence)


def details(event: Any) -> list[tuple[str, str]]:
    """Return the event's changes as ``(label, value)`` rows for the details of a history.

    A ``[before, after]`` reads "before → after"; references are resolved, nothing is shown
    as a dictionary.
    """
    wrapped = Event(event)
    rows = []
    for key, value in wrapped.changes.items():
        if is_pair(value):
            rows.append((field_label(key), f"{wrapped.before(key)} → {wrapped[key]}"))
        else:
            rows.append((field_label(key), wrapped[key]))
    return rows


def init_app(app) -> None:
    """Offer ``describe_event`` and ``event_details`` to templates."""
    app.jinja_env.globals["describe_event"] = describe
    app.jinja_env.globals["event_details"] = details
    app.jinja_env.globals["entity_noun"] = noun
