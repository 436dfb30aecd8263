"""Flag specification versions for revision when their goods come back for manufacturing reasons.

Every hour the periodic task ``aftersales.spec_revision`` looks at every approved
specification version. Its window runs from ``spec_revision_window_days`` days ago to now, but
starts no earlier than the version's approval nor than the moment its last flag was cleared
(returns already dealt with do not raise a new flag). In that window it counts the units of the
version's SKUs returned for manufacturing-defect reasons and the units shipped
(:mod:`erp.aftersales.manufacturing`). The version is flagged when both thresholds are reached:

- units returned >= ``spec_revision_min_units``, and
- units returned x 100 >= ``spec_revision_rate_pct`` x units shipped (with nothing shipped in the
  window, the minimum alone decides).

Why a periodic check rather than a hook at grading: the rate's other half, the units shipped,
changes with every dispatch and the window rolls on by itself, so a check at grading would miss
flags that the passing of time (or a quiet week of shipping) brings, and it would put the
whole measurement on the warehouse's grading screen. The reason of a return is known when the
case opens, not when its goods are graded. An hour's delay is nothing for a decision to
revise a specification.

Brands stores the flag (:func:`erp.brands.revision_flags.raise_flag`, which locks the version so
two tickers raise one flag); a version already flagged is left alone.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from erp.aftersales.manufacturing import (
    manufacturing_reason_codes,
    returned_by_version,
    shipped_by_version,
)
from erp.brands import revision_flags
from erp.brands.models import SpecificationState, SpecificationVersion
from erp.core import periodic, settings
from erp.extensions import db

log = logging.getLogger(__name__)

#: seconds between two checks
EVERY = 3600


def thresholds() -> tuple[Decimal, int, int]:
    """Return ``(rate %, minimum units, window days)`` from the settings."""
    return (settings.get("spec_revision_rate_pct"), settings.get("spec_revision_min_units"),
            settings.get("spec_revision_window_days"))


def passes(returned: int, shipped: int, rate_pct: Decimal, min_units: int) -> bool:
    """Return whether ``returned`` of ``shipped`` units reach both thresholds."""
    if returned < min_units:
        return False
    return Decimal(returned) * 100 >= rate_pct * Decimal(shipped)


def check_specifications(now: datetime | None = None) -> dict:
    """Flag every approved version whose returns pass the thresholds; return counts.

    See the module's doc for the rule.
    """
    now = now or datetime.now(UTC)
    if not manufacturing_reason_codes():
        return {"checked": 0, "flagged": []}
    rate_pct, min_units, days = thresholds()
    cutoff = now - timedelta(days=days)
    # a first pass over the longest window: a version below the minimum there cannot pass
    candidates = {vid: reasons for vid, reasons in returned_by_version(cutoff, now).items()
                  if sum(units for _name, units in reasons.values()) >= min_units}
    if not candidates:
        return {"checked": 0, "flagged": []}
    versions = list(db.session.scalars(
        select(SpecificationVersion).where(SpecificationVersion.id.in_(list(candidates)),
                                           SpecificationVersion.state
                                           == SpecificationState.approved)
        .order_by(SpecificationVersion.id)))
    flagged_now = revision_flags.open_flags_by_version(v.id for v in versions)
    cleared = revision_flags.last_cleared_at(v.id for v in versions)
    flagged = []
    for version in versions:
        if version.id in flagged_now:
            continue
        start = max(t for t in (cutoff, version.approved_at, cleared.get(version.id)) if t)
        reasons = candidates[version.id] if start == cutoff else \
            returned_by_version(start, now, [version.id]).get(version.id, {})
        returned = sum(units for _name, units in reasons.values())
        shipped = shipped_by_version(start, now, [version.id]).get(version.id, 0)
        if not passes(returned, shipped, rate_pct, min_units):
            continue
        ordered = sorted(((code, name, units) for code, (name, units) in reasons.items()),
                         key=lambda r: (-r[2], r[0]))
        flag = revision_flags.raise_flag(version, window_from=start, window_to=now,
                                         units_shipped=shipped, units_returned=returned,
                                         reasons=ordered, actor=None)
        if flag is not None:
            flagged.append(version.label)
            log.info("Specification %s flagged for revision: %s of %s units returned.",
                     version.label, returned, shipped)
    return {"checked": len(versions), "flagged": flagged}


periodic.task("aftersales.spec_revision", every=EVERY)(check_specifications)
