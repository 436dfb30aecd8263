"""After-sales operations posted 8 times at once: cases, refunds, replacements, returns."""

from __future__ import annotations

from sqlalchemy import func, select

from erp.aftersales.models import AfterSalesCase, CaseLine, CaseType, ReturnItem
from erp.aftersales.services import cases, resolution, returns
from erp.extensions import db
from erp.orders.models import CustomerOrder
from erp.warehouse.models import StockLevel
from tests.concurrency.guarded import (
    Scenario,
    audit_count,
    drawn,
    guarded,
    ledger_balances,
    level,
)


def _case(get, case_type: CaseType, *, qty: int = 1, price: str = "20.00",
          authorise: bool = False):
    """Return ``(case, agent)``: a case about ``qty`` units of a shipped order (committed).

    At 20.00 EUR a unit a refund of one unit is within the approval threshold (100 USD); at
    150.00 it waits for a manager.
    """
    get("returns_bins")
    sku = get("customs_stock")("RMA-1")
    order = get("ship_order")([(sku, qty, price)])
    agent = get("create_user")("agent-x", roles=("customer_service",))
    case = cases.open_case(order, case_type=case_type, reason=get("reasons")["DEFECTIVE"],
                           lines={order.lines[0].id: qty}, actor=agent)
    if authorise:
        cases.authorise_return(case, actor=agent)
    db.session.commit()
    return case, agent


def _state(obj) -> str:
    db.session.expire_all()
    return obj.state.value


@guarded("aftersales.case_new")
def open_a_case_for_the_whole_line(get) -> Scenario:
    """8 cases for both shipped units of a line: one opens, the others find nothing left."""
    get("returns_bins")
    sku = get("customs_stock")("RMA-1")
    order = get("ship_order")([(sku, 2, "20.00")])
    line, reason = order.lines[0], get("reasons")["WRONG_SIZE"]
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        claimed = db.session.scalar(
            select(func.sum(CaseLine.quantity)).join(AfterSalesCase)
            .where(AfterSalesCase.order_id == order.id))
        assert claimed == 2
        assert db.session.scalar(select(func.count()).select_from(AfterSalesCase)) == 1
        assert audit_count("aftersales_case.created") == 1
        assert drawn("RMA") == 1

    return Scenario("customer_service", f"/aftersales/cases/new?order={order.number}",
                    {"case_type": CaseType.return_refund.value, "reason_id": str(reason.id),
                     "parcel_id": "0", f"qty-{line.id}": "2"}, check)


@guarded("aftersales.case_authorise")
def authorise_the_same_return(get) -> Scenario:
    """8 authorisations of one return: it awaits the goods once, one audit event."""
    case, _ = _case(get, CaseType.return_refund)

    def check(answers):
        assert _state(case) == "awaiting_return"
        assert case.return_tracking == "RA473124829GB"
        assert audit_count("aftersales_case.awaiting_return", of=case) == 1

    return Scenario("customer_service", f"/aftersales/cases/{case.id}/authorise",
                    {"return_tracking": "RA473124829GB"}, check)


@guarded("aftersales.case_reject")
def reject_the_same_case(get) -> Scenario:
    """8 rejections of one open case: rejected once."""
    case, _ = _case(get, CaseType.refund_only)

    def check(answers):
        assert _state(case) == "rejected"
        assert audit_count("aftersales_case.rejected", of=case) == 1

    return Scenario("customer_service", f"/aftersales/cases/{case.id}/reject",
                    {"reason": "Outside the warranty"}, check)


@guarded("aftersales.case_close")
def close_the_same_case(get) -> Scenario:
    """8 closes of a case resolved by its refund: closed once."""
    case, agent = _case(get, CaseType.refund_only)
    resolution.request_refund(case, amount="20.00", actor=agent)  # approved: resolves
    db.session.commit()

    def check(answers):
        assert _state(case) == "closed"
        assert audit_count("aftersales_case.closed", of=case) == 1

    return Scenario("customer_service", f"/aftersales/cases/{case.id}/close", {}, check)


def _pending_refund(get):
    case, agent = _case(get, CaseType.refund_only, price="150.00")
    refund = resolution.request_refund(case, amount="150.00", actor=agent)
    db.session.commit()
    assert refund.state.value == "pending"
    return case, refund


@guarded("aftersales.refund_approve")
def approve_the_same_refund(get) -> Scenario:
    """8 approvals of one pending refund: approved once, the case resolved once."""
    case, refund = _pending_refund(get)

    def check(answers):
        assert _state(refund) == "approved"
        assert audit_count("refund.approved", of=refund) == 1
        assert case.state.value == "resolved"
        assert audit_count("aftersales_case.resolved", of=case) == 1

    return Scenario("manager", f"/aftersales/refunds/{refund.id}/approve", {}, check)


@guarded("aftersales.refund_reject")
def reject_the_same_refund(get) -> Scenario:
    """8 rejections of one pending refund: rejected once."""
    _, refund = _pending_refund(get)

    def check(answers):
        assert _state(refund) == "rejected"
        assert audit_count("refund.rejected", of=refund) == 1

    return Scenario("manager", f"/aftersales/refunds/{refund.id}/reject",
                    {"reason": "Claim not proven"}, check)


@guarded("aftersales.mark_refunds_exported")
def mark_the_same_refunds_exported(get) -> Scenario:
    """8 confirmations of one finance file of 2 refunds: each refund stamped once."""
    case, agent = _case(get, CaseType.refund_only)
    first = resolution.request_refund(case, amount="10.00", actor=agent)
    second = resolution.request_refund(case, amount="10.00", actor=agent)
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert None not in (first.exported_at, second.exported_at)
        assert audit_count("refund.exported", of=first) == 1
        assert audit_count("refund.exported", of=second) == 1

    return Scenario("customer_service", "/aftersales/refunds/finance/mark-exported",
                    {"ids": f"{first.id},{second.id}"}, check)


@guarded("aftersales.replacement_create")
def create_the_same_replacement(get) -> Scenario:
    """8 replacements for one case: one order is created and reserved, the case resolved once."""
    case, _ = _case(get, CaseType.replacement_only)
    sku_id = case.lines[0].sku_id

    def check(answers):
        db.session.expire_all()
        replacements = db.session.scalars(select(CustomerOrder).where(
            CustomerOrder.channel == "replacement")).all()
        assert [o.id for o in replacements] == [case.replacement_order_id]
        assert db.session.scalar(select(func.sum(StockLevel.reserved))
                                 .where(StockLevel.sku_id == sku_id)) == 1
        assert audit_count("aftersales_case.replacement_created", of=case) == 1
        assert audit_count("aftersales_case.resolved", of=case) == 1
        ledger_balances()

    return Scenario("customer_service", f"/aftersales/cases/{case.id}/replacement", {}, check)


@guarded("aftersales.return_receive")
def receive_the_same_return(get) -> Scenario:
    """8 receipts of one return of 2 units: the goods come in once."""
    case, _ = _case(get, CaseType.return_refund, qty=2, authorise=True)
    line, bin_ = case.lines[0], returns.returns_location()

    def check(answers):
        db.session.expire_all()
        assert db.session.scalar(select(func.sum(ReturnItem.quantity))
                                 .where(ReturnItem.case_id == case.id)) == 2
        assert level(line.sku, bin_).on_hand == 2
        assert case.state.value == "received"
        assert audit_count("aftersales_case.received", of=case) == 1
        ledger_balances()

    return Scenario("warehouse", f"/aftersales/returns/{case.id}/receive",
                    {"action": "receive", f"qty-{line.id}": "2"}, check)


@guarded("aftersales.return_inspect")
def inspect_the_same_return(get) -> Scenario:
    """8 gradings of 2 returned units as A: restocked once, the returns bin emptied once."""
    case, agent = _case(get, CaseType.return_refund, qty=2, authorise=True)
    [item] = returns.receive_return(case, [(case.lines[0].id, None, None, 2)], actor=agent)
    db.session.commit()
    sku, bin_ = item.sku, returns.default_restock_bin(item.sku_id)
    before = level(sku, bin_).on_hand

    def check(answers):
        assert level(sku, bin_).on_hand == before + 2
        assert level(sku, returns.returns_location()).on_hand == 0
        assert case.state.value == "inspected"
        assert audit_count("aftersales_case.return_inspected", of=case) == 1
        ledger_balances()

    return Scenario("warehouse", f"/aftersales/returns/{case.id}/inspect",
                    {f"a-{item.id}": "2"}, check)


@guarded("aftersales.returned_to_sender")
def scan_the_same_returned_parcel(get) -> Scenario:
    """8 scans of one parcel returned to sender: one case, its goods received once."""
    get("returns_bins")
    sku = get("customs_stock")("RTS-1")
    order = get("ship_order")([(sku, 2, "20.00")])
    parcel = order.parcel
    db.session.commit()

    def check(answers):
        db.session.expire_all()
        assert db.session.scalar(select(func.count()).select_from(AfterSalesCase)) == 1
        assert db.session.scalar(select(func.sum(ReturnItem.quantity))) == 2
        assert audit_count("aftersales_case.received") == 1
        assert parcel.tracking_status.value == "returned"
        ledger_balances()

    return Scenario("warehouse", "/aftersales/returns/returned-to-sender",
                    {"tracking_number": parcel.tracking_number, "decision": "reship"}, check)


@guarded("aftersales.send_item_to_supplier")
def send_the_same_item_to_its_supplier(get) -> Scenario:
    """8 sends of one item graded C (2 units): they go on one supplier return, once."""
    from erp.procurement.return_models import SupplierReturnLine

    data = get("graded_return")()

    def check(answers):
        db.session.expire_all()
        assert db.session.scalar(select(func.sum(SupplierReturnLine.quantity))) == 2
        assert audit_count("aftersales_case.sent_to_supplier", of=data["case"]) == 1

    return Scenario("purchasing", f"/aftersales/return-items/{data['c'].id}/supplier-return",
                    {"supplier_id": str(data["maker"].id)}, check)
