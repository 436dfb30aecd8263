"""Demo inspection lots: the demo receipts of goods with a plan opened lots; one is rejected.

The purchasing demo receives goods whose specification carries an inspection plan (the linen
range): each such line waits in SZ1's QC hold bin as a pending lot. This loader decides the
oldest one as rejected (a major defect over its Re, with a note), so the demo shows a lot in
quarantine and lots still waiting for the inspector (the purchasing demo accepted the lots of
its oldest order, which it puts away).
"""

from __future__ import annotations

from sqlalchemy import select

from erp.brands.models import DefectClass
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.quality import services
from erp.quality.models import Inspection, InspectionState


def load_demo() -> None:
    """Reject the oldest demo lot, once; the others stay pending."""
    if db.session.scalar(select(Inspection.id).where(Inspection.state.in_(
            [InspectionState.rejected, InspectionState.released])).limit(1)) is not None:
        return
    lots = list(db.session.scalars(select(Inspection).where(
        Inspection.state == InspectionState.pending).order_by(Inspection.id).limit(2)))
    if len(lots) < 2:
        return  # keep at least one lot waiting
    inspector = get_user_by_username("warehouse")
    lot = lots[0]
    major = next((c for c in lot.spec_version.checks
                  if c.defect_class == DefectClass.major), None)
    plan = lot.plan_for(DefectClass.major)
    if major is None or plan is None:
        return
    services.record_defects(lot, {major.id: services.DefectEntry(
        count=min(plan.re, lot.sample_size), note="Demo: open seams along the hem")},
        actor=inspector)
    services.decide_inspection(lot, actor=inspector, note="Demo: too many open seams")
