"""The customs ledger: each dispatched 9610 parcel's declaration as issued, written at close.

Registered in :data:`erp.shipping.batch_hooks.closed`: in the close's transaction, after the
gate passed, the batch's 9610 parcels get one :class:`CustomsDeclaration` each with its lines
(two bulk INSERTs), and the batch one ``customs.issued`` audit event. The rows are never updated
(on PostgreSQL a trigger refuses UPDATE and DELETE): a later catalog change leaves them as
declared.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select

from erp.core import audit
from erp.customs.collect import collect, dated
from erp.customs.gate import take_collected
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.extensions import db
from erp.shipping import batch_hooks
from erp.shipping.errors import ShippingError


def write_ledger(batch, parcel_ids: Sequence[int], *, actor, at: datetime) -> int:
    """Write the declarations of the batch's 9610 parcels; return how many were written.

    :raises ShippingError: if the data became incomplete since the gate (never expected: both
        run in the close's transaction with the batch, orders and parcels locked).
    """
    collected = take_collected(batch, parcel_ids)
    if collected is None:
        collected = collect(batch, parcel_ids, at=at)
    if collected.problems:
        raise ShippingError("; ".join(collected.problems[:20]))
    heads = [{**head, **dated(at)} for head in collected.declarations]
    if not heads:
        return 0
    rows = [{k: v for k, v in head.items() if k != "lines"} for head in heads]
    db.session.execute(insert(CustomsDeclaration), rows)
    ids = dict(db.session.execute(
        select(CustomsDeclaration.parcel_id, CustomsDeclaration.id)
        .where(CustomsDeclaration.batch_id == batch.id)).all())
    line_rows = [dict(line, declaration_id=ids[head["parcel_id"]])
                 for head in heads for line in head["lines"]]
    if line_rows:
        db.session.execute(insert(CustomsDeclarationLine), line_rows)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for head in heads:
        totals[head["currency"]] += head["goods_value"]
    audit.record(batch, "customs.issued", actor=actor, changes={
        "declarations": len(heads), "lines": len(line_rows), "period": heads[0]["period"],
        "goods_value": {k: str(v) for k, v in sorted(totals.items())}})
    return len(heads)


if write_ledger not in batch_hooks.closed:
    batch_hooks.closed.append(write_ledger)
