"""The production order PDF sent to the contract maker (A4), in the maker's language.

Like the purchase order (:mod:`erp.procurement.documents`), it prints in
``Supplier.language``: a maker reading Chinese gets every caption in Chinese followed by the
English (``生产单 Production order``), and the measurement names in Chinese (``label_zh``)
beside the English; other makers get English. The tailor works from the measurements table:
the measurement, its code, the value and the unit, one row each.
"""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer
from sqlalchemy import select

from erp.core import fonts
from erp.core import settings as core_settings
from erp.core.addresses import free_address
from erp.core.i18n import _l
from erp.core.pdf import (
    A4_INNER_WIDTH,
    BilingualWords,
    Company,
    Heading,
    Text,
    a4_document,
    block,
    boxes,
    data_table,
    in_language,
    pairs_table,
)
from erp.extensions import db
from erp.production.models import (
    PRODUCTION_STATES,
    MeasurementField,
    ProductionOrder,
    ProductionState,
)
from erp.production.services.orders import measurements_of


@dataclass(frozen=True)
class MeasurementRow:
    """One measurement as the tailor reads it."""

    label: str
    code: str
    value: str
    unit: str


def measurement_rows(po: ProductionOrder, *, chinese: bool) -> list[MeasurementRow]:
    """Return the production order's measurements in its product's template order.

    Labels come from the product's :class:`MeasurementField` rows (``label_zh`` and the
    English label for a Chinese maker); a code the template no longer has prints its code.
    """
    values = measurements_of(po)
    if not values:
        return []
    fields = {f.code: f for f in db.session.scalars(
        select(MeasurementField).where(MeasurementField.product_id == po.product_id)
        .order_by(MeasurementField.position, MeasurementField.id))}
    order = [code for code in fields if code in values] + sorted(
        code for code in values if code not in fields)
    rows = []
    for code in order:
        field = fields.get(code)
        if field is None:
            label, unit = code, ""
        elif chinese and field.label_zh:
            label, unit = f"{field.label_zh} {field.label}", field.unit
        else:
            label, unit = field.label, field.unit
        rows.append(MeasurementRow(label=label, code=code, value=f"{values[code]:f}", unit=unit))
    return rows


def _parties(po: ProductionOrder, company: Company, words: BilingualWords):
    maker = po.maker
    buyer_lines, _country = free_address((company.address or "").splitlines(),
                                         company.country
                                         or core_settings.get("company_country"),
                                         name=company.name)
    maker_lines, _country = free_address((maker.address or "").splitlines(), maker.country,
                                         name=maker.name)
    contact = [f"{words(_l('Supplier code'))}: {maker.code}"]
    if maker.contact_name:
        contact.append(f"{words(_l('Attn'))}: {maker.contact_name}")
    contact += [value for value in (maker.email, maker.phone) if value]
    buyer = block(words(_l("Buyer")), buyer_lines, bold_line=company.name)
    seller = block(words(_l("Maker")), maker_lines + contact, bold_line=maker.name)
    return boxes([buyer, seller], [A4_INNER_WIDTH / 2] * 2)


def _terms(po: ProductionOrder, words: BilingualWords):
    sku, product = po.sku, po.product
    variant = " / ".join(v for v in (sku.colour, sku.size) if v)
    spec = po.spec_version.label if po.spec_version is not None else words(_l("none"))
    rows = [
        (words(_l("Order number")), po.number),
        (words(_l("Customer order")), po.order.number),
        (words(_l("Ordered on")), po.ordered_at.date().isoformat() if po.ordered_at else ""),
        (words(_l("Due date")), po.due_date.isoformat()),
        (words(_l("Product")), f"{product.code} {product.name}"),
        (words(_l("SKU")), sku.code + (f" ({variant})" if variant else "")),
        (words(_l("Specification")), spec),
        (words(_l("Quantity")), f"{po.quantity:,}"),
    ]
    if po.mto_size:
        rows.append((words(_l("Size")), po.mto_size))
    return pairs_table(rows, widths=(50 * mm, 130 * mm), size=10)


def _measurements(po: ProductionOrder, words: BilingualWords, chinese: bool) -> list:
    rows = measurement_rows(po, chinese=chinese)
    if not rows:
        return []
    head = [words(_l("Measurement"), "\n"), words(_l("Code"), "\n"),
            words(_l("Value"), "\n"), words(_l("Unit"), "\n")]
    table = data_table([head] + [[r.label, r.code, r.value, r.unit] for r in rows],
                       widths=[80 * mm, 45 * mm, 30 * mm, 25 * mm], align_right=(2,),
                       size=11)
    return [Heading(words(_l("Measurements (made to measure)")), 11), Spacer(1, 2 * mm), table]


def _production_order_pdf(po: ProductionOrder, company: Company, bilingual: bool) -> bytes:
    fonts.register_fonts()
    words = BilingualWords(bilingual)
    chinese = bilingual
    story: list = [_parties(po, company, words), Spacer(1, 4 * mm), _terms(po, words),
                   Spacer(1, 5 * mm)]
    story += _measurements(po, words, chinese)
    notes: list = [Spacer(1, 5 * mm)]
    if po.spec_version is not None:
        notes.append(Text(words(_l(
            "Make the goods to specification %(spec)s. Ask us for a copy before production.",
            spec=po.spec_version.label), "\n"), 8.5, space_after=1.5 * mm))
    notes.append(Text(words(_l(
        "This item is made for one customer. Label it with %(number)s and quote %(number)s on "
        "the delivery note; deliver by %(due)s.", number=po.number,
        due=po.due_date.isoformat()), "\n"), 8.5))
    story.append(KeepTogether(notes))
    state = PRODUCTION_STATES.enum(po.state)
    subtitle = ""
    if state == ProductionState.cancelled:
        subtitle = words(_l("CANCELLED"))
    title = f"{words(_l('Production order'))} {po.number}"
    return a4_document(story, title=title, company=company.name, subtitle=subtitle)


def production_order_pdf(po: ProductionOrder, *, company: Company | None = None) -> bytes:
    """Return the A4 production order for the maker, in the maker's language.

    It shows the buyer and maker, the order's number, customer order, due date, product, SKU
    and specification version, and the size or a table of the measurements (label, code,
    value, unit).
    """
    language = getattr(po.maker, "language", None) or "en"
    return in_language(language, _production_order_pdf, po, company or Company.from_settings(),
                       language != "en")
