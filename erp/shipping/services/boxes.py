"""Box sizes the packing station offers: inner dimensions (mm) and tare weight (g).

Every function validates, changes, audits and flushes; none commits.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _, _l, format_number
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import Box
from erp.shipping.services.carriers import whole_number_error

BOX_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-]{0,19}$")
MAX_SIDE_MM = 5_000
MAX_TARE_G = 100_000
BOX_FIELDS = ("code", "name", "length_mm", "width_mm", "height_mm", "tare_g", "active")


def _whole(value: Any, *, field: str, label, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or value is None or str(value).strip() == "":
        raise ValidationError(whole_number_error(label, minimum, maximum), field=field)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError(whole_number_error(label, minimum, maximum, repr(value)),
                              field=field) from None
    if not minimum <= number <= maximum:
        raise ValidationError(whole_number_error(label, minimum, maximum,
                                                 format_number(number)), field=field)
    return number


#: what a box's sides are called in messages
_SIDES = {"length_mm": _l("The length (mm)"), "width_mm": _l("The width (mm)"),
          "height_mm": _l("The height (mm)")}


def _values(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sides = _SIDES
    for key, value in values.items():
        if key == "code":
            code = str(value or "").strip().upper()
            if not BOX_CODE_RE.match(code):
                raise ValidationError(_("%(code)s is not a box code: use 1-20 letters, digits, "
                                        "'.', '-' or '_', e.g. M.",
                                        code=repr(code) if code else _("An empty code")),
                                      field="code")
            out[key] = code
        elif key == "name":
            name = str(value or "").strip()
            if not name or len(name) > 80:
                raise ValidationError(_("A box needs a name of at most 80 characters."),
                                      field="name")
            out[key] = name
        elif key in sides:
            out[key] = _whole(value, field=key, label=sides[key], minimum=1, maximum=MAX_SIDE_MM)
        elif key == "tare_g":
            out[key] = _whole(value, field=key, label=_("The tare weight (g)"), minimum=0,
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
        raise ShippingError(_('To create box "%(code)s", you must choose another code: a box '
                              "already uses it.", code=values["code"]), field="code")
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
            raise ShippingError(_('To rename box "%(old)s" to "%(code)s", you must choose '
                                  "another code: %(other)s already uses it.", old=box.code,
                                  code=values["code"], other=other.name), field="code")
    changes = audit.diff(box, values)
    if changes:
        for key in changes:
            setattr(box, key, values[key])
        audit.record(box, "box.updated", actor=actor, changes=changes)
        db.session.flush()
    return box
