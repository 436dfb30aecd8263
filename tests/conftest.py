"""Test fixtures: an app on a fresh database per test, a client, a CLI runner, role logins.

On SQLite (default) each test gets its own database file, copied from a template built once with
``create_all()``. On PostgreSQL (``ERP_TEST_DATABASE_URL``) the schema is built once per session
and every table is truncated after each test; commits are real on both, so rollback and
all-or-nothing behaviour is really tested, and concurrency tests can use several connections.
"""

from __future__ import annotations

import os
import shutil

import pytest
from flask import g, request_started
from sqlalchemy import create_engine, text

from erp import create_app
from erp.core.auditchain import HEAD_ROW
from erp.extensions import db

pytest_plugins = [
    "tests.fixtures.core",
    "tests.fixtures.brands",
    "tests.fixtures.catalog",
    "tests.fixtures.warehouse",
    "tests.fixtures.procurement",
    "tests.fixtures.quality",
    "tests.fixtures.orders",
    "tests.fixtures.shipping",
    "tests.fixtures.aftersales",
    "tests.fixtures.scorecard",  # the supplier scorecard's hand-built history
    "tests.concurrency_helpers",  # the people fixture of the service-level races
]

PG_URL = os.environ.get("ERP_TEST_DATABASE_URL") or None
BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-not-for-production",
    "WTF_CSRF_ENABLED": False,
    # Still scrypt, at a cost that keeps the suite fast.
    "ERP_PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    "ERP_BASE_CURRENCY": "USD",
    # Staff of every role sign in with a password alone, as CSRF is off above: the roles'
    # two-factor rule is switched on by the tests of two-factor sign-in (tests/core/
    # test_two_factor.py). Users who did enrol still give a code (the login fixture does).
    "ERP_TWO_FACTOR_REQUIRED": False,
}


def pytest_report_header(config):
    """Say which database the suite runs on."""
    return f"erp test database: {'postgresql' if PG_URL else 'sqlite'}"


def pytest_collection_modifyitems(config, items):
    """Skip ``@pytest.mark.postgres`` tests on SQLite (CI runs them on PostgreSQL)."""
    if PG_URL:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set ERP_TEST_DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pg_schema_url(schema: str) -> str:
    """Return ``PG_URL`` with its search path set to ``schema`` (created if missing).

    Each test run works in a schema of its own, so runs side by side on one database (several
    developers, or a benchmark during the tests) never see each other's rows.
    """
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


def drop_pg_schema(schema: str) -> None:
    """Drop a schema made by :func:`pg_schema_url`."""
    engine = create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def _schema(tmp_path_factory):
    """Build the schema once: a template SQLite file, or the PostgreSQL tables."""
    if PG_URL:
        schema = f"erp_test_{os.getpid()}"
        url = pg_schema_url(schema)
        app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            db.create_all()
            db.engine.dispose()
        yield url
        drop_pg_schema(schema)
        return
    path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    yield path


def _empty_all_tables() -> None:
    # DELETE, children first: on tables of a few rows it is far cheaper than TRUNCATE, which
    # takes exclusive locks and rewrites files for every table on every test.
    # On PostgreSQL all the DELETEs go in one round trip (a simple-query batch).
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # the audit trail's guard refuses DELETE; a superuser's replica role skips triggers
            conn.exec_driver_sql("; ".join(
                ["SET LOCAL session_replication_role = replica",
                 *(f'DELETE FROM "{name}"' for name in tables),
                 HEAD_ROW]))
        else:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            conn.exec_driver_sql(HEAD_ROW)


@pytest.fixture
def app_config() -> dict:
    """Return extra config for the ``app`` fixture (override in a module to change it)."""
    return {}


@pytest.fixture
def app(_schema, tmp_path, app_config):
    """Return an app bound to a fresh database, with an app context pushed."""
    if PG_URL:
        url = _schema
    else:
        target = tmp_path / "erp.sqlite3"
        shutil.copyfile(_schema, target)
        url = f"sqlite:///{target}"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url,
                      **app_config})
    app.instance_path = str(tmp_path)

    def forget_cached_user(sender, **extra):
        # The test's app context is shared by its requests, so Flask-Login's per-request cache
        # of the user would leak between requests (and clients): load it from the cookie, as
        # production does.
        g.pop("_login_user", None)
        # the same for Flask-WTF's per-request copy of the CSRF token: signing in clears the
        # session (a new session id), so the next page must draw a token of the new session
        g.pop(app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), None)

    request_started.connect(forget_cached_user, app)
    with app.app_context():
        yield app
        db.session.remove()
        if PG_URL:
            _empty_all_tables()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Return a CLI runner for ``erp`` commands."""
    return app.test_cli_runner()
