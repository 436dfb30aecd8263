"""The procurement demo: four suppliers with price lists, an order in every state; loads once."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.cli import load_demo_core
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.procurement.demo import load_demo
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderState,
    Receipt,
    Supplier,
    SupplierItem,
)
from erp.procurement.services import replenishment_suggestions
from erp.warehouse.models import PutawayState, PutawayTask
from erp.warehouse.queries import ledger_problems


def counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(model))
                 for model in (Supplier, SupplierItem, PurchaseOrder, Receipt, AuditEvent))


def test_load_demo_has_an_order_in_every_state_and_is_idempotent(app, create_user):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo as load_catalog
    from erp.warehouse.demo import load_demo as load_warehouse

    buyer = create_user("purchasing", roles=("purchasing",))
    manager = create_user("manager", roles=("manager",))
    load_demo_core()
    load_brands()
    load_catalog()
    load_warehouse()
    load_demo()
    db.session.commit()

    suppliers = {s.code: s for s in db.session.scalars(select(Supplier))}
    assert {(s.country, s.currency) for s in suppliers.values()} == {
        ("CN", "CNY"), ("VN", "USD"), ("PT", "EUR")}
    assert len(suppliers) == 4
    assert all(s.items for s in suppliers.values())
    orders = db.session.scalars(select(PurchaseOrder).order_by(PurchaseOrder.id)).all()
    assert {o.state for o in orders} == set(PurchaseOrderState)
    assert all(o.created_by_id == buyer.id for o in orders)
    approved_by_manager = [o for o in orders if o.approved_by_id == manager.id]
    assert approved_by_manager  # the large order went through the manager
    receipts = db.session.scalars(select(Receipt)).all()
    assert receipts
    assert {r.location.label for r in receipts} == {"SZ1/RCV-01"}
    by_state = {o.state: o for o in orders}
    closed = by_state[PurchaseOrderState.closed]
    assert len(closed.receipts) == 2
    assert any(line.cancelled_qty for line in closed.lines)  # closed short
    assert all(line.remaining_qty == 0 for line in by_state[PurchaseOrderState.received].lines)
    assert ledger_problems(db.session) == []
    assert any(s.has_supplier for s in replenishment_suggestions())
    # the receipts opened put-away tasks; the closed order's goods are already put away
    tasks = db.session.scalars(select(PutawayTask)).all()
    closed_skus = {line.sku_id for line in closed.lines}
    assert {t.state for t in tasks if t.sku_id in closed_skus} == {PutawayState.done}
    waiting = [t for t in tasks if t.state == PutawayState.open]
    assert waiting
    assert all(t.suggested_location_id for t in waiting)

    before = counts()
    load_demo()
    db.session.commit()
    assert counts() == before


def test_load_demo_has_a_shipped_return_with_its_claim_and_a_draft(app, create_user):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo as load_catalog
    from erp.procurement.return_models import (
        SupplierClaim,
        SupplierClaimState,
        SupplierReturn,
        SupplierReturnState,
    )
    from erp.warehouse.demo import load_demo as load_warehouse

    create_user("purchasing", roles=("purchasing",))
    create_user("manager", roles=("manager",))
    load_demo_core()
    load_brands()
    load_catalog()
    load_warehouse()
    load_demo()
    db.session.commit()
    returns = db.session.scalars(select(SupplierReturn).order_by(SupplierReturn.id)).all()
    assert [r.state for r in returns] == [SupplierReturnState.shipped, SupplierReturnState.draft]
    claim = db.session.scalar(select(SupplierClaim))
    assert claim.return_id == returns[0].id
    assert claim.state == SupplierClaimState.approved
    assert claim.amount == returns[0].claim_amount > 0
    assert ledger_problems(db.session) == []
