"""Large audit batches (COPY, or the driver's executemany) read back as small ones do."""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.models import AuditEvent
from erp.extensions import db


def _written(action):
    return [(e.entity_type, e.entity_id, e.entity_ref, e.changes, e.at.tzinfo is not None)
            for e in db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                        .order_by(AuditEvent.id))]


def test_a_large_batch_reads_back_like_a_small_one(app, monkeypatch):
    events = [(i, f"REF-{i}", {"state": ["a", "b"], "n": i} if i % 2 else None)
              for i in range(1, 6)]
    audit.record_many("parcel", "test.small", events, actor=None)
    monkeypatch.setattr(audit, "COPY_ABOVE", 2)
    audit.record_many("parcel", "test.large", events, actor=None)
    db.session.commit()
    small, large = _written("test.small"), _written("test.large")
    assert len(large) == 5
    assert large == small
