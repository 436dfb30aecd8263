"""The warehouse-routes sheet: one column spec for the template, the import and the export.

The sheet is the whole table, in priority order (the first matching row wins). The import is
all or nothing: routes of the sheet are created or updated by country and area, routes not in
it are deleted.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, ngettext
from erp.extensions import db
from erp.warehouse.services import routes


def _country(value: str) -> str:
    return routes.clean_route_country(value)


def _note(value: str) -> str:
    if len(value) > 200:
        raise ValueError(_("may have at most %(most)s characters, this has %(length)s",
                           most=200, length=len(value)))
    return value


ROUTE_SPEC = excel.Spec(
    name="warehouse_routes",
    title=_l("Warehouse routes"),
    columns=(
        excel.Column("country", _l("Country"), required=True, validator=_country, width=10,
                     help=_l("ISO country code of the destination (US, DE) or * for any "
                             "country.")),
        excel.Column("area", _l("Area"), validator=routes.clean_route_area, width=14,
                     help=_l("A region (CA) or postcode prefix (90) of the destination; empty "
                             "or * for the whole country.")),
        excel.Column("warehouses", _l("Warehouses"), required=True, width=30,
                     help=_l("Warehouse codes, first choice first, separated by spaces "
                             "(US-LAX CN-SZ).")),
        excel.Column("note", _l("Note"), validator=_note, width=30,
                     help=_l("Why the route exists (optional).")),
    ),
)
_HEADERS = {column.key: column.header for column in ROUTE_SPEC.columns}


def _rows() -> Iterable[dict[str, Any]]:
    for route in routes.list_routes():
        yield {"country": route.country, "area": route.area,
               "warehouses": " ".join(w.code for w in route.warehouses),
               "note": route.note or ""}


def export_routes() -> bytes:
    """Return the route table as an .xlsx workbook, in priority order (importable again)."""
    return excel.export_workbook(ROUTE_SPEC, _rows())


def import_routes(data: bytes, *, filename: str, dry_run: bool, actor) -> excel.ImportResult:
    """Check a routes workbook and, unless ``dry_run``, make the route table what it says.

    All or nothing: any refused row leaves the database as it was.
    """
    return excel.run_import(data, ROUTE_SPEC, filename=filename, dry_run=dry_run,
                            validate_row=_check_row, validate_rows=_check_rows,
                            apply=lambda rows: _apply(rows, actor),
                            transaction=db.session.begin_nested)


def _check_row(row: dict[str, Any]) -> list[excel.CellError]:
    try:
        routes.clean_route_warehouses(row["warehouses"])
    except ValueError as err:
        return [excel.CellError(row["_row"], str(_HEADERS["warehouses"]), str(err))]
    return []


def _check_rows(rows: list[dict[str, Any]]) -> list[excel.CellError]:
    errors, seen = [], {}
    for row in rows:
        key = (row["country"], row["area"] or "*")
        if key in seen:
            errors.append(excel.CellError(row["_row"], str(_HEADERS["area"]), _(
                "the same country and area as row %(row)s", row=seen[key])))
        else:
            seen[key] = row["_row"]
    return errors


def _apply(rows: list[dict[str, Any]], actor) -> dict[str, int]:
    try:
        counts = routes.replace_routes(rows, actor=actor)
    except DomainError as err:
        raise excel.RowError(str(err), row=rows[0]["_row"] if rows else 0,
                             column=str(_HEADERS.get(err.field or "", ""))) from err
    messages = [ngettext("%(num)d route not in the sheet was deleted.",
                         "%(num)d routes not in the sheet were deleted.", counts["deleted"])
                ] if counts["deleted"] else []
    return {"created": counts["created"], "updated": counts["updated"],
            "skipped": len(rows) - counts["created"] - counts["updated"], "messages": messages}
