"""The order import screens: upload an order sheet (one row per line), check it, import it."""

from __future__ import annotations

from erp.core import importing
from erp.core.i18n import _l
from erp.orders.excel import ORDER_SPEC, import_orders
from erp.orders.views import bp

ORDER_IMPORT = importing.Importer(
    name="orders",
    title=_l("Import orders"),
    spec=ORDER_SPEC,
    run=import_orders,
    template_endpoint="orders.order_import_template",
    report_endpoint="orders.order_import_errors",
    back_endpoint="orders.order_list",
    intro=_l("One row per order line; the order's columns repeat on each of its rows. Orders "
             "whose numbers are already in the ERP are skipped. All or nothing."),
)

importing.add_import_routes(bp, ORDER_IMPORT, rule="/import", permission="orders.edit",
                            view_name="import_orders", doc="order sheet")
