"""Periodic work: what must happen every few seconds or minutes without anyone asking.

Domains register tasks with :func:`task` (the outbox sequencer and webhook delivery, tracking
polls, the lost-parcel check, the coalesced stock events). One *ticker* runs them:

- ``erp ticker`` runs it as its own process (production, beside ``erp worker``);
- with ``ERP_TICKER=1`` the web process runs it in a background thread (``make run``, the
  embedded set-up without Redis);
- ``erp tick`` runs every task once and exits (cron, tests).

Each task runs in its own app context and transaction; a failure is logged and the others go
on. A task is due when its interval has passed since its last run in this process; a task may
also be woken early with :func:`wake` (the webhook delivery, right after a commit that wrote
events). Several tickers may run at once: every task takes the locks it needs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from flask import Flask, current_app

from erp.extensions import db

log = logging.getLogger(__name__)


@dataclass
class Task:
    """A registered periodic task: ``fn()`` runs every ``every`` seconds."""

    name: str
    fn: Callable[[], object]
    every: float
    last_run: float = field(default=0.0)


TASKS: dict[str, Task] = {}
_WAKE = threading.Event()
_WOKEN: set[str] = set()
_LOCK = threading.Lock()


def task(name: str, *, every: float) -> Callable:
    """Register the decorated function as the periodic task ``name``."""

    def decorator(fn: Callable[[], object]) -> Callable[[], object]:
        TASKS[name] = Task(name, fn, every)
        return fn

    return decorator


def wake(name: str) -> None:
    """Ask the ticker of this process to run ``name`` at once (if one runs)."""
    with _LOCK:
        _WOKEN.add(name)
    _WAKE.set()


def run_task(name: str) -> object:
    """Run one task now in the current app context, committing or rolling back its work."""
    from erp.core import transactions

    entry = TASKS[name]
    entry.last_run = time.monotonic()
    try:
        with transactions.intent("write"):
            result = entry.fn()
            db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        raise
    finally:
        db.session.remove()


def run_all() -> dict[str, object]:
    """Run every task once (``erp tick``); return what each returned, or its error."""
    results: dict[str, object] = {}
    for name in sorted(TASKS):
        try:
            results[name] = run_task(name)
        except Exception as err:  # noqa: BLE001 - one task's failure must not stop the others
            log.exception("Periodic task %s failed", name)
            results[name] = err
    return results


#: the longest pause of a ticker whose database is away (seconds)
MAX_BACKOFF = 30.0


def run_due(now: float | None = None, *, failed: list[str] | None = None) -> list[str]:
    """Run the tasks whose interval has passed or that were woken; return their names.

    The names of those that failed because the database could not be reached are added to
    ``failed`` (the ticker then waits longer before the next round).
    """
    from erp.core.transactions import is_disconnect

    now = time.monotonic() if now is None else now
    with _LOCK:
        woken = set(_WOKEN)
        _WOKEN.clear()
    ran = []
    for name, entry in sorted(TASKS.items()):
        if name in woken or now - entry.last_run >= entry.every:
            try:
                run_task(name)
            except Exception as err:  # noqa: BLE001 - logged; the ticker goes on
                if is_disconnect(err):
                    log.warning("Periodic task %s: the database cannot be reached (%s)", name,
                                type(err).__name__)
                    if failed is not None:
                        failed.append(name)
                else:
                    log.exception("Periodic task %s failed", name)
            ran.append(name)
    return ran


_LOCAL = threading.local()


def in_ticker() -> bool:
    """Return whether this thread is a long-lived ticker's (not a one-off ``erp tick``)."""
    return getattr(_LOCAL, "ticker", False)


class Ticker(threading.Thread):
    """A thread that runs due tasks in ``app``'s context until :meth:`stop`."""

    def __init__(self, app: Flask, *, resolution: float = 1.0):
        super().__init__(name="erp-ticker", daemon=True)
        self.app = app
        self.resolution = resolution
        self._stopping = threading.Event()

    def run(self) -> None:
        """Run due tasks each ``resolution`` seconds, or at once when woken.

        Nothing stops it but :meth:`stop`: while the database cannot be reached (PostgreSQL
        restarting) every task fails, and the rounds come at doubling intervals, at most
        :data:`MAX_BACKOFF` seconds apart, until one gets through.
        """
        _LOCAL.ticker = True
        away = 0
        while not self._stopping.is_set():
            failed: list[str] = []
            try:
                with self.app.app_context():
                    ran = run_due(failed=failed)
            except Exception:  # noqa: BLE001 - the ticker must outlive any round
                log.exception("A round of periodic tasks failed")
                ran = failed = ["?"]
            away = away + 1 if ran and len(failed) == len(ran) else 0
            wait = min(MAX_BACKOFF, self.resolution * 2 ** away) if away else self.resolution
            if away:
                # the tasks run again at the next round whatever their interval
                for entry in TASKS.values():
                    entry.last_run = 0.0
                self._stopping.wait(wait)
            else:
                _WAKE.wait(wait)
                _WAKE.clear()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the current round."""
        self._stopping.set()
        _WAKE.set()
        self.join(timeout)


_THREAD: Ticker | None = None


def start_in_process(app: Flask | None = None) -> Ticker:
    """Start this process's ticker thread (once); return it."""
    global _THREAD
    if _THREAD is None or not _THREAD.is_alive():
        _THREAD = Ticker(app or current_app._get_current_object())
        _THREAD.start()
        log.info("Periodic tasks run in this process: %s", ", ".join(sorted(TASKS)))
    return _THREAD


def run_forever(app: Flask, *, resolution: float = 1.0) -> None:
    """Run the ticker in the foreground (``erp ticker``) until interrupted."""
    log.info("Ticker running: %s", ", ".join(f"{t.name} every {t.every:g} s"
                                             for t in sorted(TASKS.values(),
                                                             key=lambda t: t.name)))
    ticker = Ticker(app, resolution=resolution)
    try:
        ticker.run()
    except KeyboardInterrupt:
        pass
