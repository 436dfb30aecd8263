"""The demo holds inspection lots: one rejected into quarantine, others waiting in QC hold."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.extensions import db
from erp.quality.models import Inspection, InspectionState
from erp.warehouse.models import LocationKind, StockLevel
from erp.warehouse.queries import ledger_problems
from tests import demo_data

demo_template, app_config, demo = (demo_data.demo_template, demo_data.app_config,
                                   demo_data.demo)


def test_demo_has_a_pending_and_a_rejected_lot(demo, runner):
    # the purchasing demo's lots (the production demo adds its own: one pending, one rejected)
    purchased = Inspection.ref_type == "receipt_line"
    states = dict(db.session.execute(select(Inspection.state, func.count()).where(purchased)
                                     .group_by(Inspection.state)).all())
    assert states[InspectionState.rejected] == 1
    assert states[InspectionState.pending] >= 1
    rejected = db.session.scalar(select(Inspection).where(
        purchased, Inspection.state == InspectionState.rejected))
    assert rejected.quarantine_location.kind == LocationKind.quarantine
    level = db.session.get(StockLevel, (rejected.sku_id, rejected.quarantine_location_id))
    assert level.on_hand >= rejected.lot_size
    assert ledger_problems(db.session) == []
    # loading the demo again decides nothing more
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert db.session.scalar(select(func.count()).select_from(Inspection).where(
        Inspection.state == InspectionState.rejected)) == 2
