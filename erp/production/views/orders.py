"""Production orders: the list, a production order's page and PDF, its moves, the board."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

import erp.production.orders_audit_text  # noqa: F401 - registers the audit log's sentences
from erp.core import exports as core_exports
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import get_or_404, paginate_rows, pdf_response
from erp.extensions import db
from erp.production import documents
from erp.production import order_queries as queries
from erp.production.models import PRODUCTION_STATES, ProductionOrder, ProductionState
from erp.production.services import orders as services
from erp.production.services import receiving
from erp.production.views import bp
from erp.quality.models import INSPECTION_STATES

PS = ProductionState
#: the board's look-ahead: default and largest number of days
BOARD_DAYS, BOARD_MAX_DAYS = 7, 90
#: the maker's moves offered on the page: target -> button text
MOVE_BUTTONS = {PS.in_production: _l("Production started"),
                PS.finished: _l("Production finished"),
                PS.shipped: _l("Shipped to the warehouse")}


class MoveForm(FlaskForm):
    """An empty form carrying the CSRF token; the target state is the button's value."""


def production_order_filters() -> queries.ProductionOrderFilters:
    """Read the list's search, state and lateness from the query string."""
    state = request.args.get("state") or None
    return queries.ProductionOrderFilters(
        q=(request.args.get("q") or "").strip()[:64] or None,
        state=state if state in PS.__members__ else None,
        late=request.args.get("late") == "1")


@bp.get("/orders")
@permission_required("production.view")
def production_order_list():
    """List production orders by due date, with search (number, order, maker) and state."""
    filters = production_order_filters()
    page = paginate_rows(queries.production_order_list_query(filters),
                         count=queries.production_order_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("production/order_list.html", page=page, filters=filters,
                           machine=PRODUCTION_STATES, states=list(PS),
                           spec_text=queries.spec_text)


@bp.get("/orders/export.xlsx")
@permission_required("production.view")
def export_production_orders():
    """Download the production orders the list shows (same search and state) as Excel."""
    return core_exports.respond(queries.LIST_EXPORT.name, production_order_filters())


def _moves(po: ProductionOrder) -> list[tuple[str, str]]:
    """Return ``[(target, button text)]`` of the maker's moves allowed from the state."""
    return [(target.value, str(text)) for target, text in MOVE_BUTTONS.items()
            if PRODUCTION_STATES.can(po.state, target)]


def _may_receive(po: ProductionOrder) -> bool:
    """Return whether to offer the warehouse's "Receive" (the made-to-order receiving view).

    Offered for a production order shipped by the maker, when that view exists and the user
    holds the permission it declares.
    """
    view = current_app.view_functions.get("production.receive")
    if view is None or PRODUCTION_STATES.enum(po.state) != PS.shipped:
        return False
    permission = getattr(view, "permission", None)
    return permission is None or has_permission(current_user, permission)


@bp.get("/orders/<int:po_id>")
@permission_required("production.view")
def production_order_detail(po_id: int):
    """Show a production order: the line it makes, its size or measurements, its moves."""
    po = get_or_404(ProductionOrder, po_id)
    can_edit = has_permission(current_user, "production.edit")
    can_receive = _may_receive(po)
    bilingual = (po.maker.language or "en") != "en"
    return render_template(
        "production/order_detail.html", po=po, machine=PRODUCTION_STATES,
        measurements=documents.measurement_rows(po, chinese=bilingual),
        moves=_moves(po) if can_edit else [], form=MoveForm(), can_receive=can_receive,
        fee_now=services.fee_for(po) if PRODUCTION_STATES.in_group(po.state, "open") else None,
        spec_text=queries.spec_text, lots=receiving.inspections_of(po.id),
        lot_machine=INSPECTION_STATES, can_view_lots=has_permission(current_user, "quality.view"))


@bp.post("/orders/<int:po_id>/move")
@permission_required("production.edit")
def move_production_order(po_id: int):
    """Record the maker's progress: production started, finished, shipped to the warehouse."""
    po = get_or_404(ProductionOrder, po_id)
    target = request.form.get("to") or ""
    if not MoveForm().validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for(".production_order_detail", po_id=po.id))
    try:
        services.move(po, target, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        return redirect(url_for(".production_order_detail", po_id=po_id)), 409
    db.session.commit()
    flash(_("Production order %(number)s is now %(state)s.", number=po.number,
            state=PRODUCTION_STATES.label(po.state)), "success")
    return redirect(url_for(".production_order_detail", po_id=po.id))


@bp.get("/orders/<int:po_id>/pdf")
@permission_required("production.view")
def production_order_pdf(po_id: int):
    """Print the production order for the maker (A4 PDF, in the maker's language)."""
    po = get_or_404(ProductionOrder, po_id)
    return pdf_response(documents.production_order_pdf(po), f"production-order-{po.number}")


@bp.get("/board")
@permission_required("production.view")
def board():
    """The production board: due in the next days, late, and arrived waiting to ship."""
    try:
        days = min(max(int(request.args.get("days") or BOARD_DAYS), 1), BOARD_MAX_DAYS)
    except ValueError:
        days = BOARD_DAYS
    return render_template("production/board.html", board=queries.board(days),
                           machine=PRODUCTION_STATES, spec_text=queries.spec_text,
                           max_days=BOARD_MAX_DAYS)

