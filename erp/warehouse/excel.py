"""The warehouse's sheets on the core Excel framework: locations, stock, moves, valuation.

Locations are imported and exported; the stock list, the move history and the stock valuation
are exported with their screens' filters. The locations import creates or updates bins by
warehouse code and bin code, all or nothing; an empty optional cell keeps an existing bin's
value (a new bin is an active storage bin at pick sequence 0 unless the sheet says otherwise).
An export imported again changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from erp.core import excel, exports
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.core.money import round_amount
from erp.core.permissions import has_permission
from erp.extensions import db
from erp.warehouse import queries, services
from erp.warehouse.labels import kind_label
from erp.warehouse.models import (
    VIRTUAL_KINDS,
    Location,
    LocationKind,
    StockLevel,
    Warehouse,
)

PHYSICAL_KINDS = tuple(k.value for k in LocationKind if k not in VIRTUAL_KINDS)


# --------------------------------------------------------------------------- locations


def in_language(columns: Sequence[excel.Column]) -> tuple[excel.Column, ...]:
    """Return ``columns`` with their headers and help as text in the reader's language.

    Column specs are declared with lazy strings; a sheet is written with plain text.
    """
    return tuple(dataclasses.replace(c, header=str(c.header), help=str(c.help or ""))
                 for c in columns)


def _warehouse_code(value: Any) -> str:
    return str(value).strip().upper()


def _bin_code(value: Any) -> str:
    try:
        return services.clean_location_code(str(value))
    except DomainError as err:
        raise ValueError(str(err).rstrip(".。")) from None


def _sequence(value: int) -> int:
    if not 0 <= value <= 1_000_000_000:
        raise ValueError(_("must be a whole number from 0 to 1,000,000,000"))
    return value


LOCATION_SPEC = excel.Spec(
    name="locations",
    title="Locations",
    columns=(
        excel.Column("warehouse_code", _l("Warehouse code"), required=True,
                     validator=_warehouse_code, width=14,
                     help=_l("The code of an existing warehouse, e.g. SZ1.")),
        excel.Column("code", _l("Bin code"), required=True, validator=_bin_code, width=18,
                     help=_l("Zone-aisle-rack-bin, e.g. A-01-02-03: letters, digits and "
                             "dashes; stored upper-case. A code the warehouse has updates that "
                             "bin, a new one creates it.")),
        excel.Column("kind", _l("Kind"), choices=PHYSICAL_KINDS, width=12,
                     help=_l("What the bin is for. Empty: storage for a new bin, unchanged for "
                             "an existing one.")),
        excel.Column("pick_sequence", _l("Pick sequence"), type="int", validator=_sequence,
                     width=14, help=_l("The walking order of pickers, a whole number. Empty: 0 "
                                       "for a new bin, unchanged for an existing one.")),
        excel.Column("active", _l("Active"), type="bool", width=8,
                     help=_l("yes or no. Empty: yes for a new bin, unchanged for an existing "
                             "one. A bin holding stock cannot be deactivated.")),
    ),
)
_HEADERS = {column.key: column.header for column in LOCATION_SPEC.columns}


def _header(key: str) -> str:
    """Return a locations column's header in the reader's language (errors name it)."""
    return str(_HEADERS.get(key, ""))


def export_locations(filters: queries.LocationFilters | None = None) -> bytes:
    """Return the bins matching the bin list's filters as an .xlsx workbook (importable again)."""
    return excel.export_workbook(in_language(LOCATION_SPEC.columns),
                                 _location_rows(filters or queries.LocationFilters()),
                                 title=LOCATION_SPEC.title)


def _location_rows(filters: queries.LocationFilters) -> Iterator[tuple]:
    stmt = queries.location_list_query(filters).execution_options(yield_per=2000)
    for loc in db.session.scalars(stmt):
        yield (loc.warehouse.code, loc.code, loc.kind.value, loc.pick_sequence, loc.active)


def import_locations(data: bytes, *, filename: str = "locations.xlsx", dry_run: bool,
                     actor) -> excel.ImportResult:
    """Check a locations workbook and, unless ``dry_run``, create or update every bin in it.

    All or nothing: the writes run in a savepoint, and any refused row leaves the database as
    it was (the caller then rolls back its unit of work instead of committing). Never commits.
    """
    job = _LocationImport(actor)
    return excel.run_import(data, LOCATION_SPEC, filename=filename, dry_run=dry_run,
                            validate_row=job.validate_row, apply=job.apply,
                            transaction=db.session.begin_nested)


class _LocationImport:
    """One locations import: the lookups, read once, and the two callbacks of ``run_import``."""

    def __init__(self, actor) -> None:
        self.actor = actor
        self.warehouses = {w.code: w for w in db.session.scalars(select(Warehouse))}
        self.bins = {(loc.warehouse_id, loc.code): loc for loc in db.session.scalars(
            select(Location).where(Location.warehouse_id.is_not(None)))}
        self.holding = set(db.session.scalars(
            select(StockLevel.location_id).where(StockLevel.on_hand > 0).distinct()))
        self.first_rows: dict[tuple[str, str], int] = {}

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Check one row against the database and the rows before it; note what apply needs."""
        number, errors = row["_row"], []
        warehouse = self.warehouses.get(row["warehouse_code"])
        if warehouse is None:
            errors.append(excel.CellError(number, _header("warehouse_code"),
                                          _('no warehouse has the code "%(code)s"; create the '
                                            "warehouse first", code=row["warehouse_code"])))
        key = (row["warehouse_code"], row["code"])
        if key in self.first_rows:
            errors.append(excel.CellError(number, _header("code"),
                                          _("%(bin)s is also in row %(row)s",
                                            bin="/".join(key),
                                            row=self.first_rows[key])))
        else:
            self.first_rows[key] = number
        if warehouse is None:
            return errors
        existing = self.bins.get((warehouse.id, row["code"]))
        if existing is not None and existing.active and row["active"] is False \
                and existing.id in self.holding:
            errors.append(excel.CellError(number, _header("active"),
                                          _("bin %(bin)s holds stock; move it out before "
                                            "deactivating the bin", bin=existing.label)))
        row["_warehouse"], row["_bin"] = warehouse, existing
        return errors

    def apply(self, rows: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Create or update every bin; a refusal names its row and column."""
        counts = {"created": 0, "updated": 0, "skipped": 0}
        for row in rows:
            try:
                counts[self._apply_row(row)] += 1
            except DomainError as err:
                raise excel.RowError(str(err), row=row["_row"],
                                     column=_header(err.field or "")) from err
        return counts

    def _apply_row(self, row: dict[str, Any]) -> str:
        location: Location | None = row["_bin"]
        if location is None:
            location = services.create_location(
                row["_warehouse"], code=row["code"], kind=row["kind"] or LocationKind.storage,
                pick_sequence=row["pick_sequence"] or 0, actor=self.actor)
            if row["active"] is False:
                services.update_location(location, kind=location.kind,
                                         pick_sequence=location.pick_sequence, active=False,
                                         actor=self.actor)
            return "created"
        wanted = (LocationKind(row["kind"]) if row["kind"] else location.kind,
                  location.pick_sequence if row["pick_sequence"] is None
                  else row["pick_sequence"],
                  location.active if row["active"] is None else row["active"])
        if wanted == (location.kind, location.pick_sequence, location.active):
            return "skipped"
        services.update_location(location, kind=wanted[0], pick_sequence=wanted[1],
                                 active=wanted[2], actor=self.actor)
        return "updated"


# --------------------------------------------------------------------------- stock exports


STOCK_COLUMNS = (
    excel.Column("warehouse_code", _l("Warehouse"), width=10),
    excel.Column("bin_code", _l("Bin"), width=16),
    excel.Column("bin_kind", _l("Bin kind"), width=12),
    excel.Column("sku_code", _l("SKU"), width=18),
    excel.Column("product_name", _l("Product"), width=30),
    excel.Column("on_hand", _l("On hand"), type="int", width=10),
    excel.Column("reserved", _l("Reserved"), type="int", width=10),
    excel.Column("available", _l("Available"), type="int", width=10),
    excel.Column("avg_cost", _l("Average cost"), type="decimal", decimals=4, width=12),
    excel.Column("value", _l("Value"), type="decimal", width=12),
)


def export_stock(filters: queries.StockFilters, *, costs: bool = True,
                 progress: Callable[[int], None] | None = None) -> bytes:
    """Return the stock list matching its filters as an .xlsx workbook.

    :param costs: include the average cost and value columns (``core.view_costs`` only).
    :param progress: called with the rows written every few thousand rows (a background
        export).
    """
    stmt = queries.stock_list_query(filters).execution_options(yield_per=2000)
    rows = ({**r._asdict(), "bin_kind": kind_label(r.bin_kind),
             "value": round_amount(r.on_hand * (r.avg_cost or Decimal(0)))}
            for r in exports.counted(db.session.execute(stmt), progress))
    columns = STOCK_COLUMNS if costs else tuple(
        c for c in STOCK_COLUMNS if c.key not in ("avg_cost", "value"))
    return excel.export_workbook(in_language(columns), rows, title=_("Stock"))


exports.register(exports.ListExport(
    "stock", _l("Stock"), "warehouse.view", queries.StockFilters,
    count=lambda f: db.session.scalar(queries.stock_list_count_query(f)) or 0,
    build=lambda f, *, user, progress: export_stock(
        f, costs=has_permission(user, "core.view_costs"), progress=progress),
    filename="stock"))


MOVE_COLUMNS = (
    excel.Column("at", _l("When (UTC)"), width=17),
    excel.Column("kind", _l("Kind"), width=14),
    excel.Column("sku", _l("SKU"), width=18),
    excel.Column("product", _l("Product"), width=28),
    excel.Column("quantity", _l("Quantity"), type="int", width=10),
    excel.Column("from", _l("From"), width=18),
    excel.Column("to", _l("To"), width=18),
    excel.Column("unit_cost", _l("Unit cost"), type="decimal", decimals=4, width=12),
    excel.Column("reference", _l("Reference"), width=20),
    excel.Column("user", _l("User"), width=14),
    excel.Column("note", _l("Note"), width=30),
)


def export_moves(filters: queries.MoveFilters, *, costs: bool = True) -> bytes:
    """Return the move history matching its filters as an .xlsx workbook, newest first.

    :param costs: include the unit cost column (``core.view_costs`` only).
    """
    stmt = queries.move_list_query(filters).execution_options(yield_per=2000)
    rows = ({"at": m.at.strftime("%Y-%m-%d %H:%M"), "kind": kind_label(m.kind),
             "sku": m.sku.code,
             "product": m.sku.product.name, "quantity": m.quantity,
             "from": m.from_location.label, "to": m.to_location.label,
             "unit_cost": m.unit_cost, "reference": move_reference(m) or None,
             "user": m.actor.username if m.actor else _("system"), "note": m.note}
            for m in db.session.scalars(stmt))
    columns = MOVE_COLUMNS if costs else tuple(c for c in MOVE_COLUMNS if c.key != "unit_cost")
    return excel.export_workbook(in_language(columns), rows, title=_("Stock moves"))


def move_reference(move) -> str:
    """Return a move's opaque reference as ``type:id`` (or "")."""
    if not move.ref_type:
        return ""
    return f"{move.ref_type}:{move.ref_id}" if move.ref_id is not None else move.ref_type


#: the valuation sheet's name by grouping (called when written, in the reader's language)
VALUATION_TITLES = {"sku": lambda: _("Valuation by SKU"),
                    "brand": lambda: _("Valuation by brand"),
                    "category": lambda: _("Valuation by category")}


def valuation_columns(group: str, currency: str) -> tuple[excel.Column, ...]:
    """Return the valuation sheet's columns for a grouping (average cost only per SKU)."""
    first = {"sku": _("SKU"), "brand": _("Brand"), "category": _("Category")}[group]
    columns = [excel.Column("key", first, width=18), excel.Column("name", _("Name"), width=32),
               excel.Column("on_hand", _("On hand"), type="int", width=10)]
    if group == "sku":
        columns.append(excel.Column("avg_cost", _("Average cost (%(currency)s)",
                                                  currency=currency),
                                    type="decimal", decimals=4, width=16))
    # the part of it shipped between warehouses and not yet received
    columns.append(excel.Column("in_transit", _("In transit"), type="int", width=10))
    columns.append(excel.Column("in_transit_value", _("In transit value (%(currency)s)",
                                                      currency=currency),
                                type="decimal", width=18))
    columns.append(excel.Column("value", _("Value (%(currency)s)", currency=currency),
                                type="decimal", width=16))
    return tuple(columns)


def export_valuation(group: str, currency: str) -> bytes:
    """Return the stock valuation grouped by sku, brand or category as an .xlsx workbook."""
    rows = ({**r._asdict(), "value": round_amount(r.value or Decimal(0)),
             "in_transit_value": round_amount(r.in_transit_value or Decimal(0))}
            for r in db.session.execute(queries.valuation_query(group)))
    return excel.export_workbook(valuation_columns(group, currency), rows,
                                 title=VALUATION_TITLES[group]())
