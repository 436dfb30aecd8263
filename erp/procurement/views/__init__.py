"""Procurement screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

import erp.procurement.audit_text  # noqa: F401 - registers the audit log's sentences

bp = Blueprint("procurement", __name__)

# The view modules register themselves on bp when imported (below, after bp exists); so do
# the home page's cards and the header search's finder (home, search).
from erp.procurement import home, search  # noqa: E402,F401
from erp.procurement.views import (  # noqa: E402,F401
    exports,
    landed_costs,
    purchase_orders,
    receiving,
    replenishment,
    supplier_returns,
    suppliers,
)
