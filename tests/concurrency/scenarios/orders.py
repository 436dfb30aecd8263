"""Customer-order operations posted 8 times at once: allocation run, release, address; erasure."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from erp.core.models import BackgroundJob, JobState
from erp.extensions import db
from erp.orders.services import hold_order
from erp.warehouse.models import StockLevel
from tests.concurrency.guarded import (
    Scenario,
    allocated_order,
    audit_count,
    guarded,
    ledger_balances,
)


def reserved(sku) -> int:
    """Return the units of ``sku`` reserved in every bin."""
    db.session.expire_all()
    return db.session.scalar(select(func.sum(StockLevel.reserved))
                             .where(StockLevel.sku_id == sku.id)) or 0


def wait_for_allocation_runs(timeout: float = 60) -> list[BackgroundJob]:
    """Wait until no allocation run is queued or running (they run in the server's threads)."""
    deadline = time.monotonic() + timeout
    while True:
        db.session.rollback()
        db.session.expire_all()
        runs = list(db.session.scalars(select(BackgroundJob).where(
            BackgroundJob.kind == "allocate_all")))
        if all(r.state in (JobState.finished, JobState.failed) for r in runs) \
                or time.monotonic() > deadline:
            return runs
        time.sleep(0.1)


@guarded("orders.allocate_all_orders")
def run_allocation_at_once(get) -> Scenario:
    """8 "Allocate all" at once, orders of 3 and 3 for 5 in stock: one run, 3 + 2 reserved.

    The first post starts the background job; the others, arriving while it is queued or
    running, are led to it (or back to the list): a run may start only after the one before
    has finished, never beside it.
    """
    sku = get("stocked_sku")("CONC-1", 5)
    first = get("create_order")([(sku, 3)])
    second = get("create_order")([(sku, 3)])
    db.session.commit()

    def check(answers):
        runs = sorted(wait_for_allocation_runs(), key=lambda r: r.created_at)
        assert {r.state for r in runs} == {JobState.finished}, [(r.state, r.error) for r in runs]
        for before, after in zip(runs, runs[1:], strict=False):
            assert after.created_at >= before.finished_at  # one run at a time
        assert all(a.status == 302 for a in answers)
        assert reserved(sku) == 5
        assert [first.lines[0].allocated_qty, second.lines[0].allocated_qty] == [3, 2]
        assert [first.state.value, second.state.value] == ["allocated", "backordered"]
        assert audit_count("customer_order.allocated", of=first) == 1
        assert audit_count("customer_order.backordered", of=second) == 1
        ledger_balances()

    return Scenario("customer_service", "/orders/allocate", {}, check)


@guarded("orders.release_order")
def release_the_same_order(get) -> Scenario:
    """8 releases of a held order: released and re-allocated once."""
    order, sku = allocated_order(get)
    hold_order(order, reason="Fraud check", actor=None)
    db.session.commit()

    def check(answers):
        assert reserved(sku) == 5
        assert order.state.value == "allocated"
        assert audit_count("customer_order.new", of=order) == 1
        assert audit_count("customer_order.allocated", of=order) == 2  # before the hold, after
        ledger_balances()

    return Scenario("customer_service", f"/orders/{order.id}/release", {}, check)


@guarded("orders.edit_order_address")
def correct_the_same_address(get) -> Scenario:
    """8 identical address corrections: the address changes once, one audit event."""
    order, _ = allocated_order(get)
    address = {"ship_name": "Erika Mustermann", "address1": "Jungfernstieg 7", "address2": "",
               "city": "Hamburg", "region": "", "postal_code": "20354", "country": "DE",
               "phone": ""}

    def check(answers):
        db.session.expire_all()
        assert (order.address1, order.city, order.postal_code) == (
            "Jungfernstieg 7", "Hamburg", "20354")
        assert audit_count("customer_order.address_changed", of=order) == 1

    return Scenario("customer_service", f"/orders/{order.id}/address", address, check)


@guarded("privacy.anonymise_subject")
def anonymise_the_same_customer(get) -> Scenario:
    """8 erasures of one customer: anonymised once, one ``privacy.anonymised`` event."""
    email = "jane.roe@example.com"
    sku = get("stocked_sku")("CONC-1", 0)
    order = get("create_order")([(sku, 1)], email=email, customer_name="Jane Roe",
                                ship_name="Jane Roe", state="cancelled")
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert (order.email, order.customer_name) == (None, "Anonymised customer")
        assert audit_count("privacy.anonymised") == 1

    return Scenario("admin", "/privacy/anonymise",
                    {"email": email, "confirm_email": email,
                     "reason": "Erasure request of 5 January 2026"}, check)


# --- merging and splitting (erp.orders.services.merging, splitting) -----------------------------

_BUYER = {"email": "ana@example.com", "customer_name": "Ana Lima", "ship_name": "Ana Lima",
          "address1": "Calle Mayor 12", "city": "Madrid", "postal_code": "28013",
          "country": "ES", "shipping_service": "POST-REG"}


def _allocated_pair(get):
    """Return two allocated orders of one buyer to one address (stock for both)."""
    from erp.orders.services import allocate_order
    sku = get("stocked_sku")("CONC-1", 10)
    orders = [get("create_order")([(sku, 2)], **_BUYER) for _ in range(2)]
    for order in orders:
        allocate_order(order, actor=None)
    db.session.commit()
    return orders


@guarded("orders.merge_orders")
def merge_the_same_orders(get) -> Scenario:
    """8 merges of one order into another: merged once, one audit event each."""
    primary, other = _allocated_pair(get)

    def check(answers):
        db.session.expire_all()
        assert other.merged_into_id == primary.id
        assert audit_count("customer_order.merged", of=primary) == 1
        assert audit_count("customer_order.merged_into", of=other) == 1

    return Scenario("customer_service", f"/orders/{primary.id}/merge",
                    {"orders": str(other.id)}, check)


@guarded("orders.unmerge_order")
def unmerge_the_same_order(get) -> Scenario:
    """8 unmerges of an order: it leaves its group once, one audit event."""
    from erp.orders.services import merge_orders
    primary, other = _allocated_pair(get)
    merge_orders(primary, [other], actor=None)
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert other.merged_into_id is None
        assert audit_count("customer_order.unmerged", of=other) == 1

    return Scenario("customer_service", f"/orders/{other.id}/unmerge", {}, check)


@guarded("orders.split_order")
def split_the_same_order(get) -> Scenario:
    """8 splits of 1 of an order's 2 units: one part; the others find nothing left to split."""
    order, _other = _allocated_pair(get)
    line_id = order.lines[0].id

    def check(answers):
        db.session.expire_all()
        from erp.orders.models import CustomerOrder
        parts = db.session.scalars(select(CustomerOrder).where(
            CustomerOrder.split_from_id == order.id)).all()
        assert len(parts) == 1
        assert [ln.quantity for ln in order.lines] == [1]
        assert audit_count("customer_order.split", of=order) == 1
        assert reserved_total() == 4
        ledger_balances()

    return Scenario("customer_service", f"/orders/{order.id}/split",
                    {"mode": "manual", f"qty-{line_id}": "1"}, check)


def reserved_total() -> int:
    """Return every unit reserved."""
    db.session.expire_all()
    return db.session.scalar(select(func.sum(StockLevel.reserved))) or 0
