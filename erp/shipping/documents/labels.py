"""Parcel labels: 100 x 150 mm pages in the UPU layout, one per parcel, with the CN22 block.

Labels are drawn straight on the canvas (no Platypus) for speed: the static frame of the page
(borders, captions, the sender block) is drawn once per PDF as a form XObject and reused on every
page, fonts are registered once per process, and the font of each piece of text is cached.
The IOSS number is never printed on a label (reference, section 4): it goes in the electronic
data and on the commercial invoice only.

The helpers at the top (sender, addressee lines, country names, parcel counts) are shared with
the A4 customs documents and the packing slip.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache

import pycountry
from reportlab.graphics.barcode import code128
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.pdf import LABEL_100x150
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsForm, Parcel, ParcelState, ShippingService

PAGE_W, PAGE_H = LABEL_100x150
MARGIN = 3 * mm
INNER_W = PAGE_W - 2 * MARGIN
BAR_WIDTH = 0.33 * mm        # the postal recommendation (0.25 to 0.51 mm)
BAR_HEIGHT = 14 * mm         # at least 12.5 mm recommended
CATEGORIES = (("gift", "Gift"), ("documents", "Documents"),
              ("commercial_sample", "Commercial sample"), ("returned_goods", "Returned goods"),
              ("sale_of_goods", "Sale of goods"), ("other", "Other"))
CERTIFICATION = ("I certify that the particulars given in this declaration are correct and that "
                 "this item does not contain any dangerous article prohibited by legislation or "
                 "by postal or customs regulations.")


# --------------------------------------------------------------------------- shared helpers

@dataclass(frozen=True)
class Sender:
    """The retailer printed as sender / exporter (from the company settings)."""

    name: str
    address_lines: tuple[str, ...]
    country: str  # ISO code

    @property
    def country_name(self) -> str:
        """Return the sender's country in English capitals."""
        return country_name(self.country)


def sender() -> Sender:
    """Return the sender from the settings (company_name, company_address, company_country)."""
    address = core_settings.get("company_address") or ""
    return Sender(name=core_settings.get("company_name") or "",
                  address_lines=tuple(p.strip() for p in address.splitlines() if p.strip()),
                  country=(core_settings.get("company_country") or "").upper())


@lru_cache(maxsize=512)
def country_name(code: str | None) -> str:
    """Return the English country name in capitals (``DE`` -> ``GERMANY``); the code if unknown."""
    if not code:
        return ""
    country = pycountry.countries.get(alpha_2=code.upper())
    if country is None:
        return code.upper()
    return (getattr(country, "common_name", None) or country.name).upper()


def addressee_lines(order) -> list[str]:
    """Return the delivery address lines: name, street lines, city/region/postcode, COUNTRY.

    The country is the last line, in English capitals, as postal operators expect.
    """
    lines = [order.ship_name, order.address1]
    if order.address2:
        lines.append(order.address2)
    place = " ".join(p for p in (order.city, order.region, order.postal_code) if p)
    if place:
        lines.append(place)
    lines.append(country_name(order.country))
    return [line for line in lines if line]


def parcel_counts(parcels: Sequence[Parcel]) -> dict[int, int]:
    """Return ``{order_id: number of parcels not voided}`` for the parcels' orders (one query)."""
    order_ids = {p.order_id for p in parcels}
    if not order_ids:
        return {}
    counts: dict[int, int] = {}
    ids = sorted(order_ids)
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        counts.update(db.session.execute(
            select(Parcel.order_id, func.count()).where(Parcel.order_id.in_(chunk),
                                                        Parcel.state != ParcelState.voided)
            .group_by(Parcel.order_id)).all())
    return counts


def load_parcels(ids: Iterable[int]) -> list[Parcel]:
    """Return the parcels with ``ids`` (in that order) with everything the documents print."""
    ids = list(ids)
    if not ids:
        return []
    found: dict[int, Parcel] = {}
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        stmt = (select(Parcel).where(Parcel.id.in_(chunk))
                .options(joinedload(Parcel.order),
                         joinedload(Parcel.service).joinedload(ShippingService.carrier),
                         selectinload(Parcel.lines)))
        found.update((p.id, p) for p in db.session.scalars(stmt).unique())
    return [found[i] for i in ids if i in found]


def kg(grams: int | None) -> str:
    """Format grams as kilograms with three decimals (``450`` -> ``0.450``)."""
    return f"{Decimal(grams or 0) / 1000:.3f}"


def money(value: Decimal | None) -> str:
    """Format an amount with two decimals and thousands separators."""
    return f"{Decimal(value or 0):,.2f}"


def posting_date(parcel: Parcel) -> date:
    """Return the date the parcel was labelled (or today)."""
    when = parcel.labelled_at or parcel.packed_at
    return (when or datetime.now(UTC)).date()


def parcel_of(parcel: Parcel, counts: dict[int, int]) -> str:
    """Return ``n/N`` when the order has several parcels, else an empty string."""
    total = max(counts.get(parcel.order_id, 1), parcel.sequence or 1)
    return f"{parcel.sequence}/{total}" if total > 1 else ""


def missing_glyphs(parcels: Iterable[Parcel]) -> dict[str, set[str]]:
    """Return ``{parcel number: characters no font can print}`` for the parcels' addressees.

    Callers can warn before printing: such characters come out as ``?``.
    """
    out = {}
    for parcel in parcels:
        order = parcel.order
        text = "".join(str(v or "") for v in (order.ship_name, order.address1, order.address2,
                                              order.city, order.region, order.postal_code))
        found = fonts.missing_glyphs(text)
        if found:
            out[parcel.number] = found
    return out


# --------------------------------------------------------------------------- the label

# Vertical layout (points from the bottom of the page).
TOP = PAGE_H - MARGIN
HEADER_BOTTOM = TOP - 13 * mm
SENDER_BOTTOM = HEADER_BOTTOM - 19 * mm
ADDRESS_BOTTOM = SENDER_BOTTOM - 36 * mm
BARCODE_BOTTOM = ADDRESS_BOTTOM - 24 * mm
INFO_BOTTOM = BARCODE_BOTTOM - 11 * mm
BOTTOM = MARGIN
FRAME = "erp_label_frame"
CN22_FRAME = "erp_label_cn22"

# CN22 table columns (x offsets from the left margin).
CN22_COLS = (0, 40 * mm, 54 * mm, 68 * mm, 84 * mm)


def _draw_frame(canvas: Canvas, who: Sender) -> None:
    """Draw the parts every label shares (borders, captions, the sender) as a form."""
    canvas.beginForm(FRAME)
    canvas.setLineWidth(0.8)
    canvas.rect(MARGIN, BOTTOM, INNER_W, TOP - BOTTOM)
    canvas.setLineWidth(0.5)
    for y in (HEADER_BOTTOM, SENDER_BOTTOM, ADDRESS_BOTTOM, BARCODE_BOTTOM, INFO_BOTTOM):
        canvas.line(MARGIN, y, PAGE_W - MARGIN, y)
    # logo area at the top right
    canvas.rect(PAGE_W - MARGIN - 26 * mm, HEADER_BOTTOM + 1.5 * mm, 24.5 * mm, 10 * mm)
    canvas.setFont("Helvetica-Bold", 6)
    canvas.drawString(MARGIN + 1.5 * mm, HEADER_BOTTOM - 3 * mm, "FROM:")
    canvas.drawString(MARGIN + 1.5 * mm, SENDER_BOTTOM - 3 * mm, "TO:")
    y = HEADER_BOTTOM - 5.5 * mm
    fonts.draw_string(canvas, MARGIN + 10 * mm, y, who.name, 8, bold=True,
                      max_width=INNER_W - 12 * mm)
    country = {who.country.upper(), who.country_name.upper()}
    address = [line for line in who.address_lines if line.strip().upper() not in country]
    if len(address) > 3:  # never cut: join the rest onto the third line (shrunk to fit)
        address = address[:2] + [", ".join(address[2:])]
    for line in address:
        y -= 2.8 * mm
        fonts.draw_string(canvas, MARGIN + 10 * mm, y, line, 7, max_width=INNER_W - 12 * mm)
    y -= 2.8 * mm
    fonts.draw_string(canvas, MARGIN + 10 * mm, y, who.country_name, 7, bold=True)
    canvas.setFont("Helvetica", 6)
    x = MARGIN + 1.5 * mm
    for caption in ("Weight", "Order", "Parcel", "Parcel no."):
        canvas.drawString(x, INFO_BOTTOM + 7.5 * mm, caption)
        x += INNER_W / 4
    canvas.endForm()

    canvas.beginForm(CN22_FRAME)
    top = INFO_BOTTOM
    canvas.setFont("Helvetica-Bold", 8)
    canvas.drawString(MARGIN + 1.5 * mm, top - 4 * mm, "CUSTOMS DECLARATION  CN 22")
    canvas.setFont("Helvetica", 6)
    canvas.drawRightString(PAGE_W - MARGIN - 1.5 * mm, top - 4 * mm, "May be opened officially")
    x, y = MARGIN + 1.5 * mm, top - 8 * mm
    for n, (_key, caption) in enumerate(CATEGORIES):
        if n == 3:
            x, y = MARGIN + 1.5 * mm, y - 3.5 * mm
        canvas.rect(x, y - 0.3 * mm, 2.4 * mm, 2.4 * mm)
        canvas.drawString(x + 3.2 * mm, y, caption)
        x += 31 * mm
    y -= 5 * mm
    heads = ("Quantity and detailed description", "Weight (kg)", "Value", "HS tariff no.",
             "Origin")
    canvas.setFont("Helvetica-Bold", 5.5)
    for col, head in zip(CN22_COLS, heads, strict=True):
        canvas.drawString(MARGIN + 1.5 * mm + col, y, head)
    canvas.line(MARGIN, y - 1 * mm, PAGE_W - MARGIN, y - 1 * mm)
    canvas.setFont("Helvetica", 5.2)
    text = canvas.beginText(MARGIN + 1.5 * mm, BOTTOM + 7 * mm)
    text.setFont("Helvetica", 5.2)
    for part in _split(CERTIFICATION, 118):
        text.textLine(part)
    canvas.drawText(text)
    canvas.endForm()


def _split(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def _barcode(canvas: Canvas, number: str, y: float) -> None:
    barcode = code128.Code128(number, barWidth=BAR_WIDTH, barHeight=BAR_HEIGHT,
                              humanReadable=False, quiet=False)
    if barcode.width > INNER_W - 4 * mm:  # a long courier number: narrow bars, still >= 0.25 mm
        width = max(0.25 * mm, BAR_WIDTH * (INNER_W - 4 * mm) / barcode.width)
        barcode = code128.Code128(number, barWidth=width, barHeight=BAR_HEIGHT,
                                  humanReadable=False, quiet=False)
    # The bars as one filled path (about 40 rectangles), much faster than a rect call per bar.
    x = (PAGE_W - barcode.width) / 2
    ops, left, bar = [], x, barcode.barWidth
    for char in barcode.decomposed:
        if "a" <= char <= "z":
            left += (ord(char) - 96) * bar
        elif "A" <= char <= "Z":
            width = (ord(char) - 64) * bar
            ops.append(f"{left:.3f} {y:.3f} {width:.3f} {BAR_HEIGHT:.3f} re")
            left += width
    canvas.addLiteral(" ".join(ops) + " f")


def _cn22(canvas: Canvas, parcel: Parcel, who: Sender) -> None:
    canvas.doForm(CN22_FRAME)
    top = INFO_BOTTOM
    # tick the category
    x, y = MARGIN + 1.5 * mm, top - 8 * mm
    for n, (key, _caption) in enumerate(CATEGORIES):
        if n == 3:
            x, y = MARGIN + 1.5 * mm, y - 3.5 * mm
        if key == (parcel.customs_category or "sale_of_goods"):
            canvas.setFont("Helvetica-Bold", 7)
            canvas.drawString(x + 0.4 * mm, y, "X")
        x += 31 * mm
    y -= 8.5 * mm
    left = MARGIN + 1.5 * mm
    lines = list(parcel.lines)
    room = 6
    shown = lines if len(lines) <= room else lines[:room - 1]
    currency = parcel.currency
    for line in shown:
        fonts.draw_string(canvas, left, y, f"{line.quantity} x {line.description}", 5.8,
                          max_width=CN22_COLS[1] - 1.5 * mm)
        canvas.setFont("Helvetica", 5.8)
        canvas.drawString(left + CN22_COLS[1], y, kg(line.net_weight_g))
        canvas.drawString(left + CN22_COLS[2], y, f"{money(line.value)} {currency}")
        canvas.drawString(left + CN22_COLS[3], y, line.hs_code or "")
        canvas.drawString(left + CN22_COLS[4], y, line.origin_country or "")
        y -= 2.9 * mm
    if len(shown) < len(lines):
        rest = lines[len(shown):]
        canvas.setFont("Helvetica-Oblique", 5.8)
        canvas.drawString(left, y, f"+ {len(rest)} more line(s), "
                                   f"{sum(r.quantity for r in rest)} item(s): see the invoice")
        canvas.setFont("Helvetica", 5.8)
        canvas.drawString(left + CN22_COLS[1], y, kg(sum(r.net_weight_g for r in rest)))
        canvas.drawString(left + CN22_COLS[2], y,
                          f"{money(sum((r.value for r in rest), Decimal(0)))} {currency}")
        y -= 2.9 * mm
    canvas.line(MARGIN, y + 1.8 * mm, PAGE_W - MARGIN, y + 1.8 * mm)
    y -= 0.6 * mm
    canvas.setFont("Helvetica-Bold", 6.2)
    canvas.drawString(left, y, "Total")
    canvas.drawString(left + CN22_COLS[1], y, kg(sum(line.net_weight_g for line in lines)))
    canvas.drawString(left + CN22_COLS[2], y, f"{money(parcel.declared_value)} {currency}")
    canvas.setFont("Helvetica", 6)
    canvas.drawString(left, BOTTOM + 1.8 * mm,
                      f"Date and sender's signature: {posting_date(parcel).isoformat()}")
    fonts.draw_string(canvas, PAGE_W - MARGIN - 1.5 * mm, BOTTOM + 1.8 * mm, who.name, 6,
                      align="right", max_width=INNER_W / 2)


def _no_cn22(canvas: Canvas, parcel: Parcel) -> None:
    note = {CustomsForm.cn23: "CUSTOMS DECLARATION CN 23 ATTACHED",
            CustomsForm.invoice: "COMMERCIAL INVOICE ATTACHED"}.get(parcel.customs_form, "")
    if note:
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawCentredString(PAGE_W / 2, INFO_BOTTOM - 8 * mm, note)
    canvas.setFont("Helvetica", 7)
    lines = list(parcel.lines)
    canvas.drawCentredString(
        PAGE_W / 2, INFO_BOTTOM - 13 * mm,
        f"{sum(line.quantity for line in lines)} item(s), declared value "
        f"{money(parcel.declared_value)} {parcel.currency}")


def _label(canvas: Canvas, parcel: Parcel, who: Sender, counts: dict[int, int]) -> None:
    if not parcel.tracking_number:
        raise ShippingError(f"Parcel {parcel.number} has no tracking number yet: label it "
                            "before printing its label.")
    order = parcel.order
    service = parcel.service
    canvas.doForm(FRAME)
    # header: service and carrier, logo area
    left = MARGIN + 1.5 * mm
    fonts.draw_string(canvas, left, TOP - 5.5 * mm, service.name.upper(), 10, bold=True,
                      max_width=INNER_W - 30 * mm)
    fonts.draw_string(canvas, left, TOP - 10 * mm, service.carrier.name, 7.5,
                      max_width=INNER_W - 30 * mm)
    canvas.setFont("Helvetica-Bold", 9)
    canvas.drawCentredString(PAGE_W - MARGIN - 13.75 * mm, HEADER_BOTTOM + 5.2 * mm,
                             service.carrier.code)
    # addressee
    lines = addressee_lines(order)
    y = SENDER_BOTTOM - 8 * mm
    x = MARGIN + 8 * mm
    width = INNER_W - 10 * mm
    body = lines[:-1]
    size = 10 if len(body) <= 4 else 9
    step = size * 1.2
    for n, line in enumerate(body):
        fonts.draw_string(canvas, x, y, line, size, max_width=width, bold=n == 0)
        y -= step
    fonts.draw_string(canvas, x, ADDRESS_BOTTOM + 6 * mm, lines[-1], 12, bold=True,
                      max_width=width)
    if order.phone:
        fonts.draw_string(canvas, x, ADDRESS_BOTTOM + 1.8 * mm, f"Tel. {order.phone}", 7,
                          max_width=width)
    # tracking barcode and the number below it
    _barcode(canvas, parcel.tracking_number, BARCODE_BOTTOM + 6.5 * mm)
    canvas.setFont("Helvetica-Bold", 10)
    canvas.drawCentredString(PAGE_W / 2, BARCODE_BOTTOM + 2 * mm, _spaced(parcel.tracking_number))
    # weight, order reference, n/N, parcel number
    x = left
    canvas.setFont("Helvetica-Bold", 8.5)
    for value in (f"{kg(parcel.weight_g)} kg", order.number, parcel_of(parcel, counts) or "1/1",
                  parcel.number):
        fonts.draw_string(canvas, x, INFO_BOTTOM + 2.5 * mm, value, 8.5, bold=True,
                          max_width=INNER_W / 4 - 2 * mm)
        x += INNER_W / 4
    if parcel.customs_form == CustomsForm.cn22:
        _cn22(canvas, parcel, who)
    else:
        _no_cn22(canvas, parcel)


def _spaced(number: str) -> str:
    """Group an S10 number for reading: ``RR 1234 5678 5 CN``."""
    if len(number) == 13 and number[:2].isalpha() and number[2:11].isdigit():
        return f"{number[:2]} {number[2:6]} {number[6:10]} {number[10]} {number[11:]}"
    return number


def label_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one PDF with a 100 x 150 mm label page per parcel.

    :raises ShippingError: if a parcel has no tracking number yet (not labelled).
    """
    fonts.register_fonts()
    parcels = list(parcels)
    who = sender()
    counts = parcel_counts(parcels)
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=LABEL_100x150, pageCompression=0,
                    initialFontName="Helvetica")
    canvas.setTitle("Parcel labels" if len(parcels) != 1 else f"Label {parcels[0].number}")
    canvas.setAuthor(who.name)
    _draw_frame(canvas, who)
    for parcel in parcels:
        _label(canvas, parcel, who, counts)
        canvas.showPage()
    if not parcels:
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def wave_parcels(wave_id: int) -> list[Parcel]:
    """Return the labelled, not voided parcels of a pick wave's orders (by order slot)."""
    from erp.shipping.models import PickWaveOrder

    stmt = (select(Parcel.id).join(PickWaveOrder, PickWaveOrder.order_id == Parcel.order_id)
            .where(PickWaveOrder.wave_id == wave_id, Parcel.state != ParcelState.voided,
                   Parcel.tracking_number.is_not(None))
            .order_by(PickWaveOrder.slot, Parcel.sequence, Parcel.id))
    return load_parcels(db.session.scalars(stmt))


def batch_parcels(batch_id: int) -> list[Parcel]:
    """Return the not voided parcels of a dispatch batch, in the order they were added."""
    stmt = (select(Parcel.id).where(Parcel.batch_id == batch_id,
                                    Parcel.state != ParcelState.voided).order_by(Parcel.id))
    return load_parcels(db.session.scalars(stmt))
