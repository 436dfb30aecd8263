"""Inspection decisions posted 8 times at once: decide, release, scrap act once."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.extensions import db
from erp.warehouse.models import StockMove
from tests.concurrency.guarded import Scenario, audit_count, guarded, ledger_balances


def _moves_of(inspection) -> int:
    return db.session.scalar(select(func.count()).select_from(StockMove).where(
        StockMove.ref_type == "inspection", StockMove.ref_id == inspection.id))


@guarded("quality.decide_inspection")
def decide_the_same_lot(get) -> Scenario:
    """8 decisions of a pending lot: decided once, its goods moved once."""
    inspection = get("inspection_in")("pending")

    def check(answers):
        db.session.expire_all()
        assert inspection.state.value == "accepted"
        assert audit_count("inspection.accepted", of=inspection) == 1
        assert _moves_of(inspection) == 1
        ledger_balances()

    return Scenario("warehouse", f"/quality/inspections/{inspection.id}/decide", {"note": ""},
                    check)


@guarded("quality.release_inspection")
def release_the_same_lot(get) -> Scenario:
    """8 concessions of a rejected lot: released once, its goods moved out of quarantine once."""
    inspection = get("inspection_in")("rejected")

    def check(answers):
        db.session.expire_all()
        assert inspection.state.value == "released"
        assert audit_count("inspection.released", of=inspection) == 1
        assert _moves_of(inspection) == 2  # the rejection, then the release
        ledger_balances()

    return Scenario("manager", f"/quality/inspections/{inspection.id}/release",
                    {"reason": "Customer accepts the colour shade"}, check)


@guarded("quality.scrap_inspection")
def scrap_the_same_lot(get) -> Scenario:
    """8 scraps of 150 of a 200-unit rejected lot: one passes, the rest would exceed the lot."""
    inspection = get("inspection_in")("rejected")

    def check(answers):
        db.session.expire_all()
        assert inspection.scrapped_qty == 150
        assert audit_count("inspection.scrapped", of=inspection) == 1
        ledger_balances()

    return Scenario("manager", f"/quality/inspections/{inspection.id}/scrap",
                    {"quantity": "150", "reason": "mould"}, check)
