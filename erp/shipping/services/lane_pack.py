"""The lean pack-and-label of one single-item order at the lane: a scan in a dozen statements.

A lane closes a parcel every second or two, each scan its own request, so the scan's cost is
its statements. :func:`pack_and_label` gives the same records as :func:`packing.pack_order`
followed by :func:`parcels.label_parcels` (the same parcel, customs line, scan, label, box
move, order state and events, audit events) for the common case, a one-line, one-unit order
with nothing scanned yet, in about twelve statements instead of fifty:

1. one SELECT finds the wave's oldest waiting order for the scanned SKU (code, or barcode) and
   locks it (``SKIP LOCKED``: two packers take different orders), and with it reads all the
   rest: its line and SKU, the SKU's default box, the service and its carrier and zone, the
   tracking range to draw from, the settings and exchange rates the customs rules read, the
   customer location, the warehouse to take the box from;
2. the parcel number and the tracking number are drawn (one UPDATE each);
3. the parcel (already labelled), its customs line and its scan are inserted (one INSERT each);
4. the box is taken out of stock (:func:`pack_checks.consume_box`: three statements);
5. the order becomes packed (one UPDATE), and every audit event goes in one INSERT
   (:func:`erp.core.audit.batched`).

The rules are the same functions as the normal path's, applied to the rows read: the parcel's
limits, customs lines, customs form, IOSS number and dutiability (:func:`packing.plan_parcel`),
the label's customs check (:func:`customs.check_customs`), the weight check
(:mod:`pack_checks`). Anything else (the order has scans or more than one unit, its service is
unknown, inactive, does not serve the country or books through the carrier's API, the SKU has
no default box, no tracking range has numbers, the shipping rules choose another service
for the parcel's weight and box...) returns None and the caller goes the normal
way, which packs it or refuses it with its usual message.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import String, bindparam, case, exists, func, insert, or_, select, type_coerce
from sqlalchemy.orm import aliased, make_transient_to_detached

from erp.brands.models import Brand
from erp.catalog.models import TRANSPORT_FIELDS, Product, Sku
from erp.catalog.services import CUSTOMS_FIELDS, CustomsValue, inherited_customs
from erp.catalog.transport import NOTHING, inherited_transport, transport_from
from erp.core import audit, settings
from erp.core.models import ExchangeRate, utcnow
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services import mark_packed_rows
from erp.shipping.carriers.registry import uses_api
from erp.shipping.models import (
    Box,
    Carrier,
    CustomsForm,
    PackScan,
    Parcel,
    ParcelLine,
    ParcelState,
    PickTask,
    PickWaveOrder,
    ServiceRate,
    ServiceZone,
    ShippingService,
    SkuPacking,
)
from erp.shipping.routing_models import RuleVersion, RuleVersionState
from erp.shipping.services import pack_checks, packing, routing, tracking
from erp.shipping.services.carriers import chargeable_weight_g
from erp.shipping.services.customs import SDR, CustomsContext, check_customs
from erp.warehouse.models import Location, LocationKind

O, L = CustomerOrder, CustomerOrderLine  # noqa: E741 - as in erp.orders.models
#: the settings the customs rules and the weight check read (see :class:`_Settings`)
_SETTINGS = ("base_currency", "cn22_max_weight_g", "cn22_max_sdr", "eu_countries",
             "ioss_number", "ioss_max_eur", "dutiable_countries", "pack_weight_tolerance_pct",
             "pack_weight_tolerance_g", "customs_review_at_packing")
#: the currencies whose rates the customs rules may need besides the order's
_RATES = (SDR, "EUR")


# --------------------------------------------------------------------------- the one read


def _rate_of(currency) -> Any:
    """Return the latest rate of ``currency`` valid on the bound ``on`` (as ``rate_on``)."""
    return (select(ExchangeRate.rate).where(ExchangeRate.currency == currency,
                                            ExchangeRate.valid_from <= bindparam("on"))
            .order_by(ExchangeRate.valid_from.desc()).limit(1).scalar_subquery())


@functools.cache
def _read_statement():
    """Build the statement of step 1, once, at the first scan (not at start-up).

    Building it costs more than running it.
    """
    code_match = Sku.code == bindparam("code_upper")
    sku_id = (select(Sku.id).where(or_(code_match, Sku.barcode == bindparam("code")))
              .order_by(case((code_match, 0), else_=1)).limit(1)  # the code wins, as find_sku
              .scalar_subquery())
    any_task = aliased(PickTask)  # of any wave, as lane._oldest_order asks
    picked = exists(select(any_task.id).where(any_task.order_line_id == L.id,
                                              any_task.picked_qty > 0))
    # the oldest picked, unpacked order of the wave for the SKU, locked: lane._oldest_order's
    # orders, reached through the wave's pick tasks of the SKU (index wave_id, sku_id: the
    # wave's thousand orders are not each looked at; each order of a wave has its tasks there)
    candidate = (
        select(O.id.label("order_id"), L.id.label("line_id"))
        .select_from(PickTask)
        .join(O, O.id == PickTask.order_id)
        .join(L, L.id == PickTask.order_line_id)
        .where(PickTask.wave_id == bindparam("wave_id"), PickTask.sku_id == sku_id,
               L.sku_id == sku_id, O.state == OrderState.picking, picked,
               exists(select(PickWaveOrder.id).where(
                   PickWaveOrder.wave_id == bindparam("wave_id"),
                   PickWaveOrder.order_id == O.id)))
        .order_by(O.placed_at, O.id).limit(1)
        .with_for_update(of=O, skip_locked=True)
        .subquery("candidate"))
    other = aliased(L)
    lines = select(func.count(other.id)).where(other.order_id == O.id).scalar_subquery()
    picked_qty = (select(func.coalesce(func.sum(PickTask.picked_qty), 0))
                  .where(PickTask.order_line_id == L.id).scalar_subquery())
    scans = select(func.count(PackScan.id)).where(PackScan.order_id == O.id).scalar_subquery()
    sequence = (select(func.coalesce(func.max(Parcel.sequence), 0))
                .where(Parcel.order_id == O.id, Parcel.state != ParcelState.voided)
                .scalar_subquery())
    zone = (select(ServiceZone.zone).where(ServiceZone.service_id == ShippingService.id,
                                           ServiceZone.country == O.country)
            .limit(1).scalar_subquery())
    tracking_range = tracking.first_range(ShippingService.id)
    # the active shipping-rule version: the parcel is routed with its weight and box
    active = select(RuleVersion.id).where(RuleVersion.state == RuleVersionState.active)
    customer = (select(Location.id).where(Location.kind == LocationKind.customer,
                                          Location.warehouse_id.is_(None))
                .order_by(Location.id).limit(1).scalar_subquery())
    return (
        select(O.id, O.number, O.state, O.channel, O.country, O.currency, O.phone,
               O.ioss_number, O.shipping_service, O.warehouse_id,
               L.id.label("line_id"), L.quantity, L.unit_price,
               Sku.id.label("sku_id"), Sku.code.label("sku_code"), Sku.weight_g, Sku.hs_code,
               Sku.customs_description, Sku.origin_country, Product.category_id,
               *(inherited_customs(Product.category_id, f).label(f"category_{f}")
                 for f in CUSTOMS_FIELDS),
               # what routing reads of the SKU: its brand, its goods (own, else inherited)
               Brand.code.label("brand_code"), Sku.battery_cells,
               *(getattr(Sku, f).label(f"own_{f}") for f in TRANSPORT_FIELDS),
               *(inherited_transport(Product.category_id, f).label(f"inherited_{f}")
                 for f in TRANSPORT_FIELDS),
               SkuPacking.packed_weight_g, Box, ShippingService,
               Carrier.active.label("carrier_active"), Carrier.adapter,
               zone.label("zone"), lines.label("lines"), picked_qty.label("picked"),
               scans.label("scans"), sequence.label("sequence"),
               tracking_range.label("range_id"), customer.label("customer_id"),
               active.scalar_subquery().label("rules_version"),
               active.with_only_columns(RuleVersion.activated_at).scalar_subquery()
               .label("rules_activated_at"),
               O.region, O.postal_code,
               type_coerce(O.service_class, String).label("service_class"),
               pack_checks.DEFAULT_WAREHOUSE.scalar_subquery().label("default_warehouse_id"),
               _rate_of(O.currency).label("rate_order"),
               *(_rate_of(c).label(f"rate_{c}") for c in _RATES),
               *(settings.stored_text(key).label(f"setting_{key}") for key in _SETTINGS))
        .select_from(candidate)
        .join(O, O.id == candidate.c.order_id)
        .join(L, L.id == candidate.c.line_id)
        .join(Sku, Sku.id == L.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .join(Brand, Brand.id == Product.brand_id)
        .outerjoin(SkuPacking, SkuPacking.sku_id == Sku.id)
        .outerjoin(Box, Box.id == SkuPacking.box_id)
        .outerjoin(ShippingService, ShippingService.code == O.shipping_service)
        .outerjoin(Carrier, Carrier.id == ShippingService.carrier_id))



# --------------------------------------------------------------------------- what was read


class _Settings(dict):
    """The settings read along (parsed); one not read is read when asked for."""

    def __missing__(self, key: str) -> Any:
        self[key] = value = settings.get(key)
        return value


@dataclass
class _Sku:
    id: int
    code: str
    weight_g: int | None
    hs_code: str | None
    customs_description: str | None
    origin_country: str | None
    product: Any  # has category_id, as effective_customs reads it


@dataclass
class _Line:
    id: int
    sku_id: int
    quantity: int
    unit_price: Decimal
    sku: _Sku
    order_id: int

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class _Order:
    """The order as the rules read it (a row, not a loaded object)."""

    __tablename__ = "customer_order"  # audited as the order itself is

    id: int
    number: str
    state: OrderState
    channel: str | None
    country: str
    currency: str
    phone: str | None
    ioss_number: str | None
    warehouse_id: int | None
    lines: list[_Line] = field(default_factory=list)
    region: str | None = None
    postal_code: str | None = None
    service_class: str | None = None
    shipping_service: str | None = None

    @property
    def goods_total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal(0))


@dataclass
class _ParcelView:
    """The parcel as the label's customs check reads it."""

    number: str
    declared_value: Decimal
    currency: str
    lines: list[Any]


def _ordinary(row) -> bool:
    """Return whether the lean path may pack the order read (else the normal path does)."""
    service = row.ShippingService
    return (row.lines == 1 and row.quantity == 1 and row.picked == 1 and row.scans == 0
            and row.Box is not None and service is not None and service.active
            and bool(row.carrier_active) and row.zone is not None
            and not uses_api(_Carrier(row.adapter))
            and row.range_id is not None)


def _routing_facts(row, packed_g: int) -> tuple[dict, dict]:
    """Return what :class:`routing.ParcelRouter` reads of the SKU, from the row read."""
    values = {}
    for f in TRANSPORT_FIELDS:
        own = getattr(row, f"own_{f}")
        values[f] = own if own is not None else getattr(row, f"inherited_{f}")
    transport = transport_from(values, row.battery_cells)
    facts = {row.sku_id: (row.sku_code.upper(), int(row.weight_g or 0), row.brand_code.upper(),
                          packed_g)}
    goods = {} if transport == NOTHING else {row.sku_id: routing.goods_per_unit(transport)}
    return facts, goods


def _context(row, on: date) -> CustomsContext:
    values = _Settings({key: settings.parse_stored(key, getattr(row, f"setting_{key}"))
                        for key in _SETTINGS})
    base = values["base_currency"]
    rates = {}
    for currency, rate in ((row.currency, row.rate_order),
                           *((c, getattr(row, f"rate_{c}")) for c in _RATES)):
        if rate is not None and currency != base:  # the base is 1 without a query
            rates[currency] = rate
    # the SKU's category's customs defaults (as category_customs_defaults gives them; the
    # source's label is not read: the parcel's lines keep only the values)
    defaults = {row.category_id: {
        f: CustomsValue(getattr(row, f"category_{f}"), "category", "")
        for f in CUSTOMS_FIELDS if getattr(row, f"category_{f}")}}
    return CustomsContext(on, values=values, _rates=rates, _category_defaults=defaults)


# --------------------------------------------------------------------------- pack and label


def pack_and_label(wave_id: int, code: str, *, actor, weight_g: int | None = None,
                   override: bool = False, warehouse_id: int | None = None) -> Parcel | None:
    """Pack and label the wave's oldest waiting order for the scanned item; return the parcel.

    ``weight_g`` and ``override`` are the scale's weight and the packer's confirmation of a
    difference (as :func:`lane.lane_scan` takes them); ``warehouse_id`` is the packing
    station's warehouse, where the box is taken from (else the order's). Returns None, having
    written nothing, when the lean path does not apply (see the module's docstring): the
    caller then goes the normal way, in the same transaction (the order stays locked).

    :raises ShippingError: as the normal path refuses: a weight outside the tolerance, a
        parcel over the service's limits, missing customs data or exchange rates.
    """
    value = (code or "").strip()
    if not value:
        return None
    at = utcnow()
    row = db.session.execute(_read_statement(), {"wave_id": wave_id, "code": value,
                                     "code_upper": value.upper(), "on": at.date()}).first()
    if row is None or not _ordinary(row):
        return None
    service, box = row.ShippingService, row.Box
    sku = _Sku(row.sku_id, row.sku_code, row.weight_g, row.hs_code, row.customs_description,
               row.origin_country, _Category(row.category_id))
    line = _Line(row.line_id, row.sku_id, row.quantity, row.unit_price, sku, row.id)
    order = _Order(row.id, row.number, OrderState(row.state), row.channel, row.country,
                   row.currency, row.phone, row.ioss_number, row.warehouse_id, [line],
                   row.region, row.postal_code, row.service_class, row.shipping_service)
    ctx = _context(row, at.date())
    if ctx.values["customs_review_at_packing"] == "refuse":
        return None  # the normal path checks the customs review (pack_checks)
    expected = pack_checks.expected_weight_g([(sku, 1)], box)
    weight = max(row.packed_weight_g or expected, 1)
    # routing at packing, as at the bench: the active rules (read once for many scans)
    # decide with the parcel's weight and box; when they choose another service than the
    # order's, the normal path packs it (it tells the packer); the goods are checked
    # against the service either way
    router = routing.ParcelRouter(
        [sku.id], actor=actor, load_rules=False, facts=_routing_facts(row, weight),
        rules=routing.reused_rules(row.rules_version, row.rules_activated_at))
    if router.active:
        routed = router.route(order, [(sku.id, 1, line.unit_price)],
                              weight_g=weight_g or weight,
                              dims=(box.length_mm, box.width_mm, box.height_mm))
        if routed is not None and routed.service.id != service.id:
            return None
    with audit.batched():
        if weight_g:
            limits = (ctx.values["pack_weight_tolerance_pct"],
                      ctx.values["pack_weight_tolerance_g"])
            pack_checks.check_weight(order, pack_checks.weigh(expected, weight_g,
                                                              limits=limits),
                                     override=override, actor=actor)
            weight = weight_g
        plan = packing.plan_parcel(order, [(line, 1)], weight_g=weight, box=box,
                                   dims=(None, None, None), service=service, ctx=ctx,
                                   actor=actor, at=at, router=router)
        [number] = packing.draw_parcel_numbers(1, on=at.date())
        check_customs(_ParcelView(number, plan.values["declared_value"], order.currency,
                                  [_customs_line(ln, sku) for ln in plan.lines]))
        tracking_number = (tracking.draw_from_range(row.range_id, service, actor=actor)
                           or tracking.draw_numbers(service, 1, actor=actor)[0])
        labelled_at = utcnow()
        values = {k: v for k, v in plan.values.items() if not k.startswith("_")}
        values.update(number=number, sequence=row.sequence + 1,
                      state=ParcelState.labelled.value, tracking_number=tracking_number,
                      labelled_at=labelled_at,
                      chargeable_g=chargeable_weight_g(service, values["weight_g"],
                                                       values["length_mm"], values["width_mm"],
                                                       values["height_mm"]))
        # the rate table's quote is read by the INSERT itself (no statement more per scan)
        inserted = db.session.execute(_insert_parcel(), {
            **values, "q_service": service.id, "q_zone": row.zone,
            "q_g": values["chargeable_g"]}).one()
        parcel_id = inserted.id
        values.update(quoted_cost=inserted.quoted_cost, quoted_currency=inserted.quoted_currency)
        db.session.execute(insert(ParcelLine.__table__),
                           [{**ln, "parcel_id": parcel_id} for ln in plan.lines])
        db.session.execute(insert(PackScan.__table__), {
            "order_id": order.id, "order_line_id": line.id, "sku_id": sku.id, "quantity": 1,
            "parcel_id": parcel_id, "scanned_by_id": getattr(actor, "id", None),
            "scanned_at": at})
        plan.values.update(values, id=parcel_id)
        router.finish()  # the decision at packing, as the normal path records it
        audit.record_many("parcel", "parcel.packed",
                          [(parcel_id, number, packing.packed_event(plan))], actor=actor)
        if box.sku_id is not None:
            pack_checks.consume_box(
                parcel_id, number, box_code=box.code, sku_id=box.sku_id,
                warehouse_id=warehouse_id or order.warehouse_id or row.default_warehouse_id,
                customer_id=row.customer_id, actor=actor)
        mark_packed_rows([order], actor=actor)
        audit.record_many("parcel", f"parcel.{ParcelState.labelled.value}", [
            (parcel_id, number, {"state": [ParcelState.packed.value,
                                           ParcelState.labelled.value],
                                 "tracking_number": tracking_number})], actor=actor)
    return _loaded(parcel_id, values)


@dataclass
class _Category:
    category_id: int


@dataclass
class _Carrier:
    adapter: str


@dataclass
class _CustomsLine:
    sku: Any
    sku_id: int
    description: str
    hs_code: str
    origin_country: str
    quantity: int
    unit_value: Decimal


def _customs_line(values: dict, sku: _Sku) -> _CustomsLine:
    return _CustomsLine(sku, values["sku_id"], values["description"], values["hs_code"],
                        values["origin_country"], values["quantity"], values["unit_value"])


@functools.cache
def _insert_parcel():
    """Return the parcel's INSERT, its quote read from the rate table in it (built once).

    Binds ``q_service``, ``q_zone`` and ``q_g`` (the chargeable weight) besides the columns:
    the price and currency of the lightest band of the zone that holds the weight, as
    :func:`erp.shipping.services.carriers.quote` reads it.
    """
    table, rate = Parcel.__table__, ServiceRate.__table__
    band = (select(rate.c.price).where(rate.c.service_id == bindparam("q_service"),
                                       rate.c.zone == bindparam("q_zone"),
                                       rate.c.max_weight_g >= bindparam("q_g"))
            .order_by(rate.c.max_weight_g).limit(1))
    return (insert(table)
            .values(quoted_cost=band.scalar_subquery(),
                    quoted_currency=band.with_only_columns(rate.c.currency).scalar_subquery())
            .returning(table.c.id, table.c.quoted_cost, table.c.quoted_currency))


def _loaded(parcel_id: int, values: dict) -> Parcel:
    """Return the parcel inserted as a persistent object of the session, without a query."""
    parcel = Parcel(id=parcel_id, **{**values, "state": ParcelState(values["state"]),
                                      "customs_form": CustomsForm(values["customs_form"])})
    make_transient_to_detached(parcel)  # the row exists: attach it without another INSERT
    db.session.add(parcel)
    return parcel


__all__ = ["pack_and_label"]
