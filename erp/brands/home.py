"""Brands on the home page: versions waiting for a manager's approval, or flagged for revision."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.brands.models import RevisionFlag, SpecificationState, SpecificationVersion
from erp.core import dashboard
from erp.core.dashboard import Card
from erp.core.i18n import _l
from erp.core.models import Role

DRAFTS = "brands.drafts"
FLAGGED = "brands.flagged"


#: the specification versions awaiting approval
DRAFT_COUNT = (select(func.count()).select_from(SpecificationVersion)
               .where(SpecificationVersion.state == SpecificationState.draft))
#: the specification versions flagged for revision (an open flag each)
FLAGGED_COUNT = (select(func.count()).select_from(RevisionFlag)
                 .where(RevisionFlag.cleared_at.is_(None)))


#: read with the other domains' counts, in the home page's one query of scalar figures
dashboard.scalar_source({DRAFTS: DRAFT_COUNT.scalar_subquery(),
                         FLAGGED: FLAGGED_COUNT.scalar_subquery()})


DRAFTS_CARD = (_l("Specifications awaiting approval"), "brands.approve", DRAFTS,
               "brands.specification_drafts", _l("Draft versions to review and approve"))

dashboard.register(
    Card(*DRAFTS_CARD, section=Role.manager, position=50),
    Card(_l("Specifications flagged for revision"), "brands.view", FLAGGED,
         "brands.specification_list",
         _l("Customers return their goods for manufacturing reasons: revise or clear"),
         args=(("flagged", "1"),), section=Role.manager, position=51),
    # the admin's overview, as before the role sections
    Card(*DRAFTS_CARD),
)
