"""What a batch's 9610 parcels declare: gathered once for the gate and for the ledger.

:func:`collect` reads the batch's parcels of 9610 orders with their orders, lines, SKUs and
effective Chinese customs data in a handful of queries, and returns both every gap (named by
parcel, order, SKU and field) and, when there is none, the declaration rows the ledger writes.
A batch without 9610 parcels costs one query.

Choices (documented for the declarant):

- one declaration list (CEB603) per parcel, ``copNo`` = the parcel number, lines numbered from
  1 per parcel with the values of the parcel's own units; one order (CEB303) and one receipt
  (CEB403) per order, with every line of its parcels (for a one-parcel order the 303 and 603
  line numbers pair exactly). Every parcel of a 9610 order must therefore go in the same batch:
  the gate refuses an order with a parcel elsewhere.
- prices are the order line's unit price (what the buyer paid), in the order's currency; the
  buyer's shipping charge is the freight of the order (303) and of the order's first parcel in
  the batch (505/603; the others carry 0). No insurance is charged (0).
- gross weight is the parcel's weighed weight, net weight the sum of its lines' net weights.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from erp.catalog import cn_customs
from erp.catalog.models import Sku
from erp.core import settings as settings_mod
from erp.core.i18n import _
from erp.customs import settings as customs_settings
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.shipping.models import Carrier, Parcel, ParcelLine, ParcelState, ShippingService

TRADE_MODE = "9610"
#: the customs' time zone: ieDate, appTime and accountingDate are Beijing time
CUSTOMS_TZ = ZoneInfo("Asia/Shanghai")
CENT = Decimal("0.01")
NO_BARCODE = "无"
#: goods lines per declaration list (CEB603) and order (CEB303)
MAX_LINES = 100


@dataclass
class Collected:
    """The gaps of a batch's 9610 parcels and, when complete, their declarations."""

    problems: list[str] = field(default_factory=list)
    #: column dicts of CustomsDeclaration, each with ``"lines"``: column dicts of its lines
    declarations: list[dict[str, Any]] = field(default_factory=list)


def china_time(at: datetime) -> datetime:
    """Return a UTC time (aware or naive UTC) in the customs' time zone."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(CUSTOMS_TZ)


def nine_six_ten_parcel_ids(parcel_ids) -> list[int]:
    """Return the ids among ``parcel_ids`` of parcels of 9610 orders (one query)."""
    ids = list(parcel_ids)
    if not ids:
        return []
    return list(db.session.scalars(
        select(Parcel.id).join(CustomerOrder, CustomerOrder.id == Parcel.order_id)
        .where(Parcel.id.in_(ids), CustomerOrder.trade_mode == TRADE_MODE)
        .order_by(Parcel.id)))


def _company() -> tuple[dict[str, Any], list[str]]:
    values = settings_mod.all_values()
    missing = [key for key in customs_settings.COMPANY_SETTINGS if not values.get(key)]
    return values, missing


def dated(at: datetime | None = None) -> dict[str, Any]:
    """Return a declaration's time fields for ``at`` (now): issued, export date and month."""
    now = at or datetime.now(CUSTOMS_TZ)
    local = china_time(now)
    return {"issued_at": now, "period": local.strftime("%Y-%m"),
            "ie_date": local.strftime("%Y%m%d")}


def collect(batch, parcel_ids, *, at: datetime | None = None) -> Collected:
    """Return the gaps and declarations of the 9610 parcels among ``parcel_ids``."""
    result = Collected()
    ids = nine_six_ten_parcel_ids(parcel_ids)
    if not ids:
        return result
    values, missing = _company()
    problems = result.problems
    for key in missing:
        problems.append(_("9610 settings: %(setting)s is empty (Settings)",
                          setting=str(settings_mod.SETTINGS[key].label)))
    logistics = customs_settings.parse_code_lines(values["customs_logistics_codes"])
    pay_codes = customs_settings.parse_code_lines(values["customs_pay_codes"])

    parcels = db.session.execute(
        select(Parcel.id, Parcel.number, Parcel.tracking_number, Parcel.weight_g,
               Parcel.order_id, Parcel.sequence, Carrier.code.label("carrier"))
        .join(ShippingService, ShippingService.id == Parcel.service_id)
        .join(Carrier, Carrier.id == ShippingService.carrier_id)
        .where(Parcel.id.in_(ids)).order_by(Parcel.order_id, Parcel.sequence, Parcel.id)).all()
    order_ids = sorted({p.order_id for p in parcels})
    orders = {o.id: o for o in db.session.scalars(
        select(CustomerOrder).where(CustomerOrder.id.in_(order_ids)))}
    goods_total = dict(db.session.execute(
        select(CustomerOrderLine.order_id,
               func.sum(CustomerOrderLine.quantity * CustomerOrderLine.unit_price))
        .where(CustomerOrderLine.order_id.in_(order_ids))
        .group_by(CustomerOrderLine.order_id)).all())
    elsewhere = dict(db.session.execute(
        select(Parcel.order_id, func.min(Parcel.number))
        .where(Parcel.order_id.in_(order_ids), Parcel.id.not_in(ids),
               Parcel.state != ParcelState.voided)
        .group_by(Parcel.order_id)).all())
    lines_of: dict[int, list[Any]] = defaultdict(list)
    for row in db.session.execute(
            select(ParcelLine.parcel_id, ParcelLine.sku_id, ParcelLine.quantity,
                   ParcelLine.net_weight_g, CustomerOrderLine.unit_price, Sku.code,
                   Sku.barcode)
            .join(CustomerOrderLine, CustomerOrderLine.id == ParcelLine.order_line_id)
            .join(Sku, Sku.id == ParcelLine.sku_id)
            .where(ParcelLine.parcel_id.in_(ids)).order_by(ParcelLine.parcel_id, ParcelLine.id)):
        lines_of[row.parcel_id].append(row)
    cn = cn_customs.effective_cn_customs({r.sku_id for rows in lines_of.values() for r in rows})
    units = cn_customs.unit_codes()

    stamp = dated(at)
    first_parcel_of: dict[int, int] = {}
    for parcel in parcels:
        first_parcel_of.setdefault(parcel.order_id, parcel.id)

    for parcel in parcels:
        order = orders[parcel.order_id]
        where = {"parcel": parcel.number, "order": order.number}

        def gap(text, where=where, **names):
            problems.append(_("Parcel %(parcel)s, order %(order)s: %(problem)s",
                              problem=text, **where, **names))

        before = len(problems)
        if parcel.order_id in elsewhere:
            gap(_("parcel %(other)s of the same 9610 order is not in this batch (its order and "
                  "payment are declared once, with all its parcels)",
                  other=elsewhere[parcel.order_id]))
        if not parcel.tracking_number:
            gap(_("tracking number missing"))
        elif len(parcel.tracking_number) > 32:
            gap(_("tracking number longer than 32 characters"))
        carrier = logistics.get(parcel.carrier)
        if carrier is None:
            gap(_("carrier %(carrier)s has no customs code (setting: carriers' customs codes)",
                  carrier=parcel.carrier))
        country = cn_customs.customs_country(order.country)
        if country is None:
            gap(_("destination country %(country)s has no customs code", country=order.country))
        currency = cn_customs.customs_currency(order.currency)
        if currency is None:
            gap(_("currency %(currency)s has no customs code", currency=order.currency))
        for name, value in (("payment_provider", order.payment_provider),
                            ("payment_transaction", order.payment_transaction),
                            ("payment_amount", order.payment_amount),
                            ("payment_currency", order.payment_currency),
                            ("paid_at", order.paid_at)):
            if value in (None, ""):
                gap(_("payment data missing: %(field)s", field=name))
        if order.payment_currency and order.payment_currency != order.currency:
            gap(_("payment currency %(paid)s differs from the order currency %(currency)s",
                  paid=order.payment_currency, currency=order.currency))
        goods = Decimal(goods_total.get(order.id) or 0).quantize(CENT, ROUND_HALF_UP)
        if order.payment_amount is not None and goods + order.shipping_charge \
                != order.payment_amount:
            gap(_("goods %(goods)s + shipping %(shipping)s ≠ paid amount %(paid)s",
                  goods=goods, shipping=order.shipping_charge.quantize(CENT),
                  paid=order.payment_amount.quantize(CENT)))
        if len(order.number) > 60:
            gap(_("order number longer than 60 characters"))
        if not lines_of[parcel.id]:
            gap(_("the parcel has no goods lines"))
        elif len(lines_of[parcel.id]) > MAX_LINES:
            gap(_("more than %(count)s goods lines (a declaration list holds at most %(count)s)",
                  count=MAX_LINES))

        decl_lines = []
        net_g = 0
        for gnum, line in enumerate(lines_of[parcel.id], start=1):
            data = cn.get(line.sku_id)

            def sku_gap(text, line=line, where=where):
                problems.append(_("Parcel %(parcel)s, order %(order)s, SKU %(sku)s: %(problem)s",
                                  problem=text, sku=line.code, **where))

            if len(line.code) > 20:
                sku_gap(_("SKU code longer than 20 characters (itemNo)"))
            hs = data.hs_code if data else None
            if not (hs and len(hs) == 10 and hs.isdigit()):
                sku_gap(_("Chinese HS code must be 10 digits (now: %(value)s)",
                          value=hs or _("empty")))
            if not (data and data.name):
                sku_gap(_("Chinese customs name missing"))
            if not (data and data.elements):
                sku_gap(_("declaration elements missing"))
            elif len(data.gmodel) > 250:
                sku_gap(_("declaration elements longer than 250 characters"))
            sale_unit = data.sale_unit if data else None
            if sale_unit not in units:
                sku_gap(_("sale unit unknown (now: %(value)s)", value=sale_unit or _("empty")))
            unit1 = data.unit1 if data else None
            qty1 = qty2 = None
            if unit1 not in units:
                sku_gap(_("legal unit unknown (now: %(value)s)", value=unit1 or _("empty")))
            else:
                qty1 = cn_customs.legal_quantity(unit1, data.factor1, sale_unit,
                                                 Decimal(line.quantity), line.net_weight_g)
                if not qty1:
                    sku_gap(_("legal quantity in unit %(unit)s cannot be computed (give a "
                              "factor or a net weight)", unit=unit1))
            unit2 = data.unit2 if data else None
            if unit2:
                if unit2 not in units:
                    sku_gap(_("second legal unit unknown (now: %(value)s)", value=unit2))
                else:
                    qty2 = cn_customs.legal_quantity(unit2, data.factor2, sale_unit,
                                                     Decimal(line.quantity), line.net_weight_g)
                    if not qty2:
                        sku_gap(_("second legal quantity in unit %(unit)s cannot be computed",
                                  unit=unit2))
            if line.unit_price <= 0:
                sku_gap(_("price must be above 0"))
            net_g += line.net_weight_g
            if len(problems) > before:
                continue
            price = Decimal(line.unit_price)
            decl_lines.append({
                "gnum": gnum, "sku_id": line.sku_id, "item_no": line.code,
                "item_name": data.name, "gcode": hs, "gname": data.name, "gmodel": data.gmodel,
                "bar_code": (line.barcode or NO_BARCODE)[:50], "country": country,
                "currency": currency, "qty": Decimal(line.quantity), "unit": sale_unit,
                "qty1": qty1.quantize(Decimal("0.00001"), ROUND_HALF_UP), "unit1": unit1,
                "qty2": qty2.quantize(Decimal("0.00001"), ROUND_HALF_UP)
                if qty2 is not None else None, "unit2": unit2 or None,
                "price": price,
                "total_price": (price * line.quantity).quantize(CENT, ROUND_HALF_UP)})
        if net_g > parcel.weight_g:
            gap(_("net weight %(net)s g is above the gross weight %(gross)s g",
                  net=net_g, gross=parcel.weight_g))
        if len(problems) > before:
            continue
        first = first_parcel_of[order.id] == parcel.id
        freight = order.shipping_charge if first else Decimal(0)
        pay = pay_codes.get(order.payment_provider or "")
        goods_info = ";".join(f"{line['gname']}{line['qty'].normalize():f}{units[line['unit']]}"
                              for line in decl_lines)
        result.declarations.append({
            "parcel_id": parcel.id, "batch_id": batch.id, "order_id": order.id,
            **stamp, "cop_no": parcel.number,
            "order_no": order.number, "ebp_code": values["customs_ebp_code"],
            "ebc_code": values["customs_ebc_code"], "owner_code": values["customs_owner_code"],
            "agent_code": values["customs_agent_code"], "logistics_code": carrier[0],
            "logistics_no": parcel.tracking_number, "customs_code": values[
                "customs_customs_code"], "port_code": values["customs_port_code"],
            "trade_mode": TRADE_MODE, "traf_mode": values["customs_traf_mode"],
            "country": country, "currency": currency,
            "goods_value": sum((line["total_price"] for line in decl_lines), Decimal(0)),
            "order_freight": order.shipping_charge if first else Decimal(0),
            "freight": freight, "insured_fee": Decimal(0),
            "payment_amount": order.payment_amount if first else Decimal(0),
            "pay_code": pay[0] if pay else None,
            "pay_name": (pay[1] if pay else order.payment_provider)[:100],
            "pay_no": order.payment_transaction,
            "accounting_date": china_time(order.paid_at).strftime("%Y%m%d%H%M%S"),
            "logistics_name": carrier[1], "goods_info": goods_info[:200],
            "gross_weight": Decimal(parcel.weight_g) / 1000,
            "net_weight": Decimal(net_g) / 1000, "pack_no": 1, "lines": decl_lines})
    return result
