"""Procurement PDFs: the purchase order sent to the supplier (A4)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer, Table, TableStyle

from erp.core.money import format_money
from erp.core.pdf import NORMAL, SMALL, a4_document, grid_table, text
from erp.procurement.models import PURCHASE_ORDER_STATES, PurchaseOrder, PurchaseOrderState


@dataclass(frozen=True)
class Company:
    """The buyer printed on the order (from the company settings)."""

    name: str
    address: str


def _lines_html(value: str | None) -> str:
    return "<br/>".join(text(part) for part in (value or "").splitlines() if part.strip())


def _block(title: str, rows: Sequence[str]) -> list:
    return [Paragraph(f"<b>{text(title)}</b>", SMALL)] + [
        Paragraph(row, NORMAL) for row in rows if row]


def _parties(po: PurchaseOrder, company: Company) -> Table:
    supplier = po.supplier
    buyer = _block("Buyer", [f"<b>{text(company.name)}</b>", _lines_html(company.address)])
    seller = _block("Supplier", [
        f"<b>{text(supplier.name)}</b> ({text(supplier.code)})",
        _lines_html(supplier.address), text(supplier.country),
        f"Attn: {text(supplier.contact_name)}" if supplier.contact_name else "",
        text(supplier.email) if supplier.email else "",
        text(supplier.phone) if supplier.phone else ""])
    table = Table([[buyer, seller]], colWidths=[90 * mm, 90 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("BOX", (0, 0), (0, 0), 0.25, colors.grey),
                               ("BOX", (1, 0), (1, 0), 0.25, colors.grey),
                               ("TOPPADDING", (0, 0), (-1, -1), 4),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))
    return table


def _terms(po: PurchaseOrder) -> Table:
    rows = [
        ("Order number", po.number or f"{po.reference} (not yet submitted)"),
        ("Order date", po.ordered_on.isoformat() if po.ordered_on else "not yet placed"),
        ("Expected delivery", po.expected_date.isoformat() if po.expected_date else "to agree"),
        ("Currency", po.currency),
        ("Payment terms", po.supplier.payment_terms or "as agreed"),
    ]
    table = Table([[Paragraph(f"<b>{text(k)}</b>", SMALL), Paragraph(text(v), NORMAL)]
                   for k, v in rows], colWidths=[40 * mm, 140 * mm])
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("TOPPADDING", (0, 0), (-1, -1), 1),
                               ("BOTTOMPADDING", (0, 0), (-1, -1), 1)]))
    return table


def _line_table(po: PurchaseOrder) -> tuple[Table, int, list[str]]:
    rows: list[list] = [["#", "Our SKU", "Supplier code", "Description", "Specification",
                         "Expected", "Qty", "Unit price", "Amount"]]
    units = 0
    specs: list[str] = []
    for n, line in enumerate(po.lines, start=1):
        sku, product = line.sku, line.sku.product
        variant = " / ".join(v for v in (sku.colour, sku.size) if v)
        spec = product.spec_version.label if product.spec_version is not None else ""
        if spec and spec not in specs:
            specs.append(spec)
        qty = line.quantity - line.cancelled_qty
        units += qty
        description = text(product.name) + (f"<br/>{text(variant)}" if variant else "")
        if line.cancelled_qty:
            description += f"<br/><i>{line.cancelled_qty:,} of {line.quantity:,} cancelled</i>"
        expected = line.expected_date or po.expected_date
        rows.append([str(n), Paragraph(text(sku.code), SMALL),
                     Paragraph(text(line.supplier_code or ""), SMALL),
                     Paragraph(description, SMALL), Paragraph(text(spec), SMALL),
                     expected.isoformat() if expected else "", f"{qty:,}",
                     format_money(line.unit_price, None, 4), format_money(line.amount)])
    widths = [7 * mm, 26 * mm, 22 * mm, 44 * mm, 25 * mm, 17 * mm, 12 * mm, 15 * mm, 17 * mm]
    return grid_table(rows, col_widths=widths, align_right=(6, 7, 8), font_size=7.5), units, specs


def _totals(total: Decimal, currency: str, units: int) -> Table:
    table = Table([["Units", f"{units:,}"], ["Total", format_money(total, currency)]],
                  colWidths=[30 * mm, 40 * mm], hAlign="RIGHT")
    table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                               ("FONT", (0, 1), (-1, 1), "Helvetica-Bold", 10),
                               ("ALIGN", (1, 0), (1, -1), "RIGHT"),
                               ("LINEABOVE", (0, 1), (-1, 1), 0.5, colors.black)]))
    return table


def purchase_order_pdf(po: PurchaseOrder, *, company: Company, total: Decimal) -> bytes:
    """Return the A4 purchase order to send to the supplier.

    It shows the buyer and supplier, the order's terms, each line with the supplier's code and
    the brand's purchasing specification reference, and the total in the order currency.

    :param total: the order total in its currency (see ``purchase_order_totals``).
    """
    story: list = [_parties(po, company), Spacer(1, 4 * mm), _terms(po), Spacer(1, 5 * mm)]
    lines, units, specs = _line_table(po)
    story += [lines, Spacer(1, 3 * mm), _totals(total, po.currency, units), Spacer(1, 5 * mm)]
    notes = []
    if specs:
        notes.append(Paragraph(
            "Goods must conform to the purchasing specification given on each line: "
            + ", ".join(text(s) for s in specs) + ". Ask us for a copy before production.",
            SMALL))
    if po.notes:
        notes.append(Paragraph(f"<b>Notes:</b> {_lines_html(po.notes)}", SMALL))
    notes.append(Paragraph(
        f"Please confirm this order, its prices and the delivery date to {text(company.name)}, "
        f"quoting {text(po.number or po.reference)} on every delivery note and invoice.", SMALL))
    story.append(KeepTogether(notes))
    state = PurchaseOrderState(po.state)
    subtitle = ""
    if state in (PurchaseOrderState.draft, PurchaseOrderState.awaiting_approval):
        subtitle = f"{PURCHASE_ORDER_STATES.label(state).upper()}: not valid as an order yet"
    elif state == PurchaseOrderState.cancelled:
        subtitle = "CANCELLED"
    return a4_document(story, title=f"Purchase order {po.number or po.reference}",
                       company=company.name, subtitle=subtitle)
