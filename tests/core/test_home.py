"""The home page by role on the demo data: each queue's count, and its link lists that many.

The expected counts are read from the database here, independently of the home page's own
queries; then every card's link is opened and the rows the list shows are counted.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from erp.aftersales.models import CASE_STATES, AfterSalesCase, CaseState, Refund, RefundState
from erp.brands.models import RevisionFlag, SpecificationState, SpecificationVersion
from erp.catalog.models import Sku
from erp.core import settings
from erp.core.money import convert
from erp.extensions import db
from erp.orders.models import CustomerOrder, OrderState
from erp.procurement.models import PURCHASE_ORDER_STATES, PurchaseOrder, PurchaseOrderState
from erp.procurement.return_models import (
    SupplierClaim,
    SupplierClaimState,
    SupplierReturn,
    SupplierReturnState,
)
from erp.procurement.services import purchase_order_totals, replenishment_suggestions
from erp.quality.models import Inspection, InspectionState
from erp.shipping.carriers.base import TrackingStatus
from erp.shipping.models import PARCEL_STATES, Parcel, ParcelState, ShippingService
from erp.shipping.services.tracking import ranges_running_low
from erp.warehouse.models import (
    CycleCount,
    CycleCountState,
    Location,
    LocationKind,
    PutawayState,
    PutawayTask,
    StockLevel,
    TransferOrder,
    TransferState,
)
from erp.warehouse.services import request_adjustment
from tests import demo_data

# the demo data: loaded once per module on SQLite (see tests/demo_data.py)
demo_template, app_config, demo = demo_data.demo_template, demo_data.app_config, demo_data.demo

S = PurchaseOrderState


@dataclass
class Card:
    title: str
    count: int
    url: str
    amount: str
    detail: str


def text(response) -> str:
    return response.get_data(as_text=True)


def home_sections(page: str) -> dict[str, list[Card]]:
    """Return ``{role: [cards]}`` of the home page, in page order."""
    main = page.split("<main", 1)[1]
    sections = {}
    for role, body in re.findall(r'<section class="home-section" id="home-(\w+)">(.*?)</section>',
                                 main, re.S):
        cards = []
        for href, count, title, rest in re.findall(
                r'<a class="stat" href="([^"]+)">\s*<span class="stat-count">([^<]+)</span>\s*'
                r'<span class="stat-title">([^<]+)</span>(.*?)</a>', body, re.S):
            amount = re.search(r'<span class="stat-amount">([^<]+)</span>', rest)
            detail = re.search(r'<span class="stat-detail">([^<]+)</span>', rest)
            cards.append(Card(html.unescape(title), int(count.replace(",", "")),
                              html.unescape(href), amount.group(1) if amount else "",
                              html.unescape(detail.group(1)) if detail else ""))
        sections[role] = cards
    return sections


def rows_listed(client, url: str) -> int:
    """Open ``url`` and return how many rows its list says it holds."""
    response = client.get(url)
    assert response.status_code == 200, url
    main = text(response).split("<main", 1)[1]
    if url.startswith("/warehouse/putaway"):
        return int(re.search(r"([\d,]+) tasks? ·", main).group(1).replace(",", ""))
    found = re.search(r"([\d,]+) rows?\b", main)  # the pagination line
    assert found, f"{url} says no number of rows"
    return int(found.group(1).replace(",", ""))


@pytest.fixture
def sign_in(client, create_user, login):
    """Return ``sign_in(*roles)``: a new user holding ``roles``, signed in (the last one out)."""
    counter = iter(range(1, 100))

    def do(*roles: str):
        client.post("/logout")
        user = create_user(f"home-{next(counter)}", roles=roles)
        assert login(user.username).status_code == 302
        return user

    return do


def _count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def _money(text: str) -> Decimal:
    return Decimal(text.split()[0].replace(",", ""))


def _shown(client) -> dict[str, Card]:
    sections = home_sections(text(client.get("/")))
    assert len(sections) == 1
    return {card.title: card for card in next(iter(sections.values()))}


def _assert_links(client, cards: dict[str, Card]) -> None:
    for card in cards.values():
        assert rows_listed(client, card.url) == card.count, (card.title, card.url)


@pytest.fixture
def work_due(demo):
    """Give the demo a case overdue, one due later today and an adjustment to approve."""
    now = datetime.now(UTC)
    active = db.session.scalars(select(AfterSalesCase).where(
        AfterSalesCase.state.in_(list(CASE_STATES.groups["active"])))
        .order_by(AfterSalesCase.id)).all()
    midnight = datetime.combine(now.astimezone().date() + timedelta(days=1),
                                datetime.min.time(), now.astimezone().tzinfo).astimezone(UTC)
    active[0].due_at = now - timedelta(hours=2)
    active[1].due_at = now + min(timedelta(hours=1), (midnight - now) / 2)
    level = db.session.scalar(
        select(StockLevel).join(Location, Location.id == StockLevel.location_id)
        .join(Sku, Sku.id == StockLevel.sku_id)
        .where(Location.kind == LocationKind.storage, StockLevel.on_hand > 0, Sku.avg_cost > 0)
        .order_by(StockLevel.sku_id, StockLevel.location_id).limit(1))
    sku, location = db.session.get(Sku, level.sku_id), db.session.get(Location, level.location_id)
    units = int(Decimal(400) / sku.avg_cost) + 1  # above the 200 threshold
    adjustment = request_adjustment(sku, location, units, reason="found", note="home test",
                                    actor=None)
    db.session.commit()
    return adjustment


def test_purchasing_home_counts_and_links(client, sign_in, demo):
    sign_in("purchasing")
    cards = _shown(client)
    today = date.today()
    orders = db.session.scalars(select(PurchaseOrder)).all()
    receivable = PURCHASE_ORDER_STATES.groups["receivable"]
    overdue = [po for po in orders if po.state in receivable and (
        (po.expected_date and po.expected_date < today)
        or any(line.expected_date and line.expected_date < today
               and line.quantity > line.received_qty + line.cancelled_qty for line in po.lines))]
    assert {title: card.count for title, card in cards.items()} == {
        "Purchase orders in draft": sum(po.state == S.draft for po in orders),
        "Purchase orders to send": sum(po.state == S.approved for po in orders),
        "Arrivals overdue": len(overdue),
        "Replenishment suggestions": len(replenishment_suggestions()),
        "Supplier returns to ship": _count(SupplierReturn,
                                           SupplierReturn.state == SupplierReturnState.draft),
    }
    assert all(card.count for card in cards.values())  # the demo has some of each
    assert "Purchase orders awaiting approval" not in cards  # a manager's decision
    _assert_links(client, cards)


def test_manager_home_shows_every_approval_with_its_amount(client, sign_in, work_due):
    sign_in("manager")
    cards = _shown(client)
    base = settings.base_currency()
    waiting = db.session.scalars(select(PurchaseOrder).where(
        PurchaseOrder.state == S.awaiting_approval)).all()
    pending = db.session.scalars(select(Refund).where(Refund.state == RefundState.pending)).all()
    assert [title for title in cards] == [
        "Purchase orders awaiting approval", "Refunds awaiting approval",
        "Adjustments awaiting approval", "Cycle counts to review",
        "Specifications awaiting approval", "Claims to approve",
        "Specifications flagged for revision", "Rejected lots"]
    assert cards["Purchase orders awaiting approval"].count == len(waiting) > 0
    assert cards["Refunds awaiting approval"].count == len(pending) > 0
    assert cards["Adjustments awaiting approval"].count == 1
    assert cards["Cycle counts to review"].count == _count(
        CycleCount, CycleCount.state == CycleCountState.review)
    assert cards["Specifications awaiting approval"].count == _count(
        SpecificationVersion, SpecificationVersion.state == SpecificationState.draft)
    assert cards["Specifications flagged for revision"].count == _count(
        RevisionFlag, RevisionFlag.cleared_at.is_(None)) > 0  # the demo flags some
    # the amounts: in the base currency, as each order's and refund's page converts them
    po_total = sum(purchase_order_totals(po)[2] for po in waiting)
    refund_total = sum(convert(r.amount, r.currency, base, on=date.today(), places=Decimal("0.01"))
                       for r in pending)
    assert cards["Purchase orders awaiting approval"].amount.endswith(f" {base}")
    assert abs(_money(cards["Purchase orders awaiting approval"].amount) - po_total) <= \
        Decimal("0.01") * len(waiting)
    assert abs(_money(cards["Refunds awaiting approval"].amount) - refund_total) <= \
        Decimal("0.01") * len(pending)
    assert _money(cards["Adjustments awaiting approval"].amount) == work_due.value
    assert cards["Cycle counts to review"].amount == ""  # a count has no amount
    assert cards["Claims to approve"].count == _count(
        SupplierClaim, SupplierClaim.state == SupplierClaimState.open)
    _assert_links(client, cards)


def test_warehouse_home_counts_and_links(client, sign_in, demo):
    sign_in("warehouse")
    cards = _shown(client)
    now_local = datetime.now().astimezone().strftime("%H:%M")
    tasks = db.session.scalars(select(PutawayTask).where(
        PutawayTask.state == PutawayState.open)).all()
    assert {title: card.count for title, card in cards.items()} == {
        "Put-away tasks open": len(tasks),
        "Lots waiting for inspection": _count(Inspection,
                                              Inspection.state == InspectionState.pending),
        "Orders to pick": _count(CustomerOrder, CustomerOrder.state == OrderState.allocated),
        "Orders to pack": _count(CustomerOrder, CustomerOrder.state == OrderState.picking),
        "Parcels to dispatch before today's cut-off": db.session.scalar(
            select(func.count()).select_from(Parcel)
            .join(ShippingService, ShippingService.id == Parcel.service_id)
            .where(Parcel.state.in_(list(PARCEL_STATES.groups["open"])),
                   ShippingService.cutoff > now_local)),
        "Cycle counts to count": _count(CycleCount, CycleCount.state == CycleCountState.open),
        "Tracking ranges running low": len(ranges_running_low()),
        "Transfers in transit": _count(TransferOrder, TransferOrder.state == TransferState.shipped),
    }
    assert list(cards)[:4] == ["Put-away tasks open", "Orders to pick", "Orders to pack",
                               "Parcels to dispatch before today's cut-off"]
    units = sum(t.quantity - t.done_qty for t in tasks)
    assert cards["Put-away tasks open"].detail == f"{units:,} units in receiving bins"
    del cards["Tracking ranges running low"]  # links to the carriers, not a list of ranges
    _assert_links(client, cards)


def test_customer_service_home_counts_and_links(client, sign_in, work_due):
    sign_in("customer_service")
    cards = _shown(client)
    active = AfterSalesCase.state.in_(list(CASE_STATES.groups["active"]))
    now = datetime.now(UTC)
    local = now.astimezone()
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(),
                                local.tzinfo).astimezone(UTC)
    assert {title: card.count for title, card in cards.items()} == {
        "Cases overdue": _count(AfterSalesCase, active, AfterSalesCase.due_at < now),
        "Cases due today": _count(AfterSalesCase, active, AfterSalesCase.due_at >= now,
                                  AfterSalesCase.due_at < midnight),
        "Returns awaiting a decision": _count(AfterSalesCase,
                                              AfterSalesCase.state == CaseState.inspected),
        "Orders to allocate": _count(CustomerOrder, CustomerOrder.state == OrderState.new),
        "Backordered": _count(CustomerOrder, CustomerOrder.state == OrderState.backordered),
        "On hold": _count(CustomerOrder, CustomerOrder.state == OrderState.on_hold),
        "Parcels in tracking exception": _count(
            Parcel, Parcel.state == ParcelState.dispatched,
            Parcel.tracking_status == TrackingStatus.exception),
    }
    assert cards["Cases overdue"].count >= 1
    assert cards["Cases due today"].count >= 1
    assert cards["Returns awaiting a decision"].count >= 1
    assert cards["Parcels in tracking exception"].count >= 1  # the demo's carrier reported one
    _assert_links(client, cards)


#: what the home page showed an admin before the role sections (and still does)
ADMIN_CARDS = [
    "Active users", "Audit events today", "Specifications awaiting approval", "Active SKUs",
    "Cycle counts open", "Cycle counts to review", "Put-away tasks open",
    "Adjustments awaiting approval", "Bins with stock", "Purchase orders awaiting approval",
    "Orders to allocate", "Backordered", "On hold", "Tracking ranges running low",
    "Overdue after-sales cases"]


def test_several_roles_see_a_section_each_and_admin_what_it_saw(client, sign_in, demo,
                                                                count_queries):
    sign_in("admin")
    sections = home_sections(text(client.get("/")))
    assert list(sections) == ["admin"]
    assert [card.title for card in sections["admin"]] == ADMIN_CARDS
    assert "<h2>" not in text(client.get("/")).split("<main", 1)[1]  # one section: no heading

    sign_in("warehouse", "customer_service", "manager", "purchasing", "admin")
    with count_queries() as counter:
        page = text(client.get("/"))
    sections = home_sections(page)
    assert list(sections) == ["manager", "purchasing", "warehouse", "customer_service", "admin"]
    for heading in ("Approvals waiting", "Purchasing", "Warehouse", "Customer service",
                    "Overview"):
        assert f"<h2>{heading}</h2>" in page
    # one query or so per domain, shared by the sections (not one per card: 37 cards here)
    assert sum(len(cards) for cards in sections.values()) >= 35
    # 20: quality and the specification revision flags have one each of their own
    assert counter.count <= 20, counter.count


def test_home_page_in_chinese(client, sign_in, demo):
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "zh-CN"
    sign_in("warehouse", "manager")
    page = text(client.get("/"))
    sections = home_sections(page)
    assert "<h2>待审批</h2>" in page
    titles = [card.title for card in sections["warehouse"]]
    assert "待上架任务" in titles
    units = db.session.scalar(select(func.sum(PutawayTask.quantity - PutawayTask.done_qty))
                              .where(PutawayTask.state == PutawayState.open))
    assert sections["warehouse"][0].detail == f"收货库位中有 {units:,} 件"
    assert "Purchase orders" not in page.split("<main", 1)[1]
