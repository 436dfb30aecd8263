"""The ``erp demo`` data in a test database: a module imports these fixtures to use it.

The demo is loaded once per module into a template, and each test works on a copy of it (the
load takes seconds): on SQLite a template file copied to the test's file, on PostgreSQL a
template schema whose rows are copied into the test schema before the test's own fixtures (a
signed-in user) add theirs.

    from tests import demo_data
    demo_template, app_config, demo = (demo_data.demo_template, demo_data.app_config,
                                       demo_data.demo)
"""

from __future__ import annotations

import os
import shutil

import pytest
from sqlalchemy import Integer, create_engine

from erp import create_app
from erp.extensions import db
from tests.conftest import BASE_CONFIG, PG_URL, drop_pg_schema, pg_schema_url


def _load_demo(app) -> None:
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def demo_template(_schema, tmp_path_factory):
    """Return a SQLite file holding the demo data, or on PostgreSQL the name of a schema."""
    if PG_URL:
        schema = f"erp_demo_{os.getpid()}"
        app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": pg_schema_url(schema)})
        with app.app_context():
            db.create_all()
            _load_demo(app)
            db.session.remove()
            db.engine.dispose()
        yield schema
        drop_pg_schema(schema)
        return
    folder = tmp_path_factory.mktemp("demo")
    path = folder / "demo.sqlite3"
    shutil.copyfile(_schema, path)
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    app.instance_path = str(folder)
    with app.app_context():
        _load_demo(app)
        db.session.remove()
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.engine.dispose()
    yield path


def _copy_pg_schema(source: str, target_url: str) -> None:
    """Copy every row of the tables in schema ``source`` into the (empty) test schema."""
    # the emptied schema keeps the audit chain's head row (the guard refuses deleting it,
    # but for a superuser's replica role): the template's head replaces it
    statements = ["SET LOCAL session_replication_role = replica", 'DELETE FROM "audit_chain"']
    for table in db.metadata.sorted_tables:  # parents first
        statements.append(f'INSERT INTO "{table.name}" SELECT * FROM "{source}"."{table.name}"')
        if [c.name for c in table.primary_key.columns] == ["id"] \
                and isinstance(table.c.id.type, Integer):
            statements.append(
                f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                f'COALESCE(MAX(id), 0) + 1, false) FROM "{table.name}"')
    engine = create_engine(target_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("; ".join(statements))
    finally:
        engine.dispose()  # a failed copy must not leave a connection to be collected later


@pytest.fixture
def app_config(_schema, demo_template, tmp_path) -> dict:
    """Bind the test's app to a copy of the demo database.

    On PostgreSQL the test schema (emptied after every test) gets the template's rows here,
    before the ``app`` fixture and whatever fixtures build on it.
    """
    if PG_URL:
        _copy_pg_schema(demo_template, _schema)
        return {}
    target = tmp_path / "demo.sqlite3"
    shutil.copyfile(demo_template, target)
    return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{target}"}


@pytest.fixture
def demo(app):
    """The demo data in the test's database (copied from the template by ``app_config``)."""
    db.session.expire_all()
    return app
