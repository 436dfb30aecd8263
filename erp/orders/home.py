"""Customer orders on the home page: customer service's and the warehouse's order queues.

Customer service sees the orders to allocate, backordered and on hold; the warehouse the orders
to pick and to pack. One grouped count serves them all.
"""

from __future__ import annotations

from sqlalchemy import func, select

from erp.core import dashboard
from erp.core.dashboard import Card, Context
from erp.core.i18n import _l
from erp.core.models import Role
from erp.orders.models import CustomerOrder, OrderState

O = OrderState  # noqa: E741 - as in erp.orders.models
#: figure key -> the order state it counts
STATES = {"orders.new": O.new, "orders.backordered": O.backordered,
          "orders.on_hold": O.on_hold, "orders.allocated": O.allocated,
          "orders.picking": O.picking}


#: the orders of every state above, counted in one grouped query (the state index)
COUNTS = (select(CustomerOrder.state, func.count())
          .where(CustomerOrder.state.in_(list(STATES.values()))).group_by(CustomerOrder.state))


@dashboard.source(STATES)
def order_figures(keys: frozenset[str], ctx: Context) -> dict[str, int]:
    """Count the orders in each state wanted."""
    counts = dict(dashboard.connection().execute(COUNTS).all())
    return {key: counts.get(STATES[key], 0) for key in keys}


W, CS = Role.warehouse, Role.customer_service
TO_ALLOCATE = (_l("Orders to allocate"), "orders.edit", "orders.new", "orders.orders_to_allocate",
               _l("New orders waiting for stock to be reserved"))
BACKORDERED = (_l("Backordered"), "orders.edit", "orders.backordered",
               "orders.orders_backordered", _l("Orders waiting for stock to arrive"))
ON_HOLD = (_l("On hold"), "orders.edit", "orders.on_hold", "orders.orders_on_hold",
           _l("Orders held by customer service"))

dashboard.register(
    Card(_l("Orders to pick"), "shipping.work", "orders.allocated", "orders.order_list",
         _l("Allocated orders waiting for a pick wave"),
         args=(("state", O.allocated.value),), section=W, position=20),
    Card(_l("Orders to pack"), "shipping.work", "orders.picking", "orders.order_list",
         _l("Orders in pick waves, to pack once picked"),
         args=(("state", O.picking.value),), section=W, position=30),
    Card(*TO_ALLOCATE, section=CS, position=40),
    Card(*BACKORDERED, section=CS, position=50),
    Card(*ON_HOLD, section=CS, position=60),
    # the admin's overview, as before the role sections
    Card(*TO_ALLOCATE), Card(*BACKORDERED), Card(*ON_HOLD),
)
