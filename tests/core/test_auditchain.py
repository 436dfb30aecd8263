"""The audit trail's hash chain: sealed at commit, and any change, gap or lost tail detected."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, text

from erp.core import audit, auditchain
from erp.core.auditchain import verify
from erp.core.models import AuditChain, AuditEvent
from erp.extensions import db


@dataclass
class Widget:
    """A stand-in for a domain record."""

    __tablename__ = "widget"
    id: int
    name: str


def write_events(n: int, *, start: int = 1) -> None:
    """Record ``n`` events, one commit each."""
    for i in range(start, start + n):
        audit.record(Widget(i, f"W{i}"), "widget.updated", actor=None,
                     changes={"name": [f"old {i}", f"new {i}"]})
        db.session.commit()


def rows() -> list[AuditEvent]:
    """Return every audit row in id order, fresh from the database."""
    db.session.expire_all()
    return db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()


def tamper(sql: str, **params) -> None:
    """Run ``sql`` past the PostgreSQL guard (as an attacker with superuser rights would)."""
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        conn.execute(text(sql), params)


# --------------------------------------------------------------------------- sealing


def test_record_committed_is_sealed_in_a_chain(app):
    write_events(3)

    events = rows()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].prev_hash == auditchain.GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.row_hash for e in events[:-1]]
    head = db.session.get(AuditChain, 1)
    assert (head.last_seq, head.last_hash) == (3, events[-1].row_hash)
    report = verify()
    assert report.ok, report.problems
    assert report.rows == 3


def test_rolled_back_events_take_no_position(app):
    write_events(1)
    audit.record(Widget(9, "W9"), "widget.updated", actor=None)
    db.session.flush()
    db.session.rollback()
    write_events(1, start=2)

    assert [e.seq for e in rows()] == [1, 2]
    assert verify().ok


def test_record_many_and_batched_are_sealed(app):
    audit.record_many("widget", "widget.imported",
                      [(i, f"W{i}", {"name": [None, f"W{i}"]}) for i in range(2500)], actor=None)
    db.session.commit()
    with audit.batched():
        audit.record_many("widget", "widget.scanned", [(1, "W1", None)], actor=None)
        audit.record_many("widget", "widget.packed", [(1, "W1", {"box": "B1"})], actor=None)
    db.session.commit()

    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.row_hash.is_(None))) == 0
    assert db.session.scalar(select(func.max(AuditEvent.seq))) == 2502
    report = verify()
    assert report.ok, report.problems
    assert report.rows == 2502


def test_savepoint_commit_seals_at_the_outer_commit(app):
    with db.session.begin_nested():
        audit.record(Widget(1, "W1"), "widget.updated", actor=None)
    assert rows()[0].seq is None  # not yet: the chain's lock is taken at the real commit
    db.session.commit()

    assert rows()[0].seq == 1
    assert verify().ok


def test_committed_unsealed_row_is_reported_then_sealed_by_the_next_commit(app):
    write_events(1)
    with db.engine.begin() as conn:  # outside the session: nothing seals it
        conn.execute(AuditEvent.__table__.insert().values(
            at=rows()[0].at, entity_type="widget", entity_id="7", action="widget.updated"))

    report = verify()
    assert not report.ok
    assert any("committed without a seal" in p for p in report.problems)

    write_events(1, start=2)
    assert verify().ok
    assert [e.seq for e in rows()] == [1, 2, 3]


# --------------------------------------------------------------------------- detection


def test_check_finds_a_changed_row(app):
    write_events(3)
    second = rows()[1]
    tamper("UPDATE audit_event SET changes = :c WHERE id = :id",
           c='{"name": ["old 2", "forged"]}', id=second.id)

    report = verify()

    assert not report.ok
    assert len(report.problems) == 1
    assert f"audit row {second.id} (position 2)" in report.problems[0]
    assert "changed" in report.problems[0]


@pytest.mark.parametrize(("column", "value"), [("action", "widget.deleted"), ("actor_id", "user"),
                                           ("entity_ref", "W99"), ("entity_id", "99"),
                                           ("at", "2020-01-01 00:00:00.000000")])
def test_check_finds_any_changed_column(app, create_user, column, value):
    if value == "user":  # a user who did not act
        value = create_user("mallory").id
        db.session.commit()
    write_events(2)
    first = rows()[0]
    tamper(f"UPDATE audit_event SET {column} = :v WHERE id = :id", v=value, id=first.id)

    report = verify()

    assert not report.ok
    assert f"audit row {first.id} (position 1)" in report.problems[0]
    assert len(report.problems) == 1


def test_check_finds_a_deleted_row(app):
    write_events(4)
    third = rows()[2]
    tamper("DELETE FROM audit_event WHERE id = :id", id=third.id)

    report = verify()

    assert not report.ok
    assert report.problems == [f"Positions 3–3 are missing before audit row {rows()[2].id} "
                               f"(position 4): 1 audit row(s) deleted."]


def test_check_finds_deleted_newest_rows(app):
    write_events(4)
    tamper("DELETE FROM audit_event WHERE seq >= 3")

    report = verify()

    assert not report.ok
    assert "newest 2 audit row(s) were deleted" in report.problems[0]


def test_check_finds_a_recomputed_row_by_its_broken_link(app):
    write_events(3)
    second = rows()[1]
    tamper("UPDATE audit_event SET entity_ref = 'forged' WHERE id = :id", id=second.id)
    forged = rows()[1]
    tamper("UPDATE audit_event SET row_hash = :h WHERE id = :id",
           h=auditchain.row_hash(forged.prev_hash, forged.seq, forged), id=second.id)

    report = verify()

    assert not report.ok
    assert "position 3" in report.problems[0]
    assert "link" in report.problems[0]


def test_check_on_an_empty_trail_is_clean(app):
    report = verify()
    assert report.ok
    assert report.rows == 0


# --------------------------------------------------------------------------- the command


def test_check_audit_command_exit_codes(app, runner):
    write_events(2)
    result = runner.invoke(args=["check-audit"])
    assert result.exit_code == 0, result.output
    assert "Audit trail intact: 2 row(s)" in result.output

    tamper("DELETE FROM audit_event WHERE seq = 1")
    result = runner.invoke(args=["check-audit"])
    assert result.exit_code == 1
    assert "Positions 1–1 are missing" in result.output
    assert "NOT intact: 1 problem(s)" in result.output


# --------------------------------------------------------------------------- the PostgreSQL guard


def run_sql(sql: str, *, redaction: bool = False, **params) -> None:
    """Run ``sql`` in a transaction of its own, as the application would."""
    db.session.rollback()  # no lock of ours in the way (TRUNCATE waits for every reader)
    with db.engine.begin() as conn:
        if redaction:
            conn.exec_driver_sql(f"SET LOCAL {auditchain.REDACTION_SETTING} = 'on'")
        conn.execute(text(sql), params)


def guarded(sql: str, *, redaction: bool = False, **params) -> str:
    """Run ``sql`` as the application would and return the refusal's message."""
    from sqlalchemy.exc import DBAPIError
    with pytest.raises(DBAPIError) as refused:
        run_sql(sql, redaction=redaction, **params)
    assert refused.value.orig.sqlstate == "42501"
    return str(refused.value.orig)


@pytest.mark.postgres
def test_trigger_refuses_update_and_delete_of_audit_rows(app):
    write_events(2)
    first = rows()[0]

    assert "UPDATE on audit_event refused" in guarded(
        "UPDATE audit_event SET changes = '{}' WHERE id = :id", id=first.id)
    assert "UPDATE on audit_event refused" in guarded(
        "UPDATE audit_event SET row_hash = NULL, seq = NULL, prev_hash = NULL WHERE id = :id",
        id=first.id)
    assert "DELETE on audit_event refused" in guarded("DELETE FROM audit_event")
    assert "TRUNCATE on audit_event refused" in guarded("TRUNCATE audit_event")
    assert "UPDATE on audit_chain refused" in guarded("UPDATE audit_chain SET last_seq = 1")
    assert "DELETE on audit_chain refused" in guarded("DELETE FROM audit_chain")
    assert "TRUNCATE on audit_chain refused" in guarded("TRUNCATE audit_chain")
    assert verify().ok


@pytest.mark.postgres
def test_trigger_refuses_changing_an_unsealed_row_beyond_its_seal(app):
    with db.engine.begin() as conn:
        ident = conn.execute(AuditEvent.__table__.insert().values(
            at=func.now(), entity_type="widget", entity_id="1", action="widget.updated")
            .returning(AuditEvent.id)).scalar()

    assert "refused" in guarded("UPDATE audit_event SET action = 'x', seq = 1, "
                                "prev_hash = 'a', row_hash = 'b' WHERE id = :id", id=ident)
    assert "refused" in guarded("DELETE FROM audit_event WHERE id = :id", id=ident)


@pytest.mark.postgres
def test_trigger_allows_scrubbing_changes_only_when_redaction_is_set(app):
    write_events(1)
    first = rows()[0]
    run_sql("UPDATE audit_event SET changes = '{}' WHERE id = :id", redaction=True, id=first.id)
    assert rows()[0].changes == {}

    assert "refused" in guarded("UPDATE audit_event SET action = 'x' WHERE id = :id",
                                redaction=True, id=first.id)
    assert "refused" in guarded("UPDATE audit_event SET row_hash = 'x' WHERE id = :id",
                                redaction=True, id=first.id)
    assert "refused" in guarded("DELETE FROM audit_event WHERE id = :id", redaction=True,
                                id=first.id)
