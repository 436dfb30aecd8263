"""Carton labels of a transfer between warehouses: one 100 x 150 mm label per carton.

Each label names the transfer, where it goes from and to (warehouse code, name and address),
"carton n of N", and carries a Code 128 barcode of the transfer number, which the receiving
screen of the destination accepts. The few words are in the language of the person printing
(the labels travel between the company's own warehouses).
"""

from __future__ import annotations

import io

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from erp.core import fonts
from erp.core.i18n import _
from erp.core.pdf import Barcode128
from erp.warehouse.models import TransferOrder, Warehouse

LABEL_SIZE = (100 * mm, 150 * mm)
_PAD = 6 * mm


def carton_labels_pdf(transfer: TransferOrder, *, compress: bool = True) -> bytes:
    """Return a PDF with one label per carton of ``transfer`` (one label if none is set).

    :param compress: off gives readable content streams (tests look for the words in them).
    """
    fonts.register_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LABEL_SIZE, pageCompression=1 if compress else 0,
                    invariant=0 if compress else 1)
    canvas.setTitle(_("Carton labels of transfer %(number)s", number=transfer.number))
    canvas.setAuthor("erp")
    cartons = transfer.cartons or 1
    for carton in range(1, cartons + 1):
        _draw_label(canvas, transfer, carton, cartons)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _warehouse_lines(warehouse: Warehouse) -> list[str]:
    lines = [f"{warehouse.code} · {warehouse.name}"]
    lines += [line.strip() for line in (warehouse.address or "").splitlines() if line.strip()]
    lines.append(warehouse.country)
    return lines[:5]


def _draw_label(canvas: Canvas, transfer: TransferOrder, carton: int, cartons: int) -> None:
    width, height = LABEL_SIZE
    inner = width - 2 * _PAD
    y = height - _PAD - 12
    fonts.draw_string(canvas, _PAD, y, _("Transfer between warehouses"), 10, max_width=inner)
    y -= 24
    size = fonts.fit_size(transfer.number, 22, inner, bold=True, min_size=10)
    fonts.draw_string(canvas, _PAD, y, transfer.number, size, bold=True, max_width=inner)
    for heading, warehouse in ((_("From"), transfer.from_warehouse),
                               (_("To"), transfer.to_warehouse)):
        y -= 22
        fonts.draw_string(canvas, _PAD, y, heading.upper(), 8, max_width=inner)
        for n, line in enumerate(_warehouse_lines(warehouse)):
            y -= 15 if n == 0 else 11
            line_size = fonts.fit_size(line, 12 if n == 0 else 9, inner, bold=n == 0,
                                       min_size=6)
            fonts.draw_string(canvas, _PAD, y, line, line_size, bold=n == 0, max_width=inner)
    y -= 34
    counter = _("Carton %(n)s of %(total)s", n=carton, total=cartons)
    size = fonts.fit_size(counter, 20, inner, bold=True, min_size=10)
    fonts.draw_string(canvas, width / 2, y, counter, size, bold=True, align="centre",
                      max_width=inner)
    details = " · ".join(p for p in (transfer.carrier, transfer.reference) if p)
    if details:
        y -= 16
        fonts.draw_string(canvas, width / 2, y, details, fonts.fit_size(details, 9, inner),
                          align="centre", max_width=inner)
    bars = Barcode128(transfer.number, width=inner, height=22 * mm, font_size=10)
    bars.drawOn(canvas, (width - bars.width) / 2, _PAD)
