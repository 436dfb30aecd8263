"""The carrier manifest of a dispatch batch, as an Excel workbook.

Layout (what postal and courier e-manifest uploads expect): sheet "Manifest" has **one row per
customs line**, with the parcel's columns (tracking number, addressee, weight, declared value,
customs form, IOSS...) repeated on each of its lines, so every row is complete on its own and the
carrier's import can group by tracking number. A parcel without customs lines still gets one
row. Sheet "Totals" gives the batch figures: parcels, lines, units, weight and declared value per
currency, and parcels per destination country.

Text is always written as text and neutralised (``erp.core.excel.neutralise``): an addressee
typed as ``=HYPERLINK(...)`` stays a harmless string. Phone numbers in international form
(``+`` and digits only) are the one exception: they keep their ``+`` without the apostrophe.
"""

from __future__ import annotations

import io
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from decimal import Decimal

import xlsxwriter
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from erp.core.excel import neutralise
from erp.extensions import db
from erp.shipping.models import DispatchBatch, Parcel

MANIFEST_SHEET = "Manifest"
TOTALS_SHEET = "Totals"

#: a phone number in international form, written without the formula guard's apostrophe
PHONE = re.compile(r"^\+[0-9 ()./-]{3,38}$")
#: (header, kind, width): kind is text, phone, int, kg (grams shown as kg), cm (mm shown as
#: cm), money, bool or datetime
COLUMNS: Sequence[tuple[str, str, int]] = (
    ("Tracking number", "text", 18), ("Parcel", "text", 16), ("Parcel no.", "int", 9),
    ("Order", "text", 16), ("Service code", "text", 12), ("Service", "text", 22),
    ("Addressee", "text", 24), ("Address 1", "text", 28), ("Address 2", "text", 20),
    ("City", "text", 16), ("Region", "text", 14), ("Postcode", "text", 10),
    ("Country", "text", 8), ("Phone", "phone", 16), ("Email", "text", 26),
    ("Buyer tax ID", "text", 14), ("Weight kg", "kg", 10), ("Length cm", "cm", 9),
    ("Width cm", "cm", 9), ("Height cm", "cm", 9), ("Declared value", "money", 13),
    ("Currency", "text", 8), ("Customs form", "text", 11), ("Category", "text", 14),
    ("IOSS number", "text", 14), ("Dutiable", "bool", 9), ("Line", "int", 6),
    ("Description", "text", 34), ("HS code", "text", 12), ("Origin", "text", 7),
    ("Quantity", "int", 9), ("Net weight kg", "kg", 12), ("Unit value", "money", 11),
    ("Line value", "money", 11),
)


def _load(batch: DispatchBatch) -> list[Parcel]:
    """Return the batch's parcels with their order, service and lines, in three queries."""
    return list(db.session.scalars(
        select(Parcel).where(Parcel.batch_id == batch.id).order_by(Parcel.id)
        .options(joinedload(Parcel.order), joinedload(Parcel.service),
                 selectinload(Parcel.lines))).unique())


def _parcel_cells(parcel: Parcel) -> list:
    order, service = parcel.order, parcel.service
    return [parcel.tracking_number, parcel.number, parcel.sequence, order.number, service.code,
            service.name, order.ship_name, order.address1, order.address2, order.city,
            order.region, order.postal_code, order.country, order.phone, order.email,
            order.buyer_tax_id, parcel.weight_g, parcel.length_mm, parcel.width_mm,
            parcel.height_mm, parcel.declared_value, parcel.currency, parcel.customs_form.value,
            parcel.customs_category, parcel.ioss_number, parcel.dutiable]


def manifest_rows(parcels: Sequence[Parcel]):
    """Yield the manifest's rows (lists in :data:`COLUMNS` order), one per customs line."""
    for parcel in parcels:
        head = _parcel_cells(parcel)
        if not parcel.lines:
            yield head + [None] * 8
        for n, line in enumerate(parcel.lines, start=1):
            yield head + [n, line.description, line.hs_code, line.origin_country, line.quantity,
                          line.net_weight_g, line.unit_value, line.value]


class _Writer:
    """Formats created once, and one ``write`` that picks the cell type (never a formula)."""

    def __init__(self, workbook):
        self.header = workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
        self.bold = workbook.add_format({"bold": True})
        self.formats = {
            "text": workbook.add_format({"num_format": "@"}),
            "int": workbook.add_format({"num_format": "0"}),
            "kg": workbook.add_format({"num_format": "0.000"}),
            "cm": workbook.add_format({"num_format": "0.0"}),
            "money": workbook.add_format({"num_format": "#,##0.00"}),
            "datetime": workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
        }

    def write(self, sheet, row: int, col: int, value, kind: str) -> None:
        if value is None:
            return
        if kind == "bool":
            sheet.write_string(row, col, "yes" if value else "no")
        elif kind in ("kg", "cm"):
            sheet.write_number(row, col, int(value) / (1000 if kind == "kg" else 10),
                               self.formats[kind])
        elif kind in ("int", "money"):
            sheet.write_number(row, col, float(value), self.formats[kind])
        elif kind == "datetime":
            sheet.write_datetime(row, col, value.replace(tzinfo=None), self.formats[kind])
        elif kind == "phone" and PHONE.match(str(value)):
            # "+49 30 1234" is a number in international form, not a formula: carriers want it
            # as it is (the cell is text all the same)
            sheet.write_string(row, col, str(value), self.formats["text"])
        else:
            sheet.write_string(row, col, neutralise(str(value))[:32_767], self.formats["text"])


def manifest_xlsx(batch: DispatchBatch) -> bytes:
    """Return the carrier manifest of ``batch`` as .xlsx bytes (see the module docstring)."""
    parcels = _load(batch)
    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(output, {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False,
        "strings_to_numbers": False, "remove_timezone": True})
    writer = _Writer(workbook)
    sheet = workbook.add_worksheet(MANIFEST_SHEET)
    sheet.freeze_panes(1, 0)
    for col, (header, _kind, width) in enumerate(COLUMNS):
        sheet.set_column(col, col, width)
        sheet.write_string(0, col, header, writer.header)
    kinds = [kind for _header, kind, _width in COLUMNS]
    row = 0
    for row, cells in enumerate(manifest_rows(parcels), start=1):
        for col, (value, kind) in enumerate(zip(cells, kinds, strict=True)):
            writer.write(sheet, row, col, value, kind)
    sheet.autofilter(0, 0, max(row, 1), len(COLUMNS) - 1)
    _totals_sheet(workbook, writer, batch, parcels)
    workbook.close()
    return output.getvalue()


def _totals_sheet(workbook, writer: _Writer, batch: DispatchBatch,
                  parcels: Sequence[Parcel]) -> None:
    sheet = workbook.add_worksheet(TOTALS_SHEET)
    sheet.set_column(0, 0, 26)
    sheet.set_column(1, 2, 18)
    declared: dict[str, Decimal] = defaultdict(Decimal)
    countries: Counter[str] = Counter()
    for parcel in parcels:
        declared[parcel.currency] += parcel.declared_value
        countries[parcel.order.country] += 1
    carrier = batch.carrier
    rows = [
        ("Batch", batch.number, "text"),
        ("Carrier", f"{carrier.name} ({carrier.code})", "text"),
        ("Carrier account", carrier.account_number, "text"),
        ("Opened (UTC)", batch.opened_at, "datetime"),
        ("Closed (UTC)", batch.closed_at, "datetime"),
        ("Parcels", len(parcels), "int"),
        ("Customs lines", sum(len(p.lines) for p in parcels), "int"),
        ("Units", sum(line.quantity for p in parcels for line in p.lines), "int"),
        ("Gross weight kg", sum(p.weight_g for p in parcels), "kg"),
    ]
    for n, (label, value, kind) in enumerate(rows):
        sheet.write_string(n, 0, label, writer.bold)
        writer.write(sheet, n, 1, value, kind)
    n = len(rows) + 1
    sheet.write_string(n, 0, "Declared value", writer.header)
    sheet.write_string(n, 1, "Currency", writer.header)
    for currency, amount in sorted(declared.items()):
        n += 1
        writer.write(sheet, n, 0, amount, "money")
        writer.write(sheet, n, 1, currency, "text")
    n += 2
    sheet.write_string(n, 0, "Country", writer.header)
    sheet.write_string(n, 1, "Parcels", writer.header)
    for country, count in sorted(countries.items()):
        n += 1
        writer.write(sheet, n, 0, country, "text")
        writer.write(sheet, n, 1, count, "int")
