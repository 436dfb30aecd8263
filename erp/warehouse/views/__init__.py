"""Warehouse screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

bp = Blueprint("warehouse", __name__)

# The view modules register themselves on bp when imported (below, after bp exists).
from erp.warehouse.views import counts, locations, putaway, stock  # noqa: E402,F401
