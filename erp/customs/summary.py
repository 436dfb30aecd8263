"""The monthly summary of the customs ledger (CEB701's grouping) and its trace back to parcels.

By the 15th, the lists released in a month are merged into summary declarations grouped by the
keys of the 9610 rules (reference §7): the consignor (``ebc_code``), the 10-digit HS code
(``gcode``), the line's final destination, the currency, the port of exit and the trade mode.
The legal units are carried as part of the key (one HS code normally has one unit pair, so they
do not split a group; if the catalog changed a code's unit mid-month the two stay apart rather
than adding kilograms to pieces).

Everything here reads the ledger as issued (:mod:`erp.customs.models`): one SQL ``GROUP BY``
over the month's 9610 declaration lines, sums in the stored integers (exact). Nothing writes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import BigInteger, Select, func, select, type_coerce

from erp.catalog.models import Sku
from erp.core.types import Money
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine, Qty
from erp.extensions import db
from erp.shipping.models import Parcel

#: the trade mode the summary covers (cross-border B2C retail export)
TRADE_MODE = "9610"
PERIOD_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

D = CustomsDeclaration
L = CustomsDeclarationLine


def valid_period(period: str | None) -> bool:
    """Return whether ``period`` is a month written ``YYYY-MM``."""
    return bool(period) and PERIOD_RE.match(period) is not None


def _exact_sum(column, kind):
    """Return an exact SQL sum of a scaled-decimal column (summed as the stored integers)."""
    return type_coerce(func.sum(type_coerce(column, BigInteger)), kind)


@dataclass(frozen=True)
class SummaryKey:
    """The keys of one summary line (what a summary declaration item groups by)."""

    ebc_code: str
    gcode: str
    country: str        # the line's final destination (customs code)
    currency: str       # customs code
    port_code: str
    trade_mode: str
    unit1: str
    unit2: str | None

    def as_args(self) -> dict[str, str]:
        """Return the key as query-string arguments (the trace page's link)."""
        args = {"ebc": self.ebc_code, "gcode": self.gcode, "country": self.country,
                "currency": self.currency, "port": self.port_code, "mode": self.trade_mode,
                "unit1": self.unit1}
        if self.unit2:
            args["unit2"] = self.unit2
        return args

    @classmethod
    def from_args(cls, args) -> SummaryKey | None:
        """Return the key of query-string arguments (:meth:`as_args`), or None if one lacks."""
        values = {name: (args.get(name) or "").strip()
                  for name in ("ebc", "gcode", "country", "currency", "port", "mode", "unit1",
                               "unit2")}
        if not all(values[name] for name in ("ebc", "gcode", "country", "currency", "port",
                                             "mode", "unit1")):
            return None
        return cls(values["ebc"], values["gcode"], values["country"], values["currency"],
                   values["port"], values["mode"], values["unit1"], values["unit2"] or None)


@dataclass(frozen=True)
class SummaryLine:
    """One line of a month's summary: its key and the sums of the list lines behind it."""

    key: SummaryKey
    qty1: Decimal
    qty2: Decimal | None
    total_price: Decimal
    parcels: int
    lines: int

    def __getattr__(self, name):  # the key's fields read as the line's (templates, exports)
        if name in SummaryKey.__dataclass_fields__:
            return getattr(self.key, name)
        raise AttributeError(name)


def summary_query(period: str) -> Select:
    """Return the month's summary as one grouped select, in key order.

    Columns: ``ebc_code, gcode, country, currency, port_code, trade_mode, unit1, unit2, qty1,
    qty2, total_price, parcels, lines``. ``parcels`` counts the declarations (one a parcel)
    with a line in the group.
    """
    keys = (D.ebc_code, L.gcode, L.country, L.currency, D.port_code, D.trade_mode, L.unit1,
            L.unit2)
    return (select(*keys,
                   _exact_sum(L.qty1, Qty()).label("qty1"),
                   _exact_sum(L.qty2, Qty()).label("qty2"),
                   _exact_sum(L.total_price, Money()).label("total_price"),
                   func.count(func.distinct(D.id)).label("parcels"),
                   func.count(L.id).label("lines"))
            .select_from(L).join(D, D.id == L.declaration_id)
            .where(D.period == period, D.trade_mode == TRADE_MODE)
            .group_by(*keys).order_by(*keys))


def summary_count_query(period: str) -> Select:
    """Return how many lines the month's summary has."""
    return select(func.count()).select_from(summary_query(period).order_by(None).subquery())


def to_line(row) -> SummaryLine:
    """Return the :class:`SummaryLine` of a row of :func:`summary_query`."""
    key = SummaryKey(row.ebc_code, row.gcode, row.country, row.currency, row.port_code,
                     row.trade_mode, row.unit1, row.unit2)
    return SummaryLine(key, row.qty1 or Decimal(0), row.qty2, row.total_price or Decimal(0),
                       row.parcels, row.lines)


def monthly_summary(period: str) -> list[SummaryLine]:
    """Return the summary lines of ``period`` (``YYYY-MM``): the month's 9610 list lines grouped.

    Grouped by (ebc_code, gcode, line country, currency, port_code, trade_mode), carrying the
    legal units; each line has Σqty1, Σqty2 (None where the code has no second unit), Σ
    total_price and the counts of parcels and of list lines.
    """
    return [to_line(row) for row in db.session.execute(summary_query(period))]


def trace_query(period: str, key: SummaryKey) -> Select:
    """Return the list lines behind one summary line, with their parcels, by parcel.

    Columns: ``declaration_id, parcel_id, parcel_number, tracking_number, order_no, cop_no,
    logistics_no, ie_date, gnum, sku_code, item_name, qty, unit, qty1, qty2, price,
    total_price``.
    """
    unit2 = L.unit2.is_(None) if key.unit2 is None else L.unit2 == key.unit2
    return (select(D.id.label("declaration_id"), D.parcel_id,
                   Parcel.number.label("parcel_number"), Parcel.tracking_number,
                   D.order_no, D.cop_no, D.logistics_no, D.ie_date, L.gnum,
                   Sku.code.label("sku_code"), L.item_name, L.qty, L.unit, L.qty1, L.qty2,
                   L.price, L.total_price)
            .select_from(L).join(D, D.id == L.declaration_id)
            .join(Parcel, Parcel.id == D.parcel_id).join(Sku, Sku.id == L.sku_id)
            .where(D.period == period, D.trade_mode == key.trade_mode,
                   D.ebc_code == key.ebc_code, D.port_code == key.port_code,
                   L.gcode == key.gcode, L.country == key.country,
                   L.currency == key.currency, L.unit1 == key.unit1, unit2)
            .order_by(D.cop_no, L.gnum))


def trace_count_query(period: str, key: SummaryKey) -> Select:
    """Return how many list lines are behind one summary line."""
    return select(func.count()).select_from(
        trace_query(period, key).order_by(None).subquery())


def summary_trace(period: str, key: SummaryKey) -> list:
    """Return the rows of :func:`trace_query`: the parcels behind one summary line."""
    return list(db.session.execute(trace_query(period, key)))


def periods_query(q: str | None = None) -> Select:
    """Return the months of the ledger's 9610 declarations, newest first, with counts.

    Columns: ``period, parcels, first_ie_date, last_ie_date``. ``q`` keeps the months starting
    with it (``2026`` or ``2026-11``).
    """
    stmt = (select(D.period, func.count(D.id).label("parcels"),
                   func.min(D.ie_date).label("first_ie_date"),
                   func.max(D.ie_date).label("last_ie_date"))
            .where(D.trade_mode == TRADE_MODE)
            .group_by(D.period).order_by(D.period.desc()))
    if q:
        stmt = stmt.where(D.period.startswith(q.strip(), autoescape=True))
    return stmt


def periods_count_query(q: str | None = None) -> Select:
    """Return how many months :func:`periods_query` lists."""
    return select(func.count()).select_from(periods_query(q).order_by(None).subquery())


def line_counts(periods: list[str]) -> dict[str, int]:
    """Return the number of 9610 list lines of each of ``periods``."""
    if not periods:
        return {}
    return dict(db.session.execute(
        select(D.period, func.count(L.id)).select_from(L).join(D, D.id == L.declaration_id)
        .where(D.period.in_(periods), D.trade_mode == TRADE_MODE).group_by(D.period)).all())


def periods() -> list:
    """Return every month of the ledger with its parcel count, newest first."""
    return list(db.session.execute(periods_query()))
