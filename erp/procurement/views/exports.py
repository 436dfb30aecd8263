"""Excel exports of the purchase order list: the orders, their lines, their receipts.

Each takes the PO list's query string (state, supplier, dates, overdue, search), so the
buttons on the list download what the list shows.
"""

from __future__ import annotations

from datetime import date

from flask import request

from erp.core.permissions import permission_required
from erp.core.viewhelpers import xlsx_response
from erp.procurement import exports
from erp.procurement.views import bp
from erp.procurement.views.purchase_orders import purchase_order_filters


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


@bp.get("/purchase-orders/export.xlsx")
@permission_required("procurement.view")
def export_purchase_orders():
    """Download the purchase orders the list shows (same filters) as an Excel workbook."""
    return xlsx_response(exports.export_purchase_orders(purchase_order_filters()),
                         "purchase-orders")


@bp.get("/purchase-orders/lines-export.xlsx")
@permission_required("procurement.view")
def export_purchase_order_lines():
    """Download the lines of the purchase orders the list shows as an Excel workbook."""
    return xlsx_response(exports.export_purchase_order_lines(purchase_order_filters()),
                         "purchase-order-lines")


@bp.get("/receipts/export.xlsx")
@permission_required("procurement.view")
def export_receipts():
    """Download the receipt lines of the listed orders (optionally received in a date range)."""
    filters = exports.ReceiptFilters(orders=purchase_order_filters(),
                                     received_from=_date_arg("received_from"),
                                     received_to=_date_arg("received_to"))
    return xlsx_response(exports.export_receipts(filters), "receipts")
