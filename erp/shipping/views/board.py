"""The shipping day board: orders waiting per service and its cut-off, today's parcels."""

from __future__ import annotations

from datetime import datetime

from babel.dates import format_datetime as babel_datetime
from flask import current_app, render_template

from erp.core.i18n import current_language
from erp.core.permissions import permission_required
from erp.shipping import queries
from erp.shipping.models import DISPATCH_BATCH_STATES
from erp.shipping.views import bp

#: the board's clock by language: the weekday, the date as the reader writes it, the time
BOARD_CLOCK = {"en": "EEEE yyyy-MM-dd HH:mm", "zh_Hans_CN": "yyyy年M月d日 EEEE HH:mm"}


def board_clock(now: datetime) -> str:
    """Return the board's local time in the reader's language: ``Monday 2026-12-07 09:30``."""
    language = current_language()
    return babel_datetime(now, BOARD_CLOCK.get(language, BOARD_CLOCK["en"]), locale=language)


@bp.get("/board")
@permission_required("shipping.view")
def board():
    """Show the day board: orders waiting per service, cut-offs, parcels packed and sent today."""
    views = current_app.view_functions
    links = {name: name in views for name in (
        "shipping.wave_list", "shipping.parcel_list", "shipping.packing_station",
        "orders.order_list")}
    day = queries.day_board()
    return render_template("shipping/board.html", board=day, clock=board_clock(day.now),
                           machine=DISPATCH_BATCH_STATES, links=links)
