"""Brands: the retailer's private brands (and third-party ones it resells), their trademarks,
and the versioned purchasing specifications goods are made or bought to.

Knows core only; knows nothing of the catalog, the warehouse or purchasing.
"""
