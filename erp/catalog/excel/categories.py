"""The category sheet: one row per category with its parent's code and its customs defaults.

The import creates or updates categories by code through the catalog services (so paths, full
names and audit events follow the same rules as the screens), all or nothing. A parent may come
later in the file than its children: rows are applied parents first. A file that would put a
category under its own subtree is refused.

An empty customs cell keeps an existing category's value; an empty parent code puts the category
at the root (leave the whole column out to keep every category where it is). An empty transport
cell (battery, liquid, ...) makes the category inherit that attribute from its parent again
(leave the column out to keep every category's value); so does an empty Chinese customs cell
(cn_hs_code, cn_name, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from erp.catalog import services
from erp.catalog.cn_customs import CN_FIELDS, unit_codes
from erp.catalog.excel.cn_columns import cn_columns, present_cn, row_errors
from erp.catalog.excel.transport import present_transport, transport_columns
from erp.catalog.models import Category
from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.extensions import db

_CUSTOMS = services.CUSTOMS_FIELDS
_TRANSPORT = services.CATEGORY_TRANSPORT_FIELDS


def _code(value: Any) -> str:
    try:
        return services.clean_code(value, what="category")
    except DomainError as err:
        raise ValueError(str(err).rstrip(".")) from None


def _name(value: str) -> str:
    if len(value) > 120:
        raise ValueError(_("may have at most %(most)s characters, this has %(length)s",
                           most=120, length=len(value)))
    return value


def _customs_rule(key: str) -> Callable[[Any], Any]:
    """Return a cell validator applying the category form's rule for one customs field."""

    def validate(value: Any) -> Any:
        try:
            return services._clean_customs({key: value})[key]
        except DomainError as err:
            raise ValueError(str(err).rstrip(".")) from None

    return validate


CATEGORY_SPEC = excel.Spec(
    name="categories",
    title=_l("Categories"),
    max_rows=20_000,
    columns=(
        excel.Column("code", _l("Code"), required=True, unique=True, validator=_code,
                     help=_l("1-40 letters, digits, '.', '-', '_' or '/'; stored upper-case. An "
                             "existing code updates that category, a new one creates it.")),
        excel.Column("name", _l("Name"), required=True, validator=_name, width=30),
        excel.Column("parent_code", _l("Parent code"), validator=_code,
                     help=_l("The code of the parent category, in the database or anywhere in "
                             "this file. Empty: at the root of the tree.")),
        excel.Column("hs_code", _l("HS code"), validator=_customs_rule("hs_code"),
                     help=_l("Default for the SKUs below: 6 to 10 digits (6109.10.00 is fine). "
                             "Empty: unchanged for an existing category.")),
        excel.Column("customs_description", _l("Customs description"), width=30,
                     validator=_customs_rule("customs_description"),
                     help=_l("Default English customs description. Empty: unchanged.")),
        excel.Column("origin_country", _l("Origin country"),
                     validator=_customs_rule("origin_country"),
                     help=_l("Default country of origin: an ISO code or a name. Empty: "
                             "unchanged.")),
        *transport_columns(inherit_from=_l("the parent category"), cells=False),
        *cn_columns(inherit_from=_l("the parent category")),
    ),
)
_HEADERS = {column.key: column.header for column in CATEGORY_SPEC.columns}


def export_categories() -> bytes:
    """Return the whole category tree as an .xlsx workbook, parents before children."""
    parent = aliased(Category)
    stmt = (select(Category.code, Category.name, parent.code, Category.hs_code,
                   Category.customs_description, Category.origin_country,
                   *(getattr(Category, key) for key in _TRANSPORT),
                   *(getattr(Category, key) for key in CN_FIELDS))
            .outerjoin(parent, Category.parent_id == parent.id)
            .order_by(Category.full_name, Category.code))
    return excel.export_workbook(CATEGORY_SPEC, db.session.execute(stmt))


def import_categories(data: bytes, *, filename: str = "categories.xlsx", dry_run: bool, actor,
                      savepoint: bool = True,
                      spec: excel.Spec = CATEGORY_SPEC) -> excel.ImportResult:
    """Check a category workbook and, unless ``dry_run``, create, update and move its categories.

    All or nothing; never commits (see :func:`erp.catalog.excel.import_skus` for ``savepoint``).
    The file is read twice: once to see the whole tree it describes (a parent may come after
    its children), then by the import itself. Category sheets are small.
    """
    plan = _TreePlan(excel.read_workbook(data, spec, filename=filename), actor)
    return excel.run_import(
        data, spec, filename=filename, dry_run=dry_run, validate_row=plan.validate_row,
        apply=plan.apply, transaction=db.session.begin_nested if savepoint else None)


class _TreePlan:
    """The tree a category file describes: its errors per row, and the order to apply it in."""

    def __init__(self, parsed: excel.ParseResult, actor) -> None:
        self.actor = actor
        self.move = "parent_code" in parsed.present
        self.transport = present_transport(parsed.present, _TRANSPORT)
        self.cn = present_cn(parsed.present)
        self.units = unit_codes()
        parent = aliased(Category)
        self.known: dict[str, str | None] = dict(db.session.execute(  # code -> parent's code
            select(Category.code, parent.code)
            .outerjoin(parent, Category.parent_id == parent.id)).tuples().all())
        rows: dict[str, dict[str, Any]] = {}
        for row in parsed.rows:
            rows.setdefault(row["code"], row)  # a repeated code is find_duplicates' error
        # the parent of every category once the file is applied
        self.parents = dict(self.known)
        if self.move:
            self.parents.update({code: row["parent_code"] for code, row in rows.items()})
        self.errors: dict[int, list[excel.CellError]] = {}
        self.depth: dict[str, int] = {}
        for code, row in rows.items():
            message = self._check_parent(code, row)
            if message:
                self.errors.setdefault(row["_row"], []).append(
                    excel.CellError(row["_row"], str(_HEADERS["parent_code"]), message))

    def _check_parent(self, code: str, row: dict[str, Any]) -> str | None:
        """Return why the row's place in the tree is impossible, or None; note its depth."""
        parent = row["parent_code"] if self.move else self.known.get(code)
        if parent is None:
            self.depth[code] = 0
            return None
        if parent == code:
            return _("a category cannot be its own parent")
        if parent not in self.parents:
            return _('no category has the code "%(code)s", in the database or in this file; add '
                     "its row or correct the code", code=parent)
        chain = [code]
        current: str | None = parent
        while current is not None:
            if current == code:
                loop = " → ".join([*chain, code])
                return _("this would put %(code)s under its own subtree (%(loop)s); a category "
                         "cannot be below itself", code=code, loop=loop)
            if current in chain or current not in self.parents:
                break  # a loop elsewhere (reported on its own rows) or an unknown parent
            chain.append(current)
            current = self.parents[current]
        self.depth[code] = len(chain) - 1
        return None

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Return the tree errors of this row, and those across its Chinese customs cells."""
        return [*self.errors.get(row["_row"], []),
                *(row_errors(row, self.cn, self.units, _HEADERS) if self.cn else ())]

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Create, update and move the categories, parents first, through the services."""
        objects = {c.code: c for c in db.session.scalars(select(Category))}
        counts = {"created": 0, "updated": 0, "skipped": 0}
        for row in sorted(rows, key=lambda r: (self.depth.get(r["code"], 0), r["_row"])):
            try:
                counts[self._apply_row(row, objects)] += 1
            except DomainError as err:
                raise excel.RowError(str(err), row=row["_row"],
                                     column=str(_HEADERS.get(err.field or "", ""))) from err
        return counts

    def _apply_row(self, row: dict[str, Any], objects: dict[str, Category]) -> str:
        code = row["code"]
        customs = {key: row[key] for key in _CUSTOMS if row[key] is not None}
        customs.update({key: row[key] for key in self.transport})  # empty: inherit
        customs.update({key: row[key] for key in self.cn})  # empty: inherit
        parent = objects[row["parent_code"]] if self.move and row["parent_code"] else None
        category = objects.get(code)
        if category is None:
            objects[code] = services.create_category(code=code, name=row["name"], parent=parent,
                                                     actor=self.actor, **customs)
            return "created"
        before = _state(category)
        services.update_category(category, name=row["name"], actor=self.actor, **customs)
        if self.move:
            services.move_category(category, parent, actor=self.actor)
        return "skipped" if _state(category) == before else "updated"


def _state(category: Category) -> tuple:
    return (category.name, category.parent_id,
            *(getattr(category, key) for key in (*_CUSTOMS, *_TRANSPORT, *CN_FIELDS)))
