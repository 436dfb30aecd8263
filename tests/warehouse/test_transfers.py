"""Transfers between warehouses: draft, pick, ship into transit, receive; the ledger balanced."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.core.errors import DomainError, ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.models import (
    TRANSFER_REF,
    LocationKind,
    PutawayState,
    PutawayTask,
    StockLevel,
    StockMove,
    TransferState,
)
from erp.warehouse.services import TransferError, TransferLineSpec


@pytest.fixture
def lax(app):
    """Return warehouse US-LAX with a receiving bin and a storage bin."""
    warehouse = services.create_warehouse(code="US-LAX", name="Los Angeles returns", country="US",
                                          actor=None)
    services.create_location(warehouse, code="RCV-01", kind="receiving", pick_sequence=1,
                             actor=None)
    services.create_location(warehouse, code="A-01-01-01", kind="storage", pick_sequence=10,
                             actor=None)
    return warehouse


@pytest.fixture
def stock(create_sku, create_bin, receive_stock):
    """Return ``(sku_a, sku_b, bin_1, bin_2)``: 10 x A in bin 1 at 2.00, 6 x B in bin 2 at 5.00."""
    sku_a, sku_b = create_sku("TR-A", barcode="4006381333931"), create_sku("TR-B")
    bin_1, bin_2 = create_bin("A-01-01-01"), create_bin("A-01-01-02")
    receive_stock(sku_a, bin_1, 10, "2.00")
    receive_stock(sku_b, bin_2, 6, "5.00")
    return sku_a, sku_b, bin_1, bin_2


def draft(stock, lax, a=4, b=6, actor=None):
    sku_a, sku_b, bin_1, bin_2 = stock
    return services.create_transfer(
        bin_1.warehouse, lax, [TransferLineSpec(sku_a.id, bin_1.id, a),
                               TransferLineSpec(sku_b.id, bin_2.id, b)],
        actor=actor, carrier="DHL", cartons=2)


def balanced() -> None:
    """The ledger holds: every level equals its moves, and per SKU moves equal the levels."""
    db.session.flush()
    db.session.expire_all()
    assert queries.ledger_problems(db.session) == []
    physical = set(db.session.scalars(select(StockLevel.location_id)))
    per_sku: dict[int, int] = defaultdict(int)
    for move in db.session.scalars(select(StockMove)):
        if move.to_location_id in physical:
            per_sku[move.sku_id] += move.quantity
        if move.from_location_id in physical:
            per_sku[move.sku_id] -= move.quantity
    levels = dict(db.session.execute(select(StockLevel.sku_id, func.sum(StockLevel.on_hand))
                                     .group_by(StockLevel.sku_id)).all())
    assert {k: v for k, v in per_sku.items() if v} == {k: v for k, v in levels.items() if v}


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id), populate_existing=True)
    return level.on_hand if level else 0


def availability(sku):
    return db.session.execute(queries.stock_availability_query([sku.id])).one()


def test_full_flow_moves_stock_through_transit_with_the_ledger_balanced(stock, lax,
                                                                       create_user):
    sku_a, sku_b, bin_1, bin_2 = stock
    clerk = create_user("clerk", roles=("warehouse",))
    transfer = draft(stock, lax, actor=clerk)
    assert transfer.number.startswith("TR-")
    assert transfer.state == TransferState.draft
    assert (on_hand(sku_a, bin_1), availability(sku_a).available) == (10, 10)  # nothing moved
    balanced()

    services.pick_transfer(transfer, {transfer.lines[0].id: 3}, actor=clerk)  # short pick
    staging = services.staging_location(bin_1.warehouse)
    assert transfer.state == TransferState.picked
    assert [ln.picked_qty for ln in transfer.lines] == [3, 6]
    assert (on_hand(sku_a, bin_1), on_hand(sku_a, staging), on_hand(sku_b, staging)) == (7, 3, 6)
    assert availability(sku_a).available == 7  # picked goods are no longer available
    balanced()

    services.ship_transfer(transfer, cartons=3, reference="JD0001", actor=clerk)
    transit = services.in_transit_location(lax)
    assert transit.kind == LocationKind.in_transit
    assert transit.warehouse_id == lax.id
    assert transfer.state == TransferState.shipped
    assert transfer.cartons == 3
    assert (on_hand(sku_a, staging), on_hand(sku_a, transit), on_hand(sku_b, transit)) == (0, 3, 6)
    row = availability(sku_a)
    assert (row.available, row.in_transit) == (7, 3)
    by_wh = {r.code: r for r in db.session.execute(queries.stock_by_warehouse_query(sku_a.id))}
    assert (by_wh["US-LAX"].on_hand, by_wh["US-LAX"].available, by_wh["US-LAX"].in_transit) == \
        (0, 0, 3)
    units, value = queries.in_transit_total()
    assert (units, value) == (9, Decimal("36.0000"))  # 3 x 2.00 + 6 x 5.00
    balanced()

    rcv = services.default_receive_bin(lax)
    services.receive_transfer(transfer, {transfer.lines[1].id: 5}, reason="one carton damaged",
                              actor=clerk)
    assert transfer.state == TransferState.received
    assert [ln.received_qty for ln in transfer.lines] == [3, 5]
    assert transfer.lines[1].discrepancy_reason == "one carton damaged"
    assert transfer.lines[0].discrepancy_reason is None
    assert (on_hand(sku_a, rcv), on_hand(sku_b, rcv)) == (3, 5)
    assert (on_hand(sku_a, transit), on_hand(sku_b, transit)) == (0, 0)
    assert queries.in_transit_total()[0] == 0
    # the arrival opened put-away tasks in the destination
    tasks = db.session.scalars(select(PutawayTask).where(
        PutawayTask.warehouse_id == lax.id, PutawayTask.state == PutawayState.open)).all()
    assert sorted(t.quantity for t in tasks) == [3, 5]
    balanced()
    moves = db.session.scalars(select(StockMove).where(StockMove.ref_type == TRANSFER_REF,
                                                       StockMove.ref_id == transfer.id)).all()
    assert len(moves) == 2 + 2 + 2 + 1  # pick, ship, receive, the one short unit written off
    actions = set(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "transfer_order", AuditEvent.entity_id == str(transfer.id))))
    assert actions == {"transfer_order.created", "transfer_order.picked",
                       "transfer_order.shipped", "transfer_order.received"}


def test_valuation_shows_in_transit_value_apart(stock, lax):
    transfer = draft(stock, lax, a=2, b=1)
    services.pick_transfer(transfer, actor=None)
    services.ship_transfer(transfer, cartons=1, actor=None)
    units, total = queries.valuation_total()
    assert (units, total) == (16, Decimal("50.0000"))  # all stock, in transit included
    assert queries.in_transit_total() == (3, Decimal("9.0000"))
    rows = {r.key: r for r in db.session.execute(queries.valuation_query("sku"))}
    assert (rows["TR-A"].in_transit, rows["TR-A"].in_transit_value) == (2, Decimal("4.0000"))
    assert rows["TR-A"].on_hand == 10


def test_same_warehouse_is_refused(stock, lax):
    sku_a, _, bin_1, _ = stock
    with pytest.raises(TransferError, match="one warehouse to another"):
        services.create_transfer(bin_1.warehouse, bin_1.warehouse,
                                 [TransferLineSpec(sku_a.id, bin_1.id, 1)], actor=None)


def test_more_than_available_is_refused_naming_the_line(stock, lax):
    with pytest.raises(TransferError, match=r'Line 2 \(SKU TR-B in bin WH1/A-01-01-02\): 6 '
                                            r'available; cannot send 7'):
        draft(stock, lax, a=1, b=7)


def test_a_pick_finds_the_stock_gone_since_the_draft(stock, lax, create_bin):
    sku_a, _, bin_1, _ = stock
    transfer = draft(stock, lax, a=8, b=1)
    services.transfer(sku_a, bin_1, create_bin("B-01-01-01"), 5, actor=None)
    with pytest.raises(TransferError, match=r"Line 1 \(SKU TR-A.*5 available; cannot pick 8"):
        services.pick_transfer(transfer, actor=None)


def test_receiving_more_than_shipped_or_short_without_reason_is_refused(stock, lax):
    transfer = draft(stock, lax)
    services.pick_transfer(transfer, actor=None)
    services.ship_transfer(transfer, cartons=1, actor=None)
    line = transfer.lines[0]
    with pytest.raises(TransferError, match="5 is more than the 4 of the line"):
        services.receive_transfer(transfer, {line.id: 5}, actor=None)
    with pytest.raises(TransferError, match="1 of 4 did not arrive; give the reason"):
        services.receive_transfer(transfer, {line.id: 3}, actor=None)


def test_actions_follow_the_state_machine(stock, lax):
    transfer = draft(stock, lax)
    with pytest.raises(InvalidTransition):
        services.ship_transfer(transfer, cartons=1, actor=None)
    with pytest.raises(InvalidTransition):
        services.receive_transfer(transfer, actor=None)
    services.pick_transfer(transfer, actor=None)
    with pytest.raises(InvalidTransition):
        services.cancel_transfer(transfer, actor=None)  # picked goods are off the shelf
    with pytest.raises(InvalidTransition):
        services.pick_transfer(transfer, actor=None)  # a repeat picks nothing twice
    balanced()


def test_cancel_a_draft_moves_nothing(stock, lax):
    transfer = draft(stock, lax)
    before = db.session.scalar(select(func.count()).select_from(StockMove))
    services.cancel_transfer(transfer, reason="wrong SKU", actor=None)
    assert transfer.state == TransferState.cancelled
    assert db.session.scalar(select(func.count()).select_from(StockMove)) == before


def test_ship_needs_cartons_and_pick_needs_a_unit(stock, lax):
    sku_a, _, bin_1, _ = stock
    transfer = services.create_transfer(bin_1.warehouse, lax,
                                        [TransferLineSpec(sku_a.id, bin_1.id, 2)], actor=None)
    with pytest.raises(TransferError, match="pick at least one unit"):
        services.pick_transfer(transfer, {transfer.lines[0].id: 0}, actor=None)
    services.pick_transfer(transfer, actor=None)
    with pytest.raises(ValidationError, match="number of cartons"):
        services.ship_transfer(transfer, cartons=None, actor=None)


def test_lines_from_text_spread_over_bins_and_name_bad_rows(stock, lax, create_bin,
                                                            receive_stock):
    sku_a, _, bin_1, _ = stock
    other = create_bin("A-01-01-05")
    receive_stock(sku_a, other, 4)
    specs = services.lines_from_text(bin_1.warehouse, "TR-A 12\nTR-B 2 A-01-01-02\n")
    assert [(s.location_id, s.quantity) for s in specs[:2]] == [(bin_1.id, 10), (other.id, 2)]
    assert specs[2].quantity == 2
    with pytest.raises(DomainError, match="Line 1"):
        services.lines_from_text(bin_1.warehouse, "TR-A 99")
    with pytest.raises(ValidationError, match="Line 2"):
        services.lines_from_text(bin_1.warehouse, "TR-A 1\nTR-B many")
    with pytest.raises(ValidationError, match="Line 1"):
        services.lines_from_text(bin_1.warehouse, "NOPE 1")


def test_in_transit_stock_cannot_be_moved_by_hand_nor_bins_made_in_transit(stock, lax):
    sku_a, _, bin_1, _ = stock
    transfer = draft(stock, lax, a=1, b=1)
    services.pick_transfer(transfer, actor=None)
    services.ship_transfer(transfer, cartons=1, actor=None)
    transit = services.in_transit_location(lax)
    with pytest.raises(ValidationError, match="in transit"):
        services.transfer(sku_a, transit, services.default_receive_bin(lax), 1, actor=None)
    with pytest.raises(ValidationError, match="in-transit"):
        services.create_location(lax, code="X-1", kind="in_transit", actor=None)
    with pytest.raises(ValidationError, match="in transit"):
        services.request_adjustment(sku_a, transit, -1, reason="lost", note=None, actor=None)
    with pytest.raises(DomainError):  # counts leave goods in transit to their receipt
        services.open_cycle_count(lax, location_ids=[transit.id], actor=None)


def test_scan_receipt_tallies_and_refuses_extra_units(stock, lax):
    transfer = draft(stock, lax, a=2, b=1)
    services.pick_transfer(transfer, actor=None)
    services.ship_transfer(transfer, cartons=1, actor=None)
    line, tally = services.scan_receipt(transfer, {}, "4006381333931")  # by barcode
    line, tally = services.scan_receipt(transfer, tally, "tr-a")
    assert tally == {transfer.lines[0].id: 2}
    with pytest.raises(TransferError, match="would make more"):
        services.scan_receipt(transfer, tally, "TR-A")
    with pytest.raises(DomainError):
        services.scan_receipt(transfer, tally, "NOPE")


def test_inventory_valuation_report_shows_in_transit_apart(stock, lax):
    from datetime import date

    from erp.reports.excel import inventory_valuation

    transfer = draft(stock, lax, a=2, b=1)
    services.pick_transfer(transfer, actor=None)
    services.ship_transfer(transfer, cartons=1, actor=None)
    report = inventory_valuation.valuation_at(date.today())
    rows = {r.sku: r for r in report.rows}
    assert (rows["TR-A"].on_hand, rows["TR-A"].in_transit) == (10, 2)
    assert rows["TR-A"].in_transit_value == Decimal("4.00")
    assert (report.in_transit_units, report.in_transit_value) == (3, Decimal("9.00"))
    data, _name = inventory_valuation.build(None, date.today())
    assert data[:2] == b"PK"
