"""The dispatch hand-over sheet (A4): what the driver signs for when collecting a batch.

The carrier's driver signs it: like the manifests, it is printed in English
(:func:`erp.core.pdf.in_english`).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from erp.core import settings as core_settings
from erp.core.money import format_money
from erp.core.pdf import Text, a4_document, data_table, in_english, pairs_table
from erp.extensions import db
from erp.shipping.models import DISPATCH_BATCH_STATES, BatchState, DispatchBatch, Parcel


def _kg(grams: int) -> str:
    return f"{grams / 1000:,.3f}"


def _parcels(batch: DispatchBatch) -> list[Parcel]:
    return list(db.session.scalars(
        select(Parcel).where(Parcel.batch_id == batch.id).order_by(Parcel.id)
        .options(joinedload(Parcel.order), joinedload(Parcel.service))))


def _facts(batch: DispatchBatch):
    carrier = batch.carrier
    day = batch.closed_at or batch.opened_at
    rows = [("Carrier", f"{carrier.name} ({carrier.code})"),
            ("Carrier account", carrier.account_number or "-"),
            ("Batch", batch.number),
            ("Date", day.strftime("%Y-%m-%d") if day else ""),
            ("State", DISPATCH_BATCH_STATES.label(batch.state)
             + ("" if batch.state == BatchState.closed else " (not yet closed)"))]
    return pairs_table(rows, widths=(35 * mm, 145 * mm))


def _signatures() -> Table:
    blank = "_" * 30
    cells = [[Text("Handed over by (warehouse)", 10, bold=True),
              Text("Received by (driver)", 10, bold=True)]]
    for caption in ("Name", "Signature", "Date and time"):
        cells.append([Text(f"{caption}: {blank}", 9), Text(f"{caption}: {blank}", 9)])
    cells.append([Text(""), Text("Vehicle / route: " + "_" * 24, 9)])
    table = Table(cells, colWidths=[90 * mm, 90 * mm])
    table.setStyle(TableStyle([("TOPPADDING", (0, 1), (-1, -1), 9),
                               ("LEFTPADDING", (0, 0), (-1, -1), 4),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                               ("BOX", (0, 0), (0, -1), 0.5, colors.black),
                               ("BOX", (1, 0), (1, -1), 0.5, colors.black)]))
    return table


@in_english
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
                   data_table(rows, widths=widths, align_right=(0, 6, 7), size=8),
                   Spacer(1, 4 * mm)]
    totals = [["Parcels", f"{len(parcels):,}"], ["Total weight", f"{_kg(weight)} kg"]]
    totals += [[f"Declared value {currency}", format_money(amount, currency)]
               for currency, amount in sorted(declared.items())]
    total_table = data_table([[[(label, True)], [(value, True)]] for label, value in totals],
                             widths=[45 * mm, 45 * mm], header=False, align_right=(1,),
                             size=10)
    total_table.hAlign = "RIGHT"
    story.append(KeepTogether([
        total_table, Spacer(1, 8 * mm),
        Text(f"The carrier received the {len(parcels):,} parcels listed above, in good "
             "order, unless noted here: " + "_" * 50, 8.5),
        Spacer(1, 6 * mm), _signatures()]))
    company = company or core_settings.get("company_name")
    return a4_document(story, title=f"Dispatch hand-over {batch.number}", company=company,
                       subtitle=f"{len(parcels):,} parcels, {_kg(weight)} kg")
