"""Concurrent reservations on PostgreSQL: row locks stop two transactions overselling."""

import threading

import pytest
from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core.errors import DomainError
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import Location, StockLevel
from erp.warehouse.queries import ledger_problems
from tests.concurrency_helpers import race


@pytest.fixture
def app_config():
    # One connection per thread: the default pool (5 + 10 overflow) would starve the barrier.
    return {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 25, "max_overflow": 5,
                                          "pool_timeout": 20}}


@pytest.mark.postgres
@pytest.mark.parametrize(("per_thread", "winners"), [(5, 1), (1, 5)])
def test_twenty_threads_reserving_the_last_five_units(app, dummy_sku, create_bin,
                                                      receive_stock, per_thread, winners):
    bin_a = create_bin()
    receive_stock(dummy_sku, bin_a, 5)
    db.session.commit()
    sku_id, bin_id = dummy_sku.id, bin_a.id
    barrier = threading.Barrier(20, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker(n: int):
        with app.app_context():
            sku = db.session.get(Sku, sku_id)
            location = db.session.get(Location, bin_id)
            barrier.wait()
            try:
                services.reserve(sku, location, per_thread, ref_type="order_line", ref_id=n,
                                 actor=None)
                db.session.commit()
                result = "ok"
            except DomainError:
                db.session.rollback()
                result = "refused"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 20
    assert outcomes.count("ok") == winners
    db.session.expire_all()
    level = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == sku_id,
                                                       StockLevel.location_id == bin_id))
    assert (level.on_hand, level.reserved) == (5, 5)
    assert ledger_problems(db.session) == []


@pytest.mark.postgres
@pytest.mark.parametrize(("quantity", "winners"), [(None, 1), (2, 6)], ids=["all", "by-two"])
def test_eight_simultaneous_scans_of_one_putaway_task(app, dummy_sku, create_bin, receive_stock,
                                                      quantity, winners):
    """Each scan puts away all that is left, or 2: the task's figures lose no update."""
    from erp.warehouse.models import PutawayState, PutawayTask

    dock = create_bin("RCV-01", kind="receiving")
    shelf = create_bin("A-01-01-01")
    receive_stock(dummy_sku, dock, 12)
    db.session.commit()
    task_id = db.session.scalar(select(PutawayTask.id))
    sku_id, dock_id, shelf_id = dummy_sku.id, dock.id, shelf.id

    def prepare(n):
        task = db.session.get(PutawayTask, task_id)
        location = db.session.get(Location, shelf_id)
        return lambda: services.confirm_putaway(task, location, quantity, actor=None)

    outcomes = race(app, prepare)
    assert outcomes.wins == winners
    task = db.session.get(PutawayTask, task_id)
    assert (task.state, task.done_qty) == (PutawayState.done, 12)
    assert db.session.get(StockLevel, (sku_id, shelf_id)).on_hand == 12
    assert db.session.get(StockLevel, (sku_id, dock_id)).on_hand == 0
    assert ledger_problems(db.session) == []
