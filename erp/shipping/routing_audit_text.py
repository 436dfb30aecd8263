"""How the shipping rules' audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from erp.core import audit
from erp.core.i18n import _l
from erp.shipping.routing_models import RULE_VERSION_STATES

audit.entity("rule_version", _l("Shipping rule version"), states=RULE_VERSION_STATES)
audit.entity("routing_rule", _l("Shipping rule"))
audit.fields({
    "copied_from": _l("copied from"),
    "rules": _l("rules"),
    "countries": _l("countries"),
    "regions": _l("regions"),
    "postcode_prefixes": _l("postcode prefixes"),
    "min_weight_g": _l("minimum weight (g)"),
    "max_weight_g": _l("maximum weight (g)"),
    "min_value": _l("minimum value"),
    "max_value": _l("maximum value"),
    "value_currency": _l("value currency"),
    "goods_required": _l("goods with any of"),
    "goods_excluded": _l("goods with none of"),
    "service_class": _l("service class"),
    "sku_codes": _l("SKU codes"),
    "brand_codes": _l("brand codes"),
    "services": _l("services"),
})
audit.register_many({
    "rule_version.created": _l("Shipping rules v%(ref)s started as a draft."),
    "rule_version.copied": _l("Shipping rules v%(ref)s started as a copy of %(copied_from)s "
                              "(%(rules)s rules)."),
    "rule_version.active": _l("Shipping rules v%(ref)s activated."),
    "rule_version.retired": _l("Shipping rules v%(ref)s retired."),
    "rule_version.discarded": _l("Draft shipping rules v%(ref)s discarded."),
    "rule_version.imported": _l("Shipping rules v%(ref)s: %(rules)s rules imported from Excel."),
    "routing_rule.created": _l("Shipping rule \"%(name)s\" added to %(version)s at position "
                               "%(position)s."),
    "routing_rule.updated": audit.with_changes(_l("Shipping rule %(ref)s of %(version)s "
                                                  "changed: %(changes)s.")),
    "routing_rule.deleted": _l("Shipping rule \"%(name)s\" deleted from %(version)s."),
    "routing_rule.moved": _l("Shipping rule %(ref)s of %(version)s moved."),
    "customer_order.service_routed": _l("Order %(ref)s: the shipping rules (rule %(reason)s) "
                                        "changed its service at packing."),
})
