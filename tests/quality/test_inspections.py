"""Receipt -> inspection -> put-away: QC hold, decisions, concession, scrap, reversal, switching."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.brands.models import DefectClass
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.procurement import services as procurement
from erp.procurement.models import PurchaseOrderState
from erp.quality import queries, services
from erp.quality.models import Inspection, InspectionState, Severity, SwitchingState
from erp.quality.services import DefectEntry, InspectionError
from erp.warehouse.models import (
    LocationKind,
    MoveKind,
    PutawayState,
    PutawayTask,
    StockLevel,
    StockMove,
)
from erp.warehouse.queries import ledger_problems

I = InspectionState  # noqa: E741 - as in the package


def on_hand(sku_id, location_id) -> int:
    level = db.session.get(StockLevel, (sku_id, location_id))
    return level.on_hand if level else 0


@pytest.fixture
def clerk(create_user):
    return create_user("clerk", roles=("warehouse",))


@pytest.fixture
def manager(create_user):
    return create_user("boss", roles=("manager",))


@pytest.fixture
def planned_order(create_planned_sku, create_sku, create_supplier_row, create_supplier_item_row,
                  create_purchase_order, receiving_bin):
    """Return an ordered PO: 1,000 of a SKU with a plan (II, major 2.5, minor 4.0), 20 without."""
    supplier = create_supplier_row("QCSUP", name="QC Supplier")
    planned, plain = create_planned_sku(), create_sku()
    for sku in (planned, plain):
        create_supplier_item_row(supplier, sku, "5.00")
    return create_purchase_order(supplier, lines=[(planned, 1000), (plain, 20)],
                                 state="ordered")


def receive_all(po, location, actor):
    receipt = procurement.receive_purchase_order(
        po, {line.id: line.quantity for line in po.lines}, location=location, actor=actor)
    db.session.commit()
    return receipt


def lot_of(receipt) -> Inspection:
    return db.session.scalar(select(Inspection).where(
        Inspection.ref_type == "receipt_line",
        Inspection.ref_id.in_([rl.id for rl in receipt.lines])))


def record(inspection, counts: dict[str, int], actor):
    by_name = {c.description: c.id for c in inspection.spec_version.checks}
    services.record_defects(inspection, {by_name[k]: DefectEntry(count=v)
                                         for k, v in counts.items()}, actor=actor)
    db.session.commit()


def test_receiving_puts_planned_goods_in_qc_hold_and_opens_a_lot(planned_order, receiving_bin,
                                                                 clerk):
    receipt = receive_all(planned_order, receiving_bin, clerk)
    inspection = lot_of(receipt)
    planned_rl, plain_rl = sorted(receipt.lines, key=lambda rl: rl.quantity, reverse=True)
    hold = inspection.hold_location
    assert (hold.code, hold.kind) == ("QC-HOLD", LocationKind.quarantine)
    assert (inspection.state, inspection.lot_size, inspection.ref_id) == (I.pending, 1000,
                                                                          planned_rl.id)
    assert inspection.number.startswith("QC-")
    assert inspection.supplier_id == planned_order.supplier_id
    assert inspection.release_location_id == receiving_bin.id
    # the planned goods wait in the hold bin; the plain line behaves as before
    assert on_hand(planned_rl.sku_id, hold.id) == 1000
    assert on_hand(planned_rl.sku_id, receiving_bin.id) == 0
    assert on_hand(plain_rl.sku_id, receiving_bin.id) == 20
    move = db.session.get(StockMove, planned_rl.move_id)
    assert (move.kind, move.to_location_id, move.ref_type) == (MoveKind.receipt, hold.id,
                                                               "receipt_line")
    # not offered to put-away
    tasks = db.session.scalars(select(PutawayTask)).all()
    assert {t.sku_id for t in tasks} == {plain_rl.sku_id}
    assert planned_order.state == PurchaseOrderState.received
    assert ledger_problems(db.session) == []


def test_plan_figures_are_stored_per_class(planned_order, receiving_bin, clerk):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    # 1,000 at level II: code letter J, n 80 (ISO 2859-1 Table 1 and 2-A)
    assert (inspection.standard.startswith("ISO 2859-1"), inspection.level,
            inspection.sample_size) == (True, "II", 80)
    figures = {p.defect_class: (p.aql, p.severity, p.code_letter, p.used_letter, p.n, p.ac,
                                p.re) for p in inspection.plans}
    assert figures == {
        DefectClass.critical: (None, Severity.normal, "J", "J", 80, 0, 1),
        DefectClass.major: (Decimal("2.500"), Severity.normal, "J", "J", 80, 5, 6),
        DefectClass.minor: (Decimal("4.000"), Severity.normal, "J", "J", 80, 7, 8),
    }


def test_accepted_lot_goes_to_the_receiving_bin_and_put_away(planned_order, receiving_bin,
                                                             clerk):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    record(inspection, {"Length": 5, "Stitching": 7}, clerk)  # every class at its Ac
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    assert inspection.state == I.accepted
    assert {p.defect_class: (p.found, p.passed) for p in inspection.plans} == {
        DefectClass.critical: (0, True), DefectClass.major: (5, True),
        DefectClass.minor: (7, True)}
    assert on_hand(inspection.sku_id, inspection.hold_location_id) == 0
    assert on_hand(inspection.sku_id, receiving_bin.id) == 1000
    task = db.session.scalar(select(PutawayTask).where(PutawayTask.sku_id == inspection.sku_id))
    assert (task.state, task.quantity) == (PutawayState.open, 1000)
    move = db.session.scalar(select(StockMove).where(StockMove.ref_type == "inspection"))
    assert (move.ref_id, move.from_location_id, move.to_location_id) == (
        inspection.id, inspection.hold_location_id, receiving_bin.id)
    assert ledger_problems(db.session) == []


def test_one_class_over_ac_rejects_the_lot_into_quarantine(planned_order, receiving_bin,
                                                           create_bin, clerk):
    quarantine = create_bin("QUA-01", kind="quarantine")
    db.session.commit()
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    record(inspection, {"Zip works": 1}, clerk)  # a critical defect: "0" plan, Re 1
    services.decide_inspection(inspection, actor=clerk, note="zip jams")
    db.session.commit()
    assert inspection.state == I.rejected
    assert inspection.quarantine_location_id == quarantine.id
    assert on_hand(inspection.sku_id, quarantine.id) == 1000
    move = db.session.scalar(select(StockMove).where(StockMove.ref_type == "inspection"))
    assert (move.ref_id, move.to_location_id) == (inspection.id, quarantine.id)
    assert db.session.scalar(select(PutawayTask).where(
        PutawayTask.sku_id == inspection.sku_id)) is None
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "inspection",
        AuditEvent.entity_id == str(inspection.id))).all()
    assert {"inspection.opened", "inspection.defects_recorded", "inspection.rejected"} \
        <= set(actions)


def test_deciding_twice_acts_once(planned_order, receiving_bin, clerk):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    moves = db.session.query(StockMove).count()
    with pytest.raises(InvalidTransition):
        services.decide_inspection(inspection, actor=clerk)
    db.session.rollback()
    assert db.session.query(StockMove).count() == moves


def test_concession_release_needs_a_reason_then_goes_to_put_away(planned_order, receiving_bin,
                                                                  clerk, manager):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    record(inspection, {"Length": 6}, clerk)  # major Re 6
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    with pytest.raises(ValidationError, match="reason"):
        services.release_inspection(inspection, actor=manager, reason="  ")
    db.session.rollback()
    services.release_inspection(inspection, actor=manager, reason="length within customer's "
                                                                  "wider limit")
    db.session.commit()
    assert inspection.state == I.released
    assert inspection.release_reason.startswith("length within")
    assert inspection.released_by_id == manager.id
    assert on_hand(inspection.sku_id, receiving_bin.id) == 1000
    task = db.session.scalar(select(PutawayTask).where(PutawayTask.sku_id == inspection.sku_id))
    assert task.quantity == 1000
    with pytest.raises(InvalidTransition):
        services.release_inspection(inspection, actor=manager, reason="again")


def test_accepted_lot_cannot_be_released(planned_order, receiving_bin, clerk, manager):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    with pytest.raises(InvalidTransition, match="accepted"):
        services.release_inspection(inspection, actor=manager, reason="why")


def test_scrap_part_of_a_rejected_lot_then_release_the_rest(planned_order, receiving_bin,
                                                            clerk, manager):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    record(inspection, {"Stitching": 8}, clerk)  # minor Re 8
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    quarantine = inspection.quarantine_location
    assert quarantine.code == "QUARANTINE"  # made on demand: the warehouse had none
    with pytest.raises(ValidationError, match="above zero"):
        services.scrap_inspection(inspection, 0, actor=manager, reason="torn")
    with pytest.raises(InspectionError, match="1,000|1000"):
        services.scrap_inspection(inspection, 1001, actor=manager, reason="torn")
    db.session.rollback()
    services.scrap_inspection(inspection, 300, actor=manager, reason="torn seams")
    db.session.commit()
    scrap = db.session.scalar(select(StockMove).where(StockMove.kind == MoveKind.scrap))
    assert (scrap.quantity, scrap.ref_type, scrap.ref_id, scrap.from_location_id) == (
        300, "inspection", inspection.id, quarantine.id)
    assert inspection.scrapped_qty == 300
    assert on_hand(inspection.sku_id, quarantine.id) == 700
    services.release_inspection(inspection, actor=manager, reason="rest is fine after sorting")
    db.session.commit()
    assert on_hand(inspection.sku_id, receiving_bin.id) == 700
    assert ledger_problems(db.session) == []


def test_scrap_needs_a_rejected_lot(planned_order, receiving_bin, clerk, manager):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    with pytest.raises(InspectionError, match="must be rejected"):
        services.scrap_inspection(inspection, 1, actor=manager, reason="x")


def test_reversing_a_receipt_cancels_its_pending_lot(planned_order, receiving_bin, clerk):
    receipt = receive_all(planned_order, receiving_bin, clerk)
    inspection = lot_of(receipt)
    procurement.reverse_receipt(receipt, actor=clerk, reason="wrong delivery")
    db.session.commit()
    assert inspection.state == I.cancelled
    assert on_hand(inspection.sku_id, inspection.hold_location_id) == 0
    assert planned_order.state == PurchaseOrderState.ordered
    assert ledger_problems(db.session) == []


def test_reversing_a_receipt_with_a_decided_lot_is_refused(planned_order, receiving_bin, clerk):
    receipt = receive_all(planned_order, receiving_bin, clerk)
    inspection = lot_of(receipt)
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    moves = db.session.query(StockMove).count()
    with pytest.raises(InspectionError, match="already accepted"):
        procurement.reverse_receipt(receipt, actor=clerk, reason="wrong delivery")
    db.session.rollback()
    assert db.session.query(StockMove).count() == moves
    assert inspection.state == I.accepted


def test_record_defects_refuses_bad_input(planned_order, receiving_bin, clerk):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    length = next(c for c in inspection.spec_version.checks if c.description == "Length")
    with pytest.raises(ValidationError, match="cannot exceed the sample of 80"):
        services.record_defects(inspection, {length.id: DefectEntry(count=81)}, actor=clerk)
    with pytest.raises(ValidationError, match="not a number"):
        services.record_defects(inspection, {length.id: DefectEntry(measurements="99 abc")},
                                actor=clerk)
    with pytest.raises(ValidationError, match="no check 999999"):
        services.record_defects(inspection, {999999: DefectEntry(count=1)}, actor=clerk)
    db.session.rollback()
    # measurements without a count count the values out of tolerance (98..102)
    services.record_defects(inspection, {length.id: DefectEntry(measurements="97.9 100 102 "
                                                                             "102.5")},
                            actor=clerk)
    db.session.commit()
    [defect] = inspection.defects
    assert (defect.count, defect.measurements) == (2, "97.9 100 102 102.5")


def test_photos_must_be_small_images(planned_order, receiving_bin, clerk):
    inspection = lot_of(receive_all(planned_order, receiving_bin, clerk))
    with pytest.raises(ValidationError, match="PNG, JPEG or GIF"):
        services.add_photo(inspection, filename="x.txt", data=b"hello", actor=clerk)
    with pytest.raises(ValidationError, match="5 MB"):
        services.add_photo(inspection, filename="big.png",
                           data=b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024), actor=clerk)
    photo = services.add_photo(inspection, filename="defect.png",
                               data=b"\x89PNG\r\n\x1a\n" + b"0" * 10, actor=clerk)
    db.session.commit()
    assert (photo.mime, photo.filename, photo.size) == ("image/png", "defect.png", 18)


def test_lot_statistics_and_po_line_outcomes(planned_order, receiving_bin, clerk, manager):
    receipt = receive_all(planned_order, receiving_bin, clerk)
    inspection = lot_of(receipt)
    record(inspection, {"Length": 6, "Stitching": 2}, clerk)
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    today = date.today()
    stats = queries.lot_statistics(start=today - timedelta(days=1), end=today)
    key = (planned_order.supplier_id, inspection.spec_version_id)
    assert stats == {key: queries.LotStats(lots=1, lots_rejected=1, units_inspected=80,
                                           defects=8)}
    assert stats[key].dpm == Decimal(100000)
    assert queries.lot_statistics(start=today + timedelta(days=1),
                                  end=today + timedelta(days=2)) == {}
    # a concession still counts as a rejected lot
    services.release_inspection(inspection, actor=manager, reason="ok")
    db.session.commit()
    assert queries.lot_statistics(start=today, end=today)[key].lots_rejected == 1
    outcomes = queries.outcomes_for("receipt_line", [rl.id for rl in receipt.lines])
    assert {o.accepted for o in outcomes.values()} == {1000}


# --------------------------------------------------------------------------- switching


def _lot(create_purchase_order, supplier, sku, receiving_bin, clerk, *, reject: bool):
    po = create_purchase_order(supplier, lines=[(sku, 500)], state="ordered")
    inspection = lot_of(receive_all(po, receiving_bin, clerk))
    if reject:
        record(inspection, {"Length": 10}, clerk)  # 500: H, n 50; major Ac 3 (normal)
    services.decide_inspection(inspection, actor=clerk)
    db.session.commit()
    return inspection


def _major(supplier, sku) -> SwitchingState:
    db.session.expire_all()
    return db.session.scalar(select(SwitchingState).where(
        SwitchingState.supplier_id == supplier.id,
        SwitchingState.defect_class == DefectClass.major))


def test_switching_normal_tightened_normal_and_discontinued(
        create_planned_sku, create_supplier_row, create_supplier_item_row,
        create_purchase_order, receiving_bin, clerk, manager):
    supplier = create_supplier_row("SWSUP")
    sku = create_planned_sku()
    create_supplier_item_row(supplier, sku, "5.00")

    def lot(reject):
        return _lot(create_purchase_order, supplier, sku, receiving_bin, clerk, reject=reject)

    # normal -> tightened: 2 lots not accepted within 5
    lot(True)
    for _ in range(2):
        lot(False)
    assert _major(supplier, sku).severity == Severity.normal
    lot(True)
    assert _major(supplier, sku).severity == Severity.tightened
    # the next lot is drawn at tightened; the other classes stay normal
    tightened = lot(False)
    assert tightened.plan_for(DefectClass.major).severity == Severity.tightened
    assert tightened.plan_for(DefectClass.minor).severity == Severity.normal
    # tightened -> normal: 5 consecutive lots accepted (this one and four more)
    for _ in range(4):
        lot(False)
    assert _major(supplier, sku).severity == Severity.normal
    # back to tightened, then 5 rejections on tightened: discontinued
    lot(True)
    lot(True)
    assert _major(supplier, sku).severity == Severity.tightened
    for _ in range(5):
        lot(True)
    assert _major(supplier, sku).discontinued
    # receiving refuses the supplier's goods under this specification until resumed
    po = create_purchase_order(supplier, lines=[(sku, 500)], state="ordered")
    with pytest.raises(InspectionError, match="discontinued"):
        procurement.receive_purchase_order(po, {po.lines[0].id: 500}, location=receiving_bin,
                                           actor=clerk)
    db.session.rollback()
    spec_id = sku.product.spec_version.specification_id
    assert services.resume_inspection(supplier.id, spec_id, actor=manager) == 1
    db.session.commit()
    state = _major(supplier, sku)
    assert (state.severity, state.discontinued) == (Severity.tightened, False)
    with pytest.raises(InspectionError, match="not discontinued"):
        services.resume_inspection(supplier.id, spec_id, actor=manager)


def test_reduced_allowed_toggle(create_planned_sku, create_supplier_row, manager):
    supplier = create_supplier_row("REDSUP")
    sku = create_planned_sku()
    spec_id = sku.product.spec_version.specification_id
    policy = services.set_reduced_allowed(supplier.id, spec_id, True, actor=manager)
    db.session.commit()
    assert policy.reduced_allowed
    # a reduced class goes back to normal when the toggle is switched off
    db.session.add(SwitchingState(supplier_id=supplier.id, specification_id=spec_id,
                                  defect_class=DefectClass.major, severity=Severity.reduced))
    db.session.commit()
    services.set_reduced_allowed(supplier.id, spec_id, False, actor=manager)
    db.session.commit()
    assert _major_class(supplier, DefectClass.major).severity == Severity.normal


def _major_class(supplier, cls):
    db.session.expire_all()
    return db.session.scalar(select(SwitchingState).where(
        SwitchingState.supplier_id == supplier.id, SwitchingState.defect_class == cls))
