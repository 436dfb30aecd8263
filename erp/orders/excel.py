"""The order sheet: one row per order LINE, the order's columns repeated on each of its rows.

Rows are grouped by order number; the order columns must agree on every row of one order. Each
order goes through the API's checks (:func:`erp.orders.services.validate_order_payload`, then
the intake checks of :mod:`erp.orders.hooks`: the service must serve the country and take the
goods' estimated weight), so a sheet and the storefront are held to the same rules. An order
number already in the database is skipped when the sheet has the same values for it (importing
a file twice creates nothing new), and refused naming each difference when it does not. An
order with a line above the ``order_review_quantity`` setting is put on hold for review. All or
nothing; the writes are bulk ``INSERT``s (built for 50,000-line files, ``bench order_import``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload

from erp.catalog.models import Product, Sku, SkuStatus
from erp.core import audit, events, excel
from erp.core import settings as core_settings
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.models import utcnow
from erp.extensions import db
from erp.orders import hooks
from erp.orders.events import accepted_payload
from erp.orders.models import CustomerOrder, CustomerOrderLine, OrderState
from erp.orders.services.allocation import hold_order
from erp.orders.services.intake import (
    clean_line_spec,
    default_trade_mode,
    made_to_order_problems,
    measurements_text,
    notify_paid,
    order_differences,
    parse_measurements_text,
    review_reason,
    validate_order_payload,
)

_CHUNK = 5_000

#: the order's columns (sheet key -> payload key), identical on every row of one order
ORDER_COLUMNS = {
    "order_number": "number", "placed_at": "placed_at", "customer_name": "customer_name",
    "email": "email", "phone": "phone", "ship_name": "name", "address1": "address1",
    "address2": "address2", "city": "city", "region": "region", "postal_code": "postal_code",
    "country": "country", "currency": "currency", "shipping_charge": "shipping_charge",
    "shipping_service": "shipping_service", "ioss_number": "ioss_number",
    "buyer_tax_id": "buyer_tax_id", "notes": "notes", "payment_method": "payment_method",
    "trade_mode": "trade_mode", "payment_provider": "payment.provider",
    "payment_transaction": "payment.transaction", "payment_amount": "payment.amount",
    "payment_currency": "payment.currency", "paid_at": "payment.paid_at",
}
_ADDRESS = {"ship_name", "address1", "address2", "city", "region", "postal_code", "country"}

ORDER_SPEC = excel.Spec(
    name="orders",
    title=_l("Orders"),
    columns=(
        excel.Column("order_number", _l("Order number"), required=True,
                     help=_l("The storefront's order number; the rows of one order share it. An "
                             "order already in the ERP is skipped if its rows are the same, and "
                             "refused if they differ.")),
        excel.Column("placed_at", _l("Placed at"), type="auto", required=True,
                     help=_l("Date and time the order was placed (ISO 8601 or an Excel date); "
                             "taken as UTC without an offset. At most a day ahead of now.")),
        excel.Column("customer_name", _l("Customer name"), required=True, width=24),
        excel.Column("email", _l("Email"), width=24),
        excel.Column("phone", _l("Phone")),
        excel.Column("ship_name", _l("Ship name"), required=True, width=24,
                     help=_l("The name on the parcel.")),
        excel.Column("address1", _l("Address1"), required=True, width=30),
        excel.Column("address2", _l("Address2"), width=30),
        excel.Column("city", _l("City"), required=True),
        excel.Column("region", _l("Region"), help=_l("State or province.")),
        excel.Column("postal_code", _l("Postal code"),
                     help=_l("Required except for countries without postal codes (HK, AE, QA, "
                             "IE, ...). Format the column as Text to keep leading zeros.")),
        excel.Column("country", _l("Country"), required=True,
                     help=_l("ISO 3166-1 code (DE, US) or a country name.")),
        excel.Column("currency", _l("Currency"), required=True,
                     help=_l("ISO 4217 code, e.g. EUR.")),
        excel.Column("shipping_charge", _l("Shipping charge"), type="decimal"),
        excel.Column("shipping_service", _l("Shipping service"),
                     help=_l("The code of an active service that serves the country and takes the "
                             "order's weight (catalog weight x quantity); empty: the packing bench "
                             "chooses.")),
        excel.Column("ioss_number", _l("IOSS"), help=_l("IM followed by 10 digits.")),
        excel.Column("buyer_tax_id", _l("Buyer tax id")),
        excel.Column("notes", _l("Notes"), width=30),
        excel.Column("payment_method", _l("Payment method"),
                     help=_l("How the buyer paid, a short code: card, paypal, alipay... (the "
                             "payment fees setting prices each).")),
        excel.Column("trade_mode", _l("Trade mode"),
                     help=_l("Empty (the default trade mode setting applies) or 9610, the "
                             "cross-border B2C export under which the five payment columns are "
                             "required.")),
        excel.Column("payment_provider", _l("Payment provider"),
                     help=_l("Who took the payment, e.g. Stripe, PayPal (at most 100 "
                             "characters).")),
        excel.Column("payment_transaction", _l("Payment transaction"),
                     help=_l("The provider's transaction number (at most 60 characters).")),
        excel.Column("payment_amount", _l("Paid amount"), type="decimal",
                     help=_l("The amount paid, more than 0, at most 2 decimals.")),
        excel.Column("payment_currency", _l("Paid currency"),
                     help=_l("ISO 4217 code of the amount paid, e.g. EUR.")),
        excel.Column("paid_at", _l("Paid at"), type="auto",
                     help=_l("When the order was paid: ISO 8601 with its zone (e.g. "
                             "2026-11-25T21:45:00+08:00); an Excel date is taken as UTC.")),
        excel.Column("sku", _l("SKU"), required=True, help=_l("An active SKU's code or barcode.")),
        excel.Column("quantity", _l("Quantity"), type="int", required=True,
                     help=_l("A line above the review quantity (a setting, 100 by default) puts "
                             "the order on hold for review.")),
        excel.Column("unit_price", _l("Unit price"), type="decimal", required=True),
        excel.Column("size", _l("Size"),
                     help=_l("A made-to-order line's standard size (at most 30 characters); "
                             "give a size or measurements, only for made-to-order products.")),
        excel.Column("measurements", _l("Measurements"), width=30,
                     help=_l('A made-to-order line\'s measurements, code=number parts separated '
                             'by ";", e.g. "chest_cm=96.5; waist_cm=80".')),
    ),
)
_HEADERS = {column.key: column.header for column in ORDER_SPEC.columns}
#: payload error paths -> sheet columns
_PATHS = {("shipping_address." + v if k in _ADDRESS else v): k for k, v in ORDER_COLUMNS.items()}
_PATHS.update({"shipping_address": "ship_name", "lines": "sku"})
_PATHS["payment"] = "payment_provider"
_LINE_FIELDS = {"sku": "sku", "quantity": "quantity", "unit_price": "unit_price",
                "size": "size", "measurements": "measurements"}
#: the stored attributes the sheet has columns for: a re-imported order is compared on these
_SHEET_ATTRIBUTES = frozenset("number" if key == "order_number" else key for key in ORDER_COLUMNS)


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
        validate_rows=job.validate_orders, apply=job.apply,
        transaction=db.session.begin_nested if savepoint else None)
    if result.ok:
        result.messages.extend(job.skip_messages())
        if dry_run:
            lines = sum(len(o["lines"]) for o in job.new_orders.values())
            result.messages.append(_("%(orders)s, %(lines)s.", orders=ngettext(
                "%(count)s new order", "%(count)s new orders", len(job.new_orders),
                count=format_number(len(job.new_orders))), lines=ngettext(
                "%(count)s line", "%(count)s lines", lines, count=format_number(lines))))
            result.messages.extend(job.hold_messages(dry_run=True))
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
    if key == "paid_at" and isinstance(value, datetime):
        # an Excel date has no zone: taken as UTC, like placed_at
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if key in ("shipping_charge", "payment_amount"):
        return value
    return value if isinstance(value, str) else str(value)


class _OrderImport:
    """One order import: lookups read once, and the three callbacks of ``run_import``."""

    def __init__(self, actor, filename: str) -> None:
        self.actor = actor
        self.filename = filename
        self.skus: dict[str, int] = {}
        #: sku id -> (code, weight g, length, width, height mm): for the intake checks
        self.sku_info: dict[int, tuple[str, int, int, int, int]] = {}
        self.made_to_order: set[int] = set()  # ids of the SKUs of made-to-order products
        for ident, code, barcode, weight, length, width, height, mto in db.session.execute(
                select(Sku.id, Sku.code, Sku.barcode, Sku.weight_g, Sku.length_mm,
                       Sku.width_mm, Sku.height_mm, Product.made_to_order)
                .join(Product, Product.id == Sku.product_id)
                .where(Sku.status == SkuStatus.active)):
            self.skus[code] = ident
            self.sku_info[ident] = (code, weight or 0, length or 0, width or 0, height or 0)
            if barcode:
                self.skus[barcode] = ident
            if mto:
                self.made_to_order.add(ident)
        self.default_trade_mode = default_trade_mode()
        self.existing: set[str] = set(db.session.scalars(select(CustomerOrder.number)))
        self.skipped: dict[str, int] = {}  # existing number, the same in the sheet -> first row
        self.first_rows: dict[str, dict[str, Any]] = {}
        self.line_rows: dict[str, list[int]] = {}  # number -> the row of each of its lines
        self.bad: set[str] = set()  # numbers with an error in one of their rows
        self.new_orders: dict[str, dict[str, Any]] = {}  # number -> cleaned order
        self.repeats: dict[str, dict[str, Any]] = {}  # existing number -> cleaned order
        self.holds: dict[str, str] = {}  # new number -> why it goes on hold for review
        self.now = utcnow()  # an order may be dated at most a day ahead of it

    def validate_row(self, row: dict[str, Any]) -> list[excel.CellError]:
        """Check one line row: its order (once), agreement with the order's first row, SKU."""
        number_row = row["_row"]
        errors: list[excel.CellError] = []

        def error(key: str, message: str) -> None:
            errors.append(excel.CellError(number_row, _HEADERS.get(key, ""), message))

        number = str(row["order_number"]).strip()
        repeat = number in self.existing
        orders = self.repeats if repeat else self.new_orders
        first = self.first_rows.setdefault(number, row)
        line = {"sku": row["sku"], "quantity": row["quantity"], "unit_price": row["unit_price"]}
        spec_errors: dict[str, str] = {}
        spec = {"size": _payload_value("size", row.get("size"))}
        if row.get("measurements") is not None and str(row["measurements"]).strip():
            try:
                spec["measurements"] = parse_measurements_text(row["measurements"])
            except ValueError as err:
                spec_errors["line.measurements"] = str(err)
        size, measurements = clean_line_spec(spec, "line", spec_errors)
        for path, message in spec_errors.items():
            error(_LINE_FIELDS.get(path.removeprefix("line").removeprefix("."), "size"),
                  message)
        if first is row:
            payload = {"shipping_address": {}, "lines": [line], "payment": {}}
            for key, target in ORDER_COLUMNS.items():
                value = _payload_value(key, row[key])
                if key in _ADDRESS:
                    payload["shipping_address"][target] = value
                elif target.startswith("payment."):
                    payload["payment"][target.removeprefix("payment.")] = value
                else:
                    payload[target] = value
            cleaned, problems = validate_order_payload(
                payload, now=self.now, default_trade_mode=self.default_trade_mode)
            for path, message in problems.items():
                if path.startswith("lines[0]."):
                    key = _LINE_FIELDS.get(path.removeprefix("lines[0]."), "sku")
                else:
                    key = _PATHS.get(path, "")
                error(key, message)
            if problems or spec_errors:
                row["_bad"] = True
            else:
                cleaned["lines"] = []
                orders[number] = cleaned
        else:
            for key in ORDER_COLUMNS:
                if row[key] != first[key]:
                    error(key, _("order %(number)s has %(first)s in row %(row)s but %(value)s "
                                 "here; an order's columns must be the same on all its rows",
                                 number=number, first=_show(first[key]), row=first["_row"],
                                 value=_show(row[key])))
            if row["quantity"] is not None and row["quantity"] <= 0:
                error("quantity", _("must be at least %(minimum)s", minimum=1))
            if row["unit_price"] is not None and row["unit_price"] < 0:
                error("unit_price", _("must not be negative"))
        order = orders.get(number)
        if repeat:
            # compared with the stored order's lines, whatever its SKUs' status is today
            if order is not None and not errors:
                order["lines"].append({**line, "size": size, "measurements": measurements})
        else:
            sku_key = row["sku"]
            sku_id = self.skus.get(sku_key) or self.skus.get(str(sku_key).upper())
            if sku_id is None:
                error("sku", _("no active SKU has the code or barcode %(value)s",
                               value=_show(sku_key)))
            if order is not None and not errors:
                order["lines"].append({"sku_id": sku_id, "quantity": row["quantity"],
                                       "unit_price": row["unit_price"], "mto_size": size,
                                       "measurements": measurements})
                self.line_rows.setdefault(number, []).append(number_row)
        if errors:
            self.bad.add(number)
        return errors

    def validate_orders(self, rows: list[dict[str, Any]]) -> list[excel.CellError]:
        """Check what needs every row of an order: can it ship, does a repeat differ."""
        errors = self._check_new_orders()
        errors.extend(self._check_repeats())
        return errors

    def _error(self, number: str, path: str, message: str) -> excel.CellError:
        """Return an error at the row and column an intake field path points to."""
        key = _PATHS.get(path)
        row = self.first_rows[number]["_row"]
        if key is None and path.startswith("lines["):
            index, _, field = path.removeprefix("lines[").partition("]")
            field = field.removeprefix(".")
            rows = self.line_rows.get(number, [])
            row = rows[int(index)] if index.isdigit() and int(index) < len(rows) else row
            key = _LINE_FIELDS.get(field, "sku")
        return excel.CellError(row, _HEADERS.get(key or "", ""), message)

    def _check_new_orders(self) -> list[excel.CellError]:
        numbers = [n for n in self.new_orders if n not in self.bad]
        limit = core_settings.get("order_review_quantity")
        intake = []
        made: dict[tuple[int, int], hooks.IntakeLine] = {}  # lines are alike: built once
        for number in numbers:
            order = self.new_orders[number]
            lines = []
            for line in order["lines"]:
                key = (line["sku_id"], line["quantity"])
                item = made.get(key)
                if item is None:
                    code, weight, length, width, height = self.sku_info[key[0]]
                    item = made[key] = hooks.IntakeLine(code, key[1], weight, length, width,
                                                        height)
                lines.append(item)
                if item.quantity > limit and number not in self.holds:
                    self.holds[number] = ""  # the reason once every line is known
            intake.append(hooks.IntakeOrder(
                number=number, country=order["country"],
                shipping_service=order.get("shipping_service"), phone=order.get("phone"),
                lines=tuple(lines)))
        errors = self._check_made_to_order(numbers)
        for index, problems in sorted(hooks.intake_problems(intake).items()):
            number = numbers[index]
            errors.extend(self._error(number, path, message)
                          for path, message in problems.items())
        for number in self.holds:
            self.holds[number] = review_reason(
                ((self.sku_info[line["sku_id"]][0], line["quantity"])
                 for line in self.new_orders[number]["lines"]), limit)
        return errors

    def _check_made_to_order(self, numbers: list[str]) -> list[excel.CellError]:
        """Check the made-to-order lines (and lines that must not carry a size or measurements).

        The SKUs are loaded only for orders with such a line (the hooks take SKUs).
        """
        wanted = [n for n in numbers if any(
            line["sku_id"] in self.made_to_order or line["mto_size"] is not None
            or line["measurements"] for line in self.new_orders[n]["lines"])]
        if not wanted:
            return []
        ids = {line["sku_id"] for n in wanted for line in self.new_orders[n]["lines"]}
        skus = {sku.id: sku for sku in db.session.scalars(select(Sku).where(Sku.id.in_(ids)))}
        errors = []
        for number in wanted:
            order = self.new_orders[number]
            problems = made_to_order_problems(
                [(skus[line["sku_id"]], line["mto_size"], line["measurements"])
                 for line in order["lines"]], self.made_to_order,
                paid=order.get("paid_at") is not None)
            errors.extend(self._error(number, path, message)
                          for path, message in problems.items())
        return errors

    def _check_repeats(self) -> list[excel.CellError]:
        """Skip an order already stored that the sheet repeats; refuse one that differs."""
        numbers = [n for n in self.repeats if n not in self.bad]
        errors = []
        for start in range(0, len(numbers), 500):
            stored = db.session.scalars(
                select(CustomerOrder).where(CustomerOrder.number.in_(numbers[start:start + 500]))
                .options(selectinload(CustomerOrder.lines).selectinload(CustomerOrderLine.sku)))
            for order in stored:
                differences = order_differences(order, self.repeats[order.number],
                                                fields=_SHEET_ATTRIBUTES)
                if not differences:
                    self.skipped[order.number] = self.first_rows[order.number]["_row"]
                    continue
                for path, text in differences.items():
                    errors.append(self._error(
                        order.number, path, _("order %(number)s is already in the ERP with "
                                              "other values: %(differences)s",
                                              number=order.number, differences=text)))
        return errors

    def skip_messages(self) -> list[str]:
        """Say which orders were skipped because they are in the ERP already, the same."""
        if not self.skipped:
            return []
        skipped = sorted(self.skipped.items(), key=lambda item: item[1])
        shown = ", ".join(_("%(number)s (row %(row)s)", number=n, row=r) for n, r in skipped[:20])
        if len(self.skipped) > 20:
            shown = _("%(list)s and %(more)s more", list=shown,
                      more=format_number(len(self.skipped) - 20))
        return [ngettext("%(count)s order already in the ERP was skipped: %(list)s.",
                         "%(count)s orders already in the ERP were skipped: %(list)s.",
                         len(self.skipped), count=format_number(len(self.skipped)), list=shown)]

    def hold_messages(self, *, dry_run: bool) -> list[str]:
        """Say which new orders go (or went) on hold for review, and why."""
        if not self.holds:
            return []
        shown = "; ".join(_("%(number)s (row %(row)s): %(reason)s", number=n,
                            row=self.first_rows[n]["_row"], reason=reason)
                          for n, reason in list(self.holds.items())[:20])
        if len(self.holds) > 20:
            shown = _("%(list)s; and %(more)s more", list=shown,
                      more=format_number(len(self.holds) - 20))
        count, shown_count = len(self.holds), format_number(len(self.holds))
        if dry_run:
            return [ngettext("%(count)s order will be put on hold for review: %(list)s.",
                             "%(count)s orders will be put on hold for review: %(list)s.",
                             count, count=shown_count, list=shown)]
        return [ngettext("%(count)s order was put on hold for review: %(list)s.",
                         "%(count)s orders were put on hold for review: %(list)s.",
                         count, count=shown_count, list=shown)]

    def apply(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Insert the new orders, then their lines and audit events, in bulk statements.

        Orders with a line above the review quantity are then put on hold (the hold's own
        service and audit event), one by one: they are few.
        """
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
            lines = [{"order_id": ids[number], "allocated_qty": 0, **line,
                      "measurements": measurements_text(line["measurements"])}
                     for number in chunk for line in self.new_orders[number]["lines"]]
            db.session.execute(insert(CustomerOrderLine.__table__), lines)
            line_count += len(lines)
            audit.record_many("customer_order", "customer_order.created", [
                (ids[number], number, {"channel": self.new_orders[number]["channel"],
                                       "lines": len(self.new_orders[number]["lines"]),
                                       "country": self.new_orders[number]["country"],
                                       "import": self.filename})
                for number in chunk], actor=self.actor)
            events.emit_many("order.accepted", [
                (events.order_key(number), accepted_payload(
                    number, self.new_orders[number]["channel"],
                    len(self.new_orders[number]["lines"])))
                for number in chunk], at=now)
        held = sorted(self.holds)
        for start in range(0, len(held), 500):
            for order in db.session.scalars(select(CustomerOrder).where(
                    CustomerOrder.number.in_(held[start:start + 500])).order_by(CustomerOrder.id)):
                hold_order(order, reason=self.holds[order.number], actor=self.actor)
        paid = sorted(n for n in numbers if self.new_orders[n].get("paid_at") is not None)
        for start in range(0, len(paid), 500):
            notify_paid(list(db.session.scalars(select(CustomerOrder).where(
                CustomerOrder.number.in_(paid[start:start + 500])).order_by(CustomerOrder.id))),
                actor=self.actor)
        return {"created": len(numbers), "updated": 0, "skipped": len(self.skipped),
                "messages": [_("%(orders)s with %(lines)s created.", orders=ngettext(
                    "%(count)s order", "%(count)s orders", len(numbers),
                    count=format_number(len(numbers))), lines=ngettext(
                    "%(count)s line", "%(count)s lines", line_count,
                    count=format_number(line_count))), *self.hold_messages(dry_run=False)]}


def _show(value: Any) -> str:
    if value is None:
        return _("nothing")
    text = str(value)
    return f'"{text if len(text) <= 40 else text[:37] + "..."}"'
