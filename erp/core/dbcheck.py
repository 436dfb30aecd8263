"""Where the database schema stands against the Alembic migrations."""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app

from erp.extensions import db


def script_directory() -> ScriptDirectory:
    """Return the Alembic script directory of the app's migrations."""
    migrate = current_app.extensions["migrate"]
    return ScriptDirectory.from_config(migrate.migrate.get_config())


def migration_status() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return ``(current revisions in the database, head revisions in migrations/)``."""
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    return tuple(current), tuple(script_directory().get_heads())
