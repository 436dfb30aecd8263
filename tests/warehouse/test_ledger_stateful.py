"""Random stock operations keep every invariant that ``erp check-ledger`` verifies.

Hypothesis stateful testing drives receive, transfer, reserve, release, adjust and ship.
"""

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from erp.core.errors import DomainError
from erp.extensions import db
from erp.warehouse import services
from erp.warehouse.models import LocationKind, MoveKind, Reservation, StockLevel
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import MoveSpec

SKU = st.integers(0, 1)
BIN = st.integers(0, 2)


def test_random_operations_keep_the_ledger_consistent(app, create_sku, create_bin):
    supplier = services.virtual_location(LocationKind.supplier)
    customer = services.virtual_location(LocationKind.customer)
    db.session.commit()

    class LedgerMachine(RuleBasedStateMachine):
        """Drives the real services; a refused operation must leave everything unchanged."""

        @initialize()
        def reset(self):
            # Fresh SKUs and bins per example, so no example sees another's stock.
            self.skus = [create_sku() for _ in range(2)]
            self.bins = [create_bin() for _ in range(3)]
            self.held = []  # ids of reservations this example made, in order
            db.session.commit()
            self.expected = {}  # (sku_id, bin_id) -> on hand, tracked independently
            self.reserved = {}
            self.ref = 0
            self.snapshot = self._levels()

        def _levels(self):
            db.session.expire_all()
            return {(lv.sku_id, lv.location_id): (lv.on_hand, lv.reserved)
                    for lv in db.session.query(StockLevel)}

        def _attempt(self, operation, change):
            try:
                operation()
            except DomainError:
                db.session.rollback()
                assert self._levels() == self.snapshot, "a refused operation changed stock"
                return
            db.session.commit()
            change()
            self.snapshot = self._levels()

        def _on_hand(self, sku, location):
            return self.expected.get((sku.id, location.id), 0)

        def _add(self, sku, location, qty):
            key = (sku.id, location.id)
            self.expected[key] = self.expected.get(key, 0) + qty

        @rule(s=SKU, b=BIN, qty=st.integers(1, 20), cost=st.decimals("0.01", "50", places=2))
        def receive(self, s, b, qty, cost):
            sku, location = self.skus[s], self.bins[b]
            self._attempt(lambda: services.post_move(MoveSpec(
                sku.id, supplier.id, location.id, qty, MoveKind.receipt, unit_cost=cost),
                actor=None), lambda: self._add(sku, location, qty))

        @rule(s=SKU, b1=BIN, b2=BIN, qty=st.integers(1, 25))
        def transfer(self, s, b1, b2, qty):
            sku, src, dst = self.skus[s], self.bins[b1], self.bins[b2]
            def change():
                self._add(sku, src, -qty)
                self._add(sku, dst, qty)
            self._attempt(lambda: services.transfer(sku, src, dst, qty, actor=None), change)

        @rule(s=SKU, b=BIN, qty=st.integers(1, 15))
        def reserve(self, s, b, qty):
            sku, location = self.skus[s], self.bins[b]
            self.ref += 1
            made = []
            self._attempt(lambda: made.append(services.reserve(
                sku, location, qty, ref_type="order_line", ref_id=self.ref, actor=None).id),
                lambda: self.held.extend(made))

        @rule(pick=st.integers(0, 1000), part=st.integers(1, 15))
        def release(self, pick, part):
            live = [r for r in (db.session.get(Reservation, i) for i in self.held) if r]
            if not live:
                return
            reservation = live[pick % len(live)]
            qty = min(part, reservation.quantity)
            self._attempt(lambda: services.release([reservation], actor=None, quantity=qty),
                          lambda: None)

        @rule(s=SKU, b=BIN, qty=st.integers(-15, 15).filter(bool))
        def adjust(self, s, b, qty):
            sku, location = self.skus[s], self.bins[b]
            self._attempt(lambda: services.request_adjustment(
                sku, location, qty, reason="data_correction", note=None, actor=None),
                lambda: self._add(sku, location, qty))

        @rule(s=SKU, b=BIN, qty=st.integers(1, 10))
        def ship(self, s, b, qty):
            sku, location = self.skus[s], self.bins[b]
            self._attempt(lambda: services.post_move(MoveSpec(
                sku.id, location.id, customer.id, qty, MoveKind.ship), actor=None),
                lambda: self._add(sku, location, -qty))

        @invariant()
        def ledger_balances(self):
            assert ledger_problems(db.session) == []

        @invariant()
        def levels_match_the_model(self):
            for (sku_id, bin_id), qty in self.expected.items():
                assert self.snapshot.get((sku_id, bin_id), (0, 0))[0] == qty
            for on_hand, reserved in self.snapshot.values():
                assert on_hand >= 0
                assert 0 <= reserved <= on_hand

    # Adjustments must post at once here, whatever their value.
    from erp.core import services as core_services
    core_services.update_settings({"adjustment_approval_threshold": "1000000000"}, actor=None)
    db.session.commit()
    LedgerMachine.TestCase.settings = settings(
        max_examples=25, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    LedgerMachine.TestCase().runTest()
