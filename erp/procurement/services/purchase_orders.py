"""Purchase orders: drafting lines, totals, submission and approval, ordering, cancel and close.

The state machine is ``PURCHASE_ORDER_STATES`` (models); every change of state goes through
:func:`erp.core.states.transition`, and every other change writes an audit event on the order, so
its history shows what changed after it was sent to the supplier.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from sqlalchemy import select

from erp.catalog.models import Sku, SkuStatus
from erp.core import audit, numbering
from erp.core import settings as core_settings
from erp.core.errors import DomainError, PermissionDenied, ValidationError
from erp.core.i18n import _, _l, format_number
from erp.core.locking import lock
from erp.core.models import Role, utcnow
from erp.core.money import CENT, convert, round_amount, round_unit_cost
from erp.core.states import InvalidTransition, transition
from erp.extensions import db
from erp.procurement.models import (
    PURCHASE_ORDER_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Supplier,
    SupplierItem,
)

S = PurchaseOrderState
#: roles whose holders may approve (and send back) purchase orders
APPROVER_ROLES = frozenset({Role.manager, Role.admin})
#: quantities are 32-bit integer columns: a typo of many digits stops here with a message
MAX_QUANTITY = 1_000_000_000


class PurchaseOrderError(DomainError):
    """A purchase-order rule refused the change (MOQ, pack multiple, lines, supplier...)."""


class CancelAfterReceiptError(InvalidTransition):
    """Cancelling an order that has received goods: it must be closed short instead."""

    def __init__(self, po: PurchaseOrder):
        DomainError.__init__(
            self, _('To cancel purchase order "%(number)s", you must close it short instead: '
                    "part of it has been received.", number=po.reference))
        self.current = PURCHASE_ORDER_STATES.enum(po.state)
        self.target = S.cancelled


# --------------------------------------------------------------------------- helpers


def _actor_id(actor) -> int | None:
    return getattr(actor, "id", None)


def _is_approver(user) -> bool:
    return bool(APPROVER_ROLES & set(getattr(user, "roles", ()) or ()))


def _clean_text(value: str | None) -> str | None:
    return (value or "").strip() or None


#: the refusals of an action that needs a reason, by action: no reason, a reason too long
_REASON_MESSAGES = {
    "send back": (
        _l('To send back purchase order "%(number)s", you must give a reason.'),
        _l('To send back purchase order "%(number)s", you must keep the reason within 500 '
           "characters.")),
    "cancel": (
        _l('To cancel purchase order "%(number)s", you must give a reason.'),
        _l('To cancel purchase order "%(number)s", you must keep the reason within 500 '
           "characters.")),
    "close": (
        _l('To close purchase order "%(number)s", you must give a reason.'),
        _l('To close purchase order "%(number)s", you must keep the reason within 500 '
           "characters.")),
}
#: the refusal of a change to an order that is not a draft, by action
_NOT_DRAFT_MESSAGES = {
    "add a line to": _l('To add a line to purchase order "%(number)s", you must have it in '
                        'draft; it is "%(state)s".'),
    "change a line of": _l('To change a line of purchase order "%(number)s", you must have it '
                           'in draft; it is "%(state)s".'),
    "remove a line from": _l('To remove a line from purchase order "%(number)s", you must have '
                             'it in draft; it is "%(state)s".'),
}
#: the refusal of a change to an order that is closed or cancelled, by action
_NOT_OPEN_MESSAGES = {
    "change": _l('To change purchase order "%(number)s", you must have it open; it is '
                 '"%(state)s".'),
    "change the expected date of": _l('To change the expected date of purchase order '
                                      '"%(number)s", you must have it open; it is "%(state)s".'),
}
#: the refusal of a decision only a manager may take, by action
_NOT_APPROVER_MESSAGES = {
    "approve": _l('To approve purchase order "%(number)s", you must be a manager.'),
    "send back": _l('To send back purchase order "%(number)s", you must be a manager.'),
}


def _require_reason(reason: str | None, action: str, po: PurchaseOrder) -> str:
    text = _clean_text(reason)
    missing, too_long = _REASON_MESSAGES[action]
    if not text:
        raise ValidationError(missing % {"number": po.reference}, field="reason")
    if len(text) > 500:
        raise ValidationError(too_long % {"number": po.reference}, field="reason")
    return text


def _require_editable(po: PurchaseOrder, action: str) -> None:
    if not PURCHASE_ORDER_STATES.in_group(po.state, "editable"):
        raise PurchaseOrderError(_NOT_DRAFT_MESSAGES[action] % {
            "number": po.reference, "state": PURCHASE_ORDER_STATES.label(po.state)})


def _require_open(po: PurchaseOrder, action: str) -> None:
    if not PURCHASE_ORDER_STATES.in_group(po.state, "open"):
        raise PurchaseOrderError(_NOT_OPEN_MESSAGES[action] % {
            "number": po.reference, "state": PURCHASE_ORDER_STATES.label(po.state)})


def _quantity(value, *, field: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(_("The quantity must be a whole number, got %(value)s.",
                                value=repr(value)), field=field)
    if not 0 < value <= MAX_QUANTITY:
        raise ValidationError(_("The quantity must be between 1 and %(most)s, got %(value)s.",
                                most=format_number(MAX_QUANTITY), value=format_number(value)),
                              field=field)
    return value


def _price(value, *, field: str = "unit_price") -> Decimal:
    try:
        price = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValidationError(_("The unit price must be a number, got %(value)s.",
                                value=repr(value)), field=field) from None
    if not price.is_finite() or price < 0:
        raise ValidationError(_("The unit price must be zero or more."), field=field)
    if price >= Decimal("1e10"):
        raise ValidationError(_("The unit price is too large."), field=field)
    return round_unit_cost(price)


def supplier_item_for(po: PurchaseOrder, sku: Sku) -> SupplierItem | None:
    """Return the order's supplier's item for ``sku`` (its price, MOQ and pack), if listed."""
    return db.session.scalar(select(SupplierItem).where(
        SupplierItem.supplier_id == po.supplier_id, SupplierItem.sku_id == sku.id))


def nearest_valid_quantity(quantity: int, moq: int, pack: int) -> int:
    """Return the orderable quantity nearest ``quantity``: at least ``moq``, in packs of ``pack``.

    Ties go up, so rounding never leaves the order short.
    """
    moq, pack = max(1, moq), max(1, pack)
    smallest = -(-moq // pack) * pack  # the first multiple of the pack at or above the MOQ
    if quantity <= smallest:
        return smallest
    below = quantity // pack * pack
    if below == quantity:
        return quantity
    above = below + pack
    if below < smallest:
        return above
    return below if quantity - below < above - quantity else above


def _check_moq_and_pack(po: PurchaseOrder, sku: Sku, item: SupplierItem | None,
                        quantity: int) -> None:
    if item is None:
        return
    moq, pack = max(1, item.moq or 1), max(1, item.pack_multiple or 1)
    below_moq, off_pack = quantity < moq, quantity % pack != 0
    if not (below_moq or off_pack):
        return
    nearest = nearest_valid_quantity(quantity, moq, pack)
    supplier = db.session.get(Supplier, po.supplier_id)
    values = {"sku": sku.code, "supplier": supplier.code, "moq": format_number(moq),
              "pack": format_number(pack), "nearest": format_number(nearest),
              "asked": format_number(quantity)}
    if below_moq and pack > 1:
        message = _('To order SKU "%(sku)s" from supplier "%(supplier)s", you must order at '
                    "least the minimum order quantity of %(moq)s, in packs of %(pack)s (nearest "
                    "valid quantity: %(nearest)s; asked for %(asked)s).", **values)
    elif below_moq:
        message = _('To order SKU "%(sku)s" from supplier "%(supplier)s", you must order at '
                    "least the minimum order quantity of %(moq)s (nearest valid quantity: "
                    "%(nearest)s; asked for %(asked)s).", **values)
    else:
        message = _('To order SKU "%(sku)s" from supplier "%(supplier)s", you must order a '
                    "multiple of the pack of %(pack)s (nearest valid quantity: %(nearest)s; "
                    "asked for %(asked)s).", **values)
    raise PurchaseOrderError(message, field="quantity")


def _default_price(po: PurchaseOrder, sku: Sku, item: SupplierItem | None) -> Decimal:
    """Return the supplier item's price in the order currency (converted today if it differs)."""
    if item is None:
        supplier = db.session.get(Supplier, po.supplier_id)
        raise PurchaseOrderError(
            _('To add SKU "%(sku)s" to purchase order "%(number)s", you must enter a unit price '
              'or first list the SKU on supplier "%(supplier)s"\'s price list.',
              sku=sku.code, number=po.reference, supplier=supplier.code),
            field="unit_price")
    if item.currency == po.currency:
        return round_unit_cost(item.unit_price)
    return convert(item.unit_price, item.currency, po.currency, on=date.today())


def _line_summary(line: PurchaseOrderLine, sku_code: str) -> dict:
    return {"line": line.id, "sku": sku_code, "quantity": line.quantity,
            "unit_price": line.unit_price, "expected_date": line.expected_date}


# --------------------------------------------------------------------------- drafting


def create_purchase_order(supplier: Supplier, *, actor, expected_date: date | None = None,
                          notes: str | None = None) -> PurchaseOrder:
    """Create a draft purchase order to ``supplier``, in the supplier's currency.

    :raises PurchaseOrderError: if the supplier is inactive.
    """
    if not supplier.active:
        raise PurchaseOrderError(
            _('To order from supplier "%(supplier)s", you must first reactivate it: it is '
              "inactive.", supplier=supplier.code), field="supplier_id")
    po = PurchaseOrder(supplier_id=supplier.id, currency=supplier.currency, state=S.draft,
                       expected_date=expected_date, notes=_clean_text(notes),
                       created_by_id=_actor_id(actor))
    db.session.add(po)
    db.session.flush()
    audit.record(po, "purchase_order.created", actor=actor, changes={
        "supplier": supplier.code, "currency": po.currency,
        "expected_date": [None, expected_date], "notes": [None, po.notes]})
    return po


def add_purchase_order_line(po: PurchaseOrder, sku: Sku, quantity: int, *, actor,
                            unit_price: Decimal | None = None,
                            expected_date: date | None = None) -> PurchaseOrderLine:
    """Add a line for ``quantity`` of ``sku`` to a draft order.

    The price defaults from the supplier's item for the SKU; its minimum order quantity and
    pack multiple apply whenever the supplier lists the SKU.

    :raises PurchaseOrderError: if the order is not a draft, the SKU is discontinued, no price
        is given and the supplier does not list the SKU, or the quantity breaks the MOQ or pack.
    :raises ValidationError: for a quantity or price that is not a positive whole number / a
        non-negative amount.
    """
    lock(po)  # the order owns its lines: no line slips in while it is submitted
    _require_editable(po, "add a line to")
    if sku.status == SkuStatus.discontinued:
        raise PurchaseOrderError(
            _('To order SKU "%(sku)s", you must first make it active again: it is '
              "discontinued.", sku=sku.code), field="sku")
    quantity = _quantity(quantity)
    item = supplier_item_for(po, sku)
    _check_moq_and_pack(po, sku, item, quantity)
    price = _price(unit_price) if unit_price is not None else _default_price(po, sku, item)
    line = PurchaseOrderLine(sku_id=sku.id, quantity=quantity, unit_price=price,
                             supplier_code=item.supplier_code if item else None,
                             received_qty=0, cancelled_qty=0, expected_date=expected_date)
    po.lines.append(line)
    db.session.flush()
    audit.record(po, "purchase_order.line_added", actor=actor,
                 changes=_line_summary(line, sku.code))
    return line


def update_purchase_order_line(line: PurchaseOrderLine, *, quantity: int,
                               unit_price: Decimal | None, expected_date: date | None,
                               actor) -> PurchaseOrderLine:
    """Change a draft line's quantity, price and expected date.

    A ``unit_price`` of ``None`` takes the supplier item's price again.

    :raises PurchaseOrderError: if the order is not a draft, the quantity breaks the MOQ or
        pack, or no price is given and the supplier does not list the SKU.
    :raises ValidationError: for a bad quantity or price.
    """
    po, sku = line.order, line.sku
    lock(po)
    _require_editable(po, "change a line of")
    quantity = _quantity(quantity)
    item = supplier_item_for(po, sku)
    _check_moq_and_pack(po, sku, item, quantity)
    price = _price(unit_price) if unit_price is not None else _default_price(po, sku, item)
    changes = audit.diff(line, {"quantity": quantity, "unit_price": price,
                                "expected_date": expected_date})
    for key, (_before, after) in changes.items():
        setattr(line, key, after)
    if changes:
        db.session.flush()
        audit.record(po, "purchase_order.line_updated", actor=actor,
                     changes={"line": line.id, "sku": sku.code, **changes})
    return line


def remove_purchase_order_line(line: PurchaseOrderLine, *, actor) -> None:
    """Remove a line from a draft order.

    :raises PurchaseOrderError: if the order is not a draft.
    """
    po = line.order
    lock(po)
    _require_editable(po, "remove a line from")
    summary = _line_summary(line, line.sku.code)
    po.lines.remove(line)
    db.session.flush()
    audit.record(po, "purchase_order.line_removed", actor=actor, changes=summary)


def update_purchase_order(po: PurchaseOrder, *, expected_date: date | None,
                          notes: str | None, actor) -> PurchaseOrder:
    """Change an open order's expected date and notes (audited, also after ordering).

    :raises PurchaseOrderError: if the order is closed or cancelled.
    """
    lock(po)
    _require_open(po, "change")
    changes = audit.diff(po, {"expected_date": expected_date, "notes": _clean_text(notes)})
    for key, (_before, after) in changes.items():
        setattr(po, key, after)
    if changes:
        db.session.flush()
        audit.record(po, "purchase_order.updated", actor=actor, changes={
            **changes, "state": po.state.value})
    return po


def update_expected_date(po_or_line: PurchaseOrder | PurchaseOrderLine, date: date | None, *,
                         actor) -> PurchaseOrder | PurchaseOrderLine:
    """Change the expected date of an open order or of one of its lines (audited on the order).

    :raises PurchaseOrderError: if the order is closed or cancelled.
    """
    if isinstance(po_or_line, PurchaseOrderLine):
        po, line = po_or_line.order, po_or_line
    else:
        po, line = po_or_line, None
    lock(po)
    _require_open(po, "change the expected date of")
    target = line if line is not None else po
    before = target.expected_date
    if before == date:
        return po_or_line
    target.expected_date = date
    db.session.flush()
    changes: dict = {"expected_date": [before, date], "state": po.state.value}
    if line is not None:
        changes.update(line=line.id, sku=line.sku.code)
    audit.record(po, "purchase_order.expected_date_changed", actor=actor, changes=changes)
    return po_or_line


# --------------------------------------------------------------------------- totals


def purchase_order_totals(po: PurchaseOrder) -> tuple[Decimal, str, Decimal]:
    """Return ``(total, currency, total in base currency)``, cancelled quantities excluded.

    Converted at the order date, or today before the order is placed.

    :raises ValidationError: if no exchange rate for the order currency is known on that date.
    """
    total = round_amount(po.total)
    on = po.ordered_on or date.today()
    total_base = convert(total, po.currency, core_settings.base_currency(), on=on, places=CENT)
    return total, po.currency, total_base


# --------------------------------------------------------------------------- the workflow


def submit_purchase_order(po: PurchaseOrder, *, actor) -> PurchaseOrder:
    """Submit a draft: number it, then approve it directly or send it for approval.

    Orders whose base-currency total is above the ``approval_threshold`` setting wait for a
    manager; others are approved at once.

    :raises InvalidTransition: if the order is not a draft.
    :raises PurchaseOrderError: if it has no lines or its supplier is inactive.
    :raises ValidationError: if the exchange rate to value it is missing.
    """
    # The order owns its state, lines and total: read them after the lock (lines reloaded), so
    # a second submit, or a line changed meanwhile, waits and then is seen.
    lock_purchase_order(po)
    PURCHASE_ORDER_STATES.check(po, S.awaiting_approval)  # both targets leave draft only
    if not po.lines:
        raise PurchaseOrderError(_('To submit purchase order "%(number)s", you must first add '
                                   "at least one line.", number=po.reference))
    if not po.supplier.active:
        raise PurchaseOrderError(_('To submit purchase order "%(number)s", you must first '
                                   'reactivate supplier "%(supplier)s".', number=po.reference,
                                   supplier=po.supplier.code))
    total, currency, total_base = purchase_order_totals(po)
    threshold = core_settings.get("approval_threshold")
    needs_approval = total_base > threshold
    # Numbered on leaving draft (Tryton's choice): deleted drafts leave no gaps. An order sent
    # back keeps its number.
    if po.number is None:
        po.number = numbering.next_number("PO")
    changes = {"number": po.number, "total": f"{total} {currency}",
               "total_base": f"{total_base} {core_settings.base_currency()}",
               "approval_threshold": threshold}
    if needs_approval:
        transition(po, S.awaiting_approval, machine=PURCHASE_ORDER_STATES, actor=actor,
                   changes=changes)
    else:
        transition(po, S.approved, machine=PURCHASE_ORDER_STATES, actor=actor,
                   changes=changes, note="within the approval threshold")
        po.approved_by_id, po.approved_at = None, utcnow()
    db.session.flush()
    return po


def _check_approver(po: PurchaseOrder, user, action: str) -> None:
    if not _is_approver(user):
        raise PermissionDenied(_NOT_APPROVER_MESSAGES[action] % {"number": po.reference})


def approve_purchase_order(po: PurchaseOrder, *, approver) -> PurchaseOrder:
    """Approve an order awaiting approval.

    :raises InvalidTransition: if it is not awaiting approval.
    :raises PermissionDenied: if the approver is not a manager or admin, or created the order.
    """
    lock(po)
    # Not the table alone: it also lets a draft under the threshold become approved.
    if po.state != S.awaiting_approval:
        raise InvalidTransition(po, po.state, S.approved, PURCHASE_ORDER_STATES)
    _check_approver(po, approver, "approve")
    if po.created_by_id is not None and _actor_id(approver) == po.created_by_id:
        raise PermissionDenied(_('To approve purchase order "%(number)s", you must be someone '
                                 "other than its creator.", number=po.reference))
    transition(po, S.approved, machine=PURCHASE_ORDER_STATES, actor=approver)
    po.approved_by_id, po.approved_at = _actor_id(approver), utcnow()
    db.session.flush()
    return po


def send_back_purchase_order(po: PurchaseOrder, *, actor, reason: str) -> PurchaseOrder:
    """Send an order awaiting approval back to draft, with the reason.

    :raises InvalidTransition: if it is not awaiting approval.
    :raises PermissionDenied: if the actor is not a manager or admin.
    :raises ValidationError: without a reason.
    """
    lock(po)
    PURCHASE_ORDER_STATES.check(po, S.draft)
    _check_approver(po, actor, "send back")
    reason = _require_reason(reason, "send back", po)
    transition(po, S.draft, machine=PURCHASE_ORDER_STATES, actor=actor, note=reason)
    db.session.flush()
    return po


def mark_purchase_order_ordered(po: PurchaseOrder, *, actor,
                                ordered_on: date | None = None) -> PurchaseOrder:
    """Record that an approved order was sent to the supplier.

    Without an expected date, it is set from the supplier's lead time.

    :raises InvalidTransition: if the order is not approved.
    """
    lock(po)
    # Not the table alone: it also lets a reversed receipt take an order back to "ordered".
    if po.state != S.approved:
        raise InvalidTransition(po, po.state, S.ordered, PURCHASE_ORDER_STATES)
    ordered_on = ordered_on or date.today()
    changes: dict = {"ordered_on": [po.ordered_on, ordered_on]}
    if po.expected_date is None:
        expected = ordered_on + timedelta(days=po.supplier.lead_time_days or 0)
        changes["expected_date"] = [None, expected]
        po.expected_date = expected
    po.ordered_on = ordered_on
    transition(po, S.ordered, machine=PURCHASE_ORDER_STATES, actor=actor, changes=changes)
    db.session.flush()
    return po


def lock_purchase_order(po: PurchaseOrder) -> list[PurchaseOrderLine]:
    """Lock the order row, then its lines in id order; return the lines, freshly read.

    Receipts, reversals, cancelling and closing take these locks first, so on PostgreSQL they
    queue one behind another on the same order and each sees the quantities the previous one
    committed (SQLite serialises writers anyway).
    """
    lock(po)
    return list(db.session.scalars(
        select(PurchaseOrderLine).where(PurchaseOrderLine.order_id == po.id)
        .order_by(PurchaseOrderLine.id).with_for_update()
        .execution_options(populate_existing=True)))


def cancel_purchase_order(po: PurchaseOrder, *, actor, reason: str) -> PurchaseOrder:
    """Cancel an order before anything is received.

    :raises CancelAfterReceiptError: (an :class:`InvalidTransition`) once anything is received:
        close it short instead.
    :raises InvalidTransition: if it is already closed or cancelled.
    :raises ValidationError: without a reason.
    """
    lines = lock_purchase_order(po)  # a receipt posting meanwhile commits first, then we see it
    if po.state in (S.partially_received, S.received) \
            or any(line.received_qty for line in lines):
        raise CancelAfterReceiptError(po)
    PURCHASE_ORDER_STATES.check(po, S.cancelled)
    reason = _require_reason(reason, "cancel", po)
    transition(po, S.cancelled, machine=PURCHASE_ORDER_STATES, actor=actor, note=reason)
    po.closed_at = utcnow()
    db.session.flush()
    return po


def close_purchase_order(po: PurchaseOrder, *, actor, reason: str) -> PurchaseOrder:
    """Close a (partly) received order; what remains to receive is cancelled (closed short).

    :raises InvalidTransition: unless the order is partially or fully received.
    :raises ValidationError: without a reason when something remains to receive.
    """
    lines = lock_purchase_order(po)
    PURCHASE_ORDER_STATES.check(po, S.closed)
    short = {line.id: line.remaining_qty for line in lines if line.remaining_qty}
    note = _require_reason(reason, "close", po) if short else _clean_text(reason)
    skus = dict(db.session.execute(select(Sku.id, Sku.code).where(
        Sku.id.in_({line.sku_id for line in lines if line.id in short}))).all()) if short else {}
    for line in lines:
        if line.id in short:
            # closed short: the rest of the line will not come
            line.cancelled_qty += short[line.id]
    transition(po, S.closed, machine=PURCHASE_ORDER_STATES, actor=actor, note=note, changes={
        "cancelled": [{"line": line.id, "sku": skus[line.sku_id], "quantity": short[line.id]}
                      for line in lines if line.id in short]})
    po.closed_at = utcnow()
    db.session.flush()
    return po


# --------------------------------------------------------------------------- predicates


def can_edit_lines(po: PurchaseOrder) -> bool:
    """Return whether lines may be added, changed or removed (drafts only)."""
    return PURCHASE_ORDER_STATES.in_group(po.state, "editable")


def can_update(po: PurchaseOrder) -> bool:
    """Return whether the expected dates and notes may change (any open order)."""
    return PURCHASE_ORDER_STATES.in_group(po.state, "open")


def can_submit(po: PurchaseOrder) -> bool:
    """Return whether the order can be submitted (a draft with lines)."""
    return po.state == S.draft and bool(po.lines)


def can_approve(po: PurchaseOrder, user) -> bool:
    """Return whether ``user`` may approve the order now (a manager other than its creator)."""
    return (po.state == S.awaiting_approval and _is_approver(user)
            and (po.created_by_id is None or _actor_id(user) != po.created_by_id))


def can_send_back(po: PurchaseOrder, user) -> bool:
    """Return whether ``user`` may send the order back to draft."""
    return po.state == S.awaiting_approval and _is_approver(user)


def can_order(po: PurchaseOrder) -> bool:
    """Return whether the order can be marked as sent to the supplier."""
    return po.state == S.approved


def can_cancel(po: PurchaseOrder) -> bool:
    """Return whether the order can be cancelled (nothing received yet)."""
    return (PURCHASE_ORDER_STATES.can(po.state, S.cancelled)
            and not any(line.received_qty for line in po.lines))


def can_close(po: PurchaseOrder) -> bool:
    """Return whether the order can be closed (closed short if something remains)."""
    return PURCHASE_ORDER_STATES.can(po.state, S.closed)


def can_receive(po: PurchaseOrder) -> bool:
    """Return whether goods can be received against the order."""
    return PURCHASE_ORDER_STATES.in_group(po.state, "receivable")

