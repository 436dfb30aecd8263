"""Value adjustments: a charge on received goods revalues what is left, the rest is variance.

The warehouse knows nothing of landed costs: a caller hands it :class:`ValueShare` rows (an
amount in the base currency that belongs to the units one inbound stock move brought in) and an
opaque reference. Per SKU, the part of each share that falls on units of that move still on hand
raises the SKU's moving-average cost; the part that fell on units already gone is a variance.

Which received units are still on hand: the ledger keeps no lots, so the rule is first in, first
out, the way stock is picked: the units on hand now are the newest that came in. Units of a move
still on hand = ``on_hand - (units that came in after it)``, kept between 0 and the move's
quantity ("came in": receipts, opening stock and return receipts from a virtual location into a
bin, less the receipts reversed since). This is never more than ``min(received, on hand)`` and,
unlike it, does not revalue stock of a later delivery when this one was sold out.

Exactness: the average cost is kept to 4 places (``COST_QUANTUM``), so the revaluation is stored
as ``on_hand x new cost - on_hand x old cost`` exactly, and the variance is the rest of the
shares, so revaluation + variance == the shares to the last digit.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select

from erp.catalog import services as catalog_services
from erp.catalog.models import Sku
from erp.core import audit
from erp.core.i18n import _
from erp.core.models import utcnow
from erp.extensions import db
from erp.warehouse.models import (
    VIRTUAL_KINDS,
    Location,
    MoveKind,
    StockLevel,
    StockMove,
    ValueAdjustment,
    ValueAdjustmentKind,
)
from erp.warehouse.services.ledger import COST_QUANTUM, COSTED_INBOUND, StockError


@dataclass(frozen=True)
class ValueShare:
    """``amount`` (base currency, signed) that belongs to the ``quantity`` units of a move."""

    sku_id: int
    move_id: int
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class SkuRevaluation:
    """What :func:`revalue` did to one SKU."""

    sku_id: int
    sku_code: str
    on_hand: int
    cost_before: Decimal
    cost_after: Decimal
    amount: Decimal          # the shares of this SKU
    revaluation: Decimal     # on_hand x (cost_after - cost_before)
    variance: Decimal        # amount - revaluation
    units_on_hand: int       # received units still on hand (FIFO)
    units_consumed: int


def _lock_levels_of(sku_ids: list[int]) -> dict[int, int]:
    """Lock every stock level of the SKUs, in (sku, location) order; return on hand per SKU."""
    rows = db.session.execute(
        select(StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand)
        .where(StockLevel.sku_id.in_(sku_ids))
        .order_by(StockLevel.sku_id, StockLevel.location_id)
        .with_for_update(of=StockLevel)).all()
    on_hand: dict[int, int] = defaultdict(int)
    for sku_id, _location_id, qty in rows:
        on_hand[sku_id] += qty
    return on_hand


def _newer_inbound(shares: Sequence[ValueShare]) -> dict[int, int]:
    """Return, per move of the shares, the units of its SKU that came in after it.

    Costed inbound moves (from a virtual location into a bin) with a higher id, less the
    receipt reversals of those same receipts (a reversal carries its receipt's reference).
    """
    virtual = select(Location.id).where(Location.kind.in_([k.value for k in VIRTUAL_KINDS]))
    first = min(s.move_id for s in shares)
    skus = sorted({s.sku_id for s in shares})
    inbound = db.session.execute(
        select(StockMove.id, StockMove.sku_id, StockMove.quantity, StockMove.ref_type,
               StockMove.ref_id)
        .where(StockMove.sku_id.in_(skus), StockMove.id > first,
               StockMove.kind.in_([k.value for k in COSTED_INBOUND]),
               StockMove.from_location_id.in_(virtual),
               StockMove.to_location_id.not_in(virtual))).all()
    reversed_refs = {(r.sku_id, r.ref_type, r.ref_id): r.qty for r in db.session.execute(
        select(StockMove.sku_id, StockMove.ref_type, StockMove.ref_id,
               func.sum(StockMove.quantity).label("qty"))
        .where(StockMove.sku_id.in_(skus), StockMove.id > first,
               StockMove.kind == MoveKind.receipt_reversal.value)
        .group_by(StockMove.sku_id, StockMove.ref_type, StockMove.ref_id))}
    # per SKU, the inbound units in move order, net of reversals; then a suffix sum per share
    by_sku: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for row in inbound:
        undone = reversed_refs.get((row.sku_id, row.ref_type, row.ref_id), 0) \
            if row.ref_type is not None else 0
        by_sku[row.sku_id].append((row.id, max(0, row.quantity - int(undone))))
    newer: dict[int, int] = {}
    for sku_id, rows in by_sku.items():
        rows.sort()
        ids = [ident for ident, _qty in rows]
        after = [0] * (len(rows) + 1)
        for i in range(len(rows) - 1, -1, -1):
            after[i] = after[i + 1] + rows[i][1]
        for share in shares:
            if share.sku_id == sku_id:
                newer[share.move_id] = after[bisect_right(ids, share.move_id)]
    for share in shares:
        newer.setdefault(share.move_id, 0)
    return newer


def revalue(shares: Sequence[ValueShare], *, ref_type: str, ref_id: int, actor,
            at: datetime | None = None, note: str | None = None) -> list[SkuRevaluation]:
    """Spread amounts over the units still on hand (revaluation) and gone (variance).

    Locks every stock level of the SKUs (as the ledger does, in sku then location order, so a
    concurrent posting waits), then the SKU rows, and reads on hand and average cost after the
    locks. Writes one revaluation and one variance row per SKU (none when zero) and the new
    average cost. All or nothing.

    :raises StockError: if a negative amount (a reversal) would take a SKU's average cost
        below zero.
    """
    shares = [s for s in shares if s.amount]
    if not shares:
        return []
    at = at or utcnow()
    sku_ids = sorted({s.sku_id for s in shares})
    on_hand = _lock_levels_of(sku_ids)
    # FOR NO KEY UPDATE, the lock the cost UPDATE itself takes: a receipt inserting a row that
    # references the SKU holds a key-share lock on it, which a plain FOR UPDATE would wait on
    # while that receipt waits on the stock levels locked here (a deadlock).
    skus = {sku.id: sku for sku in db.session.scalars(
        select(Sku).where(Sku.id.in_(sku_ids)).order_by(Sku.id)
        .with_for_update(key_share=True)  # FOR NO KEY UPDATE on PostgreSQL
        .execution_options(populate_existing=True))}
    newer = _newer_inbound(shares)
    by_sku: dict[int, list[ValueShare]] = defaultdict(list)
    for share in shares:
        by_sku[share.sku_id].append(share)
    results: list[SkuRevaluation] = []
    for sku_id in sku_ids:
        sku, stock = skus[sku_id], max(0, on_hand.get(sku_id, 0))
        old = Decimal(sku.avg_cost or 0)
        amount, on_hand_part, kept, received = Decimal(0), Decimal(0), 0, 0
        for share in by_sku[sku_id]:
            left = min(share.quantity, max(0, stock - newer[share.move_id]))
            amount += share.amount
            received += share.quantity
            kept += left
            on_hand_part += share.amount * left / share.quantity
        kept = min(kept, stock)
        new = old
        if stock and on_hand_part:
            new = ((old * stock + on_hand_part) / stock).quantize(COST_QUANTUM,
                                                                 rounding=ROUND_HALF_UP)
        if new < 0:
            raise StockError(_('Taking %(amount)s off the stock of SKU "%(sku)s" would bring its '
                               "average cost below zero (%(cost)s now, %(on_hand)s on hand).",
                               amount=-on_hand_part.quantize(Decimal("0.01")), sku=sku.code,
                               cost=old, on_hand=stock))
        revaluation = new * stock - old * stock
        results.append(SkuRevaluation(sku_id, sku.code, stock, old, new, amount, revaluation,
                                      amount - revaluation, kept, max(0, received - kept)))
    rows = []
    for r in results:
        if r.revaluation:
            rows.append(ValueAdjustment(
                sku_id=r.sku_id, kind=ValueAdjustmentKind.revaluation, amount=r.revaluation,
                quantity=r.on_hand, cost_before=r.cost_before, cost_after=r.cost_after,
                ref_type=ref_type, ref_id=ref_id, actor_id=getattr(actor, "id", None), at=at,
                note=note))
        if r.variance:
            rows.append(ValueAdjustment(
                sku_id=r.sku_id, kind=ValueAdjustmentKind.variance, amount=r.variance,
                quantity=r.units_consumed, ref_type=ref_type, ref_id=ref_id,
                actor_id=getattr(actor, "id", None), at=at, note=note))
    db.session.add_all(rows)
    db.session.flush()
    catalog_services.set_sku_costs({r.sku_id: r.cost_after for r in results
                                    if r.cost_after != r.cost_before},
                                   actor=actor, reason=f"revaluation {ref_type}")
    audit.record_many("value_adjustment", "value_adjustment.posted", [
        (row.id, None, {"sku": skus[row.sku_id].code, "kind": row.kind.value,
                        "amount": row.amount, "quantity": row.quantity,
                        "ref": f"{ref_type}:{ref_id}"}) for row in rows], actor=actor)
    return results


def value_adjustments_for(ref_type: str, ref_id: int) -> list[ValueAdjustment]:
    """Return the value adjustments posted for a reference, in the order written."""
    return list(db.session.scalars(select(ValueAdjustment).where(
        ValueAdjustment.ref_type == ref_type, ValueAdjustment.ref_id == ref_id)
        .order_by(ValueAdjustment.id)))
