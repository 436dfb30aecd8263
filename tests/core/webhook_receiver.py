"""A real webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that records requests.

``mode`` says how it answers: ``"ok"`` (204), ``"fail"`` (500 with a body), ``"hang"`` (waits
longer than the sender's timeout, then 204), ``"down"`` (the server is stopped: connections are
refused).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    path: str


class Receiver:
    """Start with :meth:`start`; ``requests`` lists what arrived, in arrival order."""

    def __init__(self, mode: str = "ok", hang_seconds: float = 2.0):
        self.mode = mode
        self.hang_seconds = hang_seconds
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The address to register."""
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> Receiver:
        """Listen (on the port of a previous start, if any)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                mode = receiver.mode
                if mode == "hang":
                    time.sleep(receiver.hang_seconds)
                with receiver._lock:
                    receiver.requests.append(Received(
                        {k.lower(): v for k, v in self.headers.items()}, body, self.path))
                if mode == "fail":
                    payload = b"receiver broke: " + b"x" * 5000
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening (connections are refused until :meth:`start`)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def bodies(self) -> list[bytes]:
        """Return the bodies received so far."""
        with self._lock:
            return [r.body for r in self.requests]
