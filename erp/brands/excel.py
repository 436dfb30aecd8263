"""The brands sheet: one column spec for the template, the import and the export.

The import creates or updates brands by code, all or nothing; an empty optional cell keeps the
brand's current value (a new brand is private and active unless the sheet says otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from erp.brands import queries, services
from erp.brands.models import Brand, BrandKind
from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.extensions import db


def _max_length(limit: int):
    def check(value: str) -> str:
        if len(value) > limit:
            raise ValueError(_("may have at most %(most)s characters, this has %(length)s",
                               most=limit, length=len(value)))
        return value
    return check


BRAND_SPEC = excel.Spec(
    name="brands",
    title=_l("Brands"),
    columns=(
        excel.Column("code", _l("Code"), required=True, unique=True,
                     validator=services.clean_brand_code, width=14,
                     help=_l("2-20 letters, digits or dashes; stored upper-case. An existing code "
                             "updates that brand, a new one creates a brand.")),
        excel.Column("name", _l("Name"), required=True, validator=_max_length(120), width=30,
                     help=_l("The brand's name as printed on goods.")),
        excel.Column("kind", _l("Kind"), choices=tuple(k.value for k in BrandKind), width=14,
                     help=_l("private (the retailer's own brand) or third_party. Empty: private "
                             "for a new brand, unchanged for an existing one.")),
        excel.Column("owner_company", _l("Owner company"), validator=_max_length(200), width=34,
                     help=_l("The company that owns the brand. Empty: unchanged.")),
        excel.Column("active", _l("Active"), type="bool", width=10,
                     help=_l("yes or no. Empty: yes for a new brand, unchanged for an existing "
                             "one.")),
    ),
)
_HEADERS = {column.key: column.header for column in BRAND_SPEC.columns}


def export_brands(q: str | None = None, kind: str | None = None,
                  active: bool | None = None) -> bytes:
    """Return the brands matching the list filters as an .xlsx workbook (importable again)."""
    stmt = queries.brand_list_query(q, kind, active).execution_options(yield_per=1000)
    return excel.export_workbook(BRAND_SPEC, db.session.scalars(stmt))


def import_brands(data: bytes, *, filename: str, dry_run: bool, actor) -> excel.ImportResult:
    """Check a brands workbook and, unless ``dry_run``, create or update every brand in it.

    All or nothing: any refused row leaves the database as it was (a savepoint is rolled back,
    and the caller rolls back its unit of work instead of committing).
    """
    return excel.run_import(
        data, BRAND_SPEC, filename=filename, dry_run=dry_run,
        apply=lambda rows: _apply(rows, actor),
        transaction=db.session.begin_nested)


def _apply(rows: Iterable[dict[str, Any]], actor) -> dict[str, int]:
    rows = list(rows)
    existing = {b.code: b for b in db.session.scalars(
        select(Brand).where(Brand.code.in_([row["code"] for row in rows])))}
    counts = {"created": 0, "updated": 0, "skipped": 0}
    for row in rows:
        try:
            counts[_apply_row(row, existing.get(row["code"]), actor)] += 1
        except DomainError as err:
            raise excel.RowError(str(err), row=row["_row"],
                                 column=str(_HEADERS.get(err.field or "", ""))) from err
    return counts


def _apply_row(row: dict[str, Any], brand: Brand | None, actor) -> str:
    """Create or update one brand; return which count it adds to."""
    if brand is None:
        services.create_brand(
            code=row["code"], name=row["name"], kind=row["kind"] or BrandKind.private,
            owner_company=row["owner_company"],
            active=True if row["active"] is None else row["active"], actor=actor)
        return "created"
    before = (brand.code, brand.name, brand.kind, brand.owner_company, brand.active)
    services.update_brand(
        brand, code=row["code"], name=row["name"], kind=row["kind"] or brand.kind,
        owner_company=brand.owner_company if row["owner_company"] is None
        else row["owner_company"], actor=actor)
    if row["active"] is not None:
        services.set_brand_active(brand, row["active"], actor=actor)
    after = (brand.code, brand.name, brand.kind, brand.owner_company, brand.active)
    return "skipped" if after == before else "updated"
