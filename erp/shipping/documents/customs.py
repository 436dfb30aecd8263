"""Customs papers on A4: the CN23 declaration and the commercial invoice, one set per parcel.

Both follow the reference (``shipping.md`` sections 2 and 3). Customer text (names, addresses)
goes through :func:`erp.core.fonts.markup` so Cyrillic, Chinese or Arabic prints. The IOSS number
is printed on the commercial invoice (electronic data and invoice), never on the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, Spacer, Table, TableStyle

from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.money import format_money
from erp.core.pdf import NORMAL, SMALL, TITLE, Barcode128, a4_document, grid_table, text
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

CN23_CERTIFICATION = (
    "I certify that the particulars given in this customs declaration are correct and that this "
    "item does not contain any dangerous article or articles prohibited by legislation or by "
    "postal or customs regulations.")
INVOICE_DECLARATION = (
    "I declare that the information in this invoice is true and correct, and that the contents "
    "of this shipment are as stated above.")


def _cell(label: str, rows: Sequence[str]) -> list:
    """Return a captioned block: a small bold caption and one paragraph per (markup) row."""
    return [Paragraph(f"<b>{text(label)}</b>", SMALL)] + [Paragraph(r, NORMAL) for r in rows if r]


def _boxed(cells: list[list], widths: Sequence[float]) -> Table:
    table = Table([cells], colWidths=list(widths))
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                               ("TOPPADDING", (0, 0), (-1, -1), 3),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    return table


def _sender_rows(who: Sender) -> list[str]:
    return ([f"<b>{fonts.markup(who.name)}</b>"] + [fonts.markup(a) for a in who.address_lines]
            + [text(who.country_name)])


def _addressee_rows(parcel: Parcel, *, contact: bool = True) -> list[str]:
    order = parcel.order
    lines = addressee_lines(order)
    rows = [f"<b>{fonts.markup(lines[0])}</b>"] + [fonts.markup(line) for line in lines[1:-1]]
    rows.append(f"<b>{text(lines[-1])}</b>")
    if contact:
        if order.phone:
            rows.append(f"Phone: {fonts.markup(order.phone)}")
        if order.email:
            rows.append(f"E-mail: {fonts.markup(order.email)}")
    return rows


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


def _lines_table(parcel: Parcel, *, invoice: bool) -> Table:
    currency = parcel.currency
    if invoice:
        rows: list[list] = [["#", "Description", "HS code", "Origin", "Qty", "Unit value",
                             "Line total"]]
        for n, line in enumerate(parcel.lines, start=1):
            rows.append([str(n), Paragraph(fonts.markup(line.description), SMALL),
                         line.hs_code, line.origin_country, str(line.quantity),
                         format_money(line.unit_value, currency),
                         format_money(line.value, currency)])
        widths = [8 * mm, 62 * mm, 20 * mm, 14 * mm, 12 * mm, 32 * mm, 32 * mm]
        return grid_table(rows, col_widths=widths, align_right=(4, 5, 6))
    rows = [["#", "Quantity and detailed description of contents", "Qty", "Net weight (kg)",
             "Value", "HS tariff no.", "Origin"]]
    for n, line in enumerate(parcel.lines, start=1):
        rows.append([str(n), Paragraph(fonts.markup(line.description), SMALL),
                     str(line.quantity), kg(line.net_weight_g),
                     format_money(line.value, currency), line.hs_code, line.origin_country])
    widths = [8 * mm, 70 * mm, 12 * mm, 22 * mm, 30 * mm, 20 * mm, 18 * mm]
    return grid_table(rows, col_widths=widths, align_right=(2, 3, 4))


def _pairs(rows: Sequence[tuple[str, str]], widths=(45 * mm, 135 * mm)) -> Table:
    table = Table([[Paragraph(f"<b>{text(k)}</b>", SMALL), Paragraph(v, NORMAL)]
                   for k, v in rows], colWidths=list(widths))
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("TOPPADDING", (0, 0), (-1, -1), 1),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    return table


def _categories(parcel: Parcel) -> str:
    chosen = parcel.customs_category or "sale_of_goods"
    return "&nbsp;&nbsp;&nbsp;".join(
        f"[{'X' if key == chosen else '&nbsp;&nbsp;'}] {text(caption)}"
        for key, caption in CATEGORIES)


def _cn23(parcel: Parcel, who: Sender, counts: dict[int, int]) -> list:
    order = parcel.order
    lines = list(parcel.lines)
    net = sum(line.net_weight_g for line in lines)
    total = sum((line.value for line in lines), Decimal(0))
    story: list = [Paragraph(f"CUSTOMS DECLARATION CN 23 &mdash; {text(parcel.number)}", TITLE)]
    head = [_cell("Item number (S10)", [text(parcel.tracking_number or "not labelled yet")])]
    if parcel.tracking_number:
        head.append(Barcode128(parcel.tracking_number, width=80 * mm, height=13 * mm))
    head.append(Paragraph("May be opened officially", SMALL))
    story.append(_boxed([head, _cell("Carrier / service", [
        text(parcel.service.carrier.name), text(parcel.service.name)])], [100 * mm, 80 * mm]))
    eori = core_settings.get("eori_number")
    story.append(_boxed([
        _cell("From (sender)", _sender_rows(who)
              + ([f"Sender's customs reference: {text(eori)}"] if eori else [])),
        _cell("To (addressee)", _addressee_rows(parcel)
              + [f"Importer's reference (tax code / VAT no.): "
                 f"{fonts.markup(order.buyer_tax_id) if order.buyer_tax_id else 'none'}"])],
        [90 * mm, 90 * mm]))
    story += [Spacer(1, 2 * mm), Paragraph("<b>Category of item</b>", SMALL),
              Paragraph(_categories(parcel), NORMAL)]
    if (parcel.customs_category or "") == "other":
        story.append(Paragraph("Explanation: sale of goods", NORMAL))
    story += [Spacer(1, 2 * mm), _lines_table(parcel, invoice=False), Spacer(1, 2 * mm)]
    story.append(_pairs([
        ("Total net weight", f"{kg(net)} kg"),
        ("Total gross weight", f"{kg(parcel.weight_g)} kg"),
        ("Total value", text(format_money(total, parcel.currency))),
        ("Declared value", text(format_money(parcel.declared_value, parcel.currency))),
        ("Postal charges / fees", text(_postage(parcel))),
        ("Comments", "Sale of goods to a consumer"
         + ("; dutiable at import" if parcel.dutiable else "")),
        ("Licences / certificates", "none"),
        ("Invoice number", text(parcel.number)),
        ("Order", text(order.number)
         + (f" (parcel {parcel.sequence}/{counts.get(parcel.order_id)})"
            if counts.get(parcel.order_id, 1) > 1 else "")),
        ("Office of origin / date of posting",
         f"{text(parcel.service.carrier.name)}, {text(who.country_name)} / "
         f"{posting_date(parcel).isoformat()}"),
    ]))
    story += [Spacer(1, 3 * mm), KeepTogether([
        Paragraph(text(CN23_CERTIFICATION), SMALL), Spacer(1, 2 * mm),
        Paragraph(f"Date and sender's signature: {posting_date(parcel).isoformat()} &nbsp; "
                  f"{fonts.markup(who.name)}", NORMAL)])]
    return story


def _join(parts: list[list]) -> list:
    story: list = []
    for n, part in enumerate(parts):
        if n:
            story.append(PageBreak())
        story += part
    return story


def cn23_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one A4 PDF with a CN23 declaration per parcel."""
    fonts.register_fonts()
    who = sender()
    counts = parcel_counts(parcels)
    story = _join([_cn23(p, who, counts) for p in parcels])
    return a4_document(story or [Paragraph("No parcels.", NORMAL)],
                       title="Customs declaration CN 23", company=who.name)


def _invoice(parcel: Parcel, who: Sender, counts: dict[int, int]) -> list:
    order = parcel.order
    lines = list(parcel.lines)
    currency = parcel.currency
    subtotal = sum((line.value for line in lines), Decimal(0))
    shipping = Decimal(order.shipping_charge or 0)
    if counts.get(parcel.order_id, 1) > 1 and parcel.sequence != 1:
        shipping = Decimal(0)  # charged once, on the order's first parcel
    eori = core_settings.get("eori_number")
    story: list = [Paragraph(f"COMMERCIAL INVOICE &mdash; {text(parcel.number)}", TITLE)]
    story.append(_boxed([
        _cell("Seller / exporter", _sender_rows(who)
              + ([f"EORI / exporter registration: {text(eori)}"] if eori else [])),
        _cell("Buyer / consignee", _addressee_rows(parcel)
              + ([f"Tax / VAT number: {fonts.markup(order.buyer_tax_id)}"]
                 if order.buyer_tax_id else []))], [90 * mm, 90 * mm]))
    story.append(Spacer(1, 2 * mm))
    packages = counts.get(parcel.order_id, 1)
    terms = [
        ("Invoice number", text(parcel.number)),
        ("Invoice date", posting_date(parcel).isoformat()),
        ("Order number", text(order.number)),
        ("Tracking number", text(parcel.tracking_number or "not labelled yet")),
        ("Carrier / service", f"{text(parcel.service.carrier.name)} / "
                              f"{text(parcel.service.name)}"),
        ("Incoterm", text(core_settings.get("incoterm") or "DAP")),
        ("Reason for export", "Sale"),
        ("Country of destination", text(country_name(order.country))),
        ("Currency", text(currency)),
    ]
    if parcel.ioss_number:
        terms.append(("IOSS number", f"<b>{text(parcel.ioss_number)}</b> "
                                     "(EU VAT collected at the point of sale)"))
    story += [_pairs(terms), Spacer(1, 3 * mm), _lines_table(parcel, invoice=True),
              Spacer(1, 2 * mm)]
    totals = Table([["Subtotal", format_money(subtotal, currency)],
                    ["Shipping", format_money(shipping, currency)],
                    ["Insurance", format_money(Decimal(0), currency)],
                    ["Total", format_money(subtotal + shipping, currency)]],
                   colWidths=[40 * mm, 40 * mm], hAlign="RIGHT")
    totals.setStyle(TableStyle([("ALIGN", (1, 0), (1, -1), "RIGHT"),
                                ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                                ("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 9),
                                ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.black)]))
    story += [totals, Spacer(1, 2 * mm), _pairs([
        ("Net weight", f"{kg(sum(line.net_weight_g for line in lines))} kg"),
        ("Gross weight", f"{kg(parcel.weight_g)} kg"),
        ("Number of packages", f"1 (parcel {parcel.sequence} of {packages})"
         if packages > 1 else "1"),
    ])]
    story += [Spacer(1, 4 * mm), KeepTogether([
        Paragraph(text(INVOICE_DECLARATION), SMALL), Spacer(1, 6 * mm),
        Paragraph(f"Signature: ____________________ &nbsp; {fonts.markup(who.name)}, "
                  f"{posting_date(parcel).isoformat()}", NORMAL)])]
    return story


def commercial_invoice_pdf(parcels: Sequence[Parcel]) -> bytes:
    """Return one A4 PDF with a commercial invoice per parcel (invoice number = parcel number)."""
    fonts.register_fonts()
    who = sender()
    counts = parcel_counts(parcels)
    story = _join([_invoice(p, who, counts) for p in parcels])
    return a4_document(story or [Paragraph("No parcels.", NORMAL)], title="Commercial invoice",
                       company=who.name)


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
    empty = [Paragraph("None of these parcels needs customs papers beyond the CN22 on its "
                       "label.", NORMAL)]
    return a4_document(_join(parts) or empty, title="Customs documents", company=who.name)
