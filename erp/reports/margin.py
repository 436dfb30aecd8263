"""Margin: what each shipped order earned, in the base currency, and the same by dimension.

Rules (the screen and the workbook state them):

- **Orders counted**: orders *placed* in the period (UTC days) that are shipped or delivered.
  Orders still open (not shipped) and cancelled orders are left out; the report says how many
  open ones there were. A replacement order (an after-sales case's) is not an order of its own
  here: its costs are the original order's "replacements".
- **Currency**: every amount in the base currency at the rate valid on the order's date (the
  latest rate on or before it, :func:`erp.core.money.rate_on`), shipping costs and refunds too.
  An order for which a needed rate is missing is left out and counted as "not converted".
- **Revenue** = goods (order lines: quantity x unit price) + the shipping charged.
- **Cost of goods**: the units shipped at the moving-average cost when shipped: the ``ship``
  stock moves of the order's parcels (``unit_cost`` is the SKU's average cost at dispatch),
  line by line.
- **Shipping cost**: per parcel, the carrier's billed cost once a carrier bill set it, else the
  rate-table quote made at labelling (a voided parcel's quote does not count; its billed cost
  does).
- **Packaging**: the box SKU each closed parcel used up (its stock move at its average cost).
- **Payment fee**: the ``payment_fees`` setting for the order's payment method: a percentage of
  the amount charged (revenue) plus a fixed amount in the base currency; fees in force now.
- **Refunds**: the approved refunds of the order's after-sales cases.
- **Replacements**: the cost of goods, shipping cost and packaging of the replacement orders
  sent for the order's cases.
- **Margin** = revenue - cost of goods - shipping cost - packaging - payment fee - refunds -
  replacements; margin % = margin / revenue.
- **Rounding**: each order's components are rounded to cents (half up) one by one; every total
  is the sum of those cents, so totals agree with the order list to the cent.
- **SKU, brand and category**: the goods and cost of goods are the line's own; the order-level
  amounts (shipping charged, shipping cost, packaging, fee, refunds, replacements) are spread
  over the order's lines by line value (by quantity when the goods are free), to the cent, the
  last line taking the remainder, so the lines add up to the order.
- **Shipping service**: the service of the order's parcels (the lowest id when they differ).

How: a handful of SQL statements return one row per order, per order line, per parcel line's
cost and per (order, currency) of shipping cost and refunds, as plain tuples (money as raw
integers). The conversion, the fee, the spreading over lines and every total are then
integer arithmetic in cents on numpy ``int64`` arrays (Python integers where ``int64`` could
overflow), grouped with ``np.add.at``; a row becomes a :class:`Figures` only when a page or
the workbook reads it. No fact table to keep in step: the report reads the live data (the
``margin_report`` benchmark: 200,000 orders in under 5 s).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import numpy as np
from sqlalchemy import BigInteger, and_, case, func, select, type_coerce

from erp.aftersales.models import AfterSalesCase, Refund, RefundState
from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku
from erp.core import settings
from erp.core.i18n import _l
from erp.core.models import ExchangeRate
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.payments import payment_fees
from erp.reports.dashboard import epoch_seconds
from erp.shipping.models import Box, Parcel, ParcelLine, ParcelState, ShippingService
from erp.warehouse.models import MoveKind, StockMove

#: the states of an order counted (shipped: everything has left)
COUNTED_STATES = (OrderState.shipped, OrderState.delivered)
#: states of an order placed in the period that is neither counted nor cancelled ("open")
OPEN_STATES = tuple(s for s in OrderState if s not in (*COUNTED_STATES, OrderState.cancelled))
#: the stock moves' reference of a parcel (erp.shipping.services.dispatch.PARCEL_REF)
PARCEL_REF = "parcel"

#: dimension -> what a person reads
DIMENSIONS = {
    "order": _l("Order"), "sku": _l("SKU"), "brand": _l("Brand"), "category": _l("Category"),
    "country": _l("Country"), "service": _l("Shipping service"), "day": _l("Day"),
    "week": _l("Week"), "month": _l("Month"),
}
#: the dimensions whose order-level amounts are spread over the lines
LINE_DIMENSIONS = ("sku", "brand", "category")
PERIOD_DIMENSIONS = ("day", "week", "month")
#: the components, in the order of :attr:`Figures.parts`
COMPONENTS = ("goods", "shipping_charged", "cogs", "shipping_cost", "packaging", "fee",
              "refunds", "replacements")
COMPONENT_LABELS = {
    "goods": _l("Goods"), "shipping_charged": _l("Shipping charged"),
    "revenue": _l("Revenue"), "cogs": _l("Cost of goods"), "shipping_cost": _l("Shipping cost"),
    "packaging": _l("Packaging"), "fee": _l("Payment fee"), "refunds": _l("Refunds"),
    "replacements": _l("Replacements"), "margin": _l("Margin"), "margin_pct": _l("Margin %"),
}
_N = len(COMPONENTS)
_EPOCH = date(1970, 1, 1).toordinal()
_CENT = Decimal("0.01")


_INT64_SAFE = 2 ** 62


def _raw(column):
    """A Money column as its stored integer (ten-thousandths)."""
    return type_coerce(column, BigInteger)


def _exact(*arrays):
    """Return the arrays as Python-int object arrays when their product could overflow int64."""
    bound = 1
    for a in arrays:
        bound *= max(1, int(np.max(np.abs(a))) if np.size(a) else 1)
    if bound * 4 < _INT64_SAFE:
        return arrays
    return tuple(np.asarray(a).astype(object) for a in arrays)


def _round_div(num, den):
    """``num / den`` rounded half up to whole units (neither negative; arrays or ints)."""
    return (2 * num + den) // (2 * den)


def _mul_round(a, b, c):
    """``a x b / c`` rounded half up, exact (object arithmetic where int64 could overflow)."""
    a, b, c = _exact(np.asarray(a), np.asarray(b), np.asarray(c))
    out = _round_div(a * b, c)
    return out.astype(np.int64) if out.dtype == object else out


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """One row of the report: a key and its components in base-currency cents."""

    key: str
    label: str = ""
    orders: int = 0
    units: int = 0
    parts: list[int] = field(default_factory=lambda: [0] * _N)
    extra: dict = field(default_factory=dict)

    def _dec(self, cents: int) -> Decimal:
        return Decimal(cents).scaleb(-2).quantize(_CENT)

    def __getattr__(self, name: str):
        """``goods``, ``cogs``... as Decimals of the base currency (2 places)."""
        if name in COMPONENTS:
            return self._dec(self.parts[COMPONENTS.index(name)])
        raise AttributeError(name)

    @property
    def revenue_cents(self) -> int:
        """Goods plus shipping charged, in cents."""
        return self.parts[0] + self.parts[1]

    @property
    def margin_cents(self) -> int:
        """Revenue less every cost, in cents."""
        return self.revenue_cents - sum(self.parts[2:])

    @property
    def revenue(self) -> Decimal:
        """Goods plus shipping charged."""
        return self._dec(self.revenue_cents)

    @property
    def costs(self) -> Decimal:
        """Every cost: goods, shipping, packaging, fee, refunds and replacements."""
        return self._dec(sum(self.parts[2:]))

    @property
    def margin(self) -> Decimal:
        """Revenue less every cost."""
        return self._dec(self.margin_cents)

    @property
    def margin_pct(self) -> Decimal | None:
        """Margin over revenue (a fraction; None without revenue)."""
        if not self.revenue_cents:
            return None
        return (Decimal(self.margin_cents) / Decimal(self.revenue_cents)).quantize(
            Decimal("0.0001"))


class Rows(Sequence):
    """The rows of one dimension, kept as arrays; a row becomes :class:`Figures` when read.

    200,000 orders stay arrays until a page (or the workbook) reads them.
    """

    def __init__(self, keys: list[str], labels: list[str], orders, units, parts,
                 extra: list[dict] | None = None, order=None) -> None:
        """Keep the columns; ``order`` is the index order rows are read in (default: given)."""
        self.keys, self.labels, self.extra = keys, labels, extra
        self.orders, self.units, self.parts = orders, units, parts
        self.index = np.arange(len(keys)) if order is None else np.asarray(order)

    def __len__(self) -> int:
        """How many rows."""
        return len(self.index)

    def _row(self, j: int) -> Figures:
        return Figures(self.keys[j], self.labels[j], int(self.orders[j]), int(self.units[j]),
                       [int(x) for x in self.parts[j]],
                       self.extra[j] if self.extra is not None else {})

    def __getitem__(self, item):
        """A row, or a list of rows for a slice."""
        if isinstance(item, slice):
            return [self._row(int(j)) for j in self.index[item]]
        return self._row(int(self.index[item]))

    def __iter__(self):
        """Every row, in order."""
        for j in self.index:
            yield self._row(int(j))

    def search(self, text: str) -> Rows:
        """Return the rows whose key or label contains ``text`` (any case)."""
        needle = text.casefold()
        keep = [j for j in self.index if needle in self.keys[j].casefold()
                or needle in (self.labels[j] or "").casefold()]
        return Rows(self.keys, self.labels, self.orders, self.units, self.parts, self.extra,
                    np.asarray(keep, dtype=np.int64))


def _rows_by_margin(keys, labels, orders, units, parts) -> Rows:
    """Rows sorted by margin, largest first, then key."""
    parts = np.asarray(parts, dtype=np.int64).reshape(-1, _N)
    margin = parts[:, 0] + parts[:, 1] - parts[:, 2:].sum(axis=1)
    order = sorted(range(len(keys)), key=lambda j: (-int(margin[j]), keys[j]))
    return Rows(keys, labels, orders, units, parts, order=order)


@dataclass
class MarginReport:
    """The margin of a period: per order, per dimension, the total and what was left out."""

    date_from: date
    date_to: date
    base_currency: str
    total: Figures
    orders: Sequence = ()
    by: dict[str, Sequence] = field(default_factory=dict)
    open_orders: int = 0
    not_converted: int = 0
    missing_rates: list[str] = field(default_factory=list)
    unpriced_methods: dict[str, int] = field(default_factory=dict)


# --------------------------------------------------------------------------- rates


class Rates:
    """Exchange rates to the base currency by day, as exact integer ratios (all loaded once)."""

    def __init__(self, base: str) -> None:
        """Load every stored rate (a few per currency and month at most)."""
        self.base = base
        self._days: dict[str, list[int]] = defaultdict(list)
        self._ratios: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for currency, valid_from, rate in db.session.execute(
                select(ExchangeRate.currency, ExchangeRate.valid_from, ExchangeRate.rate)
                .order_by(ExchangeRate.currency, ExchangeRate.valid_from)):
            self._days[currency].append(valid_from.toordinal() - _EPOCH)
            self._ratios[currency].append(Decimal(rate).as_integer_ratio())
        self.missing: set[str] = set()

    def ratio(self, currency: str | None, day: int) -> tuple[int, int] | None:
        """Return ``(numerator, denominator)`` of the rate on day number ``day`` (or None)."""
        if currency is None or currency == self.base:
            return (1, 1)
        days = self._days.get(currency)
        i = bisect_right(days, day) if days else 0
        return self._ratios[currency][i - 1] if i else None

    def arrays(self, currencies: list[str], days) -> tuple:
        """Return ``(numerators, denominators, found)`` arrays for each (currency, day).

        A currency without a rate on the day has ratio 0/1 and ``found`` False (and is kept in
        :attr:`missing`).
        """
        codes = {c: i for i, c in enumerate(sorted(set(currencies), key=str))}
        keys = np.fromiter((codes[c] for c in currencies), np.int64, len(currencies)) \
            * 10_000_000 + np.asarray(days, dtype=np.int64)
        unique, inverse = np.unique(keys, return_inverse=True)
        names = {i: c for c, i in codes.items()}
        nums, dens, found = [], [], []
        for key in unique.tolist():
            currency, day = names[key // 10_000_000], key % 10_000_000
            ratio = self.ratio(currency, day)
            if ratio is None:
                self.missing.add(currency)
            nums.append(ratio[0] if ratio else 0)
            dens.append(ratio[1] if ratio else 1)
            found.append(ratio is not None)
        return (np.asarray(nums, dtype=np.int64)[inverse],
                np.asarray(dens, dtype=np.int64)[inverse], np.asarray(found)[inverse])


# --------------------------------------------------------------------------- SQL


_O = CustomerOrder.__table__
_L = CustomerOrderLine.__table__
_P = Parcel.__table__
_PL = ParcelLine.__table__
_M = StockMove.__table__
_C = AfterSalesCase.__table__
_R = Refund.__table__


def _fetch(stmt) -> list[tuple]:
    """Run a select and return its rows as the driver's plain tuples.

    Every column read this way is an integer or text (money as its raw integer), so SQLAlchemy's
    row objects, which cost more than the query on 200,000 rows, are skipped.
    """
    result = db.session.execute(stmt)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _day_number(column):
    return epoch_seconds(column) // 86400


def _period_condition(start: datetime, end: datetime):
    replacements = select(_C.c.replacement_order_id).where(
        _C.c.replacement_order_id.is_not(None))
    return and_(_O.c.placed_at >= start, _O.c.placed_at < end,
                _O.c.state.in_([s.value for s in COUNTED_STATES]),
                _O.c.id.not_in(replacements))


def _orders(condition) -> list:
    """Rows ``(id, number, day number, currency, country, payment method, raw charge)``."""
    return _fetch(
        select(_O.c.id, _O.c.number, _day_number(_O.c.placed_at), _O.c.currency,
               _O.c.country, _O.c.payment_method, _raw(_O.c.shipping_charge))
        .where(condition).order_by(_O.c.id))


def _lines(condition) -> list:
    """Rows ``(line id, order id, sku id, quantity, raw value)``, by order and line."""
    return _fetch(
        select(_L.c.id, _L.c.order_id, _L.c.sku_id, _L.c.quantity,
               _L.c.quantity * _raw(_L.c.unit_price))
        .join(_O, _O.c.id == _L.c.order_id).where(condition)
        .order_by(_L.c.order_id, _L.c.id))


def _line_costs(condition) -> list:
    """Rows ``(order line id, raw cost of goods)``, one per parcel line of the line.

    For each parcel line, its quantity x the unit cost of the ``ship`` moves of that SKU in
    that parcel (one posting, so one average cost: the integer division is exact).
    """
    moves = and_(_M.c.ref_type == PARCEL_REF, _M.c.ref_id == _PL.c.parcel_id,
                 _M.c.sku_id == _PL.c.sku_id, _M.c.kind == MoveKind.ship.value)
    return _fetch(
        select(_PL.c.order_line_id,
               _PL.c.quantity * func.sum(_M.c.quantity * _raw(_M.c.unit_cost))
               // func.sum(_M.c.quantity))
        .select_from(_PL).join(_M, moves)
        .join(_L, _L.c.id == _PL.c.order_line_id).join(_O, _O.c.id == _L.c.order_id)
        .where(condition).group_by(_PL.c.id, _PL.c.order_line_id, _PL.c.quantity))


def _parcel_costs(condition) -> list:
    """Rows ``(order id, currency, raw cost, service id)`` of the order's parcels.

    The cost: the billed cost when a carrier bill set it, else the quote at labelling (not for
    a voided parcel); the service: the lowest of the parcels not voided.
    """
    billed = _P.c.billed_cost.is_not(None)
    live = _P.c.state != ParcelState.voided.value
    cost = case((billed, _raw(_P.c.billed_cost)), (live, _raw(_P.c.quoted_cost)), else_=None)
    currency = case((billed, _P.c.billed_currency), else_=_P.c.quoted_currency)
    return _fetch(
        select(_P.c.order_id, currency, func.sum(cost),
               func.min(case((live, _P.c.service_id), else_=None)))
        .join(_O, _O.c.id == _P.c.order_id).where(condition)
        .group_by(_P.c.order_id, currency))


def _packaging(condition) -> list:
    """Rows ``(order id, raw cost)`` of the box SKUs its parcels used up."""
    box_skus = sorted(set(db.session.scalars(select(Box.sku_id).where(Box.sku_id.is_not(None)))))
    if not box_skus:
        return []
    return _fetch(
        select(_P.c.order_id, func.sum(_M.c.quantity * _raw(_M.c.unit_cost)))
        .select_from(_M).join(_P, and_(_M.c.ref_type == PARCEL_REF, _P.c.id == _M.c.ref_id))
        .join(_O, _O.c.id == _P.c.order_id)
        .where(condition, _M.c.kind == MoveKind.ship.value, _M.c.sku_id.in_(box_skus))
        .group_by(_P.c.order_id))


def _refunds(condition) -> list:
    """Rows ``(order id, currency, raw approved refunds)``."""
    return _fetch(
        select(_C.c.order_id, _R.c.currency, func.sum(_raw(_R.c.amount)))
        .select_from(_R).join(_C, _C.c.id == _R.c.case_id).join(_O, _O.c.id == _C.c.order_id)
        .where(condition, _R.c.state == RefundState.approved.value)
        .group_by(_C.c.order_id, _R.c.currency))


def _replacements(condition) -> tuple[list, list]:
    """Costs of the replacement orders of the counted orders, by original order.

    ``([(original id, raw cost of goods and packaging, base)], [(original id, currency, raw
    shipping cost)])``.
    """
    pairs = dict(db.session.execute(
        select(_C.c.replacement_order_id, _C.c.order_id)
        .join(_O, _O.c.id == _C.c.order_id)
        .where(condition, _C.c.replacement_order_id.is_not(None))).all())
    base: list[tuple[int, int]] = []
    shipping: list[tuple[int, str, int]] = []
    ids = sorted(pairs)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        inside = _O.c.id.in_(chunk)
        order_of = {line_id: order_id for line_id, order_id, *_rest in _lines(inside)}
        base += [(pairs[order_of[line_id]], int(raw or 0))
                 for line_id, raw in _line_costs(inside)]
        base += [(pairs[order_id], int(raw or 0)) for order_id, raw in _packaging(inside)]
        shipping += [(pairs[order_id], cur, raw) for order_id, cur, raw, _s in
                     _parcel_costs(inside) if cur is not None and raw]
    return base, shipping


# --------------------------------------------------------------------------- the report


def _period_key(day: int, dimension: str) -> str:
    d = date.fromordinal(_EPOCH + day)
    if dimension == "week":
        return (d - timedelta(days=d.weekday())).isoformat()
    if dimension == "month":
        return d.strftime("%Y-%m")
    return d.isoformat()


def _columns(rows, count: int) -> list[list]:
    """The columns of ``rows`` (tuples of ``count`` values), as lists."""
    if not rows:
        return [[] for _ in range(count)]
    return [[r[i] for r in rows] for i in range(count)]


def _int_array(values) -> np.ndarray:
    """Integers (None as 0; a PostgreSQL sum comes back as a Decimal) as an int64 array."""
    try:
        return np.array(values, dtype=np.int64)
    except (TypeError, ValueError):
        return np.fromiter((int(v or 0) for v in values), dtype=np.int64, count=len(values))


class _Orders:
    """The counted orders as arrays, and the sums of per-order rows into them."""

    def __init__(self, rows, rates: Rates) -> None:
        ids, numbers, days, currencies, countries, methods, charges = _columns(rows, 7)
        self.ids = _int_array(ids)
        self.numbers, self.currencies = list(numbers), list(currencies)
        self.countries, self.methods = list(countries), list(methods)
        self.days = _int_array(days)
        self.charges = _int_array(charges)
        self.n = len(self.ids)
        self.rates = rates
        self.num, self.den, found = rates.arrays(self.currencies, self.days)
        self.bad = ~found if self.n else np.zeros(0, dtype=bool)

    def index(self, order_ids) -> np.ndarray:
        """The positions of ``order_ids`` (all among the orders)."""
        return np.searchsorted(self.ids, _int_array(order_ids))

    def total(self, rows) -> np.ndarray:
        """Sum ``(order id, raw)`` rows (base currency) to cents per order, per row rounded."""
        out = np.zeros(self.n, dtype=np.int64)
        if rows:
            ids, raws = _columns(rows, 2)
            np.add.at(out, self.index(ids), _round_div(_int_array(raws), 100))
        return out

    def converted(self, rows) -> np.ndarray:
        """Sum ``(order id, currency, raw)`` rows to base cents at each order's date's rate.

        Each row is converted and rounded on its own; an order with a row lacking a rate is
        marked not converted.
        """
        out = np.zeros(self.n, dtype=np.int64)
        if not rows:
            return out
        ids, currencies, raws = _columns(rows, 3)
        at = self.index(ids)
        num, den, found = self.rates.arrays(list(currencies), self.days[at])
        cents = _mul_round(_int_array(raws), num, den * 100)
        np.add.at(out, at[found], cents[found])
        self.bad[at[~found]] = True
        return out


def margin_report(date_from: date, date_to: date, *,
                  dimensions: tuple[str, ...] | None = None) -> MarginReport:
    """Return the margin of the orders placed ``date_from`` .. ``date_to`` (see the module).

    ``dimensions`` limits the per-dimension tables computed (default: all of
    :data:`DIMENSIONS`); the per-order list is ``order``. The total is always there.
    """
    wanted = set(DIMENSIONS if dimensions is None else dimensions)
    start = datetime.combine(date_from, time.min, UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, UTC)
    condition = _period_condition(start, end)
    base = settings.base_currency()
    rates = Rates(base)
    orders = _Orders(_orders(condition), rates)
    n = orders.n
    parts = np.zeros((n, _N), dtype=np.int64)

    # lines: goods and cost of goods
    l_id, l_order, l_sku, l_qty, l_value = (_int_array(c) for c in
                                            _columns(_lines(condition), 5))
    l_at = orders.index(l_order) if len(l_order) else np.zeros(0, dtype=np.int64)
    l_cogs = np.zeros(len(l_id), dtype=np.int64)
    cost_rows = _line_costs(condition)
    if cost_rows:
        by_id = np.argsort(l_id)
        cost_ids, raws = (_int_array(c) for c in _columns(cost_rows, 2))
        np.add.at(l_cogs, by_id[np.searchsorted(l_id, cost_ids, sorter=by_id)], raws)
    goods_raw = np.zeros(n, dtype=np.int64)
    qty_sum = np.zeros(n, dtype=np.int64)
    np.add.at(goods_raw, l_at, l_value)
    np.add.at(qty_sum, l_at, l_qty)
    l_cogs_cents = _round_div(l_cogs, 100)
    np.add.at(parts[:, 2], l_at, l_cogs_cents)
    parts[:, 0] = _mul_round(goods_raw, orders.num, orders.den * 100)
    parts[:, 1] = _mul_round(orders.charges, orders.num, orders.den * 100)

    # shipping cost, packaging, refunds, replacements
    parcels = _parcel_costs(condition)
    parts[:, 3] = orders.converted([r[:3] for r in parcels if r[1] is not None and r[2]])
    services = np.full(n, -1, dtype=np.int64)
    served = [(r[0], r[3]) for r in parcels if r[3] is not None]
    if served:
        ids, service_ids = _columns(served, 2)
        none = np.iinfo(np.int64).max
        first = np.full(n, none, dtype=np.int64)
        np.minimum.at(first, orders.index(ids), _int_array(service_ids))
        services = np.where(first == none, -1, first)
    parts[:, 4] = orders.total(_packaging(condition))
    parts[:, 6] = orders.converted(_refunds(condition))
    repl_base, repl_shipping = _replacements(condition)
    parts[:, 7] = orders.total(repl_base) + orders.converted(repl_shipping)

    # payment fee: (goods + shipping) x pct / 100 x rate + fixed, in cents, rounded once
    fees = payment_fees()
    unpriced: dict[str, int] = defaultdict(int)
    if n:
        pn, pd, fn, fd = (np.zeros(n, dtype=np.int64) for _ in range(4))
        pd[:], fd[:] = 1, 1
        priced = np.zeros(n, dtype=bool)
        ratios = {m: (Decimal(pct).as_integer_ratio(), Decimal(fixed).as_integer_ratio())
                  for m, (pct, fixed) in fees.items()}
        for i, method in enumerate(orders.methods):
            if method in ratios:
                (pn[i], pd[i]), (fn[i], fd[i]) = ratios[method]
                priced[i] = True
            elif method and not orders.bad[i]:
                unpriced[method] += 1
        charged = goods_raw + orders.charges
        a, b, c, d, e, f, g = _exact(charged, pn, orders.num, fd, fn, pd, orders.den)
        numerator = a * b * c * d + 100 * e * 10_000 * f * g
        denominator = 10_000 * f * g * d
        fee = _round_div(numerator, denominator)
        parts[:, 5] = np.where(priced, fee, 0).astype(np.int64)

    good = ~orders.bad
    report = MarginReport(date_from, date_to, base, Figures("total"))
    report.not_converted = int(orders.bad.sum())
    report.missing_rates = sorted(rates.missing)
    report.unpriced_methods = dict(sorted(unpriced.items()))
    total = report.total
    total.parts = [int(x) for x in parts[good].sum(axis=0)] if n else [0] * _N
    total.orders = int(good.sum())
    total.units = int(qty_sum[good].sum())

    if "order" in wanted:
        keep = np.nonzero(good)[0]
        order = keep[np.lexsort((orders.ids[keep], -orders.days[keep]))] if len(keep) else keep
        extra = [{"id": int(orders.ids[j]), "day": int(orders.days[j]),
                  "currency": orders.currencies[j]} for j in range(n)]
        report.orders = Rows(orders.numbers, orders.countries, np.ones(n, dtype=np.int64),
                             qty_sum, parts, extra, order)
    by_order_key(report, wanted, orders, parts, qty_sum, good, services)
    if wanted & set(LINE_DIMENSIONS) and len(l_at):
        by_line(report, wanted, parts, goods_raw, qty_sum, good, l_at, l_sku, l_qty, l_value,
                l_cogs_cents)
    report.open_orders = int(db.session.scalar(
        select(func.count()).select_from(_O)
        .where(_O.c.placed_at >= start, _O.c.placed_at < end,
               _O.c.state.in_([s.value for s in OPEN_STATES]))) or 0)
    return report


def _group(keys, values2d, counts: list) -> tuple[list, np.ndarray, list[np.ndarray]]:
    """Sum the rows of ``values2d`` (and each array of ``counts``) by ``keys``."""
    unique, inverse = np.unique(np.asarray(keys), return_inverse=True)
    sums = np.zeros((len(unique), values2d.shape[1]), dtype=np.int64)
    np.add.at(sums, inverse, values2d)
    out = []
    for values in counts:
        acc = np.zeros(len(unique), dtype=np.int64)
        np.add.at(acc, inverse, values)
        out.append(acc)
    return unique.tolist(), sums, out


def by_order_key(report: MarginReport, wanted, orders: _Orders, parts, qty_sum, good,
                 services) -> None:
    """The dimensions read off the order: country, service and the periods."""
    keep = np.nonzero(good)[0]
    ones = np.ones(len(keep), dtype=np.int64)
    if "country" in wanted:
        keys, sums, (count, units) = _group(
            np.asarray([orders.countries[j] for j in keep], dtype=str), parts[keep],
            [ones, qty_sum[keep]])
        report.by["country"] = _rows_by_margin(keys, list(keys), count, units, sums)
    if "service" in wanted:
        ids, sums, (count, units) = _group(services[keep], parts[keep], [ones, qty_sum[keep]])
        names = {i: (code, name) for i, code, name in db.session.execute(
            select(ShippingService.id, ShippingService.code, ShippingService.name))}
        keys = [names.get(i, ("—", ""))[0] for i in ids]
        labels = [names.get(i, ("—", ""))[1] for i in ids]
        report.by["service"] = _rows_by_margin(keys, labels, count, units, sums)
    periods = [d for d in PERIOD_DIMENSIONS if d in wanted]
    if periods:
        days, day_sums, (day_count, day_units) = _group(orders.days[keep], parts[keep],
                                                        [ones, qty_sum[keep]])
        for dimension in periods:
            keys = [_period_key(int(d), dimension) for d in days]
            names, sums, (count, units) = _group(np.asarray(keys, dtype=str), day_sums,
                                                 [day_count, day_units])
            report.by[dimension] = Rows(names, [""] * len(names), count, units, sums)


def by_line(report: MarginReport, wanted, parts, goods_raw, qty_sum, good, l_at, l_sku, l_qty,
            l_value, l_cogs_cents) -> None:
    """SKU, brand and category: the order-level amounts spread over the lines (see the module).

    Each amount is split by line value (by quantity when the goods are free), rounded down,
    and the order's last line takes what is left, so the lines add up to the order.
    """
    keep = good[l_at]
    l_at, l_sku, l_qty, l_value, l_cogs_cents = (a[keep] for a in (l_at, l_sku, l_qty, l_value,
                                                                    l_cogs_cents))
    if not len(l_at):
        return
    free = goods_raw[l_at] == 0
    weight = np.where(free, l_qty, l_value)
    whole = np.where(goods_raw == 0, qty_sum, goods_raw)[l_at]
    whole = np.maximum(whole, 1)
    last = np.nonzero(np.r_[l_at[1:] != l_at[:-1], True])[0]
    line_parts = np.zeros((len(l_at), _N), dtype=np.int64)
    for c in range(_N):
        if c == 2:
            line_parts[:, c] = l_cogs_cents
            continue
        amount, w, total = _exact(parts[l_at, c], weight, whole)
        share = (amount * w // total).astype(np.int64)
        given = np.zeros(len(parts), dtype=np.int64)
        np.add.at(given, l_at, share)
        share[last] += parts[l_at[last], c] - given[l_at[last]]
        line_parts[:, c] = share
    first = np.unique(l_at * (int(l_sku.max()) + 1) + l_sku, return_index=True)[1]
    is_first = np.zeros(len(l_at), dtype=np.int64)
    is_first[first] = 1
    sku_ids, sums, (count, units) = _group(l_sku, line_parts, [is_first, l_qty])
    info = {}
    for chunk in (sku_ids[i:i + 5000] for i in range(0, len(sku_ids), 5000)):
        sku, product = Sku.__table__, Product.__table__
        brand, category = Brand.__table__, Category.__table__
        info.update({r[0]: r[1:] for r in _fetch(
            select(sku.c.id, sku.c.code, product.c.name, brand.c.code, brand.c.name,
                   category.c.code, category.c.full_name)
            .join(product, product.c.id == sku.c.product_id)
            .outerjoin(brand, brand.c.id == product.c.brand_id)
            .outerjoin(category, category.c.id == product.c.category_id)
            .where(sku.c.id.in_(chunk)))})
    blank = (None,) * 6
    rows = [info.get(i, blank) for i in sku_ids]
    if "sku" in wanted:
        report.by["sku"] = _rows_by_margin([r[0] or str(i) for r, i in zip(rows, sku_ids,
                                                                             strict=True)],
                                           [r[1] or "" for r in rows], count, units, sums)
    for dimension, code_at in (("brand", 2), ("category", 4)):
        if dimension not in wanted:
            continue
        codes = np.asarray([r[code_at] or "—" for r in rows], dtype=str)
        keys, group_sums, (group_count, group_units) = _group(codes, sums, [count, units])
        names = {r[code_at] or "—": r[code_at + 1] or "" for r in rows}
        report.by[dimension] = _rows_by_margin(keys, [names[k] for k in keys], group_count,
                                               group_units, group_sums)


def margin_totals(date_from: date, date_to: date) -> MarginReport:
    """Return only the total margin of a period (the dashboard tile)."""
    return margin_report(date_from, date_to, dimensions=())


__all__ = ["COMPONENTS", "COMPONENT_LABELS", "DIMENSIONS", "Figures", "MarginReport", "Rows",
           "margin_report", "margin_totals"]
