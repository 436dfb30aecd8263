"""What the shipping rules add to orders: routing at allocation, and the order page's panel."""

from __future__ import annotations

from flask import current_app, render_template
from flask_login import current_user
from markupsafe import Markup

from erp.core.permissions import has_permission
from erp.orders import hooks
from erp.shipping import routing_audit_text  # noqa: F401 - registers the audit sentences
from erp.shipping.routing_models import ROUTING_STAGE_LABELS
from erp.shipping.services import routing


def routing_panel(order) -> Markup | None:
    """Return the order page's "Routing" section: the latest decision and its reasons."""
    decision = routing.latest_decision(order.id)
    if decision is None:
        return None
    explanation = routing.decision_explanation(decision)
    return Markup(render_template(
        "shipping/order_routing.html", decision=decision,
        rows=routing.decision_rows(decision), explanation=explanation,
        stages=ROUTING_STAGE_LABELS, goods=routing.goods_label(explanation.get("goods") or {}),
        can_see_rules=has_permission(current_user, "shipping.view"),
        view_functions=current_app.view_functions))


hooks.orders_allocated.append(routing.on_orders_allocated)
hooks.order_panels.append(routing_panel)
