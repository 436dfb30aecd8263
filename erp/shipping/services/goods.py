"""Which goods a shipping service carries: batteries, liquids, magnets and the like.

A service accepts only the goods attributes it lists (:class:`ServiceGoodsLimit`), each with an
optional limit per parcel: lithium cells for the battery attributes, units for the others.
Routing asks it of an order's goods before choosing a service, and packing of a parcel's goods
before closing it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from sqlalchemy import select

from erp.catalog.transport import NOTHING, Transport, transport_of
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _, format_number, ngettext
from erp.extensions import db
from erp.shipping.models import (
    CELL_ATTRIBUTES,
    GOODS_ATTRIBUTE_LABELS,
    GoodsAttribute,
    ServiceGoodsLimit,
    ShippingService,
)


def goods_counts(items: Iterable[tuple[int, int]],
                 transports: Mapping[int, Transport] | None = None) -> Counter[str]:
    """Count the goods attributes of ``(sku_id, quantity)`` items: cells or units of each.

    :param transports: the SKUs' attributes when the caller read them already
        (:func:`erp.catalog.transport.transport_of`); read here otherwise.
    """
    items = list(items)
    if transports is None:
        transports = transport_of(sku_id for sku_id, _q in items)
    counts: Counter[str] = Counter()
    for sku_id, quantity in items:
        transport = transports.get(sku_id, NOTHING)
        for attribute in transport.attributes():
            per_unit = transport.cells if attribute.startswith("battery_") else 1
            counts[attribute] += per_unit * int(quantity)
    return counts


def limits_of(service_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Return ``{service id: {attribute: max per parcel (0: no limit)}}`` in one query."""
    out: dict[int, dict[str, int]] = {sid: {} for sid in service_ids}
    if not out:
        return out
    for row in db.session.execute(
            select(ServiceGoodsLimit.service_id, ServiceGoodsLimit.attribute,
                   ServiceGoodsLimit.max_per_parcel)
            .where(ServiceGoodsLimit.service_id.in_(list(out)))):
        out[row.service_id][GoodsAttribute(row.attribute).value] = row.max_per_parcel
    return out


def goods_refusal(service_name: str, counts: Mapping[str, int], limits: Mapping[str, int]
                  ) -> str | None:
    """Return why a service refuses goods with these attribute counts, or None if it takes them.

    The first refusal in attribute order: one the service does not accept at all, then one over
    its limit, e.g. "Registered air mail does not accept battery alone." or "... takes at most
    2 lithium cells a parcel; these goods have 4."
    """
    for attribute in GoodsAttribute:
        count = counts.get(attribute.value, 0)
        if not count:
            continue
        label = GOODS_ATTRIBUTE_LABELS[attribute]
        if attribute.value not in limits:
            return _("%(service)s does not accept goods with %(attribute)s.",
                     service=service_name, attribute=label)
        most = limits[attribute.value]
        if most and count > most:
            if attribute in CELL_ATTRIBUTES:
                return _("%(service)s takes at most %(most)s lithium cells (%(attribute)s) a "
                         "parcel; these goods have %(count)s.", service=service_name,
                         most=format_number(most), attribute=label, count=format_number(count))
            return ngettext("%(service)s takes at most %(most)s unit with %(attribute)s a "
                            "parcel; these goods have %(count)s.",
                            "%(service)s takes at most %(most)s units with %(attribute)s a "
                            "parcel; these goods have %(count)s.", most, service=service_name,
                            most=format_number(most), attribute=label,
                            count=format_number(count))
    return None


def refusal_for_items(service: ShippingService, items: Iterable[tuple[int, int]]) -> str | None:
    """Return why ``service`` refuses a parcel of ``(sku_id, quantity)`` items, or None."""
    counts = goods_counts(items)
    if not counts:
        return None
    return goods_refusal(service.name, counts, limits_of([service.id])[service.id])


def set_goods_limits(service: ShippingService, limits: Mapping[str, int | None], *, actor
                     ) -> ShippingService:
    """Replace the goods attributes ``service`` accepts: ``{attribute: max per parcel}``.

    An attribute absent (or mapped to None) is refused; 0 accepts it without a limit.

    :raises ValidationError: for an unknown attribute or a limit that is not a whole number >= 0.
    """
    wanted: dict[str, int] = {}
    for key, value in limits.items():
        if value is None:
            continue
        try:
            attribute = GoodsAttribute(str(key).strip())
        except ValueError:
            raise ValidationError(_("Unknown goods attribute %(value)s; use one of %(choices)s.",
                                    value=key, choices=", ".join(a.value for a in
                                                                 GoodsAttribute)),
                                  field="goods_limits") from None
        try:
            most = int(str(value).strip() or 0)
        except ValueError:
            most = -1
        if most < 0:
            raise ValidationError(_("The limit of %(attribute)s must be a whole number, 0 for "
                                    "no limit; got %(value)s.",
                                    attribute=GOODS_ATTRIBUTE_LABELS[attribute], value=value),
                                  field=f"limit_{attribute.value}")
        wanted[attribute.value] = most
    current = {GoodsAttribute(r.attribute).value: r for r in service.goods_limits}
    before = {k: r.max_per_parcel for k, r in current.items()}
    if before == wanted:
        return service
    for key, row in current.items():
        if key not in wanted:
            service.goods_limits.remove(row)
        else:
            row.max_per_parcel = wanted[key]
    for key, most in wanted.items():
        if key not in current:
            service.goods_limits.append(ServiceGoodsLimit(attribute=GoodsAttribute(key),
                                                          max_per_parcel=most))
    audit.record(service, "shipping_service.goods_limits", actor=actor,
                 changes={"goods_limits": [before, wanted]})
    db.session.flush()
    return service
