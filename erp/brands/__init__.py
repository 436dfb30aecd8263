"""Brands: private and third-party brands, trademarks and purchasing specifications.

The specifications are versioned (draft, approved, retired). Knows core only; knows nothing of
the catalog, the warehouse or purchasing.
"""
