"""Parcels returned to sender: scanned back in, their goods go through the returns inspection.

A parcel the carrier brought back (refused, undeliverable, not collected) is received by
scanning its tracking number. That opens a case for the order (a return with re-shipping, or a
return with a refund: the decision picked at the scan, shown on the order page with the case),
authorises it and receives the parcel's goods into the returns location, so the inspector grades
them as any return; the parcel's tracking status becomes ``returned``. Scanning the same parcel
again finds its case and does nothing more.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import AfterSalesCase, CaseType, ReasonCode
from erp.aftersales.services import cases, returns
from erp.aftersales.services.reasons import create_reason
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.core.models import User
from erp.extensions import db
from erp.shipping.models import Parcel
from erp.shipping.services.tracking_events import find_returned_parcel, mark_returned

REASON = "RETURNED_TO_SENDER"
REASON_NAME = "Returned to sender by the carrier"
#: what the order gets once the goods are back: sent again, or refunded
DECISIONS = {"reship": CaseType.return_replacement, "refund": CaseType.return_refund}


@dataclass
class Received:
    """The outcome of a scan: the parcel, its case, and whether this scan received it."""

    parcel: Parcel
    case: AfterSalesCase
    new: bool


def _reason() -> ReasonCode:
    reason = db.session.scalar(select(ReasonCode).where(ReasonCode.code == REASON))
    if reason is None:
        reason = create_reason(code=REASON, name=REASON_NAME, sort_order=99, actor=None)
    return reason


def _case_of(parcel: Parcel) -> AfterSalesCase | None:
    return db.session.scalar(
        select(AfterSalesCase).where(AfterSalesCase.parcel_id == parcel.id,
                                     AfterSalesCase.reason_id == _reason().id)
        .order_by(AfterSalesCase.id).limit(1))


def receive_returned_parcel(text: str, *, decision: str, actor: User | None) -> Received:
    """Receive a returned-to-sender parcel by its tracking number (see the module's doc).

    :param decision: ``"reship"`` or ``"refund"``.
    :raises ValidationError: nothing scanned, or an unknown decision.
    :raises AfterSalesError: no dispatched parcel has that number, or its goods are all in
        other cases already.
    """
    value = (text or "").strip()
    if not value:
        raise ValidationError(_("Scan or type the tracking number of the returned parcel."),
                              field="tracking_number")
    if decision not in DECISIONS:
        raise ValidationError(_("Choose whether the order is sent again or refunded."),
                              field="decision")
    parcel = find_returned_parcel(value)
    if parcel is None:
        raise AfterSalesError(_('No dispatched parcel has the tracking number "%(value)s". '
                                "Check the label, or set the parcel aside and ask customer "
                                "service.", value=value), field="tracking_number")
    order = parcel.order
    # the parcel, then its order: the order tracking's ingest takes them in (no deadlock with
    # a carrier's event for the same parcel); a second scan of the parcel waits here, then
    # finds the case
    lock(parcel)
    lock(order)
    existing = _case_of(parcel)
    if existing is not None or parcel.returned_at is not None:
        if existing is None:
            raise AfterSalesError(_("Parcel %(parcel)s was received back already.",
                                    parcel=parcel.number), field="tracking_number")
        return Received(parcel, existing, False)
    remaining = cases.remaining_quantities(order)
    lines: dict[int, int] = defaultdict(int)
    for line in parcel.lines:
        lines[line.order_line_id] += line.quantity
    lines = {lid: min(qty, remaining.get(lid, 0)) for lid, qty in lines.items()}
    if not any(lines.values()):
        raise AfterSalesError(_("The goods of parcel %(parcel)s are in other cases already: "
                                "set it aside and ask customer service.", parcel=parcel.number),
                              field="tracking_number")
    who = actor.username if actor is not None else "the system"
    case = cases.open_case(
        order, case_type=DECISIONS[decision], reason=_reason(), lines=lines, actor=actor,
        parcel=parcel, window_applies=False,
        note=f"Returned to sender: parcel {parcel.number} ({parcel.tracking_number}) scanned "
             f"back in by {who}; the order is to be "
             f"{'sent again' if decision == 'reship' else 'refunded'} after inspection.")
    cases.authorise_return(case, actor=actor, return_tracking=parcel.tracking_number)
    returns.receive_return(case, [(line.id, None, None, line.quantity) for line in case.lines],
                           actor=actor)
    mark_returned(parcel, actor=actor)
    return Received(parcel, case, True)
