"""Warehouses and locations (bins)."""

from __future__ import annotations

import re

from sqlalchemy import select

from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.extensions import db
from erp.warehouse.models import VIRTUAL_KINDS, Location, LocationKind, StockLevel, Warehouse


class LocationError(DomainError):
    """A warehouse or location rule was broken."""


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
        raise ValidationError("A warehouse code must be 1-20 letters, digits or dashes.",
                              field="code")
    if not (name or "").strip():
        raise ValidationError("The warehouse name is required.", field="name")
    try:
        country = normalize_country(country)
    except ValueError as exc:
        raise ValidationError(f"Country: {exc}.", field="country") from None
    if db.session.scalar(select(Warehouse.id).where(Warehouse.code == code)):
        raise LocationError(f'To create warehouse "{code}", you must choose another code: it '
                            "is taken.", field="code")
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
        raise ValidationError("The warehouse name is required.", field="name")
    try:
        country = normalize_country(country)
    except ValueError as exc:
        raise ValidationError(f"Country: {exc}.", field="country") from None
    if warehouse.active and not active:
        held = db.session.scalar(
            select(Location.code).join(StockLevel, StockLevel.location_id == Location.id)
            .where(Location.warehouse_id == warehouse.id, StockLevel.on_hand > 0).limit(1))
        if held:
            raise LocationError(f'To deactivate warehouse "{warehouse.code}", you must first move '
                                f"its stock out (bin {held} holds some).", field="active")
    changes = audit.diff(warehouse, {"name": name, "country": country,
                                     "address": (address or "").strip() or None,
                                     "active": bool(active)})
    for key, (_, after) in changes.items():
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
        raise ValidationError(f"A bin code must be 1-40 letters, digits or dashes (zone-aisle-"
                              f"rack-bin, e.g. A-01-02-03), got {value!r}.", field="code")
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
        raise ValidationError(f"Unknown location kind {kind!r}.", field="kind") from None
    if kind in VIRTUAL_KINDS:
        raise ValidationError(f"A {kind.value} location is virtual and exists once; it cannot "
                              "be created in a warehouse.", field="kind")
    if not isinstance(pick_sequence, int) or pick_sequence < 0:
        raise ValidationError("The pick sequence must be a whole number, zero or more.",
                              field="pick_sequence")
    if db.session.scalar(select(Location.id).where(Location.warehouse_id == warehouse.id,
                                                   Location.code == code)):
        raise LocationError(f'To create bin "{code}" in {warehouse.code}, you must choose '
                            "another code: it exists.", field="code")
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
        raise ValidationError(f"{location.label} is virtual and cannot be edited.")
    try:
        kind = LocationKind(kind)
    except ValueError:
        raise ValidationError(f"Unknown location kind {kind!r}.", field="kind") from None
    if kind in VIRTUAL_KINDS:
        raise ValidationError("A bin cannot become a virtual location.", field="kind")
    if not isinstance(pick_sequence, int) or pick_sequence < 0:
        raise ValidationError("The pick sequence must be a whole number, zero or more.",
                              field="pick_sequence")
    if location.active and not active:
        held = db.session.scalar(select(StockLevel.on_hand).where(
            StockLevel.location_id == location.id, StockLevel.on_hand > 0).limit(1))
        if held:
            raise LocationError(f"To deactivate bin {location.label}, you must first move its "
                                "stock out.", field="active")
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
        raise ValidationError(f"No active bin has the code {code!r}.", field="location")
    if len(found) > 1:
        raise ValidationError(f"Bin {code!r} exists in several warehouses; scan or type it as "
                              "WAREHOUSE/CODE.", field="location")
    return found[0]
