"""Made-to-order products: the maker, production time, sizes and the measurement template.

A product is made to order when ``product.made_to_order`` is set and it has an
:class:`~erp.production.models.MtoProduct` row naming its contract maker (an active supplier).
Its lines then carry a standard size or, when ``made_to_measure``, measurements validated by
:func:`check_line` against the product's :class:`~erp.production.models.MeasurementField` rows
(registered in :data:`erp.orders.hooks.made_to_order_checks`, so intake calls it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select

from erp.catalog.models import Product, Sku
from erp.core import audit
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.locking import lock
from erp.extensions import db
from erp.orders import hooks
from erp.procurement.models import Supplier
from erp.production.models import MeasurementField, MtoProduct

MIN_DAYS, MAX_DAYS = 1, 60
UNITS = ("cm", "in")
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
MAX_FIELDS = 40
MAX_VALUE = Decimal("10000")
#: a standard size: letters, digits and . / - + (fits the order line's 30 characters)
SIZE_RE = re.compile(r"^[A-Za-z0-9./+-]{1,30}$")


@dataclass(frozen=True)
class FieldRow:
    """One measurement of a template as entered (strings, before validation)."""

    code: str
    label: str
    label_zh: str | None = None
    unit: str = "cm"
    min_value: Decimal | str | None = None
    max_value: Decimal | str | None = None
    required: bool = True


def _text(value) -> str:
    return str(value).strip() if value is not None else ""


def _number(value, *, row: int, code: str, name: str) -> Decimal | None:
    text = _text(value)
    if not text:
        return None
    try:
        number = Decimal(text.replace(",", "."))
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite() or number < 0 or number > MAX_VALUE \
            or number != number.quantize(Decimal("0.01")):
        raise ValidationError(_('Measurement row %(row)s (%(code)s): the %(name)s must be a '
                                'number from 0 to 10000 with at most 2 decimals, not "%(value)s".',
                                row=row, code=code or "?", name=name, value=text),
                              field="fields")
    return number.quantize(Decimal("0.01"))


def parse_sizes(text: str | None) -> list[str]:
    """Return the standard sizes of ``text`` (separated by spaces or commas), in order.

    :raises ValidationError: for a size with other characters than letters, digits and
        ``. / - +``, or a size given twice.
    """
    sizes: list[str] = []
    for size in re.split(r"[\s,;]+", _text(text)):
        if not size:
            continue
        if not SIZE_RE.match(size):
            raise ValidationError(_('The size "%(size)s" may only hold letters, digits and . / - + '
                                    "(up to 30 characters).", size=size[:40]), field="sizes")
        if size in sizes:
            raise ValidationError(_('The size "%(size)s" is listed twice.', size=size),
                                  field="sizes")
        sizes.append(size)
    joined = " ".join(sizes)
    if len(joined) > 300:
        raise ValidationError(_("The sizes may take at most 300 characters together."),
                              field="sizes")
    return sizes


def parse_template(text: str | None) -> list[FieldRow]:
    """Read a measurement template entered one field per line.

    Each line: ``code | label | label_zh | unit | min | max | required`` (``required``: yes or
    no, default yes; the parts after the label may be empty).

    :raises ValidationError: naming the row for a line of another shape.
    """
    rows: list[FieldRow] = []
    for number, raw in enumerate(_text(text).splitlines(), start=1):
        if not raw.strip():
            continue
        parts = [part.strip() for part in raw.split("|")]
        if len(parts) < 2 or len(parts) > 7:
            raise ValidationError(_("Measurement row %(row)s: write code | label | label in "
                                    "Chinese | unit | min | max | required, not "
                                    '"%(value)s".', row=number, value=raw.strip()[:80]),
                                  field="fields")
        parts += [""] * (7 - len(parts))
        required = parts[6].lower()
        if required not in ("", "yes", "no", "y", "n", "1", "0", "true", "false"):
            raise ValidationError(_('Measurement row %(row)s (%(code)s): required must be yes or '
                                    'no, not "%(value)s".', row=number, code=parts[0] or "?",
                                    value=parts[6]), field="fields")
        rows.append(FieldRow(code=parts[0], label=parts[1], label_zh=parts[2] or None,
                             unit=parts[3] or "cm", min_value=parts[4] or None,
                             max_value=parts[5] or None,
                             required=required not in ("no", "n", "0", "false")))
    return rows


def template_text(fields: Sequence[MeasurementField]) -> str:
    """Return the product's template as :func:`parse_template` reads it (for the edit form)."""
    def num(value):
        return "" if value is None else format(value.normalize(), "f")
    return "\n".join(" | ".join([f.code, f.label, f.label_zh or "", f.unit, num(f.min_value),
                                 num(f.max_value), "yes" if f.required else "no"])
                     for f in fields)


def _clean_fields(rows: Sequence[FieldRow]) -> list[dict]:
    if len(rows) > MAX_FIELDS:
        raise ValidationError(_("A measurement template may have at most %(most)s fields.",
                                most=MAX_FIELDS), field="fields")
    cleaned: list[dict] = []
    seen: set[str] = set()
    for position, row in enumerate(rows, start=1):
        code = _text(row.code)
        if not CODE_RE.match(code):
            raise ValidationError(_('Measurement row %(row)s: the code "%(code)s" must start with '
                                    "a lower-case letter and hold only a-z, 0-9 and _ (up to 30 "
                                    "characters).", row=position, code=code[:40]),
                                  field="fields")
        if code in seen:
            raise ValidationError(_('Measurement row %(row)s: the code "%(code)s" is used twice.',
                                    row=position, code=code), field="fields")
        seen.add(code)
        label, label_zh = _text(row.label), _text(row.label_zh) or None
        if not label or len(label) > 100 or (label_zh and len(label_zh) > 100):
            raise ValidationError(_("Measurement row %(row)s (%(code)s): the label is required "
                                    "and the labels may have at most 100 characters.",
                                    row=position, code=code), field="fields")
        unit = _text(row.unit) or "cm"
        if unit not in UNITS:
            raise ValidationError(_('Measurement row %(row)s (%(code)s): the unit must be cm or '
                                    'in, not "%(unit)s".', row=position, code=code,
                                    unit=unit[:20]), field="fields")
        low = _number(row.min_value, row=position, code=code, name=_("minimum"))
        high = _number(row.max_value, row=position, code=code, name=_("maximum"))
        if low is not None and high is not None and low > high:
            raise ValidationError(_("Measurement row %(row)s (%(code)s): the minimum %(min)s is "
                                    "above the maximum %(max)s.", row=position, code=code,
                                    min=low, max=high), field="fields")
        cleaned.append({"position": position, "code": code, "label": label,
                        "label_zh": label_zh, "unit": unit, "min_value": low,
                        "max_value": high, "required": bool(row.required)})
    return cleaned


def _maker(maker_id) -> Supplier:
    try:
        maker = db.session.get(Supplier, int(maker_id)) if maker_id not in (None, "") else None
    except (TypeError, ValueError):
        maker = None
    if maker is None:
        raise ValidationError(_("Choose the maker: a supplier."), field="maker_id")
    if not maker.active:
        raise ValidationError(_('The maker "%(code)s" is inactive: choose an active supplier.',
                                code=maker.code), field="maker_id")
    return maker


def _days(value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = None
    if days is None or isinstance(value, bool) or not MIN_DAYS <= days <= MAX_DAYS:
        raise ValidationError(_('The production time must be %(min)s to %(max)s business days, '
                                'not "%(value)s".', min=MIN_DAYS, max=MAX_DAYS, value=value),
                              field="production_days")
    return days


def _field_dict(f: MeasurementField) -> dict:
    return {"position": f.position, "code": f.code, "label": f.label, "label_zh": f.label_zh,
            "unit": f.unit, "min_value": f.min_value, "max_value": f.max_value,
            "required": f.required}


def set_up_product(product: Product, *, actor, made_to_order: bool, maker_id, production_days,
                   sizes: str | None, made_to_measure: bool,
                   fields: Sequence[FieldRow] | None = None) -> MtoProduct:
    """Make ``product`` made to order (or not) with its maker, time, sizes and template.

    ``fields`` replaces the measurement template (None keeps it). A made-to-order product needs
    at least one standard size or ``made_to_measure``; made to measure needs a template.

    :raises ValidationError: naming the field (maker, production time, sizes, template row).
    """
    lock(product)
    maker = _maker(maker_id)
    days = _days(production_days)
    size_list = parse_sizes(sizes)
    made_to_measure = bool(made_to_measure)
    current = db.session.scalars(select(MeasurementField).where(
        MeasurementField.product_id == product.id).order_by(MeasurementField.position)).all()
    cleaned = _clean_fields(fields) if fields is not None else [_field_dict(f) for f in current]
    if made_to_order and not size_list and not made_to_measure:
        raise ValidationError(_('To make product "%(code)s" to order, give its standard sizes or '
                                "make it to measure.", code=product.code), field="sizes")
    if made_to_order and made_to_measure and not cleaned:
        raise ValidationError(_('To make product "%(code)s" to measure, give its measurement '
                                "template (at least one field).", code=product.code),
                              field="fields")
    mto = db.session.get(MtoProduct, product.id)
    created = mto is None
    if created:
        mto = MtoProduct(product_id=product.id)
        db.session.add(mto)
    values = {"maker_id": maker.id, "production_days": days,
              "sizes": " ".join(size_list) or None, "made_to_measure": made_to_measure}
    changes = {} if created else audit.diff(mto, values)
    if created:
        changes = {k: [None, v] for k, v in values.items()}
    for name, value in values.items():
        setattr(mto, name, value)
    if product.made_to_order != bool(made_to_order):
        changes["made_to_order"] = [product.made_to_order, bool(made_to_order)]
        product.made_to_order = bool(made_to_order)
    old_fields = [_field_dict(f) for f in current]
    if cleaned != old_fields:
        db.session.execute(delete(MeasurementField).where(
            MeasurementField.product_id == product.id))
        db.session.add_all(MeasurementField(product_id=product.id, **row) for row in cleaned)
        changes["fields"] = [[f["code"] for f in old_fields], [f["code"] for f in cleaned]]
    if changes:
        changes["maker"] = maker.code
        audit.record(product, "product.made_to_order_set", actor=actor, changes=changes)
    db.session.flush()
    db.session.expire(mto, ["fields"])
    return mto


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value == value.to_integral() else \
        format(value.quantize(Decimal("0.01")).normalize(), "f")


def _range_text(field: MeasurementField) -> str:
    low = _fmt(field.min_value) if field.min_value is not None else "…"
    high = _fmt(field.max_value) if field.max_value is not None else "…"
    return f"{low}–{high} {field.unit}"


def check_line(sku: Sku, size: str | None, measurements: Mapping[str, Decimal] | None) -> None:
    """Check a made-to-order line's size or measurements against its product's template.

    A standard size must be one of the product's sizes; measurements are only accepted for a
    made-to-measure product, every required field present, no unknown code, each value within
    its range. Lines of other products are not checked here (intake refuses size/measurements
    on them).

    :raises ValueError: naming the field, value, range and unit, e.g. "chest_cm 150 is outside
        70–140 cm".
    """
    product = sku.product if getattr(sku, "product", None) is not None else \
        db.session.get(Product, sku.product_id)
    if product is None or not product.made_to_order:
        return
    mto = db.session.get(MtoProduct, product.id)
    if mto is None:
        raise ValueError(_('Product "%(code)s" is made to order but has no maker set up yet.',
                           code=product.code))
    size = _text(size) or None
    if size is not None and measurements:
        raise ValueError(_("Give either a size or measurements, not both."))
    if size is None and not measurements:
        raise ValueError(_('Product "%(code)s" is made to order: give a size or measurements.',
                           code=product.code))
    if size is not None:
        sizes = (mto.sizes or "").split()
        if size not in sizes:
            raise ValueError(_('Size "%(size)s" is not one of the sizes of product "%(code)s": '
                               "%(sizes)s.", size=size, code=product.code,
                               sizes=", ".join(sizes) or _("none")))
        return
    if not mto.made_to_measure:
        raise ValueError(_('Product "%(code)s" is not made to measure: choose one of its sizes '
                           "(%(sizes)s).", code=product.code,
                           sizes=", ".join((mto.sizes or "").split()) or _("none")))
    fields = {f.code: f for f in db.session.scalars(select(MeasurementField).where(
        MeasurementField.product_id == product.id).order_by(MeasurementField.position))}
    unknown = sorted(set(measurements) - set(fields))
    if unknown:
        raise ValueError(_('Measurement "%(code)s" is not in the template of product '
                           '"%(product)s" (it has %(codes)s).', code=unknown[0],
                           product=product.code, codes=", ".join(fields)))
    for code, field in fields.items():
        if code not in measurements or measurements[code] is None:
            if field.required:
                raise ValueError(_('Measurement "%(code)s" (%(label)s) is required.',
                                   code=code, label=field.label))
            continue
        try:
            value = Decimal(str(measurements[code]))
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            raise ValueError(_('Measurement "%(code)s" must be a number, not "%(value)s".',
                               code=code, value=measurements[code]))
        if (field.min_value is not None and value < field.min_value) or \
                (field.max_value is not None and value > field.max_value):
            raise ValueError(_("%(code)s %(value)s is outside %(range)s.", code=code,
                               value=_fmt(value), range=_range_text(field)))


def _register() -> None:
    if check_line not in hooks.made_to_order_checks:
        hooks.made_to_order_checks.append(check_line)


_register()
