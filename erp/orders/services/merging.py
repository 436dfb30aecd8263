"""Merging orders: several orders of one buyer to one address ship in one parcel.

A merge group is a *primary* order and the orders merged into it (``merged_into_id`` points to
the primary). Orders may be merged while they are allocated and not yet in a pick wave, when
they have the same buyer (e-mail, else phone), the same shipping address (compared normalised:
case, spaces and punctuation aside), the same shipping service, currency and ship-from
warehouse, and neither is exported under 9610 (China's customs match each parcel with its one
order, payment and waybill). From then on the group moves as one: the primary's pick wave
takes the others, packing scans the items of every order of the group into the primary's
parcels, whose customs lines carry every order's lines, and every order of the group becomes
packed, shipped and delivered with the primary (:mod:`erp.orders.services.fulfilment` moves
them together).

An order that leaves the common path (put on hold, cancelled, short picked, split, sent back to
allocation) leaves its group; when the primary leaves, the group is dissolved
(:func:`on_transition`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from erp.core import audit
from erp.core.errors import DomainError
from erp.core.i18n import _
from erp.core.locking import lock_many
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, OrderState

O = OrderState  # noqa: E741 - the models' alias
#: the trade mode of China's cross-border retail export (one order, one payment, one waybill)
TRADE_MODE_9610 = "9610"
#: the states an order leaves its merge group by entering
LEAVING = frozenset({O.new, O.backordered, O.on_hold, O.cancelled})
#: the states a merge group exists in (a transition from another cannot touch a group)
GROUPED = frozenset({O.allocated, O.picking, O.packed, O.shipped})


class MergeError(DomainError):
    """Orders that may not be merged (or unmerged), with the reason."""


# --------------------------------------------------------------------------- what may merge


_PUNCT = re.compile(r"[\W_]+", re.UNICODE)


def _norm(value: str | None) -> str:
    text = unicodedata.normalize("NFKC", value or "").casefold()
    return " ".join(_PUNCT.sub(" ", text).split())


def buyer_key(order: CustomerOrder) -> str | None:
    """Return who bought the order: the e-mail (case aside), else the phone's digits, or None."""
    email = (order.email or "").strip().casefold()
    if email:
        return f"email:{email}"
    digits = re.sub(r"\D", "", order.phone or "")
    return f"phone:{digits}" if len(digits) >= 6 else None


def address_key(order: CustomerOrder) -> tuple:
    """Return the shipping address normalised: case, spaces and punctuation do not count."""
    return (_norm(order.ship_name), _norm(order.address1), _norm(order.address2),
            _norm(order.city), _norm(order.region),
            re.sub(r"[\s-]", "", (order.postal_code or "").upper()),
            (order.country or "").upper())


def service_key(order: CustomerOrder) -> str:
    """Return the order's shipping service code (case aside; empty when none is given)."""
    return (order.shipping_service or "").strip().upper()


def group_key(order: CustomerOrder) -> tuple | None:
    """Return what orders merged together must share, or None if it may not be merged.

    None: the order has no buyer, or it is exported under 9610 (see :func:`merge_refusal`).
    """
    buyer = buyer_key(order)
    if buyer is None or order.trade_mode == TRADE_MODE_9610:
        return None
    return (buyer, address_key(order), service_key(order), order.currency, order.warehouse_id)


def merge_refusal(primary: CustomerOrder, other: CustomerOrder) -> str | None:
    """Return why ``other`` may not be merged into ``primary`` (a sentence), or None.

    Reads the orders as they are: callers lock them first.
    """
    names = {"order": other.number, "primary": primary.number}
    for order in (primary, other):
        state = ORDER_STATES.enum(order.state)
        if state != O.allocated:
            return _("Order %(order)s is %(state)s: only allocated orders that are not yet in "
                     "a pick wave can be merged.", order=order.number,
                     state=ORDER_STATES.label(state))
    if other.id == primary.id:
        return _("Order %(order)s cannot be merged into itself.", order=other.number)
    for order in (primary, other):
        if order.trade_mode == TRADE_MODE_9610:
            return _("Order %(order)s is exported under 9610: customs matches each parcel with "
                     "its one order and payment, so it ships in parcels of its own and cannot "
                     "be merged.", order=order.number)
    if primary.merged_into_id is not None:
        return _("Order %(primary)s is already merged into another order; merge into that "
                 "order instead.", primary=primary.number)
    if other.merged_into_id is not None and other.merged_into_id != primary.id:
        return _("Order %(order)s is already merged into another order; unmerge it first.",
                 **names)
    if buyer_key(primary) is None or buyer_key(primary) != buyer_key(other):
        return _("Order %(order)s cannot be merged with %(primary)s: the buyer differs (e-mail "
                 "or phone).", **names)
    if address_key(primary) != address_key(other):
        return _("Order %(order)s cannot be merged with %(primary)s: the shipping address "
                 "differs.", **names)
    if service_key(primary) != service_key(other):
        return _("Order %(order)s cannot be merged with %(primary)s: the shipping service "
                 "differs (%(service)s, not %(wanted)s).", service=service_key(other) or "—",
                 wanted=service_key(primary) or "—", **names)
    if primary.currency != other.currency:
        return _("Order %(order)s cannot be merged with %(primary)s: the currency differs.",
                 **names)
    if primary.warehouse_id != other.warehouse_id:
        return _("Order %(order)s cannot be merged with %(primary)s: it ships from another "
                 "warehouse.", **names)
    return None


# --------------------------------------------------------------------------- groups


def members_of(order_ids: Iterable[int], *, state: OrderState | None = None,
               for_update: bool = False) -> dict[int, list[CustomerOrder]]:
    """Return ``{primary id: [orders merged into it]}`` for the given primaries (id order).

    ``state`` keeps only members in that state; ``for_update`` locks them.
    """
    ids = sorted(set(order_ids))
    out: dict[int, list[CustomerOrder]] = defaultdict(list)
    for start in range(0, len(ids), 900):
        stmt = (select(CustomerOrder).where(
            CustomerOrder.merged_into_id.in_(ids[start:start + 900]))
            .order_by(CustomerOrder.id))
        if state is not None:
            stmt = stmt.where(CustomerOrder.state == state)
        if for_update:
            stmt = stmt.with_for_update(of=CustomerOrder).execution_options(
                populate_existing=True)
        for member in db.session.scalars(stmt):
            out[member.merged_into_id].append(member)
    return out


def merge_group(order: CustomerOrder) -> list[CustomerOrder]:
    """Return the order's merge group: the primary first, then its members in id order.

    An order in no group is a group of one.
    """
    primary = order.merged_into if order.merged_into_id is not None else order
    return [primary, *members_of([primary.id]).get(primary.id, [])]


@dataclass
class MergeCandidate:
    """Orders offered for merging: the primary (oldest, or the one heading a group) and others."""

    primary: CustomerOrder
    others: list[CustomerOrder]

    @property
    def orders(self) -> list[CustomerOrder]:
        """Return the primary and the others."""
        return [self.primary, *self.others]


def merge_candidates(*, limit: int | None = None) -> list[MergeCandidate]:
    """Return the groups of allocated orders that could ship together, oldest first.

    Orders already merged into another are left out (they come with their primary); a primary
    with members is offered again when another order of its buyer and address turns up.
    """
    orders = list(db.session.scalars(
        select(CustomerOrder).where(CustomerOrder.state == O.allocated,
                                    CustomerOrder.merged_into_id.is_(None))
        .order_by(CustomerOrder.placed_at, CustomerOrder.id)
        .options(selectinload(CustomerOrder.lines))))
    groups: dict[tuple, list[CustomerOrder]] = defaultdict(list)
    for order in orders:
        key = group_key(order)
        if key is not None:
            groups[key].append(order)
    heads = members_of([o.id for group in groups.values() if len(group) > 1 for o in group],
                       state=None)
    found = []
    for group in groups.values():
        if len(group) < 2:
            continue
        primary = next((o for o in group if heads.get(o.id)), group[0])
        found.append(MergeCandidate(primary, [o for o in group if o is not primary]))
    found.sort(key=lambda c: (c.primary.placed_at, c.primary.id))
    return found[:limit] if limit else found


# --------------------------------------------------------------------------- merging


def merge_orders(primary: CustomerOrder, others: Sequence[CustomerOrder], *,
                 actor) -> list[CustomerOrder]:
    """Merge ``others`` into ``primary`` so they ship in one parcel; return the orders merged.

    Every order is locked (id order) and every condition checked again on what is read under
    the lock. An order already merged into ``primary`` is left as it is, so a repeated merge
    acts once (and returns nothing the second time). Audited on the primary
    (``customer_order.merged``) and on each order merged (``customer_order.merged_into``).

    :raises MergeError: naming the order and why (state, buyer, address, service, currency,
        warehouse, another group).
    """
    others = list(dict.fromkeys(others))
    if not others:
        raise MergeError(_("Choose at least one order to merge into %(primary)s.",
                           primary=primary.number))
    lock_many(CustomerOrder, [primary.id, *(o.id for o in others)])
    if any(o.id == primary.id for o in others):
        raise MergeError(_("Order %(order)s cannot be merged into itself.",
                           order=primary.number))
    todo = [o for o in others if o.merged_into_id != primary.id]
    if not todo:
        return []
    if members_of([o.id for o in todo]):
        heading = next(o for o in todo if members_of([o.id]))
        raise MergeError(_("Order %(order)s heads a merge group of its own; unmerge its orders "
                           "first.", order=heading.number))
    for other in todo:
        why = merge_refusal(primary, other)
        if why:
            raise MergeError(why)
    for other in todo:
        other.merged_into_id = primary.id
        other.merged_into = primary
        audit.record(other, "customer_order.merged_into", actor=actor,
                     changes={"merged_into": [None, primary.number]})
    audit.record(primary, "customer_order.merged", actor=actor,
                 changes={"orders": [o.number for o in todo]})
    db.session.flush()
    return todo


def can_unmerge(order: CustomerOrder, actor=None) -> bool:
    """Return whether the order is in a merge group that may still be undone (allocated)."""
    return ORDER_STATES.enum(order.state) == O.allocated and (
        order.merged_into_id is not None or bool(members_of([order.id])))


def unmerge_order(order: CustomerOrder, *, actor) -> list[CustomerOrder]:
    """Take the order out of its merge group; for a primary, dissolve the group.

    Returns the orders that left a group (none when there was nothing to undo, so a repeat
    acts once).

    :raises MergeError: once the group is in a pick wave (its goods go together now).
    """
    # the order and the primary it was in, in id order; both read again under the lock
    lock_many(CustomerOrder, {order.id, order.merged_into_id} - {None})
    primary = order.merged_into if order.merged_into_id is not None else order
    group = [primary, *members_of([primary.id], for_update=True).get(primary.id, [])]
    if order.merged_into_id is None and not members_of([order.id]):
        return []
    for member in group:
        state = ORDER_STATES.enum(member.state)
        if state != O.allocated:
            raise MergeError(_("Order %(order)s is %(state)s: a merge group can be undone only "
                               "before its pick wave.", order=member.number,
                               state=ORDER_STATES.label(state)))
    leaving = [order] if order.merged_into_id is not None else members_of(
        [order.id]).get(order.id, [])
    return _leave(leaving, actor=actor, note=None)


def _leave(members: Sequence[CustomerOrder], *, actor, note: str | None) -> list[CustomerOrder]:
    """Take ``members`` out of their groups, audited on each and on its primary."""
    left: dict[int, tuple[CustomerOrder, list[str]]] = {}
    for member in members:
        if member.merged_into_id is None:
            continue
        primary = member.merged_into
        left.setdefault(primary.id, (primary, []))[1].append(member.number)
        member.merged_into_id = None
        member.merged_into = None
        changes = {"merged_into": [primary.number, None]}
        if note:
            changes["because"] = note
        audit.record(member, "customer_order.unmerged", actor=actor, changes=changes)
    for primary, numbers in left.values():
        changes = {"orders": numbers}
        if note:
            changes["because"] = note
        audit.record(primary, "customer_order.unmerged_orders", actor=actor, changes=changes)
    db.session.flush()
    return list(members)


def on_transition(order: CustomerOrder, old: OrderState, new: OrderState) -> None:
    """Take an order that leaves the common path out of its group (dissolve it for a primary).

    Registered on the order state machine: holding, cancelling, a short pick or a split of an
    order of a group must not leave the others waiting for it, nor ship its goods with theirs.
    """
    new, old = ORDER_STATES.enum(new), ORDER_STATES.enum(old)
    if new not in LEAVING or old not in GROUPED:
        return
    why = ORDER_STATES.label(new)
    if order.merged_into_id is not None:
        _leave([order], actor=None, note=str(why))
        return
    members = members_of([order.id]).get(order.id, [])
    if members:
        _leave(members, actor=None, note=str(why))


ORDER_STATES.listen(on_transition)
