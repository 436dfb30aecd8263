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
from sqlalchemy import text

from erp import create_app
from erp.extensions import db

pytest_plugins = ["tests.fixtures.core"]

PG_URL = os.environ.get("ERP_TEST_DATABASE_URL") or None
BASE_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key-not-for-production",
    "WTF_CSRF_ENABLED": False,
    # Still scrypt, at a cost that keeps the suite fast.
    "ERP_PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
    "ERP_BASE_CURRENCY": "USD",
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


@pytest.fixture(scope="session")
def _schema(tmp_path_factory):
    """Build the schema once: a template SQLite file, or the PostgreSQL tables."""
    if PG_URL:
        app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": PG_URL})
        with app.app_context():
            db.drop_all()
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            db.create_all()
            db.engine.dispose()
        return PG_URL
    path = tmp_path_factory.mktemp("schema") / "template.sqlite3"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        db.create_all()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    return path


def _truncate_all() -> None:
    preparer = db.engine.dialect.identifier_preparer
    names = ", ".join(preparer.quote(t.name) for t in db.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture
def app_config() -> dict:
    """Return extra config for the ``app`` fixture (override in a module to change it)."""
    return {}


@pytest.fixture
def app(_schema, tmp_path, app_config):
    """Return an app bound to a fresh database, with an app context pushed."""
    if PG_URL:
        url = PG_URL
    else:
        target = tmp_path / "erp.sqlite3"
        shutil.copyfile(_schema, target)
        url = f"sqlite:///{target}"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url,
                      **app_config})
    app.instance_path = str(tmp_path)
    with app.app_context():
        yield app
        db.session.remove()
        if PG_URL:
            _truncate_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """Return a test client."""
    return app.test_client()


@pytest.fixture
def runner(app):
    """Return a CLI runner for ``erp`` commands."""
    return app.test_cli_runner()
