"""The margin screen: a period, a dimension, a search, the rows a page at a time, an export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app, render_template, request

from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import page_arg
from erp.reports import margin as figures
from erp.reports.dashboard import default_period
from erp.reports.excel.margin import rules
from erp.reports.views import bp

#: the longest period the screen computes (the Excel report takes any)
MAX_DAYS = 731


@dataclass
class ListPage:
    """One page of an in-memory list, shaped like the ORM paginations the macro reads."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        """Whether a page comes before."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether a page comes after."""
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        """The page before."""
        return self.page - 1

    @property
    def next_num(self) -> int:
        """The page after."""
        return self.page + 1


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def margin_period() -> tuple[date, date, list[str]]:
    """Read the period from the query string: default the last 30 days; at most two years."""
    problems = []
    default = default_period()
    date_from, date_to = _date_arg("date_from"), _date_arg("date_to")
    date_to = date_to or default.date_to
    date_from = date_from or date_to - (default.date_to - default.date_from)
    if date_from > date_to:
        problems.append(_("The period's start is after its end; showing the last 30 days."))
        date_from, date_to = default.date_from, default.date_to
    if (date_to - date_from).days >= MAX_DAYS:
        problems.append(_("The screen shows at most two years; run the Excel report for a "
                          "longer period. Showing the last 30 days."))
        date_from, date_to = default.date_from, default.date_to
    return date_from, date_to, problems


@bp.get("/margin")
@permission_required("reports.view")
def margin():
    """Show the margin of a period by order or by one dimension, a page at a time."""
    date_from, date_to, problems = margin_period()
    dimension = request.args.get("dimension") or "order"
    if dimension not in figures.DIMENSIONS:
        dimension = "order"
    search = (request.args.get("q") or "").strip()
    report = figures.margin_report(date_from, date_to, dimensions=(dimension,))
    rows = report.orders if dimension == "order" else report.by.get(dimension, ())
    if search and len(rows):
        rows = rows.search(search)
    per_page = current_app.config["ERP_PAGE_SIZE"]
    page = min(page_arg(), max(1, -(-len(rows) // per_page)))
    listed = ListPage(rows[(page - 1) * per_page:page * per_page], page, per_page, len(rows))
    return render_template("reports/margin.html", report=report, page=listed,
                           dimension=dimension, dimensions=figures.DIMENSIONS, search=search,
                           problems=problems, labels=figures.COMPONENT_LABELS,
                           components=figures.COMPONENTS, rules=rules(),
                           line_dimensions=figures.LINE_DIMENSIONS)
