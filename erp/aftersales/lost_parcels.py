"""Lost parcels: a parcel the carrier has been silent about opens a lost-parcel case by itself.

Every hour the periodic task ``aftersales.lost_parcels`` asks shipping for the dispatched
parcels, not delivered or returned, without a tracking event for their service's
``lost_after_days`` (since their last event, or since dispatch without one), and opens one
lost-parcel case for each (reason ``LOST``, the parcel's goods as lines, a note saying it was
opened automatically and why, audited with no actor: the system). A parcel gets such a case
once: the order is locked, then the parcel's cases are looked at, so two tickers running at
once open one. A parcel whose goods other cases already claim in full is left alone.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import AfterSalesCase, CaseType, ReasonCode
from erp.aftersales.services import cases
from erp.aftersales.services.reasons import DEFAULT_REASONS, create_reason
from erp.core import periodic
from erp.core.errors import DomainError
from erp.core.locking import lock
from erp.extensions import db
from erp.shipping.models import Parcel
from erp.shipping.services.tracking_queries import silent_parcels

log = logging.getLogger(__name__)

REASON = "LOST"
#: seconds between two checks
EVERY = 3600


def _reason() -> ReasonCode:
    """Return the LOST reason, added (from the default list) if it is missing."""
    reason = db.session.scalar(select(ReasonCode).where(ReasonCode.code == REASON))
    if reason is None:
        name = dict(DEFAULT_REASONS)[REASON]
        reason = create_reason(code=REASON, name=name, sort_order=len(DEFAULT_REASONS),
                               actor=None)
    return reason


def _has_case(parcel_id: int) -> bool:
    return db.session.scalar(
        select(AfterSalesCase.id).where(AfterSalesCase.parcel_id == parcel_id,
                                        AfterSalesCase.case_type == CaseType.lost_parcel)
        .limit(1)) is not None


def open_case_for(parcel: Parcel, days: int) -> AfterSalesCase | None:
    """Open the lost-parcel case of ``parcel`` (silent ``days`` days) unless it has one."""
    order = parcel.order
    lock(order)  # the order owns its cases: a second ticker waits here, then finds the case
    if _has_case(parcel.id):
        return None
    remaining = cases.remaining_quantities(order)
    lines: dict[int, int] = defaultdict(int)
    for line in parcel.lines:
        lines[line.order_line_id] += line.quantity
    lines = {lid: min(qty, remaining.get(lid, 0)) for lid, qty in lines.items()}
    if not any(lines.values()):
        log.info("Lost parcel %s: its goods are in other cases already; no case opened.",
                 parcel.number)
        return None
    since = parcel.last_tracking_at or parcel.dispatched_at
    what = "its last tracking event" if parcel.last_tracking_at else "dispatch, with no event"
    note = (f"Opened automatically: no tracking event for {days} days since {what} "
            f"({since:%Y-%m-%d %H:%M} UTC); service {parcel.service.code} counts a parcel as "
            f"lost after {parcel.service.lost_after_days} days.")
    return cases.open_case(order, case_type=CaseType.lost_parcel, reason=_reason(),
                           lines=lines, actor=None, parcel=parcel, note=note,
                           window_applies=False)


def open_lost_parcel_cases(now: datetime | None = None) -> dict:
    """Open the cases of every silent parcel; return counts (see the module's doc)."""
    now = now or datetime.now(UTC)
    opened, skipped = [], 0
    silent = silent_parcels(now)
    done = set(db.session.scalars(
        select(AfterSalesCase.parcel_id).where(AfterSalesCase.case_type == CaseType.lost_parcel,
                                               AfterSalesCase.parcel_id.is_not(None))))
    for parcel_id, days in silent:
        if parcel_id in done:
            continue
        parcel = db.session.get(Parcel, parcel_id)
        try:
            with db.session.begin_nested():
                case = open_case_for(parcel, days)
        except (AfterSalesError, DomainError) as err:
            log.warning("Lost parcel %s: no case opened: %s", parcel.number, err)
            skipped += 1
            continue
        if case is not None:
            opened.append(case.number)
    return {"opened": len(opened), "cases": opened[:50], "skipped": skipped}


periodic.task("aftersales.lost_parcels", every=EVERY)(open_lost_parcel_cases)
