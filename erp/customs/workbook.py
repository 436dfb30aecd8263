"""The 9610 export of a closed batch as an Excel workbook, for declarants who import sheets.

Five sheets with the message field names as headers (so each column maps to one XML element):
"Orders" (CEB303, one row per order line, the head repeated), "Payments" (CEB403, one row per
order), "Waybills" (CEB505, one row per parcel), "Inventory heads" (CEB603 heads, one row per
parcel) and "Inventory lines" (CEB603 lines, with the parcel's copNo). Amounts and quantities
are numbers; codes and text are text, neutralised against formula injection.
"""

from __future__ import annotations

import io
from collections import defaultdict
from decimal import Decimal

import xlsxwriter

from erp.core import settings as settings_mod
from erp.core.excel import neutralise
from erp.customs.xml import load

ORDER_COLUMNS = ("orderNo", "orderType", "ebpCode", "ebpName", "ebcCode", "ebcName",
                 "goodsValue", "freight", "currency", "gnum", "itemNo", "itemName", "barCode",
                 "unit", "qty", "price", "totalPrice")
PAYMENT_COLUMNS = ("orderNo", "ebpCode", "ebpName", "ebcCode", "ebcName", "payCode", "payName",
                   "payNo", "charge", "currency", "accountingDate")
WAYBILL_COLUMNS = ("logisticsCode", "logisticsName", "logisticsNo", "freight", "insuredFee",
                   "currency", "grossWeight", "packNo", "goodsInfo", "ebcCode", "ebcName")
HEAD_COLUMNS = ("copNo", "orderNo", "customsCode", "ebpCode", "ebpName", "logisticsCode",
                "logisticsName", "logisticsNo", "ieFlag", "portCode", "ieDate",
                "statisticsFlag", "agentCode", "agentName", "ebcCode", "ebcName", "ownerCode",
                "ownerName", "tradeMode", "trafMode", "country", "POD", "freight", "fCurrency",
                "fFlag", "insuredFee", "iCurrency", "iFlag", "wrapType", "packNo",
                "grossWeight", "netWeight")
LINE_COLUMNS = ("copNo", "orderNo", "gnum", "itemNo", "itemName", "gcode", "gname", "gmodel",
                "barCode", "country", "currency", "qty", "unit", "qty1", "unit1", "qty2",
                "unit2", "price", "totalPrice")
SHEETS = ("Orders", "Payments", "Waybills", "Inventory heads", "Inventory lines")


def batch_workbook(batch) -> bytes:
    """Return the batch's 9610 export as .xlsx bytes (see the module docstring)."""
    values = settings_mod.all_values()
    names = {"ebp": values["customs_ebp_name"], "ebc": values["customs_ebc_name"],
             "agent": values["customs_agent_name"], "owner": values["customs_owner_name"]}
    declarations = load(batch.id)
    out = io.BytesIO()
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": True})
    header = workbook.add_format({"bold": True, "bottom": 1, "bg_color": "#EEEEEE"})
    text_format = workbook.add_format({"num_format": "@"})
    formats = {2: workbook.add_format({"num_format": "0.00"}),
               5: workbook.add_format({"num_format": "0.#####"})}
    sheets = {}
    for title, columns in zip(SHEETS, (ORDER_COLUMNS, PAYMENT_COLUMNS, WAYBILL_COLUMNS,
                                       HEAD_COLUMNS, LINE_COLUMNS), strict=True):
        sheet = workbook.add_worksheet(title)
        for col, name in enumerate(columns):
            sheet.write_string(0, col, name, header)
        sheet.freeze_panes(1, 0)
        sheets[title] = [sheet, 1]

    def row(title: str, cells: list) -> None:
        sheet, index = sheets[title]
        for col, value in enumerate(cells):
            if value is None:
                continue
            if isinstance(value, tuple):  # (Decimal, places)
                sheet.write_number(index, col, float(value[0]), formats[value[1]])
            elif isinstance(value, int):
                sheet.write_number(index, col, value)
            else:
                sheet.write_string(index, col, neutralise(str(value)), text_format)
        sheets[title][1] = index + 1

    by_order = defaultdict(list)
    for decl in declarations:
        by_order[decl.order_no].append(decl)
    for order_no, decls in by_order.items():
        head = decls[0]
        goods = sum((d.goods_value for d in decls), Decimal(0))
        freight = sum((d.order_freight for d in decls), Decimal(0))
        gnum = 0
        for decl in decls:
            for line in decl.lines:
                gnum += 1
                row("Orders", [order_no, "E", head.ebp_code, names["ebp"], head.ebc_code,
                               names["ebc"], (goods, 2), (freight, 2), head.currency, gnum,
                               line.item_no, line.item_name, line.bar_code, line.unit,
                               (line.qty, 5), (line.price, 2), (line.total_price, 2)])
        row("Payments", [order_no, head.ebp_code, names["ebp"], head.ebc_code, names["ebc"],
                         head.pay_code, head.pay_name, head.pay_no,
                         (sum((d.payment_amount for d in decls), Decimal(0)), 2), head.currency,
                         head.accounting_date])
        for decl in decls:
            row("Waybills", [decl.logistics_code, decl.logistics_name, decl.logistics_no,
                             (decl.freight, 2), (decl.insured_fee, 2), decl.currency,
                             (decl.gross_weight, 5), decl.pack_no, decl.goods_info,
                             decl.ebc_code, names["ebc"]])
            row("Inventory heads", [
                decl.cop_no, decl.order_no, decl.customs_code, decl.ebp_code, names["ebp"],
                decl.logistics_code, decl.logistics_name, decl.logistics_no, "E",
                decl.port_code, decl.ie_date, values["customs_statistics_flag"],
                decl.agent_code, names["agent"], decl.ebc_code, names["ebc"], decl.owner_code,
                names["owner"], decl.trade_mode, decl.traf_mode, decl.country, decl.country,
                (decl.freight, 2), decl.currency, "3", (decl.insured_fee, 2), decl.currency,
                "3", values["customs_wrap_type"], decl.pack_no, (decl.gross_weight, 5),
                (decl.net_weight, 5)])
            for line in decl.lines:
                row("Inventory lines", [
                    decl.cop_no, decl.order_no, line.gnum, line.item_no, line.item_name,
                    line.gcode, line.gname, line.gmodel, line.bar_code, line.country,
                    line.currency, (line.qty, 5), line.unit, (line.qty1, 5), line.unit1,
                    (line.qty2, 5) if line.qty2 is not None else None, line.unit2,
                    (line.price, 2), (line.total_price, 2)])
    workbook.close()
    return out.getvalue()
