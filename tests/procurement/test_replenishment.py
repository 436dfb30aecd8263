"""Replenishment: stock position, quantities, preferred supplier, draft orders, screens."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from erp.catalog.models import SkuStatus
from erp.core.errors import ValidationError
from erp.core.models import AuditEvent
from erp.extensions import db
from erp.procurement import services
from erp.procurement.models import PurchaseOrder, PurchaseOrderLine, PurchaseOrderState
from erp.procurement.replenishment_queries import NO_SUPPLIER, ReplenishmentFilters
from erp.procurement.services import ReplenishmentError, suggested_quantity
from erp.warehouse import services as warehouse_services

S = PurchaseOrderState


@pytest.fixture
def stock_bin(create_bin):
    """Return a storage bin of warehouse WH1."""
    return create_bin("A-01-01-01")


def sku_with(create_sku, code: str, *, reorder_point: int, reorder_qty: int, **values):
    sku = create_sku(code, reorder_point=reorder_point, reorder_qty=reorder_qty, **values)
    db.session.commit()
    return sku


def suggestions(**filters) -> dict[str, services.Suggestion]:
    return {s.sku_code: s for s in services.replenishment_suggestions(
        ReplenishmentFilters(**filters))}


def order_in_state(supplier, lines, state: PurchaseOrderState, *, creator, approver,
                   location=None) -> PurchaseOrder:
    """Make an order of ``[(sku, quantity)]`` through the services and bring it to ``state``."""
    po = services.create_purchase_order(supplier, actor=creator)
    for sku, quantity in lines:
        services.add_purchase_order_line(po, sku, quantity, actor=creator)
    if state != S.draft:
        services.submit_purchase_order(po, actor=creator)
        if po.state == S.awaiting_approval and state != S.awaiting_approval:
            services.approve_purchase_order(po, approver=approver)
    if state in (S.ordered, S.partially_received, S.received, S.closed):
        services.mark_purchase_order_ordered(po, actor=creator)
    if state in (S.partially_received, S.received, S.closed):
        half = state in (S.partially_received, S.closed)  # closed: closed short
        services.receive_purchase_order(
            po, {line.id: line.quantity // 2 if half else line.quantity for line in po.lines},
            location=location, actor=creator)
    if state == S.closed:
        services.close_purchase_order(po, actor=creator, reason="done")
    if state == S.cancelled:
        services.cancel_purchase_order(po, actor=creator, reason="not needed")
    db.session.commit()
    assert po.state == state
    return po


@pytest.fixture
def buyers(create_user):
    """Return (purchasing user, manager)."""
    return create_user("buyer", roles=("purchasing",)), create_user("boss", roles=("manager",))


# --------------------------------------------------------------------------- the quantity rule


@pytest.mark.parametrize(("point", "qty", "position", "moq", "pack", "expected"), [
    (10, 24, 4, 1, 1, 24),     # the reorder quantity is enough
    (50, 5, 0, 1, 1, 51),      # not enough: back above the reorder point
    (10, 24, 10, 1, 1, 24),    # at the reorder point
    (10, 24, 4, 100, 1, 100),  # raised to the MOQ
    (10, 25, 4, 1, 12, 36),    # rounded up to whole packs
    (10, 5, 4, 100, 12, 108),  # MOQ not a multiple of the pack: packs still round up
    (10, 0, 4, 1, 1, 7),       # no reorder quantity: just above the point
    (10, 24, 4, 24, 24, 24),   # already an MOQ of whole packs
])
def test_suggested_quantity(point, qty, position, moq, pack, expected):
    assert suggested_quantity(reorder_point=point, reorder_qty=qty, position=position, moq=moq,
                              pack_multiple=pack) == expected


# --------------------------------------------------------------------------- suggestions


def test_suggestion_uses_reorder_quantity_and_supplier(create_sku, create_supplier,
                                                       create_supplier_item, stock_bin,
                                                       receive_stock):
    supplier = create_supplier("SZTEX", currency="CNY", lead_time_days=21)
    tee = sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=24)
    create_supplier_item(supplier, tee, "12.50", supplier_code="ST-1")
    receive_stock(tee, stock_bin, 4)
    db.session.commit()
    s = suggestions()["TEE"]
    assert (s.on_hand, s.reserved, s.available, s.incoming, s.position) == (4, 0, 4, 0, 4)
    assert s.quantity == 24
    assert (s.supplier_code, s.supplier_sku_code, s.unit_price, s.currency) == (
        "SZTEX", "ST-1", Decimal("12.5000"), "CNY")
    assert s.lead_time_days == 21
    assert s.amount == Decimal("300.00")


def test_suggestion_raises_to_moq_and_rounds_to_packs(create_sku, create_supplier_item):
    tee = sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=5)
    create_supplier_item(sku=tee, moq=100, pack_multiple=12)
    assert suggestions()["TEE"].quantity == 108


def test_sku_above_its_reorder_point_is_not_suggested(create_sku, create_supplier_item,
                                                      stock_bin, receive_stock):
    at = sku_with(create_sku, "AT", reorder_point=10, reorder_qty=24)
    above = sku_with(create_sku, "ABOVE", reorder_point=10, reorder_qty=24)
    never = sku_with(create_sku, "NO-POINT", reorder_point=0, reorder_qty=24)
    receive_stock(at, stock_bin, 10)
    receive_stock(above, stock_bin, 11)
    db.session.commit()
    assert set(suggestions()) == {"AT"}
    assert never.reorder_point == 0


def test_discontinued_skus_are_not_suggested(create_sku):
    sku_with(create_sku, "OLD", reorder_point=10, reorder_qty=24, status="discontinued")
    sku_with(create_sku, "NEW", reorder_point=10, reorder_qty=24)
    assert set(suggestions()) == {"NEW"}


def test_reserved_stock_is_taken_off_once(create_sku, stock_bin, receive_stock):
    # on hand 10, reserved 4: available 6. Subtracting reserved twice would give 2.
    five = sku_with(create_sku, "POINT-5", reorder_point=5, reorder_qty=10)
    six = sku_with(create_sku, "POINT-6", reorder_point=6, reorder_qty=10)
    for sku in (five, six):
        receive_stock(sku, stock_bin, 10)
        warehouse_services.reserve(sku, stock_bin, 4, ref_type="order_line", ref_id=sku.id,
                                   actor=None)
    db.session.commit()
    found = suggestions()
    assert set(found) == {"POINT-6"}  # 6 is at its point; 6 is above 5
    s = found["POINT-6"]
    assert (s.on_hand, s.reserved, s.available, s.position, s.quantity) == (10, 4, 6, 6, 10)


def test_stock_in_every_bin_counts(create_sku, create_bin, receive_stock):
    tee = sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=24)
    receive_stock(tee, create_bin("A-01"), 6)
    receive_stock(tee, create_bin("RCV-01", kind="receiving"), 5)
    db.session.commit()
    assert "TEE" not in suggestions()


def test_incoming_orders_count_and_drafts_do_not(exchange_rates, buyers, create_sku,
                                                 create_supplier, create_supplier_item,
                                                 stock_bin):
    buyer, boss = buyers
    supplier = create_supplier("SZTEX")
    tee = sku_with(create_sku, "TEE", reorder_point=30, reorder_qty=10)
    create_supplier_item(supplier, tee, "5.00")
    kw = {"creator": buyer, "approver": boss, "location": stock_bin}
    order_in_state(supplier, [(tee, 7)], S.draft, **kw)
    order_in_state(supplier, [(tee, 5)], S.approved, **kw)
    order_in_state(supplier, [(tee, 8)], S.ordered, **kw)
    order_in_state(supplier, [(tee, 10)], S.partially_received, **kw)  # 5 in stock, 5 to come
    order_in_state(supplier, [(tee, 100)], S.cancelled, **kw)
    order_in_state(supplier, [(tee, 4)], S.closed, **kw)  # 2 in stock, 2 closed short
    s = suggestions()["TEE"]
    assert (s.on_hand, s.available) == (7, 7)
    assert s.incoming == 5 + 8 + 5
    assert s.drafted == 7
    assert s.position == 25
    assert s.quantity == 10


def test_orders_awaiting_approval_are_drafted_not_incoming(exchange_rates, buyers, create_sku,
                                                           create_supplier, create_supplier_item,
                                                           stock_bin):
    buyer, boss = buyers
    supplier = create_supplier("SZTEX", currency="USD")
    tee = sku_with(create_sku, "TEE", reorder_point=30, reorder_qty=10)
    create_supplier_item(supplier, tee, "6000.00")  # above the 5,000 approval threshold
    order_in_state(supplier, [(tee, 1)], S.awaiting_approval, creator=buyer, approver=boss)
    s = suggestions()["TEE"]
    assert (s.incoming, s.drafted) == (0, 1)
    assert set(suggestions(undrafted_only=True)) == set()


def test_sku_without_supplier_is_shown_without_one(create_sku, create_supplier,
                                                   create_supplier_item):
    lone = sku_with(create_sku, "LONE", reorder_point=10, reorder_qty=24)
    gone = sku_with(create_sku, "GONE", reorder_point=10, reorder_qty=24)
    create_supplier_item(create_supplier("OLD", active=False), gone)
    found = suggestions()
    for code in ("LONE", "GONE"):
        s = found[code]
        assert not s.has_supplier
        assert (s.supplier_id, s.unit_price, s.currency, s.amount) == (None, None, None, None)
        assert s.quantity == 24
    assert lone.id == found["LONE"].sku_id
    assert set(suggestions(supplier_id=NO_SUPPLIER)) == {"LONE", "GONE"}


def test_preferred_flag_wins_else_cheapest_in_base_currency(exchange_rates, create_sku,
                                                            create_supplier,
                                                            create_supplier_item):
    cny = create_supplier("CN1", currency="CNY")
    usd = create_supplier("VN1", currency="USD")
    eur = create_supplier("PT1", currency="EUR")
    flagged = sku_with(create_sku, "FLAGGED", reorder_point=5, reorder_qty=10)
    cheapest = sku_with(create_sku, "CHEAPEST", reorder_point=5, reorder_qty=10)
    create_supplier_item(cny, flagged, "10.00")  # 1.40 USD
    create_supplier_item(eur, flagged, "9.00", preferred=True)  # 9.90 USD, but preferred
    create_supplier_item(cny, cheapest, "10.00")  # 1.40 USD: the cheapest
    create_supplier_item(usd, cheapest, "2.00")
    create_supplier_item(eur, cheapest, "1.00")  # 1.10 EUR... 1.10 USD is cheaper still
    found = suggestions()
    assert found["FLAGGED"].supplier_code == "PT1"
    assert found["CHEAPEST"].supplier_code == "PT1"
    create_supplier_item(eur, cheapest, "2.00")  # now 2.20 USD: CNY is cheapest
    assert suggestions()["CHEAPEST"].supplier_code == "CN1"
    # the SQL ranking agrees with the supplier service's rule, SKU by SKU
    chosen = services.preferred_supplier_items([flagged.id, cheapest.id])
    assert {sku_id: item.id for sku_id, item in chosen.items()} == {
        s.sku_id: s.supplier_item_id for s in suggestions().values()}


def test_filters_brand_category_supplier(create_sku, create_product, create_category,
                                         create_supplier, create_supplier_item, create_brand):
    other_brand = create_brand("OTHER")
    bags = create_category("BAGS", "Bags")
    day = create_category("BAGS-DAY", "Daypacks", parent=bags)
    tee = sku_with(create_sku, "TEE", reorder_point=5, reorder_qty=10)
    bag = sku_with(create_sku, "BAG", reorder_point=5, reorder_qty=10,
                   product=create_product("BAG", category=day, brand=other_brand))
    first, second = create_supplier("FIRST"), create_supplier("SECOND")
    create_supplier_item(first, tee)
    create_supplier_item(second, bag)
    assert set(suggestions()) == {"TEE", "BAG"}
    assert set(suggestions(brand_id=other_brand.id)) == {"BAG"}
    assert set(suggestions(category_id=bags.id)) == {"BAG"}  # the subtree counts
    assert set(suggestions(supplier_id=first.id)) == {"TEE"}
    assert set(suggestions(supplier_id=NO_SUPPLIER)) == set()
    assert set(suggestions(sku_ids=(bag.id,))) == {"BAG"}


def test_suggestions_take_one_query_whatever_the_number_of_skus(create_sku, create_supplier_item,
                                                                count_queries):
    for n in range(12):
        create_supplier_item(sku=sku_with(create_sku, f"S{n:02d}", reorder_point=5,
                                          reorder_qty=10))
    with count_queries() as counter:
        found = services.replenishment_suggestions()
    assert len(found) == 12
    assert counter.count <= 3  # the rates, the base currency setting, the suggestions


# --------------------------------------------------------------------------- draft orders


def test_create_draft_orders_groups_lines_by_supplier(exchange_rates, buyers, create_sku,
                                                      create_supplier, create_supplier_item):
    buyer, _ = buyers
    cn, vn = create_supplier("CN1", currency="CNY"), create_supplier("VN1", currency="USD")
    tee = sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=24)
    cap = sku_with(create_sku, "CAP", reorder_point=10, reorder_qty=5)
    bag = sku_with(create_sku, "BAG", reorder_point=10, reorder_qty=10)
    create_supplier_item(cn, tee, "12.00", pack_multiple=12)
    create_supplier_item(cn, cap, "3.00", moq=50)
    create_supplier_item(vn, bag, "7.50")
    found = services.replenishment_suggestions()
    orders = services.create_draft_orders(found, actor=buyer)
    db.session.commit()
    assert [(o.supplier.code, o.state, o.currency) for o in orders] == [
        ("CN1", S.draft, "CNY"), ("VN1", S.draft, "USD")]
    lines = {o.supplier.code: [(ln.sku.code, ln.quantity, ln.unit_price) for ln in o.lines]
             for o in orders}
    assert lines == {"CN1": [("CAP", 50, Decimal("3.0000")), ("TEE", 24, Decimal("12.0000"))],
                     "VN1": [("BAG", 11, Decimal("7.5000"))]}
    assert all(o.created_by_id == buyer.id for o in orders)
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "purchase_order").order_by(AuditEvent.id)).all()
    assert actions.count("purchase_order.created") == 2
    assert actions.count("purchase_order.line_added") == 3
    # the drafts now show against the SKUs, and are not incoming
    after = suggestions()
    assert (after["TEE"].drafted, after["TEE"].incoming) == (24, 0)
    assert set(suggestions(undrafted_only=True)) == set()


def test_create_draft_orders_from_quantities_uses_preferred_supplier(
        exchange_rates, buyers, create_sku, create_supplier, create_supplier_item):
    buyer, _ = buyers
    cn, pt = create_supplier("CN1", currency="CNY"), create_supplier("PT1", currency="EUR")
    tee = sku_with(create_sku, "TEE", reorder_point=0, reorder_qty=0)
    create_supplier_item(cn, tee, "1.00")
    create_supplier_item(pt, tee, "5.00", preferred=True)
    [order] = services.create_draft_orders({tee.id: 30}, actor=buyer)
    assert order.supplier.code == "PT1"
    assert [(ln.sku_id, ln.quantity) for ln in order.lines] == [(tee.id, 30)]


def test_create_draft_orders_refuses_sku_without_supplier(buyers, create_sku,
                                                          create_supplier_item):
    buyer, _ = buyers
    ok = sku_with(create_sku, "OK", reorder_point=10, reorder_qty=10)
    lone = sku_with(create_sku, "LONE", reorder_point=10, reorder_qty=10)
    create_supplier_item(sku=ok)
    with pytest.raises(ReplenishmentError, match="no active supplier sells LONE"):
        services.create_draft_orders({ok.id: 10, lone.id: 10}, actor=buyer)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PurchaseOrder)) == 0


@pytest.mark.parametrize("quantity", [0, -5, 2.5, "10", True])
def test_create_draft_orders_refuses_bad_quantities(buyers, create_sku, create_supplier_item,
                                                    quantity):
    sku = sku_with(create_sku, "OK", reorder_point=10, reorder_qty=10)
    create_supplier_item(sku=sku)
    with pytest.raises(ValidationError, match="whole number above zero"):
        services.create_draft_orders({sku.id: quantity}, actor=buyers[0])


def test_create_draft_orders_needs_something(buyers):
    with pytest.raises(ReplenishmentError, match="tick at least one"):
        services.create_draft_orders([], actor=buyers[0])


def test_create_draft_orders_keeps_the_moq_rule(buyers, create_sku, create_supplier_item):
    sku = sku_with(create_sku, "OK", reorder_point=10, reorder_qty=10)
    create_supplier_item(sku=sku, moq=100)
    with pytest.raises(services.PurchaseOrderError, match="minimum order quantity of 100"):
        services.create_draft_orders({sku.id: 10}, actor=buyers[0])
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(PurchaseOrderLine)) == 0


def test_discontinued_sku_cannot_be_drafted(buyers, create_sku, create_supplier_item):
    sku = sku_with(create_sku, "OLD", reorder_point=10, reorder_qty=10)
    create_supplier_item(sku=sku)
    sku.status = SkuStatus.discontinued
    db.session.commit()
    with pytest.raises(services.PurchaseOrderError, match="discontinued"):
        services.create_draft_orders({sku.id: 10}, actor=buyers[0])


# --------------------------------------------------------------------------- screens


def test_list_shows_suggestions_and_filters(client, login_as, create_sku, create_supplier,
                                            create_supplier_item):
    login_as("manager")
    supplier = create_supplier("SZTEX")
    create_supplier_item(supplier, sku_with(create_sku, "TEE", reorder_point=10,
                                            reorder_qty=24))
    sku_with(create_sku, "LONE", reorder_point=10, reorder_qty=12)
    page = client.get("/procurement/replenishment").get_data(as_text=True)
    assert "TEE" in page
    assert "LONE" in page
    assert "no supplier" in page
    assert 'name="sku_ids"' not in page  # a manager may look, not draft
    page = client.get(f"/procurement/replenishment?supplier={supplier.id}").get_data(
        as_text=True)
    assert "TEE" in page
    assert "LONE" not in page


def test_create_draft_orders_button(client, login_as, create_sku, create_supplier,
                                    create_supplier_item):
    buyer = login_as("purchasing")
    supplier = create_supplier("SZTEX")
    tee = sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=24)
    cap = sku_with(create_sku, "CAP", reorder_point=10, reorder_qty=24)
    create_supplier_item(supplier, tee, pack_multiple=6)
    create_supplier_item(supplier, cap)
    page = client.get("/procurement/replenishment").get_data(as_text=True)
    assert f'name="qty-{tee.id}" value="24"' in page
    response = client.post("/procurement/replenishment/draft-orders",
                           data={"sku_ids": [str(tee.id)], f"qty-{tee.id}": "30",
                                 f"qty-{cap.id}": "99"},
                           headers={"Referer": "http://localhost/procurement/replenishment"
                                               "?supplier=" + str(supplier.id)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/procurement/replenishment?supplier="
                                                 f"{supplier.id}")
    [order] = db.session.scalars(select(PurchaseOrder)).all()
    assert (order.supplier_id, order.created_by_id) == (supplier.id, buyer.id)
    assert [(ln.sku_id, ln.quantity) for ln in order.lines] == [(tee.id, 30)]
    page = client.get("/procurement/replenishment").get_data(as_text=True)
    assert f"Created 1 draft purchase order: draft #{order.id} for SZTEX (1 line)." in page


@pytest.mark.parametrize(("data", "message"), [
    ({}, "Tick at least one suggestion."),
    ({"sku_ids": ["1"], "qty-1": "abc"}, "must be a whole number"),
])
def test_create_draft_orders_button_refuses_bad_forms(client, login_as, data, message):
    login_as("purchasing")
    response = client.post("/procurement/replenishment/draft-orders", data=data,
                           follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PurchaseOrder)) == 0


def test_create_draft_orders_button_shows_service_refusal(client, login_as, create_sku,
                                                          create_supplier_item):
    login_as("purchasing")
    sku = sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=24)
    create_supplier_item(sku=sku, moq=100)
    response = client.post("/procurement/replenishment/draft-orders",
                           data={"sku_ids": [str(sku.id)], f"qty-{sku.id}": "10"},
                           headers={"Referer": "http://localhost/procurement/replenishment"},
                           follow_redirects=True)
    assert "minimum order quantity of 100" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(PurchaseOrder)) == 0


def test_export_suggestions_applies_filters(client, login_as, create_sku, create_supplier,
                                            create_supplier_item):
    login_as("warehouse")
    first, second = create_supplier("FIRST"), create_supplier("SECOND")
    create_supplier_item(first, sku_with(create_sku, "TEE", reorder_point=10, reorder_qty=24),
                         "2.50", supplier_code="=HYPERLINK(\"http://x\")")
    create_supplier_item(second, sku_with(create_sku, "CAP", reorder_point=10, reorder_qty=6))
    response = client.get(f"/procurement/replenishment/export.xlsx?supplier={first.id}")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    header, *rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert len(rows) == 1
    row = dict(zip(header, rows[0], strict=True))
    assert (row["SKU"], row["Supplier"], row["Suggested quantity"], row["Amount"]) == (
        "TEE", "FIRST", 24, 60)
    assert row["Supplier's code"] == "'=HYPERLINK(\"http://x\")"  # neutralised, never a formula
