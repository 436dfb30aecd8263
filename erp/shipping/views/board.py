"""The shipping day board: orders waiting per service and its cut-off, today's parcels."""

from __future__ import annotations

from flask import current_app, render_template

from erp.core.permissions import permission_required
from erp.shipping import queries
from erp.shipping.models import DISPATCH_BATCH_STATES
from erp.shipping.views import bp


@bp.get("/board")
@permission_required("shipping.view")
def board():
    """Show the day board: orders waiting per service, cut-offs, parcels packed and sent today."""
    views = current_app.view_functions
    links = {name: name in views for name in (
        "shipping.wave_list", "shipping.parcel_list", "shipping.packing_station",
        "orders.order_list")}
    return render_template("shipping/board.html", board=queries.day_board(),
                           machine=DISPATCH_BATCH_STATES, links=links)
