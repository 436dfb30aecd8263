"""The SKU sheet: one row per SKU, with its product's columns repeated on each of its rows.

The import creates or updates SKUs by SKU code, and their products by product code, all or
nothing. Every cell goes through the same normaliser as the SKU form
(:func:`erp.catalog.services.clean_sku_values`), so ``6109.10.00`` becomes ``61091000`` and
``China`` becomes ``CN`` whichever way the data comes in. An empty optional cell keeps an
existing SKU's (or product's) current value; a new SKU gets the form's default. The transport
columns are the exception: an empty cell there means "inherit from the category" (see
:mod:`erp.catalog.excel.transport`).

It is built for catalogs of 100,000 SKUs (``bench sku_import``): brands, categories, products
and SKUs are each read once into dicts, and the writes and their audit events are bulk
``INSERT``/``UPDATE`` statements rather than one statement per row.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import insert, select, update

from erp.brands.models import Brand, Specification, SpecificationVersion
from erp.brands.services import clean_brand_code
from erp.catalog import services
from erp.catalog.cn_customs import CN_FIELDS, unit_codes
from erp.catalog.excel.cn_columns import cn_columns, present_cn, row_errors
from erp.catalog.excel.transport import present_transport, transport_columns
from erp.catalog.models import Category, Product, Sku, SkuStatus
from erp.catalog.queries import SkuFilters, sku_list_query
from erp.core import audit, excel
from erp.core.codes import barcode_kind
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number
from erp.core.models import utcnow
from erp.extensions import db

#: the SKU fields the sheet carries (all of the form's), plus the one derived from the barcode
SKU_FIELDS = services.SKU_FIELDS
_STORED_FIELDS = (*SKU_FIELDS, "barcode_kind")
#: the transport attributes (after the product's description in the sheet): empty = inherit
_TRANSPORT = services.SKU_TRANSPORT_FIELDS
#: the Chinese customs columns (after the transport ones): empty = inherit
_CN = CN_FIELDS
#: the other SKU fields: an empty cell keeps the stored value
_PLAIN_FIELDS = tuple(key for key in SKU_FIELDS if key not in _TRANSPORT and key not in _CN)
#: the product's columns, repeated on every row of the product and identical on all of them
PRODUCT_KEYS = {"product_name": _l("name"), "brand_code": _l("brand code"),
                "category_code": _l("category code"), "description": _l("description")}
_MONEY = (("declared_value", "declared_currency"), ("list_price", "list_currency"))
#: above this many codes, existing rows are read in one pass over the table instead of one
#: ``IN (...)`` list (SQLite and psycopg cap the parameters of one statement)
_IN_LIST_LIMIT = 5000
#: rows per bulk statement, so only one chunk's parameters and audit rows are in memory
_CHUNK = 10_000


# --------------------------------------------------------------------------- cell validators


def _user_message(err: DomainError) -> ValueError:
    return ValueError(str(err).rstrip("."))


def _form_rule(key: str, *, cached: bool = False) -> Callable[[Any], Any]:
    """Return a cell validator applying the SKU form's rule for ``key``."""

    def validate(value: Any) -> Any:
        try:
            return services.clean_sku_values({key: value})[key]
        except DomainError as err:
            raise _user_message(err) from None

    # Few distinct values (countries, HS codes, currencies), many rows: check each value once.
    return lru_cache(maxsize=4096)(validate) if cached else validate


def _code(what: str) -> Callable[[Any], str]:
    def validate(value: Any) -> str:
        try:
            return services.clean_code(value, what=what)
        except DomainError as err:
            raise _user_message(err) from None

    return validate


def _text(limit: int) -> Callable[[str], str]:
    def validate(value: str) -> str:
        if len(value) > limit:
            raise ValueError(_("may have at most %(most)s characters, this has %(length)s",
                               most=format_number(limit), length=format_number(len(value))))
        return value

    return validate


SKU_SPEC = excel.Spec(
    name="skus",
    title=_l("SKUs"),
    columns=(
        excel.Column("sku_code", _l("SKU code"), required=True, unique=True, validator=_code("SKU"),
                     help=_l("The SKU's own code, 1-40 letters, digits, '.', '-', '_' or '/'; "
                             "stored upper-case. An existing code updates that SKU, a new one "
                             "creates it.")),
        excel.Column("product_code", _l("Product code"), required=True,
                     validator=lru_cache(maxsize=4096)(_code("product")),
                     help=_l("The style the SKU belongs to; a new code creates the product. The "
                             "product columns must be the same on every row of one product.")),
        excel.Column("product_name", _l("Product name"), required=True, validator=_text(200),
                     width=30, help=_l("The product's name (any language).")),
        excel.Column("brand_code", _l("Brand code"), required=True,
                     validator=lru_cache(maxsize=4096)(clean_brand_code),
                     help=_l("The code of an existing brand.")),
        excel.Column("category_code", _l("Category code"), required=True,
                     validator=lru_cache(maxsize=4096)(_code("category")),
                     help=_l("The code of an existing category.")),
        excel.Column("barcode", _l("Barcode"), unique=True, validator=_form_rule("barcode"),
                     help=_l("EAN-13 or UPC-A (check digit verified) or an internal code; unique. "
                             "Format the column as Text so Excel keeps every digit.")),
        excel.Column("colour", _l("Colour"), validator=_form_rule("colour", cached=True)),
        excel.Column("size", _l("Size"), validator=_form_rule("size", cached=True)),
        excel.Column("weight_g", _l("Weight (g)"), type="int",
                     validator=_form_rule("weight_g", cached=True),
                     help=_l("Grams, a whole number. Empty: 0 for a new SKU, unchanged "
                             "otherwise.")),
        excel.Column("length_mm", _l("Length (mm)"), type="int",
                     validator=_form_rule("length_mm", cached=True), help=_l("Millimetres.")),
        excel.Column("width_mm", _l("Width (mm)"), type="int",
                     validator=_form_rule("width_mm", cached=True), help=_l("Millimetres.")),
        excel.Column("height_mm", _l("Height (mm)"), type="int",
                     validator=_form_rule("height_mm", cached=True), help=_l("Millimetres.")),
        excel.Column("hs_code", _l("HS code"), validator=_form_rule("hs_code", cached=True),
                     help=_l("6 to 10 digits; dots and spaces are ignored (6109.10.00). Empty: "
                             "a new SKU uses its category's default; an existing one is "
                             "unchanged.")),
        excel.Column("customs_description", _l("Customs description"), width=30,
                     validator=_form_rule("customs_description", cached=True),
                     help=_l("In English, as printed on CN22/CN23. Empty: as for the HS code.")),
        excel.Column("origin_country", _l("Origin country"),
                     validator=_form_rule("origin_country", cached=True),
                     help=_l("An ISO code (CN, VN) or a country name (China).")),
        excel.Column("declared_value", _l("Declared value"), type="decimal",
                     help=_l("The customs value of one unit; needs a declared currency.")),
        excel.Column("declared_currency", _l("Declared currency"),
                     validator=_form_rule("declared_currency", cached=True),
                     help=_l("ISO 4217 code, e.g. USD.")),
        excel.Column("list_price", _l("List price"), type="decimal",
                     help=_l("The selling price; needs a list currency.")),
        excel.Column("list_currency", _l("List currency"),
                     validator=_form_rule("list_currency", cached=True),
                     help=_l("ISO 4217 code, e.g. EUR.")),
        excel.Column("reorder_point", _l("Reorder point"), type="int",
                     validator=_form_rule("reorder_point", cached=True)),
        excel.Column("reorder_qty", _l("Reorder qty"), type="int",
                     validator=_form_rule("reorder_qty", cached=True)),
        excel.Column("status", _l("Status"), choices=tuple(s.value for s in SkuStatus),
                     validator=_form_rule("status", cached=True),
                     help=_l("active or discontinued. Empty: active for a new SKU, unchanged "
                             "otherwise.")),
        excel.Column("description", _l("Description"), validator=_text(5000), width=40,
                     help=_l("The product's description. Empty: unchanged for an existing "
                             "product.")),
        *transport_columns(inherit_from=_l("the SKU's category"), cells=True),
        *cn_columns(inherit_from=_l("the SKU's category")),
    ),
)
_HEADERS = {column.key: column.header for column in SKU_SPEC.columns}


# --------------------------------------------------------------------------- export


def export_skus(filters: SkuFilters | None = None) -> bytes:
    """Return the SKUs matching the list's filters as an .xlsx workbook that imports unchanged.

    Rows stream from the database (``yield_per``) into a constant-memory writer; HS codes are
    digits as text, amounts are numbers, the order is the list's.
    """
    return excel.export_workbook(SKU_SPEC, sku_export_rows(filters or SkuFilters()))


def sku_export_rows(filters: SkuFilters) -> Iterable[Any]:
    """Yield one row per SKU, its values in :data:`SKU_SPEC` column order."""
    stmt = sku_list_query(filters).with_only_columns(
        Sku.code, Product.code, Product.name, Brand.code, Category.code,
        *(getattr(Sku, key) for key in _PLAIN_FIELDS), Product.description,
        *(getattr(Sku, key) for key in _TRANSPORT), *(getattr(Sku, key) for key in _CN),
        maintain_column_froms=False)
    yield from db.session.execute(stmt.execution_options(yield_per=2000))


# --------------------------------------------------------------------------- import


def import_skus(data: bytes, *, filename: str = "skus.xlsx", dry_run: bool, actor,
                savepoint: bool = True, spec: excel.Spec = SKU_SPEC) -> excel.ImportResult:
    """Check a SKU workbook and, unless ``dry_run``, create or update every SKU in it.

    All or nothing: on any error nothing is written. With ``savepoint`` the writes run in a
    savepoint (the web import); without, in the caller's transaction (the CLI), which must
    roll back when the result has errors. Never commits.

    :param spec: :data:`SKU_SPEC`, or a variant of it (e.g. a lower ``max_rows``).
    """
    with _collector_paused():
        job = _SkuImport(actor, filename)
        result = excel.run_import(
            data, spec, filename=filename, dry_run=dry_run, on_read=job.note_columns,
            validate_row=job.validate_row, apply=job.apply,
            transaction=db.session.begin_nested if savepoint else None)
    if result.ok and dry_run:
        result.messages.append(_("%(new)s new SKUs, %(known)s existing SKUs (unchanged ones are "
                                 "left alone).", new=format_number(job.new_skus),
                                 known=format_number(job.known_skus)))
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the length of one import.

    A large sheet keeps 100,000s of row dicts alive, and every full collection walks all of
    them: at 100,000 rows that doubled the import's time. Rows and statements hold no
    reference cycles, so nothing piles up meanwhile; the collector runs again right after
    (this is process-wide, so other threads skip cycle collection for those seconds).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _Known(NamedTuple):
    """What the checks need of an existing SKU."""

    id: int
    product_code: str
    declared_currency: str | None
    list_currency: str | None


class _KnownProduct(NamedTuple):
    id: int
    name: str
    brand_id: int
    category_id: int
    description: str | None
    spec_brand_id: int | None


class _SkuImport:
    """One SKU import: the lookups, read once, and the two callbacks of ``run_import``."""

    def __init__(self, actor, filename: str) -> None:
        self.actor = actor
        self.filename = filename
        self.brands: dict[str, int] = dict(db.session.execute(select(Brand.code, Brand.id)).all())
        self.brand_codes = {ident: code for code, ident in self.brands.items()}
        self.categories: dict[str, int] = dict(
            db.session.execute(select(Category.code, Category.id)).all())
        self.category_codes = {ident: code for code, ident in self.categories.items()}
        self.skus: dict[str, _Known] = {}
        self.barcodes: dict[str, str] = {}
        for code, ident, product_code, barcode, declared_ccy, list_ccy in db.session.execute(
                select(Sku.code, Sku.id, Product.code, Sku.barcode, Sku.declared_currency,
                       Sku.list_currency).join(Product, Sku.product_id == Product.id)):
            self.skus[code] = _Known(ident, product_code, declared_ccy, list_ccy)
            if barcode:
                self.barcodes[barcode] = code
        self.products: dict[str, _KnownProduct] = {
            row[0]: _KnownProduct(*row[1:]) for row in db.session.execute(
                select(Product.code, Product.id, Product.name, Product.brand_id,
                       Product.category_id, Product.description, Specification.brand_id)
                .outerjoin(SpecificationVersion,
                           Product.spec_version_id == SpecificationVersion.id)
                .outerjoin(Specification,
                           SpecificationVersion.specification_id == Specification.id))}
        self.first_rows: dict[str, dict[str, Any]] = {}  # product code -> its first row
        self.new_skus = self.known_skus = 0
        self.transport: tuple[str, ...] = ()  # the transport columns the file has
        self.cn: tuple[str, ...] = ()  # the Chinese customs columns the file has
        self.units = unit_codes()

    def note_columns(self, parsed: excel.ParseResult) -> None:
        """Note the transport and Chinese customs columns the file has (only those are set)."""
        self.transport = present_transport(parsed.present, _TRANSPORT)
        self.cn = present_cn(parsed.present)

    # ----------------------------------------------------------------------- checks

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Check one row against the database and the rows before it; note what apply needs."""
        number = row["_row"]
        errors = []

        def error(key: str, message: str) -> None:
            errors.append(excel.CellError(number, str(_HEADERS.get(key, "")), message))

        brand_id = self.brands.get(row["brand_code"])
        if brand_id is None:
            error("brand_code", _('no brand has the code "%(code)s"; create the brand first or '
                                  "correct the code", code=row["brand_code"]))
        category_id = self.categories.get(row["category_code"])
        if category_id is None:
            error("category_code", _('no category has the code "%(code)s"; create the category '
                                     "first or correct the code", code=row["category_code"]))
        row["_brand_id"], row["_category_id"] = brand_id, category_id

        product_code = row["product_code"]
        first = self.first_rows.setdefault(product_code, row)
        if first is not row:
            if first["description"] is None:  # an empty description keeps the product's
                first["description"] = row["description"]
            for key, label in PRODUCT_KEYS.items():
                if row[key] != first[key] and not (key == "description" and row[key] is None):
                    error(key, _("product %(product)s has the %(what)s %(first)s in row %(row)s "
                                 "but %(value)s here; a product's columns must be the same on "
                                 "all its rows", product=product_code, what=label,
                                 first=_show(first[key]), row=first["_row"],
                                 value=_show(row[key])))
        product = self.products.get(product_code)
        if (product is not None and brand_id is not None and product.spec_brand_id
                and product.spec_brand_id != brand_id):
            error("brand_code", _("product %(product)s follows a specification of brand "
                                  "%(brand)s; change its brand and specification together on "
                                  "the product page", product=product_code,
                                  brand=self.brand_codes.get(product.spec_brand_id)))

        code = row["sku_code"]
        known = self.skus.get(code)
        if known is not None:
            self.known_skus += 1
            row["_sku_id"] = known.id
            if known.product_code != product_code:
                error("product_code", _("SKU %(sku)s belongs to product %(product)s; a SKU "
                                        "cannot move to another product", sku=code,
                                        product=known.product_code))
        else:
            self.new_skus += 1
            row["_sku_id"] = None

        # The form's rules across fields (an amount needs its currency), with what stays of
        # an existing SKU where the cell is empty.
        money = {}
        for amount, currency in _MONEY:
            if row[amount] is not None:
                money[amount] = row[amount]
                money[currency] = row[currency] or (getattr(known, currency) if known else None)
        if money:
            try:
                cleaned = services.clean_sku_values(money)
            except DomainError as err:
                error(err.field or "", str(err).rstrip("."))
            else:
                for amount, _currency in _MONEY:
                    if amount in cleaned:
                        row[amount] = cleaned[amount]

        barcode = row["barcode"]
        if barcode is not None:
            owner = self.barcodes.get(barcode)
            if owner is not None and owner != code:
                error("barcode", _("barcode %(barcode)s belongs to SKU %(sku)s: a barcode "
                                   "identifies one SKU (remove it from that SKU first)",
                                   barcode=barcode, sku=owner))
        if self.cn:
            errors.extend(row_errors(row, self.cn, self.units, _HEADERS))
        return errors

    # ----------------------------------------------------------------------- writes

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Write the products, then the SKUs, each with its audit events, in bulk statements."""
        now = utcnow()
        product_ids, products_created, products_updated = self._apply_products(now)
        created = self._create_skus([r for r in rows if r["_sku_id"] is None], product_ids, now)
        updated = self._update_skus({r["_sku_id"]: r for r in rows if r["_sku_id"] is not None},
                                    now)
        skipped = len(rows) - created - updated
        counts = {"rows": len(rows), "created": created, "updated": updated,
                  "unchanged": skipped, "products_created": products_created,
                  "products_updated": products_updated}
        audit.record_many("sku", "sku.imported", [("import", self.filename,
                                                   {"filename": self.filename, **counts})],
                          actor=self.actor)
        return {"created": created, "updated": updated, "skipped": skipped, "messages": [
            _("Products: %(created)s created, %(updated)s updated.",
              created=format_number(products_created),
              updated=format_number(products_updated))]}

    def _apply_products(self, now: datetime) -> tuple[dict[str, int], int, int]:
        """Create or update every product of the file; return product ids by code and counts."""
        product_ids = {}
        inserts, updates, updated_events = [], [], []
        created_events: dict[str, dict] = {}
        for code, row in self.first_rows.items():
            values = {"name": row["product_name"], "brand_id": row["_brand_id"],
                      "category_id": row["_category_id"]}
            if row["description"] is not None:
                values["description"] = row["description"]
            known = self.products.get(code)
            if known is None:
                inserts.append({"code": code, "description": None, "spec_version_id": None,
                                "created_at": now, "updated_at": now, **values})
                created_events[code] = {"code": [None, code], "name": [None, values["name"]],
                                        "brand": [None, row["brand_code"]],
                                        "category": [None, row["category_code"]],
                                        "description": [None, values.get("description")]}
                continue
            product_ids[code] = known.id
            changes = {key: [getattr(known, key), value] for key, value in values.items()
                       if getattr(known, key) != value}
            if changes:
                # updated_at: the storefront's catalog feed reads it
                updates.append({"id": known.id, "updated_at": now,
                                **{k: v for k, (_, v) in changes.items()}})
                for key, codes in (("brand_id", self.brand_codes),
                                   ("category_id", self.category_codes)):
                    if key in changes:  # the audit log shows codes, not ids
                        changes[key.removesuffix("_id")] = [codes.get(i) for i in
                                                            changes.pop(key)]
                updated_events.append((known.id, code, changes))
        for start in range(0, len(inserts), _CHUNK):
            chunk = inserts[start:start + _CHUNK]
            ids = _insert(Product, chunk)
            product_ids.update(ids)
            audit.record_many("product", "product.created", [
                (ids[row["code"]], row["code"], created_events[row["code"]]) for row in chunk],
                actor=self.actor)
        if updates:
            db.session.execute(update(Product), updates)
            audit.record_many("product", "product.updated", updated_events, actor=self.actor)
        return product_ids, len(inserts), len(updates)

    def _create_skus(self, rows: list[dict[str, Any]], product_ids: dict[str, int],
                     now: datetime) -> int:
        defaults = {key: None for key in _STORED_FIELDS}
        defaults.update(weight_g=0, length_mm=0, width_mm=0, height_mm=0, reorder_point=0,
                        reorder_qty=0, status=SkuStatus.active, avg_cost=Decimal(0),
                        created_at=now, updated_at=now)
        # in chunks, so the statement parameters and audit rows of only one chunk are in memory
        for start in range(0, len(rows), _CHUNK):
            inserts, events = [], {}
            for row in rows[start:start + _CHUNK]:
                code = row["sku_code"]
                values = _sku_values(row, self.transport + self.cn)
                inserts.append({**defaults, **values, "code": code,
                                "product_id": product_ids[row["product_code"]]})
                # as create_sku records it: the values set, without the empty ones
                events[code] = {"code": [None, code], "product": [None, row["product_code"]],
                                **{k: [None, v] for k, v in values.items()
                                   if v is False or v not in (None, "", 0)}}
            ids = _insert(Sku, inserts)
            audit.record_many("sku", "sku.created",
                              [(ids[code], code, changes) for code, changes in events.items()],
                              actor=self.actor)
        return len(rows)

    def _update_skus(self, rows: dict[int, dict[str, Any]], now: datetime) -> int:
        """Update the SKUs whose values differ from the file's; return how many did."""
        if not rows:
            return 0
        # One query for the stored values, streamed: only the changes are kept.
        stmt = select(Sku.id, *(getattr(Sku, key) for key in _STORED_FIELDS))
        if len(rows) <= _IN_LIST_LIMIT:
            stmt = stmt.where(Sku.id.in_(list(rows)))
        updates, events = [], []
        for stored in db.session.execute(stmt.execution_options(yield_per=_CHUNK)):
            row = rows.get(stored[0])
            if row is None:
                continue
            before = dict(zip(_STORED_FIELDS, stored[1:], strict=True))
            changes = {key: [before[key], value]
                       for key, value in _sku_values(row, self.transport + self.cn).items()
                       if before[key] != value}
            if changes:
                updates.append({"id": stored[0], "updated_at": now,
                                **{key: new for key, (_, new) in changes.items()}})
                events.append((stored[0], row["sku_code"], changes))
        for start in range(0, len(updates), _CHUNK):
            # ORM bulk UPDATE by primary key: one executemany per set of changed columns
            db.session.execute(update(Sku), updates[start:start + _CHUNK])
            audit.record_many("sku", "sku.updated", events[start:start + _CHUNK],
                              actor=self.actor)
        return len(updates)


def _insert(model: type[Product] | type[Sku], rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert rows of ``model`` in one executemany; return their ids by code.

    A Core INSERT without RETURNING, then one SELECT of the ids: with RETURNING, SQLAlchemy
    sends multi-row VALUES statements of 27,000 parameters, which PostgreSQL parses and plans
    at about a tenth of the speed of a plain (pipelined) executemany.
    """
    db.session.execute(insert(model.__table__), rows)
    codes = [row["code"] for row in rows]
    return dict(db.session.execute(select(model.code, model.id).where(model.code.in_(codes)))
                .all())


def _sku_values(row: dict[str, Any], transport: tuple[str, ...]) -> dict[str, Any]:
    """Return the SKU fields a row sets, with the barcode's kind.

    Its non-empty cells, and every cell of the ``transport`` (and Chinese customs) columns
    (empty: None, inherit).
    """
    values = {key: row[key] for key in _PLAIN_FIELDS if row[key] is not None}
    for key in transport:
        values[key] = row[key]
    if "barcode" in values:
        values["barcode_kind"] = barcode_kind(values["barcode"])
    return values


def _show(value: Any) -> str:
    if value is None:
        return _("nothing")
    text = str(value)
    return f'"{text if len(text) <= 40 else text[:37] + "..."}"'
