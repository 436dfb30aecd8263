"""The after-sales demo: the whole ``erp demo`` leaves cases in every state; a rerun adds none."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.aftersales.models import AfterSalesCase, CaseState, Refund, RefundKind, RefundState
from erp.brands.models import RevisionFlag
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.warehouse.queries import ledger_problems


def _counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (AfterSalesCase, Refund, AuditEvent))


def test_demo_command_opens_cases_in_every_state(runner, app):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    total = db.session.scalar(select(func.count()).select_from(AfterSalesCase))
    assert 25 <= total <= 35
    states = set(db.session.scalars(select(AfterSalesCase.state).distinct()))
    assert states == set(CaseState)
    types = set(db.session.scalars(select(AfterSalesCase.case_type).distinct()))
    assert len(types) >= 6
    refunds = db.session.scalars(select(Refund)).all()
    assert any(r.state == RefundState.pending for r in refunds)
    assert any(r.kind == RefundKind.keep_it for r in refunds)
    assert db.session.scalar(select(func.count()).select_from(AfterSalesCase).where(
        AfterSalesCase.replacement_order_id.is_not(None))) >= 2
    assert ledger_problems(db.session) == []
    # its defective returns flag specification versions for revision (demo minimum: 2 units)
    assert db.session.scalar(select(func.count()).select_from(RevisionFlag)) >= 1

    before = _counts()
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert _counts()[:2] == before[:2]
