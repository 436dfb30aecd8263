"""Replenishment: what to reorder, how much, from whom; and draft purchase orders from it.

The stock position of a SKU is *available + incoming* (see
:mod:`erp.procurement.replenishment_queries`: reserved stock is taken off once, inside
"available"). An active SKU with a reorder point is suggested when its position is at or
below that point, for :func:`suggested_quantity` units from its preferred supplier item.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select

from erp.catalog.models import Sku
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.models import User
from erp.core.money import round_amount
from erp.extensions import db
from erp.procurement.models import PurchaseOrder, Supplier
from erp.procurement.replenishment_queries import ReplenishmentFilters, suggestion_query
from erp.procurement.services.purchase_orders import (
    add_purchase_order_line,
    create_purchase_order,
)
from erp.procurement.services.suppliers import preferred_supplier_items

#: the note every draft made here carries, so the order says where it came from
DRAFT_NOTE = "Drafted from replenishment suggestions."


class ReplenishmentError(DomainError):
    """Draft orders could not be made from the suggestions given."""


def suggested_quantity(*, reorder_point: int, reorder_qty: int, position: int, moq: int = 1,
                       pack_multiple: int = 1) -> int:
    """Return how many units to order for a SKU whose stock position is ``position``.

    At least the reorder quantity, and enough to bring the position back *above* the reorder
    point; then raised to the supplier's minimum order quantity and rounded up to a whole
    number of packs (rounding up keeps the MOQ, so both supplier rules hold). Without a
    supplier, pass ``moq=1, pack_multiple=1``.
    """
    needed = max(reorder_qty, reorder_point - position + 1, 1)
    quantity = max(needed, moq or 1)
    pack = max(pack_multiple or 1, 1)
    return -(-quantity // pack) * pack


@dataclass(frozen=True)
class Suggestion:
    """One SKU to reorder: its stock position, the preferred supplier item and the quantity.

    The supplier fields are None when no active supplier sells the SKU.
    """

    sku_id: int
    sku_code: str
    colour: str | None
    size: str | None
    product_name: str
    brand_code: str
    category_name: str
    reorder_point: int
    reorder_qty: int
    on_hand: int
    reserved: int
    available: int
    incoming: int
    drafted: int
    quantity: int
    supplier_id: int | None = None
    supplier_code: str | None = None
    supplier_name: str | None = None
    supplier_item_id: int | None = None
    supplier_sku_code: str | None = None
    unit_price: Decimal | None = None
    currency: str | None = None
    moq: int | None = None
    pack_multiple: int | None = None
    lead_time_days: int | None = None

    @property
    def position(self) -> int:
        """Return available plus incoming (reserved is already out of available)."""
        return self.available + self.incoming

    @property
    def amount(self) -> Decimal | None:
        """Return quantity times unit price in the supplier item's currency, or None."""
        if self.unit_price is None:
            return None
        return round_amount(self.unit_price * self.quantity)

    @property
    def has_supplier(self) -> bool:
        """Return whether an active supplier sells the SKU."""
        return self.supplier_id is not None


def suggestion_from_row(row) -> Suggestion:
    """Return the :class:`Suggestion` of one row of :func:`suggestion_query`."""
    values = row._mapping
    position = int(values["available"]) + int(values["incoming"])
    quantity = suggested_quantity(reorder_point=values["reorder_point"],
                                  reorder_qty=values["reorder_qty"], position=position,
                                  moq=values["moq"] or 1,
                                  pack_multiple=values["pack_multiple"] or 1)
    return Suggestion(**{key: values[key] for key in _ROW_FIELDS}, quantity=quantity)


_ROW_FIELDS = tuple(name for name in Suggestion.__dataclass_fields__ if name != "quantity")


def replenishment_suggestions(filters: ReplenishmentFilters | None = None) -> list[Suggestion]:
    """Return every suggestion matching ``filters``, by supplier then SKU code (one query)."""
    rows = db.session.execute(suggestion_query(filters or ReplenishmentFilters()))
    return [suggestion_from_row(row) for row in rows]


def _quantities(items) -> dict[int, tuple[int, int | None]]:
    """Return ``{sku_id: (quantity, supplier_id or None)}`` from suggestions or a mapping.

    :raises ValidationError: for a quantity that is not a whole number above zero.
    """
    if isinstance(items, Mapping):
        pairs = [(sku_id, quantity, None) for sku_id, quantity in items.items()]
    else:
        pairs = []
        for item in items:
            if isinstance(item, Suggestion):
                pairs.append((item.sku_id, item.quantity, item.supplier_id))
            else:
                sku_id, quantity = item
                pairs.append((sku_id, quantity, None))
    wanted: dict[int, tuple[int, int | None]] = {}
    for sku_id, quantity, supplier_id in pairs:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise ValidationError(_("To draft an order line, the quantity must be a whole "
                                    "number above zero, got %(value)s.", value=repr(quantity)),
                                  field="quantity")
        if sku_id in wanted:
            raise ValidationError(_("SKU id %(id)s is given twice; give each SKU once.",
                                    id=sku_id), field="quantity")
        wanted[int(sku_id)] = (quantity, supplier_id)
    return wanted


def create_draft_orders(items: Iterable[Suggestion] | Mapping[int, int]
                        | Iterable[tuple[int, int]], *, actor: User | None
                        ) -> list[PurchaseOrder]:
    """Create one draft purchase order per supplier holding the given SKUs and quantities.

    :param items: :class:`Suggestion` objects (their supplier and quantity are used), or
        ``{sku_id: quantity}`` (or ``(sku_id, quantity)`` pairs), bought from each SKU's
        preferred supplier item.
    :returns: the new drafts, by supplier code; lines by SKU code, priced from the supplier
        items by :func:`~erp.procurement.services.add_purchase_order_line`, which also enforces
        the MOQ and pack multiple and writes the audit trail.
    :raises ReplenishmentError: if nothing is given, a SKU does not exist, or no active
        supplier sells a SKU.
    :raises ValidationError: for a quantity that is not a whole number above zero; and
        whatever the purchase-order services raise (e.g. a quantity below the MOQ).
    """
    wanted = _quantities(items)
    if not wanted:
        raise ReplenishmentError(_("To create draft purchase orders, you must tick at least "
                                   "one suggestion."))
    skus = {sku.id: sku for sku in db.session.scalars(
        select(Sku).where(Sku.id.in_(sorted(wanted))))}
    missing = sorted(set(wanted) - set(skus))
    if missing:
        raise ReplenishmentError(_("To create draft purchase orders, every SKU must exist; SKU "
                                   "id %(id)s does not.", id=missing[0]))
    unresolved = [sku_id for sku_id, (_, supplier_id) in wanted.items() if supplier_id is None]
    chosen = preferred_supplier_items(unresolved) if unresolved else {}
    by_supplier: dict[int, list[tuple[Sku, int]]] = defaultdict(list)
    without = []
    for sku_id, (quantity, supplier_id) in wanted.items():
        if supplier_id is None and sku_id in chosen:
            supplier_id = chosen[sku_id].supplier_id
        if supplier_id is None:
            without.append(skus[sku_id].code)
        else:
            by_supplier[supplier_id].append((skus[sku_id], quantity))
    if without:
        codes = ", ".join(sorted(without)[:10]) + (" ..." if len(without) > 10 else "")
        raise ReplenishmentError(
            _("To create draft purchase orders, every SKU needs an active supplier; no active "
              "supplier sells %(skus)s. Add them to a supplier's price list, or untick them.",
              skus=codes))
    suppliers = db.session.scalars(select(Supplier).where(Supplier.id.in_(sorted(by_supplier)))
                                   .order_by(Supplier.code)).all()
    orders = []
    for supplier in suppliers:
        order = create_purchase_order(supplier, actor=actor, notes=DRAFT_NOTE)
        for sku, quantity in sorted(by_supplier[supplier.id], key=lambda pair: pair[0].code):
            add_purchase_order_line(order, sku, quantity, actor=actor)
        orders.append(order)
    db.session.flush()
    return orders
