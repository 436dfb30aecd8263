"""The production demo: a Chinese-reading tailor, a made-to-measure dress, every state; once."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.cli import load_demo_core
from erp.extensions import db
from erp.production.models import MtoProduct, ProductionOrder, ProductionState
from erp.production.order_queries import board
from erp.quality.models import Inspection, InspectionState


def test_demo_has_a_production_order_in_each_state_and_one_late(app, create_user):
    from erp.brands.demo import load_demo as load_brands
    from erp.catalog.demo import load_demo as load_catalog
    from erp.production.demo import load_demo
    from erp.shipping.demo import load_demo as load_shipping
    from erp.warehouse.demo import load_demo as load_warehouse

    create_user("service", roles=("customer_service",))
    create_user("purchasing", roles=("purchasing",))
    create_user("warehouse", roles=("warehouse",))
    load_demo_core()
    load_brands()
    load_catalog()
    load_warehouse()
    load_shipping()
    load_demo()
    db.session.commit()

    setup = db.session.scalar(select(MtoProduct))
    assert setup.maker.language == "zh_Hans_CN"
    assert setup.made_to_measure
    assert setup.sizes == "XS S M L XL"
    states = {po.state for po in db.session.scalars(select(ProductionOrder))}
    assert states == {ProductionState.ordered, ProductionState.in_production,
                      ProductionState.finished, ProductionState.shipped,
                      ProductionState.received, ProductionState.cancelled}
    lots = db.session.scalars(select(Inspection).where(
        Inspection.ref_type == "production_order").order_by(Inspection.id)).all()
    assert [lot.state for lot in lots] == [InspectionState.pending, InspectionState.rejected]
    cancelled = db.session.scalar(select(ProductionOrder).where(
        ProductionOrder.state == ProductionState.cancelled))
    assert cancelled.cancel_fee is not None
    assert len(board(7).late) == 1

    load_demo()  # a second load adds nothing
    assert db.session.scalar(select(func.count()).select_from(ProductionOrder)) == 8
