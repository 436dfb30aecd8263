"""How made-to-order set-up and receipt audit events read (:func:`erp.core.audit.register`)."""

from __future__ import annotations

from erp.core import audit
from erp.core.i18n import _l
from erp.production.models import PRODUCTION_STATES

audit.entity("production_order", _l("Production order"), states=PRODUCTION_STATES)

audit.fields({
    "made_to_order": _l("made to order"),
    "maker_id": _l("maker"),
    "maker": _l("maker"),
    "production_days": _l("production time (business days)"),
    "sizes": _l("standard sizes"),
    "made_to_measure": _l("made to measure"),
    "fields": _l("measurement template"),
})

audit.register_many({
    "product.made_to_order_set": audit.with_changes(
        _l("Made-to-order set-up of product %(ref)s changed: %(changes)s.")),
    "production_order.received": _l("Production order %(ref)s received into %(bin)s: "
                                    "%(quantity)s reserved to order %(order)s."),
})
