"""After-sales cases: opening (RMA), assignment, notes, attachments and the case's lifecycle.

A case concerns one shipped customer order. Its lines never take more than was dispatched,
minus what earlier cases (not rejected) already took. A case opened after the return window
(``return_window_days`` after the order's delivery, or its last dispatch: the setting
``return_window_from``; the dispatch while not every parcel is delivered) needs a manager's
override with a note. A case is due ``case_due_days`` after it is opened; an active case past
its due date is overdue.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import PurePath

from sqlalchemy import func, or_, select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import (
    CASE_STATES,
    CASE_TYPE_LABELS,
    AfterSalesCase,
    CaseAttachment,
    CaseLine,
    CaseNote,
    CaseState,
    CaseType,
    NoteVisibility,
    ReasonCode,
)
from erp.core import audit, settings
from erp.core.errors import PermissionDenied, ValidationError
from erp.core.i18n import _, format_date, format_number, ngettext
from erp.core.locking import lock
from erp.core.models import User, utcnow
from erp.core.numbering import next_number
from erp.core.permissions import has_permission
from erp.core.states import transition
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.shipping import queries as shipping_queries
from erp.shipping.models import Parcel, ParcelState

C = CaseState

#: a case in one of these states is being worked on; past its due date it is overdue
ACTIVE_STATES = CASE_STATES.groups["active"]
#: case types that concern one parcel (the carrier's claim)
PARCEL_TYPES = frozenset({CaseType.lost_parcel, CaseType.damaged})

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
#: accepted attachment types and the first bytes their content must start with
ATTACHMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
}
MAX_NOTE_CHARS = 5000
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --------------------------------------------------------------------------- helpers


def _clean(value: str | None, *, limit: int) -> str | None:
    value = (value or "").strip()
    return value[:limit] if value else None


def _case_type(value: CaseType | str) -> CaseType:
    try:
        return CaseType(value)
    except ValueError:
        raise ValidationError(_("Unknown case type %(value)s: choose one of %(types)s.",
                                value=repr(value), types=", ".join(t.value for t in CaseType)),
                              field="case_type") from None


def _reason(value: ReasonCode | int | str | None) -> ReasonCode:
    reason = value
    if isinstance(value, int):
        reason = db.session.get(ReasonCode, value)
    elif isinstance(value, str):
        reason = db.session.scalar(select(ReasonCode).where(
            ReasonCode.code == value.strip().upper()))
    if reason is None:
        raise ValidationError(_("Choose a reason for the case."), field="reason")
    if not reason.active:
        raise ValidationError(_("Reason %(code)s is no longer in use: choose another one.",
                                code=reason.code), field="reason")
    return reason


def _contact(name: str | None, email: str | None, phone: str | None,
             order: CustomerOrder) -> tuple[str, str | None, str | None]:
    name = _clean(name, limit=120) or order.customer_name or order.ship_name
    email = _clean(email, limit=254) or order.email
    phone = _clean(phone, limit=40) or order.phone
    if email and not EMAIL_RE.match(email):
        raise ValidationError(_("%(email)s is not an e-mail address.", email=repr(email)),
                              field="contact_email")
    return name, email, phone


def _when(value: datetime | None) -> str:
    return format_date(value) if value else "-"


def type_name(case_type: CaseType | str) -> str:
    """Return how a sentence names a case type: ``a lost parcel case``, in the reader's language."""
    return str(CASE_TYPE_LABELS[CaseType(case_type)]).lower()


def is_overdue(case: AfterSalesCase, now: datetime | None = None) -> bool:
    """Return whether the case is past its due date while still being worked on."""
    now = now or utcnow()
    return CaseState(case.state) in ACTIVE_STATES and case.due_at is not None \
        and case.due_at < now


def overdue_count() -> int:
    """Return how many active cases are past their due date (the dashboard's card)."""
    return db.session.scalar(select(func.count()).select_from(AfterSalesCase).where(
        AfterSalesCase.state.in_(list(ACTIVE_STATES)),
        AfterSalesCase.due_at < utcnow())) or 0


def taken_quantities(order_id: int, *, exclude_case_id: int | None = None) -> dict[int, int]:
    """Return ``{order line id: units}`` that the order's cases (not rejected) already took."""
    stmt = (select(CaseLine.order_line_id, func.sum(CaseLine.quantity))
            .join(AfterSalesCase, AfterSalesCase.id == CaseLine.case_id)
            .where(AfterSalesCase.order_id == order_id, AfterSalesCase.state != C.rejected)
            .group_by(CaseLine.order_line_id))
    if exclude_case_id is not None:
        stmt = stmt.where(AfterSalesCase.id != exclude_case_id)
    return {line_id: int(qty) for line_id, qty in db.session.execute(stmt)}


def remaining_quantities(order: CustomerOrder) -> dict[int, int]:
    """Return ``{order line id: units}`` shipped minus what earlier cases (not rejected) took.

    Only lines with something shipped appear; a line fully taken shows 0.
    """
    shipped = shipping_queries.shipped_quantities([order.id])
    taken = taken_quantities(order.id)
    return {line_id: max(qty - taken.get(line_id, 0), 0) for line_id, qty in shipped.items()}


def return_window_starts(order: CustomerOrder) -> datetime | None:
    """Return when the order's return window opened (None if it has not shipped).

    From the delivery of its last parcel (``return_window_from`` = delivery, the default), or
    from its last dispatch (``shipping``, and while not every parcel is delivered).
    """
    if settings.get("return_window_from") == "delivery":
        delivered = shipping_queries.delivered_at(order.id)
        if delivered is not None:
            return delivered
    return shipping_queries.shipped_at(order.id)


def return_window_ends(order: CustomerOrder) -> datetime | None:
    """Return when the order's return window closes (None if it has not shipped)."""
    start = return_window_starts(order)
    if start is None:
        return None
    return start + timedelta(days=int(settings.get("return_window_days")))


def _parcel(order: CustomerOrder, parcel: Parcel | int | None,
            case_type: CaseType) -> Parcel | None:
    if parcel is not None and not isinstance(parcel, Parcel):
        parcel = db.session.get(Parcel, int(parcel))
        if parcel is None:
            raise ValidationError(_("That parcel does not exist."), field="parcel")
    if parcel is not None and parcel.order_id != order.id:
        raise AfterSalesError(_("Parcel %(parcel)s does not belong to order %(order)s.",
                                parcel=parcel.number, order=order.number), field="parcel")
    if case_type not in PARCEL_TYPES:
        return parcel
    if parcel is None:
        dispatched = [p for p in shipping_queries.order_parcels(order.id)
                      if p.state == ParcelState.dispatched]
        if len(dispatched) == 1:
            return dispatched[0]
        raise AfterSalesError(ngettext(
            "Order %(order)s has %(num)d dispatched parcel: choose the parcel that was lost or "
            "damaged.",
            "Order %(order)s has %(num)d dispatched parcels: choose the parcel that was lost or "
            "damaged.", len(dispatched), order=order.number), field="parcel")
    return parcel


def _check_lines(order: CustomerOrder, lines: Mapping[int, int]) -> list[tuple[
        CustomerOrderLine, int]]:
    by_id = {line.id: line for line in order.lines}
    shipped = shipping_queries.shipped_quantities([order.id])
    taken = taken_quantities(order.id)
    chosen: list[tuple[CustomerOrderLine, int]] = []
    for line_id, qty in lines.items():
        line = by_id.get(int(line_id))
        if line is None:
            raise ValidationError(_("Line %(line)s is not a line of order %(order)s.",
                                    line=line_id, order=order.number), field="lines")
        try:
            qty = int(qty)
        except (TypeError, ValueError):
            raise ValidationError(_("%(sku)s: the quantity must be a whole number.",
                                    sku=line.sku.code), field="lines") from None
        if qty < 0:
            raise ValidationError(_("%(sku)s: the quantity cannot be negative.",
                                    sku=line.sku.code), field="lines")
        if qty == 0:
            continue
        sent = shipped.get(line.id, 0)
        earlier = taken.get(line.id, 0)
        if qty > sent - earlier:
            values = {"sku": line.sku.code, "qty": format_number(qty), "order": order.number,
                      "shipped": format_number(sent), "earlier": format_number(earlier),
                      "most": format_number(max(sent - earlier, 0))}
            if earlier:
                message = _("%(sku)s: %(qty)s is more than order %(order)s can still claim "
                            "(%(shipped)s shipped, %(earlier)s already in earlier cases; at most "
                            "%(most)s).", **values)
            else:
                message = _("%(sku)s: %(qty)s is more than order %(order)s can still claim "
                            "(%(shipped)s shipped; at most %(most)s).", **values)
            raise AfterSalesError(message, field="lines")
        chosen.append((line, qty))
    if not chosen:
        raise ValidationError(_("Give the quantity of at least one line the case concerns."),
                              field="lines")
    return chosen


# --------------------------------------------------------------------------- opening


def open_case(order: CustomerOrder, *, case_type: CaseType | str,
              reason: ReasonCode | int | str, lines: Mapping[int, int], actor: User | None,
              contact_name: str | None = None, contact_email: str | None = None,
              contact_phone: str | None = None, parcel: Parcel | int | None = None,
              note: str | None = None,
              window_override_note: str | None = None,
              window_applies: bool = True) -> AfterSalesCase:
    """Open a case (state ``open``) about some shipped units of ``order`` and return it.

    :param lines: ``{order line id: units}``; lines at 0 are left out.
    :param parcel: the parcel lost or damaged (defaults to the order's only dispatched one).
    :param window_override_note: why a case after the return window is accepted; needs
        ``aftersales.approve``.
    :param window_applies: False when the system opens a lost-parcel case (nothing comes
        back, so no return window).
    :raises AfterSalesError: nothing shipped, a quantity above what remains, no parcel...
    :raises PermissionDenied: a window override by a user without ``aftersales.approve``.
    """
    case_type = _case_type(case_type)
    reason = _reason(reason)
    # The order owns what its cases may still claim: two cases opened at once queue here, and
    # the second counts the first one's lines.
    lock(order)
    if shipping_queries.shipped_at(order.id) is None:
        raise AfterSalesError(_("Order %(order)s has not shipped yet: change or cancel the "
                                "order instead.", order=order.number))
    chosen = _check_lines(order, lines)
    parcel = _parcel(order, parcel, case_type)
    now = utcnow()
    override_note = _clean(window_override_note, limit=200)
    window_end = return_window_ends(order)
    overridden = False
    if window_applies and window_end is not None and now > window_end:
        days = settings.get("return_window_days")
        if not override_note:
            raise AfterSalesError(
                _("Order %(order)s's %(days)s-day return window closed on %(date)s: a manager "
                  "must override it with a note.", order=order.number, days=days,
                  date=_when(window_end)), field="window_override_note")
        if not has_permission(actor, "aftersales.approve"):
            raise PermissionDenied(
                _("Order %(order)s's return window closed on %(date)s: only a manager can "
                  "override it.", order=order.number, date=_when(window_end)))
        overridden = True
    name, email, phone = _contact(contact_name, contact_email, contact_phone, order)
    case = AfterSalesCase(
        number=next_number("RMA"), order=order, order_id=order.id, case_type=case_type,
        reason=reason, state=C.open, contact_name=name, contact_email=email,
        contact_phone=phone, parcel_id=parcel.id if parcel else None,
        due_at=now + timedelta(days=int(settings.get("case_due_days"))),
        window_override_by_id=getattr(actor, "id", None) if overridden else None,
        window_override_note=override_note if overridden else None,
        opened_by_id=getattr(actor, "id", None), opened_at=now)
    for line, qty in chosen:
        case.lines.append(CaseLine(order_line_id=line.id, sku_id=line.sku_id, quantity=qty))
    db.session.add(case)
    note = _clean(note, limit=MAX_NOTE_CHARS)
    if note:
        case.notes.append(CaseNote(visibility=NoteVisibility.internal, body=note,
                                   author_id=getattr(actor, "id", None)))
    db.session.flush()
    audit.record(case, "aftersales_case.created", actor=actor, changes={
        "order": order.number, "type": case_type.value, "reason": reason.code,
        "lines": {line.sku.code: qty for line, qty in chosen},
        "parcel": parcel.number if parcel else None,
        "window_override": override_note if overridden else None})
    return case


def update_contact(case: AfterSalesCase, *, name: str | None, email: str | None,
                   phone: str | None, actor: User | None) -> AfterSalesCase:
    """Change the case's customer contact (empty values fall back to the order's)."""
    name, email, phone = _contact(name, email, phone, case.order)
    changes = audit.diff(case, {"contact_name": name, "contact_email": email,
                                "contact_phone": phone})
    if changes:
        case.contact_name, case.contact_email, case.contact_phone = name, email, phone
        audit.record(case, "aftersales_case.contact_changed", actor=actor, changes=changes)
        db.session.flush()
    return case


# --------------------------------------------------------------------------- lifecycle


def authorise_return(case: AfterSalesCase, *, actor: User | None,
                     return_tracking: str | None = None) -> AfterSalesCase:
    """Authorise the customer to send the goods back: ``open`` -> ``awaiting_return``.

    :raises AfterSalesError: for a case type whose goods do not come back.
    """
    if not case.expects_return:
        raise AfterSalesError(_("%(case)s is a %(type)s case: no goods come back, so there is "
                                "no return to authorise.", case=case.number,
                                type=type_name(case.case_type)))
    tracking = (return_tracking or "").replace(" ", "").strip().upper() or None
    if tracking and len(tracking) > 40:
        raise ValidationError(_("A return tracking number has at most 40 characters."),
                              field="return_tracking")
    lock(case)
    transition(case, C.awaiting_return, machine=CASE_STATES, actor=actor,
               changes={"return_tracking": tracking} if tracking else None)
    case.return_tracking = tracking
    db.session.flush()
    return case


def set_return_tracking(case: AfterSalesCase, tracking: str | None, *,
                        actor: User | None) -> AfterSalesCase:
    """Record the tracking number of the customer's return parcel."""
    tracking = (tracking or "").replace(" ", "").strip().upper() or None
    if tracking and len(tracking) > 40:
        raise ValidationError(_("A return tracking number has at most 40 characters."),
                              field="return_tracking")
    if tracking != case.return_tracking:
        audit.record(case, "aftersales_case.return_tracking", actor=actor,
                     changes={"return_tracking": [case.return_tracking, tracking]})
        case.return_tracking = tracking
        db.session.flush()
    return case


def assign_case(case: AfterSalesCase, user: User | None, *,
                actor: User | None) -> AfterSalesCase:
    """Give the case to an agent (``None`` leaves it unassigned)."""
    lock(case)
    if CaseState(case.state) == C.closed:
        raise AfterSalesError(_("%(case)s is closed: it cannot be reassigned.",
                                case=case.number))
    if user is not None and (not user.active or not has_permission(user, "aftersales.edit")):
        raise AfterSalesError(_("%(user)s cannot work after-sales cases: choose an agent of "
                                "customer service.", user=user.username), field="assigned_to")
    new_id = user.id if user else None
    if new_id != case.assigned_to_id:
        before = case.assigned_to.username if case.assigned_to else None
        case.assigned_to_id = new_id
        case.assigned_to = user
        audit.record(case, "aftersales_case.assigned", actor=actor,
                     changes={"assigned_to": [before, user.username if user else None]})
        db.session.flush()
    return case


def add_note(case: AfterSalesCase, body: str, *, visibility: NoteVisibility | str,
             actor: User | None) -> CaseNote:
    """Add an entry to the case's timeline (internal, or what the customer was told)."""
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("Write the note first."), field="body")
    if len(body) > MAX_NOTE_CHARS:
        raise ValidationError(_("A note has at most %(num)s characters.",
                                num=format_number(MAX_NOTE_CHARS)), field="body")
    try:
        visibility = NoteVisibility(visibility)
    except ValueError:
        raise ValidationError(_("A note is internal or for the customer."),
                              field="visibility") from None
    note = CaseNote(visibility=visibility, body=body, author_id=getattr(actor, "id", None),
                    created_at=utcnow())
    case.notes.append(note)
    db.session.flush()
    audit.record(case, "aftersales_case.noted", actor=actor,
                 changes={"note": note.id, "visibility": visibility.value})
    return note


def add_attachment(case: AfterSalesCase, filename: str, mime: str, data: bytes, *,
                   actor: User | None) -> CaseAttachment:
    """Attach a photo (JPEG, PNG, GIF, WebP) or a PDF of at most 5 MB to the case.

    :raises ValidationError: empty, too large, or not an image or PDF (by its content).
    """
    name = PurePath((filename or "").replace("\\", "/")).name.strip()[:200] or "attachment"
    mime = (mime or "").split(";")[0].strip().lower()
    if mime == "image/jpg":
        mime = "image/jpeg"
    size = len(data or b"")
    if size == 0:
        raise ValidationError(_("%(file)s is empty.", file=name), field="file")
    if size > MAX_ATTACHMENT_BYTES:
        raise ValidationError(_("%(file)s is %(size)s MB: attachments are at most %(most)s MB.",
                                file=name, size=format_number(size / 1024 / 1024, 1),
                                most=MAX_ATTACHMENT_BYTES // 1024 // 1024), field="file")
    signatures = ATTACHMENT_TYPES.get(mime)
    if signatures is None:
        raise ValidationError(_("%(file)s: only photos (JPEG, PNG, GIF, WebP) and PDF files can "
                                "be attached.", file=name), field="file")
    if not data.startswith(signatures) or (mime == "image/webp" and data[8:12] != b"WEBP"):
        raise ValidationError(_("%(file)s is not really a %(type)s file.", file=name,
                                type=mime), field="file")
    attachment = CaseAttachment(filename=name, mime=mime, size=size, data=data,
                                uploaded_by_id=getattr(actor, "id", None), uploaded_at=utcnow())
    case.attachments.append(attachment)
    db.session.flush()
    audit.record(case, "aftersales_case.attached", actor=actor,
                 changes={"attachment": attachment.id, "filename": name, "size": size})
    return attachment


def reject_case(case: AfterSalesCase, *, reason: str, actor: User | None) -> AfterSalesCase:
    """Refuse the claim (``open`` or ``awaiting_return`` -> ``rejected``) with the reason."""
    reason = _clean(reason, limit=200)
    if not reason:
        raise ValidationError(_("Say why %(case)s is rejected.", case=case.number),
                              field="reason")
    lock(case)
    transition(case, C.rejected, machine=CASE_STATES, actor=actor, note=reason)
    case.rejection_reason = reason
    db.session.flush()
    return case


def mark_resolved(case: AfterSalesCase, *, resolution: str,
                  actor: User | None) -> AfterSalesCase:
    """Record how the case was settled: ``open`` or ``inspected`` -> ``resolved``."""
    resolution = _clean(resolution, limit=500)
    if not resolution:
        raise ValidationError(_("Say how %(case)s was resolved.", case=case.number),
                              field="resolution")
    lock(case)
    transition(case, C.resolved, machine=CASE_STATES, actor=actor, note=resolution)
    case.resolution = resolution
    case.resolved_at = utcnow()
    db.session.flush()
    return case


def close_case(case: AfterSalesCase, *, actor: User | None) -> AfterSalesCase:
    """Close a resolved or rejected case."""
    lock(case)
    transition(case, C.closed, machine=CASE_STATES, actor=actor)
    case.closed_at = utcnow()
    db.session.flush()
    return case


# --------------------------------------------------------------------------- search


def find_cases(text: str, *, limit: int = 50) -> list[AfterSalesCase]:
    """Return the cases matching an RMA number, order number, tracking number or e-mail.

    Exact matches (case-insensitive); the newest first.
    """
    text = (text or "").strip()
    if not text:
        return []
    upper = text.upper()
    compact = upper.replace(" ", "")
    orders = select(CustomerOrder.id).where(func.upper(CustomerOrder.number) == upper)
    stmt = (select(AfterSalesCase).where(or_(
        func.upper(AfterSalesCase.number) == compact,
        AfterSalesCase.order_id.in_(orders),
        AfterSalesCase.order_id.in_(shipping_queries.order_ids_by_tracking(text)),
        AfterSalesCase.return_tracking == compact,
        func.lower(AfterSalesCase.contact_email) == text.lower()))
        .order_by(AfterSalesCase.opened_at.desc(), AfterSalesCase.id.desc()).limit(limit))
    return list(db.session.scalars(stmt))
