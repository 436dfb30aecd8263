"""Customer-service order screens: search, export, the order page, its actions, allocation."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from erp.catalog.models import Sku
from erp.core import exports as core_exports
from erp.core import jobs
from erp.core.errors import DomainError
from erp.core.i18n import _, format_datetime
from erp.core.permissions import has_permission, permission_required
from erp.core.queries import AuditFilters, audit_event_query
from erp.core.viewhelpers import (
    commit_or_refuse,
    form_errors,
    get_or_404,
    id_url,
    paginate_rows,
)
from erp.extensions import db
from erp.orders import exports, hooks, queries, services
from erp.orders import jobs as order_jobs
from erp.orders.models import (
    ORDER_STATES,
    CustomerOrder,
    CustomerOrderLine,
    OrderState,
)
from erp.orders.order_forms import ConfirmForm, ReasonForm, ShippingAddressForm
from erp.orders.services.allocation import LINE_REF
from erp.orders.views import bp, merging
from erp.warehouse.models import Location
from erp.warehouse.services import reservations_for

O = OrderState  # noqa: E741 - as in erp.orders.models
#: audit events shown on an order's page (newest first)
HISTORY_LIMIT = 200


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def order_filters() -> queries.OrderFilters:
    """Read the order list's search and filters from the query string."""
    state = request.args.get("state") or None
    country = (request.args.get("country") or "").strip().upper()
    return queries.OrderFilters(
        q=(request.args.get("q") or "").strip()[:120] or None,
        sku=(request.args.get("sku") or "").strip()[:64] or None,
        state=state if state in O.__members__ or state in queries.STATE_GROUPS else None,
        country=country if len(country) == 2 and country.isalpha() else None,
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"),
        warehouse=_warehouse_arg())


def _warehouse_arg() -> int | None:
    value = request.args.get("warehouse", type=int)
    return value if value is not None and 0 < value < 2**31 else None


def _list_page(filters: queries.OrderFilters, title: str):
    page = paginate_rows(queries.order_list_query(filters),
                         count=queries.order_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("orders/order_list.html", page=page, filters=filters, title=title,
                           machine=ORDER_STATES, states=list(O), groups=queries.STATE_GROUPS,
                           countries=queries.country_options(),
                           warehouses=queries.warehouse_options(), confirm=ConfirmForm(),
                           order_url=id_url("orders.order_detail", "order_id"))


@bp.get("/")
@permission_required("orders.view")
def order_list():
    """List orders: search number, email, name or SKU; filter state, country, placed dates."""
    return _list_page(order_filters(), _("Orders"))


def _state_page(state: OrderState, title: str):
    filters = order_filters()
    filters.state = state.value
    return _list_page(filters, title)


@bp.get("/to-allocate")
@permission_required("orders.view")
def orders_to_allocate():
    """List the new orders waiting for allocation."""
    return _state_page(O.new, _("Orders to allocate"))


@bp.get("/backordered")
@permission_required("orders.view")
def orders_backordered():
    """List the orders waiting for stock."""
    return _state_page(O.backordered, _("Backordered orders"))


@bp.get("/on-hold")
@permission_required("orders.view")
def orders_on_hold():
    """List the orders on hold."""
    return _state_page(O.on_hold, _("Orders on hold"))


@bp.get("/export.xlsx")
@permission_required("orders.view")
def export_orders():
    """Download the orders the list shows (same search and filters) as an Excel workbook.

    Above ``export_job_rows`` rows it is written by a background job; this goes to its page.
    """
    return core_exports.respond(exports.LIST_EXPORT.name, order_filters())


@bp.post("/allocate")
@permission_required("orders.edit")
def allocate_all_orders():
    """Start the allocation run of every new and backordered order as a background job.

    One run at a time: while one is queued or running, the button leads to its page (or, for
    someone who may not see it, back to the list, saying who started it).
    """
    if not ConfirmForm().validate_on_submit():
        abort(400)
    job, started = jobs.submit_once(order_jobs.KIND, user=current_user)
    if started or jobs.get(job.id, current_user) is not None:
        if not started:
            flash(_("An allocation run is already under way: here is its progress."), "info")
        return redirect(url_for("reports.job_detail", job_id=job.id))
    flash(_("An allocation run started by %(name)s at %(time)s is still under way; start "
            "another once it has finished.",
            name=job.user.full_name if job.user else _("the system"),
            time=format_datetime(job.created_at)), "warning")
    return redirect(url_for(".order_list"))


def _load(order_id: int) -> CustomerOrder:
    """Return the order with its lines and their SKUs or 404."""
    order = db.session.scalar(
        select(CustomerOrder).where(CustomerOrder.id == order_id)
        .options(selectinload(CustomerOrder.lines).joinedload(CustomerOrderLine.sku)
                 .joinedload(Sku.product)))
    if order is None:
        abort(404)
    return order


def _reservations(order: CustomerOrder) -> dict[int, list]:
    """Return ``{line id: [reservation]}`` with their bins loaded in one query."""
    held = reservations_for(LINE_REF, [line.id for line in order.lines])
    ids = {r.location_id for r in held}
    if ids:
        db.session.scalars(select(Location).where(Location.id.in_(ids))
                           .options(selectinload(Location.warehouse))).all()
    by_line: dict[int, list] = defaultdict(list)
    for reservation in held:
        by_line[reservation.ref_id].append(reservation)
    return by_line


def _actions(order: CustomerOrder) -> dict[str, bool]:
    """Return which buttons the signed-in user sees: the table allows it and so do their roles."""
    edit = has_permission(current_user, "orders.edit")
    return {
        "allocate": edit and services.can_allocate(order, current_user),
        "hold": edit and services.can_hold(order, current_user),
        "release": edit and services.can_release(order, current_user),
        "cancel": edit and services.can_cancel(order, current_user),
        "address": edit and services.can_edit_address(order, current_user),
    }


@bp.get("/<int:order_id>")
@permission_required("orders.view")
def order_detail(order_id: int):
    """Show an order: address, lines with allocation and bins reserved, actions, history."""
    order = _load(order_id)
    history = db.session.scalars(audit_event_query(AuditFilters(
        entity_type="customer_order", entity_id=str(order.id))).limit(HISTORY_LIMIT)).all()
    return render_template("orders/order_detail.html", order=order, machine=ORDER_STATES,
                           reservations=_reservations(order), actions=_actions(order),
                           history=history, history_limit=HISTORY_LIMIT,
                           panels=hooks.order_panels_for(order),
                           confirm=ConfirmForm(), reason_form=ReasonForm(),
                           **merging.merge_and_split_context(order))


def _act(order_id: int, form_class, action):
    """Load the order, check the form, run ``action(order, form)`` (one service), commit.

    A refusal of the service is rolled back and shown as a message on the order's page.
    """
    order = get_or_404(CustomerOrder, order_id)
    form = form_class()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "error")
        return redirect(url_for(".order_detail", order_id=order_id))
    return commit_or_refuse(lambda: action(order, form),
                            url_for(".order_detail", order_id=order_id))


@bp.post("/<int:order_id>/allocate")
@permission_required("orders.edit")
def allocate_order(order_id: int):
    """Reserve stock for a new or backordered order."""
    def act(order, form):
        services.allocate_order(order, actor=current_user)
        return _("Order %(number)s is %(state)s.", number=order.number,
                 state=ORDER_STATES.label(order.state))
    return _act(order_id, ConfirmForm, act)


@bp.post("/<int:order_id>/hold")
@permission_required("orders.edit")
def hold_order(order_id: int):
    """Put an order on hold with a reason (its reservations are kept or freed by the rule)."""
    def act(order, form):
        services.hold_order(order, reason=form.reason.data.strip(), actor=current_user)
        return _("Order %(number)s is on hold.", number=order.number)
    return _act(order_id, ReasonForm, act)


@bp.post("/<int:order_id>/release")
@permission_required("orders.edit")
def release_order(order_id: int):
    """Release a held order back to allocation."""
    def act(order, form):
        services.release_order(order, actor=current_user)
        return _("Order %(number)s released; it is %(state)s.", number=order.number,
                 state=ORDER_STATES.label(order.state))
    return _act(order_id, ConfirmForm, act)


@bp.post("/<int:order_id>/cancel")
@permission_required("orders.edit")
def cancel_order(order_id: int):
    """Cancel an order before shipping: reservations released, parcels voided, goods put back."""
    def act(order, form):
        services.cancel_order(order, reason=form.reason.data.strip(), actor=current_user)
        return _("Order %(number)s cancelled.", number=order.number)
    return _act(order_id, ReasonForm, act)


@bp.route("/<int:order_id>/address", methods=["GET", "POST"])
@permission_required("orders.edit")
def edit_order_address(order_id: int):
    """Change the shipping address of an order not yet shipped (audited; voids printed labels)."""
    order = get_or_404(CustomerOrder, order_id)
    if not services.can_edit_address(order, current_user):
        flash(_('The address of order "%(number)s" can no longer change; it is "%(state)s".',
                number=order.number, state=ORDER_STATES.label(order.state)), "error")
        return redirect(url_for(".order_detail", order_id=order.id))
    form = ShippingAddressForm(obj=order)
    if form.validate_on_submit():
        try:
            changes = services.update_shipping_address(order, form.values(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Shipping address of order %(number)s saved.", number=order.number),
                  "success")
            for notice in changes.notices:  # e.g. a label voided: print a new one
                flash(notice, "warning")
            return redirect(url_for(".order_detail", order_id=order.id))
    status = 422 if request.method == "POST" else 200
    return render_template("orders/order_address.html", order=order, form=form,
                           machine=ORDER_STATES), status
