"""The manager dashboard: figures against a small hand-computed dataset, the page, permissions."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from erp.aftersales.models import AfterSalesCase, CaseLine, CaseType, Refund, RefundState
from erp.brands.models import Brand
from erp.extensions import db
from erp.orders.models import OrderState
from erp.procurement.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Receipt,
    ReceiptLine,
)
from erp.reports import dashboard as figures
from erp.shipping.models import CustomsForm, Parcel, ParcelLine, ParcelState
from erp.warehouse import services as warehouse_services
from erp.warehouse.models import LocationKind, MoveKind

PERIOD = figures.Period(date(2026, 3, 1), date(2026, 3, 3))


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def dataset(create_sku, create_product, create_bin, receive_stock, create_order,
            shipping_setup, reasons, create_supplier_row):
    """Stock, orders, parcels, returns, refunds and purchase orders (see each test's sums)."""
    other = Brand(code="OTHER", name="Other Brand")
    db.session.add(other)
    db.session.flush()
    bin_ = create_bin()
    sku_a, sku_c = create_sku("SKU-A"), create_sku("SKU-C")
    sku_b = create_sku("SKU-B", product=create_product(brand=other))
    receive_stock(sku_a, bin_, 10, "2.00")   # 9 left after one shipped: 18.00
    receive_stock(sku_b, bin_, 5, "3.00")    # 15.00, never shipped: slow
    receive_stock(sku_c, bin_, 4, "1.50")    # 6.00, never shipped: slow
    customer = warehouse_services.virtual_location(LocationKind.customer)
    warehouse_services.post_move(warehouse_services.MoveSpec(
        sku_a.id, bin_.id, customer.id, 1, MoveKind.ship, ref_type="test", ref_id=1), actor=None)
    post, ems = shipping_setup["post"], shipping_setup["ems"]  # cut-offs 15:00
    post.cutoff, ems.cutoff = "15:00", "15:00"
    o1 = create_order([(sku_a, 2)], placed_at=at(1, 10), country="DE", state="shipped")
    o2 = create_order([(sku_a, 2)], placed_at=at(1, 16), country="FR", state="shipped")
    o3 = create_order([(sku_a, 2)], placed_at=at(2, 9), country="DE", state="shipped")
    o4 = create_order([(sku_a, 1)], placed_at=at(3, 8), country="DE")
    o5 = create_order([(sku_a, 2)], placed_at=at(27, 10, month=2), country="US",
                      state="shipped")
    create_order([(sku_a, 3)], placed_at=at(2, 9, 30), state="backordered", number="BO-NEW")
    create_order([(sku_a, 1)], placed_at=at(20, 9, month=2), state="backordered",
                 number="BO-OLD")
    parcels = [(o1, post, at(1, 13)), (o1, post, at(1, 14)),  # on time (same day)
               (o2, post, at(2, 15)),  # placed after the cut-off: by 15:00 next day, on time
               (o3, ems, at(3, 10)),   # placed before the cut-off, sent next day: late
               (o5, post, at(27, 11, month=2))]  # comparison period, on time
    for i, (order, service, sent) in enumerate(parcels):
        parcel = Parcel(number=f"PCL-{i}", order=order, service_id=service.id, sequence=1,
                        state=ParcelState.dispatched, weight_g=300, length_mm=200,
                        width_mm=150, height_mm=50, declared_value=Decimal("19.80"),
                        currency="EUR", customs_form=CustomsForm.cn22, packed_at=sent,
                        dispatched_at=sent)
        parcel.lines.append(ParcelLine(order_line_id=order.lines[0].id, sku_id=sku_a.id,
                                       quantity=2, description="T-shirt", hs_code="610910",
                                       origin_country="CN", net_weight_g=360,
                                       unit_value=Decimal("9.90")))
        db.session.add(parcel)
    db.session.add(Parcel(number="PCL-VOID", order=o4, service_id=post.id, sequence=1,
                          state=ParcelState.voided, weight_g=300, length_mm=200, width_mm=150,
                          height_mm=50, declared_value=Decimal("9.90"), currency="EUR",
                          customs_form=CustomsForm.cn22, packed_at=at(3, 9)))
    cases = []
    for n, (order, kind, reason, opened) in enumerate((
            (o1, CaseType.return_refund, "DEFECTIVE", at(2, 12)),
            (o2, CaseType.wrong_item, "WRONG_ITEM", at(3, 12)))):
        case = AfterSalesCase(number=f"RMA-2026-{n:06d}", order_id=order.id, case_type=kind,
                              reason_id=reasons[reason].id, contact_name="Erika",
                              due_at=at(20, 12), opened_at=opened)
        case.lines.append(CaseLine(order_line_id=order.lines[0].id, sku_id=sku_a.id,
                                   quantity=1))
        db.session.add(case)
        cases.append(case)
    db.session.flush()
    for case, amount, state, decided in ((cases[0], "10.00", RefundState.approved, at(2, 13)),
                                         (cases[1], "5.00", RefundState.approved, at(3, 13)),
                                         (cases[1], "7.00", RefundState.pending, None),
                                         (cases[0], "3.00", RefundState.approved,
                                          at(28, 9, month=2))):
        db.session.add(Refund(case_id=case.id, amount=Decimal(amount), currency="EUR",
                              state=state, requested_at=at(2, 12), decided_at=decided))
    supplier = create_supplier_row()
    po1 = PurchaseOrder(number="PO-1", supplier_id=supplier.id, currency="USD",
                        state=PurchaseOrderState.ordered, expected_date=date(2026, 3, 5))
    po1.lines += [PurchaseOrderLine(sku_id=sku_a.id, quantity=10, unit_price=Decimal("2.00"),
                                    received_qty=4),
                  PurchaseOrderLine(sku_id=sku_b.id, quantity=5, unit_price=Decimal("1.00"),
                                    cancelled_qty=1)]
    po2 = PurchaseOrder(number="PO-2", supplier_id=supplier.id, currency="EUR",
                        state=PurchaseOrderState.partially_received,
                        expected_date=date(2026, 3, 1))
    po2.lines.append(PurchaseOrderLine(sku_id=sku_c.id, quantity=3,
                                       unit_price=Decimal("10.00"), received_qty=1))
    po3 = PurchaseOrder(supplier_id=supplier.id, currency="USD", state=PurchaseOrderState.draft)
    po3.lines.append(PurchaseOrderLine(sku_id=sku_c.id, quantity=99, unit_price=Decimal("1")))
    db.session.add_all([po1, po2, po3])
    db.session.flush()
    for number, po, received in (("RC-1", po1, at(2, 10)), ("RC-2", po2, at(3, 10))):
        receipt = Receipt(number=number, order_id=po.id, location_id=bin_.id,
                          received_at=received)
        receipt.lines.append(ReceiptLine(order_line_id=po.lines[0].id,
                                         sku_id=po.lines[0].sku_id, quantity=1,
                                         unit_cost_base=Decimal("2.00")))
        db.session.add(receipt)
    db.session.commit()


def test_period_figures_match_the_hand_computed_dataset(dataset):
    board = figures.dashboard(PERIOD, offset_minutes=0)
    cur, cmp = board.current, board.comparison
    assert cmp.period == figures.Period(date(2026, 2, 26), date(2026, 2, 28))
    assert cur.received_per_day == {date(2026, 3, 1): 2, date(2026, 3, 2): 2,
                                    date(2026, 3, 3): 1}
    assert (cur.orders_received, cmp.orders_received) == (5, 1)
    assert cur.shipped_per_day == {date(2026, 3, 1): 1, date(2026, 3, 2): 1,
                                   date(2026, 3, 3): 1}
    assert cur.on_time_per_day == {date(2026, 3, 1): 1, date(2026, 3, 2): 1,
                                   date(2026, 3, 3): 0}
    assert cur.on_time_rate == Decimal(2) / Decimal(3)
    assert (cmp.orders_shipped, cmp.orders_on_time) == (1, 1)
    assert cur.parcels_by_country == [("DE", 3), ("FR", 1)]
    assert cur.parcels_by_service == [("POST-REG", "Registered air mail", 3), ("EMS", "EMS", 1)]
    assert cur.parcels == 4
    assert (cur.supplier_on_time, cur.supplier_receipts) == (1, 2)
    assert (cur.units_returned, cur.units_shipped, cur.return_rate) == (2, 8, Decimal("0.25"))
    assert [(r["code"], r["amount"], r["count"]) for r in cur.refunds_by_reason] == [
        ("DEFECTIVE", Decimal("10.00"), 1), ("WRONG_ITEM", Decimal("5.00"), 1)]
    assert (cur.refunds, cur.refund_count) == ({"EUR": Decimal("15.00")}, 2)
    assert cmp.refunds == {"EUR": Decimal("3.00")}


def test_on_time_reads_the_cut_off_in_warehouse_time(dataset):
    # At UTC+8 the 16:00 UTC order of 1 March is placed at 00:00 on 2 March (before the
    # cut-off) and sent at 23:00 local: on time; the 09:00 UTC order is placed at 17:00 local
    # (after the cut-off) and sent next day at 18:00 local: late. The 13:00-14:00 UTC parcels
    # leave at 22:00 local, after the cut-off of the day placed (18:00 local): late.
    shipped, on_time = figures.dispatch_timeliness(PERIOD, offset_minutes=8 * 60)
    assert sum(shipped.values()) == 3
    assert sum(on_time.values()) == 1


def test_snapshot_stock_value_slow_movers_backorders_open_purchase_orders(dataset):
    now = figures.snapshot(slow_days=90)
    assert [(b["key"], b["on_hand"], b["value"]) for b in now.stock_by_brand] == [
        ("TESTBR", 13, Decimal("24.00")), ("OTHER", 5, Decimal("15.00"))]
    assert [(c["key"], c["value"]) for c in now.stock_by_category] == [("GEN", Decimal("39.00"))]
    assert (now.stock_units, now.stock_value) == (18, Decimal("39.00"))
    assert [(s.sku_code, s.on_hand, s.value) for s in now.slow_movers] == [
        ("SKU-B", 5, Decimal("15.00")), ("SKU-C", 4, Decimal("6.00"))]
    assert (now.slow_mover_count, now.slow_mover_value) == (2, Decimal("21.00"))
    assert [o.number for o in now.backorders] == ["BO-OLD", "BO-NEW"]
    assert now.backorder_count == 2
    assert [(r["state"], r["currency"], r["orders"], r["total"], r["open_value"])
            for r in now.open_pos] == [
        (PurchaseOrderState.ordered, "USD", 1, Decimal("24.00"), Decimal("16.00")),
        (PurchaseOrderState.partially_received, "EUR", 1, Decimal("30.00"), Decimal("20.00"))]
    assert now.open_po_count == 2
    assert now.open_po_value == {"USD": Decimal("16.00"), "EUR": Decimal("20.00")}


def test_period_defaults_and_previous():
    period = figures.default_period(date(2026, 3, 30))
    assert (period.date_from, period.date_to, period.days) == (date(2026, 3, 1),
                                                               date(2026, 3, 30), 30)
    assert period.previous() == figures.Period(date(2026, 1, 30), date(2026, 2, 28))


def test_dashboard_page_renders_for_a_manager_with_data_and_links(client, login_as, dataset):
    login_as("manager")
    response = client.get("/reports/dashboard?date_from=2026-03-01&date_to=2026-03-03")
    assert response.status_code == 200
    page = html.unescape(response.get_data(as_text=True))
    block = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                      page, re.S)
    data = json.loads(block.group(1))
    assert data["orders"]["labels"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert data["orders"]["received"] == [2, 2, 1]
    assert data["countries"]["labels"] == ["DE", "FR"]
    assert data["orders"]["received_links"][0] == \
        "/orders/?date_from=2026-03-01&date_to=2026-03-01"
    assert "vendor/chartjs/chart.umd.min.js" in page
    assert "js/dashboard.js" in page
    assert "<script>" not in page
    assert " style=" not in page
    for link in ("/orders/?date_from=2026-03-01&date_to=2026-03-03",
                 "/orders/?state=backordered",
                 "/shipping/batches?date_from=2026-03-01&date_to=2026-03-03",
                 "/shipping/parcels?state=dispatched&date_from=2026-03-01",
                 "/warehouse/valuation?group=brand",
                 "/procurement/purchase-orders?state=incoming",
                 "/aftersales/refunds?state=approved&date_from=2026-03-01",
                 "/aftersales/cases?reason_id="):
        assert link in page, link
    assert "BO-OLD" in page
    assert "SKU-B" in page
    assert "39.00" in page  # the stock value


def test_dashboard_comparison_period_and_bad_dates(client, login_as, dataset):
    login_as("admin")
    page = client.get("/reports/dashboard?date_from=2026-03-01&date_to=2026-03-03"
                      "&cmp_from=2026-02-27&cmp_to=2026-02-27").get_data(as_text=True)
    assert 'name="cmp_from" value="2026-02-27"' in page
    assert client.get("/reports/dashboard?date_from=2026-03-05&date_to=2026-03-01"
                      ).status_code == 200


@pytest.mark.parametrize("role", ["warehouse", "purchasing", "customer_service"])
def test_dashboard_is_forbidden_to_other_roles(client, login_as, role):
    login_as(role)
    assert client.get("/reports/dashboard").status_code == 403


# --------------------------------------------------------------------------- cost visibility


@pytest.fixture
def costed_stock(create_sku, create_bin, receive_stock):
    sku = create_sku("COST-1")
    receive_stock(sku, create_bin(), 3, "2.5123")  # shown to 4 places
    db.session.commit()
    return sku


@pytest.mark.parametrize(("role", "sees"), [("warehouse", False), ("customer_service", False),
                                            ("manager", True), ("admin", True)])
def test_costs_and_values_only_for_managers_and_admins(client, login_as, costed_stock, role,
                                                       sees):
    import io

    import openpyxl

    login_as(role)
    for url in ("/warehouse/stock", f"/warehouse/stock/sku/{costed_stock.id}",
                f"/catalog/skus/{costed_stock.id}"):
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert ("2.5123" in page) is sees, url
    assert ("7.54" in client.get("/warehouse/stock").get_data(as_text=True)) is sees
    expected = 200 if sees else 403
    assert client.get("/warehouse/valuation").status_code == expected
    assert client.get("/warehouse/valuation/export.xlsx").status_code == expected
    book = openpyxl.load_workbook(io.BytesIO(client.get("/warehouse/stock/export.xlsx").data))
    headers = [c.value for c in next(book.active.iter_rows(max_row=1))]
    assert ("Average cost" in headers and "Value" in headers) is sees
    assert ("Average cost" in headers or "Value" in headers) is sees


def test_backordered_state_value():
    assert OrderState.backordered.value == "backordered"
