"""Warehouses and locations (bins)."""

from __future__ import annotations

import re

from sqlalchemy import select

from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.extensions import db
from erp.warehouse.labels import kind_label
from erp.warehouse.models import VIRTUAL_KINDS, Location, LocationKind, StockLevel, Warehouse


class LocationError(DomainError):
    """A warehouse or location rule was broken."""


#: kinds only the system makes (the transfer service), never created or chosen by hand
SYSTEM_KINDS = frozenset({LocationKind.in_transit})
WAREHOUSE_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,19}$")
LOCATION_CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,39}$")


def create_warehouse(*, code: str, name: str, country: str, address: str | None = None,
                     actor) -> Warehouse:
    """Create a warehouse.

    :raises ValidationError: for a bad code, name or country.
    :raises LocationError: if the code is taken.
    """
    code = (code or "").strip().upper()
    if not WAREHOUSE_CODE_RE.match(code):
        raise ValidationError(_("A warehouse code must be 1-20 letters, digits or dashes."),
                              field="code")
    if not (name or "").strip():
        raise ValidationError(_("The warehouse name is required."), field="name")
    try:
        country = normalize_country(country)
    except ValueError as exc:
        raise ValidationError(_("Country: %(problem)s.", problem=exc), field="country") from None
    if db.session.scalar(select(Warehouse.id).where(Warehouse.code == code)):
        raise LocationError(_('To create warehouse "%(code)s", you must choose another code: '
                              "it is taken.", code=code), field="code")
    warehouse = Warehouse(code=code, name=name.strip(), country=country,
                          address=(address or "").strip() or None)
    db.session.add(warehouse)
    db.session.flush()
    audit.record(warehouse, "warehouse.created", actor=actor,
                 changes={"code": [None, code], "name": [None, warehouse.name]})
    return warehouse


def update_warehouse(warehouse: Warehouse, *, name: str, country: str,
                     address: str | None = None, active: bool = True, actor) -> Warehouse:
    """Change a warehouse's name, address, country or active flag (its code stays: labels use it).

    :raises ValidationError: for an empty name or an unknown country.
    :raises LocationError: when deactivating a warehouse whose bins still hold stock.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError(_("The warehouse name is required."), field="name")
    try:
        country = normalize_country(country)
    except ValueError as exc:
        raise ValidationError(_("Country: %(problem)s.", problem=exc), field="country") from None
    if warehouse.active and not active:
        held = db.session.scalar(
            select(Location.code).join(StockLevel, StockLevel.location_id == Location.id)
            .where(Location.warehouse_id == warehouse.id, StockLevel.on_hand > 0).limit(1))
        if held:
            raise LocationError(_('To deactivate warehouse "%(code)s", you must first move its '
                                  "stock out (bin %(bin)s holds some).", code=warehouse.code,
                                  bin=held), field="active")
    changes = audit.diff(warehouse, {"name": name, "country": country,
                                     "address": (address or "").strip() or None,
                                     "active": bool(active)})
    for key, (_before, after) in changes.items():
        setattr(warehouse, key, after)
    if changes:
        audit.record(warehouse, "warehouse.updated", actor=actor, changes=changes)
    db.session.flush()
    return warehouse


def clean_location_code(value: str) -> str:
    """Return an upper-case bin code such as ``A-01-02-03``.

    :raises ValidationError: for other characters or length.
    """
    code = (value or "").strip().upper()
    if not LOCATION_CODE_RE.match(code):
        raise ValidationError(_("A bin code must be 1-40 letters, digits or dashes (zone-aisle-"
                                "rack-bin, e.g. A-01-02-03), got %(value)r.", value=value),
                              field="code")
    return code


def create_location(warehouse: Warehouse, *, code: str, kind: str, pick_sequence: int = 0,
                    actor) -> Location:
    """Create a bin in a warehouse.

    :raises ValidationError: for a bad code, a virtual or unknown kind, or a negative sequence.
    :raises LocationError: if the warehouse already has a bin with that code.
    """
    code = clean_location_code(code)
    try:
        kind = LocationKind(kind)
    except ValueError:
        raise ValidationError(_("Unknown location kind %(kind)r.", kind=kind),
                              field="kind") from None
    if kind in VIRTUAL_KINDS:
        raise ValidationError(_("A %(kind)s location is virtual and exists once; it cannot be "
                                "created in a warehouse.", kind=kind_label(kind)), field="kind")
    if kind in SYSTEM_KINDS:
        raise ValidationError(_("An in-transit location is made by the first transfer shipped "
                                "to a warehouse; it cannot be created by hand."), field="kind")
    if not isinstance(pick_sequence, int) or pick_sequence < 0:
        raise ValidationError(_("The pick sequence must be a whole number, zero or more."),
                              field="pick_sequence")
    if db.session.scalar(select(Location.id).where(Location.warehouse_id == warehouse.id,
                                                   Location.code == code)):
        raise LocationError(_('To create bin "%(code)s" in %(warehouse)s, you must choose '
                              "another code: it exists.", code=code, warehouse=warehouse.code),
                            field="code")
    location = Location(warehouse_id=warehouse.id, code=code, kind=kind,
                        pick_sequence=pick_sequence)
    db.session.add(location)
    db.session.flush()
    audit.record(location, "location.created", actor=actor, changes={
        "warehouse": warehouse.code, "code": [None, code], "kind": [None, kind.value],
        "pick_sequence": [None, pick_sequence]})
    return location


def update_location(location: Location, *, kind: str, pick_sequence: int, active: bool,
                    actor) -> Location:
    """Change a bin's kind, pick sequence or active flag.

    :raises ValidationError: for a virtual location, an unknown or virtual kind, or a bad
        sequence.
    :raises LocationError: when deactivating a bin that still holds stock.
    """
    if location.is_virtual:
        raise ValidationError(_("%(location)s is virtual and cannot be edited.",
                                location=location.label))
    try:
        kind = LocationKind(kind)
    except ValueError:
        raise ValidationError(_("Unknown location kind %(kind)r.", kind=kind),
                              field="kind") from None
    if kind in VIRTUAL_KINDS:
        raise ValidationError(_("A bin cannot become a virtual location."), field="kind")
    if (kind in SYSTEM_KINDS) != (location.kind in SYSTEM_KINDS):
        raise ValidationError(_("The kind of an in-transit location cannot change, nor can a "
                                "bin become one."), field="kind")
    if not isinstance(pick_sequence, int) or pick_sequence < 0:
        raise ValidationError(_("The pick sequence must be a whole number, zero or more."),
                              field="pick_sequence")
    if location.active and not active:
        held = db.session.scalar(select(StockLevel.on_hand).where(
            StockLevel.location_id == location.id, StockLevel.on_hand > 0).limit(1))
        if held:
            raise LocationError(_("To deactivate bin %(bin)s, you must first move its stock out.",
                                  bin=location.label), field="active")
    changes = audit.diff(location, {"kind": kind, "pick_sequence": pick_sequence,
                                    "active": active})
    location.kind, location.pick_sequence, location.active = kind, pick_sequence, active
    if changes:
        audit.record(location, "location.updated", actor=actor, changes=changes)
    db.session.flush()
    return location


def find_location(code: str, *, warehouse: Warehouse | None = None) -> Location:
    """Return the bin a scanner or a user typed: ``A-01-02-03`` or ``WH1/A-01-02-03``.

    :raises ValidationError: if no bin, or more than one, matches.
    """
    text = (code or "").strip().upper()
    stmt = select(Location).where(Location.active.is_(True))
    if "/" in text:
        wh_code, text = text.split("/", 1)
        stmt = stmt.join(Warehouse).where(Warehouse.code == wh_code)
    elif warehouse is not None:
        stmt = stmt.where(Location.warehouse_id == warehouse.id)
    found = db.session.scalars(stmt.where(Location.code == text).limit(2)).all()
    if not found:
        raise ValidationError(_("No active bin has the code %(code)r.", code=code),
                              field="location")
    if len(found) > 1:
        raise ValidationError(_("Bin %(code)r exists in several warehouses; scan or type it as "
                                "WAREHOUSE/CODE.", code=code), field="location")
    return found[0]
