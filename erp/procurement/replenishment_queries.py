"""Read-side queries of replenishment: stock position per SKU and its preferred supplier item.

A SKU's *stock position* is what it can still sell plus what is on its way:

    position = available + incoming
    available = on hand - reserved          (summed over every bin, from ``stock_level``)
    incoming = remaining quantity on lines of purchase orders in the "incoming" group
               (approved, ordered, partially received)

Issue 5 words it as "available plus incoming minus reserved". Reserved stock is subtracted
once, inside ``available`` (the warehouse's :func:`~erp.warehouse.queries.availability_query`),
and never a second time. Draft orders and orders awaiting approval are not incoming (nobody
has committed to them yet); what they hold is shown apart as ``drafted``, so a purchaser sees
that a draft already covers a SKU.

Everything is computed by aggregates in one statement over every SKU (no query per SKU), so
suggestions over 100,000 SKUs take a second or two (the ``replenishment`` benchmark).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    BigInteger,
    Select,
    and_,
    case,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
)

from erp.brands.models import Brand
from erp.catalog.models import Category, Product, Sku, SkuStatus
from erp.core import settings
from erp.core.models import ExchangeRate, utcnow
from erp.core.types import Rate
from erp.extensions import db
from erp.procurement.models import (
    PURCHASE_ORDER_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Supplier,
    SupplierItem,
)
from erp.warehouse.queries import availability_query

#: orders whose open quantity is already committed to (counted as incoming)
INCOMING_STATES = tuple(sorted(PURCHASE_ORDER_STATES.groups["incoming"]))
#: orders not yet committed to: shown as "drafted", not counted in the stock position
DRAFTED_STATES = (PurchaseOrderState.awaiting_approval, PurchaseOrderState.draft)
#: the supplier filter's value for SKUs that have no supplier item of an active supplier
NO_SUPPLIER = "none"


@dataclass
class ReplenishmentFilters:
    """The suggestion list's filters (and its export's).

    :param supplier_id: the preferred supplier's id, or :data:`NO_SUPPLIER` for SKUs without one.
    :param undrafted_only: leave out SKUs already on a draft or an order awaiting approval.
    :param sku_ids: only these SKUs (the "Create draft POs" button re-reads the ticked ones).
    """

    brand_id: int | None = None
    category_id: int | None = None
    supplier_id: int | str | None = None
    undrafted_only: bool = False
    sku_ids: tuple[int, ...] | None = None


def _open_quantity(line):
    """Return what a line still has to deliver, never below zero (over-receipt is possible)."""
    remaining = line.quantity - line.received_qty - line.cancelled_qty
    return case((remaining > 0, remaining), else_=0)


def open_quantity_query(states) -> Select:
    """Return ``(sku_id, quantity)``: the quantity still to receive on orders in ``states``."""
    line = PurchaseOrderLine.__table__.c
    order = PurchaseOrder.__table__.c
    return (select(line.sku_id, func.sum(_open_quantity(line)).label("quantity"))
            .join(PurchaseOrder.__table__, order.id == line.order_id)
            .where(order.state.in_(list(states)))
            .group_by(line.sku_id))


def incoming_query() -> Select:
    """Return ``(sku_id, quantity)`` still to come on approved, ordered, partly received POs."""
    return open_quantity_query(INCOMING_STATES)


def latest_rates(on: date | None = None) -> dict[str, int]:
    """Return each currency's latest exchange rate on ``on`` as stored (10^-8 base units).

    Used only to rank supplier prices in different currencies, in integers on both databases.
    """
    on = on or utcnow().date()
    latest = (select(ExchangeRate.currency, func.max(ExchangeRate.valid_from).label("valid_from"))
              .where(ExchangeRate.valid_from <= on).group_by(ExchangeRate.currency).subquery())
    raw_rate = type_coerce(ExchangeRate.__table__.c.rate, BigInteger)
    rows = db.session.execute(
        select(ExchangeRate.currency, raw_rate)
        .join(latest, and_(latest.c.currency == ExchangeRate.currency,
                           latest.c.valid_from == ExchangeRate.valid_from))).all()
    return {currency: int(rate) for currency, rate in rows}


def preferred_item_query(base_currency: str, rates: dict[str, int]):
    """Return a subquery of every SKU's supplier items of active suppliers, ranked.

    ``rank`` 1 is the item to buy from, by the rule of
    :func:`~erp.procurement.services.preferred_supplier_items` done in SQL for every SKU at
    once: the item flagged preferred, else the cheapest in the base currency (converted at
    ``rates``, as :func:`latest_rates` returns them; a currency without a rate ranks after the
    others), then the shorter lead time (the item's, else the supplier's), then the supplier
    code.
    """
    item = SupplierItem.__table__.c
    supplier = Supplier.__table__.c
    # Money is stored as an integer of 10^-4 units and rates of 10^-8: their product ranks
    # prices exactly on both databases, without floats.
    price = type_coerce(item.unit_price, BigInteger)
    one = 10 ** Rate().scale
    whens = [(item.currency == base_currency, price * literal(one, BigInteger))]
    whens += [(item.currency == ccy, price * literal(rate, BigInteger))
              for ccy, rate in sorted(rates.items()) if ccy != base_currency]
    price_in_base = case(*whens, else_=null())
    rank = func.row_number().over(
        partition_by=item.sku_id,
        order_by=(item.preferred.desc(), price_in_base.is_(None), price_in_base,
                  func.coalesce(item.lead_time_days, supplier.lead_time_days), supplier.code,
                  item.id))
    return (select(item.id, item.sku_id, item.supplier_id, item.supplier_code, item.unit_price,
                   item.currency, item.moq, item.pack_multiple, item.lead_time_days,
                   item.preferred, rank.label("item_rank"))
            .join(Supplier.__table__, supplier.id == item.supplier_id)
            .where(supplier.active.is_(True))
            .subquery("ranked_item"))


def suggestion_query(filters: ReplenishmentFilters, *, base_currency: str | None = None,
                     rates: dict[str, int] | None = None) -> Select:
    """Return one row per active SKU at or below its reorder point, with its preferred supplier.

    Rows: ``sku_id, sku_code, colour, size, product_name, brand_code, category_name,
    reorder_point, reorder_qty, on_hand, reserved, available, incoming, drafted,
    supplier_item_id, supplier_id, supplier_code, supplier_name, supplier_sku_code, unit_price,
    currency, moq, pack_multiple, lead_time_days``; SKUs without a supplier have None there.
    Sorted by supplier (those without one last), then SKU code, as the draft orders will group.
    ``base_currency`` and ``rates`` (to rank supplier prices) are read when not given.
    """
    if base_currency is None:
        base_currency = settings.base_currency()
    if rates is None:
        rates = latest_rates()
    stock = availability_query().subquery("stock")
    incoming = incoming_query().subquery("incoming")
    drafted = open_quantity_query(DRAFTED_STATES).subquery("drafted")
    ranked = preferred_item_query(base_currency, rates)
    available = func.coalesce(stock.c.available, 0)
    incoming_qty = func.coalesce(incoming.c.quantity, 0)
    drafted_qty = func.coalesce(drafted.c.quantity, 0)
    stmt = (select(Sku.id.label("sku_id"), Sku.code.label("sku_code"), Sku.colour, Sku.size,
                   Product.name.label("product_name"), Brand.code.label("brand_code"),
                   Category.full_name.label("category_name"), Sku.reorder_point,
                   Sku.reorder_qty, func.coalesce(stock.c.on_hand, 0).label("on_hand"),
                   func.coalesce(stock.c.reserved, 0).label("reserved"),
                   available.label("available"), incoming_qty.label("incoming"),
                   drafted_qty.label("drafted"), ranked.c.id.label("supplier_item_id"),
                   Supplier.id.label("supplier_id"), Supplier.code.label("supplier_code"),
                   Supplier.name.label("supplier_name"),
                   ranked.c.supplier_code.label("supplier_sku_code"), ranked.c.unit_price,
                   ranked.c.currency, ranked.c.moq, ranked.c.pack_multiple,
                   func.coalesce(ranked.c.lead_time_days, Supplier.lead_time_days)
                   .label("lead_time_days"))
            .join(Product, Product.id == Sku.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .join(Category, Category.id == Product.category_id)
            .outerjoin(stock, stock.c.sku_id == Sku.id)
            .outerjoin(incoming, incoming.c.sku_id == Sku.id)
            .outerjoin(drafted, drafted.c.sku_id == Sku.id)
            .outerjoin(ranked, and_(ranked.c.sku_id == Sku.id, ranked.c.item_rank == 1))
            .outerjoin(Supplier, Supplier.id == ranked.c.supplier_id)
            .where(Sku.status == SkuStatus.active, Sku.reorder_point > 0,
                   available + incoming_qty <= Sku.reorder_point))
    if filters.brand_id:
        stmt = stmt.where(Product.brand_id == filters.brand_id)
    if filters.category_id:
        subtree = (select(Category.path).where(Category.id == filters.category_id)
                   .scalar_subquery())
        stmt = stmt.where(Product.category_id.in_(
            select(Category.id).where(Category.path.like(subtree + "%"))))
    if filters.supplier_id == NO_SUPPLIER:
        stmt = stmt.where(ranked.c.id.is_(None))
    elif filters.supplier_id:
        stmt = stmt.where(Supplier.id == filters.supplier_id)
    if filters.undrafted_only:
        stmt = stmt.where(or_(drafted.c.quantity.is_(None), drafted.c.quantity == 0))
    if filters.sku_ids is not None:
        stmt = stmt.where(Sku.id.in_(list(filters.sku_ids)))
    return stmt.order_by(Supplier.code.is_(None), Supplier.code, Sku.code)


def suggestion_count_query(filters: ReplenishmentFilters, *, base_currency: str | None = None,
                           rates: dict[str, int] | None = None) -> Select:
    """Return the number of rows :func:`suggestion_query` gives."""
    inner = suggestion_query(filters, base_currency=base_currency, rates=rates).order_by(None)
    return select(func.count()).select_from(inner.subquery())


def supplier_choices() -> Select:
    """Return ``(id, code, name)`` of the active suppliers, by code, for the supplier filter."""
    return (select(Supplier.id, Supplier.code, Supplier.name)
            .where(Supplier.active.is_(True)).order_by(Supplier.code))
