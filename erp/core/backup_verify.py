"""Proving a backup restores: ``erp backup --verify FILE``.

The backup is restored into a scratch database that nobody uses (SQLite: a file in a temporary
directory; PostgreSQL: a new database on the app's server, which needs the CREATEDB privilege),
brought to this release's migration head if it is older, and checked as a restored production
database would be:

- SQLite: ``PRAGMA integrity_check`` (every page and index readable and consistent);
- the checks the caller passes: ``erp backup --verify`` runs the stock ledger's
  (``erp check-ledger``) and the audit trail's hash chain (``erp check-audit``).

The scratch database is dropped afterwards, whatever the outcome. The app's own database is
only read from (for its settings); nothing is written to it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import current_app
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from erp.core import backup, transactions
from erp.core.backup import BackupError

#: lines of ``PRAGMA integrity_check`` reported at most
INTEGRITY_LINES = 20


@dataclass
class CheckResult:
    """One check run on the restored copy: its name, a one-line summary, what it found."""

    name: str
    summary: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the check found nothing wrong."""
        return not self.problems


@dataclass
class VerifyReport:
    """What verifying a backup found; ``ok`` when it restored and every check passed."""

    path: str
    revision: tuple[str, ...] = ()
    upgraded_from: tuple[str, ...] | None = None  # the revision migrated from, if it was behind
    counts: dict[str, int] = field(default_factory=dict)
    integrity: str | None = None  # SQLite only: "ok", or what the check said
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether the backup restored and every check passed."""
        return self.integrity in (None, "ok") and bool(self.checks) \
            and all(check.ok for check in self.checks)


#: the checks run on a restored copy, in the scratch app's context (the CLI passes the ledger
#: and audit-trail checks: they belong to domains above core)
Checks = Callable[[], list[CheckResult]]


def verify_backup(path: str, checks: Checks) -> VerifyReport:
    """Restore backup ``path`` into a scratch database, run ``checks`` on it, drop it.

    :raises BackupError: if the file is not a backup of this app (for this kind of database),
        or cannot be restored at all; a backup that restores but fails a check is reported in
        the returned :class:`VerifyReport`, not raised.
    """
    if not os.path.isfile(path):
        raise BackupError(f"{path} does not exist or is not a file.")
    url = backup.database_url()
    report = VerifyReport(path=path)
    if url.get_backend_name() == "sqlite":
        report.revision = backup.check_sqlite_backup(path)
        scratch = _sqlite_scratch(path, report)
    else:
        backup.check_pg_backup(path, url)
        scratch = _pg_scratch(url, path)
    with scratch as scratch_url:
        if report.integrity not in (None, "ok"):
            return report  # a damaged file: reading it further proves nothing more
        _check(scratch_url, report, checks)
    return report


def _check(url: URL, report: VerifyReport, checks: Checks) -> None:
    """Bring the restored copy at ``url`` to head and run ``checks`` in an app on it."""
    from erp import create_app
    from erp.core.dbcheck import script_directory
    from erp.extensions import db

    config = dict(current_app.config)
    config.update(SQLALCHEMY_DATABASE_URI=url.render_as_string(hide_password=False),
                  ERP_TICKER=False)
    app = create_app(config)
    try:
        with app.app_context(), transactions.intent("read"):
            heads = tuple(sorted(script_directory().get_heads()))
            with db.engine.connect() as conn:
                report.counts, report.revision = backup._contents(conn)
            if report.revision and tuple(sorted(report.revision)) != heads:
                import flask_migrate
                with transactions.intent("write"):
                    flask_migrate.upgrade()
                report.upgraded_from, report.revision = report.revision, heads
            try:
                report.checks = checks()
            except SQLAlchemyError as exc:
                report.checks.append(CheckResult(
                    "restored copy", "a check could not read the restored copy",
                    [str(getattr(exc, "orig", None) or exc)]))
            db.session.remove()
    finally:
        with app.app_context():
            db.engine.dispose()


# --- SQLite -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _sqlite_scratch(path: str, report: VerifyReport) -> Iterator[URL]:
    """Copy backup ``path`` into a temporary file; run its integrity check; yield its URL."""
    directory = tempfile.mkdtemp(prefix="erp-verify-")
    try:
        scratch = os.path.join(directory, "restored.sqlite3")
        source = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro",
                                 uri=True)
        dest = sqlite3.connect(scratch)
        try:
            source.backup(dest)
            rows = dest.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.Error as exc:
            raise BackupError(f"{path} cannot be restored: {exc}") from exc
        finally:
            dest.close()
            source.close()
        lines = [str(row[0]) for row in rows]
        report.integrity = "ok" if lines == ["ok"] else "; ".join(lines[:INTEGRITY_LINES])
        yield URL.create("sqlite", database=scratch)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- PostgreSQL ---------------------------------------------------------------------------------


def _server(url: URL):
    return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextlib.contextmanager
def _pg_scratch(url: URL, path: str) -> Iterator[URL]:
    """Create a scratch database on the app's server, restore ``path`` into it; yield its URL."""
    name = f"erp_verify_{os.getpid()}_{secrets.token_hex(4)}"
    server = _server(url)
    try:
        with server.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except SQLAlchemyError as exc:
        server.dispose()
        raise BackupError(
            f"Could not create the scratch database {name} to restore into (the database user "
            f"needs the CREATEDB privilege): {getattr(exc, 'orig', exc)}") from exc
    scratch = url.set(database=name)
    try:
        conninfo, env, _ = backup.libpq_connection(scratch)
        backup._run([backup._tool("pg_restore"), "--no-owner", "--no-privileges",
                     "--single-transaction", "--exit-on-error", f"--dbname={conninfo}", path],
                    env)
        yield scratch
    finally:
        try:
            with server.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        finally:
            server.dispose()
