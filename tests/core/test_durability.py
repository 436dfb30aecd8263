"""The embedded default keeps what it acknowledged: SQLite with ``synchronous=FULL`` in WAL mode.

The SIGKILL test runs the real app (gunicorn, two workers) on an SQLite file, streams storefront
orders at it from several clients, kills every server process with SIGKILL in the middle of the
stream, starts the server again on the same file, and finds every order that was answered
201 Created; ``PRAGMA integrity_check`` says ok.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import text

from erp import create_app
from erp.config import ConfigError
from erp.extensions import db
from erp.orders import services as order_services
from tests.conftest import BASE_CONFIG, PG_URL
from tests.orders.intake_data import payload

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
#: clients posting orders at once
WRITERS = 4
#: orders acknowledged before the kill (at least; the kill comes mid-stream)
ACKED_BEFORE_KILL = 60

sqlite_only = pytest.mark.skipif(PG_URL is not None, reason="SQLite's durability")


def _synchronous(app) -> int:
    with app.app_context(), db.engine.connect() as conn:
        return conn.scalar(text("PRAGMA synchronous"))


@sqlite_only
def test_sqlite_connections_sync_every_commit_by_default(tmp_path):
    url = f"sqlite:///{tmp_path / 'erp.sqlite3'}"
    config = {k: v for k, v in BASE_CONFIG.items() if k != "ERP_SQLITE_SYNCHRONOUS"}
    app = create_app({**config, "SQLALCHEMY_DATABASE_URI": url})
    assert _synchronous(app) == 2  # FULL
    with app.app_context(), db.engine.connect() as conn:
        assert conn.scalar(text("PRAGMA journal_mode")) == "wal"
        db.engine.dispose()
    normal = create_app({**config, "SQLALCHEMY_DATABASE_URI": url,
                         "ERP_SQLITE_SYNCHRONOUS": "normal"})
    assert _synchronous(normal) == 1
    with pytest.raises(ConfigError, match="ERP_SQLITE_SYNCHRONOUS must be FULL .* got 'OFF'"):
        create_app({**config, "SQLALCHEMY_DATABASE_URI": url, "ERP_SQLITE_SYNCHRONOUS": "OFF"})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(db_file: Path, port: int, log: Path) -> subprocess.Popen:
    """Start gunicorn (two workers) on ``db_file`` in a process group of its own."""
    env = {**os.environ, "ERP_DATABASE_URL": f"sqlite:///{db_file}",
           "ERP_SECRET_KEY": "durability-test-secret-key-0123456789",
           "ERP_API_RATE_LIMIT": "100000 per minute"}
    env.pop("ERP_REDIS_URL", None)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            # --preload: the app is built once, before the workers fork (no connection is open
            # then), so the two starts cost one app build each
            [str(GUNICORN), "-w", "2", "--preload", "-b", f"127.0.0.1:{port}", "--timeout", "60",
             "erp.wsgi:app"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"gunicorn exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.2)
    _kill(proc)
    pytest.fail(f"gunicorn did not answer within 60 s: {log.read_text()[-2000:]}")


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the server's whole process group (master and workers) at once."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def _post(port: int, token: str, number: str) -> int:
    data = json.dumps(payload(number=number)).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/orders", data=data, method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


@sqlite_only
def test_sigkill_mid_stream_loses_no_acknowledged_write(app, dummy_admin, dummy_sku, tmp_path):
    _, token = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    db_file = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    db.session.remove()
    db.engine.dispose()
    port, log = _free_port(), tmp_path / "gunicorn.log"
    server = _start(db_file, port, log)

    acked: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            number = f"DUR-{k}-{n:05d}"
            try:
                status = _post(port, token, number)
            except (urllib.error.URLError, ConnectionError, OSError):
                return  # the server is gone: this order was never acknowledged
            if status == 201:
                acked.append(number)
            else:
                failures.append(f"{number}: {status}")

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(WRITERS)]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acked) < ACKED_BEFORE_KILL and time.monotonic() < deadline \
                and not failures:
            time.sleep(0.01)
        _kill(server)  # mid-stream: every writer has a request in flight
        killed_at = len(acked)
    finally:
        stop.set()
        _kill(server)
        for thread in threads:
            thread.join(timeout=15)
    assert not failures, failures
    assert killed_at >= ACKED_BEFORE_KILL, f"only {killed_at} orders acknowledged in 30 s"
    # the kill left the commits in the write-ahead log, not yet copied into the database file
    assert Path(f"{db_file}-wal").stat().st_size > 0

    server = _start(db_file, port, log)
    try:
        missing = []
        for number in acked:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/orders/{number}",
                headers={"Authorization": f"Bearer {token}"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    assert response.status == 200
            except urllib.error.HTTPError as err:
                missing.append(f"{number}: {err.code}")
        assert missing == [], f"{len(missing)} of {len(acked)} acknowledged orders lost"
    finally:
        _kill(server)

    conn = sqlite3.connect(db_file)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in conn.execute(
            "SELECT number FROM customer_order WHERE number LIKE 'DUR-%'")}
    finally:
        conn.close()
    assert set(acked) <= stored
    # what was stored but never acknowledged is at most the requests in flight at the kill
    assert len(stored - set(acked)) <= WRITERS
