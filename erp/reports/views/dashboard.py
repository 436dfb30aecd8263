"""The manager dashboard: a period and a comparison period, figures, charts and their lists."""

from __future__ import annotations

from datetime import date

from flask import render_template, request, url_for

from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.settings import base_currency
from erp.procurement.models import PURCHASE_ORDER_STATES
from erp.reports import dashboard as figures
from erp.reports.views import bp


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def dashboard_periods() -> tuple[figures.Period, figures.Period, list[str]]:
    """Read the period and the comparison period from the query string (with defaults).

    Default: the last 30 days, compared with the 30 days before. A comparison left empty is the
    period of the same length just before. Returns the periods and the problems found.
    """
    problems = []
    default = figures.default_period()
    date_from, date_to = _date_arg("date_from"), _date_arg("date_to")
    if date_from and not date_to:
        date_to = max(date_from, default.date_to)
    if date_to and not date_from:
        date_from = date_to - (default.date_to - default.date_from)
    period = figures.Period(date_from, date_to) if date_from and date_to else default
    if period.date_from > period.date_to:
        problems.append(_("The period's start is after its end; showing the last 30 days."))
        period = default
    cmp_from, cmp_to = _date_arg("cmp_from"), _date_arg("cmp_to")
    comparison = period.previous()
    if cmp_from and cmp_to:
        if cmp_from <= cmp_to:
            comparison = figures.Period(cmp_from, cmp_to)
        else:
            problems.append(_("The comparison's start is after its end; comparing with the "
                              "period before."))
    if period.days > 731 or comparison.days > 731:
        problems.append(_("Periods are limited to two years; showing the last 30 days."))
        period, comparison = default, default.previous()
    return period, comparison, problems


def _slow_days() -> int:
    days = request.args.get("slow_days", type=int)
    return days if days and 1 <= days <= 3650 else figures.DEFAULT_SLOW_DAYS


def chart_data(board: figures.Dashboard) -> dict:
    """Return what static/js/dashboard.js draws: series, labels and the link of each bar.

    ``text`` holds the names of the series, in the reader's language.
    """
    cur, cmp = board.current, board.comparison
    period = cur.period
    days = period.each_day()
    dates = {"date_from": period.date_from.isoformat(), "date_to": period.date_to.isoformat()}

    def day_link(endpoint: str, day: date, **extra) -> str:
        return url_for(endpoint, date_from=day.isoformat(), date_to=day.isoformat(), **extra)

    return {
        "orders": {
            "labels": [d.isoformat() for d in days],
            "received": [cur.received_per_day.get(d, 0) for d in days],
            "shipped": [cur.shipped_per_day.get(d, 0) for d in days],
            "on_time": [cur.on_time_per_day.get(d, 0) for d in days],
            "received_links": [day_link("orders.order_list", d) for d in days],
            "shipped_links": [day_link("shipping.batch_list", d) for d in days],
        },
        "countries": {
            "labels": [c for c, _ in cur.parcels_by_country],
            "values": [n for _, n in cur.parcels_by_country],
            "links": [url_for("orders.order_list", country=c, **dates)
                      for c, _ in cur.parcels_by_country],
        },
        "services": {
            "labels": [name for _, name, _ in cur.parcels_by_service],
            "values": [n for _, _, n in cur.parcels_by_service],
            "links": [url_for("shipping.parcel_list", service=code, state="dispatched", **dates)
                      for code, _, _ in cur.parcels_by_service],
        },
        "brands": {
            "labels": [b["name"] for b in board.now.stock_by_brand],
            "values": [float(b["value"]) for b in board.now.stock_by_brand],
            "links": [url_for("warehouse.valuation", group="brand")] * len(
                board.now.stock_by_brand),
        },
        "categories": {
            "labels": [c["name"] for c in board.now.stock_by_category],
            "values": [float(c["value"]) for c in board.now.stock_by_category],
            "links": [url_for("warehouse.valuation", group="category")] * len(
                board.now.stock_by_category),
        },
        "reasons": {
            "labels": [r.label for r in cur.returns_by_reason],
            "values": [r.returned for r in cur.returns_by_reason],
            "links": [url_for("aftersales.case_list", reason_id=cur.reason_ids.get(r.key),
                              **dates) for r in cur.returns_by_reason],
        },
        "comparison": {"received": cmp.orders_received, "shipped": cmp.orders_shipped},
        "text": {"received": _("Received"), "on_time": _("Shipped on time"),
                 "late": _("Shipped late"), "parcels": _("Parcels"),
                 "stock_value": _("Stock value"), "units_returned": _("Units returned")},
    }


@bp.get("/dashboard")
@permission_required("reports.view")
def dashboard():
    """Show the manager dashboard for a period against a comparison period."""
    period, comparison, problems = dashboard_periods()
    board = figures.dashboard(period, comparison, slow_days=_slow_days())
    return render_template("reports/dashboard.html", board=board, period=period,
                           comparison=comparison, problems=problems,
                           charts=chart_data(board), currency=base_currency(),
                           top=figures.TOP, po_states=PURCHASE_ORDER_STATES)
