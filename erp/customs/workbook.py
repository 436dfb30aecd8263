"""The 9610 export of a closed batch as an Excel workbook, for declarants who import sheets.

Five sheets with the message field names as headers (so each column maps to one XML element):
"Orders" (CEB303, one row per order line, the head repeated), "Payments" (CEB403, one row per
order), "Waybills" (CEB505, one row per parcel), "Inventory heads" (CEB603 heads, one row per
parcel) and "Inventory lines" (CEB603 lines, with the parcel's copNo). Amounts and quantities
are numbers; codes and text are text, neutralised against formula injection
(:func:`erp.core.excel.neutralise`).

The file is written directly as SpreadsheetML (inline strings, one pass, no per-cell objects):
a 5,000-parcel batch has some 800,000 cells, which xlsxwriter takes several seconds to write on
this hardware against the issue's 5-second budget for the workbook and the XML together.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from decimal import Decimal
from xml.sax.saxutils import escape, quoteattr

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


_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/styles.xml" ContentType="application/'
    'vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '{sheets}</Types>')
_SHEET_TYPE = ('<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="application/'
               'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
         'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="1"><numFmt numFmtId="164" formatCode="@"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="2" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')
_TEXT, _MONEY, _BOLD = 1, 2, 3  # cellXfs indexes


class _Sheet:
    """One worksheet written as SpreadsheetML text: inline strings, numbers, a bold header."""

    def __init__(self, title: str, columns: tuple[str, ...]):
        self.title = title
        self.parts: list[str] = []
        self.cache: dict = {}
        self.count = 0
        self.row(columns, header=True)

    def row(self, cells, *, header: bool = False) -> None:
        # Cells carry no reference (``r`` is optional: positions follow the order, an empty
        # cell keeps its place), so a repeated value's XML is made once and reused.
        self.count += 1
        cache = self.cache
        out = ["<row>"]
        for value in cells:
            if value is None:
                out.append("<c/>")
                continue
            key = (value, header)
            fragment = cache.get(key)
            if fragment is None:
                fragment = cache[key] = self._cell(value, header)
            out.append(fragment)
        out.append("</row>")
        self.parts.append("".join(out))

    @staticmethod
    def _cell(value, header: bool) -> str:
        kind = type(value)
        if kind is tuple:  # (Decimal, places)
            number, places = value
            style = f' s="{_MONEY}"' if places == 2 else ""
            return f"<c{style}><v>{number:f}</v></c>"
        if kind is int:
            return f"<c><v>{value}</v></c>"
        text = neutralise(value if kind is str else str(value))
        if not text.isprintable():
            text = _ILLEGAL.sub("", text)
        return (f'<c t="inlineStr" s="{_BOLD if header else _TEXT}"><is><t xml:space="preserve">'
                f"{escape(text[:32_767])}</t></is></c>")

    def xml(self) -> str:
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" '
                'activePane="bottomLeft" state="frozen"/></sheetView></sheetViews>'
                f'<sheetData>{"".join(self.parts)}</sheetData></worksheet>')


def _package(sheets: list[_Sheet]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", _CONTENT_TYPES.format(sheets="".join(
            _SHEET_TYPE.format(n=n) for n in range(1, len(sheets) + 1))))
        archive.writestr("_rels/.rels", _RELS)
        archive.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets>' + "".join(
                f'<sheet name={quoteattr(sheet.title)} sheetId="{n}" r:id="rId{n}"/>'
                for n, sheet in enumerate(sheets, start=1)) + '</sheets></workbook>'))
        archive.writestr("xl/_rels/workbook.xml.rels", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            + "".join(f'<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/'
                      f'officeDocument/2006/relationships/worksheet" '
                      f'Target="worksheets/sheet{n}.xml"/>' for n in range(1, len(sheets) + 1))
            + f'<Relationship Id="rId{len(sheets) + 1}" Type="http://schemas.openxmlformats.org/'
              'officeDocument/2006/relationships/styles" Target="styles.xml"/>'
            '</Relationships>'))
        archive.writestr("xl/styles.xml", _STYLES)
        for n, sheet in enumerate(sheets, start=1):
            archive.writestr(f"xl/worksheets/sheet{n}.xml", sheet.xml())
    return out.getvalue()


def batch_workbook(batch) -> bytes:
    """Return the batch's 9610 export as .xlsx bytes (see the module docstring)."""
    values = settings_mod.all_values()
    names = {"ebp": values["customs_ebp_name"], "ebc": values["customs_ebc_name"],
             "agent": values["customs_agent_name"], "owner": values["customs_owner_name"]}
    declarations = load(batch.id)
    sheets = {title: _Sheet(title, columns) for title, columns in zip(
        SHEETS, (ORDER_COLUMNS, PAYMENT_COLUMNS, WAYBILL_COLUMNS, HEAD_COLUMNS, LINE_COLUMNS),
        strict=True)}

    def row(title: str, cells: list) -> None:
        sheets[title].row(cells)

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
    return _package(list(sheets.values()))
