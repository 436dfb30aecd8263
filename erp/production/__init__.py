"""Made-to-order production: the contract maker, production orders and their receipt.

Sits above procurement (the maker is a supplier) and orders (a production order is for one
order line); shipping, after-sales and reports may read it.
"""

# Registers the made-to-order line check in erp.orders.hooks.made_to_order_checks, so intake
# (API and Excel) checks sizes and measurements whenever production is imported.
import erp.production.services.products  # noqa: E402,F401
