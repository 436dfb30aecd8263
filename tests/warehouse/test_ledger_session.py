"""A posting reads and writes its levels as plain rows: the session's objects stay true to them."""

import pytest
from sqlalchemy import select

from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import MoveKind, StockLevel
from erp.warehouse.services import MoveSpec


def test_a_level_loaded_before_a_posting_shows_the_posted_figures(dummy_sku, create_bin,
                                                                   receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 10)
    level_a = db.session.get(StockLevel, (dummy_sku.id, a.id))
    assert level_a.on_hand == 10
    services.transfer(dummy_sku, a, b, 4, actor=None)
    # no expire, no reload: the object the session held was set to the written figures
    assert level_a.on_hand == 6
    assert db.session.get(StockLevel, (dummy_sku.id, b.id)).on_hand == 4
    db.session.commit()
    assert db.session.get(StockLevel, (dummy_sku.id, a.id)).on_hand == 6


def test_a_level_changed_by_another_transaction_is_read_afresh(app, dummy_sku, create_bin,
                                                               receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 10)
    db.session.commit()
    level_a = db.session.get(StockLevel, (dummy_sku.id, a.id))
    assert level_a.on_hand == 10
    # a reservation committed by someone else: the held object is stale until the posting
    with db.engine.begin() as conn:
        conn.execute(StockLevel.__table__.update().where(
            StockLevel.__table__.c.sku_id == dummy_sku.id,
            StockLevel.__table__.c.location_id == a.id).values(reserved=3))
    db.session.rollback()  # end this session's read snapshot, keeping the object
    services.transfer(dummy_sku, a, b, 7, actor=None)
    assert (level_a.on_hand, level_a.reserved) == (3, 3)


def test_unflushed_changes_are_written_before_the_posting_reads(dummy_sku, create_bin,
                                                               receive_stock):
    a, b = create_bin(), create_bin()
    receive_stock(dummy_sku, a, 10)
    db.session.commit()
    level_a = db.session.get(StockLevel, (dummy_sku.id, a.id))
    level_a.reserved = 8  # pending in the session, as a caller's change would be
    with pytest.raises(services.StockError, match="of which 8 reserved"):
        services.post_move(MoveSpec(dummy_sku.id, a.id, b.id, 3, MoveKind.transfer),
                           actor=None)
    db.session.rollback()
    assert db.session.scalar(select(StockLevel.reserved).where(
        StockLevel.sku_id == dummy_sku.id, StockLevel.location_id == a.id)) == 0
