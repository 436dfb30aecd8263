"""Reason codes: the managed list of why customers open cases.

A code is upper-case letters, digits and underscores, unique. A code in use is deactivated,
never deleted, so old cases keep their reason.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select

from erp.aftersales.models import ReasonCode
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.models import User
from erp.extensions import db

CODE_RE = re.compile(r"^[A-Z0-9_]{1,30}$")

#: the reference's list (shared/reference/shipping.md, section 9)
DEFAULT_REASONS: tuple[tuple[str, str], ...] = (
    ("WRONG_SIZE", "Wrong size or fit"),
    ("NOT_AS_DESCRIBED", "Not as described"),
    ("DEFECTIVE", "Defective or damaged"),
    ("WRONG_ITEM", "Wrong item sent"),
    ("LATE", "Arrived late"),
    ("CHANGED_MIND", "Changed mind"),
    ("LOST", "Lost in transit"),
)


def _values(code: str, name: str, sort_order: int | str | None,
            reason: ReasonCode | None = None) -> tuple[str, str, int]:
    code = (code or "").strip().upper().replace(" ", "_").replace("-", "_")
    if not code:
        raise ValidationError(_("A reason needs a code."), field="code")
    if not CODE_RE.match(code):
        raise ValidationError(_("Reason code %(code)s may only hold capital letters, digits and "
                                "underscores (at most 30).", code=repr(code)), field="code")
    clash = db.session.scalar(select(ReasonCode).where(ReasonCode.code == code))
    if clash is not None and clash is not reason:
        raise ValidationError(_("Reason code %(code)s already exists (%(name)s).", code=code,
                                name=clash.name), field="code")
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("Reason %(code)s needs a name.", code=code), field="name")
    if len(name) > 120:
        raise ValidationError(_("A reason's name has at most 120 characters."), field="name")
    try:
        order = int(sort_order) if sort_order not in (None, "") else None
    except (TypeError, ValueError):
        raise ValidationError(_("The sort order must be a whole number."),
                              field="sort_order") from None
    if order is None:
        order = reason.sort_order if reason is not None else (
            db.session.scalar(select(func.max(ReasonCode.sort_order))) or 0) + 1
    return code, name, order


def create_reason(*, code: str, name: str, actor: User | None,
                  sort_order: int | str | None = None) -> ReasonCode:
    """Add a reason code (active); without a sort order it goes last."""
    code, name, order = _values(code, name, sort_order)
    reason = ReasonCode(code=code, name=name, sort_order=order, active=True)
    db.session.add(reason)
    db.session.flush()
    audit.record(reason, "reason_code.created", actor=actor,
                 changes={"code": code, "name": name, "sort_order": order})
    return reason


def update_reason(reason: ReasonCode, *, code: str, name: str, actor: User | None,
                  sort_order: int | str | None = None,
                  active: bool | None = None) -> ReasonCode:
    """Change a reason code's code, name, order or whether it is offered."""
    code, name, order = _values(code, name, sort_order, reason)
    values = {"code": code, "name": name, "sort_order": order}
    if active is not None:
        values["active"] = bool(active)
    changes = audit.diff(reason, values)
    if changes:
        for key, value in values.items():
            setattr(reason, key, value)
        audit.record(reason, "reason_code.updated", actor=actor, changes=changes)
        db.session.flush()
    return reason


def deactivate_reason(reason: ReasonCode, *, actor: User | None) -> ReasonCode:
    """Stop offering a reason for new cases (cases already using it keep it)."""
    if reason.active:
        reason.active = False
        audit.record(reason, "reason_code.deactivated", actor=actor,
                     changes={"active": [True, False]})
        db.session.flush()
    return reason


def activate_reason(reason: ReasonCode, *, actor: User | None) -> ReasonCode:
    """Offer a deactivated reason again."""
    if not reason.active:
        reason.active = True
        audit.record(reason, "reason_code.activated", actor=actor,
                     changes={"active": [False, True]})
        db.session.flush()
    return reason


def active_reasons() -> list[ReasonCode]:
    """Return the reasons offered for new cases, in their sort order."""
    return list(db.session.scalars(select(ReasonCode).where(ReasonCode.active.is_(True))
                                   .order_by(ReasonCode.sort_order, ReasonCode.code)))


def all_reasons() -> list[ReasonCode]:
    """Return every reason (inactive ones too), in their sort order."""
    return list(db.session.scalars(select(ReasonCode)
                                   .order_by(ReasonCode.sort_order, ReasonCode.code)))


def ensure_default_reasons(actor: User | None) -> list[ReasonCode]:
    """Add the reference's reason codes that are missing; return those added."""
    existing = set(db.session.scalars(select(ReasonCode.code)))
    added = []
    for i, (code, name) in enumerate(DEFAULT_REASONS):
        if code not in existing:
            added.append(create_reason(code=code, name=name, sort_order=i, actor=actor))
    return added
