"""The audit chain stays whole while many transactions commit audit rows at once."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from erp.core import audit, transactions
from erp.core.auditchain import verify
from erp.core.models import AuditEvent
from erp.extensions import db
from tests.concurrency_helpers import POOL_CONFIG

THREADS = 8
COMMITS = 15


@pytest.fixture
def app_config() -> dict:
    """Give each thread a connection of its own."""
    return POOL_CONFIG


@dataclass
class Widget:
    """A stand-in for a domain record."""

    __tablename__ = "widget"
    id: int
    name: str


def test_chain_stays_whole_under_concurrent_commits(app):
    barrier = threading.Barrier(THREADS, timeout=60)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        with app.app_context(), transactions.intent("write"):
            try:
                barrier.wait()
                for i in range(COMMITS):
                    if i % 3 == 0:  # a bulk write and a single one in one transaction
                        audit.record_many("widget", "widget.imported",
                                          [(k, f"W{k}", {"n": k}) for k in range(5)],
                                          actor=None)
                    audit.record(Widget(n * 100 + i, f"W{n}-{i}"), "widget.updated",
                                 actor=None, changes={"thread": n, "i": i})
                    db.session.commit()
            except BaseException as err:  # noqa: BLE001 - reported by the test below
                errors.append(err)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert errors == []
    expected = THREADS * (COMMITS + 5 * len(range(0, COMMITS, 3)))
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == expected
    report = verify()
    assert report.ok, report.problems
    assert report.rows == expected
    positions = db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)).all()
    assert positions == list(range(1, expected + 1))
