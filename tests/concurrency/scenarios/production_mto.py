"""Made-to-order operations posted 8 times at once: receiving a production order."""

from __future__ import annotations

from sqlalchemy import select

from erp.extensions import db
from erp.production.models import ProductionOrder
from erp.warehouse.models import Reservation
from tests.concurrency.guarded import Scenario, audit_count, guarded, ledger_balances, level
from tests.production.mto_helpers import measurements, set_up_suit, shipped_production_order


@guarded("production.receive")
def receive_the_same_production_order(get) -> Scenario:
    """8 receipts of one shipped production order: stock in and reserved to its line once."""
    maker = get("create_supplier")("TAILOR")
    _product, sku = set_up_suit(get("create_product"), get("create_sku"), maker)
    order = get("create_order")([(sku, 1, "480.00")])
    line = order.lines[0]
    line.measurements = measurements(chest_cm="96", waist_cm="80")
    po = shipped_production_order(order, line, maker)
    bin_ = get("create_bin")("A-05-01-01")
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert db.session.get(ProductionOrder, po.id).state.value == "received"
        assert level(sku, bin_).on_hand == 1
        assert level(sku, bin_).reserved == 1
        assert [r.quantity for r in db.session.scalars(select(Reservation))] == [1]
        assert audit_count("production_order.received") == 1
        ledger_balances()

    return Scenario("warehouse", f"/production/orders/{po.id}/receive",
                    {"location": "A-05-01-01"}, check)
