"""Sending customer returns back to their supplier: items graded C for a manufacturing defect.

After-sales sits above procurement, so this module calls procurement's supplier-return
services (procurement never reads after-sales). An item qualifies when it was graded C (it
sits in a scrap bin), its SKU is known, and its case's reason is one of the
``manufacturing_defect_reasons``. Its units go on a draft return to the supplier chosen, with
the source ``return_item`` and the item's id, never more units than the item holds across all
returns not cancelled.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from erp.aftersales.models import AfterSalesCase, Grade, ReasonCode, ReturnItem
from erp.core import audit
from erp.core import settings as core_settings
from erp.core.errors import DomainError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.extensions import db
from erp.procurement import services as procurement
from erp.procurement.models import Supplier
from erp.procurement.return_models import SupplierReturn, SupplierReturnState

#: the supplier-return source naming a customer return item
SOURCE = "return_item"


class SupplierReturnRefused(DomainError):
    """The item cannot go back to a supplier."""


def manufacturing_reason_codes() -> set[str]:
    """Return the reason codes the ``manufacturing_defect_reasons`` setting names."""
    raw = core_settings.get("manufacturing_defect_reasons") or ""
    return {c.strip().upper() for c in raw.split(",") if c.strip()}


def is_manufacturing_defect(reason: ReasonCode | None) -> bool:
    """Return whether a case's reason is a manufacturing defect (see the setting)."""
    return reason is not None and reason.code.upper() in manufacturing_reason_codes()


def returnable_quantity(item: ReturnItem) -> int:
    """Return the item's units not yet on a supplier return (cancelled returns excluded)."""
    return item.quantity - procurement.source_quantity_taken(SOURCE, item.id)


def can_send_to_supplier(item: ReturnItem) -> bool:
    """Return whether an item qualifies: graded C, SKU known, manufacturing reason, units left."""
    return (item.grade == Grade.C and item.sku_id is not None and item.location_id is not None
            and is_manufacturing_defect(item.case.reason) and returnable_quantity(item) > 0)


def supplier_choices(item: ReturnItem) -> list[Supplier]:
    """Return the suppliers to offer: the SKU's preferred and past suppliers first, then all.

    Only active suppliers; see :func:`erp.procurement.services.suppliers_for_sku`.
    """
    first = [s for s in procurement.suppliers_for_sku(item.sku_id) if s.active] \
        if item.sku_id else []
    rest = db.session.scalars(select(Supplier).where(Supplier.active.is_(True))
                              .order_by(Supplier.code)).all()
    return first + [s for s in rest if s not in first]


def send_item_to_supplier(item: ReturnItem, supplier: Supplier, *, actor,
                          unit_price: Decimal | None = None) -> SupplierReturn:
    """Put the item's remaining units on a draft return to ``supplier``.

    The supplier's latest draft return takes the line; without one a new draft is started.
    The item is locked first, so two people sending it at once cannot return it twice.

    :raises SupplierReturnRefused: if the item is not graded C for a manufacturing defect, has
        no SKU or bin, or has no units left to return.
    :raises SupplierReturnError: if procurement refuses the line (stock, price).
    """
    lock(item)
    case: AfterSalesCase = item.case
    if item.grade != Grade.C or item.sku_id is None or item.location_id is None:
        raise SupplierReturnRefused(_(
            "To send a returned item of case %(case)s to its supplier, it must be a known SKU "
            "graded C.", case=case.number))
    if not is_manufacturing_defect(case.reason):
        raise SupplierReturnRefused(_(
            'To send a returned item of case %(case)s to its supplier, the case\'s reason must '
            'be a manufacturing defect; it is "%(reason)s".', case=case.number,
            reason=case.reason.name))
    quantity = returnable_quantity(item)
    if quantity <= 0:
        raise SupplierReturnRefused(_(
            "The returned item of case %(case)s is already on a supplier return.",
            case=case.number))
    ret = db.session.scalar(
        select(SupplierReturn).where(SupplierReturn.supplier_id == supplier.id,
                                     SupplierReturn.state == SupplierReturnState.draft)
        .order_by(SupplierReturn.id.desc()).limit(1))
    if ret is None:
        ret = procurement.create_supplier_return(supplier, actor=actor)
    procurement.add_supplier_return_line(ret, procurement.ReturnLineSpec(
        item.sku_id, item.location_id, quantity, unit_price=unit_price,
        reason=_("customer return %(case)s: %(reason)s", case=case.number,
                 reason=case.reason.name)[:200],
        ref_type=SOURCE, ref_id=item.id, ref_limit=item.quantity), actor=actor)
    audit.record(case, "aftersales_case.sent_to_supplier", actor=actor, changes={
        "item": item.id, "quantity": quantity, "supplier": supplier.code,
        "supplier_return": ret.number})
    return ret
