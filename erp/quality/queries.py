"""Read-side queries of inspections: lists, lot statistics for the scorecard, PO-line outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

from sqlalchemy import case, func, or_, select

from erp.catalog.models import Sku
from erp.extensions import db
from erp.quality.models import (
    INSPECTION_STATES,
    Inspection,
    InspectionDefect,
    InspectionState,
    SwitchingPolicy,
    SwitchingState,
)

I = InspectionState  # noqa: E741 - the enum's short name, as in models


@dataclass(frozen=True)
class LotStats:
    """Lots decided over a period: how many, how many rejected, units sampled, defects found.

    A lot released as a concession counts as rejected (its original decision was a rejection).
    """

    lots: int
    lots_rejected: int
    units_inspected: int
    defects: int

    @property
    def rejection_rate(self):
        """Return the share of lots rejected (a Decimal from 0 to 1), or None without lots."""
        return Decimal(self.lots_rejected) / self.lots if self.lots else None

    @property
    def dpm(self):
        """Return the defects per million units inspected (Decimal), or None without units."""
        if not self.units_inspected:
            return None
        return Decimal(self.defects) * 1_000_000 / self.units_inspected


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def lot_statistics(*, start: date, end: date, supplier_ids: Iterable[int] | None = None,
                   spec_version_ids: Iterable[int] | None = None
                   ) -> dict[tuple[int | None, int | None], LotStats]:
    """Return the lot figures of lots decided from ``start`` to ``end`` (both included, UTC).

    Keyed by ``(supplier_id, spec_version_id)``; units inspected are the sample sizes, defects
    the counts recorded against the checks. Cancelled and pending lots do not count.
    """
    decided = sorted(INSPECTION_STATES.groups["decided"])
    rejected = sorted(INSPECTION_STATES.groups["rejected"])
    where = [Inspection.state.in_(decided), Inspection.decided_at >= _day_start(start),
             Inspection.decided_at < _day_start(end + timedelta(days=1))]
    if supplier_ids is not None:
        where.append(Inspection.supplier_id.in_(list(supplier_ids)))
    if spec_version_ids is not None:
        where.append(Inspection.spec_version_id.in_(list(spec_version_ids)))
    defects = (select(InspectionDefect.inspection_id,
                      func.sum(InspectionDefect.count).label("defects"))
               .group_by(InspectionDefect.inspection_id).subquery())
    rows = db.session.execute(
        select(Inspection.supplier_id, Inspection.spec_version_id,
               func.count(Inspection.id),
               func.sum(case((Inspection.state.in_(rejected), 1), else_=0)),
               func.coalesce(func.sum(Inspection.sample_size), 0),
               func.coalesce(func.sum(defects.c.defects), 0))
        .outerjoin(defects, defects.c.inspection_id == Inspection.id)
        .where(*where)
        .group_by(Inspection.supplier_id, Inspection.spec_version_id))
    return {(supplier_id, version_id): LotStats(int(lots), int(lots_rejected or 0),
                                                int(units), int(found))
            for supplier_id, version_id, lots, lots_rejected, units, found in rows}


@dataclass(frozen=True)
class LineOutcome:
    """What the inspection made of one receipt line's goods."""

    state: InspectionState
    lot_size: int
    inspection_id: int
    number: str
    scrapped: int = 0

    @property
    def accepted(self) -> int:
        """Return the units accepted, or released by concession (less any scrapped first)."""
        if self.state == I.accepted:
            return self.lot_size
        return self.lot_size - self.scrapped if self.state == I.released else 0

    @property
    def rejected(self) -> int:
        """Return the units rejected and not released (scrapped ones stay rejected)."""
        if self.state == I.rejected:
            return self.lot_size
        return self.scrapped if self.state == I.released else 0

    @property
    def pending(self) -> int:
        """Return the units still waiting for the decision."""
        return self.lot_size if self.state == I.pending else 0


def outcomes_for(ref_type: str, ref_ids: Iterable[int]) -> dict[int, LineOutcome]:
    """Return the inspection outcome of each referenced line that has a (not cancelled) lot.

    Lines without a lot are not in the result: their goods were not inspected.
    """
    ids = sorted(set(ref_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(Inspection.ref_id, Inspection.state, Inspection.lot_size, Inspection.id,
               Inspection.number, Inspection.scrapped_qty)
        .where(Inspection.ref_type == ref_type, Inspection.ref_id.in_(ids),
               Inspection.state != I.cancelled))
    return {ref_id: LineOutcome(InspectionState(state), lot_size, inspection_id, number,
                                scrapped)
            for ref_id, state, lot_size, inspection_id, number, scrapped in rows}


def inspection_list_query(*, q: str | None = None, state: str | None = None):
    """Return the select of inspections for the list, newest first, filtered.

    ``q`` matches the lot number, the reference, the supplier name or the SKU code; ``state``
    is a state name, or ``"open"`` for pending lots.
    """
    stmt = select(Inspection).join(Sku, Sku.id == Inspection.sku_id)
    if state == "open":
        stmt = stmt.where(Inspection.state == I.pending)
    elif state in {s.value for s in InspectionState}:
        stmt = stmt.where(Inspection.state == state)
    text = (q or "").strip()
    if text:
        like = f"%{text}%"
        stmt = stmt.where(or_(Inspection.number.ilike(like), Inspection.reference.ilike(like),
                              Inspection.supplier_name.ilike(like), Sku.code.ilike(like)))
    return stmt.order_by(Inspection.opened_at.desc(), Inspection.id.desc())


def switching_rows(*, supplier_id: int | None = None, specification_id: int | None = None):
    """Return the switching states with each pair's policy, ordered for the screen."""
    stmt = select(SwitchingState, SwitchingPolicy).outerjoin(
        SwitchingPolicy, (SwitchingPolicy.supplier_id == SwitchingState.supplier_id)
        & (SwitchingPolicy.specification_id == SwitchingState.specification_id))
    if supplier_id is not None:
        stmt = stmt.where(SwitchingState.supplier_id == supplier_id)
    if specification_id is not None:
        stmt = stmt.where(SwitchingState.specification_id == specification_id)
    return db.session.execute(stmt.order_by(SwitchingState.supplier_id,
                                            SwitchingState.specification_id,
                                            SwitchingState.defect_class)).all()


def supplier_names(supplier_ids) -> dict[int, str]:
    """Return the supplier names the lots recorded, by supplier id (quality keeps no suppliers)."""
    ids = sorted({i for i in supplier_ids if i is not None})
    if not ids:
        return {}
    latest = (select(Inspection.supplier_id, func.max(Inspection.id).label("id"))
              .where(Inspection.supplier_id.in_(ids)).group_by(Inspection.supplier_id)
              .subquery())
    return dict(db.session.execute(
        select(Inspection.supplier_id, Inspection.supplier_name)
        .join(latest, latest.c.id == Inspection.id)).all())
