"""Revision flags under concurrency, on PostgreSQL: 8 checks (or clearings) at once act once.

``raise_flag`` locks the version before it looks for an open flag, and ``clear_flag`` locks
the flag before it reads whether it is cleared, so tickers running side by side raise one flag
and managers clicking together clear it once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from erp.aftersales import spec_revision
from erp.brands import revision_flags
from erp.brands.models import RevisionFlag, SpecificationVersion
from erp.core.models import AuditEvent, Setting, utcnow
from erp.extensions import db
from tests.concurrency_helpers import CALLS, POOL_CONFIG, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_config():
    return POOL_CONFIG


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_eight_checks_at_once_raise_one_flag(app, scorecard_data):
    db.session.add_all([Setting(key="spec_revision_rate_pct", value="20"),
                        Setting(key="spec_revision_min_units", value="2")])
    db.session.commit()

    outcomes = race(app, lambda n: spec_revision.check_specifications)
    assert outcomes.wins == CALLS
    assert sum(len(r["flagged"]) for r in outcomes.results) == 1
    assert _count(RevisionFlag) == 1
    assert _count(AuditEvent, AuditEvent.action == "specification_version.flagged") == 1


def test_eight_clearings_at_once_clear_once(app, scorecard_data):
    now = utcnow()
    flag = revision_flags.raise_flag(scorecard_data.v1, window_from=now - timedelta(days=1),
                                     window_to=now, units_shipped=10, units_returned=2,
                                     reasons=[("DEFECTIVE", "Defective or damaged", 2)])
    db.session.commit()
    flag_id = flag.id

    def prepare(n):
        loaded = db.session.get(RevisionFlag, flag_id)
        db.session.get(SpecificationVersion, loaded.version_id)
        return lambda: revision_flags.clear_flag(loaded, actor=None, reason=f"call {n}")

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert all("already cleared" in m for m in outcomes.messages())
    assert _count(AuditEvent, AuditEvent.action == "specification_version.flag_cleared") == 1
