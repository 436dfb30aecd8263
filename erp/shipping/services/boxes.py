"""Box sizes the packing station offers: inner dimensions (mm) and tare weight (g).

Every function validates, changes, audits and flushes; none commits.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from erp.core import audit
from erp.core.errors import ValidationError
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import Box

BOX_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{0,19}$")
MAX_SIDE_MM = 5_000
MAX_TARE_G = 100_000
BOX_FIELDS = ("code", "name", "length_mm", "width_mm", "height_mm", "tare_g", "active")


def _whole(value: Any, *, field: str, label: str, minimum: int, maximum: int) -> int:
    message = f"{label} must be a whole number from {minimum:,} to {maximum:,}"
    if isinstance(value, bool) or value is None or str(value).strip() == "":
        raise ValidationError(f"{message}.", field=field)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError(f"{message}, got {value!r}.", field=field) from None
    if not minimum <= number <= maximum:
        raise ValidationError(f"{message}, got {number:,}.", field=field)
    return number


def _values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sides = {"length_mm": "The length (mm)", "width_mm": "The width (mm)",
             "height_mm": "The height (mm)"}
    for key, value in values.items():
        if key == "code":
            code = str(value or "").strip().upper()
            if not BOX_CODE_RE.match(code):
                raise ValidationError(f"{code or 'An empty code'!r} is not a box code: use 1-20 "
                                      "letters, digits, '.', '-' or '_', e.g. M.", field="code")
            out[key] = code
        elif key == "name":
            name = str(value or "").strip()
            if not name or len(name) > 80:
                raise ValidationError("A box needs a name of at most 80 characters.",
                                      field="name")
            out[key] = name
        elif key in sides:
            out[key] = _whole(value, field=key, label=sides[key], minimum=1, maximum=MAX_SIDE_MM)
        elif key == "tare_g":
            out[key] = _whole(value, field=key, label="The tare weight (g)", minimum=0,
                              maximum=MAX_TARE_G)
        elif key == "active":
            out[key] = bool(value)
    return out


def box_by_code(code: Any) -> Box | None:
    """Return the box with ``code`` (any case) or None."""
    text = str(code or "").strip().upper()
    return db.session.scalar(select(Box).where(Box.code == text)) if text else None


def active_boxes() -> list[Box]:
    """Return the active boxes, smallest volume first (the packing station's choice)."""
    boxes = db.session.scalars(select(Box).where(Box.active.is_(True))).all()
    return sorted(boxes, key=lambda b: (b.length_mm * b.width_mm * b.height_mm, b.code))


def create_box(*, code: str, name: str, length_mm: int, width_mm: int, height_mm: int,
               tare_g: int = 0, actor) -> Box:
    """Create an active box size.

    :raises ValidationError: for a bad code or name, a side outside 1-5,000 mm or a tare
        outside 0-100,000 g.
    :raises ShippingError: if another box has the code.
    """
    values = _values({"code": code, "name": name, "length_mm": length_mm,
                      "width_mm": width_mm, "height_mm": height_mm, "tare_g": tare_g})
    if box_by_code(values["code"]) is not None:
        raise ShippingError(f'To create box "{values["code"]}", you must choose another code: '
                            "a box already uses it.", field="code")
    box = Box(**values, active=True)
    db.session.add(box)
    db.session.flush()
    audit.record(box, "box.created", actor=actor,
                 changes={key: [None, value] for key, value in values.items()})
    return box


def update_box(box: Box, *, actor, **fields: Any) -> Box:
    """Change the given fields (:data:`BOX_FIELDS`) of a box; audit what differs.

    Parcels already packed keep their own dimensions.
    """
    unknown = set(fields) - set(BOX_FIELDS)
    if unknown:
        raise TypeError(f"update_box() got fields it cannot change: {sorted(unknown)}")
    values = _values(fields)
    if "code" in values:
        other = box_by_code(values["code"])
        if other is not None and other is not box:
            raise ShippingError(f'To rename box "{box.code}" to "{values["code"]}", you must '
                                f"choose another code: {other.name} already uses it.",
                                field="code")
    changes = audit.diff(box, values)
    if changes:
        for key in changes:
            setattr(box, key, values[key])
        audit.record(box, "box.updated", actor=actor, changes=changes)
        db.session.flush()
    return box
