"""The Alembic migrations produce exactly the models' schema, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os

import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from erp import create_app
from erp.extensions import db
from tests.conftest import BASE_CONFIG, PG_URL, drop_pg_schema, pg_schema_url

SCHEMA = f"erp_migration_test_{os.getpid()}"


def _diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": False})
        return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_gives_models_schema(tmp_path):
    if PG_URL:
        url = pg_schema_url(SCHEMA)
    else:
        url = f"sqlite:///{tmp_path}/migrated.sqlite3"
    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    try:
        with app.app_context():
            flask_migrate.upgrade()
            from erp.core.dbcheck import migration_status
            current, heads = migration_status()
            assert set(current) == set(heads)
        assert _diff(app) == []
    finally:
        with app.app_context():
            db.engine.dispose()
        if PG_URL:
            drop_pg_schema(SCHEMA)


def test_erp_check_reports_missing_migrations(runner):
    result = runner.invoke(args=["check"])
    # The test database is built with create_all(), so it has no alembic_version row.
    assert result.exit_code == 1
    assert "erp db upgrade" in result.output
