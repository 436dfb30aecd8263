"""Putting goods back into storage (a cancelled order's picked goods): which bin, how much."""

from __future__ import annotations

import pytest

from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import MoveKind, StockLevel
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import RestockSpec, restock, restock_bin


def on_hand(sku, location) -> int:
    level = db.session.get(StockLevel, (sku.id, location.id))
    return level.on_hand if level else 0


@pytest.fixture
def shelf(create_sku, create_bin, receive_stock, dummy_warehouse):
    """A SKU picked from A (3 at the bench of 5), B holding 2 more, C empty, D holding another."""
    sku, other = create_sku("TS-R"), create_sku("TS-O")
    a, b = create_bin("A", pick_sequence=30), create_bin("B", pick_sequence=20)
    c, d = create_bin("C", pick_sequence=10), create_bin("D", pick_sequence=5)
    bench = create_bin("PACK", kind="packing", pick_sequence=0)
    receive_stock(sku, a, 5)
    receive_stock(sku, b, 2)
    receive_stock(other, d, 1)
    services.post_move(services.MoveSpec(sku.id, a.id, bench.id, 3, MoveKind.pick),
                       actor=None)

    class Shelf:
        pass

    s = Shelf()
    s.sku, s.other, s.a, s.b, s.c, s.d, s.bench = sku, other, a, b, c, d, bench
    s.warehouse = dummy_warehouse
    return s


def test_goods_go_back_to_the_bin_they_came_from(shelf):
    assert restock_bin(shelf.sku.id, shelf.warehouse.id, shelf.a.id) == shelf.a
    result = restock([RestockSpec(shelf.sku.id, shelf.bench.id, 3, shelf.a.id)],
                     ref_type="customer_order", ref_id=7, note="Order cancelled", actor=None)
    assert (result.units, result.left) == (3, [])
    assert (on_hand(shelf.sku, shelf.a), on_hand(shelf.sku, shelf.bench)) == (5, 0)
    move = result.moves[0]
    assert (move.kind, move.ref_type, move.ref_id) == (MoveKind.transfer, "customer_order", 7)
    assert ledger_problems(db.session) == []


def test_a_frozen_or_inactive_bin_sends_them_where_the_sku_is_then_to_an_empty_bin(shelf):
    services.open_cycle_count(shelf.warehouse, location_ids=[shelf.a.id],
                              sku_ids=[shelf.sku.id], actor=None)
    assert restock_bin(shelf.sku.id, shelf.warehouse.id, shelf.a.id) == shelf.b
    shelf.b.active = False
    db.session.flush()
    # not D: it holds another SKU; C is empty
    assert restock_bin(shelf.sku.id, shelf.warehouse.id, shelf.a.id) == shelf.c
    result = restock([RestockSpec(shelf.sku.id, shelf.bench.id, 3, shelf.a.id)],
                     ref_type="customer_order", ref_id=7, note="Order cancelled", actor=None)
    assert on_hand(shelf.sku, shelf.c) == 3
    assert result.left == []
    assert ledger_problems(db.session) == []


def test_what_cannot_move_stays_and_is_reported(shelf):
    result = restock([RestockSpec(shelf.sku.id, shelf.bench.id, 5, shelf.a.id)],
                     ref_type="customer_order", ref_id=7, note="Order cancelled", actor=None)
    assert result.units == 3
    assert [(qty, why) for _spec, qty, why in result.left] == [(2, "not there to move")]
    services.post_move(services.MoveSpec(shelf.sku.id, shelf.a.id, shelf.bench.id, 1,
                                         MoveKind.pick), actor=None)
    services.open_cycle_count(shelf.warehouse, location_ids=[shelf.bench.id],
                              sku_ids=[shelf.sku.id], actor=None)
    result = restock([RestockSpec(shelf.sku.id, shelf.bench.id, 1, shelf.a.id)],
                     ref_type="customer_order", ref_id=8, note="Order cancelled", actor=None)
    assert result.moves == []
    assert result.left[0][2] == "a cycle count freezes it where it is"
    assert on_hand(shelf.sku, shelf.bench) == 1
    assert ledger_problems(db.session) == []


def test_no_storage_bin_left_keeps_the_goods_at_the_bench(shelf):
    for location in (shelf.a, shelf.b, shelf.c, shelf.d):
        location.active = False
    db.session.flush()
    assert restock_bin(shelf.sku.id, shelf.warehouse.id, shelf.a.id) is None
    result = restock([RestockSpec(shelf.sku.id, shelf.bench.id, 3, shelf.a.id)],
                     ref_type="customer_order", ref_id=7, note="Order cancelled", actor=None)
    assert (result.moves, result.left[0][1:]) == ([], (3, "no storage bin can take it"))
    assert on_hand(shelf.sku, shelf.bench) == 3
