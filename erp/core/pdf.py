"""PDF helpers on reportlab: page templates with the company header, tables, Code 128 barcodes.

Domain ``documents.py`` modules build their documents from these pieces and return bytes; nothing
here touches the database or the request.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

from reportlab.graphics.barcode import code128
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

LABEL_100x150 = (100 * mm, 150 * mm)
STYLES = getSampleStyleSheet()
SMALL = ParagraphStyle("small", parent=STYLES["Normal"], fontSize=8, leading=10)
NORMAL = ParagraphStyle("normal", parent=STYLES["Normal"], fontSize=9.5, leading=12)
TITLE = ParagraphStyle("title", parent=STYLES["Heading1"], fontSize=16, leading=20,
                       spaceAfter=4)


def text(value) -> str:
    """Escape a value for a reportlab Paragraph (which parses a small XML dialect)."""
    return (str(value if value is not None else "").replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


class Barcode128(Flowable):
    """A Code 128 barcode with its human-readable text underneath."""

    def __init__(self, value: str, *, width: float = 60 * mm, height: float = 14 * mm,
                 show_text: bool = True, font_size: float = 8):
        super().__init__()
        self.value = str(value)
        self.bar_height = height
        self.show_text = show_text
        self.font_size = font_size
        self.barcode = code128.Code128(self.value, barHeight=height, barWidth=0.33 * mm,
                                       humanReadable=False, quiet=False)
        if self.barcode.width > width:  # shrink the module width to fit
            self.barcode = code128.Code128(self.value, barHeight=height,
                                           barWidth=0.33 * mm * width / self.barcode.width,
                                           humanReadable=False, quiet=False)
        self.width = self.barcode.width
        self.height = height + (font_size + 2 if show_text else 0)

    def wrap(self, avail_width, avail_height):
        """Report the barcode's size to the layout."""
        return self.width, self.height

    def draw(self):
        """Draw the bars and the text."""
        offset = self.font_size + 2 if self.show_text else 0
        self.barcode.drawOn(self.canv, 0, offset)
        if self.show_text:
            self.canv.setFont("Helvetica", self.font_size)
            self.canv.drawCentredString(self.width / 2, 0, self.value)


def draw_code128(canvas, value: str, x: float, y: float, *, width: float, height: float,
                 show_text: bool = True, font_size: float = 8) -> None:
    """Draw a Code 128 barcode at ``(x, y)`` on a canvas (for labels drawn without flowables)."""
    Barcode128(value, width=width, height=height, show_text=show_text,
               font_size=font_size).drawOn(canvas, x, y)


def grid_table(rows: Sequence[Sequence], *, col_widths: Sequence[float] | None = None,
               header: bool = True, align_right: Sequence[int] = (),
               font_size: float = 8.5) -> Table:
    """Return a table with a grey header row, thin grid, repeated header on each page."""
    table = Table([list(r) for r in rows], colWidths=col_widths, repeatRows=1 if header else 0)
    style = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", font_size),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8ebf0")),
                  ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", font_size)]
    for col in align_right:
        style.append(("ALIGN", (col, 0), (col, -1), "RIGHT"))
    table.setStyle(TableStyle(style))
    return table


def a4_document(story: list, *, title: str, company: str, subtitle: str = "") -> bytes:
    """Render an A4 document and return the PDF bytes.

    Every page carries the company and title at the top, the print time and page at the bottom.
    """
    buffer = io.BytesIO()
    printed = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")

    def decorate(canvas, doc):
        canvas.saveState()
        width, height = A4
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(15 * mm, height - 10 * mm, company)
        canvas.setFont("Helvetica", 9)
        canvas.drawRightString(width - 15 * mm, height - 10 * mm, title)
        canvas.setFont("Helvetica", 7.5)
        canvas.drawString(15 * mm, 8 * mm, f"Printed {printed}")
        canvas.drawRightString(width - 15 * mm, 8 * mm, f"Page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(buffer, pagesize=A4, title=title, author=company,
                            leftMargin=15 * mm, rightMargin=15 * mm, topMargin=16 * mm,
                            bottomMargin=14 * mm)
    head = [Paragraph(text(title), TITLE)]
    if subtitle:
        head.append(Paragraph(text(subtitle), NORMAL))
    head.append(Spacer(1, 4 * mm))
    doc.build(head + story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()
