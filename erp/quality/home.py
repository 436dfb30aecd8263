"""Quality on the home page: lots waiting for their inspection, and rejected lots."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.core import dashboard
from erp.core.dashboard import Card
from erp.core.i18n import _l
from erp.core.models import Role
from erp.quality.models import Inspection, InspectionState

PENDING = "quality.pending"
REJECTED = "quality.rejected"


def _lots(state: InspectionState):
    return select(func.count()).select_from(Inspection).where(Inspection.state == state) \
        .scalar_subquery()


#: the lots waiting for inspection and the rejected lots not yet released, read with the other
#: domains' counts in one query
dashboard.scalar_source({PENDING: _lots(InspectionState.pending),
                         REJECTED: _lots(InspectionState.rejected)})


PENDING_CARD = (_l("Lots waiting for inspection"), "quality.inspect", PENDING,
                "quality.inspection_list", _l("Received goods in QC hold"))
REJECTED_CARD = (_l("Rejected lots"), "quality.release", REJECTED, "quality.inspection_list",
                 _l("In quarantine: release, scrap or return to the supplier"))

dashboard.register(
    Card(*PENDING_CARD, args=(("state", "open"),), section=Role.warehouse, position=95),
    Card(*REJECTED_CARD, args=(("state", "rejected"),), section=Role.manager, position=55),
)
