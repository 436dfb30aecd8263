"""Packing slips (A4): what is in the parcel, for the customer; no prices."""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Paragraph, Spacer

from erp.core import fonts
from erp.core.pdf import NORMAL, SMALL, TITLE, a4_document, grid_table, text
from erp.shipping.documents.labels import addressee_lines, parcel_counts, sender
from erp.shipping.models import Parcel

THANKS = ("Thank you for your order! If anything is wrong with it, please contact us with your "
          "order number and we will put it right.")


def _slip(parcel: Parcel, counts: dict[int, int]) -> list:
    order = parcel.order
    total = counts.get(parcel.order_id, 1)
    lines = addressee_lines(order)
    story: list = [Paragraph(f"Packing slip &mdash; order {text(order.number)}", TITLE)]
    story.append(Paragraph(
        f"Parcel {text(parcel.number)}"
        + (f" ({parcel.sequence}/{total})" if total > 1 else "")
        + (f" &middot; tracking {text(parcel.tracking_number)}" if parcel.tracking_number
           else ""), NORMAL))
    story.append(Spacer(1, 3 * mm))
    story.append(Paragraph("<b>Deliver to</b>", SMALL))
    story += [Paragraph(fonts.markup(line), NORMAL) for line in lines]
    story.append(Spacer(1, 4 * mm))
    rows: list[list] = [["#", "SKU", "Item", "Qty"]]
    for n, line in enumerate(parcel.lines, start=1):
        sku = line.sku
        name = sku.product.name if sku is not None and sku.product is not None else ""
        variant = " / ".join(v for v in (getattr(sku, "colour", None), getattr(sku, "size", None))
                             if v)
        label = f"{name} ({variant})" if variant else name
        rows.append([str(n), sku.code if sku is not None else "",
                     Paragraph(fonts.markup(label or line.description), SMALL),
                     str(line.quantity)])
    story.append(grid_table(rows, col_widths=[10 * mm, 45 * mm, 105 * mm, 20 * mm],
                            align_right=(3,)))
    units = sum(line.quantity for line in parcel.lines)
    story += [Spacer(1, 2 * mm), Paragraph(f"{units} item(s) in this parcel.", NORMAL)]
    if total > 1:
        story.append(Paragraph(f"Your order comes in {total} parcels; this is parcel "
                               f"{parcel.sequence}.", NORMAL))
    story += [Spacer(1, 8 * mm), Paragraph(text(THANKS), NORMAL)]
    return story


def packing_slip_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one A4 PDF with a packing slip per parcel."""
    fonts.register_fonts()
    who = sender()
    counts = parcel_counts(parcels)
    story: list = []
    for n, parcel in enumerate(parcels):
        if n:
            story.append(PageBreak())
        story += _slip(parcel, counts)
    return a4_document(story or [Paragraph("No parcels.", NORMAL)], title="Packing slip",
                       company=who.name)
