"""Demo after-sales work: about 30 cases over the demo's shipped orders, in every state.

Run once (when no case exists yet), after the outbound demo. When fewer orders shipped than
the demo needs, it ships more first through the outbound services (a wave, picking, packing,
labels, a closed dispatch batch), as the floor would. Then customer service opens cases of
several types and reasons; the warehouse receives and inspects returns; refunds (one above the
approval threshold left pending for a manager), keep-it refunds and replacement orders settle
them. Everything goes through the services.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from erp.aftersales.models import AfterSalesCase, CaseType, NoteVisibility
from erp.aftersales.services import cases, resolution, returns
from erp.aftersales.services.reasons import ensure_default_reasons
from erp.core import settings as core_settings
from erp.core.errors import DomainError
from erp.core.money import convert
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.shipping.models import Box, Carrier, Parcel, PickWave, PickWaveOrder
from erp.shipping.services import dispatch, packing, parcels, waves

#: orders the demo wants shipped before opening cases
WANTED_SHIPPED = 30

T = CaseType
#: (case type, reason code, where the case ends, note)
PLAN: list[tuple[CaseType, str, str, str | None]] = [
    (T.return_refund, "WRONG_SIZE", "open", "Customer asks for a size L instead."),
    (T.return_refund, "CHANGED_MIND", "open", None),
    (T.return_replacement, "DEFECTIVE", "open", "Zip broken on arrival; photo promised."),
    (T.damaged, "DEFECTIVE", "open", "Box crushed, customer sent photos."),
    (T.return_refund, "NOT_AS_DESCRIBED", "awaiting_return", None),
    (T.return_refund, "WRONG_SIZE", "awaiting_return", None),
    (T.return_replacement, "WRONG_SIZE", "awaiting_return", "Exchange for one size up."),
    (T.wrong_item, "WRONG_ITEM", "awaiting_return", None),
    (T.return_refund, "DEFECTIVE", "received", None),
    (T.return_replacement, "NOT_AS_DESCRIBED", "received", None),
    (T.return_refund, "CHANGED_MIND", "received", None),
    (T.return_refund, "WRONG_SIZE", "inspected:A", None),
    (T.return_replacement, "DEFECTIVE", "inspected:B", None),
    (T.return_refund, "DEFECTIVE", "inspected:C", "Stained beyond cleaning."),
    (T.return_refund, "WRONG_SIZE", "resolved:return", None),
    (T.return_replacement, "DEFECTIVE", "resolved:return", None),
    (T.return_refund, "NOT_AS_DESCRIBED", "resolved:keep_it",
     "Return postage to us costs more than the item."),
    (T.refund_only, "LATE", "resolved:refund", "Goodwill for the late delivery."),
    (T.lost_parcel, "LOST", "resolved:replacement", "Carrier confirmed the parcel lost."),
    (T.damaged, "DEFECTIVE", "resolved:refund", None),
    (T.replacement_only, "DEFECTIVE", "resolved:replacement", None),
    (T.wrong_item, "WRONG_ITEM", "open:replacement", "Right item sent at once."),
    (T.lost_parcel, "LOST", "pending", "Whole order lost: manager to approve."),
    (T.refund_only, "NOT_AS_DESCRIBED", "closed:refund", None),
    (T.return_refund, "WRONG_SIZE", "closed:return", None),
    (T.return_refund, "CHANGED_MIND", "closed:rejected", None),
    (T.return_refund, "CHANGED_MIND", "rejected", None),
    (T.refund_only, "NOT_AS_DESCRIBED", "rejected", None),
    (T.damaged, "DEFECTIVE", "rejected", None),
    (T.return_refund, "LATE", "rejected", None),
]


def _shipped_orders() -> list[CustomerOrder]:
    return list(db.session.scalars(
        select(CustomerOrder).where(CustomerOrder.state.in_([OrderState.shipped,
                                                             OrderState.delivered]))
        .order_by(CustomerOrder.placed_at, CustomerOrder.id)))


def _ship_more(count: int, actor) -> None:
    """Ship up to ``count`` more allocated orders through the outbound flow."""
    try:
        with db.session.begin_nested():
            wave = waves.build_wave(waves.WaveFilters(max_orders=count), actor=actor)
    except DomainError:
        return  # nothing allocated to ship
    waves.pick_all(wave, actor=actor)
    waves.finish_wave(wave, actor=actor)
    box = db.session.scalar(select(Box).where(Box.code == "M")) or db.session.scalar(
        select(Box).order_by(Box.id))
    packed: list[Parcel] = []
    for order in db.session.scalars(
            select(CustomerOrder).join(PickWaveOrder, PickWaveOrder.order_id == CustomerOrder.id)
            .where(PickWaveOrder.wave_id == wave.id).order_by(PickWaveOrder.slot)):
        if order.state != OrderState.picking:
            continue
        try:
            with db.session.begin_nested():
                packed.append(packing.pack_order(order, weight_g=None, box=box, actor=actor))
        except DomainError:
            continue
    if not packed:
        return
    parcels.label_parcels(packed, actor=actor)
    by_carrier: dict[int, list[Parcel]] = {}
    for parcel in packed:
        by_carrier.setdefault(parcel.service.carrier_id, []).append(parcel)
    for carrier_id, carrier_parcels in sorted(by_carrier.items()):
        batch = dispatch.open_batch(db.session.get(Carrier, carrier_id), actor=actor,
                                    note="Returns-desk demo collection")
        dispatch.add_parcels(batch, carrier_parcels, actor=actor)
        dispatch.close_batch(batch, actor=actor)


def _value_in_base(order: CustomerOrder) -> Decimal:
    """Return the order's goods value in the base currency (its own without a rate)."""
    value = sum((line.unit_price * line.quantity for line in order.lines), Decimal(0))
    try:
        return convert(value, order.currency, core_settings.base_currency(), on=date.today())
    except DomainError:
        return value


def _lines(order: CustomerOrder, *, whole: bool = False) -> dict[int, int]:
    """Return the case lines: all that remains of the order, or one unit of its first line."""
    remaining = {line_id: qty for line_id, qty in cases.remaining_quantities(order).items()
                 if qty > 0}
    if whole or not remaining:
        return remaining
    first = min(remaining)
    return {first: 1}


def _receive(case, warehouse) -> list:
    return returns.receive_return(case, [(line.id, None, None, line.quantity)
                                         for line in case.lines], actor=warehouse)


def _inspect(case, items, grade: str, warehouse) -> None:
    returns.inspect_return(case, {item.id: [(grade, item.quantity, None)] for item in items},
                           actor=warehouse)


def _play(case, target: str, people) -> None:
    """Take a freshly opened case to ``target`` through the services."""
    service, warehouse, manager = people["service"], people["warehouse"], people["manager"]
    step, _, how = target.partition(":")
    if step == "open":
        if how == "replacement":
            resolution.create_replacement(case, actor=service)
        return
    if step == "pending":
        amount = resolution.refundable_amount(case)
        threshold = core_settings.get("refund_approval_threshold")
        if not resolution.needs_approval(amount, case.order.currency):
            # a small order: the manager refunds the postage too (over the lines' value)
            amount = convert(threshold * 2, core_settings.base_currency(), case.order.currency,
                             on=date.today(), places=Decimal("0.01"))
            resolution.request_refund(case, amount=amount, actor=manager, override=True,
                                      note="Order value and postage")
        else:
            resolution.request_refund(case, amount=amount, actor=service,
                                      note="Whole order lost")
        return
    if step == "rejected" or how == "rejected":
        cases.reject_case(case, reason="Outside our returns policy (worn / used).",
                          actor=service)
        if step == "closed":
            cases.close_case(case, actor=service)
        return
    if step in ("awaiting_return", "received", "inspected") or how == "return":
        cases.authorise_return(case, actor=service, return_tracking=f"RT{case.id:07d}GB")
        if step == "awaiting_return":
            return
        items = _receive(case, warehouse)
        if step == "received":
            return
        _inspect(case, items, how if step == "inspected" else "A", warehouse)
        if step == "inspected":
            return
        resolution.resolve_after_inspection(case, actor=service)
    elif how == "keep_it":
        resolution.request_refund(case, amount=resolution.refundable_amount(case),
                                  kind="keep_it", actor=service)
    elif how == "refund":
        amount = min(resolution.refundable_amount(case),
                     core_settings.get("refund_approval_threshold") / 2)
        resolution.request_refund(case, amount=amount.quantize(Decimal("0.01")), actor=service,
                                  note="Partial refund agreed with the customer")
    elif how == "replacement":
        resolution.create_replacement(case, actor=service)
    if step == "closed":
        cases.close_case(case, actor=service)


def load_demo() -> None:
    """Open the demo's after-sales cases (once) and take each to its state."""
    if db.session.scalar(select(func.count()).select_from(AfterSalesCase)):
        return
    if not db.session.scalar(select(func.count()).select_from(PickWave)):
        return  # the outbound demo did not run: nothing shipped
    people = {name: get_user_by_username(name) for name in ("service", "warehouse", "manager")}
    ensure_default_reasons(people["service"])
    shipped = _shipped_orders()
    if len(shipped) < WANTED_SHIPPED:
        _ship_more(WANTED_SHIPPED - len(shipped) + 4, people["warehouse"])
        shipped = _shipped_orders()
    if not shipped:
        return
    # the costliest order (in the base currency: 4,350 JPY is less than 100 USD) is the lost
    # one whose refund waits for a manager
    pending_order = max(shipped, key=_value_in_base)
    others = [o for o in shipped if o.id != pending_order.id]
    for i, (case_type, reason, target, note) in enumerate(PLAN):
        if target == "pending":
            order, whole = pending_order, True
        else:
            order, whole = others[i % len(others)] if others else pending_order, False
        try:
            with db.session.begin_nested():
                case = cases.open_case(order, case_type=case_type, reason=reason,
                                       lines=_lines(order, whole=whole),
                                       actor=people["service"], note=note)
                if i % 3 == 0:
                    cases.assign_case(case, people["service"], actor=people["service"])
                if note and i % 2 == 0:
                    cases.add_note(case, "We are on it; you will hear from us within 3 "
                                         "working days.", visibility=NoteVisibility.customer,
                                   actor=people["service"])
                _play(case, target, people)
        except DomainError:
            continue  # e.g. the order's lines are all taken already: skip this one
    db.session.flush()
    # the hourly check, once; the demo's few defective returns pass a minimum of 2 units (the
    # default is 5), so a specification shows its revision flag
    from erp.aftersales.spec_revision import check_specifications
    from erp.core import services as core_services
    from erp.core.models import Setting
    if db.session.get(Setting, "spec_revision_min_units") is None:
        core_services.update_settings({"spec_revision_min_units": "2"}, actor=None)
    check_specifications()
