"""Demo procurement: four suppliers with price lists, and purchase orders in every state.

Everything goes through the services, as a purchaser and a manager would: the purchasing demo
user drafts, submits, orders and receives; the manager approves what is above the approval
threshold (the approver must not be the creator). Receipts go into bin RCV-01 of warehouse SZ1
(:mod:`erp.warehouse.demo`). Idempotent: suppliers and price-list items are made once, and the
orders only when no demo order exists yet.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from erp.catalog.models import Product, Sku, SkuStatus
from erp.core.models import utcnow
from erp.core.services import get_user_by_username
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import PurchaseOrder, PurchaseOrderState, Supplier
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import Location, PutawayState, PutawayTask, Warehouse

S = PurchaseOrderState

#: code, name, country, currency, lead time (days), contact, email, phone, payment terms, address
SUPPLIERS = [
    ("CN-KQTEX", "Shaoxing Keqiao Textile Mill", "CN", "CNY", 30, "Chen Jing",
     "sales@kqtex.example.com", "+86 575 8412 3377", "30% deposit, 70% before shipment",
     "18 Textile City Avenue\nKeqiao, Shaoxing 312030"),
    ("VN-SGBAG", "Saigon Bag Works", "VN", "USD", 35, "Nguyen Thi Lan",
     "export@sgbag.example.com", "+84 28 3823 9911", "Net 30 after B/L",
     "42 Tan Thuan Export Zone\nDistrict 7, Ho Chi Minh City"),
    ("CN-YKBTL", "Yongkang Drinkware Factory", "CN", "CNY", 25, "Wang Hao",
     "wang.hao@ykbottle.example.com", "+86 579 8723 5150", "50% deposit, 50% before shipment",
     "9 Hardware Industrial Park\nYongkang 321300"),
    ("PT-GMLIN", "Guimarães Linen Atelier", "PT", "EUR", 21, "Inês Carvalho",
     "encomendas@gmlinen.example.com", "+351 253 410 220", "Net 45",
     "Rua da Tecelagem 12\n4810-225 Guimarães"),
]

#: supplier code -> (product styles, price as a share of the declared value, MOQ, pack, preferred)
PRICE_LISTS = {
    "CN-KQTEX": (["LM-DUV", "LM-PIL", "LM-TWL", "LM-MAT", "LM-THR", "NP-TEE", "NP-TEEW",
                  "NP-HOOD", "KB-TEE", "KB-HOOD", "KB-SET", "KB-SLEEP"], "0.55", 48, 12, False),
    "VN-SGBAG": (["NP-DAY", "KB-BAG"], "0.60", 50, 10, False),
    "CN-YKBTL": (["NP-BTL"], "0.40", 96, 24, False),
    # the linen goods: dearer than the mill in China, but preferred for quality
    "PT-GMLIN": (["LM-DUV", "LM-PIL"], "0.75", 12, 1, True),
}

#: the note that marks the demo's purchase orders (and keeps the loader idempotent)
DEMO_NOTE = "Demo purchase order"


def load_demo() -> None:
    """Create the demo suppliers, their price lists and one purchase order per state (once)."""
    buyer = get_user_by_username("purchasing")
    manager = get_user_by_username("manager")
    suppliers = _load_suppliers(buyer)
    _load_price_lists(suppliers, buyer)
    if buyer is None or manager is None:
        return  # the orders need both demo users (``erp demo`` creates them first)
    if db.session.scalar(select(PurchaseOrder.id).where(
            PurchaseOrder.notes.like(f"{DEMO_NOTE}%")).limit(1)):
        return
    receiving = db.session.scalar(
        select(Location).join(Warehouse, Warehouse.id == Location.warehouse_id)
        .where(Warehouse.code == "SZ1", Location.code == "RCV-01"))
    if receiving is None:
        return  # the warehouse demo is not loaded
    orders = _load_orders(suppliers, buyer, manager, receiving)
    worker = get_user_by_username("warehouse")
    if S.received in orders:  # inspected and accepted: its goods wait for put-away
        _accept_lots(orders[S.received], worker)
    _put_away(orders[S.closed], worker)
    _load_landed_costs(orders, buyer, manager)
    _load_returns(orders.get(S.received), receiving, buyer, manager)


def _load_landed_costs(orders: dict[PurchaseOrderState, PurchaseOrder], buyer, manager) -> None:
    """One posted landed cost (sea freight and duty on two orders, by weight), one draft."""
    posted = [r for state in (S.received, S.closed) if state in orders
              for r in orders[state].receipts]
    if posted:
        lc = services.create_landed_cost(
            receipts=posted, method="weight", actor=buyer,
            note="Demo: sea freight Ningbo - Hamburg, container MSKU 7730412",
            charges=[services.ChargeSpec("freight", "1850.00", "CNY", "Kerry Logistics"),
                     services.ChargeSpec("duty", "96.40", "EUR", "Hamburg customs"),
                     services.ChargeSpec("insurance", "12.00", "USD", "Ping An Marine")])
        services.post_landed_cost(lc, actor=manager)
    if S.partially_received in orders:
        services.create_landed_cost(
            receipts=orders[S.partially_received].receipts, method="value", actor=buyer,
            note="Demo: air freight invoice to check before posting",
            charges=[services.ChargeSpec("freight", "320.00", "USD", "DHL Global Forwarding")])


def _load_returns(po: PurchaseOrder | None, receiving: Location, buyer, manager) -> None:
    """Send faulty towels back: one shipped return with its (approved) claim, one draft.

    Units of the received order are found faulty at put-away and moved to quarantine bin
    QUA-01; the supplier return takes them out of there.
    """
    quarantine = db.session.scalar(select(Location).where(
        Location.warehouse_id == receiving.warehouse_id, Location.code == "QUA-01"))
    if po is None or quarantine is None or len(po.lines) < 2:
        return
    first, second = po.lines[0], po.lines[1]
    warehouse_services.transfer(first.sku, receiving, quarantine, 6, actor=buyer,
                                note="Demo: hems coming apart")
    warehouse_services.transfer(second.sku, receiving, quarantine, 2, actor=buyer,
                                note="Demo: colour off shade")
    shipped = services.create_supplier_return(
        po.supplier, actor=buyer, note="Demo: hems coming apart after one wash.",
        lines=[services.ReturnLineSpec(first.sku_id, quarantine.id, 6,
                                       reason="Hems coming apart", ref_type="quarantine",
                                       ref_id=quarantine.id)])
    claim = services.ship_supplier_return(shipped, actor=buyer)
    services.approve_claim(claim, actor=manager)
    services.create_supplier_return(
        po.supplier, actor=buyer, note="Demo: waiting for the supplier's return number.",
        lines=[services.ReturnLineSpec(second.sku_id, quarantine.id, 2,
                                       reason="Colour off shade", ref_type="quarantine",
                                       ref_id=quarantine.id)])


def _load_suppliers(actor) -> dict[str, Supplier]:
    suppliers = {}
    for code, name, country, currency, lead, contact, email, phone, terms, address in SUPPLIERS:
        supplier = services.get_supplier_by_code(code)
        if supplier is None:
            supplier = services.create_supplier(
                code=code, name=name, country=country, currency=currency, actor=actor,
                contact_name=contact, email=email, phone=phone, address=address,
                payment_terms=terms, lead_time_days=lead)
        suppliers[code] = supplier
    return suppliers


def _skus_of(styles: list[str]) -> list[Sku]:
    return list(db.session.scalars(
        select(Sku).join(Product, Product.id == Sku.product_id)
        .where(Product.code.in_(styles), Sku.status == SkuStatus.active).order_by(Sku.code)))


def _load_price_lists(suppliers: dict[str, Supplier], actor) -> None:
    from erp.core.money import convert

    today = utcnow().date()
    for code, (styles, share, moq, pack, preferred) in PRICE_LISTS.items():
        supplier = suppliers[code]
        for n, sku in enumerate(_skus_of(styles)):
            if services.get_supplier_item(supplier, sku) is not None:
                continue
            value = sku.declared_value or Decimal("10")
            in_usd = value * Decimal(share)
            price = convert(in_usd, sku.declared_currency or "USD", supplier.currency, on=today,
                            places=Decimal("0.01"))
            services.set_supplier_item(
                supplier, sku, unit_price=price, actor=actor, moq=moq, pack_multiple=pack,
                supplier_code=f"{code.split('-')[1]}-{n + 1:04d}", preferred=preferred)


def _lines(supplier: Supplier, styles: list[str], count: int, start: int = 0):
    """Return ``count`` (sku, quantity) pairs of the supplier's price list, in whole packs."""
    items = {item.sku_id: item for item in supplier.items}
    chosen = [sku for sku in _skus_of(styles) if sku.id in items][start:start + count]
    return [(sku, max(items[sku.id].moq, items[sku.id].pack_multiple * 10)) for sku in chosen]


def _load_orders(suppliers: dict[str, Supplier], buyer, manager,
                 receiving: Location) -> dict[PurchaseOrderState, PurchaseOrder]:
    today = utcnow().date()
    textile, bags = suppliers["CN-KQTEX"], suppliers["VN-SGBAG"]
    bottles, linen = suppliers["CN-YKBTL"], suppliers["PT-GMLIN"]
    plans = [
        # (state, supplier, lines, ordered how many days ago)
        (S.draft, textile, _lines(textile, ["KB-TEE"], 4), None),
        (S.awaiting_approval, linen, [(sku, qty * 20) for sku, qty in
                                      _lines(linen, ["LM-DUV"], 3)], None),
        (S.approved, bottles, _lines(bottles, ["NP-BTL"], 3), None),
        (S.ordered, textile, [(sku, qty * 5) for sku, qty in
                              _lines(textile, ["NP-TEE"], 6)], 45),  # large: a manager approved
        (S.partially_received, bags, _lines(bags, ["NP-DAY"], 4), 30),
        (S.received, textile, _lines(textile, ["LM-TWL"], 3), 40),
        (S.closed, linen, _lines(linen, ["LM-PIL"], 3), 60),
        (S.cancelled, bags, _lines(bags, ["KB-BAG"], 2), None),
    ]
    orders = {}
    for state, supplier, lines, days_ago in plans:
        if lines:
            orders[state] = _order(state, supplier, lines, buyer, manager, receiving,
                                   ordered_on=today - timedelta(days=days_ago) if days_ago
                                   else None)
    return orders


def _put_away(po: PurchaseOrder | None, worker) -> None:
    """Put the oldest order's goods away into their suggested bins; the newer ones still wait.

    The receipts opened put-away tasks in the receiving bin (the warehouse does that for any
    arrival there), so the demo shows both: tasks done, and tasks waiting on the scanner screen.
    """
    if po is None:
        return
    _accept_lots(po, worker)
    skus = {line.sku_id for line in po.lines}
    for task in db.session.scalars(select(PutawayTask).where(
            PutawayTask.state == PutawayState.open, PutawayTask.sku_id.in_(skus))
            .order_by(PutawayTask.id)):
        if task.suggested_location is not None:
            warehouse_services.confirm_putaway(task, task.suggested_location, actor=worker)


def _accept_lots(po: PurchaseOrder, worker) -> None:
    """Accept the inspection lots of the order's receipts (nothing found): they go to put-away."""
    from erp.quality import queries as quality_queries
    from erp.quality import services as quality_services
    from erp.quality.models import Inspection

    receipt_lines = [rl.id for receipt in po.receipts for rl in receipt.lines]
    for outcome in quality_queries.outcomes_for("receipt_line", receipt_lines).values():
        if outcome.pending:
            quality_services.decide_inspection(db.session.get(Inspection, outcome.inspection_id),
                                               actor=worker, note="Demo: nothing found")


def _order(state, supplier, lines, buyer, manager, receiving, *, ordered_on) -> PurchaseOrder:
    """Draft an order and take it through the services to ``state``."""
    label = state.value.replace("_", " ")
    po = services.create_purchase_order(supplier, actor=buyer, notes=f"{DEMO_NOTE} ({label}).")
    for sku, quantity in lines:
        services.add_purchase_order_line(po, sku, quantity, actor=buyer)
    if state == S.draft:
        return po
    services.submit_purchase_order(po, actor=buyer)
    if state == S.awaiting_approval:
        return po
    if po.state == S.awaiting_approval:
        services.approve_purchase_order(po, approver=manager)
    if state == S.cancelled:
        services.cancel_purchase_order(po, actor=buyer, reason="Demo: replaced by a larger order")
        return po
    if state == S.approved:
        return po
    services.mark_purchase_order_ordered(po, actor=buyer, ordered_on=ordered_on)
    if state == S.ordered:
        return po
    if state == S.received:
        services.receive_purchase_order(po, {line.id: line.quantity for line in po.lines},
                                        location=receiving, actor=buyer, note="Demo delivery")
        return po
    # partially received and closed: two deliveries, the second leaves part of one line out
    first = {line.id: line.quantity // 2 for line in po.lines}
    services.receive_purchase_order(po, first, location=receiving, actor=buyer,
                                    note="Demo delivery 1 of 2")
    if state == S.partially_received:
        return po
    second = {line.id: line.remaining_qty - (line.remaining_qty // 3 if n == 0 else 0)
              for n, line in enumerate(po.lines)}
    services.receive_purchase_order(po, second, location=receiving, actor=buyer,
                                    note="Demo delivery 2 of 2")
    services.close_purchase_order(po, actor=buyer,
                                  reason="Demo: the supplier cannot make the rest this season")
    return po
