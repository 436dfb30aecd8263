"""The catalog's sheets on the core Excel framework: SKUs (with their products) and categories.

Each sheet is declared once (:data:`SKU_SPEC`, :data:`CATEGORY_SPEC`) and gives the template,
the import (all or nothing, by code) and the export (with the list's filters), so an export
imported again changes nothing.

Modules: ``skus`` (one row per SKU with its product's columns), ``categories`` (the tree).
"""

from erp.catalog.excel.categories import CATEGORY_SPEC, export_categories, import_categories
from erp.catalog.excel.skus import SKU_SPEC, export_skus, import_skus

__all__ = [
    "CATEGORY_SPEC",
    "SKU_SPEC",
    "export_categories",
    "export_skus",
    "import_categories",
    "import_skus",
]
