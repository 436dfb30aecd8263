"""Scenario: a made-to-measure suit from the storefront to the customer, cancels and a refund.

A suit is set up made to order (its maker, 12 business days, sizes and a measurement
template). The storefront posts a paid order through the API: an out-of-range chest is refused
and nothing is written; the corrected order makes a production order to the maker (due date in
business days, measurements copied) whose PDF the tailor works from. The maker starts,
finishes and ships it; the warehouse receives it into a bin, where it is reserved to that order
line alone (a spare suit of the same SKU is never given to the order, and the received one is
never given to another order). The order is then picked, packed, labelled and dispatched.

Two more orders are cancelled: one before production starts (free), one after (the fee, a
share of the line). The shipped suit does not fit: an alteration refund within its cap is
granted, one above the cap is refused. The stock ledger balances at the end.

Everything goes through the real registered hooks (intake -> production, production ->
allocation, order cancel -> production), calling services and committing where a screen would.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import CaseType, RefundKind, RefundState
from erp.aftersales.services import cases, resolution
from erp.core import services as core_services
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.core.states import InvalidTransition
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_orders, cancel_order
from erp.orders.services.splitting import split_order
from erp.production import documents
from erp.production.models import ProductionOrder, ProductionState
from erp.production.services import orders as production
from erp.production.services import products, receiving
from erp.shipping.models import ParcelState
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.warehouse.models import LocationKind, Reservation, StockLevel, StockMove
from erp.warehouse.queries import ledger_problems
from erp.warehouse.services import virtual_location
from tests.pdfcheck import check_layout

PS = ProductionState
TEMPLATE = [
    products.FieldRow("chest_cm", "Chest", "胸围", "cm", "70", "140", True),
    products.FieldRow("waist_cm", "Waist", "腰围", "cm", "60", "130", True),
    products.FieldRow("sleeve_cm", "Sleeve", "袖长", "cm", "50", "75", False),
]
MEASURED = {"chest_cm": "96.5", "waist_cm": "80", "sleeve_cm": "62"}
PRICE, SHIPPING = Decimal("480.00"), Decimal("20.00")


def order_payload(number: str, *, extra: tuple = (), **line) -> dict:
    """A paid storefront order of one suit (480.00 EUR + 20.00 shipping), to Berlin.

    ``extra``: more lines ``(sku code, quantity, unit price)`` of stocked goods.
    """
    extra_lines = [{"sku": code, "quantity": qty, "unit_price": price}
                   for code, qty, price in extra]
    paid = PRICE + SHIPPING + sum((Decimal(price) * qty for _c, qty, price in extra), Decimal(0))
    return {
        "number": number, "placed_at": "2026-11-20T10:15:00Z", "customer_name": "Anna Schmidt",
        "email": "anna@example.de", "phone": "+49 30 1234567",
        "shipping_address": {"name": "Anna Schmidt", "address1": "Hauptstr. 5",
                             "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "currency": "EUR", "shipping_charge": str(SHIPPING), "shipping_service": "POST-REG",
        "lines": [{"sku": "SUIT-MTM", "quantity": 1, "unit_price": str(PRICE), **line},
                  *extra_lines],
        # paid on Friday 20 November 2026 (10:16 UTC)
        "payment": {"provider": "PayPal", "transaction": f"PAY-{number}",
                    "amount": str(paid), "currency": "EUR",
                    "paid_at": "2026-11-20T18:16:00+08:00"},
    }


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def level(sku, location) -> tuple[int, int]:
    db.session.expire_all()
    found = db.session.get(StockLevel, (sku.id, location.id))
    return (found.on_hand, found.reserved) if found else (0, 0)


def shipped_to_customer(sku) -> int:
    customer = virtual_location(LocationKind.customer)
    return db.session.scalar(select(func.coalesce(func.sum(StockMove.quantity), 0)).where(
        StockMove.sku_id == sku.id, StockMove.to_location_id == customer.id))


def production_order_of(order) -> ProductionOrder:
    return db.session.scalars(select(ProductionOrder)
                              .where(ProductionOrder.order_id == order.id)).one()


def audit_actions(obj) -> list[str]:
    return list(db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.entity_type == obj.__tablename__,
                                        AuditEvent.entity_id == str(obj.id))
        .order_by(AuditEvent.id)))


def last_event(obj, action: str) -> AuditEvent:
    return db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type == obj.__tablename__,
                                 AuditEvent.entity_id == str(obj.id), AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())).first()


def ledger_ok():
    db.session.flush()
    assert ledger_problems(db.session) == []


@pytest.fixture
def people(create_user):
    return {"planner": create_user("planner", roles=("purchasing",)),
            "packer": create_user("packer", roles=("warehouse",)),
            "agent": create_user("agent", roles=("customer_service",))}


def test_made_to_measure_suit_from_order_to_refund(
        client, dummy_admin, people, create_supplier, create_product, create_sku, create_bin,
        receive_stock, packing_bin, shipping_setup, reasons, runner):
    planner, packer, agent = people["planner"], people["packer"], people["agent"]
    # 1. Set-up: the suit is made to order by Suzhou Tailors in 12 business days, in sizes
    #    46 48 50 or to measure (chest 70-140, waist 60-130, sleeve 50-75 optional). One spare
    #    suit of the same SKU (a sample) lies in B-01; A-01 is empty. The storefront has a token.
    for currency, rate in (("EUR", "1.1000"), ("XDR", "1.3750"), ("GBP", "1.2500")):
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    maker = create_supplier("TAILOR", "Suzhou Tailors", language="en")
    product = create_product("SUIT", name="Tailored suit")
    suit = create_sku("SUIT-MTM", product=product, hs_code="620311",
                      customs_description="Men's wool suit", origin_country="CN", weight_g=1100)
    products.set_up_product(product, actor=planner, made_to_order=True, maker_id=maker.id,
                            production_days=12, sizes="46 48 50", made_to_measure=True,
                            fields=TEMPLATE)
    a01 = create_bin("A-01", pick_sequence=10)
    b01 = create_bin("B-01", pick_sequence=20)
    receive_stock(suit, b01, 1)
    _token, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}

    # 2. An out-of-range chest (150 cm) is refused naming the line and the field; nothing is
    #    written: no order, no production order.
    refused = client.post("/api/v1/orders", headers=headers,
                          json=order_payload("WEB-MTM-1", measurements={**MEASURED,
                                                                         "chest_cm": "150"}))
    assert refused.status_code == 422, refused.get_json()
    errors = refused.get_json()["errors"]
    assert list(errors) == ["lines[0]"]
    assert "SUIT-MTM" in errors["lines[0]"]
    assert "chest_cm 150 is outside 70–140 cm" in errors["lines[0]"]
    assert (count(CustomerOrder), count(ProductionOrder)) == (0, 0)

    # 3. The corrected order is taken (201). Paying it made its production order to the
    #    maker: due 12 business days after Friday 20 November (Tuesday 8 December), with the
    #    line's measurements. Resending the same order changes nothing.
    created = client.post("/api/v1/orders", headers=headers,
                          json=order_payload("WEB-MTM-1", measurements=MEASURED))
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["payment"]["amount"] == "500.0000"
    order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == "WEB-MTM-1"))
    line = order.lines[0]
    po = production_order_of(order)
    assert po.number.startswith("MO")
    assert (po.state, po.maker_id, po.sku_id, po.quantity) == (PS.ordered, maker.id, suit.id, 1)
    assert po.order_line_id == line.id
    assert po.due_date == date(2026, 12, 8)
    assert po.measurements == line.measurements
    assert json.loads(po.measurements) == MEASURED
    assert production.measurements_of(po) == {k: Decimal(v) for k, v in MEASURED.items()}
    assert audit_actions(po) == ["production_order.created"]
    again = client.post("/api/v1/orders", headers=headers,
                        json=order_payload("WEB-MTM-1", measurements=MEASURED))
    assert again.status_code == 200
    assert (count(CustomerOrder), count(ProductionOrder)) == (1, 1)

    # 4. The production order's PDF, in the maker's language (English), has the measurements
    #    in a table the tailor can work from.
    pdf = documents.production_order_pdf(po)
    text = " ".join(" ".join(page.text.split()) for page in check_layout(
        pdf, titles=[f"Production order {po.number}"]))
    for expected in (order.number, "SUIT-MTM", "Tailored suit", "2026-12-08", "Chest",
                     "chest_cm", "96.5", "Waist", "80", "Sleeve", "62", "cm"):
        assert expected in text, expected

    # 5. Allocation does not give the order the spare suit in B-01: a made-to-measure line only
    #    gets the goods made for it.
    allocate_orders(actor=packer)
    db.session.commit()
    db.session.refresh(order)
    assert order.state != OrderState.allocated
    assert line.allocated_qty == 0
    assert level(suit, b01) == (1, 0)

    # 6. The maker starts, finishes and ships the suit. It cannot be received before it is
    #    shipped.
    production.start(po, actor=planner)
    db.session.commit()
    production.finish(po, actor=planner)
    db.session.commit()
    with pytest.raises(InvalidTransition):
        receiving.receive(po, actor=packer, location=a01)
    db.session.rollback()
    production.ship(po, actor=planner)
    db.session.commit()
    assert po.state == PS.shipped
    assert None not in (po.started_at, po.finished_at, po.shipped_at)

    # 7. The warehouse receives it into A-01: the suit is in stock, reserved to that order line
    #    alone, and the order is allocated.
    receiving.receive(po, actor=packer, location=a01)
    db.session.commit()
    db.session.refresh(order)
    assert po.state == PS.received
    assert order.state == OrderState.allocated
    assert level(suit, a01) == (1, 1)
    assert level(suit, b01) == (1, 0)
    [reservation] = db.session.scalars(select(Reservation).where(
        Reservation.sku_id == suit.id)).all()
    assert (reservation.ref_type, reservation.ref_id, reservation.location_id,
            reservation.quantity) == ("customer_order_line", line.id, a01.id, 1)
    assert audit_actions(po) == ["production_order.created", "production_order.in_production",
                                 "production_order.finished", "production_order.shipped",
                                 "production_order.received"]
    ledger_ok()

    # 8. Another paid order for the same SKU (a standard size 48) gets its own production
    #    order; allocation gives it neither the received suit nor the spare.
    other = client.post("/api/v1/orders", headers=headers,
                        json=order_payload("WEB-MTM-2", size="48"))
    assert other.status_code == 201, other.get_json()
    second = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == "WEB-MTM-2"))
    second_po = production_order_of(second)
    assert (second_po.mto_size, second_po.measurements, second_po.state) == ("48", None,
                                                                             PS.ordered)
    assert "WEB-MTM-2" not in allocate_orders(actor=packer).allocated
    db.session.commit()
    db.session.refresh(second)
    assert second.lines[0].allocated_qty == 0
    assert level(suit, a01) == (1, 1)
    assert level(suit, b01) == (1, 0)

    # 9. The first order is picked, packed, labelled and dispatched: shipped, the suit at the
    #    customer, the spare still in B-01.
    wave = waves.build_wave(waves.WaveFilters(), actor=packer)
    assert [task.order_id for task in wave.tasks] == [order.id]
    waves.pick_all(wave, actor=packer)
    waves.finish_wave(wave, actor=packer)
    db.session.commit()
    parcel = packing.pack_order(order, weight_g=None, box=shipping_setup["boxes"][1],
                                actor=packer)
    db.session.commit()
    parcels.label_parcels([parcel], actor=packer)
    db.session.commit()
    batch = dispatch.open_batch(parcel.service.carrier, actor=packer)
    dispatch.add_parcels(batch, [parcel], actor=packer)
    dispatch.close_batch(batch, actor=packer)
    db.session.commit()
    db.session.refresh(order)
    assert order.state == OrderState.shipped
    assert parcel.state == ParcelState.dispatched
    assert shipped_to_customer(suit) == 1
    assert level(suit, a01) == (0, 0)
    assert level(suit, b01) == (1, 0)
    ledger_ok()

    # 10. Cancelled before production starts: free. The second order's production order is
    #     cancelled without a fee.
    cancel_order(second, reason="Customer changed mind", actor=agent)
    db.session.commit()
    db.session.refresh(second_po)
    assert (second.state, second_po.state) == (OrderState.cancelled, PS.cancelled)
    assert second_po.cancel_fee is None
    changes = last_event(second, "customer_order.cancelled").changes
    assert changes["production_cancelled"] == [second_po.number]
    assert "production_fee" not in changes

    # 11. Cancelled after production started: the fee is 50 % of the line (240.00 EUR).
    third = client.post("/api/v1/orders", headers=headers,
                        json=order_payload("WEB-MTM-3", measurements=MEASURED))
    assert third.status_code == 201, third.get_json()
    third = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == "WEB-MTM-3"))
    third_po = production_order_of(third)
    production.start(third_po, actor=planner)
    db.session.commit()
    cancel_order(third, reason="Customer changed mind", actor=agent)
    db.session.commit()
    db.session.refresh(third_po)
    assert (third.state, third_po.state) == (OrderState.cancelled, PS.cancelled)
    assert (third_po.cancel_fee, third_po.fee_currency) == (Decimal("240.00"), "EUR")
    changes = last_event(third, "customer_order.cancelled").changes
    assert changes["production_cancelled"] == [third_po.number]
    assert changes["production_fee"] == "240.00 EUR"

    # 12. The shipped suit does not fit. An alteration refund may reach 30 % of the line
    #     (144.00 EUR): 144.01 is refused naming the cap, 100.00 is granted, and then only
    #     44.00 remains (44.01 refused).
    case = cases.open_case(order, case_type=CaseType.refund_only, reason=reasons["WRONG_SIZE"],
                           lines={line.id: 1}, actor=agent)
    db.session.commit()
    with pytest.raises(AfterSalesError) as above:
        resolution.request_refund(case, amount="144.01", kind="alteration", actor=agent)
    assert "above its cap of 144.00" in str(above.value)
    db.session.rollback()
    refund = resolution.request_refund(case, amount="100.00", kind="alteration", actor=agent)
    db.session.commit()
    assert (refund.kind, refund.amount, refund.currency) == (RefundKind.alteration,
                                                             Decimal("100.00"), "EUR")
    assert refund.state in (RefundState.approved, RefundState.pending)
    assert resolution.alteration_cap(case) == (Decimal("44.00"), Decimal("144.00"),
                                               Decimal("100.00"))
    with pytest.raises(AfterSalesError) as second_above:
        resolution.request_refund(case, amount="44.01", kind="alteration", actor=agent)
    assert "above its cap of 44.00" in str(second_above.value)
    db.session.rollback()

    # 13. The stock ledger balances: every level equals its moves.
    ledger_ok()
    result = runner.invoke(args=["check-ledger"])
    assert result.exit_code == 0, result.output


@pytest.fixture
def received_suit(client, dummy_admin, people, create_supplier, create_product, create_sku,
                  create_bin, receive_stock, shipping_setup):
    """Return ``(order, po, bin)``: a paid order of a made-to-measure suit, received, and a tie.

    The tie (TIE-SILK, 5 in B-01) is reserved from stock; the suit, received into A-01, to its
    line. The order is allocated.
    """
    for currency, rate in (("EUR", "1.1000"), ("XDR", "1.3750"), ("GBP", "1.2500")):
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    maker = create_supplier("TAILOR", "Suzhou Tailors", language="en")
    product = create_product("SUIT", name="Tailored suit")
    create_sku("SUIT-MTM", product=product, hs_code="620311",
               customs_description="Men's wool suit", origin_country="CN", weight_g=1100)
    products.set_up_product(product, actor=None, made_to_order=True, maker_id=maker.id,
                            production_days=12, sizes="46 48 50", made_to_measure=True,
                            fields=TEMPLATE)
    a01 = create_bin("A-01", pick_sequence=10)
    tie = create_sku("TIE-SILK", hs_code="621510", customs_description="Silk tie",
                     origin_country="CN", weight_g=60)
    receive_stock(tie, create_bin("B-01", pick_sequence=20), 5)
    _token, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    response = client.post("/api/v1/orders", headers={"Authorization": f"Bearer {plaintext}"},
                           json=order_payload("WEB-MTM-9", measurements=MEASURED,
                                              extra=[("TIE-SILK", 1, "45.00")]))
    assert response.status_code == 201, response.get_json()
    order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == "WEB-MTM-9"))
    po = production_order_of(order)
    allocate_orders(actor=people["packer"])  # the tie; the order waits for its suit
    for move in (production.start, production.finish, production.ship):
        move(po, actor=None)
    receiving.receive(po, actor=people["packer"], location=a01)
    db.session.commit()
    assert order.state == OrderState.allocated
    return order, po, a01


def test_a_hold_keeps_the_received_suit_reserved_to_its_line(received_suit, people):
    # The customer asks to wait: the order is held, then released. The suit made for it is
    # still reserved to its line (nothing else could ever take it: allocation gives made-to-
    # order stock to no line), and the order is allocated again, ready to pick.
    order, po, a01 = received_suit
    suit, line = po.sku, order.lines[0]
    order_services.hold_order(order, reason="Customer asked to wait", actor=people["agent"])
    db.session.commit()
    assert level(suit, a01) == (1, 1)
    order_services.release_order(order, actor=people["agent"])
    db.session.commit()
    db.session.refresh(order)
    assert order.state == OrderState.allocated
    assert order.lines[0].allocated_qty == 1
    [reservation] = db.session.scalars(select(Reservation).where(
        Reservation.sku_id == suit.id)).all()
    assert (reservation.ref_type, reservation.ref_id) == ("customer_order_line", line.id)
    assert level(suit, a01) == (1, 1)
    ledger_ok()


def test_a_split_leaves_the_made_to_order_line_and_its_goods(received_suit, people):
    # The customer wants the tie sent ahead. The suit's line cannot move to the new part (its
    # production order is for this line of this order); moving the tie does, and the suit
    # stays reserved to its line on the original order.
    order, po, a01 = received_suit
    suit_line, tie_line = order.lines
    with pytest.raises(ValidationError) as refused:
        split_order(order, {suit_line.id: 1}, actor=people["agent"])
    assert "SUIT-MTM is made to order" in str(refused.value)
    assert refused.value.field == f"line_{suit_line.id}"
    db.session.rollback()
    part = split_order(order, {tie_line.id: 1}, actor=people["agent"])
    db.session.commit()
    db.session.refresh(order)
    assert (order.state, part.state) == (OrderState.allocated, OrderState.allocated)
    assert [(line.sku.code, line.allocated_qty) for line in order.lines] == [("SUIT-MTM", 1)]
    assert [(line.sku.code, line.allocated_qty) for line in part.lines] == [("TIE-SILK", 1)]
    [reservation] = db.session.scalars(select(Reservation).where(
        Reservation.sku_id == po.sku_id)).all()
    assert (reservation.ref_id, reservation.location_id) == (suit_line.id, a01.id)
    ledger_ok()


def test_held_while_picking_the_order_still_ships_with_its_suit(
        received_suit, people, packing_bin, shipping_setup):
    # The tie is picked, then the order is held before the suit is; the wave drops the suit's
    # task. Released, the order is allocated again with the suit still reserved to its line,
    # a second wave picks the suit, and the order is packed and shipped whole.
    order, po, a01 = received_suit
    packer, agent = people["packer"], people["agent"]
    suit_line, tie_line = order.lines
    wave = waves.build_wave(waves.WaveFilters(), actor=packer)
    tie_task = next(task for task in wave.tasks if task.order_line_id == tie_line.id)
    waves.confirm_pick(tie_task, bin_code="B-01", sku_code="TIE-SILK", actor=packer)
    db.session.commit()
    order_services.hold_order(order, reason="Customer asked to wait", actor=agent)
    db.session.commit()
    waves.pick_all(wave, actor=packer)  # the held order's suit task is dropped
    waves.finish_wave(wave, actor=packer)
    db.session.commit()
    assert level(po.sku, a01) == (1, 1)
    order_services.release_order(order, actor=agent)
    db.session.commit()
    db.session.refresh(order)
    assert order.state == OrderState.allocated
    assert [line.allocated_qty for line in order.lines] == [1, 1]
    second = waves.build_wave(waves.WaveFilters(), actor=packer)
    assert [(task.order_line_id, task.location_id) for task in second.tasks] == [
        (suit_line.id, a01.id)]
    waves.pick_all(second, actor=packer)
    waves.finish_wave(second, actor=packer)
    db.session.commit()
    parcel = packing.pack_order(order, weight_g=None, box=shipping_setup["boxes"][1],
                                actor=packer)
    parcels.label_parcels([parcel], actor=packer)
    batch = dispatch.open_batch(parcel.service.carrier, actor=packer)
    dispatch.add_parcels(batch, [parcel], actor=packer)
    dispatch.close_batch(batch, actor=packer)
    db.session.commit()
    db.session.refresh(order)
    assert order.state == OrderState.shipped
    assert sorted((line.sku.code, line.quantity) for line in parcel.lines) == [
        ("SUIT-MTM", 1), ("TIE-SILK", 1)]
    assert level(po.sku, a01) == (0, 0)
    ledger_ok()
