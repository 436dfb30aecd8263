"""Customer returns graded C for a manufacturing defect go back to their supplier."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from erp.aftersales.services import supplier_returns as rules
from erp.core import services as core_services
from erp.extensions import db
from erp.procurement import services as procurement
from erp.procurement.return_models import SupplierClaim, SupplierReturn
from erp.warehouse.models import StockLevel
from erp.warehouse.queries import ledger_problems


def test_grade_c_defect_goes_on_a_supplier_return_and_ships(graded_return, returns_bins,
                                                            create_user):
    data = graded_return()
    item, buyer = data["c"], create_user("buyer", roles=("purchasing",))
    assert rules.can_send_to_supplier(item)
    assert not rules.can_send_to_supplier(data["a"])  # graded A: restocked, not returned
    assert [s.code for s in rules.supplier_choices(item)][:2] == ["MAKER", "OTHER"]

    ret = rules.send_item_to_supplier(item, data["maker"], actor=buyer)
    db.session.commit()
    line = ret.lines[0]
    assert (line.quantity, line.location_id) == (2, returns_bins["scrap"].id)
    assert (line.ref_type, line.ref_id) == ("return_item", item.id)
    assert line.unit_price == 6  # never bought on a PO: the price list's price
    assert data["case"].number in line.reason
    assert not rules.can_send_to_supplier(item)  # all its units are on a return
    with pytest.raises(rules.SupplierReturnRefused, match="already on a supplier return"):
        rules.send_item_to_supplier(item, data["other"], actor=buyer)
    db.session.rollback()

    claim = procurement.ship_supplier_return(ret, actor=buyer)
    db.session.commit()
    level = db.session.get(StockLevel, (data["tee"].id, returns_bins["scrap"].id))
    assert level.on_hand == 0
    assert claim.amount == 12
    assert ledger_problems(db.session) == []


def test_a_cancelled_return_frees_the_item_and_a_second_item_joins_the_draft(graded_return,
                                                                               create_user):
    data = graded_return()
    buyer = create_user("buyer", roles=("purchasing",))
    first = rules.send_item_to_supplier(data["c"], data["maker"], actor=buyer)
    procurement.cancel_supplier_return(first, actor=buyer, reason="wrong supplier")
    db.session.commit()
    assert rules.can_send_to_supplier(data["c"])
    again = rules.send_item_to_supplier(data["c"], data["other"], actor=buyer)
    db.session.commit()
    assert again.id != first.id
    assert again.supplier_id == data["other"].id
    assert db.session.scalar(select(SupplierClaim)) is None


def test_other_reasons_are_refused_unless_the_setting_names_them(graded_return, create_user):
    data = graded_return("WRONG_SIZE")
    buyer = create_user("buyer", roles=("purchasing",))
    assert not rules.can_send_to_supplier(data["c"])
    with pytest.raises(rules.SupplierReturnRefused, match="must be a manufacturing defect"):
        rules.send_item_to_supplier(data["c"], data["maker"], actor=buyer)
    db.session.rollback()
    core_services.update_settings({"manufacturing_defect_reasons": "defective, wrong_size"},
                                  actor=None)
    db.session.commit()
    assert rules.manufacturing_reason_codes() == {"DEFECTIVE", "WRONG_SIZE"}
    assert rules.can_send_to_supplier(data["c"])


def test_case_page_offers_the_button_and_the_form_creates_the_return(client, login_as,
                                                                   graded_return):
    data = graded_return()
    login_as("purchasing")  # purchasing reads cases and keeps supplier returns
    page = client.get(f"/aftersales/cases/{data['case'].id}")
    assert page.status_code == 200, page.status_code
    assert f"/aftersales/return-items/{data['c'].id}/supplier-return" in page.get_data(
        as_text=True)
    assert f"/aftersales/return-items/{data['a'].id}/supplier-return" not in page.get_data(
        as_text=True)
    form = client.get(f"/aftersales/return-items/{data['c'].id}/supplier-return")
    assert "MAKER" in form.get_data(as_text=True)
    response = client.post(f"/aftersales/return-items/{data['c'].id}/supplier-return",
                           data={"supplier_id": str(data["maker"].id)})
    assert response.status_code == 302
    ret = db.session.scalar(select(SupplierReturn))
    assert response.headers["Location"].endswith(f"/procurement/supplier-returns/{ret.id}")
    # graded A: the page sends the user back to the case
    refused = client.get(f"/aftersales/return-items/{data['a'].id}/supplier-return")
    assert refused.status_code == 302
