"""Backups of the whole database, and restoring one over it (``erp backup`` / ``erp restore``).

SQLite is copied page by page with SQLite's online backup API, so a backup can be taken while
the app serves requests, and a restore writes into the live file under SQLite's own locks
(never a file copy over an open database). PostgreSQL goes through ``pg_dump --format=custom``
and ``pg_restore --single-transaction``, run with the app's connection settings; the password
travels in ``PGPASSWORD``, never on a command line another user could read.

Before anything is overwritten the file is checked to be a backup of this app: it must hold
the core tables, and its migration revision (when it has one) must be one this code knows.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

from flask import current_app
from sqlalchemy import Column, MetaData, String, Table, create_engine, func, inspect, select, table
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from erp.core import audit
from erp.extensions import db

log = logging.getLogger(__name__)

#: tables every database of this app has since its first migration
CORE_TABLES = frozenset({"user", "user_role", "audit_event", "sequence", "setting"})
#: tables whose row counts a backup reports
COUNTED_TABLES = ("stock_move", "customer_order")
SQLITE_HEADER = b"SQLite format 3\x00"


class BackupError(RuntimeError):
    """A backup or restore could not be made; the message says why and what to do."""


@dataclass
class BackupResult:
    """What a backup or restore produced: the file, its size and row counts."""

    path: str
    size: int
    counts: dict[str, int] = field(default_factory=dict)
    revision: tuple[str, ...] = ()

    def describe_counts(self) -> str:
        """Return ``"12 stock moves, 3 orders"``."""
        names = {"stock_move": "stock moves", "customer_order": "orders"}
        return ", ".join(f"{self.counts.get(t, 0)} {names.get(t, t)}" for t in COUNTED_TABLES)


def _alembic_version(metadata: MetaData) -> Table:
    return Table("alembic_version", metadata, Column("version_num", String(32)))


def _contents(conn: Connection) -> tuple[dict[str, int], tuple[str, ...]]:
    """Return the row counts of :data:`COUNTED_TABLES` and the migration revisions."""
    names = set(inspect(conn).get_table_names())
    counts = {name: conn.scalar(select(func.count()).select_from(table(name))) or 0
              for name in COUNTED_TABLES if name in names}
    revision = tuple(conn.scalars(select(_alembic_version(MetaData()).c.version_num))) \
        if "alembic_version" in names else ()
    return counts, revision


def _known_revisions() -> set[str]:
    from erp.core.dbcheck import script_directory
    return {rev.revision for rev in script_directory().walk_revisions()}


def _check_revisions(revisions: tuple[str, ...], path: str) -> None:
    unknown = set(revisions) - _known_revisions()
    if unknown:
        raise BackupError(
            f"{path} is at migration revision {', '.join(sorted(unknown))}, which this version "
            "of the app does not know (a newer release, or another app): restore it with the "
            "release that made it.")


def database_url() -> URL:
    """Return the app's database URL."""
    return make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])


def default_backup_path(now: datetime | None = None) -> str:
    """Return ``instance/backups/erp-YYYYmmdd-HHMMSS.sqlite3`` (``.dump`` on PostgreSQL)."""
    now = now or datetime.now(UTC)
    ext = ".sqlite3" if database_url().get_backend_name() == "sqlite" else ".dump"
    return os.path.join(current_app.instance_path, "backups",
                        f"erp-{now:%Y%m%d-%H%M%S}{ext}")


def _private_file(path: str) -> None:
    """Create an empty file only the owner can read (backups hold password hashes)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)


def _audit(action: str, path: str, result: BackupResult) -> None:
    audit.record_many("database", action, [(
        os.path.basename(path)[:64], None,
        {"file": os.path.abspath(path), "size": result.size, "counts": result.counts,
         "revision": list(result.revision)})], actor=None)


def backup_database(out: str | None = None) -> BackupResult:
    """Write a backup of the app's database to ``out`` (default :func:`default_backup_path`).

    Adds a ``database.backed_up`` audit event to the session (the caller commits).

    :raises BackupError: if ``out`` exists, the database is in memory, or the tool failed.
    """
    out = out or default_backup_path()
    if os.path.exists(out):
        raise BackupError(f"{out} already exists: choose another --out file.")
    url = database_url()
    partial = out + ".partial"
    if os.path.exists(partial):
        os.unlink(partial)
    _private_file(partial)
    try:
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(url, partial)
            counts, revision = _sqlite_contents(partial)
        else:
            counts, revision = _pg_backup(url, partial)
        os.replace(partial, out)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    result = BackupResult(out, os.path.getsize(out), counts, revision)
    _audit("database.backed_up", out, result)
    log.info("database backed up to %s (%d bytes; %s)", out, result.size,
             result.describe_counts())
    return result


def restore_database(path: str) -> BackupResult:
    """Replace the app's database with the backup in ``path``.

    The file is checked first (a backup of this app, of this database kind); then every
    connection of the app is closed and the data is written. Adds a ``database.restored``
    audit event to the restored database's session (the caller commits).

    :raises BackupError: if the file is not a backup of this app, or the restore failed (on
        PostgreSQL the restore is one transaction, so the database is then unchanged).
    """
    if not os.path.isfile(path):
        raise BackupError(f"{path} does not exist or is not a file.")
    url = database_url()
    if url.get_backend_name() == "sqlite":
        check_sqlite_backup(path)
    else:
        check_pg_backup(path, url)
    db.session.remove()
    db.engine.dispose()
    if url.get_backend_name() == "sqlite":
        _sqlite_restore(url, path)
    else:
        _pg_restore(url, path)
    db.engine.dispose()
    with db.engine.connect() as conn:
        counts, revision = _contents(conn)
    result = BackupResult(path, os.path.getsize(path), counts, revision)
    _audit("database.restored", path, result)
    log.info("database restored from %s (%s)", path, result.describe_counts())
    return result


# --- SQLite -------------------------------------------------------------------------------------


def _sqlite_file(url: URL) -> str:
    name = url.database
    if not name or name == ":memory:" or name.startswith("file::memory:"):
        raise BackupError("The database is in memory: there is no file to back up or restore.")
    return name


def _sqlite_backup(url: URL, target: str) -> None:
    path = _sqlite_file(url)
    if not os.path.isfile(path):
        raise BackupError(f"The database file {path} does not exist: nothing to back up.")
    source = sqlite3.connect(path, timeout=30)
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
        # one self-contained file (no -wal/-shm beside it), readable without writing
        dest.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from exc
    finally:
        dest.close()
        source.close()


class _ReadOnlyConnection(sqlite3.Connection):
    """A read-only connection to a backup file.

    Its own class, so the app's connect hook (which turns on WAL, a write) leaves it alone.
    """


def _readonly_engine(path: str):
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    return create_engine("sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(
        uri, uri=True, factory=_ReadOnlyConnection))


def _sqlite_contents(path: str) -> tuple[dict[str, int], tuple[str, ...]]:
    """Return the row counts and the migration revisions held in SQLite file ``path``."""
    engine = _readonly_engine(path)
    try:
        with engine.connect() as conn:
            return _contents(conn)
    finally:
        engine.dispose()


def check_sqlite_backup(path: str) -> tuple[str, ...]:
    """Check that ``path`` is an SQLite database of this app; return its migration revisions.

    :raises BackupError: naming what is wrong with the file.
    """
    with open(path, "rb") as fh:
        if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
            raise BackupError(f"{path} is not an SQLite database: nothing was restored.")
    engine = _readonly_engine(path)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            missing = CORE_TABLES - names
            if missing:
                raise BackupError(
                    f"{path} is an SQLite database but not one of this app (it has no "
                    f"{', '.join(sorted(missing))} table): nothing was restored.")
            revision = tuple(conn.scalars(select(_alembic_version(MetaData()).c.version_num))) \
                if "alembic_version" in names else ()
    except (sqlite3.Error, SQLAlchemyError) as exc:
        raise BackupError(f"{path} cannot be read as an SQLite database: {exc}") from exc
    finally:
        engine.dispose()
    _check_revisions(revision, path)
    return revision


def _sqlite_restore(url: URL, path: str) -> None:
    target = _sqlite_file(url)
    source = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True)
    dest = sqlite3.connect(target, timeout=30)
    try:
        source.backup(dest)
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite restore failed: {exc}") from exc
    finally:
        dest.close()
        source.close()


# --- PostgreSQL ---------------------------------------------------------------------------------

_SEARCH_PATH = re.compile(r"-c\s*search_path\s*=\s*(\S+)")


def libpq_connection(url: URL) -> tuple[str, dict[str, str], list[str]]:
    """Return ``(conninfo URI without the password, environment, schemas)`` for libpq tools.

    The driver suffix (``+psycopg``) is dropped and the password goes into ``PGPASSWORD``.
    Query parameters such as ``options=-csearch_path=...`` are kept; the schemas named in such
    a search path (other than ``public``) are returned, so a dump covers just those schemas.
    """
    env: dict[str, str] = {}
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                       database=url.database, query=url.query)
    conninfo = plain.render_as_string(hide_password=False)
    schemas: list[str] = []
    options = url.query.get("options")
    for value in (options if isinstance(options, tuple) else (options,)):
        for match in _SEARCH_PATH.finditer(value or ""):
            for name in match.group(1).split(","):
                name = name.strip().strip('"')
                if name and name not in ("$user", "public", "pg_catalog") \
                        and name not in schemas:
                    schemas.append(name)
    return conninfo, env, schemas


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(
            f"{name} was not found on the PATH: install the PostgreSQL client tools of the "
            "server's major version (e.g. apt install postgresql-client).")
    return path


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a PostgreSQL client tool; raise :class:`BackupError` with its stderr on failure."""
    result = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        tool = os.path.basename(args[0])
        raise BackupError(f"{tool} failed (exit {result.returncode}): "
                          f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def _pg_backup(url: URL, target: str) -> tuple[dict[str, int], tuple[str, ...]]:
    pg_dump = _tool("pg_dump")
    conninfo, env, schemas = libpq_connection(url)
    # Count and dump the same snapshot: the counts printed are the dump's exactly.
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            snapshot = conn.scalar(select(func.pg_export_snapshot()))
            counts, revision = _contents(conn)
            _run([pg_dump, "--format=custom", "--no-owner", "--no-privileges",
                  f"--snapshot={snapshot}", f"--file={target}",
                  *[f"--schema={s}" for s in schemas], f"--dbname={conninfo}"], env)
    return counts, revision


_LIST_TABLE = re.compile(r"^\d+;\s+\d+\s+\d+\s+TABLE\s+(\S+)\s+(\S+)\s", re.M)


def check_pg_backup(path: str, url: URL) -> None:
    """Check that ``path`` is a ``pg_dump`` archive of this app for the database at ``url``.

    :raises BackupError: naming what is wrong with the file.
    """
    pg_restore = _tool("pg_restore")
    with open(path, "rb") as fh:
        if fh.read(5) != b"PGDMP":
            raise BackupError(f"{path} is not a pg_dump archive (--format=custom): "
                              "nothing was restored.")
    listing = _run([pg_restore, "--list", path], {}).stdout
    tables = {(schema, name) for schema, name in _LIST_TABLE.findall(listing)}
    names = {name for _, name in tables}
    missing = CORE_TABLES - names
    if missing:
        raise BackupError(
            f"{path} is a pg_dump archive but not one of this app (it has no "
            f"{', '.join(sorted(missing))} table): nothing was restored.")
    _, _, schemas = libpq_connection(url)
    expected = schemas[0] if schemas else "public"
    found = sorted({schema for schema, name in tables if name in CORE_TABLES})
    if found != [expected]:
        raise BackupError(
            f"{path} holds the app's tables in schema {', '.join(found)}, but this database "
            f"uses schema {expected}: nothing was restored.")
    if "alembic_version" in names:
        # the revision rows, as the COPY data pg_restore would load
        data = _run([pg_restore, "--data-only", f"--schema={expected}",
                     "--table=alembic_version", "--file=-", path], {}).stdout
        copy = re.search(r"^COPY [^\n]*alembic_version[^\n]*FROM stdin;\n(.*?)^\\\.$", data,
                         re.M | re.S)
        revision = tuple(copy.group(1).split()) if copy else ()
        _check_revisions(revision, path)


def _pg_restore(url: URL, path: str) -> None:
    pg_restore = _tool("pg_restore")
    conninfo, env, _ = libpq_connection(url)
    _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--no-privileges",
          "--single-transaction", f"--dbname={conninfo}", path], env)
