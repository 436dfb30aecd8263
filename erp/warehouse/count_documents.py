"""The count sheet PDF: a blind list to count from, in bin walking order, with barcodes."""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from erp.core.pdf import NORMAL, SMALL, Barcode128, a4_document, text
from erp.warehouse.models import CYCLE_COUNT_STATES, CycleCount


def count_sheet_pdf(count: CycleCount, lines: Sequence, *, company: str) -> bytes:
    """Return the A4 count sheet of ``count`` as PDF bytes.

    ``lines`` are rows of :func:`erp.warehouse.queries.cycle_count_lines_query` (already in
    pick sequence). The sheet is blind: it never shows the expected quantity, and the counted
    column is left empty to write in. Each line carries Code 128 barcodes of its bin and SKU,
    so a scanner can be used with the sheet.
    """
    head = Table([[
        Barcode128(count.number, width=70 * mm, height=12 * mm),
        Paragraph(
            f"<b>Warehouse</b> {text(count.warehouse.code)} · <b>State</b> "
            f"{text(CYCLE_COUNT_STATES.label(count.state))} · <b>Lines</b> {len(lines)}<br/>"
            f"<b>Opened</b> {count.created_at:%Y-%m-%d %H:%M} UTC"
            + (f"<br/><b>Note</b> {text(count.note)}" if count.note else ""), NORMAL),
    ]], colWidths=[80 * mm, 100 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    rows = [["#", "Bin", "SKU", "Product", "Counted"]]
    for n, line in enumerate(lines, start=1):
        variant = " / ".join(p for p in (line.colour, line.size) if p)
        product = text(line.product_name) + (f"<br/>{text(variant)}" if variant else "") + (
            f"<br/>{text(line.barcode)}" if line.barcode else "")
        rows.append([str(n), Barcode128(line.bin_code, width=48 * mm, height=9 * mm),
                     Barcode128(line.sku_code, width=52 * mm, height=9 * mm),
                     Paragraph(product, SMALL), ""])
    table = Table(rows, colWidths=[8 * mm, 50 * mm, 54 * mm, 46 * mm, 22 * mm], repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8.5),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ebf0")),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("BOX", (4, 1), (4, -1), 1, colors.black),  # the column to write in
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 1), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 1), (-1, -1), 4),
    ]))
    footer = Paragraph("Count every SKU in each bin and write the quantity found. Write SKUs "
                       "found in a bin but not listed at the end, with their bin. Counted by: "
                       "______________________ Date: ____________", SMALL)
    story = [head, Spacer(1, 4 * mm), table, Spacer(1, 6 * mm), footer]
    return a4_document(story, title=f"Count sheet {count.number}", company=company,
                       subtitle="Blind count: expected quantities are not printed.")
