"""Returns to suppliers: drafting, shipping the goods back, and the claim it raises.

Lines come from quarantine stock, rejected inspection lots or customer returns.

A return is edited only in draft. Shipping locks the return, then posts one batch of moves from
each line's bin to the virtual supplier location at the SKU's moving-average cost (the ledger
locks the levels and refuses what is not there), and raises one claim (a debit note) for the
return's claim amount on the supplier's account. A repeated ship finds the return shipped and
is refused, so it acts once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select

from erp.catalog.models import Sku
from erp.core import audit, numbering
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.locking import lock
from erp.core.models import utcnow
from erp.core.money import convert, round_unit_cost
from erp.core.states import transition
from erp.extensions import db
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Supplier,
    SupplierItem,
)
from erp.procurement.return_models import (
    SUPPLIER_CLAIM_STATES,
    SUPPLIER_RETURN_STATES,
    SupplierClaim,
    SupplierClaimState,
    SupplierReturn,
    SupplierReturnLine,
    SupplierReturnState,
)
from erp.warehouse.models import Location, LocationKind, MoveKind, StockLevel
from erp.warehouse.services import MoveSpec, StockError, post_moves, virtual_location

SR = SupplierReturnState
#: the stock-move reference of a supplier return line
SUPPLIER_RETURN_LINE_REF = "supplier_return_line"
#: the sources a line may name (``ref_type``)
SOURCE_TYPES = ("inspection", "quarantine", "return_item")
#: purchase orders whose prices count as paid (the default claim price)
_PRICED_STATES = (PurchaseOrderState.ordered, PurchaseOrderState.partially_received,
                  PurchaseOrderState.received, PurchaseOrderState.closed)
MAX_QUANTITY = 1_000_000_000


class SupplierReturnError(DomainError):
    """A supplier-return rule refused the change."""


@dataclass(frozen=True)
class ReturnLineSpec:
    """A line to put on a return: units of a SKU from a bin, with their source."""

    sku_id: int
    location_id: int
    quantity: int
    unit_price: Decimal | None = None
    reason: str | None = None
    ref_type: str | None = None
    ref_id: int | None = None
    #: the most units of this source that all returns together may take (None: no limit)
    ref_limit: int | None = None


def _text(value: str | None, most: int, field: str) -> str | None:
    text = (value or "").strip() or None
    if text and len(text) > most:
        raise ValidationError(_("Keep this text within %(most)s characters.", most=most),
                              field=field)
    return text


#: the refusal of a change to a return that is not a draft, by action
_NOT_DRAFT = {
    "add": _l('To add a line to supplier return "%(number)s", you must have it in draft; it is '
              '"%(state)s".'),
    "remove": _l('To remove a line from supplier return "%(number)s", you must have it in '
                 'draft; it is "%(state)s".'),
}


def _require_draft(ret: SupplierReturn, action: str) -> None:
    if not SUPPLIER_RETURN_STATES.in_group(ret.state, "editable"):
        raise SupplierReturnError(_NOT_DRAFT[action] % {
            "number": ret.number, "state": SUPPLIER_RETURN_STATES.label(ret.state)})


def last_paid_price(supplier: Supplier, sku_id: int, currency: str) -> Decimal | None:
    """Return the unit price last paid to ``supplier`` for a SKU on a PO, in ``currency``.

    The latest line of an ordered (or received, or closed) purchase order wins; its price is
    converted at today's rate when the order's currency differs. None if never bought.

    :raises ValidationError: if the conversion needs a missing exchange rate.
    """
    row = db.session.execute(
        select(PurchaseOrderLine.unit_price, PurchaseOrder.currency)
        .join(PurchaseOrder, PurchaseOrder.id == PurchaseOrderLine.order_id)
        .where(PurchaseOrder.supplier_id == supplier.id, PurchaseOrderLine.sku_id == sku_id,
               PurchaseOrder.state.in_(_PRICED_STATES))
        .order_by(PurchaseOrder.ordered_on.desc().nulls_last(), PurchaseOrderLine.id.desc())
        .limit(1)).first()
    if row is None:
        item = db.session.scalar(select(SupplierItem).where(
            SupplierItem.supplier_id == supplier.id, SupplierItem.sku_id == sku_id))
        if item is None:
            return None
        price, from_currency = item.unit_price, item.currency
    else:
        price, from_currency = row
    if from_currency == currency:
        return round_unit_cost(price)
    return convert(price, from_currency, currency, on=date.today())


def suppliers_for_sku(sku_id: int) -> list[Supplier]:
    """Return the suppliers a SKU may go back to: the preferred one first, then by last PO.

    The preferred supplier item's supplier leads, then the suppliers of the SKU's purchase
    orders (latest first), then any other supplier listing it.
    """
    found: list[Supplier] = []
    preferred = db.session.scalars(
        select(Supplier).join(SupplierItem, SupplierItem.supplier_id == Supplier.id)
        .where(SupplierItem.sku_id == sku_id)
        .order_by(SupplierItem.preferred.desc(), Supplier.code)).all()
    by_po = db.session.execute(
        select(PurchaseOrder.supplier_id, func.max(PurchaseOrderLine.id).label("last"))
        .join(PurchaseOrderLine, PurchaseOrderLine.order_id == PurchaseOrder.id)
        .where(PurchaseOrderLine.sku_id == sku_id,
               PurchaseOrder.state.in_(_PRICED_STATES))
        .group_by(PurchaseOrder.supplier_id)).all()
    po_suppliers = [db.session.get(Supplier, sid)
                    for sid, _last in sorted(by_po, key=lambda r: -r.last)]
    items = {s.id: s for s in preferred}
    preferred_ids = [s.id for s in preferred if any(
        i.preferred for i in s.items if i.sku_id == sku_id)]
    for supplier in ([items[i] for i in preferred_ids] + po_suppliers + preferred):
        if supplier not in found:
            found.append(supplier)
    return found


def create_supplier_return(supplier: Supplier, *, actor, note: str | None = None,
                           lines: Sequence[ReturnLineSpec] = ()) -> SupplierReturn:
    """Start a draft return to ``supplier`` in its currency, with ``lines`` if given.

    :raises SupplierReturnError: if the supplier is inactive, or a line is refused (see
        :func:`add_supplier_return_line`).
    """
    if not supplier.active:
        raise SupplierReturnError(_('To return goods to supplier "%(supplier)s", you must '
                                    "first reactivate it: it is inactive.",
                                    supplier=supplier.code), field="supplier_id")
    ret = SupplierReturn(number=numbering.next_number("SR"), supplier_id=supplier.id,
                         currency=supplier.currency, state=SR.draft,
                         note=_text(note, 2000, "note"), created_by_id=getattr(actor, "id", None))
    db.session.add(ret)
    db.session.flush()
    audit.record(ret, "supplier_return.created", actor=actor, changes={
        "supplier": supplier.code, "currency": ret.currency})
    for spec in lines:
        add_supplier_return_line(ret, spec, actor=actor)
    return ret


def _quantity(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_QUANTITY:
        raise ValidationError(_("The quantity must be a whole number from 1 to %(most)s, got "
                                "%(value)s.", most=format_number(MAX_QUANTITY),
                                value=repr(value)), field="quantity")
    return value


def _unit_price(value) -> Decimal:
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(_("The unit price must be a number, got %(value)s.",
                                value=repr(value)), field="unit_price") from None
    if not price.is_finite() or price < 0 or price >= Decimal("1e10"):
        raise ValidationError(_("The unit price must be zero or more."), field="unit_price")
    return round_unit_cost(price)


def source_quantity_taken(ref_type: str, ref_id: int, *, exclude_line_id: int | None = None
                          ) -> int:
    """Return the units of a source already on returns that are not cancelled."""
    query = (select(func.coalesce(func.sum(SupplierReturnLine.quantity), 0))
             .join(SupplierReturn, SupplierReturn.id == SupplierReturnLine.return_id)
             .where(SupplierReturnLine.ref_type == ref_type, SupplierReturnLine.ref_id == ref_id,
                    SupplierReturn.state != SR.cancelled))
    if exclude_line_id is not None:
        query = query.where(SupplierReturnLine.id != exclude_line_id)
    return int(db.session.scalar(query) or 0)


def add_supplier_return_line(ret: SupplierReturn, spec: ReturnLineSpec, *,
                             actor) -> SupplierReturnLine:
    """Add units of a SKU from a bin to a draft return, at a claim price.

    Without a price, the claim price is the one last paid to the supplier on a purchase order
    (see :func:`last_paid_price`). Stock is checked here as a help, and again, under the
    levels' locks, when the return is shipped.

    :raises SupplierReturnError: if the return is not a draft, the bin lacks the stock, no price
        is known, or the source has no more units to return.
    :raises ValidationError: for a bad quantity or price, a virtual location, an unknown SKU or
        source type.
    """
    # Locked first, as shipping locks it: a line never lands on a return shipped meanwhile.
    lock(ret)
    _require_draft(ret, "add")
    quantity = _quantity(spec.quantity)
    sku = db.session.get(Sku, spec.sku_id)
    if sku is None:
        raise ValidationError(_("SKU id %(id)s does not exist.", id=spec.sku_id), field="sku")
    location = db.session.get(Location, spec.location_id)
    if location is None or location.is_virtual or location.kind == LocationKind.in_transit:
        raise ValidationError(_('To return SKU "%(sku)s", you must take it from a bin.',
                                sku=sku.code), field="location")
    if spec.ref_type is not None and spec.ref_type not in SOURCE_TYPES:
        raise ValidationError(_("Unknown source %(source)s.", source=repr(spec.ref_type)),
                              field="source")
    if spec.ref_type and spec.ref_limit is not None:
        taken = source_quantity_taken(spec.ref_type, spec.ref_id)
        if taken + quantity > spec.ref_limit:
            raise SupplierReturnError(_(
                'To return %(qty)s of SKU "%(sku)s" from %(source)s %(id)s, you must stay '
                "within its %(limit)s units; %(taken)s are already on supplier returns.",
                qty=format_number(quantity), sku=sku.code, source=spec.ref_type, id=spec.ref_id,
                limit=format_number(spec.ref_limit), taken=format_number(taken)),
                field="quantity")
    level = db.session.scalar(select(StockLevel).where(StockLevel.sku_id == sku.id,
                                                       StockLevel.location_id == location.id))
    on_draft = int(db.session.scalar(
        select(func.coalesce(func.sum(SupplierReturnLine.quantity), 0))
        .where(SupplierReturnLine.return_id == ret.id, SupplierReturnLine.sku_id == sku.id,
               SupplierReturnLine.location_id == location.id)) or 0)
    free = (level.on_hand - level.reserved) if level is not None else 0
    if on_draft + quantity > free:
        raise SupplierReturnError(_(
            'To return %(qty)s of SKU "%(sku)s" from bin %(bin)s, you must have them there: it '
            "holds %(free)s available (%(draft)s already on this return).",
            qty=format_number(quantity), sku=sku.code, bin=location.label,
            free=format_number(free), draft=format_number(on_draft)), field="quantity")
    if spec.unit_price is None or spec.unit_price == "":
        supplier = db.session.get(Supplier, ret.supplier_id)
        price = last_paid_price(supplier, sku.id, ret.currency)
        if price is None:
            raise SupplierReturnError(_(
                'To claim SKU "%(sku)s" from supplier "%(supplier)s", you must enter a unit '
                "price: it was never bought from them on a purchase order.", sku=sku.code,
                supplier=supplier.code), field="unit_price")
    else:
        price = _unit_price(spec.unit_price)
    line = SupplierReturnLine(return_id=ret.id, sku_id=sku.id, location_id=location.id,
                              quantity=quantity, unit_price=price,
                              reason=_text(spec.reason, 200, "reason"), ref_type=spec.ref_type,
                              ref_id=spec.ref_id)
    ret.lines.append(line)
    db.session.flush()
    audit.record(ret, "supplier_return.line_added", actor=actor, changes={
        "line": line.id, "sku": sku.code, "bin": location.label, "quantity": quantity,
        "unit_price": price, "reason": line.reason,
        "source": f"{spec.ref_type}:{spec.ref_id}" if spec.ref_type else None})
    return line


def remove_supplier_return_line(line: SupplierReturnLine, *, actor) -> None:
    """Remove a line from a draft return.

    :raises SupplierReturnError: if the return is not a draft.
    """
    ret = lock(line.supplier_return)
    _require_draft(ret, "remove")
    audit.record(ret, "supplier_return.line_removed", actor=actor, changes={
        "line": line.id, "sku": line.sku.code, "quantity": line.quantity})
    ret.lines.remove(line)
    db.session.flush()


def ship_supplier_return(ret: SupplierReturn, *, actor) -> SupplierClaim:
    """Send the goods back: post moves from each line's bin to the supplier; raise the claim.

    Each unit leaves at its SKU's moving-average cost. The claim (a debit note numbered DN-)
    carries the return's claim amount in the supplier's currency. Locks the return first, so a
    repeat finds it shipped.

    :raises InvalidTransition: if the return is not a draft.
    :raises SupplierReturnError: if it has no lines, or a bin lacks the (unreserved) stock.
    """
    lock(ret)
    # the lines as they stand under the lock: one added just before it committed is shipped too
    db.session.expire(ret, ["lines"])
    SUPPLIER_RETURN_STATES.check(ret, SR.shipped)
    if not ret.lines:
        raise SupplierReturnError(_('To ship supplier return "%(number)s", you must first add '
                                    "a line.", number=ret.number))
    supplier = virtual_location(LocationKind.supplier)
    now = utcnow()
    try:
        moves = post_moves([
            MoveSpec(line.sku_id, line.location_id, supplier.id, line.quantity,
                     MoveKind.supplier_return, ref_type=SUPPLIER_RETURN_LINE_REF, ref_id=line.id,
                     note=ret.number) for line in ret.lines], actor=actor, at=now)
    except StockError as err:
        raise SupplierReturnError(_('To ship supplier return "%(number)s", you must have its '
                                    "goods in their bins: %(reason)s", number=ret.number,
                                    reason=str(err))) from None
    for line, move in zip(ret.lines, moves, strict=True):
        line.move_id = move.id
        line.unit_cost_base = move.unit_cost
    ret.shipped_at = now
    claim = SupplierClaim(number=numbering.next_number("DN"), supplier_id=ret.supplier_id,
                          return_id=ret.id, state=SupplierClaimState.open,
                          currency=ret.currency, amount=ret.claim_amount, raised_on=now.date())
    db.session.add(claim)
    db.session.flush()
    transition(ret, SR.shipped, machine=SUPPLIER_RETURN_STATES, actor=actor,
               changes={"claim": claim.number, "amount": claim.amount})
    audit.record(claim, "supplier_claim.raised", actor=actor, changes={
        "return": ret.number, "amount": claim.amount, "currency": claim.currency})
    db.session.flush()
    return claim


def close_supplier_return(ret: SupplierReturn, *, actor) -> SupplierReturn:
    """Close a shipped return (the supplier has the goods; nothing more to do on it).

    :raises InvalidTransition: if the return is not shipped.
    """
    lock(ret)
    transition(ret, SR.closed, machine=SUPPLIER_RETURN_STATES, actor=actor)
    ret.closed_at = utcnow()
    db.session.flush()
    return ret


def cancel_supplier_return(ret: SupplierReturn, *, actor, reason: str) -> SupplierReturn:
    """Cancel a draft return (no stock has moved).

    :raises InvalidTransition: if the return is not a draft.
    :raises ValidationError: without a reason.
    """
    text = _text(reason, 500, "reason")
    if not text:
        raise ValidationError(_('To cancel supplier return "%(number)s", you must give a '
                                "reason.", number=ret.number), field="reason")
    lock(ret)
    transition(ret, SR.cancelled, machine=SUPPLIER_RETURN_STATES, actor=actor, note=text)
    db.session.flush()
    return ret


def can_edit(ret: SupplierReturn) -> bool:
    """Return whether lines may be added or removed (a draft)."""
    return SUPPLIER_RETURN_STATES.in_group(ret.state, "editable")


def can_ship(ret: SupplierReturn) -> bool:
    """Return whether the return may be shipped (a draft with lines)."""
    return ret.state == SR.draft and bool(ret.lines)


def can_close(ret: SupplierReturn) -> bool:
    """Return whether the return may be closed (shipped)."""
    return SUPPLIER_RETURN_STATES.can(ret.state, SR.closed)


def can_cancel(ret: SupplierReturn) -> bool:
    """Return whether the return may be cancelled (a draft)."""
    return SUPPLIER_RETURN_STATES.can(ret.state, SR.cancelled)


def claim_label(claim: SupplierClaim) -> str:
    """Return the state label of a claim."""
    return SUPPLIER_CLAIM_STATES.label(claim.state)
