"""After-sales: cases (RMA), return receipts and inspection, refunds and replacements.

Sits above shipping: it reads what was shipped through shipping's queries, posts stock only
through warehouse services, and creates replacement orders through order services.
"""

from erp.aftersales import (  # noqa: E402,F401 - settings, order-page panel, periodic checks
    hooks,
    lost_parcels,
    settings,
    spec_revision,
)
