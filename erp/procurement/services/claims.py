"""Claims (debit notes) on suppliers' accounts, and the payments that deduct them.

A claim is raised open by a shipped supplier return; a manager approves it (or cancels it with
a reason). A supplier payment deducts approved claims, which become settled: each claim's row
is locked before it is checked, so two payments can never deduct the same claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal, InvalidOperation

from erp.core import audit
from erp.core.errors import DomainError, PermissionDenied, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock, lock_many
from erp.core.money import round_amount
from erp.core.states import transition
from erp.extensions import db
from erp.procurement.models import Supplier
from erp.procurement.return_models import (
    SUPPLIER_CLAIM_STATES,
    SupplierClaim,
    SupplierClaimState,
    SupplierPayment,
)
from erp.procurement.services.purchase_orders import APPROVER_ROLES

CS = SupplierClaimState


class ClaimError(DomainError):
    """A claim or payment rule refused the change."""


def _require_manager(actor, message: str) -> None:
    if actor is not None and not APPROVER_ROLES & set(getattr(actor, "roles", ()) or ()):
        raise PermissionDenied(message)


def approve_claim(claim: SupplierClaim, *, actor) -> SupplierClaim:
    """Approve an open claim, so a payment may deduct it.

    :raises PermissionDenied: if the actor is not a manager.
    :raises InvalidTransition: if the claim is not open.
    """
    _require_manager(actor, _('To approve claim "%(number)s", you must be a manager.',
                              number=claim.number))
    lock(claim)
    transition(claim, CS.approved, machine=SUPPLIER_CLAIM_STATES, actor=actor)
    claim.decided_by_id = getattr(actor, "id", None)
    db.session.flush()
    return claim


def cancel_claim(claim: SupplierClaim, *, actor, reason: str) -> SupplierClaim:
    """Cancel an open or approved claim with a reason (the supplier disputed it, say).

    :raises PermissionDenied: if the actor is not a manager.
    :raises InvalidTransition: if the claim is settled or already cancelled.
    :raises ValidationError: without a reason.
    """
    _require_manager(actor, _('To cancel claim "%(number)s", you must be a manager.',
                              number=claim.number))
    text = (reason or "").strip()
    if not text or len(text) > 500:
        raise ValidationError(_('To cancel claim "%(number)s", you must give a reason (at most '
                                "500 characters).", number=claim.number), field="reason")
    lock(claim)
    transition(claim, CS.cancelled, machine=SUPPLIER_CLAIM_STATES, actor=actor, note=text)
    claim.decided_by_id = getattr(actor, "id", None)
    claim.note = text
    db.session.flush()
    return claim


def _amount(value) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(_("The amount must be a number, got %(value)s.",
                                value=repr(value)), field="amount") from None
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e12"):
        raise ValidationError(_("The amount must be zero or more."), field="amount")
    return round_amount(amount)


def record_supplier_payment(supplier: Supplier, *, paid_on: date, amount, actor,
                            reference: str | None = None, note: str | None = None,
                            claim_ids: Sequence[int] = ()) -> SupplierPayment:
    """Record a payment to a supplier, deducting the approved claims chosen (they are settled).

    ``amount`` is what was paid, in the supplier's currency; the deducted claims count as paid
    too. The claims' rows are locked (in id order) before they are checked.

    :raises ClaimError: if a claim is not the supplier's, is not approved, is already settled
        or cancelled, or is in another currency.
    :raises ValidationError: for a missing date, a negative amount, nothing paid nor deducted,
        or texts too long.
    """
    if paid_on is None:
        raise ValidationError(_("Enter the date of the payment."), field="paid_on")
    amount = _amount(amount)
    reference = (reference or "").strip() or None
    note = (note or "").strip() or None
    if reference and len(reference) > 60:
        raise ValidationError(_("Keep the reference within 60 characters."), field="reference")
    if note and len(note) > 500:
        raise ValidationError(_("Keep the note within 500 characters."), field="note")
    claims = lock_many(SupplierClaim, claim_ids)
    if len(claims) != len(set(claim_ids)):
        raise ValidationError(_("A chosen claim does not exist."), field="claims")
    if amount == 0 and not claims:
        raise ValidationError(_("A payment pays an amount or deducts a claim; enter an amount "
                                "or choose a claim."), field="amount")
    for claim in claims:
        if claim.supplier_id != supplier.id:
            raise ClaimError(_('Claim "%(number)s" is not on supplier "%(supplier)s"\'s '
                               "account.", number=claim.number, supplier=supplier.code),
                             field="claims")
        if claim.state == CS.settled:
            raise ClaimError(_('To deduct claim "%(number)s", it must be approved; it is '
                               "already settled by a payment of %(date)s.", number=claim.number,
                               date=claim.payment.paid_on.isoformat() if claim.payment
                               else "?"), field="claims")
        if not SUPPLIER_CLAIM_STATES.in_group(claim.state, "deductible"):
            raise ClaimError(_('To deduct claim "%(number)s", it must be approved; it is '
                               '"%(state)s".', number=claim.number,
                               state=SUPPLIER_CLAIM_STATES.label(claim.state)), field="claims")
        if claim.currency != supplier.currency:
            raise ClaimError(_('Claim "%(number)s" is in %(currency)s, not the supplier\'s '
                               "%(supplier_currency)s.", number=claim.number,
                               currency=claim.currency, supplier_currency=supplier.currency),
                             field="claims")
    payment = SupplierPayment(supplier_id=supplier.id, paid_on=paid_on,
                              currency=supplier.currency, amount=amount, reference=reference,
                              note=note, created_by_id=getattr(actor, "id", None))
    db.session.add(payment)
    db.session.flush()
    for claim in claims:
        claim.payment_id = payment.id
        transition(claim, CS.settled, machine=SUPPLIER_CLAIM_STATES, actor=actor,
                   changes={"payment": payment.id})
    audit.record(payment, "supplier_payment.recorded", actor=actor, changes={
        "supplier": supplier.code, "paid_on": paid_on, "amount": amount,
        "currency": payment.currency, "reference": reference,
        "claims": [c.number for c in claims]})
    db.session.flush()
    return payment


def can_approve_claim(claim: SupplierClaim) -> bool:
    """Return whether the claim may be approved (open)."""
    return SUPPLIER_CLAIM_STATES.can(claim.state, CS.approved)


def can_cancel_claim(claim: SupplierClaim) -> bool:
    """Return whether the claim may be cancelled (open or approved)."""
    return SUPPLIER_CLAIM_STATES.can(claim.state, CS.cancelled)
