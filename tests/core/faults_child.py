"""A child process that dies with SIGKILL in the middle of a unit of work (the fault tests).

:func:`main` runs in a forked child of the test (or as ``python -m tests.core.faults_child MODE
JSON`` from the repository root). Its arguments hold ``db`` (the test database's URL),
``instance`` (the app's instance folder) and the mode's own. The process builds an app on the
test's database, as a web or job worker would, and kills itself at the chosen moment, so
nothing of Python's clean-up runs (no rollback, no ``finally``): the database sees a
connection vanish, as when a worker is SIGKILLed.

Modes:

- ``job``: run background job ``job_id``; die as its result file is about to be renamed into
  place (written whole under its temporary name, not yet under its final one);
- ``api``: POST an order to the API with an ``Idempotency-Key``; die just before the view's
  commit (``when="before"``: the order is flushed, not committed) or just after it
  (``when="after"``: committed, its response not yet stored with the key);
- ``form``: post the exchange-rate form with its one-time key, signed in with the test's
  session cookie; die just before the view's commit;
- ``transfer``: move stock between two bins; die just before the commit;
- ``worker``: run ``erp worker`` on ``redis`` and ``queue`` (the test ends it).
"""

from __future__ import annotations

import json
import os
import signal
import sys

from erp.core import jobs
from erp.core.jobs import JobContext, JobResult

#: what the killed job writes: large enough that a partial file would show
REPORT_BYTES = 256 * 1024


@jobs.register("test_fault_report")
def fault_report(job: JobContext) -> JobResult:
    """A report job: progress, then a file of REPORT_BYTES bytes."""
    job.progress(50, "Counting")
    return JobResult(b"x" * REPORT_BYTES, "report.xlsx", "application/octet-stream")


def die() -> None:
    """End this process at once, as SIGKILL from outside would."""
    os.kill(os.getpid(), signal.SIGKILL)


def main(mode: str, args: dict) -> None:
    """Build the app on the test database and run ``mode`` until it kills this process."""
    from sqlalchemy import event

    from erp import create_app
    from erp.extensions import db
    from tests.conftest import BASE_CONFIG

    app = create_app({**BASE_CONFIG, "SQLALCHEMY_DATABASE_URI": args["db"],
                      "ERP_JOBS_STALE_SECONDS": args.get("stale", 60),
                      "ERP_REDIS_URL": args.get("redis"),
                      "ERP_JOBS_QUEUE": args.get("queue")})
    app.instance_path = args["instance"]
    with app.app_context():
        if mode == "worker":  # not killed by itself: the test stops it
            jobs.WORKER_DISPATCH_SECONDS = 0.3
            jobs.run_worker()
        elif mode == "job":
            real_replace = os.replace

            def replace_then_die(src, dst):
                if os.path.basename(dst) == "report.xlsx":
                    die()
                real_replace(src, dst)

            os.replace = replace_then_die
            jobs.run_job(args["job_id"])
        elif mode == "api":
            from erp.orders.models import CustomerOrder

            def holds_an_order(session) -> bool:
                return any(isinstance(obj, CustomerOrder)
                           for obj in list(session.new) + list(session.identity_map.values()))

            if args["when"] == "before":
                @event.listens_for(db.session, "before_commit")
                def _before(session):
                    if holds_an_order(session):
                        session.flush()
                        die()
            else:
                @event.listens_for(db.session, "after_commit")
                def _after(session):
                    if holds_an_order(session):
                        die()
            app.test_client().post("/api/v1/orders", json=args["body"], headers={
                "Authorization": f"Bearer {args['token']}",
                "Idempotency-Key": args["key"]})
        elif mode == "form":
            from erp.core.models import ExchangeRate

            @event.listens_for(db.session, "before_commit")
            def _before(session):
                if any(isinstance(obj, ExchangeRate)
                       for obj in list(session.new) + list(session.identity_map.values())):
                    session.flush()
                    die()

            client = app.test_client()
            client.set_cookie("session", args["cookie"])  # the test's signed-in session
            client.post("/settings/exchange-rates", data=args["form"])
        elif mode == "transfer":
            from erp.catalog.models import Sku
            from erp.warehouse import services
            from erp.warehouse.models import Location

            @event.listens_for(db.session, "before_commit")
            def _before(session):
                session.flush()
                die()

            services.transfer(db.session.get(Sku, args["sku"]),
                              db.session.get(Location, args["from"]),
                              db.session.get(Location, args["to"]), args["quantity"],
                              actor=None)
            db.session.commit()
    os._exit(3)  # not killed: the test sees it did not happen as planned


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
