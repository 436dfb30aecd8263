"""What after-sales adds to the order screens through :mod:`erp.orders.hooks`."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user
from markupsafe import Markup

from erp.aftersales import queries
from erp.aftersales.models import CASE_STATES
from erp.core.permissions import has_permission
from erp.orders import hooks
from erp.orders.models import OrderState


def cases_panel(order) -> Markup | None:
    """Return the order page's section listing its cases, with "Open a case" for agents."""
    if not has_permission(current_user, "aftersales.view"):
        return None
    cases = queries.order_cases(order.id)
    can_open = has_permission(current_user, "aftersales.edit") and order.state in (
        OrderState.shipped, OrderState.delivered)
    if not cases and not can_open:
        return None
    return Markup(render_template("aftersales/cases/order_panel.html", order=order,
                                  cases=cases, can_open=can_open, machine=CASE_STATES,
                                  type_label=queries.type_label))


hooks.order_panels.append(cases_panel)
