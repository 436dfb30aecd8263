"""How made-to-order set-up and receipt audit events read (:func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.orders.models import ORDER_STATES
from erp.production.models import PRODUCTION_STATES, ProductionOrder

audit.entity("production_order", _l("Production order"), states=PRODUCTION_STATES)


def _production_order_ref(ident) -> str | None:
    return db.session.scalar(select(ProductionOrder.number)
                             .where(ProductionOrder.id == int(ident)))


# the stock moves of a receipt refer to "production_order:<id>"
audit.reference("production_order", _production_order_ref)

audit.fields({
    "made_to_order": _l("made to order"),
    "maker_id": _l("maker"),
    "maker": _l("maker"),
    "production_days": _l("production time (business days)"),
    "sizes": _l("standard sizes"),
    "made_to_measure": _l("made to measure"),
    "fields": _l("measurement template"),
    "inspection": _l("inspection lot"),
    "release_bin": _l("bin after inspection"),
})


def _received(e: audit.Event) -> str:
    if e.has("inspection"):
        return _("Production order %(ref)s received into inspection lot %(inspection)s in "
                 "%(bin)s: %(quantity)s to be reserved to order %(order)s in %(release_bin)s "
                 "once the lot is accepted or released.", **e.params())
    return _("Production order %(ref)s received into %(bin)s: %(quantity)s reserved to order "
             "%(order)s.", **e.params())


def _not_reserved(e: audit.Event) -> str:
    reason = e.raw("reason")
    if reason == "warehouse":
        why = _("the order holds goods in another warehouse")
    elif reason == "line_has_goods":
        why = _("its order line already has its goods")
    else:
        why = _('the order is "%(state)s"', state=ORDER_STATES.label(e.raw("order_state"))
                if e.has("order_state") else "?")
    return _("Inspection lot %(inspection)s of production order %(ref)s released %(quantity)s "
             "into %(bin)s; nothing was reserved to order %(order)s because %(why)s.",
             why=why, **e.params())


audit.register_many({
    "product.made_to_order_set": audit.with_changes(
        _l("Made-to-order set-up of product %(ref)s changed: %(changes)s.")),
    "production_order.received": _received,
    "production_order.lot_reserved": _l("Inspection lot %(inspection)s of production order "
                                        "%(ref)s released into %(bin)s: %(quantity)s reserved "
                                        "to order %(order)s."),
    "production_order.lot_not_reserved": _not_reserved,
})
