"""The dispatch hand-over sheet (A4): what the driver signs for when collecting a batch."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from erp.core import settings as core_settings
from erp.core.fonts import font_for
from erp.core.money import format_money
from erp.core.pdf import NORMAL, SMALL, a4_document, grid_table, text
from erp.extensions import db
from erp.shipping.models import DISPATCH_BATCH_STATES, BatchState, DispatchBatch, Parcel


def _para(value: str) -> Paragraph:
    """Return ``value`` as a paragraph in a font that prints it (a carrier name in Chinese)."""
    return Paragraph(text(value), ParagraphStyle(f"handover-{font_for(value)}", parent=NORMAL,
                                                 fontName=font_for(value)))


def _kg(grams: int) -> str:
    return f"{grams / 1000:,.3f}"


def _parcels(batch: DispatchBatch) -> list[Parcel]:
    return list(db.session.scalars(
        select(Parcel).where(Parcel.batch_id == batch.id).order_by(Parcel.id)
        .options(joinedload(Parcel.order), joinedload(Parcel.service))))


def _facts(batch: DispatchBatch) -> Table:
    carrier = batch.carrier
    day = batch.closed_at or batch.opened_at
    rows = [("Carrier", f"{carrier.name} ({carrier.code})"),
            ("Carrier account", carrier.account_number or "-"),
            ("Batch", batch.number),
            ("Date", day.strftime("%Y-%m-%d") if day else ""),
            ("State", DISPATCH_BATCH_STATES.label(batch.state)
             + ("" if batch.state == BatchState.closed else " (not yet closed)"))]
    table = Table([[Paragraph(f"<b>{text(k)}</b>", SMALL), _para(v)] for k, v in rows],
                  colWidths=[35 * mm, 145 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("TOPPADDING", (0, 0), (-1, -1), 1),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    return table


def _signatures() -> Table:
    blank = "_" * 34
    rows = [["Handed over by (warehouse)", "Received by (driver)"],
            [f"Name: {blank}", f"Name: {blank}"],
            [f"Signature: {blank}", f"Signature: {blank}"],
            [f"Date and time: {blank}", f"Date and time: {blank}"],
            ["", "Vehicle / route: " + "_" * 26]]
    table = Table(rows, colWidths=[90 * mm, 90 * mm])
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                               ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 10),
                               ("TOPPADDING", (0, 1), (-1, -1), 9),
                               ("BOX", (0, 0), (0, -1), 0.5, colors.black),
                               ("BOX", (1, 0), (1, -1), 0.5, colors.black)]))
    return table


def handover_pdf(batch: DispatchBatch, *, company: str | None = None) -> bytes:
    """Return the A4 hand-over sheet of ``batch``.

    Carrier, batch number and date; a table of the parcels (tracking number, order, service,
    country, weight, declared value); totals (parcels, weight, declared value per currency);
    signature lines for the warehouse and the driver.

    :param company: the sender printed at the top (default: the company name setting).
    """
    parcels = _parcels(batch)
    rows: list[list] = [["#", "Tracking number", "Parcel", "Order", "Service", "Country",
                         "Weight kg", "Declared value"]]
    declared: dict[str, Decimal] = defaultdict(Decimal)
    weight = 0
    for n, parcel in enumerate(parcels, start=1):
        rows.append([str(n), parcel.tracking_number or "(no label)", parcel.number,
                     parcel.order.number, parcel.service.code, parcel.order.country,
                     _kg(parcel.weight_g), format_money(parcel.declared_value, parcel.currency)])
        declared[parcel.currency] += parcel.declared_value
        weight += parcel.weight_g
    widths = [9 * mm, 33 * mm, 27 * mm, 27 * mm, 22 * mm, 15 * mm, 18 * mm, 29 * mm]
    story: list = [_facts(batch), Spacer(1, 5 * mm),
                   grid_table(rows, col_widths=widths, align_right=(0, 6, 7), font_size=8),
                   Spacer(1, 4 * mm)]
    totals = [["Parcels", f"{len(parcels):,}"], ["Total weight", f"{_kg(weight)} kg"]]
    totals += [[f"Declared value {currency}", format_money(amount, currency)]
               for currency, amount in sorted(declared.items())]
    total_table = Table(totals, colWidths=[45 * mm, 45 * mm], hAlign="RIGHT")
    total_table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica-Bold", 10),
                                     ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                                     ("LINEABOVE", (0, 0), (-1, 0), 0.5, colors.black)]))
    story.append(KeepTogether([
        total_table, Spacer(1, 8 * mm),
        Paragraph(f"The carrier received the {len(parcels):,} parcels listed above, in good "
                  "order, unless noted here: " + "_" * 60, SMALL),
        Spacer(1, 6 * mm), _signatures()]))
    company = company or core_settings.get("company_name")
    return a4_document(story, title=f"Dispatch hand-over {batch.number}", company=company,
                       subtitle=f"{len(parcels):,} parcels, {_kg(weight)} kg")
