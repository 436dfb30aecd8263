"""Returns in the warehouse: finding the case, receiving the goods, inspecting and grading them."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import CaseState, CaseType, Grade, ReturnItem
from erp.aftersales.services import cases, returns
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse.models import MoveKind, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    db.session.refresh(level) if level is not None else None
    return level.on_hand if level is not None else 0


@pytest.fixture
def returned(ship_order, customs_stock, reasons, returns_bins, create_user):
    """Return ``returned(lines=[(sku, qty)], case_type=..., authorise=True)``: a case."""
    warehouse_user = create_user("wh", roles=("warehouse",))
    agent = create_user("agent", roles=("customer_service",))
    counter = itertools.count(1)

    def factory(shipped=None, case_lines=None, case_type=CaseType.return_refund,
                authorise=True, tracking="RA473124829GB"):
        if shipped is None:
            shipped = [(customs_stock(f"TEE-{next(counter)}"), 3, "15.00")]
        order = ship_order(shipped)
        wanted = case_lines or {line.id: line.quantity for line in order.lines}
        case = cases.open_case(order, case_type=case_type, reason=reasons["WRONG_SIZE"],
                               lines=wanted, actor=agent)
        if authorise:
            cases.authorise_return(case, actor=agent, return_tracking=tracking)
        db.session.commit()
        return case

    factory.warehouse_user = warehouse_user
    factory.agent = agent
    return factory


# ---------------------------------------------------------------------------------------------
# Finding the case


def test_find_case_by_rma_in_any_case_and_by_tracking(returned):
    case = returned()
    assert returns.find_case_for_receipt(case.number.lower()) is case
    assert returns.find_case_for_receipt("  " + case.number + " ") is case
    assert returns.find_case_for_receipt("ra 473-124-829 gb") is case


def test_find_case_refusals(returned, reasons):
    with pytest.raises(ValidationError, match="Scan or type"):
        returns.find_case_for_receipt("  ")
    with pytest.raises(AfterSalesError, match='"RMA-1999-000001"'):
        returns.find_case_for_receipt("RMA-1999-000001")
    refund_only = returned(case_type=CaseType.refund_only, authorise=False)
    with pytest.raises(AfterSalesError, match="refund only case: no goods"):
        returns.find_case_for_receipt(refund_only.number)
    rejected = returned(tracking=None)
    cases.reject_case(rejected, reason="Fraud suspected", actor=returned.agent)
    db.session.commit()
    with pytest.raises(AfterSalesError, match=f"{rejected.number} is rejected"):
        returns.find_case_for_receipt(rejected.number)


# ---------------------------------------------------------------------------------------------
# Receiving


def test_receive_posts_to_returns_and_refuses_a_second_receipt(returned, returns_bins):
    case = returned()
    line = case.lines[0]
    user = returned.warehouse_user
    items = returns.receive_return(case, [(line.id, None, None, 3)], actor=user)
    db.session.commit()
    assert case.state == CaseState.received
    assert case.received_at is not None
    assert [(i.case_line_id, i.quantity, i.unexpected) for i in items] == [(line.id, 3, False)]
    assert on_hand(line.sku, returns_bins["returns"]) == 3
    move = db.session.scalar(select(StockMove).where(StockMove.ref_type == "return_item",
                                                     StockMove.ref_id == items[0].id))
    assert move.kind == MoveKind.return_receipt
    assert move.quantity == 3
    assert move.unit_cost == line.sku.avg_cost
    assert ledger_problems(db.session) == []
    assert [(e.expected, e.received) for e in returns.expected_lines(case)] == [(3, 3)]
    with pytest.raises(AfterSalesError, match=rf"{case.number} was received on .* by wh"):
        returns.receive_return(case, [(line.id, None, None, 1)], actor=user)
    db.session.rollback()
    assert on_hand(line.sku, returns_bins["returns"]) == 3


def test_receive_refused_when_not_awaiting_return(returned):
    case = returned(authorise=False)
    with pytest.raises(AfterSalesError, match="must be awaiting return; it is open"):
        returns.receive_return(case, [(case.lines[0].id, None, None, 1)],
                               actor=returned.warehouse_user)
    db.session.rollback()
    assert case.state == CaseState.open
    assert db.session.scalars(select(ReturnItem)).all() == []


@pytest.mark.parametrize("qty", [0, -1, 1.5, "2", True])
def test_receive_refuses_a_quantity_that_is_not_a_positive_whole_number(returned, qty):
    case = returned()
    with pytest.raises(ValidationError, match="whole number above zero"):
        returns.receive_return(case, [(case.lines[0].id, None, None, qty)],
                               actor=returned.warehouse_user)


def test_receive_other_refusals(returned):
    case = returned()
    user = returned.warehouse_user
    with pytest.raises(ValidationError, match="enter at least one unit"):
        returns.receive_return(case, [], actor=user)
    with pytest.raises(ValidationError, match="describe the unknown item"):
        returns.receive_return(case, [(None, None, "  ", 1)], actor=user)
    with pytest.raises(ValidationError, match="is not a line of"):
        returns.receive_return(case, [(999999, None, None, 1)], actor=user)
    assert case.state == CaseState.awaiting_return


def test_unexpected_units_and_unknown_item_are_recorded(returned, customs_stock,
                                                        returns_bins):
    tee = customs_stock("TEE-1")
    cap = customs_stock("CAP-1")
    case = returned(shipped=[(tee, 2, "15.00")])
    line = case.lines[0]
    items = returns.receive_return(case, [
        (line.id, None, None, 1), (None, tee.id, None, 2),  # 3 of a line of 2
        (None, cap.id, None, 1),  # not on the case
        (None, None, "Blue scarf, no label", 1)],  # unknown
        actor=returned.warehouse_user)
    db.session.commit()
    got = sorted((i.sku.code if i.sku else i.description, i.quantity, i.unexpected)
                 for i in items)
    assert got == [("Blue scarf, no label", 1, True), ("CAP-1", 1, True),
                   ("TEE-1", 1, True), ("TEE-1", 2, False)]
    assert on_hand(tee, returns_bins["returns"]) == 3
    assert on_hand(cap, returns_bins["returns"]) == 1
    moves = db.session.scalars(select(StockMove).where(StockMove.ref_type == "return_item")).all()
    assert len(moves) == 3  # the unknown item posts nothing
    assert ledger_problems(db.session) == []
    assert [(e.expected, e.received) for e in returns.expected_lines(case)] == [(2, 2)]


def test_receive_without_returns_location_is_refused(ship_order, customs_stock, reasons,
                                                     create_user):
    agent = create_user("agent", roles=("customer_service",))
    order = ship_order([(customs_stock("TEE-1"), 1)])
    case = cases.open_case(order, case_type=CaseType.return_refund, reason=reasons["DEFECTIVE"],
                           lines={order.lines[0].id: 1}, actor=agent)
    cases.authorise_return(case, actor=agent)
    with pytest.raises(AfterSalesError, match="active returns location"):
        returns.receive_return(case, [(case.lines[0].id, None, None, 1)], actor=agent)


# ---------------------------------------------------------------------------------------------
# Inspection


def test_inspection_restocks_quarantines_and_scraps(returned, customs_stock, returns_bins,
                                                    create_bin):
    tee = customs_stock("TEE-1")  # 20 in its storage bin, 3 shipped
    case = returned(shipped=[(tee, 3, "15.00")])
    storage = db.session.scalar(select(StockLevel).where(
        StockLevel.sku_id == tee.id, StockLevel.on_hand > 0,
        StockLevel.location_id != returns_bins["returns"].id)).location
    before = on_hand(tee, storage)
    user = returned.warehouse_user
    [item] = returns.receive_return(case, [(case.lines[0].id, None, None, 3)], actor=user)
    db.session.commit()
    graded = returns.inspect_return(case, {item.id: [("a", 1, None), ("B", 1, None),
                                                     ("C", 1, None)]}, actor=user)
    db.session.commit()
    assert sorted((r.grade, r.quantity, r.location.code) for r in graded) == [
        (Grade.A, 1, storage.code), (Grade.B, 1, "QUA-01"), (Grade.C, 1, "SCR-01")]
    assert all(r.inspected_by_id == user.id for r in graded)
    assert case.state == CaseState.inspected
    assert on_hand(tee, storage) == before + 1
    assert on_hand(tee, returns_bins["quarantine"]) == 1
    assert on_hand(tee, returns_bins["scrap"]) == 1
    assert on_hand(tee, returns_bins["returns"]) == 0
    kinds = {(m.kind, m.to_location_id) for m in db.session.scalars(
        select(StockMove).where(StockMove.ref_type == "return_item",
                                StockMove.kind != MoveKind.return_receipt))}
    assert kinds == {(MoveKind.transfer, storage.id),
                     (MoveKind.transfer, returns_bins["quarantine"].id),
                     (MoveKind.scrap, returns_bins["scrap"].id)}
    assert ledger_problems(db.session) == []
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "aftersales_case.return_inspected"))
    assert {g["grade"] for g in event.changes["grades"]} == {"A", "B", "C"}
    with pytest.raises(AfterSalesError, match=f"{case.number} was inspected on"):
        returns.inspect_return(case, {item.id: [("A", 1, None)]}, actor=user)


def test_grade_a_to_a_chosen_bin_and_default_bin_without_stock(returned, customs_stock,
                                                               create_bin, returns_bins):
    tee = customs_stock("TEE-1", qty=2)
    case = returned(shipped=[(tee, 2, "15.00")])  # its storage bin is now empty
    chosen = create_bin("B-09-09-09")
    user = returned.warehouse_user
    [item] = returns.receive_return(case, [(case.lines[0].id, None, None, 2)], actor=user)
    db.session.commit()
    with pytest.raises(ValidationError, match="must choose an active storage bin; .*SCR-01"):
        returns.inspect_return(case, {item.id: [("A", 2, returns_bins["scrap"].id)]},
                               actor=user)
    db.session.rollback()
    default = returns.default_restock_bin(tee.id)  # no storage bin holds TEE: the first one
    assert default is not None
    assert default.kind == "storage"
    returns.inspect_return(case, {item.id: [("A", 1, chosen.id), ("A", 1, None)]},
                           actor=user)
    db.session.commit()
    assert on_hand(tee, chosen) == 1
    assert on_hand(tee, default) == (1 if default.id != chosen.id else 2)
    assert ledger_problems(db.session) == []


def test_grading_more_or_fewer_units_than_received_is_refused(returned):
    case = returned()
    user = returned.warehouse_user
    [item] = returns.receive_return(case, [(case.lines[0].id, None, None, 3)], actor=user)
    db.session.commit()
    with pytest.raises(ValidationError, match=r'SKU "TEE-1".*3 received, 2 graded \(fewer\)'):
        returns.inspect_return(case, {item.id: [("A", 2, None)]}, actor=user)
    with pytest.raises(ValidationError, match=r"3 received, 4 graded \(more\)"):
        returns.inspect_return(case, {item.id: [("A", 2, None), ("C", 2, None)]}, actor=user)
    with pytest.raises(ValidationError, match="not a grade"):
        returns.inspect_return(case, {item.id: [("D", 3, None)]}, actor=user)
    with pytest.raises(ValidationError, match="not an item of this case"):
        returns.inspect_return(case, {999999: [("A", 3, None)]}, actor=user)
    db.session.rollback()
    assert case.state == CaseState.received
    assert db.session.get(ReturnItem, item.id).grade is None


def test_inspection_refused_before_receipt(returned):
    case = returned()
    with pytest.raises(AfterSalesError, match="must be received; it is awaiting return"):
        returns.inspect_return(case, {1: [("A", 1, None)]}, actor=returned.warehouse_user)


def test_unknown_item_graded_without_moves_and_partial_inspection(returned, returns_bins):
    case = returned()
    user = returned.warehouse_user
    items = returns.receive_return(case, [(case.lines[0].id, None, None, 3),
                                          (None, None, "Odd sock", 2)], actor=user)
    known, unknown = items
    db.session.commit()
    with pytest.raises(ValidationError, match="cannot be restocked"):
        returns.inspect_return(case, {unknown.id: [("A", 2, None)]}, actor=user)
    moves_before = db.session.scalar(select(db.func.count(StockMove.id)))
    returns.inspect_return(case, {unknown.id: [("C", 1, None), ("B", 1, None)]}, actor=user)
    db.session.commit()
    assert db.session.scalar(select(db.func.count(StockMove.id))) == moves_before
    assert case.state == CaseState.received  # the known item is still to grade
    assert {(r.grade, r.location_id) for r in case.items if r.description} == {
        (Grade.B, None), (Grade.C, None)}
    returns.inspect_return(case, {known.id: [("B", 3, None)]}, actor=user)
    db.session.commit()
    assert case.state == CaseState.inspected
    assert on_hand(known.sku, returns_bins["quarantine"]) == 3
    assert ledger_problems(db.session) == []
