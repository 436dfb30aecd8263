"""The order object that intake returns is the stored row, loaded with every column."""

from __future__ import annotations

from sqlalchemy import event, inspect, select

from erp.extensions import db
from erp.orders import services
from erp.orders.models import CustomerOrder
from tests.orders.intake_data import payload


def test_the_created_order_holds_every_column_as_stored_without_reading_it_again(
        app, dummy_sku):
    cleaned, errors = services.validate_order_payload(payload())
    assert errors == {}
    order, created = services.create_order(cleaned, actor=None)
    assert created
    assert not inspect(order).expired_attributes
    assert not inspect(order).unloaded - {
        "warehouse", "split_from", "merged_into", "lines"}
    statements = []
    listener = event.listens_for(db.engine, "before_cursor_execute")(
        lambda *args: statements.append(args[2]))
    try:
        shown = {prop.key: getattr(order, prop.key)
                 for prop in inspect(CustomerOrder).column_attrs}
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == []
    db.session.commit()
    row = db.session.execute(select(*CustomerOrder.__table__.c).where(
        CustomerOrder.__table__.c.id == order.id)).one()
    assert shown == {prop.key: row._mapping[prop.columns[0].name]
                     for prop in inspect(CustomerOrder).column_attrs}
    assert shown["updated_at"] is not None
    assert shown["hold_reason"] is None


def test_an_existing_number_returns_the_stored_order(app, dummy_sku):
    cleaned, _ = services.validate_order_payload(payload())
    order, _created = services.create_order(cleaned, actor=None)
    stored = (order.id, order.number)
    db.session.commit()
    db.session.expunge_all()
    again, created = services.create_order(cleaned, actor=None)
    assert not created
    assert (again.id, again.number) == stored


def test_skus_and_token_the_session_holds_expired_are_read_afresh(app, dummy_sku):
    from erp.catalog.models import Sku

    token, plaintext = services.create_api_token("shop", actor=None)
    db.session.commit()  # expires the token and the SKU the session holds
    db.session.execute(Sku.__table__.update().where(Sku.__table__.c.id == dummy_sku.id)
                       .values(weight_g=1234))
    db.session.commit()
    assert inspect(dummy_sku).expired
    found = services.find_api_token(plaintext)
    assert found is token
    assert found.name == "shop"
    assert services.resolve_skus(["TS-RED-M"]) == {"TS-RED-M": dummy_sku.id}
    statements = []
    listener = event.listens_for(db.engine, "before_cursor_execute")(
        lambda *args: statements.append(args[2]))
    try:
        assert dummy_sku.weight_g == 1234  # filled from the intake's row, not loaded again
        assert found.revoked_at is None
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert statements == []
