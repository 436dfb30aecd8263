"""SQL helpers shared by the report modules: period bounds, exact money sums, the ledger.

Money columns are stored as integers of ten-thousandths (:func:`erp.core.types.Money`), so
``sum(quantity * raw)`` over the raw integers is exact on both databases; :func:`from_raw` turns
the sum back into a Decimal.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import BigInteger, and_, case, func, literal, select, type_coerce

from erp.extensions import db
from erp.warehouse.models import (
    VIRTUAL_KINDS,
    Location,
    LocationKind,
    MoveKind,
    StockMove,
    ValueAdjustment,
)

#: move kinds whose unit cost is the price stock came in at (as the ledger's average cost uses)
COSTED_INBOUND = (MoveKind.receipt, MoveKind.opening, MoveKind.return_receipt)
_SCALE = Decimal(10_000)


def day_start(day: date) -> datetime:
    """Return midnight UTC at the start of ``day``."""
    return datetime.combine(day, time.min, UTC)


def period_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """Return ``[start, end)`` in UTC covering whole days ``date_from`` to ``date_to``."""
    return day_start(date_from), day_start(date_to + timedelta(days=1))


def raw(column):
    """Return a Money column as its stored integer (ten-thousandths)."""
    return type_coerce(column, BigInteger)


def from_raw(value) -> Decimal:
    """Return a sum of raw money integers as a Decimal of 4 places."""
    return (Decimal(int(value or 0)) / _SCALE).quantize(Decimal("0.0001"))


def virtual_location_ids() -> list[int]:
    """Return the ids of the virtual locations (supplier, customer, adjustment): a handful."""
    return list(db.session.scalars(select(Location.id).where(
        Location.kind.in_([k.value for k in VIRTUAL_KINDS]))))


def in_transit_location_ids() -> list[int]:
    """Return the ids of the in-transit locations (one per destination of a transfer)."""
    return list(db.session.scalars(select(Location.id).where(
        Location.kind == LocationKind.in_transit.value)))


def ledger_subquery(as_of: date, virtual: list[int], in_transit: list[int] = ()):
    """Return a subquery of the ledger per SKU up to the end of ``as_of``.

    Columns: ``sku_id``, ``on_hand`` (moves into physical locations minus moves out of them),
    ``costed_qty`` and ``costed_raw`` (quantity and sum of quantity x unit cost, in raw
    ten-thousandths, of the costed inbound moves: receipt, opening and return receipt from a
    virtual location into a physical one), and ``in_transit`` (the part of ``on_hand`` in the
    ``in_transit`` locations: shipped between warehouses, not yet received). One GROUP BY pass
    over ``stock_move``.
    """
    m = StockMove.__table__.c
    transit = list(in_transit)
    in_transit_qty = (func.sum(case((m.to_location_id.in_(transit), m.quantity), else_=0))
                      - func.sum(case((m.from_location_id.in_(transit), m.quantity), else_=0))
                      ) if transit else literal(0)
    end = day_start(as_of + timedelta(days=1))
    into = m.to_location_id.not_in(virtual)
    out_of = m.from_location_id.not_in(virtual)
    costed = and_(m.kind.in_([k.value for k in COSTED_INBOUND]), m.from_location_id.in_(virtual),
                  into)
    return (select(m.sku_id,
                   (func.sum(case((into, m.quantity), else_=0))
                    - func.sum(case((out_of, m.quantity), else_=0))).label("on_hand"),
                   func.sum(case((costed, m.quantity), else_=0)).label("costed_qty"),
                   func.sum(case((costed, m.quantity * raw(m.unit_cost)), else_=0))
                   .label("costed_raw"),
                   in_transit_qty.label("in_transit"))
            .where(m.at < end).group_by(m.sku_id).subquery("ledger"))


def value_adjustment_subquery(as_of: date):
    """Return a subquery of the value adjustments per SKU up to the end of ``as_of``.

    Columns: ``sku_id`` and ``adjusted_raw`` (the sum of revaluations and variances, raw
    ten-thousandths). A landed cost adds to what the goods it applies to cost on the way in,
    so the valuation adds both kinds to the costed inbound value before averaging.
    """
    v = ValueAdjustment.__table__.c
    end = day_start(as_of + timedelta(days=1))
    return (select(v.sku_id, func.sum(raw(v.amount)).label("adjusted_raw"))
            .where(v.at < end).group_by(v.sku_id).subquery("adjusted"))


def costed_condition(virtual: list[int]):
    """Return the condition on ``stock_move`` of a costed inbound move into a physical bin."""
    m = StockMove.__table__.c
    return and_(m.kind.in_([k.value for k in COSTED_INBOUND]), m.from_location_id.in_(virtual),
                m.to_location_id.not_in(virtual))


def unit_cost_at(costed_qty, costed_raw, current_cost) -> Decimal:
    """Return a SKU's unit cost at a date (4 places).

    The quantity-weighted average of its costed inbound moves up to then, or its current
    average cost when it had none.
    """
    from erp.core.money import round_unit_cost

    if costed_qty:
        return round_unit_cost(from_raw(costed_raw) / Decimal(int(costed_qty)))
    return round_unit_cost(Decimal(current_cost or 0))
