"""``webhook_fanout``: 10,000 events delivered to a local receiver by one worker.

The events (4 per order over 2,500 orders, the types an order goes through) are written to the
outbox of a temporary database, one endpoint wants every type, and a receiver in another
process (:mod:`bench.webhook_receiver`) answers 204. ``seconds`` is one pump run
(:func:`erp.core.webhooks.run`) from the events committed but not yet numbered until every
delivery is delivered: sequencing, fan-out, claims, signed requests over keep-alive, results.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.runner import BenchDB, bench, log, make_app

TYPES = ["order.accepted", "order.allocated", "order.shipped", "order.delivered"]


@bench("webhook_fanout")
def webhook_fanout(db: BenchDB) -> dict:
    """10,000 events (a tenth with ``--quick``) delivered by one pump run."""
    from sqlalchemy import func, select

    from erp.core import events, webhooks
    from erp.core.webhooks import DeliveryState, WebhookDelivery
    from erp.extensions import db as sqla

    n = db.scale(10_000)
    app = make_app(db)
    receiver = subprocess.Popen([sys.executable, "-m", "bench.webhook_receiver"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(receiver.stdout.readline())
        with app.app_context():
            webhooks.create_endpoint(name="Bench store", url=f"http://127.0.0.1:{port}/hooks",
                                     event_types=list(events.EVENT_TYPES), actor=None)
            sqla.session.commit()
            orders = max(1, n // len(TYPES))
            for step, type_ in enumerate(TYPES):
                count = orders if step < len(TYPES) - 1 else n - orders * (len(TYPES) - 1)
                events.emit_many(type_, [
                    (events.order_key(f"SO-{i:06d}"), {"number": f"SO-{i:06d}", "step": step,
                                                       "lines": [{"sku": "A-1", "qty": 1}]})
                    for i in range(count)])
            sqla.session.commit()
            start = time.perf_counter()
            totals = webhooks.run(budget_seconds=3600)
            seconds = time.perf_counter() - start
            delivered = sqla.session.scalar(select(func.count()).select_from(WebhookDelivery)
                                            .where(WebhookDelivery.state
                                                   == DeliveryState.delivered))
            sqla.session.remove()
            sqla.engine.dispose()
    finally:
        receiver.stdin.close()  # the receiver stops when its input closes
        receiver.wait(10)
        receiver.stdout.close()
    if delivered != n:
        raise RuntimeError(f"{delivered} of {n} events delivered: {totals}")
    log(f"   {n:,} events delivered in {seconds:.2f} s ({n / seconds:,.0f}/s), "
        f"{totals['batches']} batches")
    return {"n": n, "seconds": round(seconds, 3), "per_second": round(n / seconds, 1),
            "batches": totals["batches"]}
