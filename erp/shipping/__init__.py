"""Shipping: waves, packing, parcels, labels, customs documents and dispatch.

Carriers and services, tracking numbers, pick waves, packing, parcels with customs data, labels
and customs documents, dispatch batches and carrier manifests.

Sits above orders and warehouse: it moves stock only through warehouse services and changes an
order's state only through order services.
"""

# settings, order-screen hooks, periodic poll, and the shipping rules' hooks (routing at
# allocation, the order page's Routing panel)
from erp.shipping import hooks, routing_hooks, settings, tracking_poll  # noqa: E402,F401
