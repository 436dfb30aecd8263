"""The count sheet PDF: a blind list to count from, in bin walking order, with barcodes.

It stays in the warehouse: it is printed in the language of the person printing it (the
request's locale).
"""

from __future__ import annotations

from collections.abc import Sequence

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import Spacer, Table, TableStyle

from erp.core.i18n import _, format_datetime
from erp.core.pdf import Barcode128, Text, a4_document, data_table
from erp.warehouse.models import CYCLE_COUNT_STATES, CycleCount


def count_sheet_pdf(count: CycleCount, lines: Sequence, *, company: str) -> bytes:
    """Return the A4 count sheet of ``count`` as PDF bytes.

    ``lines`` are rows of :func:`erp.warehouse.queries.cycle_count_lines_query` (already in
    pick sequence). The sheet is blind: it never shows the expected quantity, and the counted
    column is left empty to write in. Each line carries Code 128 barcodes of its bin and SKU,
    so a scanner can be used with the sheet.
    """
    facts = [[(_("Warehouse") + " ", True), (count.warehouse.code, False)],
             [(_("State") + " ", True), (str(CYCLE_COUNT_STATES.label(count.state)), False)],
             [(_("Lines") + " ", True), (str(len(lines)), False)],
             [(_("Opened") + " ", True), (format_datetime(count.created_at), False)]]
    if count.note:
        facts.append([(_("Note") + " ", True), (count.note, False)])
    head = Table([[Barcode128(count.number, width=70 * mm, height=12 * mm),
                   [Text(segments, 9.5) for segments in facts]]],
                 colWidths=[80 * mm, 100 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                              ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    rows: list[list] = [["#", _("Bin"), _("SKU"), _("Product"), _("Counted")]]
    for n, line in enumerate(lines, start=1):
        variant = " / ".join(p for p in (line.colour, line.size) if p)
        product = "\n".join(part for part in (line.product_name, variant, line.barcode) if part)
        rows.append([str(n), Barcode128(line.bin_code, width=46 * mm, height=9 * mm),
                     Barcode128(line.sku_code, width=50 * mm, height=9 * mm), product, ""])
    table = data_table(rows, widths=[9 * mm, 50 * mm, 54 * mm, 45 * mm, 22 * mm],
                       align_right=(0,), valign="MIDDLE", padding=3,
                       style=[("BOX", (4, 1), (4, -1), 1, colors.black)])  # to write in
    footer = Text(_("Count every SKU in each bin and write the quantity found. Write SKUs "
                    "found in a bin but not listed at the end, with their bin.") + "\n"
                  + _("Counted by: %(name)s Date: %(date)s", name="_" * 22, date="_" * 12), 8.5)
    story = [head, Spacer(1, 4 * mm), table, Spacer(1, 6 * mm), footer]
    return a4_document(story, title=_("Count sheet %(number)s", number=count.number),
                       company=company,
                       subtitle=_("Blind count: expected quantities are not printed."))
