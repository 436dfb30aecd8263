"""After-sales screens, one module per area; each registers its views on ``bp``."""

from flask import Blueprint

import erp.aftersales.audit_text  # noqa: F401 - registers the audit log's sentences

bp = Blueprint("aftersales", __name__)

# The view modules register themselves on bp when imported (below, after bp exists); so do
# the home page's cards and the header search's finder (home, search).
from erp.aftersales import home, search  # noqa: E402,F401
from erp.aftersales.views import (  # noqa: E402,F401
    cases,
    reasons,
    refunds,
    reports,
    returns,
    supplier_returns,
)
