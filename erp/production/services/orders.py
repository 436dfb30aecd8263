"""Production orders: made when a made-to-order line is paid, moved on, cancelled with a fee.

One production order per paid order line of a ``product.made_to_order`` product, to the
product's contract maker (:class:`~erp.production.models.MtoProduct`), carrying the product's
specification version, the line's size or measurements and a due date ``production_days``
business days (Monday to Friday) after payment. The maker's progress moves it on (ordered, in
production, finished, shipped to the warehouse); the warehouse receives it
(:mod:`erp.production.services.receiving`).

Cancelling the customer order cancels its open production orders: free while ``ordered``,
otherwise the setting ``mto_cancel_fee_percent`` of the line (unit price × quantity, in the
order's currency). A production order already received keeps its goods in stock (the order's
cancel releases the line's reservation) and is charged the fee too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from erp.catalog.models import Product, Sku
from erp.core import audit
from erp.core import settings as core_settings
from erp.core.errors import ValidationError
from erp.core.i18n import _
from erp.core.locking import lock, lock_many
from erp.core.models import utcnow
from erp.core.money import round_amount
from erp.core.numbering import next_number
from erp.core.states import InvalidTransition, transition
from erp.extensions import db
from erp.orders.models import CustomerOrder, CustomerOrderLine
from erp.production import settings as _settings  # noqa: F401 - declares the fee setting
from erp.production.models import (
    PRODUCTION_STATES,
    MtoProduct,
    ProductionOrder,
    ProductionState,
)

PS = ProductionState
NUMBER_PREFIX = "MO"
FEE_SETTING = "mto_cancel_fee_percent"
#: the maker's moves and the time stamp each one sets
MOVES = {PS.in_production: "started_at", PS.finished: "finished_at", PS.shipped: "shipped_at"}
#: states a cancelled customer order reaches (received: the goods stay, the fee is charged)
CANCELLABLE = frozenset({PS.ordered, PS.in_production, PS.finished, PS.shipped, PS.received})
_CHUNK = 500


def due_date(maker_days: int, from_date: date) -> date:
    """Return the day ``maker_days`` business days (Monday to Friday) after ``from_date``.

    Paid on a Friday with 1 day: the Monday after. Paid on a Saturday with 1 day: Monday too.
    """
    day, left = from_date, max(int(maker_days), 0)
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def _chunks(values: Sequence, size: int = _CHUNK):
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _made_to_order_lines(order_ids: Sequence[int]) -> list[tuple[CustomerOrderLine, Product]]:
    """Return the orders' lines of made-to-order products with their product, by line id.

    One query per 500 orders: intake hands over every paid order (an import: thousands),
    and almost none has such a line, so their lines are never loaded one order at a time.
    """
    found: list[tuple[CustomerOrderLine, Product]] = []
    for chunk in _chunks(sorted(order_ids)):
        found.extend(db.session.execute(
            select(CustomerOrderLine, Product)
            .join(Sku, Sku.id == CustomerOrderLine.sku_id)
            .join(Product, Product.id == Sku.product_id)
            .where(CustomerOrderLine.order_id.in_(chunk), Product.made_to_order.is_(True))
            .order_by(CustomerOrderLine.id)).tuples())
    return found


def _paid_date(order: CustomerOrder) -> date:
    return (order.paid_at or utcnow()).date()


def create_for_orders(orders: Iterable[CustomerOrder], *, actor) -> list[ProductionOrder]:
    """Make the production order of every made-to-order line of the paid ``orders``.

    Registered in :data:`erp.orders.hooks.orders_paid`: intake calls it in its transaction.
    A line that already has its production order is left alone, so a second call does
    nothing. The orders are locked first, so two calls at once make each one once.

    :returns: the production orders made now.
    :raises ValidationError: naming the order, line and product when a made-to-order product
        has no maker set up (nothing is written then).
    """
    orders = [order for order in orders if order is not None]
    if not orders:
        return []
    db.session.flush()  # the API's new order and lines: their ids, and the query below
    by_id = {order.id: order for order in orders}
    found = _made_to_order_lines(list(by_id))
    if not found:
        return []
    products = {line.sku_id: product for line, product in found}
    wanted = [(by_id[line.order_id], line) for line, _product in found]
    lock_many(CustomerOrder, {order.id for order, _line in wanted})
    line_ids = [line.id for _order, line in wanted]
    done: set[int] = set()
    for chunk in _chunks(line_ids):
        done.update(db.session.scalars(select(ProductionOrder.order_line_id)
                                       .where(ProductionOrder.order_line_id.in_(chunk))))
    product_ids = sorted({products[line.sku_id].id for _order, line in wanted})
    makers = {row.product_id: row for chunk in _chunks(product_ids)
              for row in db.session.scalars(select(MtoProduct)
                                            .where(MtoProduct.product_id.in_(chunk)))}
    for order, line in wanted:  # refuse before writing anything
        product = products[line.sku_id]
        if product.id not in makers and line.id not in done:
            raise ValidationError(_(
                'Order "%(order)s", line %(sku)s: product "%(product)s" is made to order but '
                "has no maker. Set its maker and production time under Made-to-order products "
                "first.", order=order.number, sku=line.sku.code if line.sku else line.sku_id,
                product=product.code), field="lines")
    made: list[ProductionOrder] = []
    for order, line in wanted:
        if line.id in done:
            continue
        product = products[line.sku_id]
        setup = makers[product.id]
        paid = _paid_date(order)
        po = ProductionOrder(
            number=next_number(NUMBER_PREFIX), order_line_id=line.id, order_id=order.id,
            product_id=product.id, sku_id=line.sku_id, maker_id=setup.maker_id,
            spec_version_id=product.spec_version_id, quantity=line.quantity,
            mto_size=line.mto_size, measurements=line.measurements, state=PS.ordered,
            due_date=due_date(setup.production_days, paid), ordered_at=utcnow(),
            created_by_id=getattr(actor, "id", None))
        db.session.add(po)
        db.session.flush()
        audit.record(po, "production_order.created", actor=actor, changes={
            "order": order.number, "sku": line.sku.code, "quantity": po.quantity,
            "maker": setup.maker.name, "due_date": po.due_date.isoformat(),
            "paid_on": paid.isoformat()})
        done.add(line.id)
        made.append(po)
    return made


def measurements_of(po: ProductionOrder) -> dict[str, Decimal]:
    """Return the production order's measurements as ``{code: Decimal}`` (empty if a size)."""
    if not po.measurements:
        return {}
    try:
        raw = json.loads(po.measurements)
    except ValueError:
        return {}
    return {str(code): Decimal(str(value)) for code, value in sorted(raw.items())}


def move(po: ProductionOrder, target: ProductionState | str, *, actor,
         note: str | None = None) -> ProductionOrder:
    """Move the production order on as the maker reports (started, finished, shipped).

    Locked first: of two identical moves at once, the second finds the state already moved
    and is refused.

    :raises InvalidTransition: for a move the state table does not allow from here.
    :raises ValidationError: for a target that is not one of the maker's moves.
    """
    target = PRODUCTION_STATES.enum(target) if not isinstance(target, PS) else target
    if target not in MOVES:
        raise ValidationError(_("A production order moves on to in production, finished or "
                                "shipped to warehouse here; receiving and cancelling are done "
                                "elsewhere."), field="to")
    lock(po)
    transition(po, target, machine=PRODUCTION_STATES, actor=actor, note=note)
    setattr(po, MOVES[target], utcnow())
    db.session.flush()
    return po


def start(po: ProductionOrder, *, actor=None, note: str | None = None) -> ProductionOrder:
    """The maker started production (ordered -> in production)."""
    return move(po, PS.in_production, actor=actor, note=note)


def finish(po: ProductionOrder, *, actor=None, note: str | None = None) -> ProductionOrder:
    """The maker finished the goods (in production -> finished)."""
    return move(po, PS.finished, actor=actor, note=note)


def ship(po: ProductionOrder, *, actor=None, note: str | None = None) -> ProductionOrder:
    """The maker shipped the goods to the warehouse (finished -> shipped)."""
    return move(po, PS.shipped, actor=actor, note=note)


def fee_for(po: ProductionOrder) -> Decimal | None:
    """Return what cancelling ``po`` now costs: None while ordered, else the fee of its line."""
    if PRODUCTION_STATES.enum(po.state) == PS.ordered:
        return None
    percent = Decimal(core_settings.get(FEE_SETTING))
    line: CustomerOrderLine = po.order_line
    return round_amount(Decimal(line.unit_price) * po.quantity * percent / Decimal(100))


def cancel(po: ProductionOrder, *, actor, reason: str) -> Decimal | None:
    """Cancel ``po`` (its customer order is being cancelled); return the fee (None: free).

    Free while ``ordered``; after production started the fee of :func:`fee_for` is stored on
    the production order (``cancel_fee``, ``fee_currency``: the order's). A received
    production order stays received (its goods are in stock) and is charged the fee.

    :raises InvalidTransition: if it is cancelled already.
    """
    lock(po)
    state = PRODUCTION_STATES.enum(po.state)
    if state not in CANCELLABLE:
        raise InvalidTransition(po, state, PS.cancelled, PRODUCTION_STATES)
    fee = fee_for(po)
    currency = po.order.currency if fee is not None else None
    text = (reason or "").strip()[:200] or None
    changes: dict = {"cancel_fee": [None, f"{fee} {currency}" if fee is not None else None]}
    po.cancel_reason, po.cancel_fee, po.fee_currency = text, fee, currency
    if state == PS.received:
        if fee is not None:
            audit.record(po, "production_order.fee_charged", actor=actor,
                         changes={**changes, "note": text})
    else:
        po.cancelled_at = utcnow()
        transition(po, PS.cancelled, machine=PRODUCTION_STATES, actor=actor, note=text,
                   changes=changes if fee is not None else None)
    db.session.flush()
    return fee


def production_orders_of(order_id: int) -> list[ProductionOrder]:
    """Return the production orders of a customer order, by number."""
    return list(db.session.scalars(select(ProductionOrder)
                                   .where(ProductionOrder.order_id == order_id)
                                   .order_by(ProductionOrder.number)))


def cancel_for_order(order: CustomerOrder, *, actor, reason: str, **_signal) -> dict | None:
    """Cancel the open production orders of an order being cancelled; return audit details.

    Connected to :data:`erp.orders.hooks.order_cancelling`. The details name the production
    orders cancelled and, when production had started, the fee (``production_fee``).
    """
    ids = list(db.session.scalars(
        select(ProductionOrder.id).where(ProductionOrder.order_id == order.id,
                                         ProductionOrder.state.in_(list(CANCELLABLE)),
                                         ProductionOrder.cancel_fee.is_(None))))
    if not ids:
        return None
    total, charged, cancelled = Decimal("0.00"), False, []
    note = f"Order {order.number} cancelled: {reason}"
    for po in lock_many(ProductionOrder, ids):
        fee = cancel(po, actor=actor, reason=note)
        cancelled.append(po.number)
        if fee is not None:
            total += fee
            charged = True
    details: dict = {"production_cancelled": cancelled}
    if charged:
        details["production_fee"] = f"{round_amount(total)} {order.currency}"
    return details
