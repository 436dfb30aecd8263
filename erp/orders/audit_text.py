"""How the orders domain's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import _, _l, ngettext
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine


def _order_of_line(ident: int) -> str | None:
    return db.session.scalar(select(CustomerOrder.number).join(CustomerOrderLine)
                             .where(CustomerOrderLine.id == int(ident)))


def _order(ident: int) -> str | None:
    return db.session.scalar(select(CustomerOrder.number).where(CustomerOrder.id == int(ident)))


audit.entity("customer_order", _l("Order"), states=ORDER_STATES)
audit.entity("api_token", _l("API token"))
audit.reference("customer_order_line", _order_of_line)
audit.reference("customer_order", _order)

audit.fields({
    "channel": _l("channel"),
    "import": _l("imported from"),
    "reserved": _l("reserved"),
    "released": _l("reserved units released"),
    "hold_reason": _l("hold reason"),
    "prefix": _l("prefix"),
    "ship_name": _l("recipient"),
    "address1": _l("address line 1"),
    "address2": _l("address line 2"),
    "city": _l("city"),
    "region": _l("region"),
    "postal_code": _l("postcode"),
    "shipping_service": _l("shipping service"),
    "wave": _l("pick wave"),
    "batch": _l("dispatch batch"),
    "short": _l("short"),
})


def _units(mapping) -> int:
    """Return the units of ``{line id: quantity}`` (as allocation and short picks store)."""
    if not isinstance(mapping, dict):
        return 0
    return sum(int(v) for v in mapping.values() if isinstance(v, (int, float)))


def _released_from_hold(e: audit.Event) -> str | None:
    if "hold_reason" not in e.changes:
        return None
    return _("Order %(ref)s released from hold (it was held: %(reason)s); now %(state)s.",
             ref=e.ref, reason=e.before("hold_reason"), state=e["state"])


def _created(e: audit.Event) -> str:
    lines = ngettext("%(num)d line", "%(num)d lines", int(e.raw("lines") or 0))
    if e.has("import"):
        return _("Order %(ref)s imported from %(file)s (%(channel)s): %(lines)s, to "
                 "%(country)s.", ref=e.ref, file=e["import"], channel=e["channel"],
                 lines=lines, country=e["country"])
    return _("Order %(ref)s received from %(channel)s: %(lines)s, to %(country)s.", ref=e.ref,
             channel=e["channel"], lines=lines, country=e["country"])


def _allocated(e: audit.Event) -> str:
    return _released_from_hold(e) or _("Order %(ref)s allocated: %(units)s reserved.",
                                       ref=e.ref, units=ngettext(
                                           "%(num)d unit", "%(num)d units",
                                           _units(e.raw("reserved"))))


def _backordered(e: audit.Event) -> str:
    released = _released_from_hold(e)
    if released:
        return released
    if e.has("short"):
        return _("Order %(ref)s backordered: %(units)s short at picking in wave %(wave)s.",
                 ref=e.ref, units=ngettext("%(num)d unit", "%(num)d units",
                                           _units(e.raw("short"))),
                 wave=e["wave"] if e.has("wave") else "—")
    return _("Order %(ref)s backordered: not all of it is in stock (%(units)s reserved so "
             "far).", ref=e.ref, units=ngettext("%(num)d unit", "%(num)d units",
                                                _units(e.raw("reserved"))))


def _picking(e: audit.Event) -> str:
    released = _released_from_hold(e)
    if released:
        return released
    if e.has("wave"):
        return _("Order %(ref)s is being picked in wave %(wave)s.", ref=e.ref, wave=e["wave"])
    return e.with_note(_("Order %(ref)s goes back to the packing bench to be packed again.",
                         ref=e.ref))


def _packed(e: audit.Event) -> str:
    return _released_from_hold(e) or _("Order %(ref)s packed.", ref=e.ref)


def _new(e: audit.Event) -> str:
    return _released_from_hold(e) or _("Order %(ref)s is new again.", ref=e.ref)


def _shipped(e: audit.Event) -> str:
    if e.has("batch"):
        return _("Order %(ref)s shipped with dispatch batch %(batch)s.", ref=e.ref,
                 batch=e["batch"])
    return _("Order %(ref)s shipped.", ref=e.ref)


def _released(e: audit.Event) -> str:
    return ngettext("%(num)d reserved unit released", "%(num)d reserved units released",
                    int(e.raw("released") or 0))


def _on_hold(e: audit.Event) -> str:
    return e.with_note(_("Order %(ref)s put on hold; %(released)s.", ref=e.ref,
                         released=_released(e)))


def _cancelled(e: audit.Event) -> str:
    return e.with_note(_("Order %(ref)s cancelled; %(released)s.", ref=e.ref,
                         released=_released(e)))


def _numbers(e: audit.Event) -> str:
    return ", ".join(str(n) for n in (e.raw("orders") or []))


def _merged(e: audit.Event) -> str:
    return _("Orders %(orders)s merged into order %(ref)s: they ship in one parcel.",
             orders=_numbers(e), ref=e.ref)


def _merged_into(e: audit.Event) -> str:
    return _("Order %(ref)s merged into order %(primary)s: it ships in its parcel.", ref=e.ref,
             primary=e["merged_into"])


def _unmerged(e: audit.Event) -> str:
    return e.with_note(_("Order %(ref)s ships on its own again (no longer with %(primary)s).",
                         ref=e.ref, primary=e.before("merged_into")), key="because")


def _unmerged_orders(e: audit.Event) -> str:
    return e.with_note(_("Orders %(orders)s no longer ship with order %(ref)s.",
                         orders=_numbers(e), ref=e.ref), key="because")


def _split(e: audit.Event) -> str:
    return e.with_note(_("Order %(ref)s split: %(part)s ships some of its units.", ref=e.ref,
                         part=e["split_off"]), key="reason")


def _split_off(e: audit.Event) -> str:
    return e.with_note(_("Order %(ref)s split off order %(order)s.", ref=e.ref,
                         order=e["split_from"]), key="reason")


audit.register_many({
    "customer_order.merged": _merged,
    "customer_order.merged_into": _merged_into,
    "customer_order.unmerged": _unmerged,
    "customer_order.unmerged_orders": _unmerged_orders,
    "customer_order.split": _split,
    "customer_order.split_off": _split_off,
    "customer_order.created": _created,
    "customer_order.new": _new,
    "customer_order.allocated": _allocated,
    "customer_order.backordered": _backordered,
    "customer_order.picking": _picking,
    "customer_order.packed": _packed,
    "customer_order.shipped": _shipped,
    "customer_order.delivered": _l("Order %(ref)s delivered."),
    "customer_order.on_hold": _on_hold,
    "customer_order.cancelled": _cancelled,
    "customer_order.address_changed": audit.with_changes(_l(
        "Shipping address of order %(ref)s changed: %(changes)s.")),
    "api_token.created": _l("API token %(ref)s created (prefix %(prefix)s)."),
    "api_token.revoked": _l("API token %(ref)s revoked."),
})
