"""Customs papers on A4: the CN23 declaration and the commercial invoice, one set per parcel.

Both follow the reference (``shipping.md`` sections 2 and 3). The CN23 is laid out as the UPU
form: numbered boxes for the sender and the addressee, the articles table (description,
quantity, net weight, value, HS tariff number, country of origin), the totals, the category of
item tick boxes, the licence / certificate / invoice numbers and the certification with the date
and signature. Customer text (names, addresses) prints in the fonts that cover its script, in the
destination country's address format. The IOSS number is printed on the commercial invoice
(electronic data and invoice), never on the label.

Customs papers go abroad: they are printed in English (:func:`erp.core.pdf.in_english`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Spacer

from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.money import format_money
from erp.core.pdf import (
    A4_INNER_WIDTH,
    GRID,
    HEADER_FILL,
    Barcode128,
    Heading,
    Section,
    Text,
    a4_document,
    block,
    boxes,
    data_table,
    in_english,
    pairs_table,
)
from erp.shipping.documents.labels import (
    CATEGORIES,
    Sender,
    addressee_lines,
    country_name,
    kg,
    parcel_counts,
    posting_date,
    sender,
)
from erp.shipping.models import CustomsForm, Parcel
from erp.shipping.services.customs import parcel_orders

CN23_CERTIFICATION = (
    "I certify that the particulars given in this customs declaration are correct and that this "
    "item does not contain any dangerous article or articles prohibited by legislation or by "
    "postal or customs regulations.")
INVOICE_DECLARATION = (
    "I declare that the information in this invoice is true and correct, and that the contents "
    "of this shipment are as stated above.")
#: the UPU form's order of the category boxes
CN23_CATEGORIES = ("commercial_sample", "gift", "returned_goods", "documents", "sale_of_goods",
                   "other")


def _sender_lines(who: Sender) -> list[str]:
    return who.lines()


def _addressee_lines(parcel: Parcel) -> list[str]:
    return addressee_lines(parcel.order)


def _contact(parcel: Parcel) -> list[str]:
    order = parcel.order
    return ([f"Phone: {order.phone}"] if order.phone else []) + (
        [f"E-mail: {order.email}"] if order.email else [])


def _postage(parcel: Parcel) -> str:
    """Return the postal charge from the service's rate table, or ``none``."""
    try:
        from erp.shipping.services import carriers
        chargeable = carriers.chargeable_weight_g(parcel.service, parcel.weight_g,
                                                  parcel.length_mm, parcel.width_mm,
                                                  parcel.height_mm)
        found = carriers.quote(parcel.service, parcel.order.country, chargeable)
    except (ImportError, AttributeError):  # the carriers service is not there yet
        found = None
    return format_money(found[0], found[1]) if found else "none"


class TickBoxes(Flowable):
    """The category of item: a square per category, ticked (X) for the chosen ones."""

    SIZE = 7.0
    BOX = 2.8 * mm

    def __init__(self, options: Sequence[tuple[str, str]], chosen: str, *, columns: int = 3):
        super().__init__()
        self.options = list(options)
        self.chosen = chosen
        self.columns = columns
        self.width = self.height = 0

    def wrap(self, avail_width, avail_height):
        """Lay the boxes out in rows of ``columns``."""
        self.width = avail_width
        rows = -(-len(self.options) // self.columns)
        self.height = rows * (self.BOX + 1.6 * mm)
        return self.width, self.height

    def draw(self):
        """Draw each box, its X when chosen, and its caption."""
        canvas = self.canv
        step = self.width / self.columns
        canvas.setLineWidth(0.6)
        for n, (key, caption) in enumerate(self.options):
            row, column = divmod(n, self.columns)
            x = column * step
            y = self.height - (row + 1) * (self.BOX + 1.6 * mm) + 0.8 * mm
            canvas.rect(x, y, self.BOX, self.BOX)
            if key == self.chosen:
                fonts.draw_string(canvas, x + self.BOX / 2, y + 0.6 * mm, "X", 7, bold=True,
                                  align="centre")
            fonts.draw_string(canvas, x + self.BOX + 1.2 * mm, y + 0.7 * mm, caption,
                              self.SIZE, max_width=step - self.BOX - 2.5 * mm)


def _box(caption: str, value, size: float = 9, *, bold: bool = False,
         bold_line: str | None = None) -> list:
    """Return a form box's content: its caption (small) and its value (lines or a flowable).

    ``bold`` makes a single value bold, ``bold_line`` the line of a list equal to it (a name).
    """
    content: list = [Text(caption, 6.5, color=GRID)]
    wanted = " ".join(bold_line.split()) if bold_line else None
    if isinstance(value, Flowable):
        content.append(value)
    elif isinstance(value, (list, tuple)):
        content += [Text(line, size, bold=line == wanted) for line in value if line]
    elif value:
        content.append(Text(value, size, bold=bold))
    return content


# the CN23 grid: description, quantity, net weight, value, HS tariff number, origin (mm)
CN23_WIDTHS = [60 * mm, 16 * mm, 22 * mm, 30 * mm, 27 * mm, 25 * mm]


def _cn23(parcel: Parcel, who: Sender, counts: dict[int, int]) -> list:
    order = parcel.order
    lines = list(parcel.lines)
    currency = parcel.currency
    net = sum(line.net_weight_g for line in lines)
    total = sum((line.value for line in lines), Decimal(0))
    eori = core_settings.get("eori_number")
    title = f"CUSTOMS DECLARATION CN 23 — {parcel.number}"
    number = [Text("CUSTOMS DECLARATION", 11, bold=True), Text("CN 23", 16, bold=True),
              Text(parcel.number, 8), Text("May be opened officially", 7, space_after=1 * mm)]
    if parcel.tracking_number:
        number += [Text("Item no. (barcode)", 6.5, color=GRID),
                   Barcode128(parcel.tracking_number, width=62 * mm, height=12 * mm)]
    else:
        number += _box("Item no.", "not labelled yet")
    sender_box = _box("From: sender (name, business, address, country)",
                      _sender_lines(who), bold_line=who.name)
    if eori:
        sender_box += _box("Sender's customs reference (if any)", eori)
    addressee_box = _box("To: addressee (name, business, address, country)",
                         _addressee_lines(parcel), bold_line=order.ship_name)
    importer = _box("Importer's reference (tax code / VAT no. / importer code)",
                    order.buyer_tax_id or "none")
    importer += _box("Importer's telephone / e-mail", _contact(parcel) or ["none"], 8.5)
    rows: list[list] = [
        [sender_box, "", "", number, "", ""],
        [addressee_box, "", "", importer, "", ""],
        ["Detailed description of contents (1)", "Quantity (2)", "Net weight (kg) (3)",
         "Value (5)", "HS tariff number (7)", "Country of origin of goods (8)"],
    ]
    for line in lines:
        rows.append([line.description, str(line.quantity), kg(line.net_weight_g),
                     format_money(line.value, currency), line.hs_code or "",
                     f"{country_name(line.origin_country)} ({line.origin_country})"
                     if line.origin_country else ""])
    first_total = len(rows)
    rows.append([_box("Total gross weight (kg) (4)", kg(parcel.weight_g), bold=True), "",
                 _box("Total net weight (kg)", kg(net)), _box("Total value (6)",
                                                            format_money(total, currency),
                                                            bold=True),
                 _box("Postal charges / fees (9)", _postage(parcel)), ""])
    category = parcel.customs_category or "sale_of_goods"
    captions = dict(CATEGORIES)
    ticks = TickBoxes([(key, captions[key]) for key in CN23_CATEGORIES], category)
    explanation = "sale of goods" if category == "other" else ""
    rows.append([[Text("Category of item (10)", 6.5, color=GRID), ticks], "", "",
                 _box("Explanation (11)", explanation or "—"), "", ""])
    comments = "Sale of goods to a consumer" + ("; dutiable at import" if parcel.dutiable
                                                 else "")
    rows.append([_box("Comments (12): e.g. goods subject to quarantine, sanitary/phytosanitary "
                      "inspection or other restrictions", comments), "", "", "", "", ""])
    rows.append([_box("Licence (13): no. of licence(s)", "none"), "",
                 _box("Certificate (14): no. of certificate(s)", "none"), "",
                 _box("Invoice (15): no. of invoice", parcel.number), ""])
    of = counts.get(parcel.order_id, 1)
    numbers = ", ".join(o.number for o in parcel_orders(parcel))
    office = [f"{parcel.service.carrier.name}, {who.country_name}",
              posting_date(parcel).isoformat(),
              ("Orders " if "," in numbers else "Order ") + numbers
              + (f", parcel {parcel.sequence} of {of}" if of > 1 else "")]
    rows.append([_box("Office of origin / date of posting", office), "", "",
                 [Text(CN23_CERTIFICATION, 7.5, space_after=1.5 * mm),
                  Text("Date and sender's signature (17)", 6.5, color=GRID),
                  Text(f"{posting_date(parcel).isoformat()}   {who.name}", 9)], "", ""])
    last = len(rows) - 1
    style = [
        ("SPAN", (0, 0), (2, 0)), ("SPAN", (3, 0), (5, 0)),
        ("SPAN", (0, 1), (2, 1)), ("SPAN", (3, 1), (5, 1)),
        ("SPAN", (0, first_total), (1, first_total)), ("SPAN", (4, first_total),
                                                        (5, first_total)),
        ("SPAN", (0, first_total + 1), (2, first_total + 1)),
        ("SPAN", (3, first_total + 1), (5, first_total + 1)),
        ("SPAN", (0, first_total + 2), (5, first_total + 2)),
        ("SPAN", (0, first_total + 3), (1, first_total + 3)),
        ("SPAN", (2, first_total + 3), (3, first_total + 3)),
        ("SPAN", (4, first_total + 3), (5, first_total + 3)),
        ("SPAN", (0, last), (2, last)), ("SPAN", (3, last), (5, last)),
        ("BACKGROUND", (0, 2), (-1, 2), HEADER_FILL),
    ]
    table = data_table(rows, widths=CN23_WIDTHS, header=True, header_rows=3, size=8.5,
                       align_right=(1, 2, 3), style=style, padding=3, fill_header=False,
                       repeat_rows=(2,))
    return [Section(title), table]


def _join(parts: list[list]) -> list:
    story: list = []
    for n, part in enumerate(parts):
        if n:
            story.append(PageBreak())
        story += part
    return story


@in_english
def cn23_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one A4 PDF with a CN23 declaration per parcel."""
    fonts.register_fonts()
    who = sender()
    counts = parcel_counts(parcels)
    story = _join([_cn23(p, who, counts) for p in parcels])
    if not story:
        return a4_document([Text("No parcels.", 9.5)], title="Customs declaration CN 23",
                           company=who.name)
    return a4_document(story, title="Customs declaration CN 23", company=who.name,
                       heading=False)


def _invoice(parcel: Parcel, who: Sender, counts: dict[int, int]) -> list:
    order = parcel.order
    lines = list(parcel.lines)
    currency = parcel.currency
    subtotal = sum((line.value for line in lines), Decimal(0))
    orders = parcel_orders(parcel)  # a merged parcel: every order's goods and shipping
    shipping = sum((Decimal(o.shipping_charge or 0) for o in orders), Decimal(0))
    if counts.get(parcel.order_id, 1) > 1 and parcel.sequence != 1:
        shipping = Decimal(0)  # charged once, on the order's first parcel
    eori = core_settings.get("eori_number")
    story: list = [Heading(f"COMMERCIAL INVOICE — {parcel.number}")]
    seller = block("Seller / exporter", _sender_lines(who), bold_line=who.name)
    if eori:
        seller.append(Text(f"EORI / exporter registration: {eori}", 8.5))
    buyer = block("Buyer / consignee", _addressee_lines(parcel) + _contact(parcel),
                  bold_line=order.ship_name)
    if order.buyer_tax_id:
        buyer.append(Text(f"Tax / VAT number: {order.buyer_tax_id}", 8.5))
    story += [boxes([seller, buyer], [A4_INNER_WIDTH / 2] * 2), Spacer(1, 2 * mm)]
    packages = counts.get(parcel.order_id, 1)
    terms = [
        ("Invoice number", parcel.number),
        ("Invoice date", posting_date(parcel).isoformat()),
        ("Order number" if len(orders) == 1 else "Order numbers",
         ", ".join(o.number for o in orders)),
        ("Tracking number", parcel.tracking_number or "not labelled yet"),
        ("Carrier / service", f"{parcel.service.carrier.name} / {parcel.service.name}"),
        ("Incoterm", core_settings.get("incoterm") or "DAP"),
        ("Reason for export", "Sale"),
        ("Country of destination", country_name(order.country)),
        ("Currency", currency),
    ]
    if parcel.ioss_number:
        terms.append(("IOSS number", [(parcel.ioss_number, True),
                                      (" (EU VAT collected at the point of sale)", False)]))
    story += [pairs_table(terms), Spacer(1, 3 * mm)]
    rows: list[list] = [["#", "Description", "HS code", "Origin", "Qty", "Unit value",
                         "Line total"]]
    for n, line in enumerate(lines, start=1):
        rows.append([str(n), line.description, line.hs_code, line.origin_country,
                     str(line.quantity), format_money(line.unit_value, currency),
                     format_money(line.value, currency)])
    story += [data_table(rows, widths=[8 * mm, 66 * mm, 20 * mm, 14 * mm, 12 * mm, 30 * mm,
                                       30 * mm], align_right=(0, 4, 5, 6)),
              Spacer(1, 2 * mm)]
    grand = format_money(subtotal + shipping, currency)
    totals = data_table([["Subtotal", format_money(subtotal, currency)],
                         ["Shipping", format_money(shipping, currency)],
                         ["Insurance", format_money(Decimal(0), currency)],
                         [[("Total", True)], [(grand, True)]]],
                        widths=[40 * mm, 40 * mm], header=False, align_right=(1,), size=9)
    totals.hAlign = "RIGHT"
    story += [totals, Spacer(1, 2 * mm), pairs_table([
        ("Net weight", f"{kg(sum(line.net_weight_g for line in lines))} kg"),
        ("Gross weight", f"{kg(parcel.weight_g)} kg"),
        ("Number of packages", f"1 (parcel {parcel.sequence} of {packages})"
         if packages > 1 else "1"),
    ])]
    story += [Spacer(1, 4 * mm), KeepTogether([
        Text(INVOICE_DECLARATION, 8.5), Spacer(1, 6 * mm),
        Text(f"Signature: ____________________   {who.name}, "
             f"{posting_date(parcel).isoformat()}", 9.5)])]
    return story


@in_english
def commercial_invoice_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one A4 PDF with a commercial invoice per parcel (invoice number = parcel number)."""
    fonts.register_fonts()
    who = sender()
    counts = parcel_counts(parcels)
    story = _join([_invoice(p, who, counts) for p in parcels])
    if not story:
        return a4_document([Text("No parcels.", 9.5)], title="Commercial invoice",
                           company=who.name)
    return a4_document(story, title="Commercial invoice", company=who.name, heading=False)


@in_english
def customs_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one A4 PDF with the customs papers of the parcels that need them.

    A CN23 parcel gets its CN23 and a commercial invoice, an express parcel its commercial
    invoice; a CN22 parcel has its declaration on the label and gets nothing here.
    """
    fonts.register_fonts()
    who = sender()
    counts = parcel_counts(parcels)
    parts = []
    for parcel in parcels:
        if parcel.customs_form == CustomsForm.cn23:
            parts.append(_cn23(parcel, who, counts))
        if parcel.customs_form in (CustomsForm.cn23, CustomsForm.invoice):
            parts.append(_invoice(parcel, who, counts))
    if not parts:
        return a4_document([Text("None of these parcels needs customs papers beyond the CN22 "
                                 "on its label.", 9.5)], title="Customs documents",
                           company=who.name)
    return a4_document(_join(parts), title="Customs documents", company=who.name, heading=False)


__all__ = ["TickBoxes", "cn23_pdf", "commercial_invoice_pdf", "customs_pdf"]
