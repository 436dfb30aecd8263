"""Transfers between warehouses posted 8 times at once: pick, ship, receive, cancel.

Each action locks the transfer's row and reads its state under the lock, so of 8 identical
requests one moves the stock and the others find the state already changed.
The stock is 5 x TRF-1 in WH1/A-01-01-01 at 2.00; the transfer sends all 5 to US-LAX.
"""

from __future__ import annotations

from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import TransferState
from erp.warehouse.services import TransferLineSpec
from tests.concurrency.guarded import (
    SAFE_TO_REPEAT,
    Scenario,
    audit_count,
    guarded,
    ledger_balances,
    level,
)

SAFE_TO_REPEAT["warehouse.create_transfer_order"] = (
    "each request drafts its own transfer, which moves nothing and reserves nothing; the pick "
    "(guarded) checks the stock under lock")


def _transfer(get, state: TransferState = TransferState.draft):
    """Return ``(transfer, sku, bin, destination)`` with the transfer brought to ``state``."""
    sku, bin_ = get("create_sku")("TRF-1"), get("create_bin")("A-01-01-01")
    get("receive_stock")(sku, bin_, 5)
    lax = services.create_warehouse(code="US-LAX", name="Los Angeles", country="US", actor=None)
    services.create_location(lax, code="RCV-01", kind="receiving", actor=None)
    transfer = services.create_transfer(bin_.warehouse, lax,
                                        [TransferLineSpec(sku.id, bin_.id, 5)], actor=None)
    if state != TransferState.draft:
        services.pick_transfer(transfer, actor=None)
    if state == TransferState.shipped:
        services.ship_transfer(transfer, cartons=1, actor=None)
    db.session.commit()
    return transfer, sku, bin_, lax


def _path(transfer, action: str) -> str:
    return f"/warehouse/transfers/{transfer.id}/{action}"


@guarded("warehouse.pick_transfer_order")
def pick_one_transfer(get) -> Scenario:
    """8 picks of one draft: the units leave their bin once."""
    transfer, sku, bin_, _ = _transfer(get)

    def check(answers):
        db.session.expire_all()
        assert transfer.state == TransferState.picked
        assert level(sku, bin_).on_hand == 0
        assert level(sku, services.staging_location(bin_.warehouse)).on_hand == 5
        assert audit_count("transfer_order.picked", of=transfer) == 1
        ledger_balances()

    return Scenario("warehouse", _path(transfer, "pick"), {}, check)


@guarded("warehouse.ship_transfer_order")
def ship_one_transfer(get) -> Scenario:
    """8 shipments of one picked transfer: the units go into transit once."""
    transfer, sku, bin_, lax = _transfer(get, TransferState.picked)

    def check(answers):
        db.session.expire_all()
        assert transfer.state == TransferState.shipped
        assert level(sku, services.in_transit_location(lax)).on_hand == 5
        assert level(sku, services.staging_location(bin_.warehouse)).on_hand == 0
        assert audit_count("transfer_order.shipped", of=transfer) == 1
        ledger_balances()

    return Scenario("warehouse", _path(transfer, "ship"), {"cartons": "2"}, check)


@guarded("warehouse.receive_transfer_order")
def receive_one_transfer(get) -> Scenario:
    """8 receipts of one shipped transfer: the units arrive once."""
    transfer, sku, _, lax = _transfer(get, TransferState.shipped)

    def check(answers):
        db.session.expire_all()
        assert transfer.state == TransferState.received
        assert level(sku, services.default_receive_bin(lax)).on_hand == 5
        assert level(sku, services.in_transit_location(lax)).on_hand == 0
        assert audit_count("transfer_order.received", of=transfer) == 1
        ledger_balances()

    return Scenario("warehouse", _path(transfer, "receive"), {"bin": "RCV-01"}, check)


@guarded("warehouse.cancel_transfer_order")
def cancel_one_transfer(get) -> Scenario:
    """8 cancellations of one draft: one audit event, nothing moved."""
    transfer, sku, bin_, _ = _transfer(get)

    def check(answers):
        db.session.expire_all()
        assert transfer.state == TransferState.cancelled
        assert audit_count("transfer_order.cancelled", of=transfer) == 1
        assert level(sku, bin_).on_hand == 5

    return Scenario("warehouse", _path(transfer, "cancel"), {"reason": "duplicate"}, check)
