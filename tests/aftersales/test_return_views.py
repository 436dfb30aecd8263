"""The returns screens: scan the RMA, receive the goods, grade them; who may do what."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.aftersales.models import CaseState, CaseType, ReturnItem
from erp.aftersales.services import cases
from erp.extensions import db
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems


@pytest.fixture
def rma(ship_order, customs_stock, reasons, returns_bins, create_user):
    """Return a return-for-refund case of 2 x TEE-1, awaiting return (tracking RA473124829GB)."""
    agent = create_user("agent", roles=("customer_service",))
    tee = customs_stock("TEE-1")
    order = ship_order([(tee, 2, "15.00")])
    case = cases.open_case(order, case_type=CaseType.return_refund,
                           reason=reasons["WRONG_SIZE"], lines={order.lines[0].id: 2},
                           actor=agent)
    cases.authorise_return(case, actor=agent, return_tracking="RA473124829GB")
    db.session.commit()
    return case


def on_hand(sku_id, location) -> int:
    level = db.session.get(StockLevel, (sku_id, location.id))
    if level is None:
        return 0
    db.session.refresh(level)
    return level.on_hand


def test_start_lists_cases_and_scan_opens_the_receive_screen(client, login_as, rma):
    login_as("warehouse")
    page = client.get("/aftersales/returns")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert rma.number in html
    assert "autofocus" in html
    assert client.get("/aftersales/returns?search=nothing-like-it").status_code == 200
    response = client.get(f"/aftersales/returns?number={rma.number.lower()}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/aftersales/returns/{rma.id}/receive")
    response = client.get("/aftersales/returns?number=RA 473 124 829 GB")
    assert response.headers["Location"].endswith(f"/aftersales/returns/{rma.id}/receive")
    unknown = client.get("/aftersales/returns?number=RMA-1999-000009")
    assert unknown.status_code == 200
    assert "No after-sales case has" in unknown.get_data(as_text=True)
    export = client.get("/aftersales/returns/export")
    assert export.status_code == 200
    assert export.mimetype.endswith("spreadsheetml.sheet")


def test_receive_scan_unexpected_and_confirm_then_inspect(client, login_as, rma, customs_stock,
                                                          returns_bins):
    cap = customs_stock("CAP-1")
    login_as("warehouse")
    url = f"/aftersales/returns/{rma.id}/receive"
    screen = client.get(url)
    assert screen.status_code == 200
    assert f'href="/aftersales/cases/{rma.id}"' in screen.get_data(as_text=True)
    line = rma.lines[0]
    # A scan adds one unit to the line; a SKU not on the case goes to the unexpected items.
    page = client.post(url, data={"action": "add", "scan": "tee-1"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'name="qty-{line.id}"' in html
    assert 'value="1"' in html
    page = client.post(url, data={"action": "add", "scan": "CAP-1", f"qty-{line.id}": "1"})
    assert 'value="CAP-1"' in page.get_data(as_text=True)
    page = client.post(url, data={"action": "add", "scan": "NOPE-99"})
    assert page.status_code == 422
    assert "No SKU has the code" in page.get_data(as_text=True)
    page = client.post(url, data={"action": "add", "extra_description": "Blue scarf",
                                  "extra_qty": "1"})
    assert 'value="Blue scarf"' in page.get_data(as_text=True)
    response = client.post(url, data={
        "action": "receive", f"qty-{line.id}": "2",
        "extra-0-code": "CAP-1", "extra-0-qty": "1",
        "extra-1-description": "Blue scarf", "extra-1-qty": "1"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/aftersales/returns/{rma.id}/inspect")
    db.session.refresh(rma)
    assert rma.state == CaseState.received
    assert on_hand(line.sku_id, returns_bins["returns"]) == 2
    assert on_hand(cap.id, returns_bins["returns"]) == 1
    # A second receipt is refused, naming when and by whom.
    again = client.post(url, data={"action": "receive", f"qty-{line.id}": "1"})
    assert again.status_code == 422
    # Inspect: the tee A (default bin) and C; the cap B; the scarf C.
    items = {(i.sku.code if i.sku else i.description): i
             for i in db.session.scalars(select(ReturnItem).where(ReturnItem.case_id == rma.id))}
    inspect = f"/aftersales/returns/{rma.id}/inspect"
    assert client.get(inspect).status_code == 200
    wrong = client.post(inspect, data={f"a-{items['TEE-1'].id}": "3"})
    assert wrong.status_code == 422
    assert "2 received, 3 graded" in wrong.get_data(as_text=True)
    bad_bin = client.post(inspect, data={f"a-{items['TEE-1'].id}": "2",
                                         f"bin-{items['TEE-1'].id}": "NO-SUCH-BIN"})
    assert bad_bin.status_code == 422
    done = client.post(inspect, data={
        f"a-{items['TEE-1'].id}": "1", f"c-{items['TEE-1'].id}": "1",
        f"b-{items['CAP-1'].id}": "1", f"c-{items['Blue scarf'].id}": "1"})
    assert done.status_code == 302
    db.session.refresh(rma)
    assert rma.state == CaseState.inspected
    assert on_hand(line.sku_id, returns_bins["returns"]) == 0
    assert on_hand(line.sku_id, returns_bins["scrap"]) == 1
    assert on_hand(cap.id, returns_bins["quarantine"]) == 1
    assert ledger_problems(db.session) == []
    assert client.get(inspect).status_code == 200


def test_customer_service_cannot_receive_or_inspect(client, login_as, rma):
    login_as("customer_service")
    assert client.get("/aftersales/returns").status_code == 200
    assert client.get(f"/aftersales/returns/{rma.id}/receive").status_code == 403
    assert client.post(f"/aftersales/returns/{rma.id}/receive",
                       data={"action": "receive", f"qty-{rma.lines[0].id}": "2"}
                       ).status_code == 403
    assert client.get(f"/aftersales/returns/{rma.id}/inspect").status_code == 403
    assert client.post(f"/aftersales/returns/{rma.id}/inspect", data={}).status_code == 403
    db.session.refresh(rma)
    assert rma.state == CaseState.awaiting_return
    # A scan only explains; it leads nowhere for them.
    page = client.get(f"/aftersales/returns?number={rma.number}")
    assert page.status_code == 200
    assert "for warehouse staff" in page.get_data(as_text=True)


def test_receive_screen_of_a_case_not_awaiting_return(client, login_as, ship_order,
                                                      customs_stock, reasons, returns_bins,
                                                      create_user):
    agent = create_user("agent", roles=("customer_service",))
    order = ship_order([(customs_stock("TEE-1"), 1)])
    case = cases.open_case(order, case_type=CaseType.return_refund, reason=reasons["DEFECTIVE"],
                           lines={order.lines[0].id: 1}, actor=agent)
    db.session.commit()
    login_as("warehouse")
    page = client.get(f"/aftersales/returns/{case.id}/receive")
    assert page.status_code == 200
    assert "only for cases awaiting return" in page.get_data(as_text=True)
    refused = client.post(f"/aftersales/returns/{case.id}/receive",
                          data={"action": "receive", f"qty-{case.lines[0].id}": "1"})
    assert refused.status_code == 422
    assert "must be awaiting return; it is open" in refused.get_data(as_text=True)
    db.session.refresh(case)
    assert case.state == CaseState.open
    assert client.get("/aftersales/returns/999999/receive").status_code == 404
