"""Transport attributes of goods: batteries, liquids, powders, magnets, perfume and sharp items.

Postal air services refuse or limit them, so routing and packing read them. Like the customs
defaults they are set on a category and inherited down the tree; a SKU may override each one.
``None`` on a category or SKU means "inherit"; above the root the battery kind is ``none`` and
every flag is "no".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import aliased

from erp.catalog.models import (
    BATTERY_KIND_LABELS,
    TRANSPORT_FIELDS,
    TRANSPORT_FLAG_LABELS,
    TRANSPORT_FLAGS,
    BatteryKind,
    Category,
    Product,
    Sku,
)
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.extensions import db


@dataclass(frozen=True, slots=True)
class TransportValue:
    """One effective transport attribute and where it comes from."""

    value: Any
    source: str          # "sku", "category" or "default"
    source_label: str    # e.g. "SKU", "Category ELEC (Electronics)" or "Default"


@dataclass(frozen=True, slots=True)
class Transport:
    """The effective transport attributes of one SKU (one unit of it)."""

    battery: BatteryKind = BatteryKind.none
    cells: int = 0          # lithium cells in one unit (0 without a battery)
    liquid: bool = False
    powder: bool = False
    magnet: bool = False
    flammable: bool = False
    sharp: bool = False

    def attributes(self) -> list[str]:
        """Return the goods attributes this unit carries, as shipping services name them.

        A battery is ``battery_in_equipment``, ``battery_with_equipment`` or ``battery_alone``;
        the flags keep their names (``liquid``, ``magnet``, ...).
        """
        out = [f"battery_{self.battery.value}"] if self.battery != BatteryKind.none else []
        out.extend(flag for flag in TRANSPORT_FLAGS if getattr(self, flag))
        return out


NOTHING = Transport()


def category_transport_defaults() -> dict[int, dict[str, TransportValue]]:
    """Return, for every category, each transport attribute's nearest value up the tree."""
    rows = db.session.execute(
        select(Category.id, Category.parent_id, Category.depth, Category.code,
               Category.full_name, *(getattr(Category, f) for f in TRANSPORT_FIELDS))
        .order_by(Category.depth)).all()
    result: dict[int, dict[str, TransportValue]] = {}
    for row in rows:  # parents come before children (ordered by depth)
        inherited = dict(result.get(row.parent_id, {}))
        for field in TRANSPORT_FIELDS:
            value = getattr(row, field)
            if value is not None:
                inherited[field] = TransportValue(
                    value, "category", _("Category %(code)s (%(name)s)", code=row.code,
                                         name=row.full_name))
        result[row.id] = inherited
    return result


def _default(field: str) -> TransportValue:
    return TransportValue(BatteryKind.none if field == "battery" else False, "default",
                          _("Default"))


def effective_transport(sku: Sku, defaults: Mapping[int, Mapping[str, TransportValue]] | None
                        = None) -> dict[str, TransportValue]:
    """Return each transport attribute of ``sku`` with its source, for the SKU page."""
    if defaults is None:
        defaults = category_transport_defaults()
    inherited = defaults.get(sku.product.category_id, {})
    out = {}
    for field in TRANSPORT_FIELDS:
        own = getattr(sku, field)
        if own is not None:
            out[field] = TransportValue(own, "sku", _("SKU"))
        else:
            out[field] = inherited.get(field) or _default(field)
    return out


@functools.cache
def _transport_statement():
    """The statement of :func:`transport_of`, built once (building costs more than running)."""
    leaf, up = aliased(Category), aliased(Category)
    own = [getattr(Sku, f) for f in TRANSPORT_FIELDS]
    inherited = [getattr(up, f) for f in TRANSPORT_FIELDS]
    return (select(Sku.id, Sku.battery_cells, *own, *inherited)
            .join(Product, Product.id == Sku.product_id)
            .join(leaf, leaf.id == Product.category_id)
            .join(up, leaf.path.like(up.path + "%"))
            .where(Sku.id.in_(bindparam("ids", expanding=True)))
            .order_by(Sku.id, up.depth))


def transport_of(sku_ids: Iterable[int]) -> dict[int, Transport]:
    """Return the effective transport attributes of many SKUs: one query per 900 SKUs.

    Each SKU is read with the categories on its category's path (``path`` holds the ids from
    the root), nearest last, so only the categories it inherits from are read: packing one
    item reads a handful of rows, not the whole tree. SKUs that carry nothing are left out
    (read them as :data:`NOTHING`).
    """
    ids = sorted(set(sku_ids))
    if not ids:
        return {}
    statement = _transport_statement()
    values: dict[int, dict[str, Any]] = {}
    cells: dict[int, int | None] = {}
    for start in range(0, len(ids), 900):
        for row in db.session.execute(statement, {"ids": ids[start:start + 900]}):
            sku_id = row[0]
            found = values.setdefault(sku_id, {})
            cells[sku_id] = row[1]
            count = len(TRANSPORT_FIELDS)
            for i, field in enumerate(TRANSPORT_FIELDS):
                category_value = row[2 + count + i]  # nearer categories come later
                if category_value is not None:
                    found[field] = category_value
            for i, field in enumerate(TRANSPORT_FIELDS):
                if row[2 + i] is not None:  # the SKU's own value wins
                    found[field] = row[2 + i]
    out: dict[int, Transport] = {}
    for sku_id, found in values.items():
        transport = transport_from(found, cells[sku_id])
        if transport != NOTHING:
            out[sku_id] = transport
    return out


def transport_from(values: Mapping[str, Any], cells: int | None) -> Transport:
    """Return the transport of effective ``values`` (None: not set) and the SKU's cell count."""
    battery = BatteryKind(values.get("battery") or BatteryKind.none)
    return Transport(battery=battery, cells=(cells or 1) if battery != BatteryKind.none else 0,
                     **{f: bool(values.get(f)) for f in TRANSPORT_FLAGS})


def inherited_transport(category_id, field: str) -> Any:
    """Return a scalar subquery of a category's nearest value of transport ``field``.

    As :func:`category_transport_defaults` gives it (its own, else its nearest ancestor's), for
    ``category_id`` a value or a column: a hot path reads it along with a query that runs
    anyway.
    """
    if field not in TRANSPORT_FIELDS:
        raise ValueError(f"{field!r} is not a transport field")
    leaf, up = aliased(Category), aliased(Category)
    value = getattr(up, field)
    return (select(value).select_from(leaf)
            .join(up, leaf.path.like(up.path + "%"))
            .where(leaf.id == category_id, value.is_not(None))
            .order_by(up.depth.desc()).limit(1).scalar_subquery())


def describe(field: str, value: Any) -> str:
    """Return what a person reads for one attribute's value ("battery alone", "yes", "no")."""
    if field == "battery":
        return str(BATTERY_KIND_LABELS[BatteryKind(value or BatteryKind.none)])
    return _("yes") if value else _("no")


def field_label(field: str) -> str:
    """Return the name of a transport attribute as a person reads it."""
    return _("battery") if field == "battery" else str(TRANSPORT_FLAG_LABELS[field])


_TRUE = {"yes", "y", "true", "1", "是"}
_FALSE = {"no", "n", "false", "0", "否"}
_INHERIT = {"", "inherit", "继承"}


def clean_transport(values: Mapping[str, Any], *, allow_cells: bool) -> dict[str, Any]:
    """Return the transport attributes among ``values``, validated (None: inherit).

    Accepts enums and booleans, or the text of a form or a sheet: a battery kind by its value
    (``in_equipment``), a flag as yes/no/true/false/1/0, and an empty cell or ``inherit`` for
    None. Keys absent from ``values`` are left out.

    :raises ValidationError: naming the field and what it accepts.
    """
    out: dict[str, Any] = {}
    if "battery" in values:
        raw = values["battery"]
        if raw is None or isinstance(raw, BatteryKind):
            out["battery"] = raw
        else:
            text = str(raw).strip().lower().replace(" ", "_")
            if text in _INHERIT:
                out["battery"] = None
            else:
                try:
                    out["battery"] = BatteryKind(text)
                except ValueError:
                    raise ValidationError(
                        _("The battery kind must be one of %(choices)s, or empty to inherit; "
                          "got %(value)s.", choices=", ".join(k.value for k in BatteryKind),
                          value=raw), field="battery") from None
    for flag in TRANSPORT_FLAGS:
        if flag not in values:
            continue
        raw = values[flag]
        if raw is None or isinstance(raw, bool):
            out[flag] = raw
            continue
        text = str(raw).strip().lower()
        if text in _INHERIT:
            out[flag] = None
        elif text in _TRUE:
            out[flag] = True
        elif text in _FALSE:
            out[flag] = False
        else:
            raise ValidationError(_("%(field)s must be yes or no, or empty to inherit; got "
                                    "%(value)s.", field=field_label(flag).capitalize(),
                                    value=raw), field=flag)
    if allow_cells and "battery_cells" in values:
        raw = values["battery_cells"]
        if raw is None or str(raw).strip() == "":
            out["battery_cells"] = None
        else:
            try:
                cells = int(str(raw).strip().removesuffix(".0"))
            except ValueError:
                cells = 0
            if not 1 <= cells <= 1000:
                raise ValidationError(_("The battery cells must be a whole number from 1 to "
                                        "1000, or empty; got %(value)s.", value=raw),
                                      field="battery_cells")
            out["battery_cells"] = cells
    return out
