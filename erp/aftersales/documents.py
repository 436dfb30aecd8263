"""After-sales documents: the return authorisation (A4) and the return label (100 x 150 mm).

Both carry the RMA number as text and as a Code 128 barcode, which the warehouse scans when the
parcel arrives. The return address is the ``returns_address`` setting, else the company address.
Customer names and addresses are printed in the fonts that cover their script.

A return crossing a border again is declared as "returned goods" on the CN22/CN23 so the
customer (or we, as importer) are not charged duty twice (reference, section 9).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import AfterSalesCase, CaseState
from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.pdf import (
    NORMAL,
    SMALL,
    TITLE,
    Barcode128,
    LABEL_100x150,
    a4_document,
    draw_code128,
    grid_table,
    text,
)
from erp.shipping.documents.labels import addressee_lines, country_name, sender

#: at least this many days to send the goods back once authorised
MIN_DAYS_TO_RETURN = 14


def return_address_lines() -> list[str]:
    """Return the lines of the address returns go to (the setting, else the company's)."""
    configured = core_settings.get("returns_address") or ""
    lines = [line.strip() for line in configured.splitlines() if line.strip()]
    if lines:
        return lines
    who = sender()
    return [line for line in (who.name, *who.address_lines, who.country_name) if line]


def customer_lines(case: AfterSalesCase) -> list[str]:
    """Return the customer's name and address (the contact's name, the order's address)."""
    lines = addressee_lines(case.order)
    if case.contact_name and lines:
        lines[0] = case.contact_name
    return lines


def return_deadline(case: AfterSalesCase) -> datetime:
    """Return the date the goods must be sent back by.

    The end of the return window (from the order's dispatch), but never fewer than
    :data:`MIN_DAYS_TO_RETURN` days after the case was opened.
    """
    from erp.aftersales.services.cases import return_window_ends

    floor = case.opened_at + timedelta(days=MIN_DAYS_TO_RETURN)
    window = return_window_ends(case.order)
    return max(window, floor) if window is not None else floor


def _describe(sku) -> str:
    if sku is None:
        return ""
    name = sku.product.name if sku.product is not None else ""
    variant = " / ".join(v for v in (sku.colour, sku.size) if v)
    return f"{name} ({variant})" if variant else name


def _check(case: AfterSalesCase) -> None:
    if not case.expects_return:
        raise AfterSalesError(f"{case.number} expects no goods back: it has no return "
                              "authorisation.")
    if CaseState(case.state) == CaseState.rejected or case.rejection_reason:
        raise AfterSalesError(f"{case.number} was rejected: no return is authorised.")


def _address_block(title: str, lines: list[str]) -> list:
    return [Paragraph(f"<b>{text(title)}</b>", SMALL),
            *[Paragraph(fonts.markup(line), NORMAL) for line in lines]]


def return_authorisation_pdf(case: AfterSalesCase) -> bytes:
    """Return the A4 return authorisation of a case whose goods come back.

    :raises AfterSalesError: the case type expects no return.
    """
    _check(case)
    fonts.register_fonts()
    company = sender().name
    deadline = return_deadline(case).strftime("%Y-%m-%d")
    story: list = [
        Paragraph(f"Return authorisation {text(case.number)}", TITLE),
        Paragraph(f"Order {text(case.order.number)} &middot; opened "
                  f"{case.opened_at:%Y-%m-%d}", NORMAL),
        Spacer(1, 3 * mm),
        Barcode128(case.number, width=80 * mm, height=16 * mm, font_size=10),
        Spacer(1, 5 * mm),
    ]
    addresses = Table([[_address_block("Send the parcel to", return_address_lines()),
                        _address_block("From (customer)", customer_lines(case))]],
                      colWidths=[90 * mm, 90 * mm])
    addresses.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                                   ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story += [addresses, Spacer(1, 5 * mm), Paragraph("<b>Items to return</b>", NORMAL),
              Spacer(1, 1 * mm)]
    rows: list[list] = [["#", "SKU", "Description", "Qty"]]
    for n, line in enumerate(case.lines, start=1):
        rows.append([str(n), line.sku.code, Paragraph(fonts.markup(_describe(line.sku)), SMALL),
                     str(line.quantity)])
    story.append(grid_table(rows, col_widths=[10 * mm, 45 * mm, 105 * mm, 20 * mm],
                            align_right=(3,)))
    units = sum(line.quantity for line in case.lines)
    instructions = [
        f"Write the return number <b>{text(case.number)}</b> clearly on the outside of the "
        "parcel, or stick the return label on it, and put this page inside.",
        f"Send the {units} item(s) above by <b>{deadline}</b>. Parcels arriving without the "
        "return number may be delayed.",
        "If the parcel crosses a border, declare it as <b>\"Returned goods\"</b> on the customs "
        "declaration (CN22/CN23), with the same description and value as on the original "
        "shipment, so that no duty or tax is charged twice.",
        "Keep the receipt and tracking number of your parcel until your case is settled.",
    ]
    story += [Spacer(1, 5 * mm), Paragraph("<b>How to return the goods</b>", NORMAL)]
    story += [Paragraph(f"{n}. {line}", NORMAL) for n, line in enumerate(instructions, 1)]
    return a4_document(story, title="Return authorisation", company=company)


def return_label_pdf(case: AfterSalesCase) -> bytes:
    """Return a 100 x 150 mm return label: from the customer to the returns address, RMA code.

    :raises AfterSalesError: the case type expects no return.
    """
    _check(case)
    fonts.register_fonts()
    width, height = LABEL_100x150
    margin = 4 * mm
    inner = width - 2 * margin
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LABEL_100x150)
    canvas.setTitle(f"Return label {case.number}")
    canvas.setLineWidth(0.6)
    canvas.rect(margin / 2, margin / 2, width - margin, height - margin)

    y = height - margin - 4 * mm
    fonts.draw_string(canvas, margin, y, "RETURN", 14, bold=True)
    fonts.draw_string(canvas, width - margin, y, "RETURNED GOODS", 9, bold=True, align="right")
    y -= 8 * mm

    fonts.draw_string(canvas, margin, y, "FROM", 7, bold=True)
    y -= 4 * mm
    for line in customer_lines(case)[:6]:
        for part in fonts.wrap(line, 8.5, inner)[:2]:
            fonts.draw_string(canvas, margin, y, part, 8.5, max_width=inner)
            y -= 3.8 * mm
    y -= 3 * mm
    canvas.line(margin, y + 1.5 * mm, width - margin, y + 1.5 * mm)
    y -= 3 * mm

    fonts.draw_string(canvas, margin, y, "TO", 7, bold=True)
    y -= 5.5 * mm
    for line in return_address_lines()[:7]:
        for part in fonts.wrap(line, 11, inner)[:2]:
            fonts.draw_string(canvas, margin, y, part, 11, max_width=inner, bold=True)
            y -= 5 * mm

    # the RMA barcode at the bottom
    bar_y = margin + 12 * mm
    draw_code128(canvas, case.number, margin + 4 * mm, bar_y, width=inner - 8 * mm,
                 height=18 * mm, font_size=10)
    fonts.draw_string(canvas, width / 2, bar_y + 23 * mm, f"RMA {case.number}", 12, bold=True,
                      align="centre")
    foot = f"Order {case.order.number}"
    if case.return_tracking:
        foot += f" · return tracking {case.return_tracking}"
    fonts.draw_string(canvas, width / 2, margin + 3 * mm, foot, 7, align="centre",
                      max_width=inner)
    country = country_name(case.order.country)
    if country:
        fonts.draw_string(canvas, width - margin, margin + 7 * mm, f"from {country}", 6.5,
                          align="right")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
