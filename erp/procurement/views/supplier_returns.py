"""Supplier return screens: returns, claims, supplier payments and the supplier statement.

A return's page adds lines and ships, closes or cancels it, and prints its PDF; a new return
starts blank or from the supplier's quarantine stock.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.core import exports
from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm
from erp.core.i18n import _, format_money, format_number
from erp.core.models import utcnow
from erp.core.permissions import has_permission, permission_required
from erp.core.queries import AuditFilters, audit_event_query
from erp.core.viewhelpers import (
    commit_or_refuse,
    form_errors,
    get_or_404,
    paginate_rows,
    pdf_response,
    xlsx_response,
)
from erp.extensions import db
from erp.procurement import documents, queries, return_exports, services
from erp.procurement import return_queries as rq
from erp.procurement.models import Supplier
from erp.procurement.return_forms import (
    PaymentForm,
    QuarantineReturnForm,
    ReasonForm,
    ReturnLineForm,
    SupplierReturnForm,
)
from erp.procurement.return_models import (
    SUPPLIER_CLAIM_STATES,
    SUPPLIER_RETURN_STATES,
    SupplierClaim,
    SupplierClaimState,
    SupplierReturn,
    SupplierReturnLine,
    SupplierReturnState,
)
from erp.procurement.services import supplier_returns as return_rules
from erp.procurement.views import bp
from erp.procurement.views.purchase_orders import offer_suppliers
from erp.procurement.views.suppliers import date_range
from erp.warehouse import services as warehouse_services

#: audit events shown on a return's page
HISTORY_LIMIT = 100
#: the statement's period when none is asked for
STATEMENT_DAYS = 90


def _post_form(form_class=ConfirmForm):
    form = form_class()
    if not form.validate_on_submit():
        abort(400)
    return form


def return_filters() -> rq.ReturnFilters:
    """Read the return list's search and filters from the query string."""
    state = request.args.get("state") or None
    supplier = request.args.get("supplier", type=int)
    return rq.ReturnFilters(
        q=(request.args.get("q") or "").strip()[:64] or None,
        state=state if state in SupplierReturnState.__members__ else None,
        supplier_id=supplier if supplier and supplier > 0 else None)


def claim_filters() -> rq.ClaimFilters:
    """Read the claim list's search and filters from the query string."""
    state = request.args.get("state") or None
    supplier = request.args.get("supplier", type=int)
    return rq.ClaimFilters(
        q=(request.args.get("q") or "").strip()[:64] or None,
        state=state if state in SupplierClaimState.__members__ or state == "outstanding"
        else None,
        supplier_id=supplier if supplier and supplier > 0 else None)


def _company() -> documents.Company:
    return documents.Company.from_settings()


# --------------------------------------------------------------------------- returns


@bp.get("/supplier-returns")
@permission_required("procurement.view")
def supplier_return_list():
    """List supplier returns: search number or supplier; filter state and supplier."""
    filters = return_filters()
    page = paginate_rows(rq.supplier_return_list_query(filters),
                         count=rq.supplier_return_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("procurement/supplier_return_list.html", page=page, filters=filters,
                           machine=SUPPLIER_RETURN_STATES, claims=SUPPLIER_CLAIM_STATES,
                           states=list(SupplierReturnState),
                           suppliers=queries.supplier_options())


@bp.get("/supplier-returns/export.xlsx")
@permission_required("procurement.view")
def export_supplier_returns():
    """Download the returns the list shows (same filters) as an Excel workbook."""
    return exports.respond(return_exports.RETURN_EXPORT.name, return_filters())


@bp.route("/supplier-returns/new", methods=["GET", "POST"])
@permission_required("procurement.edit")
def create_supplier_return():
    """Start a draft return to a supplier; its lines are added on its page."""
    form = SupplierReturnForm()
    offer_suppliers(form)
    if form.validate_on_submit():
        supplier = db.session.get(Supplier, int(form.supplier_id.data))
        try:
            ret = services.create_supplier_return(supplier, actor=current_user,
                                                  note=form.note.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Draft return %(number)s to %(supplier)s started; add its lines.",
                    number=ret.number, supplier=supplier.code), "success")
            return redirect(url_for(".supplier_return_detail", return_id=ret.id))
    status = 422 if request.method == "POST" else 200
    return render_template("procurement/supplier_return_form.html", form=form), status


def _render_detail(ret: SupplierReturn, *, line_form: ReturnLineForm | None = None,
                   status: int = 200):
    lines = db.session.execute(rq.supplier_return_lines_query(ret.id)).all()
    claim = db.session.scalar(select(SupplierClaim).where(SupplierClaim.return_id == ret.id))
    history = db.session.scalars(audit_event_query(AuditFilters(
        entity_type="supplier_return", entity_id=str(ret.id))).limit(HISTORY_LIMIT)).all()
    edit = has_permission(current_user, "procurement.edit")
    actions = {"edit": edit and return_rules.can_edit(ret),
               "ship": edit and return_rules.can_ship(ret),
               "close": edit and return_rules.can_close(ret),
               "cancel": edit and return_rules.can_cancel(ret)}
    return render_template(
        "procurement/supplier_return_detail.html", ret=ret, lines=lines, claim=claim,
        machine=SUPPLIER_RETURN_STATES, claims=SUPPLIER_CLAIM_STATES, actions=actions,
        history=history, line_form=line_form or ReturnLineForm(), reason_form=ReasonForm(),
        confirm=ConfirmForm()), status


@bp.get("/supplier-returns/<int:return_id>")
@permission_required("procurement.view")
def supplier_return_detail(return_id: int):
    """Show a return: its lines, claim amount, claim, actions and history."""
    return _render_detail(get_or_404(SupplierReturn, return_id))


@bp.post("/supplier-returns/<int:return_id>/lines")
@permission_required("procurement.edit")
def add_supplier_return_line(return_id: int):
    """Add a line (SKU and bin scanned or typed) to a draft return."""
    ret = get_or_404(SupplierReturn, return_id)
    form = ReturnLineForm()
    if form.validate_on_submit():
        try:
            sku = warehouse_services.find_sku(form.sku.data)
            location = warehouse_services.find_bin(form.bin.data, field="bin")
            line = services.add_supplier_return_line(ret, services.ReturnLineSpec(
                sku.id, location.id, form.quantity.data, unit_price=form.unit_price.data,
                reason=form.reason.data), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Added %(qty)s × %(sku)s at %(price)s.", qty=format_number(line.quantity),
                    sku=sku.code, price=format_money(line.unit_price, ret.currency, 4)),
                  "success")
            return redirect(url_for(".supplier_return_detail", return_id=ret.id,
                                    _anchor="add-line"))
    return _render_detail(get_or_404(SupplierReturn, return_id), line_form=form, status=422)


@bp.post("/supplier-returns/<int:return_id>/lines/<int:line_id>/remove")
@permission_required("procurement.edit")
def remove_supplier_return_line(return_id: int, line_id: int):
    """Remove a line from a draft return."""
    line = get_or_404(SupplierReturnLine, line_id)
    if line.return_id != return_id:
        abort(404)
    _post_form()
    next_url = url_for(".supplier_return_detail", return_id=return_id)
    code = line.sku.code

    def act():
        services.remove_supplier_return_line(line, actor=current_user)
        return _("Line %(sku)s removed.", sku=code)
    return commit_or_refuse(act, next_url)


def _decide(return_id: int, action, form_class=ConfirmForm):
    ret = get_or_404(SupplierReturn, return_id)
    form = _post_form(form_class)
    next_url = url_for(".supplier_return_detail", return_id=ret.id)
    return commit_or_refuse(lambda: action(ret, form), next_url)


@bp.post("/supplier-returns/<int:return_id>/ship")
@permission_required("procurement.edit")
def ship_supplier_return(return_id: int):
    """Ship a draft return: its goods leave for the supplier and its claim is raised."""
    def act(ret, form):
        claim = services.ship_supplier_return(ret, actor=current_user)
        return _("Return %(number)s shipped; debit note %(claim)s claims %(amount)s.",
                 number=ret.number, claim=claim.number,
                 amount=format_money(claim.amount, claim.currency))
    return _decide(return_id, act)


@bp.post("/supplier-returns/<int:return_id>/close")
@permission_required("procurement.edit")
def close_supplier_return(return_id: int):
    """Close a shipped return."""
    def act(ret, form):
        services.close_supplier_return(ret, actor=current_user)
        return _("Return %(number)s closed.", number=ret.number)
    return _decide(return_id, act)


@bp.post("/supplier-returns/<int:return_id>/cancel")
@permission_required("procurement.edit")
def cancel_supplier_return(return_id: int):
    """Cancel a draft return, with a reason."""
    def act(ret, form):
        services.cancel_supplier_return(ret, actor=current_user, reason=form.reason.data)
        return _("Return %(number)s cancelled.", number=ret.number)
    return _decide(return_id, act, ReasonForm)


@bp.get("/supplier-returns/<int:return_id>/pdf")
@permission_required("procurement.view")
def supplier_return_pdf(return_id: int):
    """Print the return note that goes with the goods (A4 PDF)."""
    ret = get_or_404(SupplierReturn, return_id)
    claim = db.session.scalar(select(SupplierClaim).where(SupplierClaim.return_id == ret.id))
    return pdf_response(documents.supplier_return_pdf(ret, company=_company(), claim=claim),
                        f"supplier-return-{ret.number}")


@bp.route("/suppliers/<int:supplier_id>/quarantine", methods=["GET", "POST"])
@permission_required("procurement.edit")
def supplier_quarantine(supplier_id: int):
    """List the supplier's goods in quarantine; a new draft return takes the quantities typed."""
    supplier = get_or_404(Supplier, supplier_id)
    rows = rq.quarantine_stock(supplier.id)
    form = QuarantineReturnForm()
    if form.validate_on_submit():
        specs, errors = [], False
        for r in rows:
            raw = (request.form.get(f"qty-{r.sku_id}-{r.location_id}") or "").strip()
            if not raw:
                continue
            if not raw.isdigit():
                errors = True
                continue
            if int(raw):
                specs.append(services.ReturnLineSpec(
                    r.sku_id, r.location_id, int(raw), reason=form.reason.data,
                    ref_type=r.ref_type, ref_id=r.ref_id))
        if errors:
            flash(_("Enter whole quantities."), "error")
        elif not specs:
            flash(_("Enter a quantity to return on at least one row."), "error")
        else:
            try:
                ret = services.create_supplier_return(supplier, actor=current_user,
                                                      note=form.note.data, lines=specs)
            except DomainError as err:
                db.session.rollback()
                flash(str(err), "error")
            else:
                db.session.commit()
                flash(_("Draft return %(number)s started with %(count)s lines from quarantine.",
                        number=ret.number, count=len(specs)), "success")
                return redirect(url_for(".supplier_return_detail", return_id=ret.id))
    status = 422 if request.method == "POST" else 200
    return render_template("procurement/supplier_quarantine.html", supplier=supplier,
                           rows=rows, form=form), status


# --------------------------------------------------------------------------- claims


@bp.get("/supplier-claims")
@permission_required("procurement.view")
def supplier_claim_list():
    """List claims (debit notes): search number, return or supplier; filter state, supplier."""
    filters = claim_filters()
    page = paginate_rows(rq.claim_list_query(filters), count=rq.claim_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    approve = has_permission(current_user, "procurement.approve")
    return render_template("procurement/supplier_claim_list.html", page=page, filters=filters,
                           machine=SUPPLIER_CLAIM_STATES, states=list(SupplierClaimState),
                           suppliers=queries.supplier_options(), approve=approve,
                           rules=services, confirm=ConfirmForm(), reason_form=ReasonForm())


@bp.get("/supplier-claims/export.xlsx")
@permission_required("procurement.view")
def export_supplier_claims():
    """Download the claims the list shows (same filters) as an Excel workbook."""
    return exports.respond(return_exports.CLAIM_EXPORT.name, claim_filters())


@bp.post("/supplier-claims/<int:claim_id>/approve")
@permission_required("procurement.approve")
def approve_supplier_claim(claim_id: int):
    """Approve an open claim, so the next payment may deduct it."""
    claim = get_or_404(SupplierClaim, claim_id)
    _post_form()
    next_url = request.referrer or url_for(".supplier_claim_list")

    def act():
        services.approve_claim(claim, actor=current_user)
        return _("Claim %(number)s approved.", number=claim.number)
    return commit_or_refuse(act, next_url)


@bp.post("/supplier-claims/<int:claim_id>/cancel")
@permission_required("procurement.approve")
def cancel_supplier_claim(claim_id: int):
    """Cancel an open or approved claim, with a reason."""
    claim = get_or_404(SupplierClaim, claim_id)
    form = _post_form(ReasonForm)
    next_url = request.referrer or url_for(".supplier_claim_list")

    def act():
        services.cancel_claim(claim, actor=current_user, reason=form.reason.data)
        return _("Claim %(number)s cancelled.", number=claim.number)
    return commit_or_refuse(act, next_url)


# --------------------------------------------------------------------------- payments, statement


@bp.route("/suppliers/<int:supplier_id>/payments/new", methods=["GET", "POST"])
@permission_required("procurement.edit")
def record_supplier_payment(supplier_id: int):
    """Record a payment to a supplier, deducting the approved claims ticked."""
    supplier = get_or_404(Supplier, supplier_id)
    form = PaymentForm()
    if request.method == "GET":
        form.paid_on.data = utcnow().date()
    claims = rq.deductible_claims(supplier.id)
    chosen = {int(v) for v in request.form.getlist("claim") if v.isdigit()}
    if form.validate_on_submit():
        try:
            payment = services.record_supplier_payment(
                supplier, paid_on=form.paid_on.data, amount=form.amount.data,
                reference=form.reference.data, note=form.note.data, claim_ids=sorted(chosen),
                actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Payment of %(amount)s to %(supplier)s recorded; %(count)s claims deducted "
                    "(%(deducted)s).", amount=format_money(payment.amount, payment.currency),
                    supplier=supplier.code, count=len(payment.claims),
                    deducted=format_money(payment.deducted, payment.currency)), "success")
            return redirect(url_for(".supplier_statement", supplier_id=supplier.id))
    status = 422 if request.method == "POST" else 200
    return render_template("procurement/supplier_payment_form.html", supplier=supplier,
                           form=form, claims=claims, chosen=chosen), status


def _statement(supplier: Supplier):
    form, start, end = date_range(STATEMENT_DAYS)
    return form, rq.supplier_statement(supplier, start, end)


@bp.get("/suppliers/<int:supplier_id>/statement")
@permission_required("procurement.view")
def supplier_statement(supplier_id: int):
    """Show a supplier's statement over a period: orders, receipts, claims, payments, owed."""
    supplier = get_or_404(Supplier, supplier_id)
    try:
        form, statement = _statement(supplier)
    except DomainError as err:
        flash(str(err), "error")
        return redirect(url_for(".supplier_detail", supplier_id=supplier.id))
    return render_template("procurement/supplier_statement.html", supplier=supplier, form=form,
                           statement=statement, rows=return_exports.statement_rows(statement))


@bp.get("/suppliers/<int:supplier_id>/statement.xlsx")
@permission_required("procurement.view")
def export_supplier_statement(supplier_id: int):
    """Download the supplier's statement over the period as an Excel workbook."""
    supplier = get_or_404(Supplier, supplier_id)
    _form, statement = _statement(supplier)
    return xlsx_response(return_exports.export_statement(statement),
                         f"statement-{supplier.code}")

