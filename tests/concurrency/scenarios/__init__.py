"""The scenarios of :data:`tests.concurrency.guarded.GUARDED`, one module per domain.

Importing this package registers them; :mod:`tests.concurrency.guarded` does so at its end.
"""

from tests.concurrency.scenarios import (  # noqa: F401 - imported to register
    aftersales,
    brands,
    catalog,
    orders,
    procurement,
    production_mto,
    production_orders,
    quality,
    routing,
    shipping,
    transfers,
    warehouse,
)
