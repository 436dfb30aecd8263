"""The 9610 export of a closed batch: XML messages (CEB303/403/505/603) and the workbook.

The expected element orders are the reference's worked example (china-9610.md §8, which
validates against the 202205 XSD).
"""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from xml.etree import ElementTree as ET

import openpyxl
import pytest
from sqlalchemy import select

from erp.customs import xml as customs_xml
from erp.customs.models import CustomsDeclaration
from erp.customs.workbook import SHEETS, batch_workbook
from erp.extensions import db

NS = "{http://www.chinaport.gov.cn/ceb}"
COMMON = ["guid", "appType", "appTime", "appStatus"]
ORDER_HEAD = COMMON + ["orderType", "orderNo", "ebpCode", "ebpName", "ebcCode", "ebcName",
                       "goodsValue", "freight", "currency"]
ORDER_LIST = ["gnum", "itemNo", "itemName", "barCode", "unit", "currency", "qty", "price",
              "totalPrice"]
RECEIPTS = COMMON + ["ebpCode", "ebpName", "ebcCode", "ebcName", "orderNo", "payCode",
                     "payName", "payNo", "charge", "currency", "accountingDate"]
LOGISTICS = COMMON + ["logisticsCode", "logisticsName", "logisticsNo", "freight", "insuredFee",
                      "currency", "grossWeight", "packNo", "goodsInfo", "ebcCode", "ebcName"]
INVENTORY_HEAD = COMMON + [
    "customsCode", "ebpCode", "ebpName", "orderNo", "logisticsCode", "logisticsName",
    "logisticsNo", "copNo", "ieFlag", "portCode", "ieDate", "statisticsFlag", "agentCode",
    "agentName", "ebcCode", "ebcName", "ownerCode", "ownerName", "tradeMode", "trafMode",
    "country", "POD", "freight", "fCurrency", "fFlag", "insuredFee", "iCurrency", "iFlag",
    "wrapType", "packNo", "grossWeight", "netWeight"]
INVENTORY_LIST_FULL = ["gnum", "itemNo", "itemName", "gcode", "gname", "gmodel", "barCode",
                       "country", "currency", "qty", "qty1", "qty2", "unit", "unit1", "unit2",
                       "price", "totalPrice"]
TRANSFER = ["copCode", "copName", "dxpMode", "dxpId"]
GUID = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$")


def tags(element) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


def text(element, tag) -> str:
    return element.find(NS + tag).text


@pytest.fixture
def closed(world):
    """A closed batch of two §8 parcels; returns the batch and its messages parsed."""
    batch = world.batch(world.parcel(), world.parcel())
    world.close(batch)
    db.session.commit()
    data = customs_xml.batch_zip(batch)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {name: archive.read(name) for name in sorted(archive.namelist())}
    return batch, files


def _root(files, code):
    [name] = [n for n in files if n.startswith(f"CEB{code}-")]
    raw = files[name]
    assert raw.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(raw)   # well formed
    assert root.tag == f"{NS}CEB{code}Message"
    assert root.get("version") == "1.0"
    assert GUID.match(root.get("guid"))
    assert tags(root)[-1] == "BaseTransfer"
    transfer = root.find(NS + "BaseTransfer")
    assert tags(transfer) == TRANSFER
    assert text(transfer, "copCode") == "4403980B03"
    assert text(transfer, "dxpMode") == "DXP"
    return root


def test_zip_holds_one_file_per_message(closed):
    batch, files = closed
    assert list(files) == [f"CEB{code}-{batch.number}-001.xml"
                           for code in ("303", "403", "505", "603")]


def test_ceb303_orders_element_order_and_totals(closed):
    _batch, files = closed
    root = _root(files, "303")
    orders = root.findall(NS + "Order")
    assert len(orders) == 2
    for order in orders:
        head = order.find(NS + "OrderHead")
        assert tags(order) == ["OrderHead", "OrderList", "OrderList"]
        assert tags(head) == ORDER_HEAD
        assert GUID.match(text(head, "guid"))
        assert len(text(head, "guid")) == 36
        assert text(head, "orderType") == "E"
        assert text(head, "currency") == "142"
        assert re.fullmatch(r"\d{14}", text(head, "appTime"))
        lines = order.findall(NS + "OrderList")
        for line in lines:
            assert tags(line) == ORDER_LIST
            assert Decimal(text(line, "qty")) * Decimal(text(line, "price")) == \
                Decimal(text(line, "totalPrice"))
        assert sum(Decimal(text(line, "totalPrice")) for line in lines) == \
            Decimal(text(head, "goodsValue")) == Decimal("159.00")
        assert text(head, "freight") == "41.00"
        assert [text(line, "barCode") for line in lines] == ["无", "6900001234562"]


def test_ceb403_payments_match_orders(closed):
    _batch, files = closed
    orders = {text(o.find(NS + "OrderHead"), "orderNo"): o.find(NS + "OrderHead")
              for o in _root(files, "303").findall(NS + "Order")}
    receipts = _root(files, "403").findall(NS + "Receipts")
    assert len(receipts) == 2
    for receipt in receipts:
        assert tags(receipt) == RECEIPTS
        head = orders[text(receipt, "orderNo")]
        for key in ("ebpCode", "ebcCode", "currency"):
            assert text(receipt, key) == text(head, key)
        assert Decimal(text(receipt, "charge")) == \
            Decimal(text(head, "goodsValue")) + Decimal(text(head, "freight"))
        assert text(receipt, "payCode") == "4403960P04"
        assert text(receipt, "accountingDate") == "20260601102501"


def test_ceb505_and_ceb603_match_per_parcel(closed):
    _batch, files = closed
    waybills = {text(w, "logisticsNo"): w for w in _root(files, "505").findall(NS + "Logistics")}
    inventories = _root(files, "603").findall(NS + "Inventory")
    assert len(waybills) == len(inventories) == 2
    for waybill in waybills.values():
        assert tags(waybill) == LOGISTICS
        assert len(text(waybill, "goodsInfo")) <= 200
    for inventory in inventories:
        head = inventory.find(NS + "InventoryHead")
        assert tags(head) == INVENTORY_HEAD
        assert (text(head, "ieFlag"), text(head, "tradeMode"), text(head, "trafMode"),
                text(head, "statisticsFlag"), text(head, "wrapType")) == ("E", "9610", "5", "B",
                                                                          "2")
        assert (text(head, "customsCode"), text(head, "portCode"), text(head, "country")) == (
            "5317", "5317", "304")
        assert re.fullmatch(r"\d{8}", text(head, "ieDate"))
        waybill = waybills[text(head, "logisticsNo")]
        for head_key, bill_key in (("logisticsCode", "logisticsCode"), ("freight", "freight"),
                                   ("insuredFee", "insuredFee"), ("fCurrency", "currency"),
                                   ("grossWeight", "grossWeight"), ("packNo", "packNo")):
            assert text(head, head_key) == text(waybill, bill_key)
        assert Decimal(text(head, "netWeight")) <= Decimal(text(head, "grossWeight"))
        case, tee = inventory.findall(NS + "InventoryList")
        assert tags(case) == [t for t in INVENTORY_LIST_FULL if t not in ("qty2", "unit2")]
        assert tags(tee) == INVENTORY_LIST_FULL
        assert (text(case, "gnum"), text(tee, "gnum")) == ("1", "2")
        assert (text(case, "qty1"), text(case, "unit1")) == ("0.08", "035")
        assert (text(tee, "qty2"), text(tee, "unit2")) == ("0.18", "035")
        kg = sum(Decimal(text(line, "qty1")) for line in (case, tee)
                 if text(line, "unit1") == "035")
        assert kg <= Decimal(text(head, "netWeight"))
        for line in (case, tee):
            assert len(text(line, "gcode")) == 10
            assert len(text(line, "itemNo")) <= 20
            for key in ("country", "currency", "unit", "unit1"):
                assert re.fullmatch(r"\d{3}", text(line, key))


def test_603_lines_pair_with_303_lines(closed):
    _batch, files = closed
    orders = {text(o.find(NS + "OrderHead"), "orderNo"): o
              for o in _root(files, "303").findall(NS + "Order")}
    for inventory in _root(files, "603").findall(NS + "Inventory"):
        head = inventory.find(NS + "InventoryHead")
        order = orders[text(head, "orderNo")]
        order_lines = {text(line, "gnum"): line for line in order.findall(NS + "OrderList")}
        for line in inventory.findall(NS + "InventoryList"):
            other = order_lines[text(line, "gnum")]
            for key in ("itemNo", "qty", "unit", "price", "totalPrice"):
                assert text(line, key) == text(other, key)


def test_more_entities_than_allowed_are_split_into_files(closed, monkeypatch):
    batch, _files = closed
    monkeypatch.setattr(customs_xml, "MAX_ENTITIES", 1)   # 100 in the specification
    messages = customs_xml.build_messages(customs_xml.load(batch.id))
    assert {code: len(files) for code, files in messages.items()} == {
        "303": 2, "403": 2, "505": 2, "603": 2}
    assert len(ET.fromstring(messages["603"][0]).findall(NS + "Inventory")) == 1


def test_invalid_value_is_refused_before_writing(world):
    batch = world.batch(world.parcel())
    world.close(batch)
    decl = db.session.scalars(select(CustomsDeclaration)).one()
    assert decl.lines
    db.session.expunge(decl)   # the ledger is never changed: tamper with a detached copy
    decl.port_code = "53"
    with pytest.raises(customs_xml.ExportInvalid, match="portCode '53' must be exactly 4"):
        customs_xml.build_messages([decl])


def test_workbook_sheets_and_rows(closed):
    batch, _files = closed
    book = openpyxl.load_workbook(io.BytesIO(batch_workbook(batch)))
    assert book.sheetnames == list(SHEETS)
    assert book["Orders"].max_row == 1 + 4
    assert book["Payments"].max_row == 1 + 2
    assert book["Waybills"].max_row == 1 + 2
    assert book["Inventory heads"].max_row == 1 + 2
    assert book["Inventory lines"].max_row == 1 + 4
    header = [c.value for c in book["Inventory lines"][1]]
    row = dict(zip(header, [c.value for c in book["Inventory lines"][2]], strict=True))
    assert row["gcode"] == "3926909090"
    assert row["unit1"] == "035"
    assert Decimal(str(row["totalPrice"])) == Decimal("70")


def test_downloads_need_customs_view(closed, client, login_as):
    batch, _files = closed
    login_as("customer_service")
    assert client.get(f"/customs/batches/{batch.id}/messages.zip").status_code == 403
    client.post("/logout")
    login_as("warehouse")
    response = client.get(f"/customs/batches/{batch.id}/messages.zip")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    response = client.get(f"/customs/batches/{batch.id}/export.xlsx")
    assert response.status_code == 200


def test_batch_without_declarations_has_no_export(world, client, login_as):
    batch = world.batch(world.parcel(trade_mode=None))
    world.close(batch)
    db.session.commit()
    login_as("manager")
    assert client.get(f"/customs/batches/{batch.id}/messages.zip").status_code == 404
