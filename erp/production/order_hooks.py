"""What production adds to orders (:mod:`erp.orders.hooks`): paid lines, cancels, the panel.

Registered when :mod:`erp.production` is imported (the blueprint import loads it):

- :data:`~erp.orders.hooks.orders_paid`: paid made-to-order lines get their production order;
- :data:`~erp.orders.hooks.order_cancelling`: cancelling the order cancels them (with the fee);
- :data:`~erp.orders.hooks.order_panels`: the order's page lists them.
"""

from __future__ import annotations

from flask import render_template
from markupsafe import Markup

from erp.orders import hooks
from erp.production.models import PRODUCTION_STATES
from erp.production.services import orders as production_orders


def production_panel(order) -> Markup | None:
    """Return the order page's section listing its production orders (None if it has none)."""
    found = production_orders.production_orders_of(order.id)
    if not found:
        return None
    return Markup(render_template("production/order_panel.html", production_orders=found,
                                  machine=PRODUCTION_STATES))


hooks.orders_paid.append(production_orders.create_for_orders)
hooks.order_panels.append(production_panel)
hooks.order_cancelling.connect(production_orders.cancel_for_order)
