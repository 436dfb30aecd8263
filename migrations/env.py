"""Alembic environment for the erp schema (run through Flask-Migrate: ``erp db upgrade``)."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app

from erp.core.types import ScaledDecimal, UtcDateTime

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def get_engine():
    """Return the app's engine."""
    return target_db.engine


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%"))


def render_item(type_, obj, autogen_context):
    """Render our TypeDecorators as their storage types, so revisions import nothing of ours."""
    if type_ == "type" and isinstance(obj, ScaledDecimal):
        return "sa.BigInteger()"
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime()"
    return False


def run_migrations_offline():
    """Emit SQL for the migrations without a connection."""
    context.configure(url=config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_db.metadata, literal_binds=True,
                      render_item=render_item)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    """Run the migrations on the app's database."""

    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args["render_item"] = render_item
    with get_engine().connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # A batch migration rebuilds a SQLite table (copy, drop, rename): with foreign keys
            # on, dropping a table other tables reference fails. They are switched off for the
            # migration (outside a transaction, where SQLite honours it), and every reference
            # is checked before the migration commits.
            connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=connection, target_metadata=target_db.metadata,
                          **conf_args)
        try:
            with context.begin_transaction():
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken[:10]}")
        finally:
            if sqlite:
                connection.connection.dbapi_connection.execute("PRAGMA foreign_keys=ON")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
