"""Warehouse PDFs: bin labels (A4 sheets of 3 x 8 self-adhesive labels, Code 128).

Bin labels stay in the warehouse: their few words (the bin's kind, "No bins were selected") are
printed in the language of the person printing them (the request's locale).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from erp.core import fonts
from erp.core.i18n import _, _l
from erp.core.pdf import Barcode128
from erp.warehouse.models import Location, LocationKind

#: the common A4 label sheet: 3 columns x 8 rows of 70 x 37.125 mm labels, no margins
LABEL_COLUMNS, LABEL_ROWS = 3, 8
LABEL_WIDTH, LABEL_HEIGHT = A4[0] / LABEL_COLUMNS, A4[1] / LABEL_ROWS
LABELS_PER_PAGE = LABEL_COLUMNS * LABEL_ROWS
_PAD = 4 * mm
#: the kind of bin as printed on its label
KIND_LABELS = {
    LocationKind.receiving: _l("Receiving"), LocationKind.storage: _l("Storage"),
    LocationKind.packing: _l("Packing"), LocationKind.shipping: _l("Shipping"),
    LocationKind.returns: _l("Returns"), LocationKind.quarantine: _l("Quarantine"),
    LocationKind.scrap: _l("Scrap"), LocationKind.supplier: _l("Supplier"),
    LocationKind.customer: _l("Customer"), LocationKind.adjustment: _l("Adjustment"),
    LocationKind.in_transit: _l("In transit"),
}


def bin_labels_pdf(locations: Sequence[Location], barcodes: Mapping[int, str], *,
                   title: str | None = None, compress: bool = True) -> bytes:
    """Return an A4 PDF with one label per bin, in the order given, 24 to a page.

    Each label shows the bin code in large type, its warehouse and kind, and a Code 128
    barcode of ``barcodes[location.id]`` (the bare code, or ``WH/CODE`` where the bare code is
    not unique: see :func:`erp.warehouse.queries.bin_barcode_values`).

    :param compress: off gives readable content streams (tests look for the codes in them).
    """
    fonts.register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, pageCompression=1 if compress else 0,
                    invariant=0 if compress else 1)
    canvas.setTitle(title or _("Bin labels"))
    canvas.setAuthor("erp")
    for index, location in enumerate(locations):
        slot = index % LABELS_PER_PAGE
        if index and slot == 0:
            canvas.showPage()
        column, row = slot % LABEL_COLUMNS, slot // LABEL_COLUMNS
        x = column * LABEL_WIDTH
        y = A4[1] - (row + 1) * LABEL_HEIGHT
        _draw_label(canvas, location, barcodes.get(location.id, location.label), x, y)
    if not locations:
        fonts.draw_string(canvas, 20 * mm, A4[1] - 25 * mm, _("No bins were selected."), 11)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _draw_label(canvas: Canvas, location: Location, barcode: str, x: float, y: float) -> None:
    inner = LABEL_WIDTH - 2 * _PAD
    top = y + LABEL_HEIGHT - _PAD
    warehouse = location.warehouse.code if location.warehouse else ""
    kind = str(KIND_LABELS.get(location.kind, location.kind.value)).upper()
    kind_size = fonts.fit_size(kind, 7.5, inner / 2 - 1 * mm)
    kind_width = fonts.string_width(kind, kind_size)
    fonts.draw_string(canvas, x + _PAD, top - 7, warehouse, 7.5,
                      max_width=inner - kind_width - 2 * mm)
    fonts.draw_string(canvas, x + LABEL_WIDTH - _PAD, top - 7, kind, kind_size, align="right")
    size = fonts.fit_size(location.code, 20.0, inner, bold=True, min_size=8)
    fonts.draw_string(canvas, x + LABEL_WIDTH / 2, top - 9 - size, location.code, size,
                      bold=True, align="centre", max_width=inner)
    # Centred, so the bars keep a quiet zone of at least the padding on both sides.
    bars = Barcode128(barcode, width=inner, height=10 * mm, font_size=7)
    bars.drawOn(canvas, x + (LABEL_WIDTH - bars.width) / 2, y + _PAD - 1)
