"""How production orders' audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.production.models import PRODUCTION_STATES, ProductionOrder


def _production_order(ident) -> str | None:
    return db.session.scalar(select(ProductionOrder.number)
                             .where(ProductionOrder.id == int(ident)))


def _cancelled(e: audit.Event) -> str:
    if e.has("cancel_fee") and e.raw("cancel_fee"):
        return e.with_note(_("Production order %(ref)s cancelled after production started: fee "
                             "%(fee)s.", ref=e.ref, fee=e["cancel_fee"]))
    return e.with_note(_("Production order %(ref)s cancelled before production started, free "
                         "of charge.", ref=e.ref))


audit.entity("production_order", _l("Production order"), states=PRODUCTION_STATES,
             lookup=_production_order)
audit.fields({
    "maker": _l("maker"),
    "due_date": _l("due date"),
    "paid_on": _l("paid on"),
    "cancel_fee": _l("cancellation fee"),
    "production_fee": _l("production cancellation fee"),
    "production_cancelled": _l("production orders cancelled"),
})
audit.register_many({
    "production_order.created": _l("Production order %(ref)s placed with %(maker)s for "
                                   "order %(order)s: %(quantity)s × %(sku)s, due "
                                   "%(due_date)s."),
    "production_order.in_production": _l("Production order %(ref)s: the maker started "
                                         "production."),
    "production_order.finished": _l("Production order %(ref)s: the maker finished the goods."),
    "production_order.shipped": _l("Production order %(ref)s: the maker shipped the goods to "
                                   "the warehouse."),
    "production_order.cancelled": _cancelled,
    "production_order.fee_charged": _l("Production order %(ref)s was already received when "
                                       "its order was cancelled: the goods stay in stock, fee "
                                       "%(cancel_fee)s."),
})
