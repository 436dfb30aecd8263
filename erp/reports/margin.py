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
- **Shipping service**: the service of the order's first parcel.

Everything is summed in SQL per order and per line (a handful of GROUP BY statements over the
order's lines, parcels, stock moves, refunds and replacements); the conversion and the
per-dimension totals are integer arithmetic in cents in Python, one pass over the orders and
one over their lines (the ``margin_report`` benchmark: 200,000 orders).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

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


def _raw(column):
    """A Money column as its stored integer (ten-thousandths)."""
    return type_coerce(column, BigInteger)


def _cents(num: int, den: int = 1) -> int:
    """Round ``num / den`` (in cents, not negative) half up to whole cents."""
    return (2 * num + den) // (2 * den)


def _raw_to_cents(raw: int) -> int:
    """Ten-thousandths to cents, half up (amounts are never negative here)."""
    return (raw + 50) // 100


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

    def add(self, parts, orders: int = 0, units: int = 0) -> None:
        """Add another row's (or an order's) components."""
        mine = self.parts
        for i in range(_N):
            mine[i] += parts[i]
        self.orders += orders
        self.units += units

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


@dataclass
class MarginReport:
    """The margin of a period: per order, per dimension, the total and what was left out."""

    date_from: date
    date_to: date
    base_currency: str
    total: Figures
    orders: list[Figures] = field(default_factory=list)
    by: dict[str, list[Figures]] = field(default_factory=dict)
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
        self._cache: dict[tuple[str, int], tuple[int, int] | None] = {}

    def ratio(self, currency: str | None, day: int) -> tuple[int, int] | None:
        """Return ``(numerator, denominator)`` of the rate on day number ``day`` (or None)."""
        if currency is None or currency == self.base:
            return (1, 1)
        key = (currency, day)
        if key not in self._cache:
            days = self._days.get(currency)
            i = bisect_right(days, day) if days else 0
            self._cache[key] = self._ratios[currency][i - 1] if i else None
        return self._cache[key]


def _convert(raw: int, ratio: tuple[int, int]) -> int:
    """Ten-thousandths of a currency at a rate ratio, to base cents (half up)."""
    num, den = ratio
    return _cents(raw * num, den * 100)


# --------------------------------------------------------------------------- SQL


_O = CustomerOrder.__table__
_L = CustomerOrderLine.__table__
_P = Parcel.__table__
_PL = ParcelLine.__table__
_M = StockMove.__table__
_C = AfterSalesCase.__table__
_R = Refund.__table__


def _day_number(column):
    return epoch_seconds(column) // 86400


def _period_condition(start: datetime, end: datetime):
    replacements = select(_C.c.replacement_order_id).where(
        _C.c.replacement_order_id.is_not(None))
    return and_(_O.c.placed_at >= start, _O.c.placed_at < end,
                _O.c.state.in_([s.value for s in COUNTED_STATES]),
                _O.c.id.not_in(replacements))


def _orders(condition) -> list:
    return db.session.execute(
        select(_O.c.id, _O.c.number, _day_number(_O.c.placed_at).label("day"), _O.c.currency,
               _O.c.country, _O.c.payment_method, _raw(_O.c.shipping_charge).label("charge"))
        .where(condition).order_by(_O.c.id)).all()


def _lines(condition) -> list:
    return db.session.execute(
        select(_L.c.id, _L.c.order_id, _L.c.sku_id, _L.c.quantity,
               (_L.c.quantity * _raw(_L.c.unit_price)).label("value"))
        .join(_O, _O.c.id == _L.c.order_id).where(condition).order_by(_L.c.order_id, _L.c.id)
    ).all()


def _line_costs(condition) -> dict[int, int]:
    """``{order line id: cost of goods in ten-thousandths}`` from its parcels' ship moves."""
    moves = and_(_M.c.ref_type == PARCEL_REF, _M.c.ref_id == _PL.c.parcel_id,
                 _M.c.sku_id == _PL.c.sku_id, _M.c.kind == MoveKind.ship.value)
    out: dict[int, int] = defaultdict(int)
    for line_id, quantity, cost, moved in db.session.execute(
            select(_PL.c.order_line_id, _PL.c.quantity,
                   func.sum(_M.c.quantity * _raw(_M.c.unit_cost)), func.sum(_M.c.quantity))
            .select_from(_PL).join(_M, moves)
            .join(_L, _L.c.id == _PL.c.order_line_id).join(_O, _O.c.id == _L.c.order_id)
            .where(condition).group_by(_PL.c.id, _PL.c.order_line_id, _PL.c.quantity)):
        if moved:
            # the moves of one SKU in one parcel carry one average cost: the division is exact
            out[line_id] += int(cost or 0) * int(quantity) // int(moved)
    return out


def _parcel_costs(condition) -> tuple[dict[int, list[tuple[str, int]]], dict[int, int]]:
    """``({order id: [(currency, raw cost)]}, {order id: service id of its first parcel})``."""
    billed = _P.c.billed_cost.is_not(None)
    cost = case((billed, _raw(_P.c.billed_cost)),
                (_P.c.state != ParcelState.voided.value, _raw(_P.c.quoted_cost)), else_=None)
    currency = case((billed, _P.c.billed_currency), else_=_P.c.quoted_currency)
    costs: dict[int, list[tuple[str, int]]] = defaultdict(list)
    services: dict[int, tuple[int, int]] = {}
    for order_id, cur, amount, first, service_id in db.session.execute(
            select(_P.c.order_id, currency.label("currency"), func.sum(cost),
                   func.min(_P.c.sequence), func.min(_P.c.service_id))
            .join(_O, _O.c.id == _P.c.order_id)
            .where(condition, _P.c.state != ParcelState.voided.value)
            .group_by(_P.c.order_id, currency)):
        if amount and cur:
            costs[order_id].append((cur, int(amount)))
        if order_id not in services or first < services[order_id][0]:
            services[order_id] = (first, service_id)
    # voided parcels the carrier billed anyway (their quote never counts)
    for order_id, cur, amount in db.session.execute(
            select(_P.c.order_id, _P.c.billed_currency, func.sum(_raw(_P.c.billed_cost)))
            .join(_O, _O.c.id == _P.c.order_id)
            .where(condition, _P.c.state == ParcelState.voided.value, billed)
            .group_by(_P.c.order_id, _P.c.billed_currency)):
        if amount and cur:
            costs[order_id].append((cur, int(amount)))
    return costs, {order_id: service for order_id, (_, service) in services.items()}


def _packaging(condition) -> dict[int, int]:
    """``{order id: raw cost of the box SKUs its parcels used up}``."""
    box_skus = sorted(set(db.session.scalars(select(Box.sku_id).where(Box.sku_id.is_not(None)))))
    if not box_skus:
        return {}
    return {order_id: int(raw or 0) for order_id, raw in db.session.execute(
        select(_P.c.order_id, func.sum(_M.c.quantity * _raw(_M.c.unit_cost)))
        .select_from(_M).join(_P, and_(_M.c.ref_type == PARCEL_REF, _P.c.id == _M.c.ref_id))
        .join(_O, _O.c.id == _P.c.order_id)
        .where(condition, _M.c.kind == MoveKind.ship.value, _M.c.sku_id.in_(box_skus))
        .group_by(_P.c.order_id))}


def _refunds(condition) -> dict[int, list[tuple[str, int]]]:
    """``{order id: [(currency, raw approved refunds)]}``."""
    out: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for order_id, currency, raw in db.session.execute(
            select(_C.c.order_id, _R.c.currency, func.sum(_raw(_R.c.amount)))
            .select_from(_R).join(_C, _C.c.id == _R.c.case_id).join(_O, _O.c.id == _C.c.order_id)
            .where(condition, _R.c.state == RefundState.approved.value)
            .group_by(_C.c.order_id, _R.c.currency)):
        out[order_id].append((currency, int(raw or 0)))
    return out


def _replacements(condition) -> tuple[dict[int, int], dict[int, list[tuple[str, int]]]]:
    """Costs of the replacement orders of the counted orders, by original order.

    ``({original id: raw cost of goods + packaging (base)}, {original id: [(currency, raw
    shipping cost)]})``.
    """
    pairs = dict(db.session.execute(
        select(_C.c.replacement_order_id, _C.c.order_id)
        .join(_O, _O.c.id == _C.c.order_id)
        .where(condition, _C.c.replacement_order_id.is_not(None))).all())
    if not pairs:
        return {}, {}
    ids = sorted(pairs)
    base: dict[int, int] = defaultdict(int)
    shipping: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        inside = _O.c.id.in_(chunk)
        order_of_line = dict(db.session.execute(
            select(_L.c.id, _L.c.order_id).where(_L.c.order_id.in_(chunk))).all())
        for line_id, raw in _line_costs(inside).items():
            base[pairs[order_of_line[line_id]]] += raw
        for order_id, raw in _packaging(inside).items():
            base[pairs[order_id]] += raw
        for order_id, costs in _parcel_costs(inside)[0].items():
            shipping[pairs[order_id]].extend(costs)
    return base, shipping


# --------------------------------------------------------------------------- the report


def _spread(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` cents over ``weights``, proportionally, the last taking the rest."""
    whole = sum(weights)
    if len(weights) == 1 or not total or not whole:
        return [0] * (len(weights) - 1) + [total]
    out, given = [], 0
    for w in weights[:-1]:
        share = total * w // whole
        out.append(share)
        given += share
    out.append(total - given)
    return out


def _period_key(day: int, dimension: str) -> str:
    d = date.fromordinal(_EPOCH + day)
    if dimension == "week":
        return (d - timedelta(days=d.weekday())).isoformat()
    if dimension == "month":
        return d.strftime("%Y-%m")
    return d.isoformat()


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
    fees = payment_fees()
    fee_ratios = {m: (Decimal(pct).as_integer_ratio(), Decimal(fixed).as_integer_ratio())
                  for m, (pct, fixed) in fees.items()}

    orders = _orders(condition)
    lines_of: dict[int, list] = defaultdict(list)
    for row in _lines(condition):
        lines_of[row.order_id].append(row)
    line_costs = _line_costs(condition)
    parcel_costs, services = _parcel_costs(condition)
    packaging = _packaging(condition)
    refunds = _refunds(condition)
    repl_base, repl_shipping = _replacements(condition)

    report = MarginReport(date_from, date_to, base, Figures("total"))
    want_lines = bool(wanted & set(LINE_DIMENSIONS))
    by_sku: dict[int, Figures] = {}
    by_day: dict[int, Figures] = {}
    by_country: dict[str, Figures] = {}
    by_service: dict[int | None, Figures] = {}
    missing: set[str] = set()
    unpriced: dict[str, int] = defaultdict(int)
    total = report.total

    def converted(amounts, day) -> int | None:
        cents = 0
        for currency, raw in amounts:
            ratio = rates.ratio(currency, day)
            if ratio is None:
                missing.add(currency)
                return None
            cents += _convert(raw, ratio)
        return cents

    for o in orders:
        oid, day = o.id, int(o.day)
        ratio = rates.ratio(o.currency, day)
        shipping = converted(parcel_costs.get(oid, ()), day)
        refunded = converted(refunds.get(oid, ()), day)
        replaced = converted(repl_shipping.get(oid, ()), day)
        if ratio is None or shipping is None or refunded is None or replaced is None:
            if ratio is None:
                missing.add(o.currency)
            report.not_converted += 1
            continue
        lines = lines_of.get(oid, [])
        goods_raw = sum(int(line.value) for line in lines)
        charge_raw = int(o.charge or 0)
        num, den = ratio
        goods = _cents(goods_raw * num, den * 100)
        charged = _cents(charge_raw * num, den * 100)
        line_cogs = [_raw_to_cents(line_costs.get(line.id, 0)) for line in lines]
        cogs = sum(line_cogs)
        pack = _raw_to_cents(packaging.get(oid, 0))
        fee = 0
        method = o.payment_method
        if method in fee_ratios:
            (pn, pd), (fn, fd) = fee_ratios[method]
            # (goods + shipping) x pct / 100 x rate + fixed, in cents, rounded once
            d = 10_000 * pd * den * fd
            fee = _cents((goods_raw + charge_raw) * pn * num * fd + 100 * fn * 10_000 * pd * den,
                         d)
        elif method:
            unpriced[method] += 1
        replaced += _raw_to_cents(repl_base.get(oid, 0))
        parts = [goods, charged, cogs, shipping, pack, fee, refunded, replaced]
        units = sum(int(line.quantity) for line in lines)
        total.add(parts, 1, units)
        if "order" in wanted:
            report.orders.append(Figures(o.number, o.country, 1, units, parts,
                                         {"id": oid, "day": day, "currency": o.currency}))
        for index, key in ((by_day, day), (by_country, o.country),
                           (by_service, services.get(oid))):
            row = index.get(key)
            if row is None:
                row = index[key] = Figures(str(key))
            row.add(parts, 1, units)
        if want_lines and lines:
            weights = [int(line.value) for line in lines] if goods_raw else \
                [int(line.quantity) for line in lines]
            spread = [line_cogs if i == 2 else _spread(parts[i], weights) for i in range(_N)]
            seen: set[int] = set()
            for j, line in enumerate(lines):
                row = by_sku.get(line.sku_id)
                if row is None:
                    row = by_sku[line.sku_id] = Figures(str(line.sku_id))
                first = line.sku_id not in seen
                seen.add(line.sku_id)
                row.add([spread[i][j] for i in range(_N)], int(first), int(line.quantity))

    report.open_orders = int(db.session.scalar(
        select(func.count()).select_from(_O)
        .where(_O.c.placed_at >= start, _O.c.placed_at < end,
               _O.c.state.in_([s.value for s in OPEN_STATES]))) or 0)
    report.missing_rates = sorted(missing)
    report.unpriced_methods = dict(sorted(unpriced.items()))
    _label(report, wanted, by_sku, by_day, by_country, by_service)
    return report


def _sorted(rows) -> list[Figures]:
    return sorted(rows, key=lambda r: (-r.margin_cents, r.key))


def _label(report: MarginReport, wanted, by_sku, by_day, by_country, by_service) -> None:
    """Name the keys, roll SKUs up to brands and categories and days up to weeks and months."""
    if report.orders:
        report.orders.sort(key=lambda r: (-r.extra["day"], r.key))
    if wanted & set(LINE_DIMENSIONS) and by_sku:
        names = {}
        for chunk in (sorted(by_sku)[i:i + 5000] for i in range(0, len(by_sku), 5000)):
            names.update({r.id: r for r in db.session.execute(
                select(Sku.id, Sku.code, Product.name, Brand.code.label("brand_code"),
                       Brand.name.label("brand_name"), Category.code.label("category_code"),
                       Category.full_name.label("category_name"))
                .join(Product, Product.id == Sku.product_id)
                .outerjoin(Brand, Brand.id == Product.brand_id)
                .outerjoin(Category, Category.id == Product.category_id)
                .where(Sku.id.in_(chunk)))})
        brands: dict[str, Figures] = {}
        categories: dict[str, Figures] = {}
        for sku_id, row in by_sku.items():
            info = names.get(sku_id)
            row.key, row.label = (info.code, info.name) if info else (row.key, "")
            for index, code, name in ((brands, info.brand_code if info else None,
                                       info.brand_name if info else None),
                                      (categories, info.category_code if info else None,
                                       info.category_name if info else None)):
                key = code or "—"
                group = index.get(key)
                if group is None:
                    group = index[key] = Figures(key, name or "")
                group.add(row.parts, row.orders, row.units)
        report.by["sku"] = _sorted(by_sku.values())
        report.by["brand"] = _sorted(brands.values())
        report.by["category"] = _sorted(categories.values())
    if "country" in wanted:
        report.by["country"] = _sorted(by_country.values())
    if "service" in wanted:
        names = dict(db.session.execute(select(ShippingService.id, ShippingService.code)).all())
        for service_id, row in by_service.items():
            row.key = names.get(service_id, "—") if service_id is not None else "—"
        report.by["service"] = _sorted(by_service.values())
    for dimension in PERIOD_DIMENSIONS:
        if dimension not in wanted:
            continue
        periods: dict[str, Figures] = {}
        for day, row in by_day.items():
            key = _period_key(day, dimension)
            group = periods.get(key)
            if group is None:
                group = periods[key] = Figures(key)
            group.add(row.parts, row.orders, row.units)
        report.by[dimension] = [periods[k] for k in sorted(periods)]


def margin_totals(date_from: date, date_to: date) -> MarginReport:
    """Return only the total margin of a period (the dashboard tile)."""
    return margin_report(date_from, date_to, dimensions=())


__all__ = ["COMPONENTS", "COMPONENT_LABELS", "DIMENSIONS", "Figures", "MarginReport",
           "margin_report", "margin_totals"]
