"""Warehouse routes: which warehouses ship an order to its destination, first choice first.

Routes are kept in one ordered table (``position``); the first route whose country and area
match an order's address names its warehouses. Allocation (in orders) asks
:func:`route_table` once per batch and takes the first of them that can fill the whole order;
an address no route matches may ship from any active warehouse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from erp.core import audit
from erp.core.codes import normalize_country
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.locking import lock_many
from erp.extensions import db
from erp.warehouse.models import ANY_AREA, Warehouse, WarehouseRoute, WarehouseRouteStop


class RouteError(DomainError):
    """A warehouse-route rule was broken (e.g. the same destination twice)."""


_AREA_RE = re.compile(r"^[A-Z0-9][A-Z0-9 -]{0,19}$")


def clean_route_country(value) -> str:
    """Return an ISO country code, or ``*`` for any country.

    :raises ValueError: for an unknown country.
    """
    text = str(value or "").strip()
    if text == ANY_AREA:
        return ANY_AREA
    return normalize_country(text)


def clean_route_area(value) -> str:
    """Return an area (region or postcode prefix, upper-case), ``*`` when empty.

    :raises ValueError: for an area of other characters or longer than 20.
    """
    text = " ".join(str(value or "").split()).upper()
    if not text or text == ANY_AREA:
        return ANY_AREA
    if not _AREA_RE.match(text):
        raise ValueError(_("an area is a region or postcode prefix of 1-20 letters, digits, "
                           "spaces or dashes, or * for any"))
    return text


def clean_route_warehouses(value) -> list[Warehouse]:
    """Return the warehouses of ``"CN-SZ US-LAX"`` (codes separated by spaces or commas).

    :raises ValueError: for no warehouse, an unknown or inactive code, or a code twice.
    """
    codes = [c for c in re.split(r"[\s,;>]+", str(value or "").upper()) if c] \
        if isinstance(value, str) or value is None \
        else [(c.code if isinstance(c, Warehouse) else str(c)).upper() for c in value]
    if not codes:
        raise ValueError(_("name at least one warehouse"))
    seen = set()
    for code in codes:
        if code in seen:
            raise ValueError(_("warehouse %(code)s is named twice", code=code))
        seen.add(code)
    found = {w.code: w for w in db.session.scalars(
        select(Warehouse).where(Warehouse.code.in_(codes)))}
    for code in codes:
        warehouse = found.get(code)
        if warehouse is None:
            raise ValueError(_('there is no warehouse "%(code)s"', code=code))
        if not warehouse.active:
            raise ValueError(_("warehouse %(code)s is inactive", code=code))
    return [found[code] for code in codes]


def _clean(country, area, warehouses, note) -> tuple[str, str, list[Warehouse], str | None]:
    try:
        country = clean_route_country(country)
    except ValueError as err:
        raise ValidationError(_("Country: %(problem)s.", problem=err), field="country") from None
    try:
        area = clean_route_area(area)
    except ValueError as err:
        raise ValidationError(_("Area: %(problem)s.", problem=err), field="area") from None
    try:
        chosen = clean_route_warehouses(warehouses)
    except ValueError as err:
        raise ValidationError(_("Warehouses: %(problem)s.", problem=err),
                              field="warehouses") from None
    note = (note or "").strip() or None
    if note and len(note) > 200:
        raise ValidationError(_("Note: at most 200 characters."), field="note")
    return country, area, chosen, note


def _check_unique(country: str, area: str, route_id: int | None) -> None:
    query = select(WarehouseRoute.id).where(WarehouseRoute.country == country,
                                            WarehouseRoute.area == area)
    if route_id is not None:
        query = query.where(WarehouseRoute.id != route_id)
    if db.session.scalar(query):
        raise RouteError(_("A route to %(country)s, area %(area)s, exists already: edit it "
                           "instead.", country=country, area=area), field="area")


def _set_stops(route: WarehouseRoute, warehouses: Sequence[Warehouse]) -> None:
    route.stops.clear()
    db.session.flush()
    for rank, warehouse in enumerate(warehouses):
        route.stops.append(WarehouseRouteStop(rank=rank, warehouse_id=warehouse.id,
                                              warehouse=warehouse))


def _codes(warehouses: Iterable[Warehouse]) -> str:
    return " ".join(w.code for w in warehouses)


def list_routes() -> list[WarehouseRoute]:
    """Return every route in priority order, with its warehouses."""
    return list(db.session.scalars(
        select(WarehouseRoute).order_by(WarehouseRoute.position, WarehouseRoute.id)
        .options(selectinload(WarehouseRoute.stops).selectinload(WarehouseRouteStop.warehouse))))


def create_route(*, country, area, warehouses, note=None, actor) -> WarehouseRoute:
    """Add a route at the end of the table.

    :raises ValidationError: for a bad country, area, warehouse list or note.
    :raises RouteError: if a route to the same country and area exists.
    """
    country, area, chosen, note = _clean(country, area, warehouses, note)
    _check_unique(country, area, None)
    last = db.session.scalar(select(func.max(WarehouseRoute.position))) or 0
    route = WarehouseRoute(country=country, area=area, note=note, position=last + 1)
    db.session.add(route)
    _set_stops(route, chosen)
    db.session.flush()
    audit.record(route, "warehouse_route.created", actor=actor,
                 changes={"country": [None, country], "area": [None, area],
                          "warehouses": [None, _codes(chosen)]})
    return route


def update_route(route: WarehouseRoute, *, country, area, warehouses, note=None,
                 actor) -> WarehouseRoute:
    """Change a route's destination, warehouses or note.

    :raises ValidationError: for a bad country, area, warehouse list or note.
    :raises RouteError: if another route has the same country and area.
    """
    country, area, chosen, note = _clean(country, area, warehouses, note)
    _check_unique(country, area, route.id)
    changes = audit.diff(route, {"country": country, "area": area, "note": note})
    before, after = _codes(route.warehouses), _codes(chosen)
    if before != after:
        changes["warehouses"] = [before, after]
        _set_stops(route, chosen)
    for name in ("country", "area", "note"):
        if name in changes:
            setattr(route, name, changes[name][1])
    db.session.flush()
    if changes:
        audit.record(route, "warehouse_route.updated", actor=actor, changes=changes)
    return route


def delete_route(route: WarehouseRoute, *, actor) -> None:
    """Delete a route; addresses it matched take the next matching route (or any warehouse)."""
    audit.record(route, "warehouse_route.deleted", actor=actor,
                 changes={"country": [route.country, None], "area": [route.area, None],
                          "warehouses": [_codes(route.warehouses), None]})
    db.session.delete(route)
    db.session.flush()


def move_route(route: WarehouseRoute, *, position: int, actor) -> WarehouseRoute:
    """Move a route to ``position`` (1 is tried first), renumbering the table 1, 2, ...

    The position is absolute, so a repeated request leaves the same table; one beyond the
    ends moves the route to that end. Every route is locked first (in id order).
    """
    lock_many(WarehouseRoute, db.session.scalars(select(WarehouseRoute.id)))
    ordered = [r for r in list_routes() if r.id != route.id]
    target = min(max(int(position), 1), len(ordered) + 1)
    old = route.position
    ordered.insert(target - 1, route)
    for number, each in enumerate(ordered, start=1):
        each.position = number
    db.session.flush()
    if old != route.position:
        audit.record(route, "warehouse_route.moved", actor=actor,
                     changes={"position": [old, route.position]})
    return route


def replace_routes(rows: Sequence[dict], *, actor) -> dict[str, int]:
    """Make the table the given rows, in their order (the Excel import); return counts.

    Each row has ``country``, ``area``, ``warehouses`` (codes) and ``note``. A route whose
    country and area are in the rows is kept and updated; the others are deleted.

    :raises ValidationError, RouteError: for a bad row (the caller names its row).
    """
    existing = {(r.country, r.area): r for r in list_routes()}
    counts = {"created": 0, "updated": 0, "deleted": 0}
    keep: list[WarehouseRoute] = []
    for row in rows:
        country, area, chosen, note = _clean(row["country"], row.get("area"), row["warehouses"],
                                             row.get("note"))
        route = existing.pop((country, area), None)
        if route is None:
            route = create_route(country=country, area=area, warehouses=chosen, note=note,
                                 actor=actor)
            counts["created"] += 1
        elif (_codes(route.warehouses), route.note) != (_codes(chosen), note):
            update_route(route, country=country, area=area, warehouses=chosen, note=note,
                         actor=actor)
            counts["updated"] += 1
        keep.append(route)
    for route in existing.values():
        delete_route(route, actor=actor)
        counts["deleted"] += 1
    for position, route in enumerate(keep, start=1):
        route.position = position
    db.session.flush()
    return counts


@dataclass(frozen=True)
class RouteTable:
    """The routes as allocation reads them: ``[(route, [warehouse id, ...])]`` in priority.

    ``every`` is the active warehouses, by id, for an address no route matches.
    """

    routes: tuple[tuple[WarehouseRoute, tuple[int, ...]], ...]
    every: tuple[int, ...]

    def warehouses_for(self, country: str | None, region: str | None,
                       postal_code: str | None) -> tuple[int, ...]:
        """Return the warehouse ids to try for an address, first choice first."""
        for route, warehouse_ids in self.routes:
            if route.matches(country, region, postal_code):
                return warehouse_ids
        return self.every


def route_table() -> RouteTable:
    """Read the routes and the active warehouses once (allocation calls it per batch)."""
    active = tuple(db.session.scalars(select(Warehouse.id).where(Warehouse.active.is_(True))
                                      .order_by(Warehouse.id)))
    live = set(active)
    routes = tuple((route, tuple(s.warehouse_id for s in route.stops
                                 if s.warehouse_id in live))
                   for route in list_routes())
    return RouteTable(routes=routes, every=active)


def route_for(country: str | None, region: str | None = None,
              postal_code: str | None = None) -> WarehouseRoute | None:
    """Return the route an address takes, or None when none matches."""
    for route in list_routes():
        if route.matches(country, region, postal_code):
            return route
    return None


def warehouses_for(country: str | None, region: str | None = None,
                   postal_code: str | None = None) -> list[Warehouse]:
    """Return the warehouses an address ships from (the route's, else every active one)."""
    ids = route_table().warehouses_for(country, region, postal_code)
    found = {w.id: w for w in db.session.scalars(select(Warehouse).where(Warehouse.id.in_(ids)))}
    return [found[i] for i in ids if i in found]
