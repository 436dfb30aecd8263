"""Parcel labels: 100 x 150 mm pages in the UPU layout, one per parcel, with the CN22 block.

Labels are drawn straight on the canvas (no Platypus) for speed: the static frame of the page
(borders, captions, the sender block, the CN22 captions and certification) is drawn once per PDF
as a form XObject and reused on every page, fonts are registered once per process, and the font
of each piece of text is cached. The IOSS number is never printed on a label (reference,
section 4): it goes in the electronic data and on the commercial invoice only.

Labels go abroad to carriers and customs: they are printed in English whatever the reader's
language (:func:`erp.core.pdf.in_english`). Addresses are printed in the destination country's
format (:mod:`erp.core.addresses`).

The helpers at the top (sender, addressee lines, country names, parcel counts) are shared with
the A4 customs documents and the packing slip.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from reportlab.graphics.barcode import code128
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.addresses import country_name, country_of, free_address, order_address
from erp.core.i18n import _
from erp.core.money import format_money
from erp.core.pdf import LABEL_100x150, draw_lines, in_english
from erp.extensions import db
from erp.shipping.errors import ShippingError
from erp.shipping.models import CustomsForm, Parcel, ParcelLabel, ParcelState, ShippingService

__all__ = ["CATEGORIES", "CERTIFICATION", "Sender", "addressee_lines", "batch_parcels",
           "carrier_labels", "country_name", "kg", "label_pdf", "load_parcels",
           "missing_glyphs", "money",
           "parcel_counts", "parcel_of", "posting_date", "sender", "wave_parcels"]

PAGE_W, PAGE_H = LABEL_100x150
MARGIN = 3 * mm
INNER_W = PAGE_W - 2 * MARGIN
PAD = 1.5 * mm               # text keeps this far from the frame's lines
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

    def lines(self, *, with_name: bool = True) -> list[str]:
        """Return the sender's address as printed: the typed lines, the country once, last."""
        lines, _country = free_address(self.address_lines, self.country,
                                       name=self.name if with_name else None)
        return lines


def sender() -> Sender:
    """Return the sender from the settings (company_name, company_address, company_country).

    Without a company_country, a last address line naming a country (``China``) gives it.
    """
    address = core_settings.get("company_address") or ""
    lines = tuple(p.strip() for p in address.splitlines() if p.strip())
    country = (core_settings.get("company_country") or "").upper()
    if not country and lines:
        country = country_of(lines[-1]) or ""
    return Sender(name=core_settings.get("company_name") or "", address_lines=lines,
                  country=country)


def addressee_lines(order) -> list[str]:
    """Return the delivery address lines in the destination country's format.

    See :func:`erp.core.addresses.format_address`: the country is the last line, once, in
    English capitals, as postal operators expect.
    """
    return order_address(order)


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


def money(value: Decimal | None, currency: str | None = None) -> str:
    """Format an amount with its currency's decimals (``86.90 GBP``, ``4,800 JPY``)."""
    return format_money(Decimal(value or 0), currency)


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
SENDER_BOTTOM = HEADER_BOTTOM - 18 * mm
ADDRESS_BOTTOM = SENDER_BOTTOM - 33 * mm
BARCODE_BOTTOM = ADDRESS_BOTTOM - 22 * mm
INFO_BOTTOM = BARCODE_BOTTOM - 11 * mm
BOTTOM = MARGIN
LEFT = MARGIN + PAD
RIGHT = PAGE_W - MARGIN - PAD
FRAME = "erp_label_frame"
CN22_FRAME = "erp_label_cn22"
LOGO_W = 24.5 * mm
# the info row: (caption, width) of weight, order, parcel n/N, parcel number
INFO_COLUMNS = (("Weight", 19 * mm), ("Order", 29 * mm), ("Parcel", 12 * mm),
                ("Parcel no.", INNER_W - 60 * mm))

# CN22 block: the captions' and columns' positions and sizes
CN22_SIZE = 6.0                   # the smallest legible size, also of the certification
CN22_STEP = 7.4                   # line pitch of the articles
CN22_TITLE_Y = INFO_BOTTOM - 4.2 * mm
CN22_CATEGORY_Y = (INFO_BOTTOM - 8.2 * mm, INFO_BOTTOM - 11.8 * mm)
CN22_CATEGORY_X = (0, 30 * mm, 60 * mm)
CN22_TICK = 2.8 * mm
CN22_HEAD_Y = INFO_BOTTOM - 16.2 * mm
# columns: description, net weight, value, HS tariff number, origin (x from LEFT, width)
CN22_COLS = ((0, 37 * mm), (38 * mm, 13 * mm), (52 * mm, 16 * mm), (69 * mm, 14 * mm),
             (84 * mm, RIGHT - LEFT - 84 * mm))
CN22_SIGN_Y = BOTTOM + 2 * mm


def _certification_lines() -> list[str]:
    return fonts.wrap(CERTIFICATION, CN22_SIZE, RIGHT - LEFT)


def _certification_top() -> float:
    """Return the y of the top of the certification (the articles stay above it)."""
    count = len(_certification_lines())
    return CN22_SIGN_Y + 8.5 + (count - 1) * 7 + CN22_SIZE * 0.8


def _draw_frame(canvas: Canvas, who: Sender) -> None:
    """Draw the parts every label shares (borders, captions, the sender) as a form."""
    canvas.beginForm(FRAME)
    canvas.setLineWidth(0.8)
    canvas.rect(MARGIN, BOTTOM, INNER_W, TOP - BOTTOM)
    canvas.setLineWidth(0.5)
    for y in (HEADER_BOTTOM, SENDER_BOTTOM, ADDRESS_BOTTOM, BARCODE_BOTTOM, INFO_BOTTOM):
        canvas.line(MARGIN, y, PAGE_W - MARGIN, y)
    # logo area at the top right
    canvas.rect(PAGE_W - MARGIN - LOGO_W - 1.5 * mm, HEADER_BOTTOM + 1.5 * mm, LOGO_W, 10 * mm)
    fonts.draw_string(canvas, LEFT, HEADER_BOTTOM - 3.2 * mm, "FROM:", 6, bold=True)
    fonts.draw_string(canvas, LEFT, SENDER_BOTTOM - 3.2 * mm, "TO:", 6, bold=True)
    lines = who.lines()
    draw_lines(canvas, lines, LEFT + 8.5 * mm, HEADER_BOTTOM - 2 * mm, SENDER_BOTTOM + 1 * mm,
                RIGHT - LEFT - 8.5 * mm, 7.5, bold_line=who.name, min_size=6)
    x = LEFT
    for caption, width in INFO_COLUMNS:
        fonts.draw_string(canvas, x, INFO_BOTTOM + 7.6 * mm, caption, 6)
        x += width
    canvas.endForm()

    canvas.beginForm(CN22_FRAME)
    fonts.draw_string(canvas, LEFT, CN22_TITLE_Y, "CUSTOMS DECLARATION  CN 22", 8, bold=True)
    fonts.draw_string(canvas, RIGHT, CN22_TITLE_Y, "May be opened officially", 6,
                      align="right")
    for n, (_key, caption) in enumerate(CATEGORIES):
        x, y = LEFT + CN22_CATEGORY_X[n % 3], CN22_CATEGORY_Y[n // 3]
        canvas.rect(x, y - 1 * mm, CN22_TICK, CN22_TICK)
        fonts.draw_string(canvas, x + CN22_TICK + 1 * mm, y, caption, CN22_SIZE)
    heads = ("Quantity and detailed description", "Weight (kg)", "Value",
             "HS tariff no.", "Origin")
    for (x, width), head in zip(CN22_COLS, heads, strict=True):
        fonts.draw_string(canvas, LEFT + x, CN22_HEAD_Y, head, CN22_SIZE, bold=True,
                          max_width=width)
    canvas.line(MARGIN, CN22_HEAD_Y - 1.6 * mm, PAGE_W - MARGIN, CN22_HEAD_Y - 1.6 * mm)
    lines = _certification_lines()
    y = CN22_SIGN_Y + 8.5 + (len(lines) - 1) * 7
    for line in lines:
        fonts.draw_string(canvas, LEFT, y, line, CN22_SIZE)
        y -= 7
    canvas.endForm()


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


def _cn22_row(canvas: Canvas, y: float, values: Sequence[str], *, bold: bool = False) -> None:
    for (x, width), value in zip(CN22_COLS[1:], values, strict=False):
        fonts.draw_string(canvas, LEFT + x, y, value, CN22_SIZE, bold=bold, max_width=width)


def _cn22(canvas: Canvas, parcel: Parcel, who: Sender) -> None:
    canvas.doForm(CN22_FRAME)
    chosen = parcel.customs_category or "sale_of_goods"
    for n, (key, _caption) in enumerate(CATEGORIES):
        if key == chosen:
            x, y = LEFT + CN22_CATEGORY_X[n % 3], CN22_CATEGORY_Y[n // 3]
            fonts.draw_string(canvas, x + CN22_TICK / 2, y - 1 * mm + 0.6 * mm, "X", 6.5,
                              bold=True, align="centre")
    currency = parcel.currency
    lines = list(parcel.lines)
    width = CN22_COLS[0][1]
    floor = _certification_top() + 4  # the total row (drawn below the last line) stays above
    y = CN22_HEAD_Y - 1.6 * mm - CN22_SIZE - 1.2
    shown = 0
    for index, line in enumerate(lines):
        parts = fonts.wrap(f"{line.quantity} x {line.description}", CN22_SIZE, width)
        rest = len(lines) - index - 1
        need = len(parts) * CN22_STEP + (CN22_STEP if rest else 0)
        if y - need < floor:
            break
        _cn22_row(canvas, y, [kg(line.net_weight_g), money(line.value, currency),
                              line.hs_code or "", line.origin_country or ""])
        for part in parts:
            fonts.draw_string(canvas, LEFT, y, part, CN22_SIZE)
            y -= CN22_STEP
        shown += 1
    if shown < len(lines):
        rest = lines[shown:]
        fonts.draw_string(canvas, LEFT, y, f"+ {len(rest)} more, "
                                           f"{sum(r.quantity for r in rest)} pcs: see invoice",
                          CN22_SIZE, max_width=width)
        _cn22_row(canvas, y, [kg(sum(r.net_weight_g for r in rest)),
                              money(sum((r.value for r in rest), Decimal(0)), currency)])
        y -= CN22_STEP
    canvas.line(MARGIN, y + CN22_STEP - 2.5, PAGE_W - MARGIN, y + CN22_STEP - 2.5)
    y -= 1.2
    fonts.draw_string(canvas, LEFT, y, "Total", CN22_SIZE + 0.5, bold=True)
    _cn22_row(canvas, y, [kg(sum(line.net_weight_g for line in lines)),
                          money(parcel.declared_value, currency)], bold=True)
    fonts.draw_string(canvas, LEFT, CN22_SIGN_Y,
                      f"Date and sender's signature: {posting_date(parcel).isoformat()}", 6.5)
    fonts.draw_string(canvas, RIGHT, CN22_SIGN_Y, who.name, 6.5, align="right",
                      max_width=(RIGHT - LEFT) / 2 - 2 * mm)


def _no_cn22(canvas: Canvas, parcel: Parcel) -> None:
    note = {CustomsForm.cn23: "CUSTOMS DECLARATION CN 23 ATTACHED",
            CustomsForm.invoice: "COMMERCIAL INVOICE ATTACHED"}.get(parcel.customs_form, "")
    if note:
        fonts.draw_string(canvas, PAGE_W / 2, INFO_BOTTOM - 8 * mm, note, 9, bold=True,
                          align="centre", max_width=RIGHT - LEFT)
    lines = list(parcel.lines)
    items = sum(line.quantity for line in lines)
    fonts.draw_string(
        canvas, PAGE_W / 2, INFO_BOTTOM - 13 * mm,
        f"{items} {'item' if items == 1 else 'items'}, declared value "
        f"{money(parcel.declared_value, parcel.currency)}", 7, align="centre",
        max_width=RIGHT - LEFT)


def _label(canvas: Canvas, parcel: Parcel, who: Sender, counts: dict[int, int]) -> None:
    if not parcel.tracking_number:
        raise ShippingError(_("Parcel %(number)s has no tracking number yet: label it "
                              "before printing its label.", number=parcel.number))
    order = parcel.order
    service = parcel.service
    canvas.doForm(FRAME)
    # header: service and carrier, logo area
    head_width = INNER_W - LOGO_W - 6 * mm
    fonts.draw_string(canvas, LEFT, TOP - 5.5 * mm, service.name.upper(), 10, bold=True,
                      max_width=head_width)
    fonts.draw_string(canvas, LEFT, TOP - 10.5 * mm, service.carrier.name, 7.5,
                      max_width=head_width)
    fonts.draw_string(canvas, PAGE_W - MARGIN - 1.5 * mm - LOGO_W / 2, HEADER_BOTTOM + 5.2 * mm,
                      service.carrier.code, 9, bold=True, align="centre",
                      max_width=LOGO_W - 3 * mm)
    # addressee: the lines in the country's order, the country last and large
    lines = addressee_lines(order)
    width = RIGHT - LEFT - 7 * mm
    x = LEFT + 7 * mm
    name = (order.ship_name or "").strip()
    draw_lines(canvas, lines[:-1], x, SENDER_BOTTOM - 1.5 * mm, ADDRESS_BOTTOM + 10.5 * mm,
                width, 10.5, bold_line=" ".join(name.split()))
    fonts.draw_string(canvas, x, ADDRESS_BOTTOM + 5.6 * mm, lines[-1], 12, bold=True,
                      max_width=width)
    if order.phone:
        fonts.draw_string(canvas, x, ADDRESS_BOTTOM + 1.6 * mm, f"Tel. {order.phone}", 7,
                          max_width=width)
    # tracking barcode and the number below it
    _barcode(canvas, parcel.tracking_number, BARCODE_BOTTOM + 5.5 * mm)
    fonts.draw_string(canvas, PAGE_W / 2, BARCODE_BOTTOM + 1.6 * mm,
                      _spaced(parcel.tracking_number), 10, bold=True, align="centre",
                      max_width=RIGHT - LEFT)
    # weight, order reference, n/N, parcel number
    x = LEFT
    values = (f"{kg(parcel.weight_g)} kg", order.number, parcel_of(parcel, counts) or "1/1",
              parcel.number)
    for (_caption, column), value in zip(INFO_COLUMNS, values, strict=True):
        fonts.draw_string(canvas, x, INFO_BOTTOM + 2.4 * mm, value, 8.5, bold=True,
                          max_width=column - 2 * mm)
        x += column
    if parcel.customs_form == CustomsForm.cn22:
        _cn22(canvas, parcel, who)
    else:
        _no_cn22(canvas, parcel)


def _spaced(number: str) -> str:
    """Group an S10 number for reading: ``RR 1234 5678 5 CN``."""
    if len(number) == 13 and number[:2].isalpha() and number[2:11].isdigit():
        return f"{number[:2]} {number[2:6]} {number[6:10]} {number[10]} {number[11:]}"
    return number


def carrier_labels(parcel_ids: Iterable[int]) -> dict[int, bytes]:
    """Return ``{parcel id: label PDF}`` of the parcels booked through a carrier's API."""
    ids = list(parcel_ids)
    out: dict[int, bytes] = {}
    for start in range(0, len(ids), 900):
        out.update(db.session.execute(
            select(ParcelLabel.parcel_id, ParcelLabel.pdf)
            .where(ParcelLabel.parcel_id.in_(ids[start:start + 900]),
                   ParcelLabel.cancelled_at.is_(None), ParcelLabel.pdf.is_not(None))).all())
    return out


def label_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one PDF with the label pages of the parcels, in their order.

    A parcel booked through its carrier's API prints the carrier's own label (the pages it
    sent); every other parcel gets erp's 100 x 150 mm label page.

    :raises ShippingError: if a parcel has no tracking number yet (not labelled).
    """
    parcels = list(parcels)
    stored = carrier_labels([p.id for p in parcels if p.id is not None])
    if not stored:
        return own_label_pdf(parcels)
    own = [p for p in parcels if p.id not in stored]
    return _merged(parcels, stored, own_label_pdf(own) if own else None)


def _merged(parcels: Sequence[Parcel], stored: dict[int, bytes], own: bytes | None) -> bytes:
    """Return the pages of ``own`` (one per parcel not in ``stored``) and the stored labels."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    own_pages = iter(PdfReader(io.BytesIO(own)).pages) if own else iter(())
    for parcel in parcels:
        if parcel.id in stored:
            for page in PdfReader(io.BytesIO(stored[parcel.id])).pages:
                writer.add_page(page)
        else:
            writer.add_page(next(own_pages))
    writer.add_metadata({"/Title": "Parcel labels" if len(parcels) != 1
                         else f"Label {parcels[0].number}"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@in_english
def own_label_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one PDF with erp's 100 x 150 mm label page per parcel.

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
