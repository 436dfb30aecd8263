"""Made-to-order production screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

bp = Blueprint("production", __name__)

# The view modules register themselves on bp when imported (below, after bp exists).
from erp.production.views import orders, products, receiving  # noqa: E402,F401
