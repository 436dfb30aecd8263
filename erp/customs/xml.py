"""The 9610 messages of a closed batch, built from the customs ledger (text, escaped).

Every message is ``ceb:CEBnnnMessage`` in namespace ``http://www.chinaport.gov.cn/ceb``, with
``guid`` (an upper-case UUID, 36 characters) and ``version="1.0"``, holding 1-100 entities then
``ceb:BaseTransfer`` (copCode, copName, dxpMode DXP, dxpId). A batch with more than 100
entities gets several files. ``ds:Signature`` is left to the declarant's signing tool. The
element order follows the 202205 XSD (reference §3-§5, §8):

- **CEB303** ``Order``: ``OrderHead`` (guid, appType, appTime, appStatus, orderType, orderNo,
  ebpCode, ebpName, ebcCode, ebcName, goodsValue, freight, currency) then ``OrderList`` per line
  (gnum, itemNo, itemName, barCode, unit, currency, qty, price, totalPrice).
- **CEB403** ``Receipts``: guid, appType, appTime, appStatus, ebpCode, ebpName, ebcCode,
  ebcName, orderNo, payCode (when known), payName, payNo, charge, currency, accountingDate.
- **CEB505** ``Logistics``: guid, appType, appTime, appStatus, logisticsCode, logisticsName,
  logisticsNo, freight, insuredFee, currency, grossWeight, packNo, goodsInfo, ebcCode, ebcName.
- **CEB603** ``Inventory``: ``InventoryHead`` (guid, appType, appTime, appStatus, customsCode,
  ebpCode, ebpName, orderNo, logisticsCode, logisticsName, logisticsNo, copNo, ieFlag,
  portCode, ieDate, statisticsFlag, agentCode, agentName, ebcCode, ebcName, ownerCode,
  ownerName, tradeMode, trafMode, country, POD, freight, fCurrency, fFlag, insuredFee,
  iCurrency, iFlag, wrapType, packNo, grossWeight, netWeight) then ``InventoryList`` per line
  (gnum, itemNo, itemName, gcode, gname, gmodel, barCode, country, currency, qty, qty1, qty2,
  unit, unit1, unit2, price, totalPrice).

One order (303) and receipt (403) per order, with all lines of its parcels renumbered from 1;
one waybill (505) and declaration list (603) per parcel, its lines numbered from 1. Values are
checked against the XSD's lengths and codes before anything is written
(:class:`ExportInvalid`).
"""

from __future__ import annotations

import io
import re
import uuid
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from types import SimpleNamespace
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import select

from erp.core import settings as settings_mod
from erp.customs.collect import china_time
from erp.customs.models import CustomsDeclaration, CustomsDeclarationLine
from erp.extensions import db

NS = "http://www.chinaport.gov.cn/ceb"
MAX_ENTITIES = 100
#: goods lines per order or declaration list
MAX_LINES = 100
APP_TYPE_NEW = "1"
APP_STATUS_DECLARE = "2"


class ExportInvalid(ValueError):
    """A value does not fit the message specification (names message, entity and field)."""


def guid() -> str:
    """Return a new upper-case UUID of 36 characters."""
    return str(uuid.uuid4()).upper()


def number(value: Decimal | int) -> str:
    """Return a decimal as the messages write it: plain, at most 5 decimals, no exponent."""
    value = Decimal(value).quantize(Decimal("0.00001"))
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def money(value: Decimal) -> str:
    """Return an amount with 2 decimals."""
    return f"{Decimal(value).quantize(Decimal('0.01')):f}"


#: (maximum length, exact length or None, pattern or None) of the checked fields
_LIMITS: dict[str, tuple[int, bool, str | None]] = {
    "orderNo": (60, False, None), "ebpCode": (18, False, None), "ebcCode": (18, False, None),
    "ebpName": (100, False, None), "ebcName": (100, False, None),
    "agentCode": (18, False, None), "agentName": (100, False, None),
    "ownerCode": (18, False, None), "ownerName": (100, False, None),
    "logisticsCode": (18, False, None), "logisticsName": (100, False, None),
    "logisticsNo": (32, False, None), "copNo": (30, False, None),
    "payCode": (18, False, None), "payName": (100, False, None), "payNo": (60, False, None),
    "itemNo": (20, False, None), "itemName": (250, False, None), "gname": (250, False, None),
    "gmodel": (250, False, None), "barCode": (50, False, None), "goodsInfo": (200, False, None),
    "gcode": (10, True, r"\d{10}"), "currency": (3, True, r"\d{3}"),
    "fCurrency": (3, True, r"\d{3}"), "iCurrency": (3, True, r"\d{3}"),
    "country": (3, True, r"\d{3}"), "unit": (3, True, r"\d{3}"), "unit1": (3, True, r"\d{3}"),
    "unit2": (3, True, r"\d{3}"), "customsCode": (4, True, r"\d{4}"),
    "portCode": (4, True, r"\d{4}"), "tradeMode": (4, True, r"9610"),
    "trafMode": (1, True, None), "wrapType": (1, True, None), "statisticsFlag": (1, True, "[AB]"),
    "ieDate": (8, True, r"\d{8}"), "appTime": (14, True, r"\d{14}"),
    "accountingDate": (14, True, r"\d{14}"), "guid": (36, True, r"[0-9A-F-]{36}"),
    "copCode": (18, False, None), "copName": (100, False, None), "dxpId": (30, False, None),
}
_NUMBER = re.compile(r"^\d{1,14}(\.\d{1,5})?$")
_NUMERIC = {"goodsValue", "freight", "charge", "insuredFee", "grossWeight", "netWeight", "qty",
            "qty1", "qty2", "price", "totalPrice", "packNo", "gnum"}


_PATTERNS = {tag: re.compile(limit[2]) for tag, limit in _LIMITS.items() if limit[2]}


def _check(message: str, ref: str, tag: str, text: str) -> None:
    if text == "":
        raise ExportInvalid(f"{message} {ref}: {tag} is empty")
    limit = _LIMITS.get(tag)
    if limit:
        size, exact, pattern = limit
        if len(text) > size or (exact and len(text) != size):
            raise ExportInvalid(f"{message} {ref}: {tag} {text!r} must be "
                                f"{'exactly' if exact else 'at most'} {size} characters")
        if pattern and not _PATTERNS[tag].fullmatch(text):
            raise ExportInvalid(f"{message} {ref}: {tag} {text!r} is not a valid code")
    elif tag in _NUMERIC and not _NUMBER.match(text):
        raise ExportInvalid(f"{message} {ref}: {tag} {text!r} is not a number (N19,5)")


#: elements already checked and written, by (tag, text): codes, names and amounts repeat
_CHECKED: dict[tuple[str, str], str] = {}
_CHECKED_MAX = 200_000


def _add(parts: list[str], message: str, ref: str,
         fields: Iterable[tuple[str, object]]) -> None:
    """Append ``<ceb:tag>text</ceb:tag>`` for each field given (None: left out), checked."""
    for tag, value in fields:
        if value is None:
            continue
        text = value if isinstance(value, str) else str(value)
        key = (tag, text)
        fragment = _CHECKED.get(key)
        if fragment is None:
            _check(message, ref, tag, text)
            fragment = f"<ceb:{tag}>{escape(text)}</ceb:{tag}>"
            if tag != "guid" and len(_CHECKED) < _CHECKED_MAX:
                _CHECKED[key] = fragment
        parts.append(fragment)


def _common(app_time: str) -> list[tuple[str, object]]:
    return [("guid", guid()), ("appType", APP_TYPE_NEW), ("appTime", app_time),
            ("appStatus", APP_STATUS_DECLARE)]


def _message(code: str, entities: list[str], transfer: Sequence[tuple[str, str]]) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             f'<ceb:CEB{code}Message guid={quoteattr(guid())} version="1.0" '
             f'xmlns:ceb={quoteattr(NS)}>', *entities, "<ceb:BaseTransfer>"]
    _add(parts, f"CEB{code}", "BaseTransfer", transfer)
    parts.append(f"</ceb:BaseTransfer></ceb:CEB{code}Message>")
    return "".join(parts).encode("utf-8")


class Declaration(SimpleNamespace):
    """A ledger declaration as plain values (its columns and ``lines``), read in two queries."""


def load(batch_id: int) -> list[Declaration]:
    """Return the batch's declarations with their lines, by order and parcel (plain values)."""
    heads = CustomsDeclaration.__table__
    lines = CustomsDeclarationLine.__table__
    lines_of: dict[int, list[SimpleNamespace]] = defaultdict(list)
    for row in db.session.execute(
            select(lines).join(heads, heads.c.id == lines.c.declaration_id)
            .where(heads.c.batch_id == batch_id)
            .order_by(lines.c.declaration_id, lines.c.gnum)).mappings():
        lines_of[row["declaration_id"]].append(SimpleNamespace(**row))
    return [Declaration(**row, lines=lines_of[row["id"]]) for row in db.session.execute(
        select(heads).where(heads.c.batch_id == batch_id)
        .order_by(heads.c.order_no, heads.c.cop_no)).mappings()]


def build_messages(declarations: Sequence[Declaration],
                   values: dict | None = None) -> dict[str, list[bytes]]:
    """Return ``{"303": [xml...], "403": [...], "505": [...], "603": [...]}``.

    :raises ExportInvalid: naming the message, the entity and the field that does not fit.
    """
    values = values if values is not None else settings_mod.all_values()
    names = {"ebpName": values["customs_ebp_name"], "ebcName": values["customs_ebc_name"],
             "agentName": values["customs_agent_name"],
             "ownerName": values["customs_owner_name"]}
    transfer = (("copCode", values["customs_cop_code"]), ("copName", values["customs_cop_name"]),
                ("dxpMode", "DXP"), ("dxpId", values["customs_dxp_id"]))
    by_order: dict[str, list[CustomsDeclaration]] = defaultdict(list)
    for decl in declarations:
        by_order[decl.order_no].append(decl)

    orders, receipts, waybills, inventories = [], [], [], []
    for order_no, decls in by_order.items():
        head = decls[0]
        app_time = china_time(head.issued_at).strftime("%Y%m%d%H%M%S")
        lines = [line for decl in decls for line in decl.lines]
        if len(lines) > MAX_LINES:
            raise ExportInvalid(f"CEB303 {order_no}: {len(lines)} lines, at most {MAX_LINES}")
        goods = sum((d.goods_value for d in decls), Decimal(0))
        freight = sum((d.order_freight for d in decls), Decimal(0))
        parts = ["<ceb:Order><ceb:OrderHead>"]
        _add(parts, "CEB303", order_no, [
            *_common(app_time), ("orderType", "E"), ("orderNo", order_no),
            ("ebpCode", head.ebp_code), ("ebpName", names["ebpName"]),
            ("ebcCode", head.ebc_code), ("ebcName", names["ebcName"]),
            ("goodsValue", money(goods)), ("freight", money(freight)),
            ("currency", head.currency)])
        parts.append("</ceb:OrderHead>")
        for gnum, line in enumerate(lines, start=1):
            parts.append("<ceb:OrderList>")
            _add(parts, "CEB303", f"{order_no} line {gnum}", [
                ("gnum", gnum), ("itemNo", line.item_no), ("itemName", line.item_name),
                ("barCode", line.bar_code), ("unit", line.unit), ("currency", line.currency),
                ("qty", number(line.qty)), ("price", money(line.price)),
                ("totalPrice", money(line.total_price))])
            parts.append("</ceb:OrderList>")
        parts.append("</ceb:Order>")
        orders.append("".join(parts))

        parts = ["<ceb:Receipts>"]
        _add(parts, "CEB403", order_no, [
            *_common(app_time), ("ebpCode", head.ebp_code), ("ebpName", names["ebpName"]),
            ("ebcCode", head.ebc_code), ("ebcName", names["ebcName"]), ("orderNo", order_no),
            ("payCode", head.pay_code), ("payName", head.pay_name), ("payNo", head.pay_no),
            ("charge", money(sum((d.payment_amount for d in decls), Decimal(0)))),
            ("currency", head.currency), ("accountingDate", head.accounting_date)])
        parts.append("</ceb:Receipts>")
        receipts.append("".join(parts))

        for decl in decls:
            parts = ["<ceb:Logistics>"]
            _add(parts, "CEB505", decl.cop_no, [
                *_common(app_time), ("logisticsCode", decl.logistics_code),
                ("logisticsName", decl.logistics_name), ("logisticsNo", decl.logistics_no),
                ("freight", money(decl.freight)), ("insuredFee", money(decl.insured_fee)),
                ("currency", decl.currency), ("grossWeight", number(decl.gross_weight)),
                ("packNo", decl.pack_no), ("goodsInfo", decl.goods_info),
                ("ebcCode", decl.ebc_code), ("ebcName", names["ebcName"])])
            parts.append("</ceb:Logistics>")
            waybills.append("".join(parts))

            parts = ["<ceb:Inventory><ceb:InventoryHead>"]
            _add(parts, "CEB603", decl.cop_no, [
                *_common(app_time), ("customsCode", decl.customs_code),
                ("ebpCode", decl.ebp_code), ("ebpName", names["ebpName"]),
                ("orderNo", decl.order_no), ("logisticsCode", decl.logistics_code),
                ("logisticsName", decl.logistics_name), ("logisticsNo", decl.logistics_no),
                ("copNo", decl.cop_no), ("ieFlag", "E"), ("portCode", decl.port_code),
                ("ieDate", decl.ie_date), ("statisticsFlag", values["customs_statistics_flag"]),
                ("agentCode", decl.agent_code), ("agentName", names["agentName"]),
                ("ebcCode", decl.ebc_code), ("ebcName", names["ebcName"]),
                ("ownerCode", decl.owner_code), ("ownerName", names["ownerName"]),
                ("tradeMode", decl.trade_mode), ("trafMode", decl.traf_mode),
                ("country", decl.country), ("POD", decl.country),
                ("freight", money(decl.freight)), ("fCurrency", decl.currency), ("fFlag", "3"),
                ("insuredFee", money(decl.insured_fee)), ("iCurrency", decl.currency),
                ("iFlag", "3"), ("wrapType", values["customs_wrap_type"]),
                ("packNo", decl.pack_no), ("grossWeight", number(decl.gross_weight)),
                ("netWeight", number(decl.net_weight))])
            parts.append("</ceb:InventoryHead>")
            for line in decl.lines:
                parts.append("<ceb:InventoryList>")
                _add(parts, "CEB603", f"{decl.cop_no} line {line.gnum}", [
                    ("gnum", line.gnum), ("itemNo", line.item_no),
                    ("itemName", line.item_name), ("gcode", line.gcode),
                    ("gname", line.gname), ("gmodel", line.gmodel),
                    ("barCode", line.bar_code), ("country", line.country),
                    ("currency", line.currency), ("qty", number(line.qty)),
                    ("qty1", number(line.qty1)),
                    ("qty2", number(line.qty2) if line.qty2 is not None else None),
                    ("unit", line.unit), ("unit1", line.unit1), ("unit2", line.unit2),
                    ("price", money(line.price)), ("totalPrice", money(line.total_price))])
                parts.append("</ceb:InventoryList>")
            parts.append("</ceb:Inventory>")
            inventories.append("".join(parts))

    def chunks(entities: list[str], code: str) -> list[bytes]:
        return [_message(code, entities[i:i + MAX_ENTITIES], transfer)
                for i in range(0, len(entities), MAX_ENTITIES)]

    return {"303": chunks(orders, "303"), "403": chunks(receipts, "403"),
            "505": chunks(waybills, "505"), "603": chunks(inventories, "603")}


def batch_zip(batch) -> bytes:
    """Return a ZIP of the batch's messages: ``CEB303-<batch>-001.xml`` and so on."""
    messages = build_messages(load(batch.id))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for code, files in messages.items():
            for index, data in enumerate(files, start=1):
                archive.writestr(f"CEB{code}-{batch.number}-{index:03d}.xml", data)
    return out.getvalue()
