"""Landed cost screens: the list, the draft form, the page with its allocation, post, reverse."""

from __future__ import annotations

from decimal import Decimal

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from erp.core import exports as core_exports
from erp.core.errors import DomainError
from erp.core.excel import template_workbook
from erp.core.i18n import _, format_money, ngettext
from erp.core.permissions import has_permission, permission_required
from erp.core.settings import base_currency
from erp.core.viewhelpers import get_or_404, paginate_rows, xlsx_response
from erp.extensions import db
from erp.procurement import landed_cost_excel, services
from erp.procurement import landed_cost_queries as queries
from erp.procurement.forms import ConfirmForm, ReasonForm
from erp.procurement.landed_cost_forms import LandedCostForm
from erp.procurement.models import (
    CHARGE_KIND_LABELS,
    LANDED_COST_STATES,
    SPLIT_METHOD_LABELS,
    LandedCost,
    LandedCostState,
)
from erp.procurement.views import bp
from erp.warehouse import services as warehouse_services


def landed_cost_filters() -> queries.LandedCostFilters:
    """Read the landed cost list's search and state from the query string."""
    state = request.args.get("state") or None
    return queries.LandedCostFilters(
        q=(request.args.get("q") or "").strip()[:64] or None,
        state=state if state in LandedCostState.__members__ else None)


@bp.get("/landed-costs")
@permission_required("procurement.view")
def landed_cost_list():
    """List landed costs, newest first, with search (number, receipt, PO, forwarder)."""
    filters = landed_cost_filters()
    page = paginate_rows(queries.landed_cost_list_query(filters),
                         count=queries.landed_cost_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("procurement/landed_cost_list.html", page=page, filters=filters,
                           machine=LANDED_COST_STATES, methods=SPLIT_METHOD_LABELS,
                           states=list(LandedCostState), base=base_currency())


@bp.get("/landed-costs/export.xlsx")
@permission_required("procurement.view")
def export_landed_costs():
    """Download the landed costs the list shows (same search and state) as Excel."""
    return core_exports.respond(queries.LIST_EXPORT.name, landed_cost_filters())


def _charges(form: LandedCostForm) -> list[services.ChargeSpec]:
    base = base_currency()
    return [services.ChargeSpec(row.kind.data, row.amount.data,
                                (row.currency.data or "").strip() or base, row.vendor.data)
            for row in form.charges if row.amount.data is not None]


def _show_error(form: LandedCostForm, err: DomainError) -> None:
    field = err.field or ""
    if field == "receipts":
        form.receipts.errors = [*form.receipts.errors, str(err)]
    elif field == "method":
        form.method.errors = [*form.method.errors, str(err)]
    else:
        flash(str(err), "error")


def _save(form: LandedCostForm, lc: LandedCost | None):
    """Create or update the draft from the posted form; return the response or None."""
    try:
        receipts = services.find_receipts(form.receipts.data)
        if lc is None:
            lc = services.create_landed_cost(receipts=receipts, charges=_charges(form),
                                             method=form.method.data, note=form.note.data,
                                             actor=current_user)
        else:
            services.update_landed_cost(lc, receipts=receipts, charges=_charges(form),
                                        method=form.method.data, note=form.note.data,
                                        actor=current_user)
    except DomainError as err:
        db.session.rollback()
        _show_error(form, err)
        return None
    db.session.commit()
    flash(_("Landed cost %(number)s saved as a draft; check the allocation, then post it.",
            number=lc.number), "success")
    return redirect(url_for(".landed_cost_detail", lc_id=lc.id))


@bp.route("/landed-costs/new", methods=["GET", "POST"])
@permission_required("procurement.edit")
def create_landed_cost():
    """Draft a landed cost: receipts (or PO numbers), split method and charges."""
    form = LandedCostForm()
    if request.method == "GET":
        form.receipts.data = (request.args.get("receipts") or "")[:5000]
        for row in form.charges:
            row.currency.data = base_currency()
    elif form.validate_on_submit():
        response = _save(form, None)
        if response is not None:
            return response
    return render_template("procurement/landed_cost_form.html", form=form, lc=None,
                           base=base_currency()), 200 if request.method == "GET" else 422


@bp.route("/landed-costs/<int:lc_id>/edit", methods=["GET", "POST"])
@permission_required("procurement.edit")
def edit_landed_cost(lc_id: int):
    """Change a draft's receipts, split method, charges and note."""
    lc = get_or_404(LandedCost, lc_id)
    if lc.state != LandedCostState.draft:
        flash(_("Landed cost %(number)s is %(state)s; only a draft can be edited.",
                number=lc.number, state=LANDED_COST_STATES.label(lc.state)), "error")
        return redirect(url_for(".landed_cost_detail", lc_id=lc.id))
    form = LandedCostForm()
    if request.method == "GET":
        form.receipts.data = "\n".join(r.number for r in lc.receipts)
        form.method.data = lc.method.value
        form.note.data = lc.note
        while len(form.charges) < len(lc.charges) + 2:
            form.charges.append_entry()
        for row, charge in zip(form.charges, lc.charges, strict=False):
            row.kind.data, row.amount.data = charge.kind.value, charge.amount
            row.currency.data, row.vendor.data = charge.currency, charge.vendor
        for row in list(form.charges)[len(lc.charges):]:
            row.currency.data = base_currency()
    elif form.validate_on_submit():
        response = _save(form, lc)
        if response is not None:
            return response
    return render_template("procurement/landed_cost_form.html", form=form, lc=lc,
                           base=base_currency(), confirm_form=ConfirmForm()), \
        200 if request.method == "GET" else 422


def _posted_lines(lc: LandedCost) -> list[dict]:
    """Return the stored allocation per receipt line: basis, share of each charge, total."""
    order = {c.id: i for i, c in enumerate(lc.charges)}
    lines: dict[int, dict] = {}
    for a in lc.allocations:
        rl = a.receipt_line
        line = lines.setdefault(a.receipt_line_id, {
            "receipt": rl.receipt, "order_number": rl.receipt.order.reference,
            "sku_code": a.sku.code, "sku_id": a.sku_id, "quantity": a.quantity,
            "basis": a.basis, "shares": [Decimal("0.00")] * len(order),
            "total": Decimal("0.00")})
        line["shares"][order[a.charge_id]] = a.amount
        line["total"] += a.amount
    return [lines[k] for k in sorted(lines)]


@bp.get("/landed-costs/<int:lc_id>")
@permission_required("procurement.view")
def landed_cost_detail(lc_id: int):
    """Show a landed cost: charges, receipts, the allocation (a preview while a draft)."""
    lc = get_or_404(LandedCost, lc_id)
    preview, preview_error, lines = None, None, []
    if lc.state == LandedCostState.draft:
        try:
            preview = services.allocate(lc)
        except DomainError as err:
            preview_error = str(err)
        else:
            lines = [{"receipt_number": line.receipt_number, "order_number": line.order_number,
                      "sku_code": line.sku_code, "sku_id": line.sku_id,
                      "quantity": line.quantity, "basis": line.basis,
                      "shares": line.shares, "total": line.total}
                     for line in preview.lines]
    else:
        lines = [{**line, "receipt_number": line["receipt"].number}
                 for line in _posted_lines(lc)]
    adjustments = warehouse_services.value_adjustments_for(services.LANDED_COST_REF, lc.id)
    return render_template(
        "procurement/landed_cost_detail.html", lc=lc, machine=LANDED_COST_STATES,
        methods=SPLIT_METHOD_LABELS, kinds=CHARGE_KIND_LABELS, base=base_currency(),
        preview=preview, preview_error=preview_error, lines=lines, adjustments=adjustments,
        confirm_form=ConfirmForm(), reason_form=ReasonForm(),
        can_post=lc.state == LandedCostState.draft
        and has_permission(current_user, "procurement.approve"),
        can_edit=lc.state == LandedCostState.draft
        and has_permission(current_user, "procurement.edit"),
        can_reverse=lc.state == LandedCostState.posted
        and has_permission(current_user, "procurement.approve"))


@bp.post("/landed-costs/<int:lc_id>/post")
@permission_required("procurement.approve")
def post_landed_cost(lc_id: int):
    """Post a draft landed cost: store its allocation and revalue the stock."""
    lc = get_or_404(LandedCost, lc_id)
    if not ConfirmForm().validate_on_submit():
        flash(_("The form expired; try again."), "error")
        return redirect(url_for(".landed_cost_detail", lc_id=lc.id))
    services.post_landed_cost(lc, actor=current_user)
    db.session.commit()
    flash(_("Landed cost %(number)s posted: %(total)s spread over its receipts.",
            number=lc.number, total=format_money(lc.total_base, base_currency())), "success")
    return redirect(url_for(".landed_cost_detail", lc_id=lc.id))


@bp.post("/landed-costs/<int:lc_id>/reverse")
@permission_required("procurement.approve")
def reverse_landed_cost(lc_id: int):
    """Reverse a posted landed cost: the same spread with the opposite sign."""
    lc = get_or_404(LandedCost, lc_id)
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("The reason is too long."), "error")
        return redirect(url_for(".landed_cost_detail", lc_id=lc.id))
    services.reverse_landed_cost(lc, actor=current_user, reason=form.reason.data)
    db.session.commit()
    flash(_("Landed cost %(number)s reversed.", number=lc.number), "success")
    return redirect(url_for(".landed_cost_detail", lc_id=lc.id))


# --------------------------------------------------------------------------- charges (Excel)

#: import errors shown on the page at most (the rest are counted)
SHOWN_ERRORS = 20


@bp.get("/landed-costs/charges-template.xlsx")
@permission_required("procurement.edit")
def landed_cost_charges_template():
    """Download an empty charges sheet (kind, amount, currency, forwarder) to fill in."""
    return xlsx_response(template_workbook(landed_cost_excel.CHARGE_SPEC), "landed-cost-charges")


@bp.post("/landed-costs/<int:lc_id>/charges/import")
@permission_required("procurement.edit")
def import_landed_cost_charges(lc_id: int):
    """Replace a draft's charges with an uploaded sheet (or check it first: dry run)."""
    lc = get_or_404(LandedCost, lc_id)
    upload = request.files.get("file")
    if not ConfirmForm().validate_on_submit() or upload is None or not upload.filename:
        flash(_("Choose a workbook or CSV file of charges to import."), "error")
        return redirect(url_for(".edit_landed_cost", lc_id=lc.id))
    dry_run = request.form.get("dry_run") == "yes"
    result = landed_cost_excel.import_charges(lc, upload.read(), filename=upload.filename,
                                              dry_run=dry_run, actor=current_user)
    if result.errors or dry_run:
        db.session.rollback()
        for error in result.errors[:SHOWN_ERRORS]:
            flash(str(error), "error")
        if len(result.errors) > SHOWN_ERRORS:
            more = len(result.errors) - SHOWN_ERRORS
            flash(ngettext("…and %(count)s more error.", "…and %(count)s more errors.", more,
                           count=more), "error")
        for message in result.messages:
            flash(message, "success")
        return redirect(url_for(".edit_landed_cost", lc_id=lc.id))
    db.session.commit()
    flash(_("Landed cost %(number)s: %(count)s charges imported; check the allocation, then "
            "post it.", number=lc.number, count=result.updated), "success")
    return redirect(url_for(".landed_cost_detail", lc_id=lc.id))
