"""Generated warehouse data for the benchmarks: bins, a long stock ledger and consistent levels.

A ledger of a million moves cannot go through ``post_moves`` in a benchmark's setup time, so the
moves are bulk ``INSERT`` statements (executemany), while :class:`LedgerGenerator` keeps the
on-hand quantity of every SKU in every bin as it goes. :meth:`LedgerGenerator.write_levels` then
writes ``stock_level`` rows (and the reservations behind their ``reserved``) that agree with the
moves, so ``erp check-ledger`` finds nothing wrong with the result.

Each SKU lives in two bins: receipts arrive in its *home* bin, transfers move stock on to its
*overflow* bin, and shipments leave from either. Everything is deterministic. Call inside an app
context; nothing commits.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import delete, insert

from erp.scale.catalog import create_bins  # noqa: F401 - re-exported

BATCH = 50_000
UNIT_COST = Decimal("2.5000")


class LedgerGenerator:
    """Moves for ``sku_ids`` across ``bin_ids``, with the on-hand figures they add up to."""

    def __init__(self, sku_ids: list[int], bin_ids: list[int]) -> None:
        from erp.core.models import utcnow
        from erp.warehouse import services
        from erp.warehouse.models import LocationKind

        self.sku_ids = sku_ids
        n_bins = len(bin_ids)
        self.homes = [bin_ids[i % n_bins] for i in range(len(sku_ids))]
        self.overflows = [bin_ids[(i * 7 + 1) % n_bins] for i in range(len(sku_ids))]
        for i, (home, over) in enumerate(zip(self.homes, self.overflows, strict=True)):
            if home == over:
                self.overflows[i] = bin_ids[(bin_ids.index(over) + 1) % n_bins]
        self.home_qty = [0] * len(sku_ids)
        self.over_qty = [0] * len(sku_ids)
        self.supplier = services.virtual_location(LocationKind.supplier).id
        self.customer = services.virtual_location(LocationKind.customer).id
        self.start = utcnow() - timedelta(days=400)
        self.posted = 0

    def _rows(self, stop: int):
        from erp.warehouse.models import MoveKind

        n = len(self.sku_ids)
        receipt, transfer, ship = MoveKind.receipt, MoveKind.transfer, MoveKind.ship
        for j in range(self.posted, stop):
            i = j % n
            sku, home, over = self.sku_ids[i], self.homes[i], self.overflows[i]
            roll = (j * 2654435761 >> 7) % 10  # a cheap, fixed scramble of the move number
            if j < n or roll < 3 or self.home_qty[i] + self.over_qty[i] == 0:
                qty = 20 + j % 30 if j < n else 5
                self.home_qty[i] += qty
                move = (sku, self.supplier, home, qty, receipt)
            elif roll < 6 and self.home_qty[i] > 0:
                qty = min(2, self.home_qty[i])
                self.home_qty[i] -= qty
                self.over_qty[i] += qty
                move = (sku, home, over, qty, transfer)
            elif self.over_qty[i] > 0:
                self.over_qty[i] -= 1
                move = (sku, over, self.customer, 1, ship)
            else:
                self.home_qty[i] -= 1
                move = (sku, home, self.customer, 1, ship)
            yield {"sku_id": move[0], "from_location_id": move[1], "to_location_id": move[2],
                   "quantity": move[3], "unit_cost": UNIT_COST, "kind": move[4],
                   "ref_type": "bench", "ref_id": j, "actor_id": None,
                   "at": self.start + timedelta(seconds=j * 30), "note": None}

    def post(self, until: int) -> None:
        """Insert moves until the ledger holds ``until`` of them."""
        from erp.extensions import db
        from erp.warehouse.models import StockMove

        table = StockMove.__table__
        while self.posted < until:
            stop = min(until, self.posted + BATCH)
            db.session.execute(table.insert(), list(self._rows(stop)))
            self.posted = stop

    def write_levels(self) -> int:
        """Replace every level (and reservation) with the figures the moves add up to.

        Every SKU has a level in both its bins (at zero where it has none); every tenth SKU has
        one unit reserved in its home bin when it has stock there. Returns the levels written.
        """
        from erp.extensions import db
        from erp.warehouse.models import Reservation, StockLevel

        db.session.execute(delete(Reservation))
        db.session.execute(delete(StockLevel))
        levels, reservations = [], []
        for i, sku in enumerate(self.sku_ids):
            reserved = 1 if i % 10 == 0 and self.home_qty[i] > 0 else 0
            levels.append({"sku_id": sku, "location_id": self.homes[i],
                           "on_hand": self.home_qty[i], "reserved": reserved})
            levels.append({"sku_id": sku, "location_id": self.overflows[i],
                           "on_hand": self.over_qty[i], "reserved": 0})
            if reserved:
                reservations.append({"sku_id": sku, "location_id": self.homes[i],
                                     "quantity": 1, "ref_type": "bench", "ref_id": i,
                                     "created_at": self.start})
        for start in range(0, len(levels), BATCH):
            db.session.execute(insert(StockLevel), levels[start:start + BATCH])
        for start in range(0, len(reservations), BATCH):
            db.session.execute(insert(Reservation), reservations[start:start + BATCH])
        return len(levels)


__all__ = ["LedgerGenerator", "create_bins"]
