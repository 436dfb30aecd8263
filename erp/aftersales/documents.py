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
from reportlab.platypus import Spacer

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import AfterSalesCase, CaseState
from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.addresses import free_address, order_address
from erp.core.i18n import _
from erp.core.pdf import (
    A4_INNER_WIDTH,
    Barcode128,
    Heading,
    LABEL_100x150,
    Text,
    a4_document,
    block,
    boxes,
    data_table,
    draw_lines,
    in_english,
)
from erp.shipping.documents.labels import sender

#: at least this many days to send the goods back once authorised
MIN_DAYS_TO_RETURN = 14


def return_address_lines() -> list[str]:
    """Return the lines of the address returns go to (the setting, else the company's).

    The lines are printed as typed; a last line naming a country gives the country (else the
    company's), printed once, last, in English capitals.
    """
    configured = core_settings.get("returns_address") or ""
    lines = [line.strip() for line in configured.splitlines() if line.strip()]
    who = sender()
    if lines:
        return free_address(lines, who.country)[0]
    return who.lines()


def customer_lines(case: AfterSalesCase) -> list[str]:
    """Return the customer's name and address (the contact's name, the order's address)."""
    return order_address(case.order, name=case.contact_name or None)


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
        raise AfterSalesError(_("%(number)s expects no goods back: it has no return "
                                "authorisation.", number=case.number))
    if CaseState(case.state) == CaseState.rejected or case.rejection_reason:
        raise AfterSalesError(_("%(number)s was rejected: no return is authorised.",
                                number=case.number))


def _customer_name(case: AfterSalesCase) -> str:
    return case.contact_name or case.order.ship_name or ""


@in_english
def return_authorisation_pdf(case: AfterSalesCase) -> bytes:
    """Return the A4 return authorisation of a case whose goods come back (in English).

    :raises AfterSalesError: the case type expects no return.
    """
    _check(case)
    fonts.register_fonts()
    company = sender().name
    deadline = return_deadline(case).strftime("%Y-%m-%d")
    story: list = [
        Heading(f"Return authorisation {case.number}"),
        Text(f"Order {case.order.number} · opened {case.opened_at:%Y-%m-%d}", 9.5),
        Spacer(1, 3 * mm),
        Barcode128(case.number, width=80 * mm, height=16 * mm, font_size=10),
        Spacer(1, 5 * mm),
        boxes([block("Send the parcel to", return_address_lines(), size=9.5,
                     bold_first=True),
               block("From (customer)", customer_lines(case), size=9.5,
                     bold_line=_customer_name(case))], [A4_INNER_WIDTH / 2] * 2),
        Spacer(1, 5 * mm), Text("Items to return", 10, bold=True, space_after=1 * mm)]
    rows: list[list] = [["#", "SKU", "Description", "Qty"]]
    for n, line in enumerate(case.lines, start=1):
        rows.append([str(n), line.sku.code, _describe(line.sku), str(line.quantity)])
    story.append(data_table(rows, widths=[10 * mm, 50 * mm, 100 * mm, 20 * mm],
                            align_right=(0, 3)))
    units = sum(line.quantity for line in case.lines)
    instructions = [
        [("Write the return number ", False), (case.number, True),
         (" clearly on the outside of the parcel, or stick the return label on it, and put "
          "this page inside.", False)],
        [(f"Send the {units} {'item' if units == 1 else 'items'} above by ", False),
         (deadline, True), (". Parcels arriving without the return number may be delayed.",
                            False)],
        [("If the parcel crosses a border, declare it as ", False), ('"Returned goods"', True),
         (" on the customs declaration (CN22/CN23), with the same description and value as on "
          "the original shipment, so that no duty or tax is charged twice.", False)],
        [("Keep the receipt and tracking number of your parcel until your case is settled.",
          False)],
    ]
    story += [Spacer(1, 5 * mm), Text("How to return the goods", 10, bold=True,
                                      space_after=1 * mm)]
    story += [Text([(f"{n}. ", False), *line], 9.5, space_after=1 * mm)
              for n, line in enumerate(instructions, 1)]
    return a4_document(story, title="Return authorisation", company=company, heading=False)


@in_english
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

    # the RMA barcode at the bottom, the addresses above it
    bar_y = margin + 12 * mm
    rma_y = bar_y + 24.5 * mm
    fonts.draw_string(canvas, margin, y, "FROM", 7, bold=True)
    y -= 2 * mm
    customer = customer_lines(case)
    room = (y - rma_y) * 0.42  # the customer's address gets about two fifths of the room
    last = draw_lines(canvas, customer, margin, y, y - room, inner, 8.5,
                      bold_line=_customer_name(case))
    y = last - 4.5 * mm
    canvas.line(margin, y + 1.5 * mm, width - margin, y + 1.5 * mm)
    y -= 3 * mm
    fonts.draw_string(canvas, margin, y, "TO", 7, bold=True)
    y -= 2 * mm
    draw_lines(canvas, return_address_lines(), margin, y, rma_y + 6 * mm, inner, 11,
               bold=True)
    bars = Barcode128(case.number, width=inner - 8 * mm, height=18 * mm, font_size=10)
    bars.drawOn(canvas, (width - bars.width) / 2, bar_y)
    fonts.draw_string(canvas, width / 2, rma_y, f"RMA {case.number}", 12, bold=True,
                      align="centre", max_width=inner)
    foot = f"Order {case.order.number}"
    if case.return_tracking:
        foot += f" · return tracking {case.return_tracking}"
    fonts.draw_string(canvas, width / 2, margin + 3 * mm, foot, 7, align="centre",
                      max_width=inner)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()
