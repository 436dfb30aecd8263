"""Scenario: a 9610 export order from the storefront to the customs ledger and the month.

The company's customs codes are set; the catalog's categories carry the Chinese customs data
(HS code, name, declaration elements, units) and a person confirms the products in the
classification review. The storefront posts a paid 9610 order through the API; it is
allocated, picked, packed, labelled and handed over in a dispatch batch. Closing the batch
writes its declaration to the customs ledger; the batch's XML messages (CEB303/403/505/603)
parse and match the order and its payment; the month's summary includes it and traces back to
the parcel; ``check-customs`` finds nothing wrong. A later change of the category's customs data
leaves the declared lines as they were. A second 9610 order that lacks its payment transaction
stops its batch from closing, named by parcel, order and field.

Everything goes through the real registered hooks (intake, the gate and the ledger at batch
close), calling services and committing where a screen would.
"""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import func, select

from erp.catalog import cn_customs
from erp.catalog import services as catalog_services
from erp.core import services as core_services
from erp.core.errors import ValidationError
from erp.customs import xml as customs_xml
from erp.customs.check import check_customs
from erp.customs.collect import china_time
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.customs.summary import monthly_summary, summary_trace
from erp.extensions import db
from erp.orders import services as order_services
from erp.orders.models import CustomerOrder, OrderState
from erp.orders.services import allocate_orders
from erp.orders.services.splitting import split_order
from erp.shipping.errors import ShippingError
from erp.shipping.models import BatchState, ParcelState
from erp.shipping.services import dispatch, packing, parcels, waves
from erp.warehouse.queries import ledger_problems

NS = {"ceb": customs_xml.NS}
#: the reference's sample codes (china-9610.md §8), as the settings screen stores them
COMPANY = {
    "customs_ebp_code": "4403960S01", "customs_ebp_name": "深圳市样例跨境电商有限公司",
    "customs_ebc_code": "4403960S01", "customs_ebc_name": "深圳市样例跨境电商有限公司",
    "customs_owner_code": "4403960S01", "customs_owner_name": "深圳市样例跨境电商有限公司",
    "customs_agent_code": "4403980B03", "customs_agent_name": "深圳市样例报关有限公司",
    "customs_cop_code": "4403980B03", "customs_cop_name": "深圳市样例报关有限公司",
    "customs_dxp_id": "DXPENT0000054321", "customs_customs_code": "5317",
    "customs_port_code": "5317",
    "customs_logistics_codes": "CNPOST 4403980L02 深圳市样例国际物流有限公司",
    "customs_pay_codes": "PayPal 4403960P04 深圳市样例跨境支付有限公司",
}
TEE_HS, CASE_HS = "6109100021", "3926909090"


def order_payload(number: str, *, payment: dict | None = None) -> dict:
    """A 9610 order: 2 T-shirts at 89.00 and a phone case at 35.00 EUR, 41.00 shipping."""
    return {
        "number": number, "placed_at": "2026-11-20T10:15:00Z", "customer_name": "Anna Schmidt",
        "email": "anna@example.de", "phone": "+49 30 1234567",
        "shipping_address": {"name": "Anna Schmidt", "address1": "Hauptstr. 5",
                             "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "currency": "EUR", "shipping_charge": "41.00", "shipping_service": "POST-REG",
        "trade_mode": "9610",
        "lines": [{"sku": "TS-COT-M", "quantity": 2, "unit_price": "89.00"},
                  {"sku": "PC-IP15", "quantity": 1, "unit_price": "35.00"}],
        "payment": payment if payment is not None else {
            "provider": "PayPal", "transaction": f"PAY-{number}", "amount": "254.00",
            "currency": "EUR", "paid_at": "2026-11-20T18:16:00+08:00"},
    }


def ship_to_batch(order, *, actor, box):
    """Pick, pack and label the allocated ``order``; return its parcel in a new open batch."""
    wave = waves.build_wave(waves.WaveFilters(), actor=actor)
    assert [o.id for o in {task.order for task in wave.tasks}] == [order.id]
    waves.pick_all(wave, actor=actor)
    waves.finish_wave(wave, actor=actor)
    db.session.commit()
    parcel = packing.pack_order(order, weight_g=None, box=box, actor=actor)
    db.session.commit()
    parcels.label_parcels([parcel], actor=actor)
    db.session.commit()
    batch = dispatch.open_batch(parcel.service.carrier, actor=actor)
    dispatch.add_parcels(batch, [parcel], actor=actor)
    db.session.commit()
    return parcel, batch


def messages(batch) -> dict[str, ET.Element]:
    """Return ``{"303": root, ...}``: the batch's XML files, each parsed (one file each here)."""
    with zipfile.ZipFile(io.BytesIO(customs_xml.batch_zip(batch))) as archive:
        names = sorted(archive.namelist())
        assert names == [f"CEB{code}-{batch.number}-001.xml" for code in ("303", "403", "505",
                                                                         "603")]
        return {name[3:6]: ET.fromstring(archive.read(name)) for name in names}


def text(element: ET.Element, path: str) -> str:
    found = element.find(path, NS)
    assert found is not None, path
    return found.text


def declared_lines(parcel) -> list[tuple]:
    db.session.expire_all()
    return [(line.gnum, line.item_no, line.gcode, line.gname, line.gmodel, line.qty, line.unit,
             line.qty1, line.unit1, line.qty2, line.unit2, line.price, line.total_price)
            for line in db.session.scalars(
                select(CustomsDeclarationLine).join(CustomsDeclaration)
                .where(CustomsDeclaration.parcel_id == parcel.id)
                .order_by(CustomsDeclarationLine.gnum))]


def test_9610_order_declared_summarised_and_gated(
        client, dummy_admin, create_user, create_category, create_product, create_sku,
        create_bin, receive_stock, packing_bin, shipping_setup, create_order, runner):
    classifier = create_user("classifier", roles=("purchasing",))
    packer = create_user("packer", roles=("warehouse",))
    box = shipping_setup["boxes"][1]
    # 1. Set-up: the company's customs codes (settings screen); exchange rates for the postal
    #    customs forms. Apparel declares under 6109100021 in pieces and kilograms (net
    #    weight); its T-shirts category names the goods. Phone cases: 3926909090, pieces sold,
    #    kilograms declared. The SKUs set nothing of their own.
    core_services.update_settings(COMPANY, actor=dummy_admin)
    for currency, rate in (("EUR", "1.1000"), ("XDR", "1.3750"), ("GBP", "1.2500")):
        core_services.set_exchange_rate(currency, date(2000, 1, 1), Decimal(rate), actor=None)
    apparel = create_category("APPAREL", "Apparel", hs_code="610910", origin_country="CN",
                              customs_description="Cotton T-shirt", cn_hs_code=TEE_HS,
                              cn_sale_unit="011", cn_unit1="011", cn_unit2="035")
    tees = create_category("TEES", "T-shirts", parent=apparel, cn_name="T恤衫",
                           cn_elements="针织|男式|棉100%|无品牌")
    cases_cat = create_category("CASES", "Phone cases", hs_code="392690", origin_country="CN",
                                customs_description="Plastic phone case", cn_hs_code=CASE_HS,
                                cn_name="手机保护壳", cn_elements="保护手机用|塑料制|无品牌",
                                cn_sale_unit="007", cn_unit1="035")
    tee_product = create_product("TEE", category=tees, name="Cotton T-shirt")
    case_product = create_product("CASE", category=cases_cat, name="Phone case")
    tee = create_sku("TS-COT-M", product=tee_product, weight_g=180, barcode="6900001234562")
    case = create_sku("PC-IP15", product=case_product, weight_g=40)
    shelf = create_bin("A-01", pick_sequence=10)
    receive_stock(tee, shelf, 10)
    receive_stock(case, shelf, 10)
    _token, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    headers = {"Authorization": f"Bearer {plaintext}"}
    effective = cn_customs.effective_cn_customs([tee.id, case.id])
    assert (effective[tee.id].hs_code, effective[tee.id].name) == (TEE_HS, "T恤衫")
    assert effective[tee.id].sources["hs_code"] == apparel.full_name
    assert effective[tee.id].sources["name"] == tees.full_name

    # 2. The classification review: both products' inherited values are proposals until a
    #    person confirms them; confirming is audited and empties the list.
    assert cn_customs.unreviewed_products([tee_product.id, case_product.id]) == {
        tee_product.id: "unconfirmed", case_product.id: "unconfirmed"}
    assert cn_customs.confirm_products([tee_product, case_product], actor=classifier) == 2
    db.session.commit()
    assert cn_customs.unreviewed_products([tee_product.id, case_product.id]) == {}

    # 3. The storefront posts the paid 9610 order (goods 213.00 + shipping 41.00 = 254.00).
    response = client.post("/api/v1/orders", headers=headers, json=order_payload("WEB-9610-1"))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["trade_mode"] == "9610"
    order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == "WEB-9610-1"))
    assert order.payment_amount == Decimal("254.00")

    # 4. It is allocated, picked, packed, labelled and handed over: the gate lets the batch
    #    close, and the order ships.
    assert allocate_orders(actor=packer).allocated == ["WEB-9610-1"]
    db.session.commit()
    parcel, batch = ship_to_batch(order, actor=packer, box=box)
    dispatch.close_batch(batch, actor=packer)
    db.session.commit()
    db.session.refresh(order)
    assert order.state == OrderState.shipped
    assert parcel.state == ParcelState.dispatched

    # 5. The ledger holds the parcel's declaration as issued: one per parcel, lines numbered
    #    from 1, goods 213.00, the freight and the payment of the order, this month in Beijing.
    declaration = db.session.scalars(select(CustomsDeclaration)
                                     .where(CustomsDeclaration.parcel_id == parcel.id)).one()
    period = china_time(batch.closed_at).strftime("%Y-%m")
    assert (declaration.order_no, declaration.cop_no, declaration.logistics_no) == (
        order.number, parcel.number, parcel.tracking_number)
    assert (declaration.batch_id, declaration.period, declaration.trade_mode) == (
        batch.id, period, "9610")
    assert (declaration.ebc_code, declaration.port_code, declaration.logistics_code) == (
        "4403960S01", "5317", "4403980L02")
    assert (declaration.country, declaration.currency) == ("304", "300")
    assert (declaration.goods_value, declaration.order_freight, declaration.payment_amount) == (
        Decimal("213.00"), Decimal("41.00"), Decimal("254.00"))
    assert (declaration.pay_code, declaration.pay_no) == ("4403960P04", "PAY-WEB-9610-1")
    declared = declared_lines(parcel)
    assert declared == [
        (1, "TS-COT-M", TEE_HS, "T恤衫", "针织|男式|棉100%|无品牌", Decimal(2), "011",
         Decimal(2), "011", Decimal("0.36"), "035", Decimal("89.00"), Decimal("178.00")),
        (2, "PC-IP15", CASE_HS, "手机保护壳", "保护手机用|塑料制|无品牌", Decimal(1), "007",
         Decimal("0.04"), "035", None, None, Decimal("35.00"), Decimal("35.00"))]

    # 6. The batch's XML messages are well formed and match the order: the order (303) and
    #    the list (603) total the lines, the receipt (403) charges goods + freight = the amount
    #    paid, the waybill (505) and the list carry the parcel's tracking number.
    xml = messages(batch)
    head = xml["303"].find("ceb:Order/ceb:OrderHead", NS)
    assert text(head, "ceb:orderNo") == order.number
    assert text(head, "ceb:goodsValue") == "213.00"
    assert text(head, "ceb:freight") == "41.00"
    assert text(head, "ceb:currency") == "300"
    order_lines = xml["303"].findall("ceb:Order/ceb:OrderList", NS)
    assert [text(line, "ceb:itemNo") for line in order_lines] == ["TS-COT-M", "PC-IP15"]
    assert sum(Decimal(text(line, "ceb:totalPrice")) for line in order_lines) == Decimal("213.00")
    receipt = xml["403"].find("ceb:Receipts", NS)
    assert text(receipt, "ceb:orderNo") == order.number
    assert text(receipt, "ceb:payNo") == order.payment_transaction
    charge = Decimal(text(receipt, "ceb:charge"))
    assert charge == Decimal(text(head, "ceb:goodsValue")) + Decimal(text(head, "ceb:freight"))
    assert charge == order.payment_amount
    waybill = xml["505"].find("ceb:Logistics", NS)
    assert text(waybill, "ceb:logisticsNo") == parcel.tracking_number
    assert text(waybill, "ceb:freight") == "41.00"
    inventory = xml["603"].find("ceb:Inventory", NS)
    list_head = inventory.find("ceb:InventoryHead", NS)
    assert [child.tag.split("}")[1] for child in list_head][:6] == [
        "guid", "appType", "appTime", "appStatus", "customsCode", "ebpCode"]
    assert (text(list_head, "ceb:orderNo"), text(list_head, "ceb:copNo"),
            text(list_head, "ceb:logisticsNo")) == (order.number, parcel.number,
                                                    parcel.tracking_number)
    assert (text(list_head, "ceb:tradeMode"), text(list_head, "ceb:country"),
            text(list_head, "ceb:portCode")) == ("9610", "304", "5317")
    list_lines = inventory.findall("ceb:InventoryList", NS)
    assert [text(line, "ceb:gcode") for line in list_lines] == [TEE_HS, CASE_HS]
    assert sum(Decimal(text(line, "ceb:totalPrice")) for line in list_lines) == Decimal("213.00")
    for root in xml.values():
        assert text(root, "ceb:BaseTransfer/ceb:copCode") == "4403980B03"

    # 7. The month's summary includes both list lines, each traced back to the parcel.
    summary = {line.gcode: line for line in monthly_summary(period)}
    assert set(summary) == {TEE_HS, CASE_HS}
    tee_line = summary[TEE_HS]
    assert (tee_line.qty1, tee_line.qty2, tee_line.total_price, tee_line.parcels,
            tee_line.lines) == (Decimal(2), Decimal("0.36"), Decimal("178.00"), 1, 1)
    assert (tee_line.country, tee_line.currency, tee_line.port_code, tee_line.trade_mode) == (
        "304", "300", "5317", "9610")
    for line in summary.values():
        [trace] = summary_trace(period, line.key)
        assert (trace.parcel_number, trace.tracking_number, trace.order_no) == (
            parcel.number, parcel.tracking_number, order.number)

    # 8. check-customs: every dispatched 9610 parcel has its one declaration, the month adds up.
    result = check_customs()
    assert result.ok, result.problems
    assert (result.declarations, result.lines) == (1, 2)
    cli = runner.invoke(args=["check-customs"])
    assert cli.exit_code == 0, cli.output

    # 9. The catalog changes: T-shirts are renamed 针织T恤 and apparel moves to 6109909090.
    #    New declarations would use them; the declared lines, the XML and the summary stay as
    #    issued, and the review asks for the T-shirt to be confirmed again.
    catalog_services.update_category(tees, name="T-shirts", cn_name="针织T恤", actor=classifier)
    catalog_services.update_category(apparel, name="Apparel", cn_hs_code="6109909090",
                                     actor=classifier)
    db.session.commit()
    now = cn_customs.effective_cn_customs([tee.id])[tee.id]
    assert (now.hs_code, now.name) == ("6109909090", "针织T恤")
    assert declared_lines(parcel) == declared
    assert [text(line, "ceb:gcode") for line in
            messages(batch)["603"].findall("ceb:Inventory/ceb:InventoryList", NS)] == [
        TEE_HS, CASE_HS]
    assert {line.gcode for line in monthly_summary(period)} == {TEE_HS, CASE_HS}
    assert cn_customs.unreviewed_products([tee_product.id, case_product.id]) == {
        tee_product.id: "changed"}
    assert check_customs().ok
    cn_customs.confirm_products([tee_product], actor=classifier)
    db.session.commit()

    # 10. A second 9610 order without its payment transaction: the API refuses it by name. One
    #     that arrived before intake required it (made directly here) is packed and labelled,
    #     but its batch does not close: the gate names the parcel, the order and the field,
    #     and nothing is dispatched or declared.
    partial = order_payload("WEB-9610-2")
    del partial["payment"]["transaction"]
    refused = client.post("/api/v1/orders", headers=headers, json=partial)
    assert refused.status_code == 422
    assert list(refused.get_json()["errors"]) == ["payment.transaction"]
    second = create_order([(tee, 1, "89.00")], number="WEB-9610-2", trade_mode="9610",
                          shipping_charge=Decimal("41.00"), shipping_service="POST-REG",
                          payment_provider="PayPal", payment_transaction=None,
                          payment_amount=Decimal("130.00"), payment_currency="EUR",
                          paid_at=datetime(2026, 11, 21, 9, 0, tzinfo=UTC))
    db.session.commit()
    assert allocate_orders(actor=packer).allocated == ["WEB-9610-2"]
    db.session.commit()
    second_parcel, second_batch = ship_to_batch(second, actor=packer, box=box)
    with pytest.raises(ShippingError) as refused_close:
        dispatch.close_batch(second_batch, actor=packer)
    db.session.rollback()
    message = str(refused_close.value)
    assert f"Parcel {second_parcel.number}, order WEB-9610-2: payment data missing: " \
           "payment_transaction" in message, message
    assert second_batch.number in message
    db.session.expire_all()
    assert second_batch.state == BatchState.open
    assert second_parcel.state == ParcelState.labelled
    assert db.session.scalar(select(func.count()).select_from(CustomsDeclaration)) == 1
    assert check_customs().ok

    # The stock ledger balances too.
    db.session.flush()
    assert ledger_problems(db.session) == []



def test_9610_orders_are_neither_merged_nor_split(
        client, dummy_admin, create_user, create_category, create_product, create_sku,
        create_bin, receive_stock, shipping_setup):
    # Two paid 9610 orders of one buyer to one address. Merged, their goods would go in one
    # parcel declared under the first order (goods of both against the first one's payment,
    # the second's payment never declared); split, each part would carry the whole payment.
    # So they are not offered for merging, and merging or splitting them is refused by name.
    agent = create_user("agent", roles=("customer_service",))
    core_services.update_settings(COMPANY, actor=dummy_admin)
    apparel = create_category("APPAREL", "Apparel", cn_hs_code=TEE_HS, cn_name="T恤衫",
                              cn_elements="针织|男式|棉100%|无品牌", cn_sale_unit="011",
                              cn_unit1="011", cn_unit2="035")
    cases_cat = create_category("CASES", "Phone cases", cn_hs_code=CASE_HS, cn_name="手机保护壳",
                                cn_elements="保护手机用|塑料制|无品牌", cn_sale_unit="007",
                                cn_unit1="035")
    tee = create_sku("TS-COT-M", product=create_product("TEE", category=apparel))
    case = create_sku("PC-IP15", product=create_product("CASE", category=cases_cat),
                      weight_g=40)
    shelf = create_bin("A-01", pick_sequence=10)
    receive_stock(tee, shelf, 10)
    receive_stock(case, shelf, 10)
    _token, plaintext = order_services.create_api_token("Web store", actor=dummy_admin)
    db.session.commit()
    for number in ("WEB-9610-A", "WEB-9610-B"):
        response = client.post("/api/v1/orders", json=order_payload(number),
                               headers={"Authorization": f"Bearer {plaintext}"})
        assert response.status_code == 201, response.get_json()
    assert allocate_orders(actor=agent).allocated == ["WEB-9610-A", "WEB-9610-B"]
    db.session.commit()
    first, second = db.session.scalars(select(CustomerOrder).order_by(CustomerOrder.id)).all()

    assert order_services.merge_candidates() == []
    with pytest.raises(order_services.MergeError) as merge:
        order_services.merge_orders(first, [second], actor=agent)
    assert "Order WEB-9610-A is exported under 9610" in str(merge.value)
    db.session.rollback()
    with pytest.raises(ValidationError) as split:
        split_order(first, {first.lines[1].id: 1}, actor=agent)
    assert "Order WEB-9610-A is exported under 9610" in str(split.value)
    db.session.rollback()
    db.session.expire_all()
    assert (first.merged_into_id, second.merged_into_id) == (None, None)
    assert [len(order.lines) for order in (first, second)] == [2, 2]
    assert db.session.scalar(select(func.count()).select_from(CustomerOrder)) == 2
