"""How after-sales audit events read (see :func:`erp.core.audit.register`)."""

from __future__ import annotations

from sqlalchemy import select

from erp.aftersales.models import (
    CASE_STATES,
    REFUND_STATES,
    AfterSalesCase,
    Refund,
    ReturnItem,
)
from erp.core import audit
from erp.core.i18n import _, _l
from erp.extensions import db


def _case_of_item(ident: int) -> str | None:
    return db.session.scalar(select(AfterSalesCase.number).join(ReturnItem)
                             .where(ReturnItem.id == int(ident)))


def _case_of_refund(ident) -> str | None:
    number = db.session.scalar(select(AfterSalesCase.number).join(Refund)
                               .where(Refund.id == int(ident)))
    return _("refund of %(case)s", case=number) if number else None


audit.entity("aftersales_case", _l("Case"), states=CASE_STATES)
audit.entity("refund", _l("Refund"), states=REFUND_STATES, lookup=_case_of_refund)
audit.entity("reason_code", _l("Reason code"))
audit.reference("return_item", _case_of_item)
audit.known_texts([_l("within the refund approval threshold")])

#: the case types (values of CaseType)
CASE_TYPES = {
    "return_refund": _l("return and refund"),
    "return_replacement": _l("return and replacement"),
    "refund_only": _l("refund only"),
    "replacement_only": _l("replacement only"),
    "lost_parcel": _l("lost parcel"),
    "damaged": _l("damaged on arrival"),
}
VISIBILITY = {"internal": _l("internal"), "customer": _l("visible to the customer")}
REFUND_KINDS = {"refund": _l("refund"), "keep_it": _l("partial refund, customer keeps it"),
                "alteration": _l("alteration refund of a made-to-measure item")}

audit.fields({
    "type": _l("type"),
    "parcel": _l("parcel"),
    "window_override": _l("returns window overridden"),
    "return_tracking": _l("return tracking number"),
    "assigned_to": _l("assigned to"),
    "contact_name": _l("contact"),
    "contact_email": _l("contact e-mail"),
    "contact_phone": _l("contact phone"),
    "visibility": _l("visibility"),
    "attachment": _l("attachment"),
    "replacement_order": _l("replacement order"),
    "received": _l("received"),
    "grades": _l("grades"),
    "grade": _l("grade"),
    "item": _l("item"),
    "unexpected": _l("not expected"),
    "case": _l("case"),
    "refundable": _l("refundable"),
    "override": _l("override"),
    "exported_at": _l("exported at"),
    "sort_order": _l("sort order"),
})


def _items(values) -> str:
    parts = []
    for item in values or ():
        if not isinstance(item, dict):
            continue
        text = _("%(qty)s × %(sku)s", qty=audit.show(item.get("quantity")),
                 sku=audit.show(item.get("sku") or item.get("description")))
        if item.get("grade"):
            text = _("%(item)s grade %(grade)s", item=text, grade=item["grade"])
        if item.get("location"):
            text = _("%(item)s to %(bin)s", item=text, bin=item["location"])
        parts.append(text)
    return ", ".join(parts) or "—"


def _created(e: audit.Event) -> str:
    kind = e.raw("type")
    lines = e.raw("lines")
    goods = ", ".join(_("%(qty)s × %(sku)s", qty=audit.show(q), sku=sku)
                      for sku, q in lines.items()) if isinstance(lines, dict) else "—"
    return _("Case %(ref)s opened for order %(order)s: %(type)s, reason %(reason)s, "
             "%(goods)s.", ref=e.ref, order=e["order"], type=str(CASE_TYPES.get(kind, kind)),
             reason=e["reason"], goods=goods or "—")


def _awaiting_return(e: audit.Event) -> str:
    if e.has("return_tracking"):
        return _("Case %(ref)s accepted: waiting for the return (tracking %(tracking)s).",
                 ref=e.ref, tracking=e["return_tracking"])
    return _("Case %(ref)s accepted: waiting for the return.", ref=e.ref)


def _received(e: audit.Event) -> str:
    return _("Return of case %(ref)s received: %(items)s.", ref=e.ref,
             items=_items(e.raw("received")))


def _grades(e: audit.Event) -> str:
    grades = e.raw("grades")
    if isinstance(grades, dict):
        counts = ", ".join(_("grade %(grade)s: %(qty)s", grade=g, qty=audit.show(q))
                           for g, q in grades.items() if q)
        return _("Returned goods of case %(ref)s inspected (%(grades)s).", ref=e.ref,
                 grades=counts or "—")
    return _("Returned goods of case %(ref)s inspected: %(items)s.", ref=e.ref,
             items=_items(grades))


def _noted(e: audit.Event) -> str:
    visibility = e.raw("visibility")
    return _("Note added to case %(ref)s (%(visibility)s).", ref=e.ref,
             visibility=str(VISIBILITY.get(visibility, visibility or "—")))


def _assigned(e: audit.Event) -> str:
    if e.has("assigned_to"):
        return _("Case %(ref)s assigned to %(user)s.", ref=e.ref, user=e["assigned_to"])
    return _("Case %(ref)s unassigned.", ref=e.ref)


def _refund_requested(e: audit.Event) -> str:
    kind = e.raw("kind")
    return e.with_note(_("Refund of %(amount)s requested on case %(case)s (%(kind)s).",
                         amount=e["amount"], case=e["case"],
                         kind=str(REFUND_KINDS.get(kind, kind or "—"))))


def _reason_code(e: audit.Event) -> str:
    return _("Reason code %(ref)s \"%(name)s\" created.", ref=e.ref, name=e["name"])


audit.register_many({
    "aftersales_case.created": _created,
    "aftersales_case.awaiting_return": _awaiting_return,
    "aftersales_case.received": _received,
    "aftersales_case.return_inspected": _grades,
    "aftersales_case.inspected": _grades,
    "aftersales_case.resolved": _l("Case %(ref)s resolved."),
    "aftersales_case.closed": _l("Case %(ref)s closed."),
    "aftersales_case.rejected": _l("Case %(ref)s rejected."),
    "aftersales_case.open": _l("Case %(ref)s opened again."),
    "aftersales_case.noted": _noted,
    "aftersales_case.attached": _l("File %(filename)s attached to case %(ref)s."),
    "aftersales_case.contact_changed": audit.with_changes(_l(
        "Contact of case %(ref)s changed: %(changes)s.")),
    "aftersales_case.return_tracking": _l("Return tracking number of case %(ref)s set to "
                                          "%(return_tracking)s."),
    "aftersales_case.assigned": _assigned,
    "aftersales_case.replacement_created": _l("Replacement order %(replacement_order)s "
                                              "created for case %(ref)s."),
    "refund.requested": _refund_requested,
    "refund.approved": _l("Refund of %(amount)s on case %(case)s approved."),
    "refund.rejected": _l("Refund of %(amount)s on case %(case)s rejected."),
    "refund.exported": _l("Refund of %(amount)s on case %(ref)s exported for payment."),
    "reason_code.created": _reason_code,
    "reason_code.updated": audit.with_changes(_l("Reason code %(ref)s updated: "
                                                 "%(changes)s.")),
    "reason_code.activated": _l("Reason code %(ref)s activated."),
    "reason_code.deactivated": _l("Reason code %(ref)s deactivated."),
})

audit.fields({"return_warehouse": _l("warehouse the goods come back to")})
audit.register_many({
    "aftersales_case.return_warehouse": audit.with_changes(_l(
        "Where the goods of %(ref)s come back to changed: %(changes)s.")),
})

audit.register_many({
    "aftersales_case.sent_to_supplier": _l("Case %(ref)s: %(quantity)s returned units put on "
                                           "supplier return %(supplier_return)s to "
                                           "%(supplier)s."),
})
