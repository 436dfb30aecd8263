"""Warehouse screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

from erp.warehouse.labels import kind_label

bp = Blueprint("warehouse", __name__)
#: templates name a bin kind, move kind or adjustment reason in the reader's language
bp.add_app_template_global(kind_label, "warehouse_kind")

# The view modules register themselves on bp when imported (below, after bp exists).
from erp.warehouse.views import counts, locations, putaway, stock  # noqa: E402,F401
