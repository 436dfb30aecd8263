"""Background jobs: long work (large reports, exports, batch PDFs) run off the request.

A job kind is a function registered with :func:`register`; :func:`submit` stores a
:class:`~erp.core.models.BackgroundJob` row (committed) and runs it:

- on RQ when ``ERP_REDIS_URL`` is set (queue ``ERP_JOBS_QUEUE``, ``"erp"`` by default; the
  ``erp worker`` command runs the worker), calling :func:`run_job` with the job's id;
- otherwise in-process, in a background thread with its own app context and session, so the
  request returns at once;
- synchronously with ``wait=True`` or the config ``ERP_JOBS_SYNC=True`` (tests, CLI).

Either way the row carries the state, progress, message and result file, so the job page shows a
progress bar and then a download link. A job without a file (an allocation run) leaves a
``summary`` instead: :attr:`JobContext.summary`, stored as JSON, which the job's page shows.

A job runs in the language of the person who started it (the request's, kept on the row), so
its progress messages and refusals read in that language. :func:`submit_once` starts a job of a
kind only if none of that kind is queued or running (one allocation run at a time).

Result files live under ``instance/jobs/<id>/<name>`` and are removed by :func:`cleanup` after
``ERP_JOBS_KEEP_DAYS`` days (the worker runs it at start). Example::

    @jobs.register("echo")
    def echo(job: JobContext, *, text: str) -> JobResult:
        job.progress(50, "Half way")
        return JobResult(text.encode(), "echo.txt", "text/plain")

    row = jobs.submit("echo", user=current_user, text="hello")
    return redirect(url_for("reports.job_detail", job_id=row.id))

A function reports failure the users may read by raising :class:`JobError` (or a
:class:`~erp.core.errors.DomainError`); any other exception is logged with its traceback and the
job shows a generic message.

**Faults.** A job is never lost and never runs twice at once:

- Redis unreachable: :func:`submit` leaves the job ``queued`` with no ``dispatched_at``, and
  :func:`dispatch` (the ticker's ``jobs.dispatch`` task every few seconds, and ``erp worker``
  at start) hands it to RQ once Redis answers. A job handed over whose RQ entry vanished (Redis
  restarted empty, or the work horse died before starting it) is handed over again.
- A run claims its job by moving it from ``queued`` to ``running`` in one conditional update,
  so a job enqueued twice still runs once; while it runs a thread renews ``heartbeat_at``.
- A run whose process was killed (SIGKILL, out of memory) stops beating: after
  ``ERP_JOBS_STALE_SECONDS`` :func:`dispatch` queues it again, at most :data:`MAX_ATTEMPTS` runs
  in all, then marks it failed with a message saying so.
- The result file is written under a temporary name and renamed into place; the row is marked
  finished (with the file's path) only after, so :func:`result_file` never offers a partial
  file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, has_app_context, has_request_context
from flask_babel import force_locale
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.utils import secure_filename

from erp.core import numbering, periodic, transactions
from erp.core.errors import DomainError
from erp.core.i18n import LANGUAGES, _, company_language, current_language
from erp.core.models import BackgroundJob, JobState, Role, utcnow
from erp.extensions import db

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "erp"
DEFAULT_KEEP_DAYS = 7
DEFAULT_TIMEOUT = 3600  # seconds a job may run on RQ before it is stopped
JOBS_DIR = "jobs"  # under the app's instance folder
#: runs a job may begin in all (the first and two retries after its worker was killed)
MAX_ATTEMPTS = 3
#: seconds without a heartbeat after which a running job counts as killed (ERP_JOBS_STALE_SECONDS)
DEFAULT_STALE_SECONDS = 60
#: queued jobs one dispatch hands over
DISPATCH_BATCH = 200
#: seconds the web process stops trying Redis after it failed to answer (the dispatcher
#: hands the jobs over once it is back)
REDIS_PAUSE_SECONDS = 2.0


class JobError(Exception):
    """A failure whose message the user may read (shown on the job page)."""


@dataclass(frozen=True)
class JobResult:
    """The file a job produced: its bytes, download name and MIME type."""

    data: bytes
    filename: str
    mime: str = "application/octet-stream"


#: kind -> function(job: JobContext, **params) -> JobResult | None
REGISTRY: dict[str, Callable[..., JobResult | None]] = {}


@dataclass(frozen=True)
class KindPage:
    """How the job page shows jobs of a kind (all optional).

    :param label: the kind's name on the pages (a lazy string).
    :param title: ``title(params) -> str``: the page's heading for one job (e.g. which export).
    :param details: ``details(params) -> [(label, value)]``: the parameters worth showing;
        without it every parameter is listed as stored.
    :param summary_template: the template that shows the job's :attr:`JobContext.summary`
        (given as ``summary``) once it has finished.
    """

    label: Any = None
    title: Callable[[dict], str] | None = None
    details: Callable[[dict], list[tuple[Any, Any]]] | None = None
    summary_template: str | None = None


#: kind -> how its jobs are shown (:class:`KindPage`)
PAGES: dict[str, KindPage] = {}


def register(kind: str, *, page: KindPage | None = None) -> Callable:
    """Register the decorated function as the runner of jobs of ``kind``.

    The function is called as ``fn(job: JobContext, **params)`` and returns a :class:`JobResult`
    (or ``None`` for a job without a file). ``page`` says how the job page shows the kind.
    """
    def decorator(fn: Callable[..., JobResult | None]) -> Callable[..., JobResult | None]:
        REGISTRY[kind] = fn
        if page is not None:
            PAGES[kind] = page
        return fn
    return decorator


class JobContext:
    """What a running job sees: its id, kind, params and user, and :meth:`progress`.

    A job without a file sets :attr:`summary` (a dict that JSON can hold) for its page.
    """

    #: progress writes closer together than this are skipped (except to 100 %)
    MIN_INTERVAL = 0.25

    def __init__(self, job_id: str, kind: str, params: dict, user_id: int | None,
                 listener: Callable[[int, str | None], None] | None = None):
        self.job_id = job_id
        self.kind = kind
        self.params = params
        self.user_id = user_id
        self.summary: dict | None = None
        #: called with every progress recorded (the CLI prints it); never fatal to the job
        self.listener = listener
        self._last: tuple[int, str | None] | None = None
        self._last_at = 0.0

    def progress(self, percent: float, message: str | None = None) -> None:
        """Record ``percent`` (0-100) done and an optional message, in a transaction of its own.

        Written through a separate connection, so the job page sees it at once whatever the
        job's own session is doing; unchanged values and writes within ``MIN_INTERVAL`` seconds
        of the last are skipped. A failed write is logged, never fatal to the job.
        """
        value = max(0, min(100, int(percent)))
        message = message[:200] if message else None
        now = time.monotonic()
        if (value, message) == self._last:
            return
        if self._last is not None and value < 100 and message == self._last[1] \
                and now - self._last_at < self.MIN_INTERVAL:
            return
        values: dict[str, Any] = {"progress": value, "heartbeat_at": utcnow()}
        if message is not None:
            values["message"] = message
        try:
            with db.engine.begin() as conn:
                conn.execute(update(BackgroundJob).where(BackgroundJob.id == self.job_id)
                             .values(**values))
        except SQLAlchemyError:
            log.warning("Could not record the progress of job %s", self.job_id, exc_info=True)
            return
        self._last, self._last_at = (value, message), now
        if self.listener is not None:
            try:
                self.listener(value, message)
            except Exception:  # noqa: BLE001 - a display that fails never stops the work
                log.warning("The progress listener of job %s failed", self.job_id,
                            exc_info=True)


# --- params: JSON with dates, datetimes and decimals kept --------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    raise TypeError(f"A job parameter cannot be {type(value).__name__}: {value!r}")


def _decode(obj: dict) -> Any:
    if len(obj) == 1:
        (key, raw), = obj.items()
        if key == "$datetime":
            return datetime.fromisoformat(raw)
        if key == "$date":
            return date.fromisoformat(raw)
        if key == "$decimal":
            return Decimal(raw)
    return obj


def dump_params(params: dict) -> str:
    """Return ``params`` as JSON text (dates, datetimes and decimals are kept)."""
    return json.dumps(params, default=_encode, sort_keys=True)


def load_params(text: str | None) -> dict:
    """Return the params stored by :func:`dump_params`."""
    return json.loads(text or "{}", object_hook=_decode)


# --- submitting ---------------------------------------------------------------------------------


_THREADS: dict[str, threading.Thread] = {}


def _language(user) -> str | None:
    """Return the language a job started now runs in: the request's, else the user's choice."""
    if has_request_context():
        return current_language()
    chosen = getattr(user, "language", None)
    return chosen if chosen in LANGUAGES else None  # None: the company's default, when run


def submit(kind: str, *, user, wait: bool = False,
           listener: Callable[[int, str | None], None] | None = None,
           **params) -> BackgroundJob:
    """Create a job of ``kind`` for ``user`` (committed) and start it; return its row.

    Runs on RQ when ``ERP_REDIS_URL`` is set, else in a background thread of this process;
    synchronously when ``wait`` is true or ``ERP_JOBS_SYNC`` is set (``listener`` then hears
    each progress step: ``listener(percent, message)``). Commits the session. When Redis cannot
    be reached the job stays queued, and :func:`dispatch` hands it over once Redis answers.

    :raises KeyError: for a kind nobody registered.
    :raises TypeError: for params that cannot be stored as JSON.
    """
    if kind not in REGISTRY:
        raise KeyError(f"No background job kind {kind!r} is registered.")
    app = current_app._get_current_object()
    job_id = str(uuid.uuid4())
    if wait or app.config.get("ERP_JOBS_SYNC"):
        ref = "sync"
    elif app.config.get("ERP_REDIS_URL"):
        ref = f"erp-{job_id}"
    else:
        ref = "thread"
    now = utcnow()
    job = BackgroundJob(id=job_id, kind=kind, params=dump_params(params),
                        state=JobState.queued, progress=0, language=_language(user),
                        user_id=getattr(user, "id", None), created_at=now, attempts=0,
                        dispatched_at=now, queue_ref=ref)
    db.session.add(job)
    db.session.commit()
    db.session.refresh(job)  # the caller's row says "queued", whenever it is read
    if ref == "sync":
        run_job(job_id, app=app, listener=listener)
        db.session.refresh(job)
    elif ref == "thread":
        _start_thread(app, job_id)
    elif redis_paused(app) or not _enqueue(app, job_id, kind, ref):
        _undispatch(job_id, ref)
    return job


def _start_thread(app: Flask, job_id: str) -> None:
    thread = threading.Thread(target=_run_in_thread, args=(app, job_id),
                              name=f"erp-job-{job_id}", daemon=True)
    _THREADS[job_id] = thread
    thread.start()


def _enqueue(app: Flask, job_id: str, kind: str, ref: str) -> bool:
    """Put the job on the RQ queue under the id ``ref``; return whether Redis took it."""
    try:
        queue(app).enqueue_call(
            "erp.core.jobs.run_job", args=(job_id,), job_id=ref,
            timeout=int(app.config.get("ERP_JOBS_TIMEOUT") or DEFAULT_TIMEOUT),
            result_ttl=0, failure_ttl=DEFAULT_KEEP_DAYS * 86400,
            description=f"{kind} {job_id}")
    except Exception as exc:  # noqa: BLE001 - the job waits in the database for Redis
        log.warning("Could not hand background job %s to the queue (Redis): %s; it waits "
                    "for the dispatcher", job_id, exc)
        pause_redis(app)
        return False
    return True


def _undispatch(job_id: str, ref: str) -> None:
    """Mark a job that did not reach the queue as waiting for the dispatcher (committed)."""
    db.session.rollback()
    db.session.execute(
        update(BackgroundJob)
        .where(BackgroundJob.id == job_id, BackgroundJob.queue_ref == ref,
               BackgroundJob.state == JobState.queued)
        .values(dispatched_at=None, queue_ref=None,
                # a message already there (a retry's) says more
                message=func.coalesce(BackgroundJob.message, _(
                    "Waiting for the job queue (Redis) to answer; the job starts as soon as "
                    "it does.")[:200])))
    db.session.commit()


# --- Redis: one client per URL, and a short pause after it failed to answer ---------------------


_CLIENTS: dict[str, Any] = {}
_PAUSED_UNTIL: dict[str, float] = {}


def pause_redis(app: Flask | None = None) -> None:
    """Note that Redis did not answer: requests of this process skip it for a moment."""
    url = (app or current_app).config.get("ERP_REDIS_URL")
    if url:
        _PAUSED_UNTIL[url] = time.monotonic() + REDIS_PAUSE_SECONDS


def redis_paused(app: Flask | None = None) -> bool:
    """Return whether Redis failed to answer this process a moment ago (skip it for now)."""
    url = (app or current_app).config.get("ERP_REDIS_URL")
    return bool(url) and _PAUSED_UNTIL.get(url, 0.0) > time.monotonic()


def redis_status(app: Flask | None = None, *, timeout: float = 0.5) -> str | None:
    """Return ``"ok"`` or ``"unreachable"`` for ``ERP_REDIS_URL``, ``None`` when it is not set.

    Asks with its own short-lived connection and ``timeout`` seconds at most (``/ready``).
    """
    import redis

    url = (app or current_app).config.get("ERP_REDIS_URL")
    if not url:
        return None
    client = redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout,
                            retry=None)
    try:
        client.ping()
    except Exception:  # noqa: BLE001 - any failure to answer means unreachable
        return "unreachable"
    finally:
        client.close()
    return "ok"


def active(kind: str) -> BackgroundJob | None:
    """Return the oldest job of ``kind`` still queued or running, if any.

    A job left "running" or "queued" longer than twice the job timeout (its process died) no
    longer counts: :func:`cleanup` marks it failed.
    """
    timeout = int(current_app.config.get("ERP_JOBS_TIMEOUT") or DEFAULT_TIMEOUT)
    return db.session.scalar(
        select(BackgroundJob).where(
            BackgroundJob.kind == kind,
            BackgroundJob.state.in_([JobState.queued, JobState.running]),
            BackgroundJob.created_at >= utcnow() - timedelta(seconds=2 * timeout))
        .order_by(BackgroundJob.created_at, BackgroundJob.id).limit(1))


def submit_once(kind: str, *, user, wait: bool = False,
                listener: Callable[[int, str | None], None] | None = None,
                **params) -> tuple[BackgroundJob, bool]:
    """Start a job of ``kind`` unless one is queued or running; return ``(job, started)``.

    The check and the new row are made under a lock of the kind's sequence row (the database
    write lock on SQLite), so of two people who click at once, one starts the job and the
    other gets that job back (``started`` false). Commits the session.
    """
    numbering.next_value(f"job:{kind}")  # the lock: held until the commit in submit()
    running = active(kind)
    if running is not None:
        db.session.commit()
        return running, False
    return submit(kind, user=user, wait=wait, listener=listener, **params), True


def load_summary(job: BackgroundJob) -> dict | None:
    """Return the summary a finished job left (see :attr:`JobContext.summary`), or ``None``."""
    if not job.summary:
        return None
    try:
        return load_params(job.summary)
    except ValueError:
        return None


def _run_in_thread(app: Flask, job_id: str) -> None:
    try:
        with app.app_context():
            run_job(job_id, app=app)
    finally:
        _THREADS.pop(job_id, None)


def wait_for_threads(timeout: float = 30.0) -> bool:
    """Wait for the in-process jobs still running; return whether they all ended in time."""
    deadline = time.monotonic() + timeout
    for thread in list(_THREADS.values()):
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in list(_THREADS.values()))


def redis_connection(app: Flask | None = None, *, shared: bool = True):
    """Return a Redis connection for ``ERP_REDIS_URL``.

    Connecting gives up after a second and a command after five, so a Redis that stopped
    answering costs a request little. ``shared`` connections share one client (and its
    connection pool) per URL in this process; the worker takes its own (RQ changes its
    timeouts).

    :raises RuntimeError: when ``ERP_REDIS_URL`` is not set.
    """
    import redis

    url = (app or current_app).config.get("ERP_REDIS_URL")
    if not url:
        raise RuntimeError("ERP_REDIS_URL is not set: set it to the Redis server, e.g. "
                           "redis://127.0.0.1:6379/0.")
    if not shared:
        return redis.from_url(url, socket_connect_timeout=1)
    client = _CLIENTS.get(url)
    if client is None:
        client = _CLIENTS[url] = redis.from_url(url, socket_connect_timeout=1,
                                                socket_timeout=5)
    return client


def queue(app: Flask | None = None):
    """Return the RQ queue the jobs go to (``ERP_JOBS_QUEUE``, default ``"erp"``)."""
    import rq

    app = app or current_app
    return rq.Queue(app.config.get("ERP_JOBS_QUEUE") or DEFAULT_QUEUE,
                    connection=redis_connection(app))


# --- running ------------------------------------------------------------------------------------


_WORKER_APP: Flask | None = None


def run_job(job_id: str, app: Flask | None = None,
            listener: Callable[[int, str | None], None] | None = None) -> str | None:
    """Run the job ``job_id``: mark it running, call its function, store the file, finish it.

    Uses the current app context, else ``app``, else an app built once with
    :func:`erp.create_app` (a plain ``rq worker``). Failures are stored on the row (and logged),
    never raised. Returns the final state (``None`` for an unknown id).
    """
    if has_app_context() and (app is None or current_app._get_current_object() is app):
        return _run_patiently(job_id, listener)
    if app is None:
        global _WORKER_APP
        if _WORKER_APP is None:
            from erp import create_app
            _WORKER_APP = create_app()
        app = _WORKER_APP
    with app.app_context():
        return _run_patiently(job_id, listener)


#: pauses (seconds) of a run that finds the database away (PostgreSQL restarting)
DATABASE_WAITS = (1, 2, 4, 8)


def _run_patiently(job_id: str, listener) -> str | None:
    """:func:`_run`, asked again while the database cannot be reached (about 15 s in all).

    Asked again after it claimed the job, it finds the job running and leaves it: the
    dispatcher retries that run once its heartbeat is stale.
    """
    from erp.core.transactions import is_disconnect

    for wait in DATABASE_WAITS:
        try:
            return _run(job_id, listener)
        except SQLAlchemyError as err:
            if not is_disconnect(err):
                raise
            with contextlib.suppress(SQLAlchemyError):
                db.session.rollback()
            log.warning("Background job %s: the database cannot be reached; asking again in "
                        "%d s", job_id, wait)
            time.sleep(wait)
    return _run(job_id, listener)


def _user_message(err: BaseException) -> str:
    if isinstance(err, JobError | DomainError):
        return str(err) or _("The job failed.")
    if type(err).__name__ == "JobTimeoutException":
        return _("The job took too long and was stopped; try a shorter period.")
    return _("The job failed unexpectedly; the details are in the server log (%(error)s).",
             error=type(err).__name__)


def _job_language(job: BackgroundJob) -> str:
    return job.language if job.language in LANGUAGES else company_language()


def stale_seconds(app: Flask | None = None) -> float:
    """Return the seconds without a heartbeat after which a running job counts as killed."""
    return float((app or current_app).config.get("ERP_JOBS_STALE_SECONDS")
                 or DEFAULT_STALE_SECONDS)


class _Heartbeat(threading.Thread):
    """Renew a running job's ``heartbeat_at`` every few seconds, through its own connection.

    It dies with its process: a killed run stops beating, and :func:`dispatch` finds it.
    """

    def __init__(self, engine, job_id: str, attempt: int, every: float):
        super().__init__(name=f"erp-job-heartbeat-{job_id}", daemon=True)
        self.engine, self.job_id, self.attempt, self.every = engine, job_id, attempt, every
        self.stopping = threading.Event()

    def run(self) -> None:
        """Beat until :meth:`stop`; a failed write is logged and tried at the next beat."""
        while not self.stopping.wait(self.every):
            try:
                with transactions.intent("write"), self.engine.begin() as conn:
                    conn.execute(update(BackgroundJob).where(
                        BackgroundJob.id == self.job_id, BackgroundJob.state == JobState.running,
                        BackgroundJob.attempts == self.attempt).values(heartbeat_at=utcnow()))
            except SQLAlchemyError as exc:
                log.warning("Could not renew the heartbeat of job %s: %s", self.job_id, exc)

    def stop(self) -> None:
        """Stop beating (the run is over)."""
        self.stopping.set()
        self.join(5)


def _claim(job: BackgroundJob) -> int | None:
    """Move ``job`` from queued to running (committed); return its attempt number.

    ``None`` when another run claimed it first (a job enqueued twice runs once), or when it has
    had its :data:`MAX_ATTEMPTS` runs (it is then marked failed).
    """
    job_id, attempts = job.id, job.attempts or 0
    now = utcnow()
    mine = (BackgroundJob.id == job_id, BackgroundJob.state == JobState.queued,
            BackgroundJob.attempts == attempts)
    if attempts >= MAX_ATTEMPTS:
        with force_locale(_job_language(job)):
            error = _given_up(attempts)
        db.session.execute(update(BackgroundJob).where(*mine).values(
            state=JobState.failed, finished_at=now, error=error))
        db.session.commit()
        return None
    claimed = db.session.execute(update(BackgroundJob).where(*mine).values(
        state=JobState.running, started_at=now, heartbeat_at=now, progress=0, message=None,
        attempts=attempts + 1)).rowcount
    db.session.commit()
    return attempts + 1 if claimed == 1 else None


def _given_up(attempts: int) -> str:
    return _("The job was interrupted %(count)s times (its worker stopped each time), so it "
             "was given up; start it again.", count=attempts)


def _finish(job_id: str, attempt: int, **values) -> bool:
    """Record the end of a run (committed) if the job is still this run's; return whether."""
    done = db.session.execute(update(BackgroundJob).where(
        BackgroundJob.id == job_id, BackgroundJob.state == JobState.running,
        BackgroundJob.attempts == attempt).values(finished_at=utcnow(), **values)).rowcount
    db.session.commit()
    if done != 1:
        log.warning("Background job %s was taken from this run (attempt %d) while it ran "
                    "(its heartbeat stopped for too long); its outcome is dropped",
                    job_id, attempt)
    return done == 1


def _run(job_id: str, listener: Callable[[int, str | None], None] | None = None) -> str | None:
    job = db.session.get(BackgroundJob, job_id)
    if job is None:
        log.warning("Background job %s does not exist", job_id)
        return None
    if job.state != JobState.queued:
        return job.state.value  # finished, failed, or running in another process
    language = _job_language(job)
    # read before the commit: reading the expired row after it would begin the next
    # transaction under the caller's intent, and a POST running the job in its request
    # (ERP_JOBS_SYNC) would then hold SQLite's write lock against the job's own progress
    context = JobContext(job.id, job.kind, {}, job.user_id, listener)
    kind, params = job.kind, job.params
    attempt = _claim(job)
    if attempt is None:
        db.session.rollback()
        state = db.session.scalar(select(BackgroundJob.state).where(BackgroundJob.id == job_id))
        db.session.rollback()
        return state.value if state else None
    heartbeat = _Heartbeat(db.engine, job_id, attempt, max(0.1, stale_seconds() / 6))
    heartbeat.start()
    try:
        fn = REGISTRY.get(kind)
        if fn is None:
            raise JobError(_("Unknown job kind %(kind)s.", kind=kind))
        context.params = load_params(params)
        # A job reads (reports, exports): SQLite's write lock stays free for the requests,
        # and for its own progress, written through another connection. A job that writes
        # takes write intent for each of its own short transactions.
        with transactions.intent("read"), force_locale(language):
            result = fn(context, **context.params)
        stored = _store(job_id, attempt, result) if result is not None else None
        summary = dump_params(context.summary) if context.summary is not None else None
    except Exception as err:  # noqa: BLE001 - every failure is stored on the job
        heartbeat.stop()
        db.session.rollback()
        if not isinstance(err, JobError | DomainError):
            log.exception("Background job %s (%s) failed", job_id, kind)
        with force_locale(language):
            message = _user_message(err)
        if _finish(job_id, attempt, state=JobState.failed, error=message):
            _remove_dir(job_id)
        return JobState.failed.value
    heartbeat.stop()
    db.session.rollback()  # the job's own reads; nothing of it is written here
    values: dict[str, Any] = {"state": JobState.finished, "progress": 100,
                              "message": None,  # the last step's message ("Saving...") is over
                              "summary": summary}
    if stored is not None:
        values.update(result_path=stored[0], result_name=stored[1], result_mime=stored[2])
    # the file is in place (renamed whole) before the row says so: never a partial download
    _finish(job_id, attempt, **values)
    return JobState.finished.value


def _jobs_root() -> str:
    return os.path.join(current_app.instance_path, JOBS_DIR)


def _store(job_id: str, attempt: int, result: JobResult) -> tuple[str, str, str]:
    """Write the result under ``instance/jobs/<id>/``; return (relative path, name, mime).

    Written to a temporary name, flushed to disk and renamed into place, so the file under its
    final name is always whole, even if the process is killed while writing.
    """
    name = secure_filename(result.filename) or "result"
    folder = os.path.join(_jobs_root(), job_id)
    os.makedirs(folder, exist_ok=True)
    partial = os.path.join(folder, f".{name}.{attempt}-{secrets.token_hex(4)}.part")
    try:
        with open(partial, "wb") as fh:
            fh.write(result.data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, os.path.join(folder, name))
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise
    return f"{JOBS_DIR}/{job_id}/{name}", result.filename[:200], result.mime[:100]


def _remove_dir(job_id: str) -> None:
    shutil.rmtree(os.path.join(_jobs_root(), job_id), ignore_errors=True)


# --- reading ------------------------------------------------------------------------------------


def get(job_id: str, user) -> BackgroundJob | None:
    """Return the job ``job_id`` if ``user`` owns it or is an admin, else ``None``."""
    job = db.session.get(BackgroundJob, job_id)
    if job is None or user is None or not getattr(user, "is_authenticated", False):
        return None
    if job.user_id != user.id and not user.has_role(Role.admin):
        return None
    return job


def user_jobs_query(user):
    """Return a select of ``user``'s jobs, newest first."""
    return (select(BackgroundJob).where(BackgroundJob.user_id == user.id)
            .order_by(BackgroundJob.created_at.desc(), BackgroundJob.id))


def result_file(job: BackgroundJob) -> str | None:
    """Return the absolute path of ``job``'s result file, or ``None`` if it has none (any more)."""
    if not job.result_path or job.state != JobState.finished:
        return None
    root = os.path.realpath(_jobs_root())
    path = os.path.realpath(os.path.join(current_app.instance_path, job.result_path))
    if not path.startswith(root + os.sep) or not os.path.isfile(path):
        return None
    return path


# --- housekeeping -------------------------------------------------------------------------------


def cleanup(days: int | None = None, *, now: datetime | None = None) -> int:
    """Delete result files of jobs that ended more than ``days`` days ago; commit.

    ``days`` defaults to ``ERP_JOBS_KEEP_DAYS`` (7). Jobs still marked running after twice the
    job timeout (their worker died) are marked failed. Folders under ``instance/jobs`` that
    belong to no job are removed too. Returns how many result folders were removed.
    """
    days = days if days is not None else int(current_app.config.get("ERP_JOBS_KEEP_DAYS")
                                             or DEFAULT_KEEP_DAYS)
    now = now or utcnow()
    removed = 0
    old = db.session.scalars(select(BackgroundJob).where(
        BackgroundJob.finished_at < now - timedelta(days=days),
        BackgroundJob.result_path.is_not(None)))
    for job in old:
        _remove_dir(job.id)
        job.result_path = None
        removed += 1
    timeout = int(current_app.config.get("ERP_JOBS_TIMEOUT") or DEFAULT_TIMEOUT)
    for job in db.session.scalars(select(BackgroundJob).where(
            BackgroundJob.state == JobState.running,
            BackgroundJob.started_at < now - timedelta(seconds=2 * timeout))):
        job.state, job.finished_at = JobState.failed, now
        job.error = _("The job was interrupted (its worker stopped); start it again.")
    db.session.commit()
    root = _jobs_root()
    if os.path.isdir(root):
        names = [n for n in os.listdir(root) if os.path.isdir(os.path.join(root, n))]
        known = set(db.session.scalars(select(BackgroundJob.id).where(
            BackgroundJob.id.in_(names), BackgroundJob.result_path.is_not(None)))) if names \
            else set()
        active = set(db.session.scalars(select(BackgroundJob.id).where(
            BackgroundJob.id.in_(names),
            BackgroundJob.state.in_([JobState.queued, JobState.running])))) if names else set()
        for name in names:
            if name not in known and name not in active:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
                removed += 1
    return removed


# --- dispatching: queued jobs that never reached Redis, and runs that were killed ---------------


def dispatch(*, now: datetime | None = None) -> dict[str, int]:
    """Hand waiting jobs to their runner, and retry or fail the runs that were killed; commit.

    - a running job whose heartbeat is older than ``ERP_JOBS_STALE_SECONDS`` was killed: it is
      queued again if it had fewer than :data:`MAX_ATTEMPTS` runs, else marked failed;
    - a queued job handed over longer ago than that whose RQ entry is gone or ended (Redis
      restarted empty, its work horse died before starting it) is handed over again;
    - a queued job never handed over (Redis was unreachable) is put on the RQ queue (without
      Redis, run on a thread of this process if it is a long-lived ticker); the first refusal
      of Redis stops the round.

    A job is handed over under a conditional update of its row (committed before the queue is
    told), so two dispatchers at once never hand the same job over twice; were it enqueued
    twice, its run's claim still runs it once. Returns the counts of each.
    """
    now = now or utcnow()
    app = current_app._get_current_object()
    counts = {"retried": 0, "failed": 0, "lost": 0, "dispatched": 0}
    _reap(now, counts)
    _find_lost(app, now, counts)
    _dispatch_waiting(app, counts)
    return counts


@periodic.task("jobs.dispatch", every=5)
def _dispatch_tick() -> dict[str, int]:
    """The periodic task: see :func:`dispatch`."""
    return dispatch()


def _reap(now: datetime, counts: dict[str, int]) -> None:
    cutoff = now - timedelta(seconds=stale_seconds())
    beat = func.coalesce(BackgroundJob.heartbeat_at, BackgroundJob.started_at,
                         BackgroundJob.created_at)
    stale = db.session.execute(select(BackgroundJob.id, BackgroundJob.attempts,
                                      BackgroundJob.language)
                               .where(BackgroundJob.state == JobState.running, beat < cutoff)
                               .order_by(BackgroundJob.created_at)).all()
    db.session.rollback()
    for job_id, attempts, language in stale:
        mine = (BackgroundJob.id == job_id, BackgroundJob.state == JobState.running,
                BackgroundJob.attempts == attempts, beat < cutoff)
        with force_locale(language if language in LANGUAGES else company_language()):
            if attempts >= MAX_ATTEMPTS:
                values = {"state": JobState.failed, "finished_at": now,
                          "error": _given_up(attempts)}
                key = "failed"
            else:
                values = {"state": JobState.queued, "dispatched_at": None, "queue_ref": None,
                          "progress": 0, "message": _(
                              "The job was interrupted (its worker stopped); it runs again "
                              "(attempt %(next)s of %(most)s).", next=attempts + 1,
                              most=MAX_ATTEMPTS)[:200]}
                key = "retried"
        done = db.session.execute(update(BackgroundJob).where(*mine).values(**values)).rowcount
        db.session.commit()
        if done == 1:
            counts[key] += 1
            _remove_dir(job_id)  # what the killed run left (at most a temporary file)
            log.warning("Background job %s stopped beating in attempt %d: %s", job_id,
                        attempts, "given up" if key == "failed" else "queued again")


def _find_lost(app: Flask, now: datetime, counts: dict[str, int]) -> None:
    cutoff = now - timedelta(seconds=stale_seconds())
    handed = db.session.execute(select(BackgroundJob.id, BackgroundJob.queue_ref).where(
        BackgroundJob.state == JobState.queued, BackgroundJob.dispatched_at.is_not(None),
        BackgroundJob.dispatched_at < cutoff).limit(DISPATCH_BATCH)).all()
    db.session.rollback()
    if not handed:
        return
    alive: set[str] = set()
    rq_refs = [ref for _id, ref in handed if ref and ref.startswith("erp-")]
    if rq_refs:
        if not app.config.get("ERP_REDIS_URL"):
            rq_refs = []
        else:
            try:
                alive = _rq_alive(app, rq_refs)
            except Exception as exc:  # noqa: BLE001 - unknown while Redis is away: wait
                log.info("Cannot check the queued jobs' RQ entries (Redis: %s)", exc)
                return
    for job_id, ref in handed:
        if ref in alive:
            continue
        lost = db.session.execute(update(BackgroundJob).where(
            BackgroundJob.id == job_id, BackgroundJob.state == JobState.queued,
            BackgroundJob.queue_ref == ref).values(dispatched_at=None,
                                                   queue_ref=None)).rowcount
        db.session.commit()
        counts["lost"] += lost


def _rq_alive(app: Flask, refs: list[str]) -> set[str]:
    """Return which of the RQ job ids are still waiting or running on the queue."""
    from rq.job import Job, JobStatus

    waiting = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.DEFERRED, JobStatus.SCHEDULED}
    connection = redis_connection(app)
    alive = set()
    for job in Job.fetch_many(refs, connection=connection):
        if job is not None and job.get_status(refresh=False) in waiting:
            alive.add(job.id)
    return alive


def _dispatch_waiting(app: Flask, counts: dict[str, int]) -> None:
    waiting = db.session.execute(select(BackgroundJob.id, BackgroundJob.kind).where(
        BackgroundJob.state == JobState.queued, BackgroundJob.dispatched_at.is_(None))
        .order_by(BackgroundJob.created_at, BackgroundJob.id).limit(DISPATCH_BATCH)).all()
    db.session.rollback()
    on_rq = bool(app.config.get("ERP_REDIS_URL"))
    if not on_rq and not periodic.in_ticker():
        return  # a thread of a one-off `erp tick` would die with it: a ticker runs them
    for job_id, kind in waiting:
        ref = f"erp-{job_id}-{secrets.token_hex(4)}" if on_rq else "thread"
        taken = db.session.execute(update(BackgroundJob).where(
            BackgroundJob.id == job_id, BackgroundJob.state == JobState.queued,
            BackgroundJob.dispatched_at.is_(None)).values(
                dispatched_at=utcnow(), queue_ref=ref)).rowcount
        db.session.commit()
        if taken != 1:
            continue  # another dispatcher took it
        if not on_rq:
            _start_thread(app, job_id)
        elif not _enqueue(app, job_id, kind, ref):
            _undispatch(job_id, ref)
            break  # Redis is away: the next round tries again
        counts["dispatched"] += 1


def _dispatch_safely() -> None:
    """Run :func:`dispatch`, logging (never raising) a failure: a worker starts anyway."""
    try:
        counts = dispatch()
        if any(counts.values()):
            log.info("Dispatched background jobs: %s", counts)
    except Exception:  # noqa: BLE001 - the ticker dispatches them later
        db.session.rollback()
        log.warning("Could not dispatch the waiting background jobs", exc_info=True)


#: the longest pause between two attempts to reach Redis again (RQ's own is a minute)
WORKER_MAX_BACKOFF = 5.0


def run_worker(*, burst: bool = False, simple: bool = False) -> bool:
    """Run an RQ worker on the jobs' queue (the ``erp worker`` command); cleanup first.

    Forks a work horse per job unless ``simple``; ``burst`` stops once the queue is empty.
    Before it listens, it hands over the jobs that waited for Redis (:func:`dispatch`), and a
    thread goes on doing so every :data:`WORKER_DISPATCH_SECONDS` (so jobs drain once Redis is
    back even without ``erp ticker``). A worker that loses Redis waits at most
    :data:`WORKER_MAX_BACKOFF` seconds between attempts to reach it; one that stops on any
    other error of RQ's loop starts again once Redis answers; only a stop request (SIGTERM,
    SIGINT) ends it.

    :raises RuntimeError: when ``ERP_REDIS_URL`` is not set.
    :raises redis.exceptions.ConnectionError: when Redis cannot be reached at start.
    """
    connection = redis_connection(shared=False)
    connection.ping()
    try:
        removed = cleanup()
        log.info("Removed %d old job result folder(s)", removed)
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("Could not clean up old job results (database)", exc_info=True)
    app = current_app._get_current_object()
    # no pooled connection may cross the work horse's fork (the dispatcher thread has some)
    _FORK_SAFE_ENGINES.add(db.engine)
    dispatcher = None if burst else _DispatchThread(app, WORKER_DISPATCH_SECONDS)
    while True:
        _dispatch_safely()
        db.session.remove()
        db.engine.dispose()
        if dispatcher is not None and not dispatcher.is_alive():
            dispatcher.start()
        worker = make_worker([queue_on(connection)], connection, simple=simple, burst=burst)
        worker.max_connection_wait_time = WORKER_MAX_BACKOFF
        try:
            worked = worker.work(burst=burst)
        except Exception:  # noqa: BLE001 - its teardown needs Redis too: wait for it
            log.warning("The worker stopped on an error (Redis unreachable?)", exc_info=True)
            worked = False
        if burst or worker._stop_requested:
            return worked
        log.warning("The worker stopped without being asked (Redis lost?); it starts again "
                    "once Redis answers")
        if not _pause_until_redis(connection):
            return worked


_FORK_SAFE_ENGINES: weakref.WeakSet = weakref.WeakSet()


def _forget_pools_in_child() -> None:
    for engine in list(_FORK_SAFE_ENGINES):
        engine.dispose(close=False)  # the parent's connections stay the parent's


os.register_at_fork(after_in_child=_forget_pools_in_child)

#: seconds between two dispatches by the worker's own thread
WORKER_DISPATCH_SECONDS = 5.0


class _DispatchThread(threading.Thread):
    """Run :func:`dispatch` every few seconds in its own app context (the worker's)."""

    def __init__(self, app: Flask, every: float):
        super().__init__(name="erp-jobs-dispatch", daemon=True)
        self.app, self.every = app, every

    def run(self) -> None:
        """Dispatch until the process ends; a failure is logged and tried again."""
        while True:
            time.sleep(self.every)
            with self.app.app_context():
                _dispatch_safely()
                db.session.remove()


def _pause_until_redis(connection) -> bool:
    """Wait until Redis answers, asking at growing intervals; ``False`` if told to stop."""
    import signal

    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda signum, frame: stop.set())
    try:
        wait = 0.5
        while not stop.wait(wait):
            try:
                connection.ping()
                return True
            except Exception:  # noqa: BLE001 - still away
                wait = min(WORKER_MAX_BACKOFF, wait * 2)
        return False
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def queue_on(connection, app: Flask | None = None):
    """Return the jobs' RQ queue on ``connection``."""
    import rq

    app = app or current_app
    return rq.Queue(app.config.get("ERP_JOBS_QUEUE") or DEFAULT_QUEUE, connection=connection)


def make_worker(queues: list, connection, *, simple: bool = False, burst: bool = False):
    """Return an RQ worker for ``queues``; a burst worker listens for no remote commands.

    RQ's worker subscribes to a Redis channel for commands (stop, kill) through a thread that
    waits up to 60 s for a message; closing that subscription at the end of a burst can wait
    out the whole minute when the thread is in its wait. A burst run stops by itself, so it
    does without the channel.
    """
    import rq

    base = rq.SimpleWorker if simple else rq.Worker
    if not burst:
        return base(queues, connection=connection)

    class BurstWorker(base):
        def subscribe(self):
            """Listen for no commands: the run ends when the queue is empty."""

        def unsubscribe(self):
            """Nothing was subscribed."""

    return BurstWorker(queues, connection=connection)
