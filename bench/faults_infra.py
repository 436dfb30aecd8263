"""Private servers for the ``faults`` benchmark: a PostgreSQL cluster and a Redis of its own.

The benchmark restarts PostgreSQL and stops Redis on purpose, so it never uses the machine's
shared servers: :class:`PrivatePostgres` makes a cluster with ``initdb`` in a temporary
directory on a free port (run as the ``postgres`` user when we are root, which PostgreSQL
requires), and :class:`PrivateRedis` runs ``redis-server --save ''`` on a free port. Both clean
up after themselves (:meth:`close`), even when the benchmark fails half way.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BINDIRS = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin")
DATABASE = "erp"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_bindir() -> Path | None:
    """Return the directory of PostgreSQL's server programs (``initdb``, ``pg_ctl``), if any."""
    found = os.environ.get("ERP_PG_BINDIR")
    if found:
        return Path(found) if (Path(found) / "pg_ctl").exists() else None
    for pattern in PG_BINDIRS:
        for path in sorted(glob.glob(pattern), reverse=True):  # the newest version first
            if (Path(path) / "pg_ctl").exists() and (Path(path) / "initdb").exists():
                return Path(path)
    return None


def missing() -> str | None:
    """Return why the private servers cannot run here (None when they can)."""
    if pg_bindir() is None:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is needed to run PostgreSQL as the postgres user"
    return None


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temporary directory, on a free port."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        if self.bindir is None:
            raise RuntimeError(missing() or "PostgreSQL is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="erp-faults-pg-"))
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = free_port()
        self.started = False
        if os.geteuid() == 0:  # postgres refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's ``erp`` database (trust authentication)."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def dsn(self) -> str:
        """The libpq connection string of the ``erp`` database."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={DATABASE}"

    def _run(self, program: str, *args: str, timeout: float = 120) -> str:
        cmd = [str(self.bindir / program), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({done.returncode}): "
                               f"{(done.stderr or done.stdout)[-1500:]}\n{self._log_tail()}")
        return done.stdout

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-1500:]
        except OSError:
            return ""

    def init(self) -> None:
        """Create the cluster (trust authentication, fsync on) and its ``erp`` database."""
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")  # --no-sync: initdb's own files
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.root}'\nmax_connections = 100\n"
                       "fsync = on\nlogging_collector = off\n")
        self.start()
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def start(self) -> None:
        """Start the cluster; return once it accepts connections."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-w", "-t", "60",
                  "start")
        self.started = True

    def restart_fast(self) -> None:
        """``pg_ctl restart -m fast``: end every session now, restart, wait until it accepts."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_path), "-m", "fast", "-w",
                  "-t", "60", "restart")

    def accepting(self, timeout: float = 1.0) -> bool:
        """Return whether the ``erp`` database accepts a connection now."""
        import psycopg

        try:
            with psycopg.connect(self.dsn, connect_timeout=max(1, int(timeout)),
                                 application_name="faults-probe") as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def close(self) -> None:
        """Stop the cluster (immediately) and remove its directory."""
        if self.started:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30",
                          "stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                pid_file = self.data / "postmaster.pid"
                if pid_file.exists():  # pg_ctl failed: the postmaster must not outlive us
                    try:
                        os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
                    except (OSError, ValueError):
                        pass
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    """A ``redis-server`` of our own on a free port, without persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="erp-faults-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the server."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 20) -> None:
        """Start the server (on the same port each time); return once it answers PING."""
        logfile = open(self.root / "redis.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root)],
            stdout=logfile, stderr=subprocess.STDOUT)
        self.proc.logfile = logfile
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited: " + (self.root / "redis.log")
                                   .read_text(errors="replace")[-1500:])
            if self.answers():
                return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def answers(self) -> bool:
        """Return whether the server answers PING now."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.logfile.close()
        self.proc = None

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def children(pid: int) -> list[int]:
    """Return the ids of the processes whose parent is ``pid`` (from ``/proc``)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(fields[1]) == pid and fields[0] != "Z":  # a zombie is dead already
            found.append(int(entry))
    return sorted(found)
