"""The order sheet: one row per order LINE, the order's columns repeated on each of its rows.

Rows are grouped by order number; the order columns must agree on every row of one order. Each
order goes through the API's checks (:func:`erp.orders.services.validate_order_payload`), so a
sheet and the storefront are held to the same rules. An order number already in the database
is reported and skipped, never duplicated. All or nothing; the writes are bulk ``INSERT``s
(built for 50,000-line files, ``bench order_import``).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import insert, select

from erp.catalog.models import Sku, SkuStatus
from erp.core import audit, excel
from erp.core.models import utcnow
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services.intake import validate_order_payload

_CHUNK = 5_000

#: the order's columns (sheet key -> payload key), identical on every row of one order
ORDER_COLUMNS = {
    "order_number": "number", "placed_at": "placed_at", "customer_name": "customer_name",
    "email": "email", "phone": "phone", "ship_name": "name", "address1": "address1",
    "address2": "address2", "city": "city", "region": "region", "postal_code": "postal_code",
    "country": "country", "currency": "currency", "shipping_charge": "shipping_charge",
    "shipping_service": "shipping_service", "ioss_number": "ioss_number",
    "buyer_tax_id": "buyer_tax_id", "notes": "notes",
}
_ADDRESS = {"ship_name", "address1", "address2", "city", "region", "postal_code", "country"}

ORDER_SPEC = excel.Spec(
    name="orders",
    title="Orders",
    columns=(
        excel.Column("order_number", "Order number", required=True,
                     help="The storefront's order number; the rows of one order share it. An "
                          "order already in the ERP is skipped."),
        excel.Column("placed_at", "Placed at", type="auto", required=True,
                     help="Date and time the order was placed (ISO 8601 or an Excel date); "
                          "taken as UTC without an offset."),
        excel.Column("customer_name", "Customer name", required=True, width=24),
        excel.Column("email", "Email", width=24),
        excel.Column("phone", "Phone"),
        excel.Column("ship_name", "Ship name", required=True, width=24,
                     help="The name on the parcel."),
        excel.Column("address1", "Address1", required=True, width=30),
        excel.Column("address2", "Address2", width=30),
        excel.Column("city", "City", required=True),
        excel.Column("region", "Region", help="State or province."),
        excel.Column("postal_code", "Postal code",
                     help="Required except for countries without postal codes (HK, AE, QA, "
                          "IE, ...). Format the column as Text to keep leading zeros."),
        excel.Column("country", "Country", required=True,
                     help="ISO 3166-1 code (DE, US) or a country name."),
        excel.Column("currency", "Currency", required=True, help="ISO 4217 code, e.g. EUR."),
        excel.Column("shipping_charge", "Shipping charge", type="decimal"),
        excel.Column("shipping_service", "Shipping service"),
        excel.Column("ioss_number", "IOSS", help="IM followed by 10 digits."),
        excel.Column("buyer_tax_id", "Buyer tax id"),
        excel.Column("notes", "Notes", width=30),
        excel.Column("sku", "SKU", required=True, help="An active SKU's code or barcode."),
        excel.Column("quantity", "Quantity", type="int", required=True),
        excel.Column("unit_price", "Unit price", type="decimal", required=True),
    ),
)
_HEADERS = {column.key: column.header for column in ORDER_SPEC.columns}
#: payload error paths -> sheet columns
_PATHS = {("shipping_address." + v if k in _ADDRESS else v): k for k, v in ORDER_COLUMNS.items()}
_PATHS.update({"shipping_address": "ship_name", "lines": "sku"})
_LINE_FIELDS = {"sku": "sku", "quantity": "quantity", "unit_price": "unit_price"}


def import_orders(data: bytes, *, filename: str = "orders.xlsx", dry_run: bool, actor,
                  savepoint: bool = True) -> excel.ImportResult:
    """Check an order sheet and, unless ``dry_run``, create every order in it not yet present.

    All or nothing: on any error nothing is written. With ``savepoint`` the writes run in a
    savepoint (the web import); without, in the caller's transaction (the CLI), which must
    roll back when the result has errors. Never commits.
    """
    job = _OrderImport(actor, filename)
    result = excel.run_import(
        data, ORDER_SPEC, filename=filename, dry_run=dry_run, validate_row=job.validate_row,
        apply=job.apply, transaction=db.session.begin_nested if savepoint else None)
    if result.ok:
        result.messages.extend(job.skip_messages())
        if dry_run:
            result.messages.append(f"{len(job.new_orders):,} new orders, "
                                   f"{sum(len(o['lines']) for o in job.new_orders.values()):,} "
                                   "lines.")
    return result


def _placed_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return datetime.combine(value, time()).isoformat()
    return value if isinstance(value, str) else str(value)


def _payload_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "placed_at":
        return _placed_text(value)
    if key in ("shipping_charge",):
        return value
    return value if isinstance(value, str) else str(value)


class _OrderImport:
    """One order import: lookups read once, and the two callbacks of ``run_import``."""

    def __init__(self, actor, filename: str) -> None:
        self.actor = actor
        self.filename = filename
        self.skus: dict[str, int] = {}
        self.sku_codes: dict[int, str] = {}
        for ident, code, barcode in db.session.execute(
                select(Sku.id, Sku.code, Sku.barcode).where(Sku.status == SkuStatus.active)):
            self.skus[code] = ident
            self.sku_codes[ident] = code
            if barcode:
                self.skus[barcode] = ident
        self.existing: set[str] = set(db.session.scalars(select(CustomerOrder.number)))
        self.skipped: dict[str, int] = {}  # existing number -> first row
        self.first_rows: dict[str, dict[str, Any]] = {}
        self.new_orders: dict[str, dict[str, Any]] = {}  # number -> cleaned order

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Check one line row: its order (once), agreement with the order's first row, SKU."""
        number_row = row["_row"]
        errors: list[excel.CellError] = []

        def error(key: str, message: str) -> None:
            errors.append(excel.CellError(number_row, _HEADERS.get(key, ""), message))

        number = str(row["order_number"]).strip()
        if number in self.existing:
            self.skipped.setdefault(number, number_row)
            return errors
        first = self.first_rows.setdefault(number, row)
        line = {"sku": row["sku"], "quantity": row["quantity"], "unit_price": row["unit_price"]}
        if first is row:
            payload = {"shipping_address": {}, "lines": [line]}
            for key, target in ORDER_COLUMNS.items():
                value = _payload_value(key, row[key])
                if key in _ADDRESS:
                    payload["shipping_address"][target] = value
                else:
                    payload[target] = value
            cleaned, problems = validate_order_payload(payload)
            for path, message in problems.items():
                if path.startswith("lines[0]."):
                    key = _LINE_FIELDS.get(path.removeprefix("lines[0]."), "sku")
                else:
                    key = _PATHS.get(path, "")
                error(key, message)
            if problems:
                row["_bad"] = True
            else:
                cleaned["lines"] = []
                self.new_orders[number] = cleaned
        else:
            for key in ORDER_COLUMNS:
                if row[key] != first[key]:
                    error(key, f"order {number} has {_show(first[key])} in row {first['_row']} "
                               f"but {_show(row[key])} here; an order's columns must be the "
                               "same on all its rows")
            if row["quantity"] is not None and row["quantity"] <= 0:
                error("quantity", "must be at least 1")
            if row["unit_price"] is not None and row["unit_price"] < 0:
                error("unit_price", "must not be negative")
        sku_key = row["sku"]
        sku_id = self.skus.get(sku_key) or self.skus.get(str(sku_key).upper())
        if sku_id is None:
            error("sku", f"no active SKU has the code or barcode {_show(sku_key)}")
        order = self.new_orders.get(number)
        if order is not None and not errors:
            order["lines"].append({"sku_id": sku_id, "quantity": row["quantity"],
                                   "unit_price": row["unit_price"]})
        return errors

    def skip_messages(self) -> list[str]:
        """Say which orders were skipped because their numbers exist already."""
        if not self.skipped:
            return []
        shown = ", ".join(f"{n} (row {r})" for n, r in list(self.skipped.items())[:20])
        more = f" and {len(self.skipped) - 20:,} more" if len(self.skipped) > 20 else ""
        return [f"{len(self.skipped):,} orders already in the ERP were skipped: {shown}{more}."]

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Insert the new orders, then their lines and audit events, in bulk statements."""
        now = utcnow()
        numbers = list(self.new_orders)
        line_count = 0
        for start in range(0, len(numbers), _CHUNK):
            chunk = numbers[start:start + _CHUNK]
            inserts = []
            for number in chunk:
                order = self.new_orders[number]
                values = {k: v for k, v in order.items() if k != "lines"}
                values.update(state=OrderState.new, created_at=now, hold_reason=None,
                              cancel_reason=None)
                inserts.append(values)
            db.session.execute(insert(CustomerOrder.__table__), inserts)
            ids = dict(db.session.execute(select(CustomerOrder.number, CustomerOrder.id)
                                          .where(CustomerOrder.number.in_(chunk))).all())
            lines = [{"order_id": ids[number], "allocated_qty": 0, **line}
                     for number in chunk for line in self.new_orders[number]["lines"]]
            db.session.execute(insert(CustomerOrderLine.__table__), lines)
            line_count += len(lines)
            audit.record_many("customer_order", "customer_order.created", [
                (ids[number], number, {"channel": self.new_orders[number]["channel"],
                                       "lines": len(self.new_orders[number]["lines"]),
                                       "country": self.new_orders[number]["country"],
                                       "import": self.filename})
                for number in chunk], actor=self.actor)
        return {"created": len(numbers), "updated": 0, "skipped": len(self.skipped),
                "messages": [f"{len(numbers):,} orders with {line_count:,} lines created."]}


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    text = str(value)
    return f'"{text if len(text) <= 40 else text[:37] + "..."}"'
