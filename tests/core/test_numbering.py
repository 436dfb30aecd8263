"""Document numbers: format, sequence per prefix and year, and no duplicates under concurrency."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import delete

from erp.core import numbering
from erp.core.errors import ValidationError
from erp.core.models import Sequence
from erp.extensions import db

DRAWS_PER_THREAD = 25


def test_next_number_format(app):
    assert numbering.next_number("PO", on=date(2026, 5, 17)) == "PO-2026-000001"


def test_next_number_consecutive(app):
    numbers = [numbering.next_number("PO", on=date(2026, 5, 17)) for _ in range(3)]
    assert numbers == ["PO-2026-000001", "PO-2026-000002", "PO-2026-000003"]
    assert numbering.current_value("PO-2026") == 3


def test_next_number_restarts_each_year(app):
    numbering.next_number("PO", on=date(2026, 12, 31))
    numbering.next_number("PO", on=date(2026, 12, 31))
    assert numbering.next_number("PO", on=date(2027, 1, 1)) == "PO-2027-000001"
    assert numbering.next_number("PO", on=date(2026, 6, 1)) == "PO-2026-000003"


def test_next_number_prefixes_independent(app):
    numbering.next_number("PO", on=date(2026, 1, 1))
    assert numbering.next_number("RMA", on=date(2026, 1, 1)) == "RMA-2026-000001"


def test_next_number_survives_commit_and_new_session(app):
    numbering.next_number("PO", on=date(2026, 1, 1))
    db.session.commit()
    db.session.remove()
    assert numbering.next_number("PO", on=date(2026, 1, 1)) == "PO-2026-000002"


def test_next_number_rolled_back_draw_is_given_again(app):
    numbering.next_number("PO", on=date(2026, 1, 1))
    db.session.commit()
    numbering.next_number("PO", on=date(2026, 1, 1))
    db.session.rollback()
    assert numbering.next_number("PO", on=date(2026, 1, 1)) == "PO-2026-000002"


@pytest.mark.parametrize("prefix", ["po", "P0", "", "PO-", "ABCDEFGHIJK", "P O"])
def test_next_number_bad_prefix_refused(app, prefix):
    with pytest.raises(ValidationError, match="A document prefix must be 1-10 capital letters"):
        numbering.next_number(prefix, on=date(2026, 1, 1))
    assert db.session.query(Sequence).count() == 0


def _draw_concurrently(app) -> list[int]:
    """Draw numbers from two threads at once, each in its own app context and session."""
    barrier = threading.Barrier(2, timeout=10)
    drawn: list[list[str]] = [[], []]
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for i in range(DRAWS_PER_THREAD):
                    drawn[index].append(numbering.next_number("CC", on=date(2026, 3, 1)))
                    db.session.commit()
                    # now and then let the other thread's waiting draw in, so the two
                    # sessions interleave instead of one running all its draws first
                    time.sleep(0.003 * (i % 3 == index))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    assert all(len(d) == DRAWS_PER_THREAD for d in drawn)
    return sorted(int(n.rsplit("-", 1)[1]) for d in drawn for n in d)


@pytest.fixture
def clean_sequences(app):
    """Remove the sequence rows the concurrency test commits from other connections."""
    yield
    db.session.rollback()
    db.session.execute(delete(Sequence))
    db.session.commit()


@pytest.mark.postgres
def test_next_number_two_sessions_at_once_never_duplicate(app, clean_sequences):
    assert _draw_concurrently(app) == list(range(1, 2 * DRAWS_PER_THREAD + 1))


def test_next_number_two_sessions_at_once_never_duplicate_sqlite(app, clean_sequences):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the PostgreSQL variant covers this")
    assert _draw_concurrently(app) == list(range(1, 2 * DRAWS_PER_THREAD + 1))
