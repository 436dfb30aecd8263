"""Brands on the home page: versions waiting for a manager's approval, or flagged for revision."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.brands.models import RevisionFlag, SpecificationState, SpecificationVersion
from erp.core import dashboard
from erp.core.dashboard import Card, Context
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


@dashboard.source([DRAFTS])
def brand_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the specification versions awaiting approval."""
    return {DRAFTS: dashboard.connection().scalar(DRAFT_COUNT) or 0}


@dashboard.source([FLAGGED])
def flagged_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the specification versions flagged for revision."""
    return {FLAGGED: dashboard.connection().scalar(FLAGGED_COUNT) or 0}


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
