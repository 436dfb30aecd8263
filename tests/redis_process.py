"""A redis-server of a test's own, on a free port, that the test may stop and start again.

The machine's shared Redis must never be stopped: a test that needs Redis to go away starts
its own with :func:`redis_server` (no persistence: stopped and started again, it is empty, as a
Redis restarted without its data would be).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    """Return a TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisProcess:
    """One redis-server process on ``port``: :meth:`start`, :meth:`stop`, :attr:`url`."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers."""
        import redis

        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server on port {self.port} did not start") \
                        from None
                time.sleep(0.02)
            finally:
                client.close()

    def stop(self) -> None:
        """Stop the server (SIGKILL: it goes away at once) and wait for its end."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def redis_server():
    """Return a running :class:`RedisProcess` of this test's own (skipped without redis-server)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = RedisProcess(free_port())
    server.start()
    yield server
    server.stop()
