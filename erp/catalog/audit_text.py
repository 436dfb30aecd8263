"""How the catalog's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from erp.core import audit
from erp.core.i18n import _, _l

audit.entity("category", _l("Category"))
audit.entity("product", _l("Product"))
audit.entity("sku", _l("SKU"))

audit.fields({
    "parent": _l("parent category"),
    "hs_code": _l("HS code"),
    "customs_description": _l("customs description"),
    "origin_country": _l("country of origin"),
    "brand_id": _l("brand"),
    "category_id": _l("category"),
    "spec_version_id": _l("specification version"),
    "product": _l("product"),
    "barcode": _l("barcode"),
    "barcode_kind": _l("barcode type"),
    "colour": _l("colour"),
    "declared_value": _l("declared value"),
    "declared_currency": _l("declared value currency"),
    "list_price": _l("list price"),
    "list_currency": _l("list price currency"),
    "avg_cost": _l("average cost"),
    "reorder_point": _l("reorder point"),
    "reorder_qty": _l("reorder quantity"),
    # transport attributes (— : inherited)
    "battery": _l("battery"),
    "battery_cells": _l("battery cells"),
    "liquid": _l("liquid"),
    "powder": _l("powder"),
    "magnet": _l("magnet"),
    "flammable": _l("flammable (perfume)"),
    "sharp": _l("sharp"),
    # Chinese export customs data (— : inherited)
    "cn_hs_code": _l("Chinese HS code"),
    "cn_name": _l("Chinese customs name"),
    "cn_elements": _l("declaration elements"),
    "cn_sale_unit": _l("sale unit"),
    "cn_unit1": _l("first legal unit"),
    "cn_factor1": _l("first unit factor"),
    "cn_unit2": _l("second legal unit"),
    "cn_factor2": _l("second unit factor"),
})


def _customs_confirmed(e: audit.Event) -> str:
    if e.raw("state") == "changed":
        return _("Customs data of product %(ref)s confirmed again after a change.", ref=e.ref)
    return _("Customs data of product %(ref)s confirmed.", ref=e.ref)


def _sku_imported(e: audit.Event) -> str:
    return _("SKU workbook %(file)s imported: %(created)s created, %(updated)s updated, "
             "%(unchanged)s unchanged; products: %(products_created)s created, "
             "%(products_updated)s updated.", file=e.ref, created=e["created"],
             updated=e["updated"], unchanged=e["unchanged"],
             products_created=e["products_created"], products_updated=e["products_updated"])


def _sku_status(e: audit.Event) -> str:
    if e.raw("status") == "discontinued":
        return _("SKU %(ref)s discontinued.", ref=e.ref)
    return _("SKU %(ref)s active again.", ref=e.ref)


#: why a cost changed: the kind of stock move that brought goods in (its first word)
_COST_REASONS = {
    "receipt": _l("goods received"),
    "receipt_reversal": _l("receipt reversed"),
    "return_receipt": _l("return received"),
    "adjustment": _l("stock adjustment"),
    "count": _l("cycle count"),
    "opening": _l("opening stock"),
    "transfer": _l("transfer"),
}


def _cost_changed(e: audit.Event) -> str:
    reason = str(e.raw("reason") or "")
    word = reason.split(" ", 1)[0]
    shown = str(_COST_REASONS[word]) if word in _COST_REASONS else (reason or "—")
    return _("Average cost of SKU %(ref)s changed from %(old)s to %(new)s (%(reason)s).",
             ref=e.ref, old=e.before("avg_cost"), new=e["avg_cost"], reason=shown)


audit.register_many({
    "category.created": _l("Category %(ref)s \"%(name)s\" created."),
    "category.updated": audit.with_changes(_l("Category %(ref)s updated: %(changes)s.")),
    "category.moved": _l("Category %(ref)s moved from %(parent_before)s to %(parent)s."),
    "product.created": _l("Product %(ref)s \"%(name)s\" created."),
    "product.updated": audit.with_changes(_l("Product %(ref)s updated: %(changes)s.")),
    "sku.created": _l("SKU %(ref)s created."),
    "sku.updated": audit.with_changes(_l("SKU %(ref)s updated: %(changes)s.")),
    "sku.status_changed": _sku_status,
    "sku.cost_changed": _cost_changed,
    "sku.imported": _sku_imported,
    "product.customs_confirmed": _customs_confirmed,
})
