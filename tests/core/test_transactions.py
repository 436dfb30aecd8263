"""Transactions isolate on both databases; PostgreSQL requests retry whole.

See :mod:`erp.core.transactions`.
"""

from __future__ import annotations

import sqlite3
import threading

import psycopg
import pytest
from flask import jsonify
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError

from erp.cli import COMMANDS
from erp.core import transactions
from erp.core.models import User
from erp.core.permissions import permission_required
from erp.extensions import db
from tests.conftest import PG_URL

sqlite_only = pytest.mark.skipif(bool(PG_URL), reason="SQLite's locking")


def _other_writer_blocked(app) -> bool:
    """Return whether another connection is kept from SQLite's write lock right now."""
    path = db.engine.url.database
    other = sqlite3.connect(path, timeout=0.2, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        return True
    finally:
        other.close()


@sqlite_only
@pytest.mark.parametrize(("method", "blocked"), [("POST", True), ("DELETE", True),
                                                  ("GET", False), ("HEAD", False)])
def test_write_requests_hold_sqlites_write_lock_from_their_first_read(app, method, blocked):
    with app.test_request_context("/", method=method):
        db.session.execute(select(User.id)).all()  # a read only
        assert _other_writer_blocked(app) is blocked
        db.session.rollback()
        assert _other_writer_blocked(app) is False


@sqlite_only
def test_outside_requests_reads_take_no_lock_unless_the_work_writes(app):
    db.session.execute(select(User.id)).all()
    assert _other_writer_blocked(app) is False
    db.session.rollback()
    with transactions.intent("write"):
        db.session.execute(select(User.id)).all()
        assert _other_writer_blocked(app) is True
        db.session.rollback()
    with app.test_request_context("/", method="POST"), transactions.intent("read"):
        db.session.execute(select(User.id)).all()
        assert _other_writer_blocked(app) is False
        db.session.rollback()


@sqlite_only
def test_a_second_writer_waits_and_then_reads_the_first_ones_change(app, dummy_admin):
    """The race the old driver mode allowed: both read 'active', both write."""
    user_id = dummy_admin.id
    seen = []
    first_has_lock, release = threading.Event(), threading.Event()

    def second():
        with app.app_context(), app.test_request_context("/", method="POST"):
            first_has_lock.wait(10)
            seen.append(db.session.scalar(select(User.full_name).where(User.id == user_id)))
            db.session.rollback()
            db.session.remove()

    thread = threading.Thread(target=second)
    db.session.rollback()  # the fixture's reads began outside any request
    with app.test_request_context("/", method="POST"):
        db.session.scalar(select(User.full_name).where(User.id == user_id))
        thread.start()
        first_has_lock.set()
        db.session.execute(text("UPDATE user SET full_name = 'Changed' WHERE id = :id"),
                           {"id": user_id})
        release.wait(0.3)  # the second is now waiting for the lock, not reading
        assert seen == []
        db.session.commit()
    thread.join(10)
    assert seen == ["Changed"]


def test_every_cli_command_but_the_worker_ticker_and_read_checks_is_a_write_unit_of_work(app):
    seen = {}
    for command in COMMANDS:
        subs = getattr(command, "commands", None)
        for cmd in (subs.values() if subs else [command]):
            seen[cmd.name] = getattr(cmd.callback, "erp_write", False)
    assert seen.pop("worker") is False
    assert seen.pop("ticker") is False  # each periodic task begins its own write transactions
    assert seen.pop("check-audit") is False  # reads only, for long: no write lock held
    assert seen.pop("check-customs") is False  # reads the ledger only, like check-audit
    assert seen
    assert all(seen.values()), seen


def _route(app, rule, view):
    app.add_url_rule(rule, view.__name__, permission_required("core.dashboard")(view),
                     methods=["POST"])


def _serialization_failure() -> OperationalError:
    return OperationalError("UPDATE ...", {}, psycopg.errors.SerializationFailure(
        "could not serialize access due to concurrent update"))


def test_a_request_that_keeps_failing_to_serialize_gets_a_try_again_page(app, client,
                                                                         login_as, monkeypatch):
    monkeypatch.setattr(transactions, "backoff", lambda attempt: 0)
    runs = []

    def always_conflicts():
        runs.append(1)
        raise _serialization_failure()

    _route(app, "/test/conflict", always_conflicts)
    login_as("manager")
    response = client.post("/test/conflict")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "nothing was saved. Try again." in response.get_data(as_text=True)
    assert len(runs) == 1 + transactions.RETRIES
    api = client.post("/test/conflict", headers={"Accept": "application/json"})
    assert api.status_code == 503
    assert "Try again" in api.get_json()["error"]


def test_a_retried_request_that_then_succeeds_answers_normally_and_saves_once(
        app, client, login_as, monkeypatch, dummy_admin):
    monkeypatch.setattr(transactions, "backoff", lambda attempt: 0)
    runs = []

    def conflicts_once():
        runs.append(1)
        user = db.session.get(User, dummy_admin.id)
        user.full_name = f"{user.full_name}+"
        db.session.flush()
        if len(runs) == 1:
            raise _serialization_failure()
        db.session.commit()
        return jsonify(ok=True)

    _route(app, "/test/once", conflicts_once)
    login_as("manager")
    before = dummy_admin.full_name
    assert client.post("/test/once").status_code == 200
    assert len(runs) == 2
    db.session.expire_all()
    assert db.session.get(User, dummy_admin.id).full_name == before + "+"  # the first rolled back


def test_other_database_errors_are_not_retried(app, client, login_as):
    app.config["PROPAGATE_EXCEPTIONS"] = False
    runs = []

    def broken():
        runs.append(1)
        db.session.execute(text("SELECT * FROM no_such_table"))

    _route(app, "/test/broken", broken)
    login_as("manager")
    assert client.post("/test/broken").status_code == 500
    assert runs == [1]


@pytest.mark.postgres
def test_a_real_deadlock_is_retried_and_both_requests_succeed(app, create_user):
    """Two requests lock two rows in opposite orders; PostgreSQL kills one, which runs again."""
    a, b = create_user("row_a", roles=("warehouse",)), create_user("row_b", roles=("warehouse",))
    create_user("mgr", roles=("manager",))
    db.session.commit()
    ids = {"ab": (a.id, b.id), "ba": (b.id, a.id)}
    barrier = threading.Barrier(2, timeout=20)
    runs = []

    def lock_two(order):
        first, second = ids[order]
        runs.append(order)
        db.session.execute(text("SELECT id FROM \"user\" WHERE id = :id FOR UPDATE"),
                           {"id": first})
        if runs.count(order) == 1:
            barrier.wait()  # both hold their first row now
        db.session.execute(text("SELECT id FROM \"user\" WHERE id = :id FOR UPDATE"),
                           {"id": second})
        db.session.commit()
        return jsonify(ok=order)

    app.add_url_rule("/test/lock/<order>", "lock_two",
                     permission_required("core.dashboard")(lock_two), methods=["POST"])
    answers = {}

    def call(order):
        client = app.test_client()
        client.post("/login", data={"username": "mgr", "password": "correct-horse-battery"})
        answers[order] = client.post(f"/test/lock/{order}").status_code

    threads = [threading.Thread(target=call, args=(o,)) for o in ("ab", "ba")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == {"ab": 200, "ba": 200}
    assert len(runs) == 3  # one of them ran twice
