"""A real server and real signed-in staff for the concurrency suite.

On PostgreSQL the app runs under gunicorn with 4 workers (separate processes, as in
production); on SQLite under werkzeug's threaded server in this process. Either way it serves
the test's own database, so a test builds its data with the services, fires HTTP requests from
several signed-in sessions released together by a barrier, and then checks the database.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from werkzeug.serving import make_server

from tests.fixtures.core import PASSWORD

WORKERS = 4
_CSRF_INPUT = re.compile(r'<input[^>]*name="csrf_token"[^>]*>')
_VALUE = re.compile(r'value="([^"]+)"')


def csrf_token(html: str) -> str | None:
    """Return the CSRF token of the first form in ``html``."""
    tag = _CSRF_INPUT.search(html)
    value = _VALUE.search(tag.group(0)) if tag else None
    return value.group(1) if value else None


@dataclass
class Answer:
    """One HTTP answer, kept for the checks."""

    status: int
    location: str
    body: str


class LiveServer:
    """A running server: ``url`` is its base address."""

    url: str

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class ThreadedServer(LiveServer):
    """werkzeug's threaded server on an app of this process (SQLite)."""

    def __init__(self, app):
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(10)


class GunicornServer(LiveServer):
    """gunicorn with :data:`WORKERS` workers on the database ``url`` (PostgreSQL)."""

    def __init__(self, database_url: str, log_path: Path):
        from bench.suites_load import free_port, start_server
        port = free_port()
        self._proc = start_server(database_url, port, WORKERS, log_path)
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path

    def stop(self) -> None:
        from bench.suites_load import stop_server
        stop_server(self._proc)


@dataclass
class Staff:
    """A signed-in member of staff: their own session cookie and CSRF token."""

    server: LiveServer
    username: str
    session: requests.Session = field(default_factory=requests.Session)
    csrf: str = ""

    def sign_in(self) -> Staff:
        """Sign in through the real login form (with its CSRF token)."""
        page = self.session.get(f"{self.server.url}/login", timeout=30)
        token = csrf_token(page.text)
        data = {"username": self.username, "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        answer = self.session.post(f"{self.server.url}/login", data=data, timeout=30,
                                   allow_redirects=False)
        assert answer.status_code == 302, f"{self.username} could not sign in: {answer.text[:300]}"
        home = self.session.get(f"{self.server.url}/", timeout=30)
        self.csrf = csrf_token(home.text) or ""
        return self

    def post(self, path: str, data: dict, files: dict | None = None) -> Answer:
        """Post a form (with ``files``: a multipart upload) as this person; no redirects."""
        answer = self.session.post(f"{self.server.url}{path}",
                                   data={**data, "csrf_token": self.csrf}, files=files,
                                   timeout=120, allow_redirects=False)
        return Answer(answer.status_code, answer.headers.get("Location", ""), answer.text)


def fire_together(staff: list[Staff], path: str, data: dict,
                  files: dict | None = None) -> list[Answer]:
    """Post the same form (and ``files``) from every member of ``staff`` at once."""
    barrier = threading.Barrier(len(staff), timeout=60)
    answers: list[Answer | BaseException] = [None] * len(staff)  # type: ignore[list-item]

    def run(i: int) -> None:
        try:
            barrier.wait()
            answers[i] = staff[i].post(path, data, files)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(staff))]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    failures = [a for a in answers if isinstance(a, BaseException) or a is None]
    assert not failures, f"requests failed after {time.monotonic() - started:.1f} s: {failures}"
    return answers  # type: ignore[return-value]
