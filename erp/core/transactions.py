"""Transactions that isolate on both databases, and whole-request retries on PostgreSQL.

**SQLite.** The pysqlite driver opens a transaction only at the first INSERT/UPDATE/DELETE, so
the reads a service checks a limit against run outside any transaction and ``FOR UPDATE`` means
nothing there. As SQLAlchemy's pysqlite documentation ("Serializable isolation / Savepoints /
Transactional DDL") describes, units of work that will write take transactions out of the
driver's hands (``isolation_level = None``) and emit ``BEGIN IMMEDIATE`` themselves: requests
with an unsafe method (POST, PUT, PATCH, DELETE) and ``erp`` CLI commands. A second writer then
waits (``busy_timeout``) for the first to commit and reads current figures, instead of reading
stale ones.

Everything else (GET requests, background jobs, scripts) keeps the driver's deferred mode: it
takes no lock for its reads, so readers never queue behind writers (WAL mode), and it never
holds a read snapshot that a later write could not upgrade. :func:`intent` sets the choice for
a block.

**PostgreSQL.** Row locks (:mod:`erp.core.locking`) serialise writers; a request that still meets
a serialization failure, a deadlock or a unique key taken meanwhile (SQLSTATE 40001 / 40P01 /
23505) is rolled back and run again whole, at most :data:`RETRIES` times with jittered
back-off, and then answered with a "try again" page (503), never a 500. A request that waited
too long for SQLite's write lock gets the same page.

**A lost database connection** (PostgreSQL restarted, its backend killed): the pool checks a
connection before lending it (``pool_pre_ping``), so only a request that held one as the
server went away meets the loss. It is rolled back and run again, at most
:data:`DISCONNECT_RETRIES` times, unless the loss came during its COMMIT (whether that commit
took is unknown: running it again could act twice); then, or while the server stays away, it
is answered 503 "the database cannot be reached" with ``Retry-After``, never a 500.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import random
import time
from collections.abc import Iterator

from flask import Flask, has_request_context, jsonify, render_template, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

#: times a request is run again after a serialization failure or deadlock
RETRIES = 3
#: SQLSTATEs after which the whole unit of work may simply be run again: a serialization
#: failure, a deadlock, and a unique key another request took between this one's check and its
#: insert (run again, the check sees the row and answers as it would have: "already exists",
#: or an identical order re-posted)
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23505"})
#: milliseconds SQLite waits for another writer's lock before giving up
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: times a request that lost its database connection is run again (with a short pause)
DISCONNECT_RETRIES = 2
#: SQLSTATEs of a server that went away or cannot be reached: shutdown, crash, connection lost
DISCONNECT_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "08000", "08001", "08003",
                                  "08004", "08006"})

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_intent: contextvars.ContextVar[str | None] = contextvars.ContextVar("erp_tx_intent",
                                                                     default=None)
#: whether a connection was lost while its COMMIT was out (the outcome is unknown)
_lost_in_commit: contextvars.ContextVar[bool] = contextvars.ContextVar("erp_tx_lost_in_commit",
                                                                       default=False)


@contextlib.contextmanager
def intent(kind: str) -> Iterator[None]:
    """Begin the transactions of this block for ``kind`` ("write" or "read") work on SQLite."""
    if kind not in ("write", "read"):
        raise ValueError(f"intent must be 'write' or 'read', not {kind!r}")
    token = _intent.set(kind)
    try:
        yield
    finally:
        _intent.reset(token)


def set_intent(kind: str | None) -> None:
    """Set the intent for the rest of this context (a CLI command); ``None`` to go by request."""
    _intent.set(kind)


def writes() -> bool:
    """Return whether a transaction begun now should take SQLite's write lock at once."""
    kind = _intent.get()
    if kind is not None:
        return kind == "write"
    return has_request_context() and request.method not in SAFE_METHODS


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, connection_record):
    """SQLite: foreign keys and WAL on, every commit on disk, a writer's wait bounded.

    ``synchronous=FULL`` in WAL mode makes SQLite sync the write-ahead log to disk at every
    commit, before the commit returns, so a write the app has acknowledged survives a power
    cut or a kernel crash as well as a killed process. ``NORMAL``, SQLite's advice for WAL,
    syncs only at checkpoints: the file cannot be corrupted, but the last commits before a
    power cut roll back, so an order the storefront was told is stored, or a scan a picker
    saw confirmed, could be gone after the power returns. The embedded default is the one
    installation with no database server keeping its own log, so it keeps every commit. The
    price is one disk sync per commit (about 0.3 ms on the SSD measured here; more on
    rotating disks or network storage), paid by a request-per-scan station such as the
    single-item lane on every scan.

    An app built with the config key ``ERP_SQLITE_SYNCHRONOUS`` (FULL, EXTRA or NORMAL; not an
    environment variable) gets that level instead (:func:`init_app`): a throw-away database
    where a commit lost to a power cut costs nothing. The test suite keeps FULL (the cost was
    not measurable among its run times).
    """
    if not type(dbapi_connection).__module__.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


@event.listens_for(Engine, "commit")
def _commit_sent(conn):
    """Mark the connection as sending a COMMIT: lost now, its outcome is unknown."""
    info = _info(conn)
    if info is not None:
        info[_COMMIT_OUT] = True


@event.listens_for(Engine, "handle_error")
def _connection_lost(context):
    """Note a connection lost while its COMMIT was out."""
    if context.is_disconnect and context.connection is not None:
        info = _info(context.connection)
        if info is not None and info.get(_COMMIT_OUT):
            _lost_in_commit.set(True)


_COMMIT_OUT = "erp_commit_out"


def _info(conn) -> dict | None:
    """Return the pooled connection's own ``info`` (``None`` once it is gone)."""
    fairy = getattr(conn, "_dbapi_connection", None)
    try:
        return fairy.info if fairy is not None else None
    except Exception:  # noqa: BLE001 - an invalidated connection has no record any more
        return None


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    """SQLite: BEGIN IMMEDIATE for write work; the driver's deferred mode for the rest."""
    info = _info(conn)
    if info is not None and info.get(_COMMIT_OUT):
        info[_COMMIT_OUT] = False  # the last COMMIT on this connection went through
    if conn.dialect.name != "sqlite":
        return
    dbapi_connection = conn.connection.dbapi_connection
    # Not in a transaction here (SQLAlchemy begins before the first statement), so switching
    # the driver's mode commits nothing; it is switched only when it differs (not free).
    if writes():
        if dbapi_connection.isolation_level is not None:
            dbapi_connection.isolation_level = None
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    elif dbapi_connection.isolation_level != "":
        dbapi_connection.isolation_level = ""  # pysqlite's default: BEGIN at the first write


def sqlstate(err: BaseException) -> str | None:
    """Return the SQLSTATE of a database error, where the driver gives one."""
    orig = getattr(err, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_retryable(err: BaseException) -> bool:
    """Return whether ``err`` is a serialization failure or deadlock: run the work again."""
    return isinstance(err, DBAPIError) and sqlstate(err) in RETRYABLE_SQLSTATES


def is_busy(err: BaseException) -> bool:
    """Return whether ``err`` is SQLite giving up on another writer's lock."""
    return isinstance(err, DBAPIError) and "database is locked" in str(getattr(err, "orig", ""))


def is_disconnect(err: BaseException) -> bool:
    """Return whether ``err`` is PostgreSQL gone away: a connection lost, or none to be had."""
    if not isinstance(err, DBAPIError):
        return False
    if err.connection_invalidated:
        return True
    orig = getattr(err, "orig", None)
    if not type(orig).__module__.startswith("psycopg"):
        return False  # SQLite: no server to lose
    return isinstance(err, OperationalError) and (sqlstate(err) is None
                                                  or sqlstate(err) in DISCONNECT_SQLSTATES)


def backoff(attempt: int) -> float:
    """Return the seconds to wait before attempt ``attempt + 1``: jittered, growing."""
    return random.uniform(0.5, 1.5) * 0.05 * (2 ** (attempt - 1))


def try_again_response():
    """Answer a request whose unit of work could not get through: 503 with Retry-After."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        # read by programs (the storefront): English, whatever the caller's language
        response = jsonify(error="Several people changed the same records at this moment, so "
                                 "nothing was saved. Try again.")
    else:
        from erp.core.i18n import _
        response = render_template(
            "errors/error.html", code=503, title=_("Try again"),
            message=_("Several people changed the same records at this moment, so nothing "
                      "was saved. Try again."))
    from flask import make_response
    response = make_response(response)
    response.status_code = 503
    response.headers["Retry-After"] = "1"
    return response


def unavailable_response():
    """Answer a request that found no database connection: 503 with Retry-After."""
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        response = jsonify(error="The database cannot be reached at this moment. Try again in "
                                 "a few seconds.")
    else:
        from erp.core.i18n import _
        from erp.core.web import error_page
        response = error_page(503, _("Try again"), _(
            "The database cannot be reached at this moment. Try again in a few seconds."))
    from flask import make_response
    response = make_response(response)
    response.status_code = 503
    response.headers["Retry-After"] = "2"
    return response


class RetryingFlask(Flask):
    """A Flask app that runs a request again when the database asks for it (PostgreSQL)."""

    def full_dispatch_request(self):
        """Dispatch the request; on a serialization failure or deadlock roll back and retry."""
        from erp.extensions import db
        attempt = lost = 0
        while True:
            attempt += 1
            _lost_in_commit.set(False)
            try:
                return super().full_dispatch_request()
            except DBAPIError as err:
                committing = _lost_in_commit.get()
                db.session.rollback()
                if is_disconnect(err):
                    lost += 1
                    if committing or lost > DISCONNECT_RETRIES:
                        log.warning("Request %s %s lost its database connection%s; answered "
                                    "'unavailable'", request.method, request.path,
                                    " during its commit" if committing else "")
                        return self.finalize_request(unavailable_response())
                    log.warning("Request %s %s lost its database connection; running it again",
                                request.method, request.path)
                    time.sleep(0.1 * 4 ** (lost - 1))
                    continue
                if is_busy(err):
                    log.warning("Request %s %s gave up waiting for the database's write lock",
                                request.method, request.path)
                    return self.finalize_request(try_again_response())
                if not is_retryable(err):
                    raise
                if attempt > RETRIES:
                    log.warning("Request %s %s failed %d times on %s; answered 'try again'",
                                request.method, request.path, attempt, sqlstate(err))
                    return self.finalize_request(try_again_response())
                log.info("Request %s %s met %s; running it again (attempt %d)",
                         request.method, request.path, sqlstate(err), attempt + 1)
                time.sleep(backoff(attempt))


def init_app(app: Flask) -> None:
    """Apply ``ERP_SQLITE_SYNCHRONOUS`` (default FULL) to the app's SQLite engines.

    The connect hook above sets FULL on every SQLite connection; an app configured with
    another level gets a hook of its own engine that runs after it and sets that level.
    Call after ``db.init_app(app)``.
    """
    from erp.extensions import db

    app.extensions["erp_transactions"] = True
    level = str(app.config.get("ERP_SQLITE_SYNCHRONOUS") or "FULL").upper()
    if level == "FULL":  # erp.config.validate refused any level but FULL, EXTRA and NORMAL
        return
    with app.app_context():
        engines = list(db.engines.values())
    for engine in engines:
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", functools.partial(_sqlite_synchronous, level))


def _sqlite_synchronous(level: str, dbapi_connection, connection_record) -> None:
    """Set SQLite's ``synchronous`` level of a new connection (after :func:`_sqlite_connect`)."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        dbapi_connection.execute(f"PRAGMA synchronous={level}")
