"""Routing: the shipping rules choose each order's service, at allocation and again at packing.

The active :class:`~erp.shipping.routing_models.RuleVersion` is read once into a
:class:`RuleSet` (its rules, the services they name with their zones, rates, goods limits and
warehouses), then every order is decided in memory:

1. rules in order; the first whose conditions all hold *and* which allows a service able to
   carry the parcel wins (a matching rule whose services all refuse is noted and passed over);
2. each allowed service is checked: active, serves the country, ships from the order's warehouse
   (a service with no warehouses ships from all; an order without a warehouse is not refused on
   it), carries the goods (:func:`erp.shipping.services.goods.goods_refusal`), takes the
   chargeable weight (and at packing the box's size), has the phone it needs, and has a rate;
3. among those left the cheapest by the rate tables (:func:`erp.shipping.services.carriers.quote`
   reads the same bands), compared in the base currency; the others are "dearer".

Every other service considered is kept in the decision's explanation with its reason. With no
active version nothing is decided and orders keep the storefront's service. When rules match but
no service can carry the parcel, allocation keeps the order's service and says so in the
decision; packing refuses the parcel.

:func:`route_orders` writes the decisions with one INSERT and the service changes with one
UPDATE per service (:func:`erp.orders.services.service_choice.set_shipping_services`): the
``routing`` benchmark routes 10,000 orders in well under a second.
"""

from __future__ import annotations

import functools
import json
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, String, bindparam, insert, select, type_coerce

from erp.brands.models import Brand
from erp.catalog.models import Product, Sku
from erp.catalog.transport import transport_of
from erp.core import settings
from erp.core.errors import DomainError
from erp.core.i18n import _, format_money, format_number
from erp.core.models import utcnow
from erp.core.types import Money, UtcDateTime
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.orders.services.service_choice import set_shipping_services
from erp.shipping.errors import ShippingError
from erp.shipping.models import (
    Box,
    Carrier,
    GoodsAttribute,
    ServiceGoodsLimit,
    ServiceRate,
    ServiceZone,
    ShippingService,
    ShippingServiceWarehouse,
    SkuPacking,
)
from erp.shipping.routing_models import (
    RoutingDecision,
    RoutingStage,
    Rule,
    RuleService,
    RuleVersion,
    RuleVersionState,
)
from erp.shipping.services.goods import goods_refusal

CHUNK = 900
#: the decimal places ``Money`` stores (its integers are ten-thousandths)
MONEY_SCALE = Money().scale
#: ids per IN list when reading many orders (both databases take far more parameters)
BIG_CHUNK = 10_000
GOODS_ORDER = [a.value for a in GoodsAttribute]

#: the outcomes a considered service may have, in the order the order page lists them
OUTCOMES = ("chosen", "dearer", "inactive", "not_served", "warehouse", "goods", "too_heavy",
            "too_big", "phone", "no_rate")


def split_list(text: str | None, *, upper: bool = True) -> list[str]:
    """Return the items of a comma-separated list (stripped, empty ones dropped)."""
    items = [part.strip() for part in str(text or "").replace(";", ",").replace("\n", ",")
             .split(",")]
    return [item.upper() if upper else item for item in items if item]


def postcode_key(value: str | None) -> str:
    """Return a postcode as prefixes are compared: upper case, without spaces or dashes."""
    return (value or "").replace(" ", "").replace("-", "").upper()


# --------------------------------------------------------------------------- what is routed


@dataclass(slots=True)
class Shipment:
    """An order (or one parcel of it) as routing sees it."""

    order_id: int
    number: str
    country: str
    region: str
    postcode: str
    currency: str
    service_class: str
    warehouse_id: int | None
    current: str | None       #: the order's service code now
    has_phone: bool
    weight_g: int
    value: Decimal            #: the goods' value in ``currency``
    counts: Mapping[str, int]  #: goods attributes: cells or units of each
    sku_codes: frozenset
    brand_codes: frozenset
    dims: tuple[int, int, int] | None = None


@dataclass(slots=True)
class _Service:
    id: int
    code: str
    name: str
    active: bool
    max_weight_g: int
    max_longest_mm: int
    max_sum_mm: int
    divisor: int
    requires_phone: bool
    warehouses: frozenset
    zones: dict[str, str]
    bands: dict[str, tuple[list[int], list[tuple[Decimal, str]]]]
    limits: dict[str, int]


@dataclass(slots=True)
class _Rule:
    id: int
    name: str
    countries: frozenset
    regions: frozenset
    prefixes: tuple
    min_weight_g: int | None
    max_weight_g: int | None
    min_value: Decimal | None
    max_value: Decimal | None
    value_currency: str | None
    required: frozenset
    excluded: frozenset
    service_class: str | None
    skus: frozenset
    brands: frozenset
    service_ids: list[int]


@dataclass(slots=True)
class Choice:
    """What the rules chose for one shipment."""

    shipment: Shipment
    version_id: int | None
    rule_id: int | None = None
    rule_name: str | None = None
    service_id: int | None = None
    service_code: str | None = None
    service_name: str | None = None
    cost: Decimal | None = None
    currency: str | None = None
    cost_base: Decimal | None = None
    matched: bool = False
    rules: list[dict] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """Return whether the order's service changes."""
        return self.service_code is not None and self.service_code != self.shipment.current

    def explanation(self) -> dict:
        """Return the JSON kept on the decision."""
        goods = {k: v for k, v in self.shipment.counts.items() if v}
        return {"rules": self.rules, "matched": self.matched, "goods": goods,
                "country": self.shipment.country, "warehouse_id": self.shipment.warehouse_id,
                "kept": self.service_id is None}

    def refusal(self) -> str:
        """Return why no service can carry the shipment (for packing's refusal)."""
        reasons = [describe_outcome(entry, self.explanation())
                   for rule in self.rules for entry in rule["services"]]
        return _("No service of shipping rule %(rule)s can carry order %(order)s: %(reasons)s",
                 rule=self.rules[0]["name"] if self.rules else "-", order=self.shipment.number,
                 reasons="; ".join(reasons) or "-")


class RuleSet:
    """A rule version read once, with everything its services need, to decide in memory."""

    def __init__(self, version: RuleVersion, *, on: date | None = None):
        self.version_id = version.id
        self.version_code = version.code
        self.on = on or utcnow().date()
        self.base = settings.base_currency()
        self._rates: dict[str, Decimal | None] = {self.base: Decimal(1)}
        rules = db.session.execute(select(Rule).where(Rule.version_id == version.id)
                                   .order_by(Rule.position, Rule.id)).scalars().all()
        links: dict[int, list[int]] = defaultdict(list)
        if rules:
            for row in db.session.execute(
                    select(RuleService.rule_id, RuleService.service_id)
                    .where(RuleService.rule_id.in_([r.id for r in rules]))
                    .order_by(RuleService.rule_id, RuleService.position, RuleService.id)):
                links[row.rule_id].append(row.service_id)
        self.rules = [_Rule(
            r.id, r.name, frozenset(split_list(r.countries)),
            frozenset(s.lower() for s in split_list(r.regions, upper=False)),
            tuple(postcode_key(p) for p in split_list(r.postcode_prefixes)),
            r.min_weight_g, r.max_weight_g, r.min_value, r.max_value, r.value_currency,
            frozenset(split_list(r.goods_required, upper=False)),
            frozenset(split_list(r.goods_excluded, upper=False)),
            r.service_class.value if r.service_class else None,
            frozenset(split_list(r.sku_codes)), frozenset(split_list(r.brand_codes)),
            links.get(r.id, [])) for r in rules]
        self.services = load_services({sid for r in self.rules for sid in r.service_ids})
        self._compiled: dict[int, tuple] = {}
        #: whether a rule names SKUs or brands (else shipments skip collecting their codes)
        self.codes_needed = any(r.skus or r.brands for r in self.rules)

    # ..................................................................... money

    def rate(self, currency: str) -> Decimal | None:
        """Return base units per unit of ``currency`` on the day (None without a rate)."""
        if currency not in self._rates:
            from erp.core.money import rate_on
            try:
                self._rates[currency] = rate_on(currency, self.on, base=self.base)
            except DomainError:
                self._rates[currency] = None
        return self._rates[currency]

    def in_base(self, amount: Decimal, currency: str) -> Decimal | None:
        """Return ``amount`` in the base currency, or None without an exchange rate."""
        rate = self.rate(currency)
        return None if rate is None else amount * rate

    def _value_in(self, shipment: Shipment, currency: str) -> Decimal | None:
        if currency == shipment.currency:
            return shipment.value
        base = self.in_base(shipment.value, shipment.currency)
        rate = self.rate(currency)
        return None if base is None or not rate else base / rate

    # ..................................................................... deciding

    def matches(self, rule: _Rule, s: Shipment) -> bool:
        """Return whether every condition the rule sets holds for the shipment."""
        return all(check(s) for check in self._checks(rule))

    def _checks(self, rule: _Rule) -> tuple:
        """Return the rule's conditions as predicates of a shipment (only those it sets)."""
        if rule.id in self._compiled:
            return self._compiled[rule.id]
        checks = []
        if rule.countries:
            checks.append(lambda s, v=rule.countries: s.country in v)
        if rule.service_class:
            checks.append(lambda s, v=rule.service_class: s.service_class == v)
        if rule.min_weight_g is not None:
            checks.append(lambda s, v=rule.min_weight_g: s.weight_g >= v)
        if rule.max_weight_g is not None:
            checks.append(lambda s, v=rule.max_weight_g: s.weight_g <= v)
        if rule.regions:
            checks.append(lambda s, v=rule.regions: s.region.lower() in v)
        if rule.prefixes:
            checks.append(lambda s, v=rule.prefixes: s.postcode.startswith(v))
        if rule.required:
            checks.append(lambda s, v=rule.required: any(s.counts.get(a) for a in v))
        if rule.excluded:
            checks.append(lambda s, v=rule.excluded: not any(s.counts.get(a) for a in v))
        if rule.skus:
            checks.append(lambda s, v=rule.skus: not v.isdisjoint(s.sku_codes))
        if rule.brands:
            checks.append(lambda s, v=rule.brands: not v.isdisjoint(s.brand_codes))
        if rule.min_value is not None or rule.max_value is not None:
            checks.append(lambda s, r=rule: self._value_holds(r, s))
        self._compiled[rule.id] = tuple(checks)
        return self._compiled[rule.id]

    def _value_holds(self, rule: _Rule, s: Shipment) -> bool:
        value = self._value_in(s, rule.value_currency or s.currency)
        if value is None:
            return False
        if rule.min_value is not None and value < rule.min_value:
            return False
        return rule.max_value is None or value <= rule.max_value

    def _check(self, service: _Service, s: Shipment) -> dict:
        """Return the service's outcome for the shipment: a refusal, or its cost (``ok``)."""
        entry: dict = {"code": service.code, "name": service.name}
        if not service.active:
            return {**entry, "outcome": "inactive"}
        zone = service.zones.get(s.country)
        if zone is None:
            return {**entry, "outcome": "not_served"}
        if service.warehouses and s.warehouse_id is not None \
                and s.warehouse_id not in service.warehouses:
            return {**entry, "outcome": "warehouse"}
        if s.counts and goods_refusal(service.name, s.counts, service.limits) is not None:
            return {**entry, "outcome": "goods", "limits": service.limits}
        chargeable = s.weight_g
        if s.dims and service.divisor:
            length, width, height = s.dims
            chargeable = max(chargeable, -(-(length * width * height) // service.divisor))
        if service.max_weight_g and chargeable > service.max_weight_g:
            return {**entry, "outcome": "too_heavy", "weight_g": chargeable,
                    "most": service.max_weight_g}
        if s.dims:
            if (service.max_longest_mm and max(s.dims) > service.max_longest_mm) or \
                    (service.max_sum_mm and sum(s.dims) > service.max_sum_mm):
                return {**entry, "outcome": "too_big", "dims": list(s.dims)}
        if service.requires_phone and not s.has_phone:
            return {**entry, "outcome": "phone"}
        bands = service.bands.get(zone)
        index = bisect_left(bands[0], chargeable) if bands else 0
        if not bands or index >= len(bands[0]):
            return {**entry, "outcome": "no_rate", "weight_g": chargeable}
        price, currency = bands[1][index]
        base = self.in_base(price, currency)
        if base is None:
            return {**entry, "outcome": "no_rate", "weight_g": chargeable,
                    "currency": currency}
        return {**entry, "outcome": "ok", "cost": str(price), "currency": currency,
                "_price": price, "_base": base, "_id": service.id}

    def choose(self, s: Shipment) -> Choice:
        """Decide the service of one shipment (first matching rule able to carry it)."""
        choice = Choice(s, self.version_id)
        for rule in self.rules:
            if not all(check(s) for check in self._checks(rule)):
                continue
            choice.matched = True
            entries = [self._check(self.services[sid], s) for sid in rule.service_ids
                       if sid in self.services]
            usable = [e for e in entries if e["outcome"] == "ok"]
            if choice.rule_id is None:
                choice.rule_id, choice.rule_name = rule.id, rule.name
            if usable:
                best = min(usable, key=lambda e: e["_base"])  # ties: the rule's order
                for entry in usable:
                    entry["outcome"] = "chosen" if entry is best else "dearer"
                choice.rule_id, choice.rule_name = rule.id, rule.name
                choice.service_id, choice.service_code = best["_id"], best["code"]
                choice.service_name = best["name"]
                choice.cost, choice.currency = best["_price"], best["currency"]
                choice.cost_base = best["_base"]
            for entry in entries:
                for key in ("_price", "_base", "_id"):
                    entry.pop(key, None)
            choice.rules.append({"id": rule.id, "name": rule.name, "services": entries})
            if usable:
                break
        return choice


def load_services(ids: Iterable[int]) -> dict[int, _Service]:
    """Read services with their zones, rate bands, goods limits and warehouses (5 queries)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    out: dict[int, _Service] = {}
    for row in db.session.execute(
            select(ShippingService, Carrier.active.label("carrier_active"))
            .join(Carrier, Carrier.id == ShippingService.carrier_id)
            .where(ShippingService.id.in_(ids))):
        sv = row[0]
        out[sv.id] = _Service(sv.id, sv.code, sv.name, bool(sv.active and row.carrier_active),
                              sv.max_weight_g or 0, sv.max_longest_mm or 0, sv.max_sum_mm or 0,
                              sv.volumetric_divisor or 0, bool(sv.requires_phone), frozenset(),
                              {}, {}, {})
    for sid, country, zone in db.session.execute(
            select(ServiceZone.service_id, ServiceZone.country, ServiceZone.zone)
            .where(ServiceZone.service_id.in_(ids))):
        out[sid].zones[country] = zone
    for sid, zone, band, price, currency in db.session.execute(
            select(ServiceRate.service_id, ServiceRate.zone, ServiceRate.max_weight_g,
                   ServiceRate.price, ServiceRate.currency)
            .where(ServiceRate.service_id.in_(ids)).order_by(ServiceRate.max_weight_g)):
        weights, prices = out[sid].bands.setdefault(zone, ([], []))
        weights.append(band)
        prices.append((price, currency))
    for sid, attribute, most in db.session.execute(
            select(ServiceGoodsLimit.service_id, ServiceGoodsLimit.attribute,
                   ServiceGoodsLimit.max_per_parcel).where(ServiceGoodsLimit.service_id.in_(ids))):
        out[sid].limits[GoodsAttribute(attribute).value] = most
    houses: dict[int, set[int]] = defaultdict(set)
    for sid, warehouse_id in db.session.execute(
            select(ShippingServiceWarehouse.service_id, ShippingServiceWarehouse.warehouse_id)
            .where(ShippingServiceWarehouse.service_id.in_(ids))):
        houses[sid].add(warehouse_id)
    for sid, found in houses.items():
        out[sid].warehouses = frozenset(found)
    return out


def active_version() -> RuleVersion | None:
    """Return the active rule version, or None (orders then keep the storefront's service)."""
    return db.session.scalar(select(RuleVersion).where(RuleVersion.state ==
                                                       RuleVersionState.active))


def active_rules() -> RuleSet | None:
    """Return the active version read into a :class:`RuleSet`, or None without one."""
    version = active_version()
    return RuleSet(version) if version is not None else None


#: how long :func:`reused_rules` reuses a version read (seconds)
RULES_MAX_AGE_S = 30.0
_REUSED: dict[tuple, tuple[float, RuleSet]] = {}


def reused_rules(version_id: int | None, activated_at=None) -> RuleSet | None:
    """Return the active version's :class:`RuleSet`, read at most every 30 seconds.

    For the single-item lane, which routes a parcel a second, each scan its own request:
    reading the rules and their services' zones, rates and limits costs more than the rest of
    the scan. A newly activated version is read at once (its id and activation time are the
    key, read with the scan); a change to a service's rates reaches the lane within
    :data:`RULES_MAX_AGE_S`.
    """
    if version_id is None:
        return None
    key = (str(db.engine.url), version_id, activated_at)
    now = time.monotonic()
    hit = _REUSED.get(key)
    if hit is not None and now - hit[0] < RULES_MAX_AGE_S and hit[1].on == utcnow().date():
        return hit[1]
    version = db.session.get(RuleVersion, version_id)
    if version is None:
        return None
    rules = RuleSet(version)
    _REUSED.clear()
    _REUSED[key] = (now, rules)
    return rules


# --------------------------------------------------------------------------- reading orders


@functools.cache
def _facts_statement():
    """The statement of :func:`_sku_facts`, built once (a lane scan pays for building it)."""
    return (select(Sku.id, Sku.code, Sku.weight_g, Brand.code, SkuPacking.packed_weight_g,
                   Box.tare_g)
            .join(Product, Product.id == Sku.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .outerjoin(SkuPacking, SkuPacking.sku_id == Sku.id)
            .outerjoin(Box, Box.id == SkuPacking.box_id)
            .where(Sku.id.in_(bindparam("ids", expanding=True))))


def _sku_facts(sku_ids: Iterable[int]) -> tuple[dict[int, tuple[str, int, str, int | None]],
                                                dict]:
    """Return ``{sku id: (code, weight g, brand code, packed g)}``, ``{sku id: goods per unit}``.

    ``packed g`` is the weight of one unit packed alone in the SKU's default box (its packed
    weight, else its weight and the box's tare), None without a default box: a one-item order
    is routed at allocation with it, as the single-item lane will weigh it. Goods per unit are
    ``((attribute, cells or 1), ...)`` for the SKUs that carry any.
    """
    ids = sorted(set(sku_ids))
    facts: dict[int, tuple[str, int, str, int | None]] = {}
    statement = _facts_statement()
    for start in range(0, len(ids), CHUNK):
        for row in db.session.execute(statement, {"ids": ids[start:start + CHUNK]}):
            weight = int(row[2] or 0)
            packed = (None if row[5] is None
                      else max(int(row[4] or 0) or weight + int(row[5] or 0), 1))
            facts[row[0]] = (row[1].upper(), weight, row[3].upper(), packed)
    goods = {sku_id: goods_per_unit(t) for sku_id, t in transport_of(ids).items()}
    return facts, goods


def goods_per_unit(transport) -> tuple[tuple[str, int], ...]:
    """Return ``((attribute, cells or 1), ...)``: what one unit of a SKU counts against limits."""
    return tuple((attribute, transport.cells if attribute.startswith("battery_") else 1)
                 for attribute in transport.attributes())


_NO_FACTS = ("", 0, "", None)
_EMPTY: frozenset = frozenset()


def _shipment(order, items: Sequence[tuple[int, int, Decimal]], facts, transports, *,
              weight_g: int | None = None, dims=None, codes_needed: bool = True,
              stored_prices: bool = False) -> Shipment:
    """Build the shipment of ``order`` (an order or a row with its columns) and its items.

    ``items`` are ``(sku id, quantity, unit price)``; without ``weight_g`` the catalog weight.
    Without ``codes_needed`` (no rule names SKUs or brands) their codes are not collected.
    With ``stored_prices`` the prices are the integers ``Money`` stores (ten-thousandths),
    summed as integers and made a Decimal once.
    """
    weight, value = 0, 0 if stored_prices else Decimal(0)
    counts: dict[str, int] = {}
    for sku_id, quantity, price in items:
        weight += facts.get(sku_id, _NO_FACTS)[1] * quantity
        value += price * quantity
        for attribute, per_unit in transports.get(sku_id, ()):  # as goods_counts counts
            counts[attribute] = counts.get(attribute, 0) + per_unit * quantity
    if not weight_g and len(items) == 1 and items[0][1] == 1:  # one item: in its own box
        packed = facts.get(items[0][0], _NO_FACTS)[3]
        weight = packed if packed is not None else weight
    if codes_needed:
        found = [facts.get(sku_id, _NO_FACTS) for sku_id, _q, _p in items]
        codes = frozenset(f[0] for f in found)
        brands = frozenset(f[2] for f in found)
    else:
        codes = brands = _EMPTY
    if stored_prices:
        value = Decimal(value).scaleb(-MONEY_SCALE)
    service_class = order.service_class
    return Shipment(order.id, order.number, (order.country or "").upper(), order.region or "",
                    postcode_key(order.postal_code), order.currency,
                    getattr(service_class, "value", service_class) or "standard",
                    order.warehouse_id, order.shipping_service,
                    bool((order.phone or "").strip()),
                    int(weight_g) if weight_g else weight, value, counts, codes, brands, dims)


def shipments_of_orders(orders: Sequence[CustomerOrder]) -> list[Shipment]:
    """Return the shipments of loaded orders (their lines loaded too): one query for the SKUs."""
    facts, transports = _sku_facts(line.sku_id for o in orders for line in o.lines)
    return [_shipment(o, [(ln.sku_id, ln.quantity, ln.unit_price) for ln in o.lines], facts,
                      transports) for o in orders]


_ORDER_COLUMNS = (CustomerOrder.id, CustomerOrder.number, CustomerOrder.country,
                  CustomerOrder.region, CustomerOrder.postal_code, CustomerOrder.currency,
                  # the stored value as it is: no enum built per row
                  type_coerce(CustomerOrder.service_class, String).label("service_class"),
                  CustomerOrder.warehouse_id,
                  CustomerOrder.shipping_service, CustomerOrder.phone)


def shipments_by_id(order_ids: Iterable[int], *, codes_needed: bool = True) -> list[Shipment]:
    """Return the shipments of orders by id, read with Core queries (no entities loaded)."""
    ids = sorted(set(order_ids))
    rows, lines = {}, defaultdict(list)
    for start in range(0, len(ids), BIG_CHUNK):
        chunk = ids[start:start + BIG_CHUNK]
        for row in db.session.execute(select(*_ORDER_COLUMNS).where(CustomerOrder.id.in_(chunk))):
            rows[row.id] = row
        for order_id, sku_id, quantity, price in db.session.execute(
                select(CustomerOrderLine.order_id, CustomerOrderLine.sku_id,
                       CustomerOrderLine.quantity,
                       type_coerce(CustomerOrderLine.unit_price, BigInteger))
                .where(CustomerOrderLine.order_id.in_(chunk))):
            lines[order_id].append((sku_id, quantity, price))
    facts, transports = _sku_facts(item[0] for items in lines.values() for item in items)
    return [_shipment(rows[i], lines[i], facts, transports, codes_needed=codes_needed,
                      stored_prices=True) for i in ids if i in rows]


# --------------------------------------------------------------------------- writing decisions


_DECISION_COLUMNS = ("order_id", "version_id", "rule_id", "service_id", "previous_service",
                     "stage", "weight_g", "cost", "currency", "explanation", "created_by_id",
                     "created_at")
#: from this many decisions on, PostgreSQL takes them with COPY and SQLite with the driver's
#: executemany (SQLAlchemy's per-row parameter handling cost a third of the routing benchmark)
FAST_ABOVE = 200


def _insert_decisions(rows: list[tuple]) -> None:
    """Insert decision rows (values in :data:`_DECISION_COLUMNS` order, Python types)."""
    dialect = db.session.get_bind().dialect.name if len(rows) >= FAST_ABOVE else None
    if dialect not in ("sqlite", "postgresql"):
        db.session.execute(insert(RoutingDecision.__table__),
                           [dict(zip(_DECISION_COLUMNS, row, strict=True)) for row in rows])
        return
    money, stamp = Money().process_bind_param, UtcDateTime().process_bind_param
    at = stamp(rows[0][-1], None)
    stored = [(*row[:7], None if row[7] is None else money(row[7], None), *row[8:11], at)
              for row in rows]
    columns = ", ".join(_DECISION_COLUMNS)
    if dialect == "sqlite":
        at_text = at.isoformat(" ", "microseconds")
        db.session.connection().exec_driver_sql(
            f"INSERT INTO routing_decision ({columns}) VALUES ({', '.join('?' * 12)})",
            [(*row[:11], at_text) for row in stored])
        return
    raw = db.session.connection().connection.driver_connection
    with raw.cursor() as cursor, cursor.copy(
            f"COPY routing_decision ({columns}) FROM STDIN") as copy:
        for row in stored:
            copy.write_row(row)


def record_decisions(choices: Sequence[Choice], *, stage: RoutingStage, actor,
                     apply: bool = True) -> int:
    """Insert one decision per choice and (``apply``) set the orders' new services.

    An order whose rules could not carry it keeps its service. Returns the orders changed.
    The decisions are the record of the changes at allocation (who, when, the old and the new
    service, why); a change at packing is audited on the order too.
    """
    if not choices:
        return 0
    now = utcnow()
    actor_id = getattr(actor, "id", None)
    dumps = json.dumps
    db.session.flush()
    _insert_decisions([
        (c.shipment.order_id, c.version_id, c.rule_id, c.service_id, c.shipment.current,
         stage.value, c.shipment.weight_g, c.cost, c.currency,
         dumps(c.explanation(), default=str), actor_id, now) for c in choices])
    if not apply:
        return 0
    by_rule: dict[str, list] = defaultdict(list)
    for c in choices:
        if c.changes:
            by_rule[c.rule_name or ""].append((c.shipment.order_id, c.shipment.number,
                                               c.shipment.current, c.service_code))
    changed = 0
    for rule_name, rows in by_rule.items():
        changed += set_shipping_services(rows, actor=actor, reason=rule_name,
                                         audited=stage == RoutingStage.packing)
    return changed


def route_orders(orders: Sequence[CustomerOrder] | None = None, *,
                 order_ids: Iterable[int] | None = None, actor,
                 stage: RoutingStage = RoutingStage.allocation,
                 rules: RuleSet | None = None) -> list[Choice]:
    """Route orders with the active rules, keep the decisions and set their services.

    Pass loaded ``orders`` (with lines) or ``order_ids``. Nothing happens without an active
    version. Returns the choices (empty without one).
    """
    rules = rules or active_rules()
    if rules is None:
        return []
    shipments = (shipments_of_orders(orders) if orders is not None
                 else shipments_by_id(order_ids or (), codes_needed=rules.codes_needed))
    choices = [rules.choose(s) for s in shipments]
    record_decisions(choices, stage=stage, actor=actor)
    return choices


def on_orders_allocated(orders: Sequence[CustomerOrder], *, actor) -> None:
    """Route the orders allocation has just made fully allocated (a hook of orders)."""
    route_orders(orders, actor=actor, stage=RoutingStage.allocation)


# --------------------------------------------------------------------------- packing


@dataclass
class PackingRoute:
    """The service a parcel ships with, and (:attr:`notice`) why, when routing changed it."""

    service: ShippingService
    choice: Choice

    @property
    def notice(self) -> str | None:
        """Return "Service changed from X to Y: rule ...; ..." when the service changed.

        Built when read (the bulk packing path never reads it): the reasons are formatted
        in the reader's language.
        """
        old = self.choice.shipment.current
        if old == self.choice.service_code:
            return None
        return _("Service changed from %(old)s to %(new)s: %(reason)s", old=old or "-",
                 new=self.service.code, reason=decision_summary(self.choice.explanation(),
                                                                self.choice.rule_name))


class ParcelRouter:
    """Routing at packing for one or many parcels, with what it needs read once.

    :meth:`route` decides a parcel with its weighed grams and box (refusing it when rules match
    but no service can carry it); :meth:`goods_refusal` checks the goods against the service the
    parcel ships with, whether routing chose it or not; :meth:`finish` writes the decisions and
    the orders' new services once every parcel was accepted.
    """

    def __init__(self, sku_ids: Iterable[int], *, actor, rules: RuleSet | None = None,
                 load_rules: bool = True, facts: tuple[dict, dict] | None = None):
        self.actor = actor
        self.rules = rules if rules is not None else (active_rules() if load_rules else None)
        # ``facts``: what :func:`_sku_facts` returns, when the caller read it along already
        self.facts, self.transports = facts if facts is not None else _sku_facts(sku_ids)
        self.choices: list[Choice] = []
        self._limits: dict[int, dict[str, int]] = {}

    @property
    def active(self) -> bool:
        """Return whether a rule version is active."""
        return self.rules is not None

    def route(self, order: CustomerOrder, items: Sequence[tuple[int, int, Decimal]], *,
              weight_g: int, dims: tuple[int, int, int] | None) -> PackingRoute | None:
        """Route one parcel of ``(sku id, quantity, unit price)`` items.

        Returns None when no version is active or no rule matches (the order's own service
        stands). When the rules choose another service than the order's, the notice says so:
        "Service changed from X to Y: ...".

        :raises ShippingError: when rules match but none of their services can carry it.
        """
        if self.rules is None:
            return None
        shipment = _shipment(order, items, self.facts, self.transports, weight_g=weight_g,
                             dims=dims if dims and all(dims) else None)
        choice = self.rules.choose(shipment)
        self.choices.append(choice)
        if not choice.matched:
            return None
        if choice.service_id is None:
            raise ShippingError(choice.refusal(), field="service")
        return PackingRoute(db.session.get(ShippingService, choice.service_id), choice)

    def goods_refusal(self, service: ShippingService,
                      items: Iterable[tuple[int, int]]) -> str | None:
        """Return why ``service`` refuses the goods of ``(sku id, quantity)`` items, or None."""
        counts: dict[str, int] = {}
        for sku_id, quantity in items:
            for attribute, per_unit in self.transports.get(sku_id, ()):
                counts[attribute] = counts.get(attribute, 0) + per_unit * quantity
        if not counts:
            return None
        if service.id not in self._limits:
            from erp.shipping.services.goods import limits_of
            self._limits.update(limits_of([service.id]))
        return goods_refusal(service.name, counts, self._limits[service.id])

    def finish(self) -> int:
        """Write the decisions taken and set the orders' new services; return those changed."""
        changed = record_decisions(self.choices, stage=RoutingStage.packing, actor=self.actor)
        self.choices = []
        return changed


# --------------------------------------------------------------------------- explaining


def describe_outcome(entry: Mapping, explanation: Mapping) -> str:
    """Return what a person reads for one service considered: "Registered air mail: ..."."""
    name, outcome = entry.get("name") or entry.get("code"), entry.get("outcome")
    if outcome in ("chosen", "dearer"):
        cost = format_money(Decimal(entry.get("cost") or 0), entry.get("currency"))
        if outcome == "chosen":
            return _("%(service)s: chosen, the cheapest allowed (%(cost)s)", service=name,
                     cost=cost)
        return _("%(service)s: dearer (%(cost)s)", service=name, cost=cost)
    if outcome == "inactive":
        return _("%(service)s: inactive", service=name)
    if outcome == "not_served":
        return _("%(service)s: does not serve %(country)s", service=name,
                 country=explanation.get("country") or "-")
    if outcome == "warehouse":
        return _("%(service)s: does not ship from the order's warehouse", service=name)
    if outcome == "goods":
        refusal = goods_refusal(name, explanation.get("goods") or {}, entry.get("limits") or {})
        return refusal or _("%(service)s: does not accept the goods", service=name)
    if outcome == "too_heavy":
        return _("%(service)s: too heavy (%(weight)s g chargeable; it takes at most %(most)s g)",
                 service=name, weight=format_number(entry.get("weight_g") or 0),
                 most=format_number(entry.get("most") or 0))
    if outcome == "too_big":
        return _("%(service)s: the box is too big", service=name)
    if outcome == "phone":
        return _("%(service)s: needs the addressee's phone number", service=name)
    if outcome == "no_rate":
        return _("%(service)s: no rate for %(weight)s g", service=name,
                 weight=format_number(entry.get("weight_g") or 0))
    return f"{name}: {outcome}"


def decision_summary(explanation: Mapping, rule_name: str | None) -> str:
    """Return one line: the rule that chose and why the others were rejected."""
    others = [describe_outcome(e, explanation) for rule in explanation.get("rules", ())
              for e in rule["services"] if e.get("outcome") != "chosen"]
    text = _("rule %(rule)s", rule=rule_name or "-")
    return "; ".join([text, *others])


def latest_decision(order_id: int) -> RoutingDecision | None:
    """Return the order's latest routing decision, or None."""
    return db.session.scalar(select(RoutingDecision).where(RoutingDecision.order_id == order_id)
                             .order_by(RoutingDecision.id.desc()).limit(1))


def decision_rows(decision: RoutingDecision) -> list[dict]:
    """Return the decision's considered services for the order page: rule, outcome, text."""
    explanation = json.loads(decision.explanation or "{}")
    rows = []
    for rule in explanation.get("rules", ()):
        for entry in rule["services"]:
            rows.append({"rule": rule["name"], "code": entry.get("code"),
                         "outcome": entry.get("outcome"),
                         "chosen": entry.get("outcome") == "chosen",
                         "text": describe_outcome(entry, explanation)})
    return rows


def decision_explanation(decision: RoutingDecision) -> dict:
    """Return the decision's explanation as a dict."""
    return json.loads(decision.explanation or "{}")


def goods_label(counts: Mapping[str, int]) -> str:
    """Return the goods attributes of an order as a person reads them."""
    from erp.shipping.models import GOODS_ATTRIBUTE_LABELS
    return ", ".join(str(GOODS_ATTRIBUTE_LABELS[GoodsAttribute(k)]) for k in GOODS_ORDER
                     if counts.get(k)) or "-"
