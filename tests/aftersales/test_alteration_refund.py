"""The alteration refund of a made-to-measure item that does not fit: capped share of the line."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from erp.aftersales.errors import AfterSalesError
from erp.aftersales.models import AfterSalesCase, CaseType, Refund, RefundKind, RefundState
from erp.aftersales.services import cases, resolution
from erp.core import services as core_services
from erp.core.models import User
from erp.extensions import db
from tests.concurrency_helpers import POOL_CONFIG, race

MEASURED = '{"chest_cm": "96.5", "waist_cm": "80"}'


@pytest.fixture
def app_config():
    return POOL_CONFIG  # the race below needs a connection per thread


@pytest.fixture
def tailored(ship_order, customs_stock, reasons, returns_bins):
    """Return an order shipped with 2 made-to-measure suits at 100.00 EUR: cap 30 % = 60.00."""
    order = ship_order([(customs_stock("SUIT-MTM"), 2, "100.00")])
    order.lines[0].measurements = MEASURED
    db.session.commit()
    return order


def _case(order, reasons, qty=2, *, actor=None) -> AfterSalesCase:
    case = cases.open_case(order, case_type=CaseType.refund_only, reason=reasons["WRONG_SIZE"],
                           lines={order.lines[0].id: qty}, actor=actor)
    db.session.commit()
    return case


def _alteration(case, amount, actor=None) -> Refund:
    return resolution.request_refund(case, amount=amount, kind="alteration", actor=actor)


def test_within_the_cap_is_refunded(tailored, reasons):
    case = _case(tailored, reasons)
    refund = _alteration(case, "45.00")
    db.session.commit()
    assert (refund.kind, refund.amount, refund.state) == (
        RefundKind.alteration, Decimal("45.00"), RefundState.approved)
    assert resolution.alteration_cap(case) == (Decimal("15.00"), Decimal("60.00"),
                                               Decimal("45.00"))


def test_above_the_cap_is_refused_naming_it(tailored, reasons):
    case = _case(tailored, reasons)
    with pytest.raises(AfterSalesError) as err:
        _alteration(case, "60.01")
    message = str(err.value)
    assert "above its cap of 60.00 EUR" in message, message
    assert "30% of the made-to-measure line (60.00 EUR)" in message, message
    assert err.value.field == "amount"
    assert _alteration(case, "60.00").state == RefundState.approved


def test_earlier_alteration_refunds_of_the_line_count_even_pending(tailored, reasons):
    core_services.update_settings({"refund_approval_threshold": "0"}, actor=None)
    first = _case(tailored, reasons, qty=1)
    assert _alteration(first, "40.00").state == RefundState.pending
    db.session.commit()
    second = _case(tailored, reasons, qty=1)
    with pytest.raises(AfterSalesError, match=r"cap of 20.00 EUR.*less 40.00 EUR already"):
        _alteration(second, "25.00")
    assert _alteration(second, "20.00").amount == Decimal("20.00")


def test_the_setting_sets_the_share(tailored, reasons):
    core_services.update_settings({"alteration_refund_percent": "10"}, actor=None)
    case = _case(tailored, reasons)
    with pytest.raises(AfterSalesError, match="cap of 20.00 EUR"):
        _alteration(case, "20.01")


def test_only_for_a_line_with_measurements(ship_order, customs_stock, reasons, returns_bins):
    order = ship_order([(customs_stock("TEE-1"), 1, "100.00")])
    case = _case(order, reasons, qty=1)
    with pytest.raises(AfterSalesError, match="only for a made-to-measure item"):
        _alteration(case, "10.00")
    assert resolution.request_refund(case, amount="10.00", actor=None).kind == RefundKind.refund


def test_refund_screen_offers_the_alteration_refund(app, client, login_as, tailored, reasons):
    case = _case(tailored, reasons)
    login_as("customer_service")
    page = client.get(f"/aftersales/cases/{case.id}/refunds/new")
    assert page.status_code == 200
    assert b'value="alteration"' in page.data
    refused = client.post(f"/aftersales/cases/{case.id}/refunds/new",
                          data={"kind": "alteration", "amount": "70.00"})
    assert refused.status_code == 422
    assert "above its cap of 60.00" in refused.get_data(as_text=True)
    done = client.post(f"/aftersales/cases/{case.id}/refunds/new",
                       data={"kind": "alteration", "amount": "30.00"})
    assert done.status_code == 302


@pytest.mark.postgres
def test_concurrent_alteration_refunds_cannot_pass_the_cap(app, tailored, reasons, people):
    """8 requests of 25.00 at once on two cases of one line (cap 60.00): two are made."""
    case_ids = [_case(tailored, reasons, qty=1).id, _case(tailored, reasons, qty=1).id]

    def prepare(n):
        case = db.session.get(AfterSalesCase, case_ids[n % 2])
        agent = db.session.get(User, people["customer_service"][n])
        _ = case.refunds, case.state, [line.order_line for line in case.lines]
        return lambda: _alteration(case, "25.00", agent)

    outcomes = race(app, prepare)
    assert outcomes.unexpected == []
    assert outcomes.wins == 2
    assert all("above its cap of 10.00 EUR" in m for m in outcomes.messages()), \
        outcomes.messages()
    total = sum(db.session.scalars(select(Refund.amount).where(
        Refund.kind == RefundKind.alteration)), Decimal(0))
    assert total == Decimal("50.00")
