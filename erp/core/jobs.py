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
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask, current_app, has_app_context, has_request_context
from flask_babel import force_locale
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.utils import secure_filename

from erp.core import numbering, transactions
from erp.core.errors import DomainError
from erp.core.i18n import LANGUAGES, _, company_language, current_language
from erp.core.models import BackgroundJob, JobState, Role, utcnow
from erp.extensions import db

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "erp"
DEFAULT_KEEP_DAYS = 7
DEFAULT_TIMEOUT = 3600  # seconds a job may run on RQ before it is stopped
JOBS_DIR = "jobs"  # under the app's instance folder


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
        values: dict[str, Any] = {"progress": value}
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
    each progress step: ``listener(percent, message)``). Commits the session.

    :raises KeyError: for a kind nobody registered.
    :raises TypeError: for params that cannot be stored as JSON.
    """
    if kind not in REGISTRY:
        raise KeyError(f"No background job kind {kind!r} is registered.")
    job = BackgroundJob(id=str(uuid.uuid4()), kind=kind, params=dump_params(params),
                        state=JobState.queued, progress=0, language=_language(user),
                        user_id=getattr(user, "id", None), created_at=utcnow())
    db.session.add(job)
    db.session.commit()
    app = current_app._get_current_object()
    if wait or app.config.get("ERP_JOBS_SYNC"):
        run_job(job.id, app=app, listener=listener)
        db.session.refresh(job)
    elif app.config.get("ERP_REDIS_URL"):
        try:
            queue(app).enqueue_call(
                "erp.core.jobs.run_job", args=(job.id,), job_id=f"erp-{job.id}",
                timeout=int(app.config.get("ERP_JOBS_TIMEOUT") or DEFAULT_TIMEOUT),
                result_ttl=0, failure_ttl=DEFAULT_KEEP_DAYS * 86400,
                description=f"{kind} {job.id}")
        except Exception:  # noqa: BLE001 - a queue that cannot be reached fails the job, visibly
            log.exception("Could not enqueue background job %s", job.id)
            job.state, job.finished_at = JobState.failed, utcnow()
            job.error = _("The job queue (Redis) cannot be reached; try again later.")
            db.session.commit()
    else:
        thread = threading.Thread(target=_run_in_thread, args=(app, job.id),
                                  name=f"erp-job-{job.id}", daemon=True)
        _THREADS[job.id] = thread
        thread.start()
    return job


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


def redis_connection(app: Flask | None = None):
    """Return a Redis connection for ``ERP_REDIS_URL``.

    :raises RuntimeError: when ``ERP_REDIS_URL`` is not set.
    """
    import redis

    url = (app or current_app).config.get("ERP_REDIS_URL")
    if not url:
        raise RuntimeError("ERP_REDIS_URL is not set: set it to the Redis server, e.g. "
                           "redis://127.0.0.1:6379/0.")
    return redis.from_url(url)


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
        return _run(job_id, listener)
    if app is None:
        global _WORKER_APP
        if _WORKER_APP is None:
            from erp import create_app
            _WORKER_APP = create_app()
        app = _WORKER_APP
    with app.app_context():
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


def _run(job_id: str, listener: Callable[[int, str | None], None] | None = None) -> str | None:
    job = db.session.get(BackgroundJob, job_id)
    if job is None:
        log.warning("Background job %s does not exist", job_id)
        return None
    if job.state in (JobState.finished, JobState.failed):
        return job.state.value
    job.state, job.started_at, job.progress = JobState.running, utcnow(), 0
    language = _job_language(job)
    # read before the commit: reading the expired row after it would begin the next
    # transaction under the caller's intent, and a POST running the job in its request
    # (ERP_JOBS_SYNC) would then hold SQLite's write lock against the job's own progress
    context = JobContext(job.id, job.kind, {}, job.user_id, listener)
    kind, params = job.kind, job.params
    db.session.commit()
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
        stored = _store(job.id, result) if result is not None else None
        summary = dump_params(context.summary) if context.summary is not None else None
    except Exception as err:  # noqa: BLE001 - every failure is stored on the job
        db.session.rollback()
        if not isinstance(err, JobError | DomainError):
            log.exception("Background job %s (%s) failed", job_id, job.kind if job else "?")
        job = db.session.get(BackgroundJob, job_id)
        with force_locale(language):
            message = _user_message(err)
        job.state, job.error, job.finished_at = JobState.failed, message, utcnow()
        db.session.commit()
        _remove_dir(job_id)
        return job.state.value
    db.session.rollback()  # the job's own reads; nothing of it is written here
    job = db.session.get(BackgroundJob, job_id)
    job.state, job.progress, job.finished_at = JobState.finished, 100, utcnow()
    job.message = None  # the last step's message ("Saving...") is over
    job.summary = summary
    if stored is not None:
        job.result_path, job.result_name, job.result_mime = stored
    db.session.commit()
    return job.state.value


def _jobs_root() -> str:
    return os.path.join(current_app.instance_path, JOBS_DIR)


def _store(job_id: str, result: JobResult) -> tuple[str, str, str]:
    """Write the result under ``instance/jobs/<id>/``; return (relative path, name, mime)."""
    name = secure_filename(result.filename) or "result"
    folder = os.path.join(_jobs_root(), job_id)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as fh:
        fh.write(result.data)
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


def run_worker(*, burst: bool = False, simple: bool = False) -> bool:
    """Run an RQ worker on the jobs' queue (the ``erp worker`` command); cleanup first.

    Forks a work horse per job unless ``simple``; ``burst`` stops once the queue is empty.

    :raises RuntimeError: when ``ERP_REDIS_URL`` is not set.
    :raises redis.exceptions.ConnectionError: when Redis cannot be reached.
    """
    connection = redis_connection()
    connection.ping()
    removed = cleanup()
    log.info("Removed %d old job result folder(s)", removed)
    # no pooled connection may cross the work horse's fork
    db.session.remove()
    db.engine.dispose()
    worker = make_worker([queue()], connection, simple=simple, burst=burst)
    return worker.work(burst=burst)


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
