"""The event feed benchmark: ``events_feed`` (100,000 events paged through, 500 a page)."""

from __future__ import annotations

import statistics
import time

from bench.runner import BenchDB, bench, log, make_app

RUNS = 3
PAGE = 500
#: events written (and committed) per insert while the data is built
CHUNK = 5_000


@bench("events_feed")
def events_feed(db: BenchDB) -> dict:
    """100,000 outbox events paged through ``GET /api/v1/events`` in pages of 500.

    The events (order events of the shape the state machine writes, a tenth with
    ``--quick``) are written and numbered first, as the ticker would have; each run then pages
    from the start with the in-process test client and a bearer token until ``has_more`` is
    false, checking that it saw every event once. ``seconds`` is the median of 3 runs.
    """
    from sqlalchemy import func, select

    from erp.core import events
    from erp.core.models import utcnow
    from erp.extensions import db as sqla
    from erp.orders import services

    n = db.scale(100_000)
    app = make_app(db)
    start = time.perf_counter()
    with app.app_context():
        types = ["order.accepted", "order.allocated", "order.held", "order.released",
                 "order.cancelled", "order.shipped"]
        now = utcnow()
        for first in range(0, n, CHUNK):
            for type_ in types:
                items = [(events.order_key(f"WEB-{i:07d}"), {
                    "order": f"WEB-{i:07d}", "channel": "webshop", "state": "allocated",
                    "previous_state": "new", "reason": None})
                    for i in range(first, min(first + CHUNK, n)) if i % len(types)
                    == types.index(type_)]
                events.emit_many(type_, items, at=now)
            sqla.session.commit()
        numbered = events.sequence_all()
        _token, plaintext = services.create_api_token("bench storefront", actor=None)
        sqla.session.commit()
        total = sqla.session.scalar(select(func.count()).select_from(events.OutboxEvent))
        sqla.session.remove()
    build = time.perf_counter() - start
    if total != n or numbered != n:
        raise RuntimeError(f"built {total:,} events, numbered {numbered:,}; wanted {n:,}")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {plaintext}"}
    pages = []

    def page_through() -> None:
        cursor, seen, count = 0, 0, 0
        while True:
            response = client.get(f"/api/v1/events?after={cursor}&limit={PAGE}",
                                  headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"page after {cursor}: {response.status_code} "
                                   f"{response.get_data(as_text=True)[:200]}")
            body = response.get_json()
            seen += len(body["events"])
            count += 1
            if body["events"] and body["events"][0]["sequence"] <= cursor:
                raise RuntimeError("the feed went backwards")
            cursor = body["next_cursor"]
            if not body["has_more"]:
                break
        if seen != n:
            raise RuntimeError(f"paged through {seen:,} events; wanted {n:,}")
        pages.append(count)

    times = []
    for _ in range(RUNS):
        begin = time.perf_counter()
        page_through()
        times.append(time.perf_counter() - begin)
    with app.app_context():
        sqla.engine.dispose()
    seconds = statistics.median(times)
    log(f"   {n:,} events built and numbered in {build:.1f} s; {RUNS} runs of {pages[0]} "
        "pages: " + ", ".join(f"{t:.2f}" for t in times) + " s")
    return {"n": n, "seconds": round(seconds, 3), "pages": pages[0],
            "page_median_ms": round(seconds / pages[0] * 1000, 2),
            "per_second": round(n / seconds, 1), "build_seconds": round(build, 2)}
