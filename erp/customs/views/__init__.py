"""China export (9610) screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

bp = Blueprint("customs", __name__)

# The view modules register themselves on bp when imported (below, after bp exists).
from erp.customs.views import batches, months  # noqa: E402,F401
