"""What a scanner or a user typed, turned into a SKU or a bin, with errors naming the field."""

from __future__ import annotations

from sqlalchemy import or_, select

from erp.catalog.models import Sku
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.extensions import db
from erp.warehouse.models import Location
from erp.warehouse.services.locations import find_location


def find_sku(text: str, *, field: str = "sku") -> Sku:
    """Return the SKU whose code (any case) or barcode (exactly) was scanned or typed.

    :raises ValidationError: if nothing was typed or no SKU matches; ``field`` names the input.
    """
    value = (text or "").strip()
    if not value:
        raise ValidationError(_("Scan or type a SKU code or barcode."), field=field)
    found = db.session.scalars(select(Sku).where(
        or_(Sku.code == value.upper(), Sku.barcode == value)).limit(2)).all()
    if not found:
        raise ValidationError(_('No SKU has the code or barcode "%(value)s".', value=value),
                              field=field)
    # A barcode equal to another SKU's code: the code wins, as the SKU list search does.
    return next((sku for sku in found if sku.code == value.upper()), found[0])


def find_bin(text: str, *, field: str = "location") -> Location:
    """Return the active bin ``A-01-02-03`` or ``WH1/A-01-02-03``; see :func:`find_location`.

    :raises ValidationError: if nothing was typed, or no bin or several match; ``field`` names
        the input.
    """
    if not (text or "").strip():
        raise ValidationError(_("Scan or type a bin code."), field=field)
    try:
        return find_location(text)
    except ValidationError as err:
        raise ValidationError(str(err), field=field) from None
