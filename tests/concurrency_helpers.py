"""Fire the same service call from several threads at once (service-level concurrency tests).

Each thread runs in its own app context, so it has its own session and its own database
connection, loads what it needs (as a request would, before the race), waits at a barrier, then
makes its call and commits; a refusal (:class:`DomainError`) rolls back. The tests then assert
that the limit held: how many calls won, what the others were told, and what the database holds.

These tests are marked ``@pytest.mark.postgres``: only PostgreSQL runs transactions side by side
(SQLite serialises writers), so only there does a missing row lock show.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from erp.core.errors import DomainError
from erp.extensions import db

#: how many identical calls each test fires together
CALLS = 8
#: ``app_config`` for these tests: one connection per thread, and some for the test itself
POOL_CONFIG = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": CALLS + 4, "max_overflow": 4,
                                             "pool_timeout": 30}}


@pytest.fixture
def people(create_user):
    """Return ``{role: [user ids]}``: 8 agents, 8 managers and 8 warehouse users. Committed."""
    out = {role: [create_user(f"{role}-{n}", roles=(role,)).id for n in range(CALLS)]
           for role in ("customer_service", "manager", "warehouse")}
    db.session.commit()
    return out


@dataclass
class Outcomes:
    """What the calls of one race ended with, in no particular order."""

    results: list[Any] = field(default_factory=list)   # return values of the calls that won
    refusals: list[DomainError] = field(default_factory=list)
    unexpected: list[BaseException] = field(default_factory=list)  # anything else: a bug

    @property
    def wins(self) -> int:
        """Return how many calls succeeded (and committed)."""
        return len(self.results)

    def messages(self) -> list[str]:
        """Return the refusals' messages, sorted."""
        return sorted(str(err) for err in self.refusals)


def race(app, prepare: Callable[[int], Callable[[], Any]], *, calls: int = CALLS) -> Outcomes:
    """Run ``calls`` threads; each calls ``prepare(n)`` then, all together, what it returned.

    ``prepare`` runs in the thread's own app context before the barrier: it loads the objects
    (``db.session.get`` by id; objects of the test's session must not cross threads) and
    returns the zero-argument call to race. A call that returns commits; one that raises a
    :class:`DomainError` is a refusal; anything else is recorded as unexpected.
    """
    barrier = threading.Barrier(calls, timeout=30)
    outcomes = Outcomes()
    guard = threading.Lock()

    def worker(n: int) -> None:
        with app.app_context():
            try:
                call = prepare(n)
            except BaseException as err:  # a broken setup must not leave the others waiting
                barrier.abort()
                with guard:
                    outcomes.unexpected.append(err)
                db.session.remove()
                return
            try:
                barrier.wait()
                result = call()
                db.session.commit()
            except DomainError as err:
                db.session.rollback()
                with guard:
                    outcomes.refusals.append(err)
            except BaseException as err:
                db.session.rollback()
                with guard:
                    outcomes.unexpected.append(err)
            else:
                with guard:
                    outcomes.results.append(result)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,), name=f"race-{n}")
               for n in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a racing call never finished"
    assert not outcomes.unexpected, outcomes.unexpected
    assert outcomes.wins + len(outcomes.refusals) == calls
    db.session.expire_all()  # the test's own session reads what the threads committed
    return outcomes
