"""Receiving: goods that arrive against a purchase order go into a bin, at base-currency cost.

One receipt posts one batch of warehouse moves from the virtual supplier location (the
warehouse updates each SKU's moving-average cost), raises the lines' received quantities and
moves the order's state. A receipt is reversed by counter-moves while its stock is still in the
bin it went to.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core import audit, numbering
from erp.core import settings as core_settings
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.money import rate_on, round_unit_cost
from erp.core.settings import SettingDef, declare
from erp.core.states import transition
from erp.extensions import db
from erp.procurement.models import (
    PURCHASE_ORDER_STATES,
    RECEIPT_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
    ReceiptState,
)
from erp.procurement.services.landed_costs import posted_landed_costs_of
from erp.procurement.services.purchase_orders import MAX_QUANTITY, lock_purchase_order
from erp.quality import services as quality
from erp.warehouse.models import Location, LocationKind, MoveKind
from erp.warehouse.services import MoveSpec, StockError, post_moves, virtual_location

S = PurchaseOrderState
#: the bin kinds goods may be received into
RECEIVING_KINDS = frozenset({LocationKind.receiving, LocationKind.storage})
#: the stock-move reference of a receipt line (and of its reversal)
RECEIPT_LINE_REF = "receipt_line"


def _percent(raw: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip())
    except ArithmeticError:
        raise ValueError(_("must be a number, got %(value)s", value=repr(raw))) from None
    if not value.is_finite() or not 0 <= value <= 1000:
        raise ValueError(_("must be a percentage from 0 to 1000"))
    return value


declare(SettingDef(
    "over_receipt_tolerance_pct", _l("Over-receipt tolerance (%)"), _percent, Decimal(0),
    _l("How much more than ordered (less any cancelled quantity) a purchase order line may "
       "receive, in percent of the line; 0 means exactly the quantity ordered.")))


class ReceivingError(DomainError):
    """A receiving rule refused the receipt or its reversal."""


def _label(state) -> str:
    return PURCHASE_ORDER_STATES.label(state)


def receivable_limit(line: PurchaseOrderLine, tolerance_pct: Decimal) -> int:
    """Return the most a line may receive in total: quantity less cancelled, plus tolerance.

    The tolerance is a percentage of the line; the result is rounded down.
    """
    due = line.quantity - line.cancelled_qty
    return int((Decimal(due) * (100 + tolerance_pct) / 100).to_integral_value(ROUND_FLOOR))


def over_receipt_tolerance() -> Decimal:
    """Return the ``over_receipt_tolerance_pct`` setting."""
    return core_settings.get("over_receipt_tolerance_pct")


def check_receiving_location(po: PurchaseOrder, location: Location) -> None:
    """Check that goods may go into ``location``: an active receiving or storage bin.

    :raises ValidationError: naming the location otherwise (field ``location``).
    """
    kind = LocationKind(location.kind)
    if location.is_virtual or kind not in RECEIVING_KINDS:
        raise ValidationError(
            _('To receive purchase order "%(number)s" into %(bin)s, you must choose a receiving '
              "or storage bin; it is a %(kind)s location.", number=po.reference,
              bin=location.label, kind=kind.value), field="location")
    if not location.active or (location.warehouse and not location.warehouse.active):
        raise ValidationError(
            _('To receive purchase order "%(number)s" into %(bin)s, you must choose an active '
              "bin; it is inactive.", number=po.reference, bin=location.label),
            field="location")


def _clean_quantities(po: PurchaseOrder, quantities: Mapping[int, int]) -> dict[int, int]:
    wanted: dict[int, int] = {}
    for line_id, qty in quantities.items():
        if isinstance(qty, bool) or not isinstance(qty, int):
            raise ValidationError(_('To receive purchase order "%(number)s", you must enter '
                                    "whole quantities; got %(value)s.", number=po.reference,
                                    value=repr(qty)), field="quantities")
        if qty < 0:
            raise ValidationError(_('To receive purchase order "%(number)s", you must enter '
                                    "quantities of zero or more; got %(value)s.",
                                    number=po.reference, value=qty), field="quantities")
        if qty > MAX_QUANTITY:
            raise ValidationError(_('To receive purchase order "%(number)s", you must enter '
                                    "quantities up to %(most)s; got %(value)s.",
                                    number=po.reference, most=format_number(MAX_QUANTITY),
                                    value=format_number(qty)), field="quantities")
        if qty:  # a line left at zero did not arrive in this delivery
            wanted[int(line_id)] = wanted.get(int(line_id), 0) + qty
    if not wanted:
        raise ValidationError(_('To receive purchase order "%(number)s", you must enter a '
                                "quantity on at least one line.", number=po.reference),
                              field="quantities")
    return wanted


def receive_purchase_order(po: PurchaseOrder, quantities: Mapping[int, int], *,
                           location: Location, actor, note: str | None = None) -> Receipt:
    """Receive a delivery: ``quantities`` maps order line ids to the units that arrived.

    Lines at zero are skipped. Each line's total received may not exceed its quantity less
    cancelled plus the ``over_receipt_tolerance_pct`` setting. The stock is posted in one batch
    from the supplier location into ``location``, at each line's unit price converted to the
    base currency at today's rate; the order becomes partially or fully received.

    :raises ReceivingError: if the order is not ordered or partially received, or a quantity
        exceeds what the line may still receive.
    :raises ValidationError: for a bin that is not an active receiving or storage bin, a
        negative or fractional quantity, nothing to receive, a line not on this order, or a
        missing exchange rate.
    :raises StockError: if the warehouse refuses (e.g. the bin is frozen by a cycle count).
    :raises InspectionError: if inspection of the supplier's goods under a line's
        specification is discontinued.
    """
    check_receiving_location(po, location)
    wanted = _clean_quantities(po, quantities)
    lines = {line.id: line for line in lock_purchase_order(po)}
    if not PURCHASE_ORDER_STATES.in_group(po.state, "receivable"):
        raise ReceivingError(_('To receive against purchase order "%(number)s", you must have '
                               'it ordered; it is "%(state)s".', number=po.reference,
                               state=_label(po.state)))
    unknown = sorted(set(wanted) - set(lines))
    if unknown:
        raise ValidationError(_('To receive purchase order "%(number)s", you must enter '
                                "quantities for its own lines only; line %(line)s is not one "
                                "of them.", number=po.reference, line=unknown[0]),
                              field="quantities")
    codes = dict(db.session.execute(select(Sku.id, Sku.code).where(
        Sku.id.in_({lines[i].sku_id for i in wanted}))).all())
    tolerance = over_receipt_tolerance()
    for line_id in sorted(wanted):
        line, qty = lines[line_id], wanted[line_id]
        limit = receivable_limit(line, tolerance)
        if line.received_qty + qty > limit:
            more = max(0, limit - line.received_qty)
            raise ReceivingError(
                _('To receive %(qty)s of SKU "%(sku)s" on purchase order "%(number)s", you must '
                  "stay within what the line may still receive: %(more)s (%(ordered)s ordered, "
                  "%(received)s received, over-receipt tolerance %(tolerance)s%%).",
                  qty=format_number(qty), sku=codes[line.sku_id], number=po.reference,
                  more=format_number(more),
                  ordered=format_number(line.quantity - line.cancelled_qty),
                  received=format_number(line.received_qty), tolerance=tolerance),
                field=f"qty-{line_id}")
    now = utcnow()
    base = core_settings.base_currency()
    # One rate for the whole receipt: convert() would look it up again for every line.
    rate = rate_on(po.currency, now.date(), base=base)
    receipt = Receipt(number=numbering.next_number("RCV"), order_id=po.id,
                      location_id=location.id, state=ReceiptState.posted, received_at=now,
                      received_by_id=getattr(actor, "id", None), note=_note(note))
    receipt_lines = [
        ReceiptLine(order_line_id=line_id, sku_id=lines[line_id].sku_id,
                    quantity=wanted[line_id],
                    unit_cost_base=round_unit_cost(lines[line_id].unit_price * rate))
        for line_id in sorted(wanted)]
    receipt.lines = receipt_lines
    db.session.add(receipt)
    db.session.flush()
    lots = _open_lots(po, receipt, receipt_lines, location, actor)
    supplier = virtual_location(LocationKind.supplier)
    moves = post_moves([
        MoveSpec(rl.sku_id, supplier.id,
                 lots[rl.id].hold_location_id if rl.id in lots else location.id,
                 rl.quantity, MoveKind.receipt,
                 unit_cost=rl.unit_cost_base, ref_type=RECEIPT_LINE_REF, ref_id=rl.id,
                 note=f"{receipt.number} {po.reference}") for rl in receipt_lines],
        actor=actor, at=now)
    for rl, move in zip(receipt_lines, moves, strict=True):
        rl.move_id = move.id
        lines[rl.order_line_id].received_qty += rl.quantity
    done = all(line.remaining_qty == 0 for line in lines.values())
    transition(po, S.received if done else S.partially_received, machine=PURCHASE_ORDER_STATES,
               actor=actor, changes={"receipt": receipt.number})
    audit.record(receipt, "receipt.posted", actor=actor, changes={
        "order": po.reference, "bin": location.label, "currency": base,
        "lines": [{"line": rl.order_line_id, "sku": codes[rl.sku_id], "quantity": rl.quantity,
                   "unit_cost_base": rl.unit_cost_base,
                   **({"inspection": lots[rl.id].number} if rl.id in lots else {})}
                  for rl in receipt_lines]})
    db.session.flush()
    return receipt


def _open_lots(po: PurchaseOrder, receipt: Receipt, receipt_lines: list[ReceiptLine],
               location: Location, actor) -> dict:
    """Open an inspection lot for each line whose SKU's specification has a plan.

    Return the lots by receipt line id; their goods go to the lot's QC hold bin.
    """
    versions = quality.inspected_versions({rl.sku_id for rl in receipt_lines})
    if not versions:
        return {}
    reference = f"{receipt.number} · {po.reference}"
    return quality.open_inspections([
        quality.LotSpec(ref_type=RECEIPT_LINE_REF, ref_id=rl.id, reference=reference,
                        supplier_id=po.supplier_id, supplier_name=po.supplier.name,
                        sku_id=rl.sku_id, version=versions[rl.sku_id],
                        warehouse=location.warehouse, release_location_id=location.id,
                        lot_size=rl.quantity)
        for rl in receipt_lines if rl.sku_id in versions], actor=actor)


def _note(note: str | None) -> str | None:
    text = (note or "").strip() or None
    if text and len(text) > 500:
        raise ValidationError(_("A receipt note must be at most 500 characters."), field="note")
    return text


def reverse_receipt(receipt: Receipt, *, actor, reason: str) -> Receipt:
    """Undo a receipt by counter-moves from its bin back to the supplier location.

    Possible only while the received stock is still (unreserved) in that bin. The lines'
    received quantities go down and the order returns to partially received, or to ordered
    when nothing received remains. The pending inspection lots of the receipt are cancelled and
    their goods leave the QC hold bin; a receipt with a decided lot cannot be reversed.

    :raises InvalidTransition: if the receipt is already reversed.
    :raises ReceivingError: if the order is closed or cancelled, or the stock has moved on.
    :raises InspectionError: if a lot of the receipt is already decided.
    :raises ValidationError: without a reason.
    """
    RECEIPT_STATES.check(receipt, ReceiptState.reversed)
    text = (reason or "").strip()
    if not text:
        raise ValidationError(_('To reverse receipt "%(number)s", you must give a reason.',
                                number=receipt.number), field="reason")
    if len(text) > 500:
        raise ValidationError(_('To reverse receipt "%(number)s", you must keep the reason '
                                "within 500 characters.", number=receipt.number),
                              field="reason")
    po = receipt.order
    lines = {line.id: line for line in lock_purchase_order(po)}
    lock(receipt)
    RECEIPT_STATES.check(receipt, ReceiptState.reversed)  # again, under the lock
    # A posted landed cost revalued this receipt's stock; undoing the receipt would leave that
    # value behind. Its posting locks the receipt too, so the two cannot cross.
    landed = posted_landed_costs_of(receipt.id)
    if landed:
        raise ReceivingError(_('To reverse receipt "%(number)s", you must first reverse landed '
                               "cost %(landed)s, which is posted on it.", number=receipt.number,
                               landed=", ".join(landed)))
    if po.state not in (S.partially_received, S.received):
        raise ReceivingError(_('To reverse receipt "%(number)s", you must have its purchase '
                               'order "%(order)s" still receiving; it is "%(state)s".',
                               number=receipt.number, order=po.reference,
                               state=_label(po.state)))
    holds = quality.cancel_for_reversal(RECEIPT_LINE_REF, [rl.id for rl in receipt.lines],
                                        actor=actor, reason=text)
    supplier = virtual_location(LocationKind.supplier)
    location = receipt.location
    try:
        post_moves([
            MoveSpec(rl.sku_id, holds.get(rl.id, receipt.location_id), supplier.id, rl.quantity,
                     MoveKind.receipt_reversal, unit_cost=rl.unit_cost_base,
                     ref_type=RECEIPT_LINE_REF, ref_id=rl.id,
                     note=f"reversal of {receipt.number}: {text}"[:500])
            for rl in receipt.lines], actor=actor)
    except StockError as err:
        raise ReceivingError(_('To reverse receipt "%(number)s", you must first bring its '
                               "stock back to %(bin)s: %(reason)s", number=receipt.number,
                               bin=location.label, reason=str(err))) from None
    for rl in receipt.lines:
        lines[rl.order_line_id].received_qty -= rl.quantity
    received = sum(line.received_qty for line in lines.values())
    changes = {"receipt_reversed": receipt.number}
    if received == 0 and po.state == S.received:
        # The table goes back one step at a time: received -> partially received -> ordered.
        transition(po, S.partially_received, machine=PURCHASE_ORDER_STATES, actor=actor,
                   changes=changes, note=text)
    transition(po, S.ordered if received == 0 else S.partially_received,
               machine=PURCHASE_ORDER_STATES, actor=actor, changes=changes, note=text)
    transition(receipt, ReceiptState.reversed, machine=RECEIPT_STATES, actor=actor, note=text)
    receipt.reversed_at = utcnow()
    db.session.flush()
    return receipt


def can_reverse(receipt: Receipt) -> bool:
    """Return whether the receipt may be reversed: posted, order receiving, no landed cost.

    Whether its stock is still in the bin is only known when the reversal is tried.
    """
    return (receipt.state == ReceiptState.posted
            and receipt.order.state in (S.partially_received, S.received)
            and not posted_landed_costs_of(receipt.id))
