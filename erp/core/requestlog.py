"""Request ids and one structured log line per request (logger ``erp.request``).

Each request gets an id: the incoming ``X-Request-ID`` when it is 1-64 characters of
``[A-Za-z0-9._-]`` (so a proxy's id follows the request through), else a new uuid4 hex. The id is
kept on ``flask.g.request_id``, returned in the ``X-Request-ID`` response header, and added to
every log record made during the request (:class:`RequestIdFilter`), so an exception Flask logs
carries it too.

The line per request holds ``ts`` (UTC, ISO 8601), ``request_id``, ``method``, ``path`` (never the
query string: it may hold personal data), ``endpoint``, ``status``, ``duration_ms``, ``user_id``
and ``remote_addr``. ``ERP_LOG_FORMAT`` chooses JSON lines (default unless debugging) or text.
Messages (and the path) have their control characters escaped
(:func:`erp.core.audit.escape_control`): text a user typed cannot start a forged log line.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler

from erp.core.audit import escape_control

log = logging.getLogger("erp.request")

_VALID_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
#: the fields of a request line, in order
FIELDS = ("ts", "request_id", "method", "path", "endpoint", "status", "duration_ms", "user_id",
          "remote_addr")


def request_id_from(header: str | None) -> str:
    """Return ``header`` when it is an acceptable request id, else a new uuid4 hex."""
    if header and _VALID_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` (the current request's, or ``None``) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set ``record.request_id``; never drops a record."""
        if not hasattr(record, "request_id"):
            record.request_id = g.get("request_id") if has_request_context() else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the request fields when present, else the message."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line."""
        fields = getattr(record, "request_fields", None)
        if fields:
            data = dict(fields)
        else:
            data = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(
                        timespec="milliseconds"),
                    "level": record.levelname, "logger": record.name,
                    "request_id": getattr(record, "request_id", None),
                    "message": escape_control(record.getMessage())}
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines with the request id in brackets, for reading in a terminal."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one text line (plus a traceback if any)."""
        if not hasattr(record, "request_id"):
            record.request_id = None
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 - logging's name
        """Return the line, its message's control characters escaped: it cannot forge lines."""
        record.message = escape_control(record.message)
        return super().formatMessage(record)


def _configure_handler(app: Flask) -> None:
    """Send the ``erp`` loggers to stderr in the chosen format (once per process).

    Flask's default handler on the app's logger is replaced. Nothing is installed when logging
    was configured elsewhere (root has handlers, e.g. pytest or gunicorn's ``--log-config``) or
    under test: records then propagate, as ever, to whoever listens.
    """
    logger = logging.getLogger("erp")
    if app.testing or logging.getLogger().handlers:
        return
    if any(getattr(h, "_erp_handler", False) for h in logger.handlers):
        return
    fmt = app.config.get("ERP_LOG_FORMAT") or ("text" if app.debug else "json")
    handler = logging.StreamHandler()
    handler._erp_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    logger.removeHandler(default_handler)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.DEBUG if app.debug else logging.INFO)


def _user_id() -> int | None:
    # Flask-Login's per-request cache: no database query just to log (none if never loaded)
    user = g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "id", None)


def init_app(app: Flask) -> None:
    """Give every request an id, and log one line per request (static files excepted)."""
    for name in ("erp", "erp.request"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RequestIdFilter) for f in logger.filters):
            logger.addFilter(RequestIdFilter())
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    _configure_handler(app)

    @app.before_request
    def _start_request():
        g.request_id = request_id_from(request.headers.get("X-Request-ID"))
        g.request_started = time.perf_counter()

    @app.after_request
    def _log_request(response):
        request_id = g.get("request_id") or request_id_from(None)
        response.headers["X-Request-ID"] = request_id
        if request.endpoint == "static":
            return response
        started = g.get("request_started")
        fields = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": request_id,
            "method": request.method,
            "path": escape_control(request.path),  # decoded: %0A would be a line feed
            "endpoint": request.endpoint,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1)
            if started is not None else None,
            "user_id": _user_id(),
            "remote_addr": request.remote_addr,
        }
        log.info("%s %s %s %.1f ms", fields["method"], fields["path"], fields["status"],
                 fields["duration_ms"] or 0.0, extra={"request_fields": fields})
        return response
