"""Production order moves posted 8 times at once: the maker's progress is recorded once."""

from __future__ import annotations

from erp.extensions import db
from erp.production.services import orders as production
from tests.concurrency.guarded import Scenario, audit_count, guarded
from tests.production.po_helpers import MEASURED, made_to_order_sku, paid_order


@guarded("production.move_production_order")
def start_the_same_production_order(get) -> Scenario:
    """8 "production started" of one production order: moved once, audited once."""
    sku = made_to_order_sku(get("create_sku"), get("create_supplier"), code="CONC-MTO")
    order = paid_order(get("create_order"), sku, measurements=MEASURED)
    [po] = production.create_for_orders([order], actor=None)
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert po.state.value == "in_production"
        assert po.started_at is not None
        assert audit_count("production_order.in_production", of=po) == 1

    return Scenario("purchasing", f"/production/orders/{po.id}/move", {"to": "in_production"},
                    check)
