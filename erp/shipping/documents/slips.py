"""Packing slips (A4): what is in the parcel, for the customer; no prices.

The slip goes to the consumer abroad with the parcel: it is printed in English
(:func:`erp.core.pdf.in_english`), the delivery address in the destination country's format.
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.lib.units import mm
from reportlab.platypus import PageBreak, Spacer

from erp.core import fonts
from erp.core.pdf import Heading, Text, a4_document, block, data_table, in_english
from erp.shipping.documents.labels import addressee_lines, parcel_counts, sender
from erp.shipping.models import Parcel

THANKS = ("Thank you for your order! If anything is wrong with it, please contact us with your "
          "order number and we will put it right.")


def _slip(parcel: Parcel, counts: dict[int, int]) -> list:
    order = parcel.order
    total = counts.get(parcel.order_id, 1)
    story: list = [Heading(f"Packing slip — order {order.number}")]
    story.append(Text(
        f"Parcel {parcel.number}"
        + (f" ({parcel.sequence}/{total})" if total > 1 else "")
        + (f" · tracking {parcel.tracking_number}" if parcel.tracking_number else ""), 9.5))
    story.append(Spacer(1, 3 * mm))
    story += block("Deliver to", addressee_lines(order), size=9.5,
                   bold_line=order.ship_name)
    story.append(Spacer(1, 4 * mm))
    rows: list[list] = [["#", "SKU", "Item", "Qty"]]
    for n, line in enumerate(parcel.lines, start=1):
        sku = line.sku
        name = sku.product.name if sku is not None and sku.product is not None else ""
        variant = " / ".join(v for v in (getattr(sku, "colour", None), getattr(sku, "size", None))
                             if v)
        label = f"{name} ({variant})" if variant else name
        rows.append([str(n), sku.code if sku is not None else "", label or line.description,
                     str(line.quantity)])
    story.append(data_table(rows, widths=[10 * mm, 50 * mm, 100 * mm, 20 * mm],
                            align_right=(0, 3)))
    units = sum(line.quantity for line in parcel.lines)
    story += [Spacer(1, 2 * mm),
              Text(f"{units} {'item' if units == 1 else 'items'} in this parcel.", 9.5)]
    if total > 1:
        story.append(Text(f"Your order comes in {total} parcels; this is parcel "
                          f"{parcel.sequence}.", 9.5))
    story += [Spacer(1, 8 * mm), Text(THANKS, 9.5)]
    return story


@in_english
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
    if not story:
        return a4_document([Text("No parcels.", 9.5)], title="Packing slip", company=who.name)
    return a4_document(story, title="Packing slip", company=who.name, heading=False)
