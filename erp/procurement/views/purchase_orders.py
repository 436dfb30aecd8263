"""Purchase order screens: the list, drafting lines, the approval workflow, history and PDF."""

from __future__ import annotations

from datetime import date

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from erp.catalog.models import Product, Sku
from erp.core import settings as core_settings
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, format_date, format_money, format_number, ngettext
from erp.core.money import round_amount
from erp.core.permissions import has_permission, permission_required
from erp.core.queries import AuditFilters, audit_event_query
from erp.core.viewhelpers import form_errors, get_or_404, paginate_rows, pdf_response
from erp.extensions import db
from erp.procurement import documents, landed_cost_queries, queries, services
from erp.procurement.forms import (
    ConfirmForm,
    ExpectedDateForm,
    LineEditForm,
    LineForm,
    OrderForm,
    PurchaseOrderEditForm,
    PurchaseOrderForm,
    ReasonForm,
)
from erp.procurement.models import (
    LANDED_COST_STATES,
    PURCHASE_ORDER_STATES,
    RECEIPT_STATES,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    Supplier,
)
from erp.procurement.views import bp
from erp.warehouse import services as warehouse_services

#: audit events shown on an order's page (newest first)
HISTORY_LIMIT = 200

def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def purchase_order_filters() -> queries.PurchaseOrderFilters:
    """Read the purchase order list's search and filters from the query string."""
    state = request.args.get("state") or None
    date_field = request.args.get("date_field") or "created"
    supplier = request.args.get("supplier", type=int)
    return queries.PurchaseOrderFilters(
        q=(request.args.get("q") or "").strip()[:64] or None,
        state=state if state in PurchaseOrderState.__members__ or state in queries.STATE_GROUPS
        else None,
        supplier_id=supplier if supplier and supplier > 0 else None,
        date_field=date_field if date_field in queries.DATE_FIELDS else "created",
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"),
        overdue=request.args.get("overdue") == "yes")


def _list_page(filters: queries.PurchaseOrderFilters, title: str):
    page = paginate_rows(queries.purchase_order_list_query(filters),
                         count=queries.purchase_order_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("procurement/po_list.html", page=page, filters=filters, title=title,
                           machine=PURCHASE_ORDER_STATES, states=list(PurchaseOrderState),
                           groups=queries.STATE_GROUPS, date_fields=queries.DATE_FIELDS,
                           suppliers=queries.supplier_options())


@bp.get("/purchase-orders")
@permission_required("procurement.view")
def purchase_order_list():
    """List purchase orders: search number or supplier; filter state, supplier, dates, overdue."""
    return _list_page(purchase_order_filters(), _("Purchase orders"))


@bp.get("/purchase-orders/awaiting-approval")
@permission_required("procurement.view")
def purchase_orders_awaiting_approval():
    """List the purchase orders waiting for a manager's approval."""
    filters = purchase_order_filters()
    filters.state = PurchaseOrderState.awaiting_approval.value
    return _list_page(filters, _("Purchase orders awaiting approval"))


def offer_suppliers(form) -> None:
    """Fill a form's supplier choice with the active suppliers; ``?supplier=`` preselects one."""
    form.supplier_id.choices = [("", _("Choose a supplier"))] + [
        (str(ident), f"{code} {name} ({currency})")
        for ident, code, name, currency, _active in queries.supplier_options(active_only=True)]
    if request.method == "GET" and request.args.get("supplier", type=int):
        form.supplier_id.data = str(request.args.get("supplier", type=int))


@bp.route("/purchase-orders/new", methods=["GET", "POST"])
@permission_required("procurement.edit")
def create_purchase_order():
    """Start a draft purchase order to a supplier."""
    form = PurchaseOrderForm()
    offer_suppliers(form)
    if form.validate_on_submit():
        supplier = db.session.get(Supplier, int(form.supplier_id.data))
        try:
            po = services.create_purchase_order(supplier, actor=current_user,
                                                expected_date=form.expected_date.data,
                                                notes=form.notes.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Draft purchase order to %(supplier)s started; add its lines.",
                    supplier=supplier.code), "success")
            return redirect(url_for(".purchase_order_detail", po_id=po.id))
    status = 422 if request.method == "POST" else 200
    return render_template("procurement/po_form.html", form=form), status


def _load(po_id: int) -> PurchaseOrder:
    """Return the order with its supplier and lines (SKU, product, specification) or 404."""
    po = db.session.scalar(
        select(PurchaseOrder).where(PurchaseOrder.id == po_id)
        .options(joinedload(PurchaseOrder.supplier),
                 selectinload(PurchaseOrder.lines).joinedload(PurchaseOrderLine.sku)
                 .joinedload(Sku.product).joinedload(Product.spec_version)))
    if po is None:
        abort(404)
    return po


def _totals(po: PurchaseOrder) -> dict:
    try:
        total, currency, total_base = services.purchase_order_totals(po)
    except ValidationError as err:
        # The page still shows the order total; only its base-currency value is unknown.
        return {"total": round_amount(po.total), "currency": po.currency, "total_base": None,
                "rate_problem": str(err)}
    return {"total": total, "currency": currency, "total_base": total_base,
            "rate_problem": None}


def _actions(po: PurchaseOrder) -> dict[str, bool]:
    """Return which buttons the signed-in user sees: the rule allows it and so do their roles."""
    edit = has_permission(current_user, "procurement.edit")
    approve = has_permission(current_user, "procurement.approve")
    return {
        "edit_lines": edit and services.can_edit_lines(po),
        "update": edit and services.can_update(po),
        "submit": edit and services.can_submit(po),
        "approve": approve and services.can_approve(po, current_user),
        "send_back": approve and services.can_send_back(po, current_user),
        "order": edit and services.can_order(po),
        "cancel": edit and services.can_cancel(po),
        "close": edit and services.can_close(po),
        "receive": has_permission(current_user, "procurement.receive")
        and services.can_receive(po),
        "reverse": has_permission(current_user, "procurement.receive"),
    }


def _render_detail(po: PurchaseOrder, *, line_form: LineForm | None = None, status: int = 200):
    history = db.session.scalars(audit_event_query(AuditFilters(
        entity_type="purchase_order", entity_id=str(po.id))).limit(HISTORY_LIMIT)).all()
    receipts = db.session.execute(queries.receipt_rows(po.id)).all()
    landed = landed_cost_queries.landed_costs_of_receipts(r.Receipt.id for r in receipts)
    return render_template(
        "procurement/po_detail.html", po=po, machine=PURCHASE_ORDER_STATES,
        receipt_states=RECEIPT_STATES, totals=_totals(po), base=core_settings.base_currency(),
        threshold=core_settings.get("approval_threshold"), actions=_actions(po),
        receipts=receipts, can_reverse={r.Receipt.id: services.can_reverse(r.Receipt)
                                        for r in receipts},
        inspected=queries.line_inspection_figures([line.id for line in po.lines]),
        history=history, history_limit=HISTORY_LIMIT, line_form=line_form or LineForm(),
        reason_form=ReasonForm(), order_form=OrderForm(ordered_on=date.today()),
        confirm=ConfirmForm(), supplier_url=_supplier_url(po.supplier),
        landed_costs=list({lc.id: lc for _rid, lc in landed}.values()),
        landed_states=LANDED_COST_STATES), status


def _supplier_url(supplier: Supplier) -> str | None:
    """Link to the supplier's page when the suppliers screens provide one."""
    if "procurement.supplier_detail" not in current_app.view_functions:
        return None
    return url_for("procurement.supplier_detail", supplier_id=supplier.id)


@bp.get("/purchase-orders/<int:po_id>")
@permission_required("procurement.view")
def purchase_order_detail(po_id: int):
    """Show an order: lines with received and remaining, totals, receipts, actions, history."""
    return _render_detail(_load(po_id))


@bp.route("/purchase-orders/<int:po_id>/edit", methods=["GET", "POST"])
@permission_required("procurement.edit")
def edit_purchase_order(po_id: int):
    """Change an open order's expected date and notes (recorded in its history)."""
    po = get_or_404(PurchaseOrder, po_id)
    form = PurchaseOrderEditForm(obj=po)
    if form.validate_on_submit():
        try:
            services.update_purchase_order(po, expected_date=form.expected_date.data,
                                           notes=form.notes.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Purchase order %(number)s saved.", number=po.reference), "success")
            return redirect(url_for(".purchase_order_detail", po_id=po.id))
    status = 422 if request.method == "POST" else 200
    return render_template("procurement/po_edit.html", po=po, form=form,
                           machine=PURCHASE_ORDER_STATES), status


@bp.post("/purchase-orders/<int:po_id>/lines")
@permission_required("procurement.edit")
def add_purchase_order_line(po_id: int):
    """Add a line (SKU by code or barcode) to a draft order."""
    po = _load(po_id)
    form = LineForm()
    if form.validate_on_submit():
        try:
            sku = warehouse_services.find_sku(form.sku.data)
            line = services.add_purchase_order_line(
                po, sku, form.quantity.data, actor=current_user,
                unit_price=form.unit_price.data, expected_date=form.expected_date.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Added %(qty)s × %(sku)s at %(price)s.", qty=format_number(line.quantity),
                    sku=sku.code, price=format_money(line.unit_price, po.currency, 4)),
                  "success")
            return redirect(url_for(".purchase_order_detail", po_id=po.id, _anchor="add-line"))
    return _render_detail(_load(po_id), line_form=form, status=422)


def _line(po_id: int, line_id: int) -> PurchaseOrderLine:
    line = get_or_404(PurchaseOrderLine, line_id)
    if line.order_id != po_id:
        abort(404)
    return line


@bp.route("/purchase-orders/<int:po_id>/lines/<int:line_id>/edit", methods=["GET", "POST"])
@permission_required("procurement.edit")
def edit_purchase_order_line(po_id: int, line_id: int):
    """Change a draft line, or only its expected date once the order is out of draft."""
    line = _line(po_id, line_id)
    po = line.order
    draft = services.can_edit_lines(po)
    if not draft and not services.can_update(po):
        flash(_("Purchase order %(number)s is %(state)s; its lines no longer change.",
                number=po.reference, state=PURCHASE_ORDER_STATES.label(po.state)), "error")
        return redirect(url_for(".purchase_order_detail", po_id=po.id))
    form = LineEditForm(obj=line) if draft else ExpectedDateForm(obj=line)
    if form.validate_on_submit():
        try:
            if draft:
                services.update_purchase_order_line(
                    line, quantity=form.quantity.data, unit_price=form.unit_price.data,
                    expected_date=form.expected_date.data, actor=current_user)
            else:
                services.update_expected_date(line, form.expected_date.data,
                                              actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Line %(sku)s of %(number)s saved.", sku=line.sku.code, number=po.reference),
                  "success")
            return redirect(url_for(".purchase_order_detail", po_id=po.id))
    status = 422 if request.method == "POST" else 200
    return render_template("procurement/po_line_form.html", po=po, line=line, form=form,
                           draft=draft), status


@bp.post("/purchase-orders/<int:po_id>/lines/<int:line_id>/remove")
@permission_required("procurement.edit")
def remove_purchase_order_line(po_id: int, line_id: int):
    """Remove a line from a draft order."""
    line = _line(po_id, line_id)
    po, code = line.order, line.sku.code
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.remove_purchase_order_line(line, actor=current_user)
    db.session.commit()
    flash(_("Line %(sku)s removed from %(number)s.", sku=code, number=po.reference), "success")
    return redirect(url_for(".purchase_order_detail", po_id=po.id))


def _decide(po_id: int, form_class, action):
    """Load the order, check the form, run ``action(po, form)``, commit and go to the order."""
    po = get_or_404(PurchaseOrder, po_id)
    form = form_class()
    if not form.validate_on_submit():
        abort(400)
    message = action(po, form)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".purchase_order_detail", po_id=po.id))


@bp.post("/purchase-orders/<int:po_id>/submit")
@permission_required("procurement.edit")
def submit_purchase_order(po_id: int):
    """Submit a draft: approved at once within the threshold, else sent for approval."""
    def act(po, form):
        services.submit_purchase_order(po, actor=current_user)
        if po.state == PurchaseOrderState.approved:
            return _("Purchase order %(number)s is approved (within the approval threshold).",
                     number=po.number)
        return _("Purchase order %(number)s is above the approval threshold and waits for a "
                 "manager's approval.", number=po.number)
    return _decide(po_id, ConfirmForm, act)


@bp.post("/purchase-orders/<int:po_id>/approve")
@permission_required("procurement.approve")
def approve_purchase_order(po_id: int):
    """Approve an order awaiting approval."""
    def act(po, form):
        services.approve_purchase_order(po, approver=current_user)
        return _("Purchase order %(number)s approved.", number=po.number)
    return _decide(po_id, ConfirmForm, act)


@bp.post("/purchase-orders/<int:po_id>/send-back")
@permission_required("procurement.approve")
def send_back_purchase_order(po_id: int):
    """Send an order awaiting approval back to draft with a reason."""
    def act(po, form):
        services.send_back_purchase_order(po, actor=current_user, reason=form.reason.data)
        return _("Purchase order %(number)s sent back to draft.", number=po.number)
    return _decide(po_id, ReasonForm, act)


@bp.post("/purchase-orders/<int:po_id>/order")
@permission_required("procurement.edit")
def mark_purchase_order_ordered(po_id: int):
    """Record that an approved order was sent to the supplier."""
    def act(po, form):
        services.mark_purchase_order_ordered(po, actor=current_user,
                                             ordered_on=form.ordered_on.data)
        return _("Purchase order %(number)s is ordered; expected %(date)s.", number=po.number,
                 date=format_date(po.expected_date))
    return _decide(po_id, OrderForm, act)


@bp.post("/purchase-orders/<int:po_id>/cancel")
@permission_required("procurement.edit")
def cancel_purchase_order(po_id: int):
    """Cancel an order before anything is received."""
    def act(po, form):
        services.cancel_purchase_order(po, actor=current_user, reason=form.reason.data)
        return _("Purchase order %(number)s cancelled.", number=po.reference)
    return _decide(po_id, ReasonForm, act)


@bp.post("/purchase-orders/<int:po_id>/close")
@permission_required("procurement.edit")
def close_purchase_order(po_id: int):
    """Close a (partly) received order; what remains is cancelled."""
    def act(po, form):
        remaining = sum(line.remaining_qty for line in po.lines)
        services.close_purchase_order(po, actor=current_user, reason=form.reason.data)
        if remaining:
            return ngettext("Purchase order %(number)s closed short: %(count)s unit cancelled.",
                            "Purchase order %(number)s closed short: %(count)s units cancelled.",
                            remaining, number=po.number, count=format_number(remaining))
        return _("Purchase order %(number)s closed.", number=po.number)
    return _decide(po_id, ReasonForm, act)


@bp.get("/purchase-orders/<int:po_id>/pdf")
@permission_required("procurement.view")
def purchase_order_pdf(po_id: int):
    """Print the order for the supplier (A4 PDF)."""
    po = _load(po_id)
    company = documents.Company.from_settings()
    data = documents.purchase_order_pdf(po, company=company, total=_totals(po)["total"])
    return pdf_response(data, f"purchase-order-{po.number or f'draft-{po.id}'}")
