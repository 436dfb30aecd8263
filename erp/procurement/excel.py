"""Supplier sheets on the core Excel framework: price lists, suppliers, supplier performance.

Price lists are imported and exported; the supplier list and supplier performance are exported.
The price-list import creates or updates supplier items by (supplier code, SKU code), all or
nothing, through :func:`erp.procurement.services.set_supplier_item`, so it keeps the same rules
as the screens. An empty optional cell keeps an existing item's value; a new item gets the
supplier's currency, an MOQ and pack multiple of 1, the supplier's lead time and is not
preferred. An exported price list imported again changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.catalog.services import clean_code
from erp.core import excel
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number
from erp.core.money import validate_currency
from erp.extensions import db
from erp.procurement import services, supplier_queries
from erp.procurement.models import Supplier, SupplierItem
from erp.procurement.services.suppliers import MAX_LEAD_TIME_DAYS, MAX_QUANTITY

#: rows per ``IN (...)`` list (SQLite and psycopg cap the parameters of one statement)
_CHUNK = 5000


# --------------------------------------------------------------------------- cell validators


def _service_rule(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Return a cell validator applying a service rule (its message without the full stop)."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except DomainError as err:
            raise ValueError(str(err).rstrip(".")) from None

    return validate


def _between(minimum: int, maximum: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not minimum <= value <= maximum:
            raise ValueError(_("must be a whole number from %(least)s to %(most)s, got "
                               "%(value)s", least=format_number(minimum),
                               most=format_number(maximum), value=value))
        return value

    return check


def _price(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError(_("must be zero or more, got %(value)s", value=value))
    return _service_rule(services.clean_unit_price)(value)


def _supplier_item_code(value: str) -> str:
    if len(value) > 60:
        raise ValueError(_("may have at most 60 characters, this has %(length)s",
                           length=len(value)))
    return value


SUPPLIER_PRICE_SPEC = excel.Spec(
    name="supplier-prices",
    title=_l("Supplier prices"),
    columns=(
        excel.Column("supplier_code", _l("Supplier code"), required=True, width=14,
                     validator=services.clean_supplier_code,
                     help=_l("The code of an existing supplier, e.g. SZTEX.")),
        excel.Column("sku_code", _l("SKU code"), required=True, width=18,
                     validator=_service_rule(lambda value: clean_code(value, what="SKU")),
                     help=_l("The code of an existing SKU. One row per supplier and SKU: a pair "
                             "the price list has updates that item, a new pair adds it.")),
        excel.Column("supplier_item_code", _l("Supplier item code"), width=18,
                     validator=_supplier_item_code,
                     help=_l("The supplier's own code for the SKU (printed on purchase orders). "
                             "Empty: none for a new item, unchanged otherwise.")),
        excel.Column("unit_price", _l("Unit price"), type="decimal", decimals=4, required=True,
                     validator=_price,
                     help=_l("The price of one unit in the row's currency; zero or more, at most "
                             "4 decimal places.")),
        excel.Column("currency", _l("Currency"), width=10, validator=validate_currency,
                     help=_l("ISO 4217 code, e.g. CNY or USD. Empty: the supplier's currency for "
                             "a new item, unchanged otherwise.")),
        excel.Column("moq", _l("MOQ"), type="int", width=10, validator=_between(1, MAX_QUANTITY),
                     help=_l("The minimum order quantity, 1 or more. Empty: 1 for a new item, "
                             "unchanged otherwise.")),
        excel.Column("pack_multiple", _l("Pack multiple"), type="int", width=12,
                     validator=_between(1, MAX_QUANTITY),
                     help=_l("Order quantities must be a multiple of this, 1 or more. Empty: 1 "
                             "for a new item, unchanged otherwise.")),
        excel.Column("lead_time_days", _l("Lead time (days)"), type="int", width=14,
                     validator=_between(0, MAX_LEAD_TIME_DAYS),
                     help=_l("Days from ordering to delivery for this SKU. Empty: the supplier's "
                             "lead time for a new item, unchanged otherwise.")),
        excel.Column("preferred", _l("Preferred"), type="bool", width=10,
                     help=_l("yes: buy this SKU from this supplier (the SKU's other suppliers stop "
                             "being preferred). Empty: no for a new item, unchanged otherwise.")),
    ),
)
_HEADERS = {column.key: column.header for column in SUPPLIER_PRICE_SPEC.columns}
#: the service's field names -> this sheet's column keys (for errors raised while applying)
_FIELD_COLUMNS = {"unit_price": "unit_price", "currency": "currency",
                  "supplier_code": "supplier_item_code", "moq": "moq",
                  "pack_multiple": "pack_multiple", "lead_time_days": "lead_time_days",
                  "preferred": "preferred"}


# --------------------------------------------------------------------------- exports


def export_supplier_prices(filters: supplier_queries.PriceListFilters | None = None) -> bytes:
    """Return the price list (with the filters) as an .xlsx workbook that imports unchanged."""
    stmt = supplier_queries.price_list_query(filters).execution_options(yield_per=2000)
    return excel.export_workbook(SUPPLIER_PRICE_SPEC, db.session.execute(stmt))


SUPPLIER_COLUMNS = (
    excel.Column("code", _l("Code"), width=14),
    excel.Column("name", _l("Name"), width=30),
    excel.Column("contact_name", _l("Contact"), width=20),
    excel.Column("email", _l("Email"), width=28),
    excel.Column("phone", _l("Phone"), width=18),
    excel.Column("address", _l("Address"), width=36),
    excel.Column("country", _l("Country"), width=8),
    excel.Column("currency", _l("Currency"), width=9),
    excel.Column("payment_terms", _l("Payment terms"), width=24),
    excel.Column("lead_time_days", _l("Lead time (days)"), type="int", width=14),
    excel.Column("language", _l("Order language"), width=12),
    excel.Column("active", _l("Active"), type="bool", width=8),
)


def export_suppliers(filters: supplier_queries.SupplierFilters | None = None) -> bytes:
    """Return the suppliers matching the list's filters as an .xlsx workbook."""
    stmt = supplier_queries.supplier_list_query(filters).execution_options(yield_per=1000)
    return excel.export_workbook(SUPPLIER_COLUMNS, db.session.scalars(stmt), title=_l("Suppliers"))


PERFORMANCE_COLUMNS = (
    excel.Column("code", _l("Supplier code"), width=14),
    excel.Column("name", _l("Supplier"), width=30),
    excel.Column("receipts", _l("Receipts"), type="int", width=10),
    excel.Column("timed_receipts", _l("Receipts with an expected date"), type="int", width=14),
    excel.Column("on_time_receipts", _l("On time"), type="int", width=10),
    excel.Column("on_time_rate", _l("On-time rate"), type="decimal", decimals=4, width=12),
    excel.Column("avg_lead_time_days", _l("Lead time seen (days)"), type="decimal", decimals=1,
                 width=14),
    excel.Column("completed_orders", _l("Completed orders"), type="int", width=12),
    excel.Column("ordered_qty", _l("Quantity ordered"), type="int", width=12),
    excel.Column("received_qty", _l("Quantity received"), type="int", width=12),
    excel.Column("fill_rate", _l("Fill rate"), type="decimal", decimals=4, width=10),
)


def export_supplier_performance(rows: Iterable[supplier_queries.SupplierPerformance]) -> bytes:
    """Return supplier performance rows as an .xlsx workbook (rates as fractions, 0 to 1)."""
    return excel.export_workbook(PERFORMANCE_COLUMNS, rows, title=_l("Supplier performance"))


# --------------------------------------------------------------------------- import


def import_supplier_prices(data: bytes, *, filename: str = "supplier-prices.xlsx",
                           dry_run: bool, actor, savepoint: bool = True) -> excel.ImportResult:
    """Check a price-list workbook and, unless ``dry_run``, create or update every item in it.

    All or nothing: on any error nothing is written. With ``savepoint`` the writes run in a
    savepoint (the web import); without, in the caller's transaction (the CLI), which must
    roll back when the result has errors. Never commits.
    """
    job = _PriceImport(actor)
    result = excel.run_import(
        data, SUPPLIER_PRICE_SPEC, filename=filename, dry_run=dry_run,
        validate_row=job.validate_row, apply=job.apply,
        transaction=db.session.begin_nested if savepoint else None)
    if result.ok and dry_run:
        result.messages.append(_("%(new)s new supplier items, %(known)s existing ones "
                                 "(unchanged ones are left alone).",
                                 new=format_number(job.new_items),
                                 known=format_number(job.known_items)))
    return result


class _PriceImport:
    """One price-list import: the lookups, read once, and the two callbacks of ``run_import``."""

    def __init__(self, actor) -> None:
        self.actor = actor
        self.suppliers: dict[str, tuple[int, bool]] = {
            code: (ident, active) for code, ident, active in db.session.execute(
                select(Supplier.code, Supplier.id, Supplier.active))}
        self.skus: dict[str, int] | None = None
        self.items: dict[tuple[int, int], bool] = {}  # (supplier id, sku id) -> preferred
        self.pairs: dict[tuple[int, int], int] = {}  # first row of each pair in the file
        self.preferred_rows: dict[int, tuple[str, int]] = {}  # sku id -> (supplier, row)
        self.new_items = self.known_items = 0

    def _load_skus(self) -> dict[str, int]:
        if self.skus is None:
            self.skus = dict(db.session.execute(select(Sku.code, Sku.id)).all())
            self.items = {(supplier_id, sku_id): preferred
                          for supplier_id, sku_id, preferred in db.session.execute(
                              select(SupplierItem.supplier_id, SupplierItem.sku_id,
                                     SupplierItem.preferred))}
        return self.skus

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Check one row against the database and the rows before it; note what apply needs."""
        number = row["_row"]
        errors = []

        def error(key: str, message: str) -> None:
            errors.append(excel.CellError(number, str(_HEADERS[key]), message))

        supplier = self.suppliers.get(row["supplier_code"])
        if supplier is None:
            error("supplier_code", _('no supplier has the code "%(code)s"; create the supplier '
                                     "first or correct the code", code=row["supplier_code"]))
        sku_id = self._load_skus().get(row["sku_code"])
        if sku_id is None:
            error("sku_code", _('no SKU has the code "%(code)s"; create the SKU first or correct '
                                "the code", code=row["sku_code"]))
        if supplier is None or sku_id is None:
            return errors
        supplier_id, active = supplier
        row["_supplier_id"], row["_sku_id"] = supplier_id, sku_id
        first = self.pairs.setdefault((supplier_id, sku_id), number)
        if first != number:
            error("sku_code", _("SKU %(sku)s of supplier %(supplier)s is also in row %(row)s; "
                                "give each supplier's SKU one row", sku=row["sku_code"],
                                supplier=row["supplier_code"], row=first))
            return errors
        known = (supplier_id, sku_id) in self.items
        if known:
            self.known_items += 1
        else:
            self.new_items += 1
        if row["preferred"]:
            if not active and not self.items.get((supplier_id, sku_id)):
                error("preferred", _("supplier %(supplier)s is inactive; reactivate it before "
                                     "making it the preferred supplier of a SKU",
                                     supplier=row["supplier_code"]))
            other = self.preferred_rows.setdefault(sku_id, (row["supplier_code"], number))
            if other[1] != number:
                error("preferred", _("SKU %(sku)s is already marked preferred for supplier "
                                     "%(supplier)s in row %(row)s; a SKU has one preferred "
                                     "supplier", sku=row["sku_code"], supplier=other[0],
                                     row=other[1]))
        return errors

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """Create or update the supplier item of every row (rows are already checked)."""
        suppliers = {s.id: s for s in db.session.scalars(select(Supplier).where(
            Supplier.id.in_({row["_supplier_id"] for row in rows})))}
        sku_ids = sorted({row["_sku_id"] for row in rows})
        skus: dict[int, Sku] = {}
        items: dict[tuple[int, int], SupplierItem] = {}
        for start in range(0, len(sku_ids), _CHUNK):
            chunk = sku_ids[start:start + _CHUNK]
            skus.update((s.id, s) for s in db.session.scalars(select(Sku).where(
                Sku.id.in_(chunk))))
            items.update(((i.supplier_id, i.sku_id), i) for i in db.session.scalars(
                select(SupplierItem).where(SupplierItem.sku_id.in_(chunk))))
        counts = {"created": 0, "updated": 0, "skipped": 0}
        for row in rows:
            try:
                counts[self._apply_row(row, suppliers[row["_supplier_id"]],
                                       skus[row["_sku_id"]],
                                       items.get((row["_supplier_id"], row["_sku_id"])))] += 1
            except DomainError as err:
                column = str(_HEADERS.get(_FIELD_COLUMNS.get(err.field or "", ""), ""))
                raise excel.RowError(str(err), row=row["_row"], column=column) from err
        return counts

    def _apply_row(self, row: dict[str, Any], supplier: Supplier, sku: Sku,
                   item: SupplierItem | None) -> str:
        """Create or update one supplier item; return which count it adds to."""

        def value(key: str, attr: str, default: Any) -> Any:
            if row[key] is not None:
                return row[key]
            return getattr(item, attr) if item is not None else default

        before = _item_values(item)
        saved = services.set_supplier_item(
            supplier, sku, unit_price=row["unit_price"], actor=self.actor,
            currency=value("currency", "currency", supplier.currency),
            supplier_code=value("supplier_item_code", "supplier_code", None),
            moq=value("moq", "moq", 1), pack_multiple=value("pack_multiple", "pack_multiple", 1),
            lead_time_days=value("lead_time_days", "lead_time_days", None),
            # read now, not when the file was checked: an earlier row may have un-marked it
            preferred=value("preferred", "preferred", False))
        if item is None:
            return "created"
        return "skipped" if _item_values(saved) == before else "updated"


def _item_values(item: SupplierItem | None) -> tuple | None:
    if item is None:
        return None
    return (item.supplier_code, item.unit_price, item.currency, item.moq, item.pack_multiple,
            item.lead_time_days, item.preferred)
