"""How purchasing's audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.core import audit
from erp.core.i18n import _, _l
from erp.extensions import db
from erp.procurement.models import (
    LANDED_COST_STATES,
    PURCHASE_ORDER_STATES,
    RECEIPT_STATES,
    LandedCost,
    PurchaseOrder,
    Receipt,
    ReceiptLine,
)


def _purchase_order(ident) -> str | None:
    """Return the order's number; None for a draft never numbered (it reads as ``#id``)."""
    return db.session.scalar(select(PurchaseOrder.number).where(PurchaseOrder.id == int(ident)))


def _receipt_of_line(ident: int) -> str | None:
    return db.session.scalar(select(Receipt.number).join(ReceiptLine)
                             .where(ReceiptLine.id == int(ident)))


audit.entity("purchase_order", _l("Purchase order"), states=PURCHASE_ORDER_STATES,
             lookup=_purchase_order)
audit.entity("receipt", _l("Receipt"), states=RECEIPT_STATES)
audit.entity("supplier", _l("Supplier"))
audit.entity("supplier_item", _l("Supplier price"))
audit.reference("receipt_line", _receipt_of_line)
audit.known_texts([_l("within the approval threshold")])

audit.fields({
    "supplier": _l("supplier"),
    "contact_name": _l("contact"),
    "payment_terms": _l("payment terms"),
    "lead_time_days": _l("lead time (days)"),
    "supplier_code": _l("supplier's code"),
    "moq": _l("minimum order quantity"),
    "pack_multiple": _l("pack multiple"),
    "preferred": _l("preferred"),
    "ordered_on": _l("ordered on"),
    "total": _l("total"),
    "total_base": _l("total in base currency"),
    "approval_threshold": _l("approval threshold"),
    "receipt": _l("receipt"),
    "receipt_reversed": _l("receipt reversed"),
    "cancelled": _l("cancelled"),
    "unit_cost_base": _l("unit cost (base currency)"),
    "number": _l("number"),
})


def _items(values, qty: str = "quantity") -> str:
    """Return ``[{"sku": .., "quantity": ..}, ...]`` as "50 × SKU-A, 20 × SKU-B"."""
    return ", ".join(_("%(qty)s × %(sku)s", qty=audit.show(item.get(qty)),
                       sku=audit.show(item.get("sku")))
                     for item in values or () if isinstance(item, dict)) or "—"


def _expected_date_changed(e: audit.Event) -> str:
    if e.has("sku"):
        return _("Purchase order %(ref)s: expected date of %(sku)s changed from %(old)s to "
                 "%(new)s.", ref=e.ref, sku=e["sku"], old=e.before("expected_date"),
                 new=e["expected_date"])
    return _("Expected date of purchase order %(ref)s changed from %(old)s to %(new)s.",
             ref=e.ref, old=e.before("expected_date"), new=e["expected_date"])


def _approved(e: audit.Event) -> str:
    if e.has("total"):  # submitted under the threshold: approved on the spot
        return _("Purchase order %(ref)s submitted and approved at once: its total "
                 "%(total)s is within the approval threshold.", ref=e.ref, total=e["total"])
    return e.with_note(_("Purchase order %(ref)s approved.", ref=e.ref))


def _ordered(e: audit.Event) -> str:
    if e.has("receipt_reversed"):
        return e.with_note(_("Purchase order %(ref)s is ordered again: receipt %(receipt)s "
                             "was reversed.", ref=e.ref, receipt=e["receipt_reversed"]))
    if e.has("expected_date"):
        return _("Purchase order %(ref)s sent to the supplier on %(ordered_on)s, expected "
                 "%(expected_date)s.", ref=e.ref, ordered_on=e["ordered_on"],
                 expected_date=e["expected_date"])
    return _("Purchase order %(ref)s sent to the supplier on %(ordered_on)s.", ref=e.ref,
             ordered_on=e["ordered_on"])


def _partially_received(e: audit.Event) -> str:
    if e.has("receipt_reversed"):
        return e.with_note(_("Purchase order %(ref)s is partially received again: receipt "
                             "%(receipt)s was reversed.", ref=e.ref,
                             receipt=e["receipt_reversed"]))
    return _("Purchase order %(ref)s partially received with receipt %(receipt)s.", ref=e.ref,
             receipt=e["receipt"])


def _closed(e: audit.Event) -> str:
    if e.has("cancelled"):
        return e.with_note(_("Purchase order %(ref)s closed short; not delivered: %(lines)s.",
                             ref=e.ref, lines=_items(e.raw("cancelled"))))
    return e.with_note(_("Purchase order %(ref)s closed.", ref=e.ref))


def _receipt_posted(e: audit.Event) -> str:
    return _("Receipt %(ref)s posted for purchase order %(order)s: %(lines)s received into "
             "%(bin)s.", ref=e.ref, order=e["order"], lines=_items(e.raw("lines")),
             bin=e["bin"])


audit.register_many({
    "purchase_order.created": _l("Draft purchase order %(ref)s created for supplier "
                                 "%(supplier)s in %(currency)s."),
    "purchase_order.updated": audit.with_changes(_l("Purchase order %(ref)s updated: "
                                                    "%(changes)s.")),
    "purchase_order.line_added": _l("Purchase order %(ref)s: line added, %(quantity)s × "
                                    "%(sku)s at %(unit_price)s."),
    "purchase_order.line_updated": audit.with_changes(_l(
        "Purchase order %(ref)s: line %(sku)s changed: %(changes)s.")),
    "purchase_order.line_removed": _l("Purchase order %(ref)s: line %(quantity)s × %(sku)s "
                                      "removed."),
    "purchase_order.expected_date_changed": _expected_date_changed,
    "purchase_order.draft": _l("Purchase order %(ref)s sent back to draft."),
    "purchase_order.awaiting_approval": _l("Purchase order %(ref)s submitted for approval: "
                                           "total %(total)s (%(total_base)s), above the "
                                           "threshold of %(approval_threshold)s."),
    "purchase_order.approved": _approved,
    "purchase_order.ordered": _ordered,
    "purchase_order.partially_received": _partially_received,
    "purchase_order.received": _l("Purchase order %(ref)s fully received with receipt "
                                  "%(receipt)s."),
    "purchase_order.closed": _closed,
    "purchase_order.cancelled": _l("Purchase order %(ref)s cancelled."),
    "receipt.posted": _receipt_posted,
    "receipt.reversed": _l("Receipt %(ref)s reversed."),
    "supplier.created": _l("Supplier %(ref)s \"%(name)s\" created."),
    "supplier.updated": audit.with_changes(_l("Supplier %(ref)s updated: %(changes)s.")),
    "supplier.deactivated": _l("Supplier %(ref)s deactivated."),
    "supplier.reactivated": _l("Supplier %(ref)s reactivated."),
    "supplier_item.created": _l("Price list of supplier %(supplier)s: %(sku)s added at "
                                "%(unit_price)s %(currency)s."),
    "supplier_item.updated": audit.with_changes(_l(
        "Price list of supplier %(supplier)s: %(sku)s changed: %(changes)s.")),
    "supplier_item.removed": _l("Price list of supplier %(supplier)s: %(sku)s removed."),
})


# --------------------------------------------------------------------------- landed cost


def _landed_cost(ident) -> str | None:
    return db.session.scalar(select(LandedCost.number).where(LandedCost.id == int(ident)))


def _landed_cost_drafted(verb):
    def sentence(e: audit.Event) -> str:
        charges = ", ".join(
            f"{audit.show(c.get('kind'))} {audit.show(c.get('amount'))} {c.get('currency')}"
            for c in (e.raw("charges") or []))
        receipts = ", ".join(str(r) for r in (e.raw("receipts") or []))
        return verb(e.ref, charges, receipts)
    return sentence


audit.entity("landed_cost", _l("Landed cost"), states=LANDED_COST_STATES, lookup=_landed_cost)
audit.reference("landed_cost", _landed_cost)
audit.fields({"revaluation": _l("revaluation"), "variance": _l("variance"),
              "charges": _l("charges"), "receipts": _l("receipts"), "method": _l("split by")})
audit.known_texts([_l("freight"), _l("duty"), _l("insurance"), _l("other"), _l("value"),
                   _l("weight"), _l("quantity")])
audit.register_many({
    "landed_cost.created": _landed_cost_drafted(
        lambda ref, charges, receipts: _("Landed cost %(ref)s drafted: %(charges)s on "
                                         "%(receipts)s.", ref=ref, charges=charges,
                                         receipts=receipts)),
    "landed_cost.updated": _landed_cost_drafted(
        lambda ref, charges, receipts: _("Landed cost %(ref)s changed: %(charges)s on "
                                         "%(receipts)s.", ref=ref, charges=charges,
                                         receipts=receipts)),
    "landed_cost.posted": _l("Landed cost %(ref)s posted: %(total_base)s %(currency)s, of "
                             "which %(revaluation)s revalued stock on hand and %(variance)s "
                             "went to variance."),
    "landed_cost.reversed": _l("Landed cost %(ref)s reversed: %(revaluation)s off stock on "
                               "hand, %(variance)s off variance."),
})


# --------------------------------------------------------------------------- supplier returns


def _supplier_return_line(ident: int) -> str | None:
    from erp.procurement.return_models import SupplierReturn, SupplierReturnLine

    return db.session.scalar(select(SupplierReturn.number).join(SupplierReturnLine)
                             .where(SupplierReturnLine.id == int(ident)))


def _return_shipped(e: audit.Event) -> str:
    return _("Supplier return %(ref)s shipped; debit note %(claim)s raised for %(amount)s.",
             ref=e.ref, claim=e["claim"], amount=e["amount"])


def _payment_recorded(e: audit.Event) -> str:
    claims = ", ".join(str(c) for c in e.raw("claims") or ()) or "—"
    return _("Payment of %(amount)s %(currency)s to supplier %(supplier)s on %(paid_on)s "
             "recorded; claims deducted: %(claims)s.", amount=e["amount"],
             currency=e["currency"], supplier=e["supplier"], paid_on=e["paid_on"],
             claims=claims)


from erp.procurement.return_models import (  # noqa: E402 - after the PO texts, same registry
    SUPPLIER_CLAIM_STATES,
    SUPPLIER_RETURN_STATES,
)

audit.entity("supplier_return", _l("Supplier return"), states=SUPPLIER_RETURN_STATES)
audit.entity("supplier_claim", _l("Claim"), states=SUPPLIER_CLAIM_STATES)
audit.entity("supplier_payment", _l("Supplier payment"))
audit.reference("supplier_return_line", _supplier_return_line)


def _quarantine_bin(ident: int) -> str | None:
    from erp.warehouse.models import Location

    location = db.session.get(Location, int(ident))
    return _("quarantine bin %(bin)s", bin=location.label) if location is not None else None


audit.reference("quarantine", _quarantine_bin)
audit.fields({"claim": _l("debit note"), "amount": _l("amount"), "reason": _l("reason"),
              "source": _l("source"), "paid_on": _l("paid on"), "claims": _l("claims")})
audit.register_many({
    "supplier_return.created": _l("Draft supplier return %(ref)s created for supplier "
                                  "%(supplier)s in %(currency)s."),
    "supplier_return.line_added": _l("Supplier return %(ref)s: %(quantity)s × %(sku)s from "
                                     "%(bin)s added at %(unit_price)s."),
    "supplier_return.line_removed": _l("Supplier return %(ref)s: line %(quantity)s × %(sku)s "
                                       "removed."),
    "supplier_return.shipped": _return_shipped,
    "supplier_return.closed": _l("Supplier return %(ref)s closed."),
    "supplier_return.cancelled": _l("Supplier return %(ref)s cancelled."),
    "supplier_claim.raised": _l("Debit note %(ref)s raised on supplier return %(return)s for "
                                "%(amount)s %(currency)s."),
    "supplier_claim.approved": _l("Debit note %(ref)s approved."),
    "supplier_claim.settled": _l("Debit note %(ref)s settled by a payment."),
    "supplier_claim.cancelled": _l("Debit note %(ref)s cancelled."),
    "supplier_payment.recorded": _payment_recorded,
})
