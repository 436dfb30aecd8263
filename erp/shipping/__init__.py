"""Shipping: waves, packing, parcels, labels, customs documents and dispatch.

Carriers and services, tracking numbers, pick waves, packing, parcels with customs data, labels
and customs documents, dispatch batches and carrier manifests.

Sits above orders and warehouse: it moves stock only through warehouse services and changes an
order's state only through order services.
"""

from erp.shipping import (  # noqa: E402,F401 - settings, order-screen hooks, periodic poll
    hooks,
    routing_hooks,  # noqa: E402,F401 - routing at allocation, order panel
    settings,
    tracking_poll,
)
