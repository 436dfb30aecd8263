"""Closing the same 9610 batch from several requests at once writes one ledger.

Shipping locks the batch before closing it; the ledger is written in that transaction, so the
calls that lose the race are refused (the batch is closed) and write nothing.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from erp.core.models import AuditEvent
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.extensions import db
from erp.shipping.models import DispatchBatch
from erp.shipping.services import dispatch
from tests.concurrency_helpers import POOL_CONFIG, race

pytestmark = pytest.mark.postgres


@pytest.fixture
def app_config():
    return POOL_CONFIG


def test_closing_the_same_batch_at_once_writes_one_ledger(app, world):
    batch = world.batch(world.parcel(), world.parcel())
    db.session.commit()
    batch_id = batch.id

    def prepare(n):
        loaded = db.session.get(DispatchBatch, batch_id)
        return lambda: dispatch.close_batch(loaded, actor=None)

    outcomes = race(app, prepare)
    assert outcomes.wins == 1
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclaration)) == 2
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclarationLine)) == 4
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "customs.issued")) == 1
