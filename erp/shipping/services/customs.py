"""Customs data of a parcel: CN22 or CN23, IOSS, dutiable destinations, and the customs lines.

The rules (shared/reference/shipping.md, sections 2 and 4):

- A service whose customs documents are ``cn23`` (postal parcels, EMS) always takes a CN23; an
  express service (``commercial_invoice``) takes a commercial invoice only
  (:attr:`CustomsForm.invoice`). A ``cn22_cn23`` service takes a CN22 when the parcel weighs at
  most the ``cn22_max_weight_g`` setting and its declared value, converted to SDR (``XDR``) at
  the packing date, is at most ``cn22_max_sdr``; otherwise a CN23.
- IOSS: an EU destination (setting ``eu_countries``) whose consignment (the order's goods, not
  just this parcel of a split order) is worth at most ``ioss_max_eur`` in EUR. The parcel then
  carries the order's own IOSS number when it has one (a marketplace that collected the VAT as
  the deemed supplier gives its number with the order), else the retailer's ``ioss_number``
  setting; with neither, no IOSS number.
- Dutiable: the destination is in the ``dutiable_countries`` setting.
- Lines: one per order line (so per SKU and price) with the catalog's effective HS code, English
  description and origin (never typed at packing), quantity, net weight = SKU weight x quantity
  and unit value = the order line's unit price in the order currency.

Bulk callers pass a :class:`CustomsContext` so settings and exchange rates are read once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from erp.catalog.services import category_customs_defaults, effective_customs
from erp.core import settings
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l, format_date
from erp.core.money import UNIT_COST, rate_on
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsDocs, CustomsForm, Parcel, ParcelLine, ShippingService

SDR = "XDR"
#: what a missing customs field is called in messages
FIELD_LABELS = {"hs_code": _l("HS code"),
                "customs_description": _l("English customs description"),
                "origin_country": _l("country of origin")}
#: what a parcel's customs line lacks, in messages
LINE_LABELS = {"description": _l("English description"), "hs_code": _l("HS code"),
               "origin_country": _l("country of origin")}


@dataclass
class CustomsContext:
    """Settings and exchange rates read once for many parcels packed on one day."""

    on: date
    values: dict = field(default_factory=settings.all_values)
    _rates: dict[str, Decimal] = field(default_factory=dict)
    _category_defaults: dict | None = None

    @property
    def base(self) -> str:
        """Return the base currency."""
        return self.values["base_currency"]

    def rate(self, currency: str) -> Decimal:
        """Return the base units one unit of ``currency`` buys on :attr:`on` (cached).

        :raises ShippingError: telling the user which exchange rate to enter.
        """
        if currency not in self._rates:
            try:
                self._rates[currency] = rate_on(currency, self.on, base=self.base)
            except ValidationError:
                what = _("SDR (currency code XDR)") if currency == SDR else currency
                raise ShippingError(_(
                    "To choose the customs declaration, the parcel's value must be converted to "
                    "%(what)s, but no %(currency)s exchange rate is known on or before %(day)s; "
                    "enter one under Settings > Exchange rates.", what=what, currency=currency,
                    day=format_date(self.on))) from None
        return self._rates[currency]

    def convert(self, amount: Decimal, currency: str, to: str) -> Decimal:
        """Convert like :func:`erp.core.money.convert`, with the cached rates."""
        amount = Decimal(amount)
        if currency == to:
            return amount.quantize(UNIT_COST, rounding=ROUND_HALF_UP)
        in_base = amount * self.rate(currency)
        result = in_base / self.rate(to) if to != self.base else in_base
        return result.quantize(UNIT_COST, rounding=ROUND_HALF_UP)

    def category_defaults(self) -> dict:
        """Return the categories' customs defaults (read once)."""
        if self._category_defaults is None:
            self._category_defaults = category_customs_defaults()
        return self._category_defaults


def _ctx(on: date, ctx: CustomsContext | None) -> CustomsContext:
    return ctx if ctx is not None else CustomsContext(on)


def choose_customs_form(service: ShippingService, value: Decimal, currency: str, weight_g: int,
                        on: date, *, ctx: CustomsContext | None = None) -> CustomsForm:
    """Return the customs declaration a parcel of this service, value and weight needs.

    :raises ShippingError: if the value must be converted to SDR and no rate is known.
    """
    docs = CustomsDocs(service.customs_docs)
    if docs == CustomsDocs.commercial_invoice:
        return CustomsForm.invoice
    if docs == CustomsDocs.cn23:
        return CustomsForm.cn23
    ctx = _ctx(on, ctx)
    if weight_g > int(ctx.values["cn22_max_weight_g"]):
        return CustomsForm.cn23
    in_sdr = ctx.convert(value, currency, SDR)
    return CustomsForm.cn22 if in_sdr <= Decimal(ctx.values["cn22_max_sdr"]) \
        else CustomsForm.cn23


def ioss_for(order: CustomerOrder, value: Decimal, currency: str, on: date, *,
             ctx: CustomsContext | None = None) -> str | None:
    """Return the IOSS number for a consignment of ``value`` to the order's country, or None.

    ``value`` is the consignment's intrinsic value (the order's goods). The order's own IOSS
    number wins over the retailer's setting (see the module's rules).

    :raises ShippingError: if the value must be converted to EUR and no rate is known.
    """
    ctx = _ctx(on, ctx)
    if order.country not in ctx.values["eu_countries"]:
        return None
    number = (order.ioss_number or "").strip().upper() or ctx.values["ioss_number"] or None
    if not number:
        return None
    if ctx.convert(value, currency, "EUR") > Decimal(ctx.values["ioss_max_eur"]):
        return None
    return number


def is_dutiable(country: str, *, ctx: CustomsContext | None = None) -> bool:
    """Return whether every parcel to ``country`` is dutiable (no de minimis)."""
    countries = ctx.values["dutiable_countries"] if ctx is not None \
        else settings.get("dutiable_countries")
    return (country or "").upper() in countries


def customs_line_values(items: Iterable[tuple[CustomerOrderLine, int]], *,
                        defaults: Mapping | None = None) -> list[dict]:
    """Return the customs lines for ``(order line, quantity)`` items as column values.

    Quantities of the same order line are added up; lines come in the order's line order.
    Keys: the :class:`ParcelLine` columns but ``parcel_id``.

    :raises ShippingError: naming the SKU and the missing field when the catalog has no HS
        code, English description or origin for it (neither on the SKU nor its category).
    """
    quantities: dict[int, int] = {}
    lines: dict[int, CustomerOrderLine] = {}
    for line, qty in items:
        quantities[line.id] = quantities.get(line.id, 0) + int(qty)
        lines[line.id] = line
    if defaults is None and lines:
        defaults = category_customs_defaults()
    out = []
    for line_id in sorted(lines):
        line, qty = lines[line_id], quantities[line_id]
        if qty <= 0:
            continue
        sku = line.sku
        data = effective_customs(sku, defaults)
        missing = [FIELD_LABELS[k] for k in ("hs_code", "customs_description", "origin_country")
                   if not data[k].value]
        if missing:
            raise ShippingError(_(
                "SKU %(sku)s has no %(missing)s in the catalog, so its customs declaration "
                "cannot be made; enter it on the SKU or its category, then close the parcel "
                "again.", sku=sku.code, missing=_(" and no ").join(str(m) for m in missing)))
        out.append({
            "order_line_id": line.id, "sku_id": sku.id, "quantity": qty,
            "description": str(data["customs_description"].value)[:200],
            "hs_code": str(data["hs_code"].value).replace(".", "").replace(" ", "")[:10],
            "origin_country": str(data["origin_country"].value).upper()[:2],
            "net_weight_g": int(sku.weight_g or 0) * qty,
            "unit_value": Decimal(line.unit_price)})
    return out


def customs_lines_for(items: Iterable[tuple[CustomerOrderLine, int]], *,
                      defaults: Mapping | None = None) -> list[ParcelLine]:
    """Return the (unsaved) customs lines for ``(order line, quantity)`` items.

    See :func:`customs_line_values` for the rules and the error.
    """
    items = list(items)
    by_id = {line.id: line for line, _qty in items}
    return [ParcelLine(order_line=by_id[v["order_line_id"]], sku=by_id[v["order_line_id"]].sku,
                       **v) for v in customs_line_values(items, defaults=defaults)]


def declared_value(lines: Iterable[ParcelLine | Mapping]) -> Decimal:
    """Return the sum of the lines' values (lines or their column values)."""
    total = Decimal(0)
    for ln in lines:
        if isinstance(ln, Mapping):
            total += Decimal(ln["unit_value"]) * ln["quantity"]
        else:
            total += Decimal(ln.unit_value) * ln.quantity
    return total


def parcel_orders(parcel: Parcel) -> list[CustomerOrder]:
    """Return the orders whose goods the parcel carries: its own first, then those merged in.

    A merged parcel (erp.orders.services.merging) carries the lines of several orders.
    """
    found = {parcel.order_id: parcel.order}
    for line in parcel.lines:
        order = line.order_line.order
        found.setdefault(order.id, order)
    return list(found.values())


def check_customs(parcel: Parcel) -> None:
    """Check the parcel's customs lines are complete and add up to its declared value.

    :raises ShippingError: naming the parcel, the SKU and what is wrong.
    """
    if not parcel.lines:
        raise ShippingError(_("Parcel %(parcel)s has no customs lines; it must contain the "
                              "goods it declares.", parcel=parcel.number))
    for line in parcel.lines:
        code = line.sku.code if line.sku is not None else f"id {line.sku_id}"
        for attr, label in LINE_LABELS.items():
            if not (getattr(line, attr) or "").strip():
                raise ShippingError(_("Parcel %(parcel)s: the customs line of SKU %(sku)s has no "
                                      "%(field)s.", parcel=parcel.number, sku=code,
                                      field=label))
        if len(line.hs_code) < 6 or not line.hs_code.isdigit():
            raise ShippingError(_("Parcel %(parcel)s: the HS code %(hs)s of SKU %(sku)s must "
                                  "have at least 6 digits.", parcel=parcel.number,
                                  hs=repr(line.hs_code), sku=code))
        if not line.quantity or line.quantity <= 0:
            raise ShippingError(_("Parcel %(parcel)s: the customs line of SKU %(sku)s has no "
                                  "quantity.", parcel=parcel.number, sku=code))
    total = declared_value(parcel.lines)
    if total != Decimal(parcel.declared_value):
        raise ShippingError(_("Parcel %(parcel)s declares %(declared)s %(currency)s, but its "
                              "customs lines add up to %(total)s.", parcel=parcel.number,
                              declared=parcel.declared_value, currency=parcel.currency,
                              total=total))
