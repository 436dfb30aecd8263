"""Procurement PDFs: the purchase order sent to the supplier (A4).

The order is printed in the supplier's language (``Supplier.language``). A supplier reading
Chinese gets every caption in Chinese followed by the English (``采购单 Purchase order``), so
the order also reads for the buyer's own staff; other suppliers get English.
"""

from __future__ import annotations

from decimal import Decimal

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer

from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.addresses import free_address
from erp.core.i18n import _l, format_number
from erp.core.money import format_money
from erp.core.pdf import (
    A4_INNER_WIDTH,
    BilingualWords,
    Company,
    Text,
    a4_document,
    block,
    boxes,
    data_table,
    in_language,
    pairs_table,
)
from erp.procurement.models import PURCHASE_ORDER_STATES, PurchaseOrder, PurchaseOrderState

#: the word helper and the buyer, shared with the other documents sent out
_Words = BilingualWords


def _parties(po: PurchaseOrder, company: Company, words: _Words):
    supplier = po.supplier
    buyer_lines, _country = free_address((company.address or "").splitlines(),
                                         company.country
                                         or core_settings.get("company_country"),
                                         name=company.name)
    seller_lines, _country = free_address((supplier.address or "").splitlines(),
                                          supplier.country, name=supplier.name)
    code_caption, attention = words(_l("Supplier code")), words(_l("Attn"))
    contact = [f"{code_caption}: {supplier.code}"]
    if supplier.contact_name:
        contact.append(f"{attention}: {supplier.contact_name}")
    contact += [value for value in (supplier.email, supplier.phone) if value]
    buyer = block(words(_l("Buyer")), buyer_lines, bold_line=company.name)
    seller = block(words(_l("Supplier")), seller_lines + contact, bold_line=supplier.name)
    return boxes([buyer, seller], [A4_INNER_WIDTH / 2] * 2)


def _terms(po: PurchaseOrder, words: _Words):
    rows = [
        (words(_l("Order number")),
         po.number or words(_l("%(reference)s (not yet submitted)", reference=po.reference))),
        (words(_l("Order date")),
         po.ordered_on.isoformat() if po.ordered_on else words(_l("not yet placed"))),
        (words(_l("Expected delivery")),
         po.expected_date.isoformat() if po.expected_date else words(_l("to agree"))),
        (words(_l("Currency")), po.currency),
        (words(_l("Payment terms")), po.supplier.payment_terms or words(_l("as agreed"))),
    ]
    return pairs_table(rows, widths=(50 * mm, 130 * mm))


def _line_table(po: PurchaseOrder, words: _Words):
    head = ["#", words(_l("Our SKU"), "\n"), words(_l("Supplier code"), "\n"),
            words(_l("Description"), "\n"), words(_l("Specification"), "\n"),
            words(_l("Expected"), "\n"), words(_l("Qty"), "\n"),
            words(_l("Unit price"), "\n"), words(_l("Amount"), "\n")]
    rows: list[list] = [head]
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
        description = product.name + (f"\n{variant}" if variant else "")
        if line.cancelled_qty:
            cancelled, ordered = format_number(line.cancelled_qty), format_number(line.quantity)
            description += "\n" + words(_l("%(cancelled)s of %(quantity)s cancelled",
                                           cancelled=cancelled, quantity=ordered))
        expected = line.expected_date or po.expected_date
        rows.append([str(n), sku.code, line.supplier_code or "", description, spec,
                     expected.isoformat() if expected else "", f"{qty:,}",
                     format_money(line.unit_price, None, 4), format_money(line.amount)])
    widths = [7 * mm, 27 * mm, 23 * mm, 36 * mm, 22 * mm, 18 * mm, 12 * mm, 17 * mm, 18 * mm]
    table = data_table(rows, widths=widths, align_right=(0, 6, 7, 8), size=7.5)
    return table, units, specs


def _totals(total: Decimal, currency: str, units: int, words: _Words):
    table = data_table([[words(_l("Units")), f"{units:,}"],
                        [[(words(_l("Total")), True)], [(format_money(total, currency), True)]]],
                       widths=[40 * mm, 45 * mm], header=False, align_right=(1,), size=9.5)
    table.hAlign = "RIGHT"
    return table


def _purchase_order_pdf(po: PurchaseOrder, company: Company, total: Decimal,
                        bilingual: bool) -> bytes:
    fonts.register_fonts()
    words = _Words(bilingual)
    story: list = [_parties(po, company, words), Spacer(1, 4 * mm), _terms(po, words),
                   Spacer(1, 5 * mm)]
    lines, units, specs = _line_table(po, words)
    story += [lines, Spacer(1, 3 * mm), _totals(total, po.currency, units, words),
              Spacer(1, 5 * mm)]
    notes: list = []
    if specs:
        notes.append(Text(words(_l(
            "Goods must conform to the purchasing specification given on each line: "
            "%(specs)s. Ask us for a copy before production.", specs=", ".join(specs)), "\n"),
            8.5, space_after=1.5 * mm))
    if po.notes:
        notes.append(Text([(words(_l("Notes:")) + " ", True), (po.notes, False)], 8.5,
                          space_after=1.5 * mm))
    notes.append(Text(words(_l(
        "Please confirm this order, its prices and the delivery date to %(company)s, quoting "
        "%(number)s on every delivery note and invoice.", company=company.name,
        number=po.number or po.reference), "\n"), 8.5))
    story.append(KeepTogether(notes))
    state = PurchaseOrderState(po.state)
    subtitle = ""
    if state in (PurchaseOrderState.draft, PurchaseOrderState.awaiting_approval):
        subtitle = words(_l("%(state)s: not valid as an order yet",
                            state=str(PURCHASE_ORDER_STATES.label(state)).upper()))
    elif state == PurchaseOrderState.cancelled:
        subtitle = words(_l("CANCELLED"))
    caption = words(_l("Purchase order"))
    title = f"{caption} {po.number or po.reference}"
    return a4_document(story, title=title, company=company.name, subtitle=subtitle)


def purchase_order_pdf(po: PurchaseOrder, *, company: Company, total: Decimal) -> bytes:
    """Return the A4 purchase order to send to the supplier, in the supplier's language.

    It shows the buyer and supplier, the order's terms, each line with the supplier's code and
    the brand's purchasing specification reference, and the total in the order currency. For a
    supplier reading Chinese every caption is in Chinese and English.

    :param total: the order total in its currency (see ``purchase_order_totals``).
    """
    language = getattr(po.supplier, "language", None) or "en"
    return in_language(language, _purchase_order_pdf, po, company, total, language != "en")


# --------------------------------------------------------------------------- supplier returns


def _return_parties(ret, company: Company, words: _Words):
    supplier = ret.supplier
    buyer_lines, _country = free_address((company.address or "").splitlines(),
                                         company.country
                                         or core_settings.get("company_country"),
                                         name=company.name)
    seller_lines, _country = free_address((supplier.address or "").splitlines(),
                                          supplier.country, name=supplier.name)
    contact = [f"{words(_l('Supplier code'))}: {supplier.code}"]
    if supplier.contact_name:
        contact.append(f"{words(_l('Attn'))}: {supplier.contact_name}")
    contact += [value for value in (supplier.email, supplier.phone) if value]
    sender = block(words(_l("From")), buyer_lines, bold_line=company.name)
    receiver = block(words(_l("Return to")), seller_lines + contact, bold_line=supplier.name)
    return boxes([sender, receiver], [A4_INNER_WIDTH / 2] * 2)


def _supplier_return_pdf(ret, company: Company, claim, bilingual: bool) -> bytes:
    from erp.procurement.return_models import SUPPLIER_RETURN_STATES, SupplierReturnState

    fonts.register_fonts()
    words = _Words(bilingual)
    terms = [
        (words(_l("Return number")), ret.number),
        (words(_l("Shipped on")),
         ret.shipped_at.date().isoformat() if ret.shipped_at else words(_l("not yet shipped"))),
        (words(_l("Currency")), ret.currency),
        (words(_l("Debit note")), claim.number if claim is not None else words(_l("on shipping"))),
    ]
    story: list = [_return_parties(ret, company, words), Spacer(1, 4 * mm),
                   pairs_table(terms, widths=(50 * mm, 130 * mm)), Spacer(1, 5 * mm)]
    head = ["#", words(_l("Our SKU"), "\n"), words(_l("Description"), "\n"),
            words(_l("Reason"), "\n"), words(_l("Qty"), "\n"), words(_l("Unit price"), "\n"),
            words(_l("Amount"), "\n")]
    rows: list[list] = [head]
    for n, line in enumerate(ret.lines, start=1):
        sku, product = line.sku, line.sku.product
        variant = " / ".join(v for v in (sku.colour, sku.size) if v)
        rows.append([str(n), sku.code, product.name + (f"\n{variant}" if variant else ""),
                     line.reason or "", f"{line.quantity:,}",
                     format_money(line.unit_price, None, 4), format_money(line.amount)])
    widths = [7 * mm, 28 * mm, 50 * mm, 42 * mm, 13 * mm, 20 * mm, 20 * mm]
    story += [data_table(rows, widths=widths, align_right=(0, 4, 5, 6), size=7.5),
              Spacer(1, 3 * mm), _totals(ret.claim_amount, ret.currency, ret.quantity, words),
              Spacer(1, 5 * mm)]
    notes: list = []
    if ret.note:
        notes.append(Text([(words(_l("Notes:")) + " ", True), (ret.note, False)], 8.5,
                          space_after=1.5 * mm))
    notes.append(Text(words(_l(
        "The total above is claimed from you by debit note and will be deducted from our next "
        "payment to you. Please quote %(number)s in any correspondence.",
        number=ret.number), "\n"), 8.5))
    story.append(KeepTogether(notes))
    state = SupplierReturnState(ret.state)
    subtitle = ""
    if state == SupplierReturnState.draft:
        subtitle = words(_l("%(state)s: not shipped yet",
                            state=str(SUPPLIER_RETURN_STATES.label(state)).upper()))
    elif state == SupplierReturnState.cancelled:
        subtitle = words(_l("CANCELLED"))
    title = f"{words(_l('Return to supplier'))} {ret.number}"
    return a4_document(story, title=title, company=company.name, subtitle=subtitle)


def supplier_return_pdf(ret, *, company: Company, claim=None) -> bytes:
    """Return the A4 return note that goes with the goods, in the supplier's language.

    It shows both parties, the return's number and debit note, each line with its reason, and
    the claim total in the supplier's currency; Chinese captions carry the English too.
    """
    language = getattr(ret.supplier, "language", None) or "en"
    return in_language(language, _supplier_return_pdf, ret, company, claim, language != "en")
