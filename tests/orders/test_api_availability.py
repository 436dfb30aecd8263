"""Property: on random ledgers, the stock API's ``available`` is exactly what allocation reserves.

Each example builds a fresh SKU with stock spread over storage, receiving, quarantine,
frozen-by-count and inactive bins, with random reservations in any of them, then reads
``GET /api/v1/stock`` and allocates an order for one unit more than it offers through the real
allocation path: the order must get exactly ``available`` units, and the figures must add up to
what the bins hold.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from erp.core.errors import DomainError
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import OrderState
from erp.warehouse import services
from erp.warehouse.models import StockLevel

#: the bins of each example: (kind, how it is made unusable, if it is)
BINS = [("storage", None), ("storage", None), ("receiving", None), ("quarantine", None),
        ("storage", "frozen"), ("storage", "inactive"), ("returns", None)]
BIN = st.integers(0, len(BINS) - 1)
EXAMPLES = settings(max_examples=15, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def test_available_equals_what_allocation_can_reserve(app, client, dummy_warehouse, dummy_admin,
                                                      create_sku, create_bin, receive_stock,
                                                      create_order):
    _, token = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    @EXAMPLES
    @given(receipts=st.lists(st.tuples(BIN, st.integers(1, 20)), max_size=8),
           reservations=st.lists(st.tuples(BIN, st.integers(1, 15)), max_size=4),
           freeze=st.booleans())
    def run(receipts, reservations, freeze):
        sku = create_sku()
        bins = [create_bin(kind=kind) for kind, _ in BINS]
        for location, (_, how) in zip(bins, BINS, strict=True):
            if how == "inactive":  # made inactive while empty; postings do not ask
                services.update_location(location, kind="storage", pick_sequence=1,
                                         active=False, actor=None)
        for index, quantity in receipts:
            receive_stock(sku, bins[index], quantity)
        for n, (index, quantity) in enumerate(reservations):
            try:
                with db.session.begin_nested():
                    services.reserve(sku, bins[index], quantity, ref_type="test", ref_id=n,
                                     actor=None)
            except DomainError:
                pass  # not that much available there: the ledger refused, nothing changed
        frozen = bins[4]
        if freeze and db.session.get(StockLevel, (sku.id, frozen.id)):
            services.open_cycle_count(dummy_warehouse, location_ids=[frozen.id], actor=None)
        db.session.commit()

        response = client.get(f"/api/v1/stock?sku={sku.code}", headers=headers)
        assert response.status_code == 200
        (item,) = response.get_json()["stock"]
        levels = {lv.location_id: lv for lv in db.session.scalars(
            select(StockLevel).where(StockLevel.sku_id == sku.id))}
        on_hand = sum(lv.on_hand for lv in levels.values())
        reserved_usable = sum(levels[b.id].reserved for b in bins[:2] if b.id in levels)
        assert item["inbound"] == (levels[bins[2].id].on_hand if bins[2].id in levels else 0)
        assert item["available"] + reserved_usable + item["inbound"] + item["blocked"] == on_hand

        order = create_order([(sku, item["available"] + 1)])
        db.session.commit()
        state = order_services.allocate_order(order, actor=None)
        db.session.commit()
        assert order.lines[0].allocated_qty == item["available"]
        assert state == OrderState.backordered
        after = client.get(f"/api/v1/stock?sku={sku.code}", headers=headers).get_json()
        assert after["stock"][0]["available"] == 0

    run()
