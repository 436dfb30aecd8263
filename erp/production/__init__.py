"""Made-to-order production: the contract maker, production orders and their receipt.

Sits above procurement (the maker is a supplier) and orders (a production order is for one
order line); shipping, after-sales and reports may read it.
"""

# the production orders' hooks into orders (paid lines, cancels, the order page's panel)
# Registers the made-to-order line check in erp.orders.hooks.made_to_order_checks, so intake
# (API and Excel) checks sizes and measurements whenever production is imported.
import erp.production.services.products  # noqa: E402,F401

# Registers the reservation of a made-to-order line's inspected goods in
# erp.quality.hooks.lot_released (a lot accepted, or released as a concession).
import erp.production.services.receiving  # noqa: E402,F401
from erp.production import order_hooks  # noqa: E402,F401
