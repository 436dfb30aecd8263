"""Landed cost: freight, duty, insurance and other charges spread over the lines of receipts.

A landed cost is drafted with its charges (each in its own currency), the posted receipts it
applies to (of one or several purchase orders) and a split method: by value (quantity x unit
cost in the base currency), by weight (the SKU's weight x quantity) or by quantity. Posting
converts every charge to the base currency at the rate of the posting date, spreads each one
over the receipt lines in proportion to their basis, rounded to cents with the residue on the
line of the largest basis (so the shares of a charge add up to it exactly), stores that
allocation, and has the warehouse revalue the stock: the part on units still on hand raises the
SKU's moving-average cost, the part on units already gone is a variance
(:func:`erp.warehouse.services.revalue`).

A posted landed cost is reversed by the same spread with the opposite sign: what is still on hand
of those receipts gives its share back, the rest is a negative variance, and the amounts undone
are exactly the amounts posted. A receipt with a posted landed cost cannot be reversed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import audit, numbering
from erp.core import settings as core_settings
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock, lock_many
from erp.core.models import utcnow
from erp.core.money import CENT, rate_on, round_amount, to_decimal, validate_currency
from erp.core.states import transition
from erp.extensions import db
from erp.procurement.models import (
    LANDED_COST_STATES,
    ChargeKind,
    LandedCost,
    LandedCostAllocation,
    LandedCostCharge,
    LandedCostReceipt,
    LandedCostState,
    PurchaseOrder,
    Receipt,
    ReceiptLine,
    ReceiptState,
    SplitMethod,
)
from erp.warehouse import services as warehouse_services

#: the value-adjustment reference of a landed cost (``ref_id`` is its id)
LANDED_COST_REF = "landed_cost"
#: amounts are Money columns (BigInteger of ten-thousandths): a typo of many digits stops here
MAX_AMOUNT = Decimal("100000000000")
MAX_CHARGES = 50
MAX_RECEIPTS = 200


class LandedCostError(DomainError):
    """A landed-cost rule refused the change."""


@dataclass(frozen=True)
class ChargeSpec:
    """A charge as entered: kind, amount, currency and who billed it."""

    kind: str
    amount: Decimal | str
    currency: str
    vendor: str | None = None


# --------------------------------------------------------------------------- validation


def _clean_charges(charges: Sequence[ChargeSpec]) -> list[dict]:
    cleaned = []
    for n, spec in enumerate(charges, start=1):
        where = _("charge %(n)s", n=n)
        try:
            kind = ChargeKind(spec.kind)
        except ValueError:
            raise ValidationError(_("%(where)s: the kind must be freight, duty, insurance or "
                                    "other; got %(value)s.", where=where, value=repr(spec.kind)),
                                  field=f"charges-{n - 1}-kind") from None
        amount = to_decimal(spec.amount, field=f"charges-{n - 1}-amount")
        if amount <= 0 or amount >= MAX_AMOUNT or amount != amount.quantize(CENT):
            raise ValidationError(_("%(where)s: the amount must be above zero with at most 2 "
                                    "decimals; got %(value)s.", where=where, value=spec.amount),
                                  field=f"charges-{n - 1}-amount")
        try:
            currency = validate_currency(spec.currency)
        except ValueError as err:
            raise ValidationError(_("%(where)s: %(reason)s.", where=where, reason=str(err)),
                                  field=f"charges-{n - 1}-currency") from None
        vendor = (spec.vendor or "").strip() or None
        if vendor and len(vendor) > 120:
            raise ValidationError(_("%(where)s: the forwarder or vendor must be at most 120 "
                                    "characters.", where=where), field=f"charges-{n - 1}-vendor")
        cleaned.append({"kind": kind, "amount": amount, "currency": currency, "vendor": vendor})
    if not cleaned:
        raise ValidationError(_("A landed cost needs at least one charge."), field="charges")
    if len(cleaned) > MAX_CHARGES:
        raise ValidationError(_("A landed cost may have at most %(most)s charges.",
                                most=MAX_CHARGES), field="charges")
    return cleaned


def _check_receipts(receipts: Sequence[Receipt]) -> list[Receipt]:
    unique = {r.id: r for r in receipts}
    if not unique:
        raise ValidationError(_("A landed cost needs at least one receipt."), field="receipts")
    if len(unique) > MAX_RECEIPTS:
        raise ValidationError(_("A landed cost may apply to at most %(most)s receipts.",
                                most=MAX_RECEIPTS),
                              field="receipts")
    for receipt in unique.values():
        if receipt.state != ReceiptState.posted:
            raise LandedCostError(_("A landed cost cannot apply to receipt %(receipt)s: it is "
                                    "reversed.", receipt=receipt.number), field="receipts")
    return [unique[k] for k in sorted(unique)]


def _clean_method(method) -> SplitMethod:
    try:
        return SplitMethod(method)
    except ValueError:
        raise ValidationError(_("The split method must be by value, weight or quantity; got "
                                "%(value)s.", value=repr(method)), field="method") from None


def _clean_note(note: str | None) -> str | None:
    text = (note or "").strip() or None
    if text and len(text) > 2000:
        raise ValidationError(_("A landed cost note must be at most 2,000 characters."),
                              field="note")
    return text


_TOKEN = re.compile(r"[\s,;]+")


def find_receipts(text: str) -> list[Receipt]:
    """Return the receipts named in ``text``: receipt numbers, or PO numbers (their receipts).

    Tokens are separated by spaces, commas, semicolons or new lines (a scanner's Enter). A
    purchase order number stands for its posted receipts.

    :raises ValidationError: naming a token that is neither, or a PO with no posted receipt.
    """
    found: dict[int, Receipt] = {}
    for token in (t for t in _TOKEN.split((text or "").upper()) if t):
        receipt = db.session.scalar(select(Receipt).where(Receipt.number == token))
        if receipt is not None:
            found[receipt.id] = receipt
            continue
        po = db.session.scalar(select(PurchaseOrder).where(PurchaseOrder.number == token))
        if po is None:
            raise ValidationError(_('"%(token)s" is neither a receipt nor a purchase order '
                                    "number.", token=token), field="receipts")
        posted = [r for r in po.receipts if r.state == ReceiptState.posted]
        if not posted:
            raise ValidationError(_('Purchase order %(number)s has no posted receipt.',
                                    number=po.number), field="receipts")
        found.update((r.id, r) for r in posted)
    return [found[k] for k in sorted(found)]


# --------------------------------------------------------------------------- drafts


def _set_content(lc: LandedCost, receipts, charges, method, note) -> None:
    lc.method = _clean_method(method)
    lc.note = _clean_note(note)
    receipts = _check_receipts(receipts)
    cleaned = _clean_charges(charges)
    wanted = {r.id for r in receipts}
    kept = [link for link in lc.receipt_links if link.receipt_id in wanted]
    have = {link.receipt_id for link in kept}
    lc.receipt_links = kept + [LandedCostReceipt(receipt_id=r.id) for r in receipts
                               if r.id not in have]
    lc.charges = [LandedCostCharge(**c) for c in cleaned]


def _summary(lc: LandedCost) -> dict:
    return {"method": lc.method.value,
            "receipts": [link.receipt.number for link in lc.receipt_links],
            "charges": [{"kind": c.kind.value, "amount": c.amount, "currency": c.currency,
                         "vendor": c.vendor} for c in lc.charges]}


def create_landed_cost(*, receipts: Sequence[Receipt], charges: Sequence[ChargeSpec],
                       method: str, note: str | None = None, actor) -> LandedCost:
    """Draft a landed cost (numbered LC-YYYY-NNNNNN) on posted receipts.

    :raises ValidationError: without receipts or charges, for a bad kind, amount, currency or
        method.
    :raises LandedCostError: for a reversed receipt.
    """
    lc = LandedCost(number="", state=LandedCostState.draft,
                    created_by_id=getattr(actor, "id", None))
    _set_content(lc, receipts, charges, method, note)  # checked before a number is drawn
    lc.number = numbering.next_number("LC")
    db.session.add(lc)
    db.session.flush()
    for link in lc.receipt_links:
        db.session.refresh(link, ["receipt"])
    audit.record(lc, "landed_cost.created", actor=actor, changes=_summary(lc))
    return lc


def update_landed_cost(lc: LandedCost, *, receipts: Sequence[Receipt],
                       charges: Sequence[ChargeSpec], method: str, note: str | None = None,
                       actor) -> LandedCost:
    """Replace a draft's receipts, charges, method and note.

    :raises LandedCostError: if it is no longer a draft, or for a reversed receipt.
    :raises ValidationError: as :func:`create_landed_cost`.
    """
    lock(lc)
    if lc.state != LandedCostState.draft:
        raise LandedCostError(_('Landed cost "%(number)s" can be edited only while it is a '
                                'draft; it is "%(state)s".', number=lc.number,
                                state=LANDED_COST_STATES.label(lc.state)))
    _set_content(lc, receipts, charges, method, note)
    db.session.flush()
    for link in lc.receipt_links:
        db.session.refresh(link, ["receipt"])
    audit.record(lc, "landed_cost.updated", actor=actor, changes=_summary(lc))
    return lc


# --------------------------------------------------------------------------- allocation


@dataclass
class AllocatedCharge:
    """A charge converted to the base currency."""

    charge: LandedCostCharge
    rate: Decimal
    amount_base: Decimal


@dataclass
class AllocatedLine:
    """One receipt line, its basis, and its share of every charge (base currency)."""

    receipt_line_id: int
    receipt_number: str
    order_number: str
    sku_id: int
    sku_code: str
    move_id: int | None
    quantity: int
    unit_cost_base: Decimal
    weight_g: int
    basis: Decimal
    shares: list[Decimal] = field(default_factory=list)  # one per charge, in charge order

    @property
    def total(self) -> Decimal:
        """Return the line's share of all charges."""
        return sum(self.shares, Decimal("0.00"))

    @property
    def per_unit(self) -> Decimal:
        """Return the line's share per unit received (4 places)."""
        return (self.total / self.quantity).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@dataclass
class Allocation:
    """The split of a landed cost's charges over its receipt lines, in the base currency."""

    method: SplitMethod
    on: date
    base: str
    charges: list[AllocatedCharge]
    lines: list[AllocatedLine]

    @property
    def total(self) -> Decimal:
        """Return the sum of the charges in the base currency."""
        return sum((c.amount_base for c in self.charges), Decimal("0.00"))


def _receipt_lines(lc: LandedCost) -> list[AllocatedLine]:
    receipt_ids = [link.receipt_id for link in lc.receipt_links]
    rows = db.session.execute(
        select(ReceiptLine.id, Receipt.number, PurchaseOrder.number.label("po"),
               ReceiptLine.sku_id, Sku.code, ReceiptLine.move_id, ReceiptLine.quantity,
               ReceiptLine.unit_cost_base, Sku.weight_g)
        .join(Receipt, Receipt.id == ReceiptLine.receipt_id)
        .join(PurchaseOrder, PurchaseOrder.id == Receipt.order_id)
        .join(Sku, Sku.id == ReceiptLine.sku_id)
        .where(ReceiptLine.receipt_id.in_(receipt_ids))
        .order_by(ReceiptLine.receipt_id, ReceiptLine.id)).all()
    return [AllocatedLine(r.id, r.number, r.po or "", r.sku_id, r.code, r.move_id, r.quantity,
                          r.unit_cost_base, r.weight_g or 0, Decimal(0)) for r in rows]


def _basis(lc: LandedCost, lines: list[AllocatedLine]) -> None:
    if lc.method == SplitMethod.weight:
        weightless = sorted({line.sku_code for line in lines if line.weight_g <= 0})
        if weightless:
            raise LandedCostError(_(
                'To split landed cost "%(number)s" by weight, every SKU needs a weight; '
                "%(skus)s has none. Enter it on the SKU, or split by value or quantity.",
                number=lc.number, skus=", ".join(weightless)), field="method")
    for line in lines:
        if lc.method == SplitMethod.value:
            line.basis = line.unit_cost_base * line.quantity
        elif lc.method == SplitMethod.weight:
            line.basis = Decimal(line.weight_g * line.quantity)
        else:
            line.basis = Decimal(line.quantity)
    if not lines or sum(line.basis for line in lines) <= 0:
        what = {SplitMethod.value: _("value"), SplitMethod.weight: _("weight"),
                SplitMethod.quantity: _("quantity")}[lc.method]
        raise LandedCostError(_('To split landed cost "%(number)s" by %(what)s, its receipt '
                                "lines must have some; they add up to zero. Choose another "
                                "split method.", number=lc.number, what=what), field="method")


def split_exactly(amount: Decimal, bases: Sequence[Decimal]) -> list[Decimal]:
    """Return ``amount`` split in proportion to ``bases``, in cents, adding up to it exactly.

    Each share is rounded half up; the residue goes to the share of the largest basis (the
    first of them on a tie).
    """
    total = sum(bases, Decimal(0))
    shares = [round_amount(amount * b / total) for b in bases]
    largest = max(range(len(bases)), key=lambda i: (bases[i], -i))
    shares[largest] += amount - sum(shares, Decimal(0))
    return shares


def allocate(lc: LandedCost, *, on: date | None = None) -> Allocation:
    """Return how the charges split over the receipt lines, at the rates of ``on`` (today).

    Reads nothing it writes: the preview before posting shows exactly what posting stores.

    :raises LandedCostError: for a SKU without weight (weight method) or a zero basis.
    :raises ValidationError: for a missing exchange rate.
    """
    on = on or utcnow().date()
    base = core_settings.base_currency()
    charges = []
    for charge in lc.charges:
        rate = rate_on(charge.currency, on, base=base)
        charges.append(AllocatedCharge(charge, rate, round_amount(charge.amount * rate)))
    lines = _receipt_lines(lc)
    _basis(lc, lines)
    bases = [line.basis for line in lines]
    for c in charges:
        for line, share in zip(lines, split_exactly(c.amount_base, bases), strict=True):
            line.shares.append(share)
    return Allocation(lc.method, on, base, charges, lines)


# --------------------------------------------------------------------------- posting


def _shares(lines: Sequence[tuple[int, int, int, Decimal]], sign: int
            ) -> list[warehouse_services.ValueShare]:
    return [warehouse_services.ValueShare(sku_id, move_id, quantity, amount * sign)
            for sku_id, move_id, quantity, amount in lines]


def post_landed_cost(lc: LandedCost, *, actor) -> LandedCost:
    """Post a draft: convert, allocate, store, and revalue the stock of its receipts.

    The landed cost is locked first and its state read after the lock, so a second post (a
    double click) waits and is refused; its receipts are locked too, so a receipt reversed
    meanwhile is seen.

    :raises InvalidTransition: if it is not a draft.
    :raises LandedCostError: for a reversed receipt, a SKU without weight (weight method) or a
        zero basis.
    :raises ValidationError: for a missing exchange rate.
    """
    lock(lc)
    LANDED_COST_STATES.check(lc, LandedCostState.posted)
    receipts = lock_many(Receipt, [link.receipt_id for link in lc.receipt_links])
    _check_receipts(receipts)
    now = utcnow()
    allocation = allocate(lc, on=now.date())
    for c in allocation.charges:
        c.charge.rate, c.charge.amount_base = c.rate, c.amount_base
    lc.allocations = [
        LandedCostAllocation(charge_id=c.charge.id, receipt_line_id=line.receipt_line_id,
                             sku_id=line.sku_id, quantity=line.quantity, basis=line.basis,
                             amount=line.shares[i])
        for i, c in enumerate(allocation.charges) for line in allocation.lines]
    missing = [line for line in allocation.lines if line.move_id is None]
    if missing:  # receipts always post a move; a hand-made row without one cannot be revalued
        raise LandedCostError(_("Receipt %(receipt)s has a line without a stock move.",
                                receipt=missing[0].receipt_number))
    results = warehouse_services.revalue(
        _shares([(line.sku_id, line.move_id, line.quantity, line.total)
                 for line in allocation.lines], 1),
        ref_type=LANDED_COST_REF, ref_id=lc.id, actor=actor, at=now, note=lc.number)
    lc.posting_date, lc.total_base = now.date(), allocation.total
    lc.posted_by_id, lc.posted_at = getattr(actor, "id", None), now
    transition(lc, LandedCostState.posted, machine=LANDED_COST_STATES, actor=actor, changes={
        "total_base": allocation.total, "currency": allocation.base,
        "revaluation": sum((r.revaluation for r in results), Decimal(0)),
        "variance": sum((r.variance for r in results), Decimal(0))})
    db.session.flush()
    return lc


def reverse_landed_cost(lc: LandedCost, *, actor, reason: str) -> LandedCost:
    """Undo a posted landed cost by the same spread with the opposite sign.

    What is still on hand of its receipts gives back its share (the average cost goes down),
    the rest is a negative variance; the amounts undone add up to the amounts posted.

    :raises InvalidTransition: if it is not posted.
    :raises ValidationError: without a reason.
    :raises StockError: if a SKU's average cost would go below zero.
    """
    text = (reason or "").strip()
    if not text:
        raise ValidationError(_('To reverse landed cost "%(number)s", you must give a reason.',
                                number=lc.number), field="reason")
    if len(text) > 500:
        raise ValidationError(_('To reverse landed cost "%(number)s", you must keep the reason '
                                "within 500 characters.", number=lc.number), field="reason")
    lock(lc)
    LANDED_COST_STATES.check(lc, LandedCostState.reversed)
    per_line: dict[int, list] = {}
    for a in lc.allocations:
        entry = per_line.setdefault(a.receipt_line_id, [a.sku_id, a.receipt_line.move_id,
                                                        a.quantity, Decimal(0)])
        entry[3] += a.amount
    now = utcnow()
    results = warehouse_services.revalue(
        _shares([tuple(v) for _k, v in sorted(per_line.items())], -1),
        ref_type=LANDED_COST_REF, ref_id=lc.id, actor=actor, at=now,
        note=f"{lc.number} reversed")
    lc.reversed_by_id, lc.reversed_at, lc.reversal_reason = getattr(actor, "id", None), now, text
    transition(lc, LandedCostState.reversed, machine=LANDED_COST_STATES, actor=actor, note=text,
               # what came off, as positive amounts ("118.12 off stock on hand")
               changes={"revaluation": -sum((r.revaluation for r in results), Decimal(0)),
                        "variance": -sum((r.variance for r in results), Decimal(0))})
    db.session.flush()
    return lc


def posted_landed_costs_of(receipt_id: int) -> list[str]:
    """Return the numbers of the posted landed costs applied to a receipt."""
    return list(db.session.scalars(
        select(LandedCost.number).join(LandedCostReceipt)
        .where(LandedCostReceipt.receipt_id == receipt_id,
               LandedCost.state == LandedCostState.posted).order_by(LandedCost.id)))
