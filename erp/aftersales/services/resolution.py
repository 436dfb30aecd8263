"""Resolution: refunds (with manager approval), keep-it refunds and replacement orders.

A refund records an amount in the order's currency; it never exceeds what the case's lines are
worth (unit price x quantity, minus refunds already approved or pending) unless a manager
overrides it. A refund above the ``refund_approval_threshold`` setting (converted to the base
currency) waits for a manager; others are approved at once. Approval and rejection go through
``REFUND_STATES`` and are audited. A manager never approves a refund he requested himself.

Resolution rules: a refund-only, lost-parcel or damaged case resolves when its refund is
approved (``open -> resolved``); a keep-it refund resolves an open return case (the customer
keeps the goods, nothing comes back, no stock moves); a return case resolves after inspection
(:func:`resolve_after_inspection`). A replacement is a new customer order through the order
services, allocated at once and linked to the case.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import (
    CASE_STATES,
    REFUND_STATES,
    AfterSalesCase,
    CaseLine,
    CaseState,
    CaseType,
    Refund,
    RefundKind,
    RefundState,
)
from erp.aftersales.services.cases import mark_resolved, type_name
from erp.core import audit, events
from erp.core import settings as core_settings
from erp.core.errors import PermissionDenied, ValidationError
from erp.core.i18n import _, format_money
from erp.core.locking import lock
from erp.core.models import User, utcnow
from erp.core.money import CENT, convert, round_amount, to_decimal
from erp.core.permissions import has_permission
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.orders.services import (
    OrderRejected,
    allocate_order,
    create_order,
    validate_order_payload,
)

C = CaseState
R = RefundState
#: cases settled by a refund without any goods coming back
REFUND_RESOLVES = frozenset({CaseType.refund_only, CaseType.lost_parcel, CaseType.damaged})
#: return cases settled by a refund once their goods are inspected
REFUND_AFTER_RETURN = frozenset({CaseType.return_refund, CaseType.wrong_item})
#: cases that get a replacement order from ``open``
REPLACE_FROM_OPEN = frozenset({CaseType.replacement_only, CaseType.lost_parcel,
                               CaseType.damaged, CaseType.wrong_item})
#: cases that get a replacement order after inspection
REPLACE_AFTER_INSPECTION = frozenset({CaseType.return_replacement, CaseType.wrong_item})
#: case states in which no refund may be requested any more
NO_REFUND_STATES = frozenset({C.closed, C.rejected})
MAX_AMOUNT = Decimal("1e10")


def _type_label(case: AfterSalesCase) -> str:
    return type_name(case.case_type)


def _state(case: AfterSalesCase) -> str:
    return CASE_STATES.label(case.state)


def _clean(value: str | None, limit: int) -> str | None:
    text = (value or "").strip()
    if len(text) > limit:
        raise ValidationError(_("Keep the note within %(num)s characters.", num=limit),
                              field="note")
    return text or None


# --------------------------------------------------------------------------- amounts


def case_value(case: AfterSalesCase) -> Decimal:
    """Return what the case's lines are worth: unit price x quantity, in the order currency."""
    return round_amount(sum((line.order_line.unit_price * line.quantity for line in case.lines),
                            Decimal(0)))


def refunded_amount(case: AfterSalesCase, *, exclude: Refund | None = None) -> Decimal:
    """Return the refunds of the case approved or pending (``exclude`` left out)."""
    stmt = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.case_id == case.id, Refund.state.in_([R.approved, R.pending]))
    if exclude is not None and exclude.id is not None:
        stmt = stmt.where(Refund.id != exclude.id)
    return round_amount(Decimal(db.session.scalar(stmt) or 0))


def refundable_amount(case: AfterSalesCase) -> Decimal:
    """Return what may still be refunded without override: the lines' value minus refunds.

    Refunds already approved or pending count; rejected ones do not. Never below zero.
    """
    return max(Decimal("0.00"), case_value(case) - refunded_amount(case))


def _amount(value, case: AfterSalesCase) -> Decimal:
    amount = to_decimal(value, field="amount")
    if amount <= 0:
        raise ValidationError(_("The refund for %(case)s must be more than zero.",
                                case=case.number), field="amount")
    if amount != amount.quantize(CENT):
        raise ValidationError(_("The refund for %(case)s may have at most 2 decimals, got "
                                "%(amount)s.", case=case.number, amount=amount), field="amount")
    if amount >= MAX_AMOUNT:
        raise ValidationError(_("The refund for %(case)s is too large.", case=case.number),
                              field="amount")
    return amount.quantize(CENT)


def _to_base(amount: Decimal, currency: str) -> Decimal:
    return convert(amount, currency, core_settings.base_currency(), on=date.today(), places=CENT)


def needs_approval(amount: Decimal, currency: str) -> bool:
    """Return whether a refund of ``amount`` waits for a manager (above the threshold)."""
    return _to_base(amount, currency) > core_settings.get("refund_approval_threshold")


# --------------------------------------------------------------------------- refunds


def can_request_refund(case: AfterSalesCase, user) -> bool:
    """Return whether ``user`` may request a refund on the case now."""
    return (case.state not in NO_REFUND_STATES
            and (has_permission(user, "aftersales.edit")
                 or has_permission(user, "aftersales.approve")))


def can_keep_it(case: AfterSalesCase) -> bool:
    """Return whether a keep-it refund is possible: goods would come back, case still open."""
    return case.expects_return and case.state == C.open


def request_refund(case: AfterSalesCase, *, amount, actor: User | None,
                   kind: RefundKind | str = RefundKind.refund, note: str | None = None,
                   override: bool = False, currency: str | None = None) -> Refund:
    """Request a refund for the case, in the order's currency; approve it at once if it may be.

    A refund above the approval threshold (in base currency) is left ``pending`` for a manager;
    otherwise it is approved now, and the case resolves when its type is settled by a refund
    (refund only, lost parcel, damaged) or when it is a keep-it refund.

    :param override: allow an amount above what the lines are worth (needs
        ``aftersales.approve``).
    :param currency: when given, must be the order's currency.
    :raises ValidationError: an amount that is not positive or has more than 2 decimals, or a
        currency other than the order's.
    :raises AfterSalesError: above the refundable amount without override, a case closed or
        rejected, a keep-it refund on a case whose goods do not come back or that is not open.
    :raises PermissionDenied: an override by a user without ``aftersales.approve``.
    """
    try:
        kind = RefundKind(kind)
    except ValueError:
        raise ValidationError(_("Unknown refund kind %(kind)s.", kind=repr(kind)),
                              field="kind") from None
    # The case owns the refundable amount: lock it, then read its state and refunds, so two
    # requests at once queue and the second sees the first one's refund.
    lock(case)
    order = case.order
    if case.state in NO_REFUND_STATES:
        raise AfterSalesError(_("%(case)s is %(state)s: no refund can be requested on it any "
                                "more.", case=case.number, state=_state(case)))
    if currency is not None and currency.strip().upper() != order.currency:
        raise ValidationError(_("Refunds for %(case)s are in the order's currency %(currency)s, "
                                "not %(given)s.", case=case.number, currency=order.currency,
                                given=currency), field="currency")
    amount = _amount(amount, case)
    if kind == RefundKind.keep_it and not can_keep_it(case):
        if not case.expects_return:
            raise AfterSalesError(_("%(case)s is a %(type)s case: no goods come back, so use a "
                                    "plain refund rather than keep-it.", case=case.number,
                                    type=_type_label(case)), field="kind")
        raise AfterSalesError(_("A keep-it refund for %(case)s is only possible while it is open "
                                "(before the return); it is %(state)s.", case=case.number,
                                state=_state(case)), field="kind")
    if kind == RefundKind.alteration:
        _check_alteration(case, amount)
    refundable = refundable_amount(case)
    over_value = amount > refundable
    if over_value and not override:
        raise AfterSalesError(
            _("The refund of %(amount)s for %(case)s is above what may still be refunded "
              "(%(refundable)s: the lines' value %(value)s minus refunds approved or pending). "
              "Lower it, or have a manager override.",
              amount=format_money(amount, order.currency), case=case.number,
              refundable=format_money(refundable, order.currency),
              value=format_money(case_value(case))), field="amount")
    if over_value and not has_permission(actor, "aftersales.approve"):
        raise PermissionDenied(_("Only a manager can refund more than the lines of %(case)s are "
                                 "worth (%(refundable)s refundable).", case=case.number,
                                 refundable=format_money(refundable, order.currency)))
    refund = Refund(case_id=case.id, kind=kind, amount=amount, currency=order.currency,
                    state=R.pending, over_value_override=over_value,
                    note=_clean(note, 500), requested_by_id=getattr(actor, "id", None),
                    requested_at=utcnow())
    case.refunds.append(refund)
    db.session.flush()
    audit.record(refund, "refund.requested", actor=actor, changes={
        "case": case.number, "kind": kind.value, "amount": f"{amount} {order.currency}",
        "refundable": f"{refundable} {order.currency}", "override": over_value,
        "note": refund.note})
    if not needs_approval(amount, order.currency):
        _approve(refund, actor, note="within the refund approval threshold")
    db.session.flush()
    return refund


def alteration_lines(case: AfterSalesCase) -> list[CustomerOrderLine]:
    """Return the case's order lines made to measure (they carry measurements), by id."""
    return sorted({line.order_line for line in case.lines if line.order_line.measurements},
                  key=lambda line: line.id)


def alteration_refunded(line_ids) -> Decimal:
    """Return the alteration refunds approved or pending of any case on those order lines."""
    cases = select(CaseLine.case_id).where(CaseLine.order_line_id.in_(list(line_ids)))
    return round_amount(Decimal(db.session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.case_id.in_(cases), Refund.kind == RefundKind.alteration,
            Refund.state.in_([R.approved, R.pending]))) or 0))


def alteration_cap(case: AfterSalesCase) -> tuple[Decimal, Decimal, Decimal]:
    """Return ``(cap, share, already)`` of an alteration refund on the case.

    ``share`` is the ``alteration_refund_percent`` setting of the made-to-measure lines'
    amount (unit price x quantity ordered); ``already`` the alteration refunds approved or
    pending on those lines (by any case); ``cap`` what may still be refunded, never below 0.
    """
    lines = alteration_lines(case)
    percent = Decimal(core_settings.get("alteration_refund_percent"))
    share = round_amount(sum((line.unit_price * line.quantity for line in lines), Decimal(0))
                         * percent / 100)
    already = alteration_refunded(line.id for line in lines) if lines else Decimal("0.00")
    return max(Decimal("0.00"), share - already), share, already


def _check_alteration(case: AfterSalesCase, amount: Decimal) -> None:
    """Refuse an alteration refund on a case without made-to-measure lines or above the cap.

    The made-to-measure order lines are locked (after the case), so two alteration refunds of
    the same line, even from two cases, queue and the second sees the first.
    """
    lines = alteration_lines(case)
    if not lines:
        raise AfterSalesError(_("An alteration refund is only for a made-to-measure item: no "
                                "line of %(case)s carries measurements.", case=case.number),
                              field="kind")
    for line in lines:
        lock(line)
    cap, share, already = alteration_cap(case)
    if amount > cap:
        currency = case.order.currency
        raise AfterSalesError(
            _("The alteration refund of %(amount)s for %(case)s is above its cap of %(cap)s: "
              "%(percent)s%% of the made-to-measure line (%(share)s) less %(already)s already "
              "refunded for alterations.", amount=format_money(amount, currency),
              case=case.number, cap=format_money(cap, currency),
              percent=core_settings.get("alteration_refund_percent"),
              share=format_money(share, currency), already=format_money(already, currency)),
            field="amount")


def _lock_refund(refund: Refund) -> AfterSalesCase:
    """Lock the refund's case (the owner of the refundable amount), then the refund; reload both.

    Case first, as :func:`request_refund` does, so deciding and requesting never wait on each
    other in opposite orders. Returns the case.
    """
    case = lock(refund.case)
    lock(refund)
    return case


def _check_approver(refund: Refund, actor, action: str) -> None:
    if not has_permission(actor, "aftersales.approve"):
        values = {"amount": format_money(refund.amount, refund.currency),
                  "case": refund.case.number}
        if action == "approve":
            raise PermissionDenied(_("To approve the refund of %(amount)s for %(case)s, you must "
                                     "be a manager.", **values))
        raise PermissionDenied(_("To reject the refund of %(amount)s for %(case)s, you must be "
                                 "a manager.", **values))


def can_decide_refund(refund: Refund, user) -> bool:
    """Return whether ``user`` may approve or reject the refund now."""
    return (refund.state == R.pending and has_permission(user, "aftersales.approve")
            and (refund.requested_by_id is None
                 or getattr(user, "id", None) != refund.requested_by_id))


def _approve(refund: Refund, actor, *, note: str | None = None) -> None:
    transition(refund, R.approved, machine=REFUND_STATES, actor=actor, note=note, changes={
        "case": refund.case.number, "amount": f"{refund.amount} {refund.currency}"})
    refund.decided_by_id, refund.decided_at = getattr(actor, "id", None), utcnow()
    case = refund.case
    events.emit("refund.approved", {
        "order": case.order.number, "case": case.number, "refund": refund.id,
        "kind": refund.kind, "amount": refund.amount, "currency": refund.currency},
        key=events.order_key(case.order.number))
    _resolve_on_refund(refund, actor)


def approve_refund(refund: Refund, *, actor: User | None) -> Refund:
    """Approve a pending refund (a manager other than the one who requested it).

    The case is locked first and what it may still refund is checked again (refunds left
    pending side by side before the lock existed would otherwise both pass).

    :raises InvalidTransition: if the refund is not pending.
    :raises PermissionDenied: without ``aftersales.approve``, or for one's own request.
    :raises AfterSalesError: if the other refunds approved or pending leave too little room
        (unless the refund was requested with an override).
    """
    case = _lock_refund(refund)
    REFUND_STATES.check(refund, R.approved)
    _check_approver(refund, actor, "approve")
    if refund.requested_by_id is not None and getattr(actor, "id", None) == \
            refund.requested_by_id:
        raise PermissionDenied(_("The refund for %(case)s must be approved by a manager other "
                                 "than the one who requested it.", case=case.number))
    if not refund.over_value_override:
        # Re-checked under the lock: what the case may still refund besides this refund.
        room = max(Decimal("0.00"), case_value(case) - refunded_amount(case, exclude=refund))
        if refund.amount > room:
            raise AfterSalesError(
                _("To approve the refund of %(amount)s for %(case)s, it must stay within what may "
                  "still be refunded: %(room)s (the lines' value %(value)s minus other refunds "
                  "approved or pending). Reject it, or have a manager request an override.",
                  amount=format_money(refund.amount, refund.currency), case=case.number,
                  room=format_money(room, refund.currency), value=format_money(case_value(case))))
    _approve(refund, actor)
    db.session.flush()
    return refund


def reject_refund(refund: Refund, *, reason: str, actor: User | None) -> Refund:
    """Reject a pending refund, with the reason (it no longer counts against the refundable).

    :raises InvalidTransition: if the refund is not pending.
    :raises PermissionDenied: without ``aftersales.approve``.
    :raises ValidationError: without a reason.
    """
    _lock_refund(refund)
    REFUND_STATES.check(refund, R.rejected)
    _check_approver(refund, actor, "reject")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the refund for %(case)s is rejected.",
                                case=refund.case.number), field="reason")
    if len(reason) > 200:
        raise ValidationError(_("Keep the reason within 200 characters."), field="reason")
    transition(refund, R.rejected, machine=REFUND_STATES, actor=actor, note=reason,
               changes={"case": refund.case.number,
                        "amount": f"{refund.amount} {refund.currency}"})
    refund.decided_by_id, refund.decided_at = getattr(actor, "id", None), utcnow()
    db.session.flush()
    return refund


def _resolve_on_refund(refund: Refund, actor) -> None:
    """Resolve the case an approved refund settles (the resolution rules above)."""
    case = refund.case
    money = f"{refund.amount} {refund.currency}"
    if refund.kind == RefundKind.keep_it:
        if case.state == C.open:
            mark_resolved(case, resolution=f"Keep-it refund of {money}: the customer keeps "
                                           "the goods, no return.", actor=actor)
    elif case.case_type in REFUND_RESOLVES and case.state == C.open:
        mark_resolved(case, resolution=f"Refunded {money}.", actor=actor)
    elif case.case_type in REFUND_AFTER_RETURN and case.state == C.inspected:
        mark_resolved(case, resolution=f"Returned and refunded {money}.", actor=actor)


# --------------------------------------------------------------------------- replacements


def can_create_replacement(case: AfterSalesCase) -> bool:
    """Return whether the case may get its replacement order now."""
    if case.replacement_order_id is not None:
        return False
    ctype = CaseType(case.case_type)
    return ((case.state == C.open and ctype in REPLACE_FROM_OPEN)
            or (case.state == C.inspected and ctype in REPLACE_AFTER_INSPECTION))


def _replacement_number(order: CustomerOrder) -> str:
    n = 1
    while db.session.scalar(select(CustomerOrder.id).where(
            CustomerOrder.number == f"{order.number}-R{n}")) is not None:
        n += 1
    return f"{order.number}-R{n}"


def create_replacement(case: AfterSalesCase, *, actor: User | None) -> CustomerOrder:
    """Create the replacement order of the case, allocate it, and link it to the case.

    The new order ``<order>-R<n>`` goes to the same address by the same service, holds the
    case's lines at their original unit prices (customs still declares the goods' value) with
    no shipping charge. A replacement-only, lost-parcel or damaged case resolves; a
    return-for-replacement case (inspected) resolves too; a wrong-item case opened stays open
    until its goods come back.

    :raises AfterSalesError: a second replacement for the case, a case type that gets no
        replacement, a return-for-replacement case before inspection, or an order the intake
        refuses (e.g. a SKU no longer active).
    """
    # The case owns its one replacement: lock it, then look whether it already has one.
    lock(case)
    order = case.order
    if case.replacement_order_id is not None:
        raise AfterSalesError(_("%(case)s already has its replacement order %(order)s.",
                                case=case.number, order=case.replacement_order.number))
    ctype = CaseType(case.case_type)
    if ctype not in REPLACE_FROM_OPEN | REPLACE_AFTER_INSPECTION:
        raise AfterSalesError(_("%(case)s is a %(type)s case: it gets a refund, not a "
                                "replacement.", case=case.number, type=_type_label(case)))
    if not can_create_replacement(case):
        if ctype == CaseType.return_replacement:
            raise AfterSalesError(_("The replacement for %(case)s is sent once the returned goods "
                                    "are inspected; the case is %(state)s.", case=case.number,
                                    state=_state(case)))
        raise AfterSalesError(_("%(case)s is %(state)s: a replacement can only be created while "
                                "it is open.", case=case.number, state=_state(case)))
    number = _replacement_number(order)
    payload = {
        "number": number, "placed_at": utcnow().isoformat(),
        "customer_name": order.customer_name, "email": order.email, "phone": order.phone,
        "shipping_address": {"name": order.ship_name, "address1": order.address1,
                             "address2": order.address2, "city": order.city,
                             "region": order.region, "postal_code": order.postal_code,
                             "country": order.country},
        "currency": order.currency, "shipping_charge": "0",
        "shipping_service": order.shipping_service, "ioss_number": order.ioss_number,
        "buyer_tax_id": order.buyer_tax_id, "channel": "replacement", "priority": 1,
        "notes": f"Replacement for {case.number} (order {order.number})",
        "lines": [{"sku": line.sku.code, "quantity": line.quantity,
                   "unit_price": str(line.order_line.unit_price)} for line in case.lines],
    }
    cleaned, errors = validate_order_payload(payload)
    if errors:
        raise OrderRejected(errors)
    try:
        # its quantities were the original order's, reviewed then: no hold for review
        replacement, _created = create_order(cleaned, actor=actor, review=False)
    except OrderRejected as err:
        raise AfterSalesError(_("The replacement for %(case)s cannot be created: %(reason)s.",
                                case=case.number, reason=err)) from err
    allocate_order(replacement, actor=actor)
    case.replacement_order_id = replacement.id
    case.replacement_order = replacement
    audit.record(case, "aftersales_case.replacement_created", actor=actor, changes={
        "replacement_order": replacement.number, "state": replacement.state.value})
    events.emit("replacement.created", {
        "order": order.number, "case": case.number, "replacement_order": replacement.number,
        "state": replacement.state.value,
        "lines": [{"sku": line.sku.code, "quantity": line.quantity} for line in case.lines]},
        key=events.order_key(order.number))
    if ctype != CaseType.wrong_item or case.state == C.inspected:
        mark_resolved(case, resolution=f"Replacement order {replacement.number} sent.",
                      actor=actor)
    db.session.flush()
    return replacement


# --------------------------------------------------------------------------- after inspection


def resolve_after_inspection(case: AfterSalesCase, *, actor: User | None,
                             refund_amount=None) -> AfterSalesCase:
    """Settle an inspected return: refund it, or send its replacement.

    A return-for-refund case gets a refund of ``refund_amount`` (default: all that is still
    refundable); it resolves once the refund is approved (at once below the threshold). A
    return-for-replacement case gets its replacement order. A wrong-item case whose replacement
    already went out resolves; without one it gets a refund if ``refund_amount`` is given, else
    its replacement.

    :raises AfterSalesError: if the case is not inspected, or nothing is left to refund.
    """
    lock(case)
    if case.state != C.inspected:
        raise AfterSalesError(_("%(case)s is %(state)s: it can be settled once its returned "
                                "goods are inspected.", case=case.number, state=_state(case)))
    ctype = CaseType(case.case_type)
    wants_refund = ctype == CaseType.return_refund or (
        ctype == CaseType.wrong_item and refund_amount is not None
        and case.replacement_order_id is None)
    if wants_refund:
        amount = refund_amount if refund_amount is not None else refundable_amount(case)
        if not refund_amount and amount <= 0:
            mark_resolved(case, resolution="Returned; already refunded.", actor=actor)
            return case
        request_refund(case, amount=amount, actor=actor)
    elif case.replacement_order_id is not None:
        mark_resolved(case, resolution=f"Returned; replacement order "
                                       f"{case.replacement_order.number} sent.", actor=actor)
    else:
        create_replacement(case, actor=actor)
    return case
