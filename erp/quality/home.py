"""Quality on the home page: lots waiting for their inspection, and rejected lots."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.core import dashboard
from erp.core.dashboard import Card, Context
from erp.core.i18n import _l
from erp.core.models import Role
from erp.quality.models import Inspection, InspectionState

PENDING = "quality.pending"
REJECTED = "quality.rejected"


@dashboard.source([PENDING, REJECTED])
def quality_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the lots waiting for inspection and the rejected lots not yet released."""
    counts = dict(dashboard.connection().execute(
        select(Inspection.state, func.count()).where(Inspection.state.in_(
            [InspectionState.pending, InspectionState.rejected])).group_by(Inspection.state)
    ).all())
    return {PENDING: counts.get(InspectionState.pending, 0),
            REJECTED: counts.get(InspectionState.rejected, 0)}


PENDING_CARD = (_l("Lots waiting for inspection"), "quality.inspect", PENDING,
                "quality.inspection_list", _l("Received goods in QC hold"))
REJECTED_CARD = (_l("Rejected lots"), "quality.release", REJECTED, "quality.inspection_list",
                 _l("In quarantine: release, scrap or return to the supplier"))

dashboard.register(
    Card(*PENDING_CARD, args=(("state", "open"),), section=Role.warehouse, position=95),
    Card(*REJECTED_CARD, args=(("state", "rejected"),), section=Role.manager, position=55),
)
