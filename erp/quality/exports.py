"""The inspection list's Excel export (registered with :mod:`erp.core.exports`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from erp.core import exports
from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _l
from erp.extensions import db
from erp.quality.models import INSPECTION_STATES, SEVERITY_LABELS, Severity
from erp.quality.queries import inspection_list_query


@dataclass
class InspectionFilters:
    """The inspection list's filters: a search text and a state (``open`` for pending)."""

    q: str | None = None
    state: str | None = "open"


INSPECTION_SPEC = Spec("inspections", _l("Inspection lots"), (
    Column("number", _l("Lot"), width=18),
    Column("state", _l("State"), width=14),
    Column("reference", _l("Receipt"), width=34),
    Column("supplier", _l("Supplier"), width=26),
    Column("sku", _l("SKU"), width=20),
    Column("specification", _l("Specification"), width=22),
    Column("lot_size", _l("Lot size"), type="int", width=10),
    Column("sample_size", _l("Sample"), type="int", width=10),
    Column("level", _l("Level"), width=8),
    Column("severity", _l("Severity"), width=12),
    Column("critical", _l("Critical found / Ac"), width=12),
    Column("major", _l("Major found / Ac"), width=12),
    Column("minor", _l("Minor found / Ac"), width=12),
    Column("opened_at", _l("Opened"), type="auto", width=18),
    Column("decided_at", _l("Decided"), type="auto", width=18),
    Column("release_reason", _l("Concession reason"), width=30),
    Column("scrapped_qty", _l("Scrapped"), type="int", width=10),
))


def _row(inspection) -> dict:
    plans = {str(p.defect_class): p for p in inspection.plans}
    worst = max((Severity(p.severity) for p in inspection.plans),
                key=[Severity.reduced, Severity.normal, Severity.tightened].index,
                default=Severity.normal)

    def cell(cls):
        plan = plans.get(cls)
        if plan is None:
            return None
        found = "" if plan.found is None else plan.found
        return f"{found} / {plan.ac}"

    return {"number": inspection.number, "state": INSPECTION_STATES.label(inspection.state),
            "reference": inspection.reference, "supplier": inspection.supplier_name,
            "sku": inspection.sku.code, "specification": inspection.spec_version.label,
            "lot_size": inspection.lot_size, "sample_size": inspection.sample_size,
            "level": inspection.level, "severity": str(SEVERITY_LABELS[worst]),
            "critical": cell("critical"), "major": cell("major"), "minor": cell("minor"),
            "opened_at": inspection.opened_at, "decided_at": inspection.decided_at,
            "release_reason": inspection.release_reason,
            "scrapped_qty": inspection.scrapped_qty}


def export_inspections(filters: InspectionFilters, *, progress=None) -> bytes:
    """Return the lots matching the list's filters as an .xlsx workbook."""
    stmt = inspection_list_query(q=filters.q, state=filters.state)
    rows = db.session.scalars(stmt.execution_options(yield_per=500))
    return export_workbook(INSPECTION_SPEC, (_row(i) for i in exports.counted(rows, progress)))


def count_inspections(filters: InspectionFilters) -> int:
    """Return how many lots the export will have."""
    stmt = inspection_list_query(q=filters.q, state=filters.state).order_by(None)
    return db.session.scalar(select(func.count()).select_from(stmt.subquery()))


LIST_EXPORT = exports.register(exports.ListExport(
    "inspections", _l("Inspection lots"), "quality.view", InspectionFilters,
    count=count_inspections,
    build=lambda f, *, user, progress: export_inspections(f, progress=progress),
    filename="inspection-lots"))
