"""Stock adjustments: small ones post at once, ones above the value threshold wait for a manager."""

from __future__ import annotations

from decimal import Decimal

from erp.catalog.models import Sku
from erp.core import audit, numbering
from erp.core import settings as core_settings
from erp.core.errors import PermissionDenied, ValidationError
from erp.core.i18n import _, _l
from erp.core.locking import lock
from erp.core.models import Role, utcnow
from erp.core.settings import SettingDef, _decimal, declare
from erp.core.states import transition
from erp.extensions import db
from erp.warehouse.models import (
    ADJUSTMENT_STATES,
    AdjustmentReason,
    AdjustmentState,
    Location,
    LocationKind,
    MoveKind,
    StockAdjustment,
)
from erp.warehouse.services.ledger import MoveSpec, post_move, virtual_location

declare(SettingDef("adjustment_approval_threshold",
                   _l("Adjustment approval threshold (base currency)"), _decimal,
                   Decimal("200"),
                   _l("Stock adjustments worth more than this wait for a manager's approval "
                      "(0: every adjustment does).")))


def request_adjustment(sku: Sku, location: Location, quantity: int, *, reason: str,
                       note: str | None, actor) -> StockAdjustment:
    """Adjust on-hand stock of a SKU in a bin by a signed quantity, with a reason.

    Posts at once when its value (quantity x average cost) is within the threshold; otherwise it
    waits for a manager's :func:`approve_adjustment`.

    :raises ValidationError: for a zero quantity, an unknown reason or a virtual location.
    :raises StockError: if taking stock out would make the bin negative.
    """
    if not isinstance(quantity, int) or quantity == 0:
        raise ValidationError(_("An adjustment needs a whole quantity other than zero."),
                              field="quantity")
    try:
        reason = AdjustmentReason(reason)
    except ValueError:
        raise ValidationError(_("Unknown adjustment reason %(reason)r.", reason=reason),
                              field="reason") from None
    if location.is_virtual:
        raise ValidationError(_("%(location)s is not a bin.", location=location.label),
                              field="location")
    if location.kind == LocationKind.in_transit:
        raise ValidationError(_("%(location)s holds goods in transit between warehouses; only "
                                "their transfer moves them.", location=location.label),
                              field="location")
    value = (abs(quantity) * (sku.avg_cost or Decimal(0))).quantize(Decimal("0.01"))
    adjustment = StockAdjustment(
        number=numbering.next_number("ADJ"), sku_id=sku.id, location_id=location.id,
        quantity=quantity, reason=reason, note=(note or "").strip() or None, value=value,
        state=AdjustmentState.pending, requested_by_id=getattr(actor, "id", None))
    db.session.add(adjustment)
    db.session.flush()
    audit.record(adjustment, "stock_adjustment.requested", actor=actor, changes={
        "sku": sku.code, "bin": location.label, "quantity": quantity, "reason": reason.value,
        "value": value})
    if value <= core_settings.get("adjustment_approval_threshold"):
        _post(adjustment, actor)
    return adjustment


def _post(adjustment: StockAdjustment, actor) -> None:
    transition(adjustment, AdjustmentState.approved, machine=ADJUSTMENT_STATES, actor=actor)
    adjustment.decided_by_id = getattr(actor, "id", None)
    adjustment.decided_at = utcnow()
    virtual = virtual_location(LocationKind.adjustment)
    bin_id = adjustment.location_id
    src, dst = (virtual.id, bin_id) if adjustment.quantity > 0 else (bin_id, virtual.id)
    post_move(MoveSpec(adjustment.sku_id, src, dst, abs(adjustment.quantity),
                       MoveKind.adjustment, ref_type="stock_adjustment", ref_id=adjustment.id,
                       note=f"{adjustment.reason.value}: {adjustment.note or ''}".strip(": ")),
              actor=actor)


def _check_manager(adjustment: StockAdjustment, actor) -> None:
    roles = getattr(actor, "roles", set())
    if not ({Role.manager, Role.admin} & set(roles)):
        raise PermissionDenied(_("To decide adjustment %(number)s, you must be a manager.",
                                 number=adjustment.number))


def approve_adjustment(adjustment: StockAdjustment, *, actor) -> StockAdjustment:
    """Approve a pending adjustment and post its move.

    :raises PermissionDenied: if the actor is not a manager or admin.
    :raises InvalidTransition: if it is not pending.
    :raises StockError: if the bin no longer holds the stock to take out.
    """
    _check_manager(adjustment, actor)
    # The adjustment owns its decision: lock it and read its state after the lock, so a second
    # approval waits and is refused instead of posting the move again.
    lock(adjustment)
    _post(adjustment, actor)
    db.session.flush()
    return adjustment


def reject_adjustment(adjustment: StockAdjustment, *, actor, note: str | None = None
                      ) -> StockAdjustment:
    """Reject a pending adjustment; nothing moves.

    :raises PermissionDenied: if the actor is not a manager or admin.
    :raises InvalidTransition: if it is not pending.
    """
    _check_manager(adjustment, actor)
    lock(adjustment)
    transition(adjustment, AdjustmentState.rejected, machine=ADJUSTMENT_STATES, actor=actor,
               note=note)
    adjustment.decided_by_id = getattr(actor, "id", None)
    adjustment.decided_at = utcnow()
    db.session.flush()
    return adjustment
