"""Report screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

bp = Blueprint("reports", __name__)

# The view modules register themselves on bp when imported (below, after bp exists).
from erp.reports import hooks  # noqa: E402,F401 - the supplier page's scorecard
from erp.reports.views import (  # noqa: E402,F401
    dashboard,
    exports,
    jobs,
    margin,
)
