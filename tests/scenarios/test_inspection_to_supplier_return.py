"""Scenario: goods with an inspection plan are received, inspected, rejected, sent back.

Each step calls the services only and commits where a screen would: receipt into QC hold ->
defects recorded -> rejected into quarantine -> supplier return from the quarantine stock (the
lot's reference) -> claim -> statement; and a second lot released as a concession.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from erp.brands.models import DefectClass
from erp.extensions import db
from erp.procurement import queries as procurement_queries
from erp.procurement import return_queries, services
from erp.quality import queries as quality_queries
from erp.quality import services as quality
from erp.quality.models import Inspection, InspectionState
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems

TODAY = date.today()


def on_hand(sku_id, location_id) -> int:
    db.session.expire_all()
    level = db.session.get(StockLevel, (sku_id, location_id))
    return level.on_hand if level else 0


def test_inspected_lot_rejected_returned_claimed_and_a_concession(
        create_supplier_row, create_supplier_item_row, create_planned_sku, create_bin,
        create_purchase_order, receiving_bin, create_user):
    clerk = create_user("clerk", roles=("warehouse",))
    buyer = create_user("buyer", roles=("purchasing",))
    boss = create_user("boss", roles=("manager",))
    quarantine = create_bin("QUA-01", kind="quarantine")
    # 1. 500 covers with an inspection plan (II, major 2.5, minor 4.0) are received.
    supplier = create_supplier_row("QCLIN")
    cover, pillow = create_planned_sku(), create_planned_sku()
    for sku in (cover, pillow):
        create_supplier_item_row(supplier, sku, "4.00")
    po = create_purchase_order(supplier, lines=[(cover, 500), (pillow, 300)], state="ordered")
    receipt = services.receive_purchase_order(po, {line.id: line.quantity for line in po.lines},
                                              location=receiving_bin, actor=clerk)
    db.session.commit()
    lots = {i.sku_id: i for i in db.session.scalars(select(Inspection))}
    lot, other = lots[cover.id], lots[pillow.id]
    # 500 at level II: code letter H, n 50; major Ac 3, minor Ac 5, critical "0"
    assert (lot.sample_size, lot.plan_for(DefectClass.major).ac) == (50, 3)
    assert on_hand(cover.id, lot.hold_location_id) == 500

    # 2. The inspector finds 4 major defects: over Ac, the lot is rejected into quarantine.
    length = next(c for c in lot.spec_version.checks if c.description == "Length")
    quality.record_defects(lot, {length.id: quality.DefectEntry(count=4, note="too short")},
                           actor=clerk)
    quality.decide_inspection(lot, actor=clerk)
    db.session.commit()
    assert lot.state == InspectionState.rejected
    assert on_hand(cover.id, quarantine.id) == 500

    # 3. Purchasing returns the rejected lot from the quarantine stock it reads.
    [row] = [r for r in return_queries.quarantine_stock(supplier.id) if r.sku_id == cover.id]
    assert (row.available, row.ref_type, row.ref_id) == (500, "inspection", lot.id)
    ret = services.create_supplier_return(supplier, actor=buyer, lines=[
        services.ReturnLineSpec(row.sku_id, row.location_id, 500, reason="lot rejected",
                                ref_type=row.ref_type, ref_id=row.ref_id)])
    claim = services.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    assert on_hand(cover.id, quarantine.id) == 0
    assert claim.amount == Decimal("2000.00")

    # 4. The other lot is rejected too, and a manager releases it as a concession.
    zip_check = next(c for c in other.spec_version.checks
                     if c.defect_class == DefectClass.critical)
    quality.record_defects(other, {zip_check.id: quality.DefectEntry(count=1)}, actor=clerk)
    quality.decide_inspection(other, actor=clerk)
    quality.release_inspection(other, actor=boss, reason="zip replaced on the whole lot")
    db.session.commit()
    assert on_hand(pillow.id, receiving_bin.id) == 300

    # 5. The PO shows received, accepted and rejected per line; the scorecard figures count
    # both lots as rejected (a concession stays a rejection), per specification version.
    figures = procurement_queries.line_inspection_figures([line.id for line in po.lines])
    by_sku = {line.sku_id: figures[line.id] for line in po.lines}
    assert (by_sku[cover.id].accepted, by_sku[cover.id].rejected) == (0, 500)
    assert (by_sku[pillow.id].accepted, by_sku[pillow.id].rejected) == (300, 0)
    stats = quality_queries.lot_statistics(start=TODAY, end=TODAY)
    assert stats == {
        (supplier.id, lot.spec_version_id): quality_queries.LotStats(1, 1, 50, 4),
        (supplier.id, other.spec_version_id): quality_queries.LotStats(1, 1, 50, 1)}

    # 6. The statement: 3,200.00 received, 2,000.00 claimed.
    st = return_queries.supplier_statement(supplier, TODAY - timedelta(days=1), TODAY)
    assert (st.received, st.claimed) == (Decimal("3200.00"), Decimal("2000.00"))
    assert receipt.number
    assert ledger_problems(db.session) == []
