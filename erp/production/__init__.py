"""Made-to-order production: the contract maker, production orders and their receipt.

Sits above procurement (the maker is a supplier) and orders (a production order is for one
order line); shipping, after-sales and reports may read it.
"""

# the production orders' hooks into orders (paid lines, cancels, the order page's panel)
from erp.production import order_hooks  # noqa: E402,F401
