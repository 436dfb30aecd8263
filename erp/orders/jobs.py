"""The allocation run as a background job (kind ``"allocate_all"``): Allocate all, erp allocate.

The run takes the orders to allocate once (:func:`~erp.orders.services.allocation_queue`) and
allocates them in batches of :data:`~erp.orders.services.allocation.BATCH_SIZE`, each in a
short write transaction of its own that is committed before the next begins: a long run never
holds one transaction (nor SQLite's write lock) for minutes, and what it did is kept if it
stops half-way. Each order is locked and audited exactly as a single allocation is. After each
batch the job reports how many orders are done out of how many; at the end it leaves a summary
(allocated, backordered, skipped with their reasons) that the job's page shows.

Only one run at a time: the view and the command start it with
:func:`erp.core.jobs.submit_once`, which hands back the run already queued or running.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import DBAPIError

from erp.core import jobs, transactions
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.models import User
from erp.extensions import db
from erp.orders.services import AllocationSummary, allocate_batch, allocation_queue
from erp.orders.services.allocation import BATCH_SIZE

log = logging.getLogger(__name__)

KIND = "allocate_all"
#: failures listed by name on the job's page (the count is always complete)
LISTED_FAILURES = 200


def progress_message(done: int, total: int) -> str:
    """Return "1,500 of 10,000 orders done" in the job's language."""
    return ngettext("%(done)s of %(count)s order done", "%(done)s of %(count)s orders done", total,
                    done=format_number(done), count=format_number(total))


def summary_dict(summary: AllocationSummary, total: int) -> dict:
    """Return what the job's page shows of a finished run (stored as JSON on the job)."""
    return {
        "total": total,
        "allocated": len(summary.allocated),
        "backordered": len(summary.backordered),
        "failed": len(summary.failed),
        "changed": len(summary.skipped),
        "skipped": len(summary.failed) + len(summary.skipped),
        "failures": [[number, reason] for number, reason in summary.failed[:LISTED_FAILURES]],
    }


def summary_sentence(summary: dict) -> str:
    """Return one line saying what a run did: "2 orders considered: 1 allocated, ..."."""
    total, allocated = summary.get("total", 0), summary.get("allocated", 0)
    backordered, skipped = summary.get("backordered", 0), summary.get("skipped", 0)
    return _("%(considered)s: %(allocated)s, %(backordered)s, %(skipped)s.",
             considered=ngettext("%(count)s order considered", "%(count)s orders considered",
                                 total, count=format_number(total)),
             allocated=ngettext("%(count)s allocated", "%(count)s allocated", allocated,
                                count=format_number(allocated)),
             backordered=ngettext("%(count)s backordered", "%(count)s backordered", backordered,
                                  count=format_number(backordered)),
             skipped=ngettext("%(count)s skipped", "%(count)s skipped", skipped,
                              count=format_number(skipped)))


def _details(params: dict) -> list[tuple]:
    limit = params.get("limit")
    return [(_("At most"), ngettext("%(count)s order", "%(count)s orders", limit,
                                    count=format_number(limit)))] if limit else []


def _batch(ids: list[int], actor) -> AllocationSummary:
    """Allocate one batch in a write transaction of its own and commit it.

    A deadlock or serialization failure (PostgreSQL), or SQLite's lock not coming free, rolls
    the batch back and runs it again, as a request would be.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            with transactions.intent("write"):
                part = allocate_batch(ids, actor=actor)
                db.session.commit()
            return part
        except DBAPIError as err:
            db.session.rollback()
            if not (transactions.is_retryable(err) or transactions.is_busy(err)) \
                    or attempt > transactions.RETRIES:
                raise
            log.info("Allocation batch met %s; running it again (attempt %d)",
                     transactions.sqlstate(err) or "a busy database", attempt + 1)
            time.sleep(transactions.backoff(attempt))


@jobs.register(KIND, page=jobs.KindPage(label=_l("Allocation run"), details=_details,
                                        summary_template="orders/allocation_summary.html"))
def run_allocation(job: jobs.JobContext, *, limit: int | None = None) -> None:
    """Allocate every new and backordered order (at most ``limit``), batch by batch."""
    actor = db.session.get(User, job.user_id) if job.user_id else None
    ids = allocation_queue(limit=limit)
    db.session.rollback()  # the read is over: nothing of it is held while the batches run
    total = len(ids)
    summary = AllocationSummary()
    job.progress(0, progress_message(0, total))
    for start in range(0, total, BATCH_SIZE):
        summary.add(_batch(ids[start:start + BATCH_SIZE], actor))
        done = min(start + BATCH_SIZE, total)
        # after the commit: the progress goes through another connection, which on SQLite
        # must not wait for this job's own write lock
        job.progress(done * 100 // total, progress_message(done, total))
    log.info("Allocation run %s: %s", job.job_id, summary)
    job.summary = summary_dict(summary, total)
