"""The stock ledger: moves, levels, reservations, the refusals, immutability and average cost."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.catalog.models import Sku
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import (
    LedgerImmutable,
    LocationKind,
    MoveKind,
    Reservation,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import availability_query, ledger_problems
from erp.warehouse.services import MoveSpec, StockError


def level(sku, location) -> StockLevel:
    db.session.expire_all()
    return db.session.get(StockLevel, (sku.id, location.id))


def move_count() -> int:
    return db.session.scalar(select(func.count()).select_from(StockMove))


@pytest.mark.parametrize(("cost", "on_hand", "unit", "qty", "expected"), [
    ("0", 0, "2.50", 10, "2.5000"),
    ("2.00", 10, "4.00", 10, "3.0000"),
    ("1.00", 3, "2.00", 1, "1.2500"),
    ("5.00", -4, "3.00", 10, "3.0000"),      # negative on hand: take the incoming cost
    ("1.00", 2, "0.00", 2, "0.5000"),
    ("0.00", 0, "0.00", 5, "0.0000"),        # result not positive: the incoming cost
    ("1.00", 3, "1.00", 3, "1.0000"),
    ("0.3333", 3, "0.3334", 3, "0.3334"),    # rounds half up to 4 places
])
def test_moving_average_cost_formula(cost, on_hand, unit, qty, expected):
    result = services.moving_average_cost(Decimal(cost), on_hand, Decimal(unit), qty)
    assert result == Decimal(expected)
    assert isinstance(result, Decimal)


def test_receipt_updates_level_cost_and_writes_audit(dummy_sku, create_bin, receive_stock):
    bin_a = create_bin()
    receive_stock(dummy_sku, bin_a, 10, "2.00")
    receive_stock(dummy_sku, bin_a, 10, "4.00")
    assert level(dummy_sku, bin_a).on_hand == 20
    assert db.session.get(Sku, dummy_sku.id).avg_cost == Decimal("3.0000")
    events = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.action.in_(["stock_move.posted", "sku.cost_changed"]))).all()
    assert events.count("stock_move.posted") == 2
    assert events.count("sku.cost_changed") == 2
    assert ledger_problems(db.session) == []


def test_transfer_moves_stock_between_bins_keeping_cost(dummy_sku, create_bin, receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 5, "2.00")
    move = services.transfer(dummy_sku, a, b, 3, actor=None)
    assert (level(dummy_sku, a).on_hand, level(dummy_sku, b).on_hand) == (2, 3)
    assert move.unit_cost == Decimal("2.0000")
    assert move.kind == MoveKind.transfer
    assert db.session.get(Sku, dummy_sku.id).avg_cost == Decimal("2.0000")
    assert ledger_problems(db.session) == []


def test_taking_more_than_on_hand_is_refused_naming_sku_bin_and_quantities(
        dummy_sku, create_bin, receive_stock):
    a, b = create_bin("A-01-01-01"), create_bin("A-01-01-02")
    receive_stock(dummy_sku, a, 2)
    db.session.commit()
    before = move_count()
    with pytest.raises(StockError, match=r'SKU "TS-RED-M" in bin WH1/A-01-01-01 has 2 on hand; '
                                         r"cannot take 3"):
        services.transfer(dummy_sku, a, b, 3, actor=None)
    db.session.rollback()
    assert move_count() == before
    assert level(dummy_sku, a).on_hand == 2


def test_reserved_stock_cannot_be_moved_away(dummy_sku, create_bin, receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 5)
    services.reserve(dummy_sku, a, 4, ref_type="order_line", ref_id=7, actor=None)
    with pytest.raises(StockError, match="4 reserved; only 1 can move, not 2"):
        services.transfer(dummy_sku, a, b, 2, actor=None)
    services.transfer(dummy_sku, a, b, 1, actor=None)
    assert (level(dummy_sku, a).on_hand, level(dummy_sku, a).reserved) == (4, 4)


def test_reserve_more_than_available_is_refused(dummy_sku, create_bin, receive_stock):
    a = create_bin()
    receive_stock(dummy_sku, a, 5)
    services.reserve(dummy_sku, a, 3, ref_type="order_line", ref_id=1, actor=None)
    with pytest.raises(StockError, match=r"has 2 available \(5 on hand, 3 reserved\); cannot "
                                         r"reserve 3"):
        services.reserve(dummy_sku, a, 3, ref_type="order_line", ref_id=2, actor=None)
    assert level(dummy_sku, a).reserved == 3


def test_release_frees_reserved_stock_wholly_or_partly(dummy_sku, create_bin, receive_stock):
    a = create_bin()
    receive_stock(dummy_sku, a, 5)
    r = services.reserve(dummy_sku, a, 4, ref_type="order_line", ref_id=1, actor=None)
    assert services.release([r], actor=None, quantity=1) == 1
    assert level(dummy_sku, a).reserved == 3
    assert services.drop_reservations("order_line", [1], actor=None) == 3
    assert level(dummy_sku, a).reserved == 0
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0
    with pytest.raises(ValidationError):
        services.release([r, r], actor=None, quantity=1)
    assert ledger_problems(db.session) == []


def test_reserve_many_reserves_and_audits_each_spec(dummy_sku, create_bin, receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 5)
    receive_stock(dummy_sku, b, 2)
    ids = services.reserve_many([
        services.ReserveSpec(dummy_sku.id, a.id, 2, "order_line", 1),
        services.ReserveSpec(dummy_sku.id, a.id, 3, "order_line", 2),  # adds up on one level
        services.ReserveSpec(dummy_sku.id, b.id, 1, "order_line", 2)], actor=None)
    assert len(ids) == 3
    rows = db.session.scalars(select(Reservation).order_by(Reservation.id)).all()
    assert [r.id for r in rows] == ids
    assert [(r.location_id, r.quantity, r.ref_id) for r in rows] == [(a.id, 2, 1), (a.id, 3, 2),
                                                                     (b.id, 1, 2)]
    assert (level(dummy_sku, a).reserved, level(dummy_sku, b).reserved) == (5, 1)
    events = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "reservation.created").order_by(AuditEvent.id)).all()
    assert [e.entity_id for e in events] == [str(i) for i in ids]
    assert events[0].changes == {"sku": "TS-RED-M", "bin": a.label, "quantity": 2,
                                 "ref": "order_line:1"}
    assert services.reserve_many([], actor=None) == []
    assert ledger_problems(db.session) == []


def test_reserve_many_is_all_or_nothing(dummy_sku, create_bin, receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 5)
    receive_stock(dummy_sku, b, 5)
    db.session.commit()
    with pytest.raises(StockError, match=rf'SKU "TS-RED-M" in bin {b.label} has 5 available '
                                         r"\(5 on hand, 0 reserved\); cannot reserve 6"):
        services.reserve_many([
            services.ReserveSpec(dummy_sku.id, a.id, 1, "order_line", 1),
            services.ReserveSpec(dummy_sku.id, b.id, 4, "order_line", 1),
            services.ReserveSpec(dummy_sku.id, b.id, 2, "order_line", 2)], actor=None)
    supplier = services.virtual_location(LocationKind.supplier)
    with pytest.raises(ValidationError, match="cannot be reserved in SUPPLIER"):
        services.reserve_many([services.ReserveSpec(dummy_sku.id, supplier.id, 1, "x", 1)],
                              actor=None)
    with pytest.raises(ValidationError, match="whole quantity above zero"):
        services.reserve_many([services.ReserveSpec(dummy_sku.id, a.id, 0, "x", 1)], actor=None)
    db.session.rollback()
    assert (level(dummy_sku, a).reserved, level(dummy_sku, b).reserved) == (0, 0)
    assert db.session.scalar(select(func.count()).select_from(Reservation)) == 0


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True])
def test_bad_quantities_are_refused(dummy_sku, create_bin, quantity):
    a = create_bin()
    supplier = services.virtual_location(LocationKind.supplier)
    with pytest.raises(ValidationError, match="whole number above zero"):
        services.post_move(MoveSpec(dummy_sku.id, supplier.id, a.id, quantity,
                                    MoveKind.receipt), actor=None)


def test_move_to_same_bin_and_virtual_transfer_are_refused(dummy_sku, create_bin):
    a = create_bin()
    with pytest.raises(ValidationError, match="cannot move to the bin it is in"):
        services.post_move(MoveSpec(dummy_sku.id, a.id, a.id, 1, MoveKind.transfer), actor=None)
    customer = services.virtual_location(LocationKind.customer)
    with pytest.raises(ValidationError, match="not a bin"):
        services.transfer(dummy_sku, a, customer, 1, actor=None)


def test_post_moves_is_all_or_nothing(dummy_sku, create_bin, receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 2)
    db.session.commit()
    before = move_count()
    with pytest.raises(StockError):
        services.post_moves([MoveSpec(dummy_sku.id, a.id, b.id, 1, MoveKind.transfer),
                             MoveSpec(dummy_sku.id, a.id, b.id, 5, MoveKind.transfer)],
                            actor=None)
    db.session.rollback()
    assert move_count() == before
    assert level(dummy_sku, a).on_hand == 2
    assert level(dummy_sku, b) is None


def test_orm_refuses_to_update_or_delete_a_stock_move(dummy_sku, create_bin, receive_stock):
    move = receive_stock(dummy_sku, create_bin(), 3)
    db.session.commit()
    move.quantity = 30
    with pytest.raises(LedgerImmutable, match="cannot be changed"):
        db.session.flush()
    db.session.rollback()
    move = db.session.get(StockMove, move.id)
    db.session.delete(move)
    with pytest.raises(LedgerImmutable, match="cannot be deleted"):
        db.session.flush()
    db.session.rollback()
    assert db.session.get(StockMove, move.id).quantity == 3


def test_availability_sums_levels_per_sku(dummy_sku, create_bin, receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 5)
    receive_stock(dummy_sku, b, 7)
    services.reserve(dummy_sku, b, 2, ref_type="order_line", ref_id=1, actor=None)
    row = db.session.execute(availability_query([dummy_sku.id])).one()
    assert (row.on_hand, row.reserved, row.available) == (12, 2, 10)


def test_ledger_check_reports_a_level_that_disagrees_with_moves(dummy_sku, create_bin,
                                                                receive_stock, runner):
    a = create_bin()
    receive_stock(dummy_sku, a, 5)
    db.session.commit()
    result = runner.invoke(args=["check-ledger"])
    assert result.exit_code == 0, result.output
    assert "Ledger balances" in result.output
    db.session.execute(StockLevel.__table__.update().values(on_hand=9))
    db.session.commit()
    problems = ledger_problems(db.session)
    assert [p.problem for p in problems] == ["on hand 9 but moves give 5"]
    result = runner.invoke(args=["check-ledger"])
    assert result.exit_code == 1
    assert "TS-RED-M" in result.output
    assert "on hand 9 but moves give 5" in result.output
