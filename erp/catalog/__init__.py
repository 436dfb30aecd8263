"""Catalog: the category tree with customs defaults, products (styles) and SKUs (variants).

Knows core and brands (a product names its brand and specification version); knows nothing of
stock, purchasing or orders. The warehouse keeps a SKU's average cost through
``catalog.services.set_sku_cost``.
"""
