"""Refund screens: the refund list and approvals, a case's refund form, replacements, finance.

The export for finance downloads approved refunds; confirming it stamps them as exported.
"""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from erp.aftersales import exports
from erp.aftersales.models import (
    CASE_STATES,
    REFUND_KIND_LABELS,
    REFUND_STATES,
    AfterSalesCase,
    Refund,
    RefundKind,
    RefundState,
)
from erp.aftersales.queries import type_label
from erp.aftersales.services import resolution as services
from erp.aftersales.views import bp
from erp.core import settings as core_settings
from erp.core.errors import DomainError
from erp.core.excel import export_workbook
from erp.core.i18n import _, _l, format_money, ngettext
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import (
    commit_or_refuse,
    form_errors,
    get_or_404,
    paginate_rows,
    xlsx_response,
)
from erp.extensions import db
from erp.orders.models import ORDER_STATES

KIND_LABELS = REFUND_KIND_LABELS


class RefundForm(FlaskForm):
    """Request a refund for a case."""

    kind = SelectField(_l("Kind"), choices=[(k.value, label) for k, label in KIND_LABELS.items()],
                       validators=[DataRequired()])
    amount = DecimalField(_l("Amount"), places=2, validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    override = BooleanField(_l("Override: refund more than the lines are worth (managers)"))


class RejectForm(FlaskForm):
    """Reject a pending refund: the reason."""

    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class ConfirmExportForm(FlaskForm):
    """Confirm that finance received the refunds of the file (their ids)."""

    ids = HiddenField(validators=[DataRequired()])


class ConfirmForm(FlaskForm):
    """An empty form that carries the CSRF token (approve, replacement)."""


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def refund_filters() -> exports.RefundFilters:
    """Read the refund list's search and filters from the query string."""
    state, kind = request.args.get("state") or None, request.args.get("kind") or None
    return exports.RefundFilters(
        q=(request.args.get("q") or "").strip()[:60] or None,
        state=state if state in RefundState.__members__ else None,
        kind=kind if kind in RefundKind.__members__ else None,
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"))


@bp.get("/refunds")
@permission_required("aftersales.view")
def refund_list():
    """List refunds, pending approvals first: filter by state, kind and period."""
    filters = refund_filters()
    page = paginate_rows(exports.refund_list_query(filters),
                         count=exports.refund_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("aftersales/refunds/list.html", page=page, filters=filters,
                           machine=REFUND_STATES, states=list(RefundState),
                           kinds=KIND_LABELS, approver=has_permission(current_user,
                                                                      "aftersales.approve"),
                           pending=exports.pending_refund_count(), reject_form=RejectForm(),
                           confirm=ConfirmForm())


@bp.get("/refunds/export.xlsx")
@permission_required("aftersales.view")
def export_refund_list():
    """Download the refunds the list shows (same search and filters) as an Excel workbook."""
    rows = db.session.execute(exports.refund_list_query(refund_filters()))
    data = export_workbook(exports.list_spec(), ({
        **r._mapping, "kind": str(KIND_LABELS[RefundKind(r.kind)]),
        "state": REFUND_STATES.label(r.state)} for r in rows))
    return xlsx_response(data, "refunds")


def _decide(refund_id: int, action, success):
    """Run ``action(refund)``; ``success(rma, amount)`` returns the message to flash."""
    refund = get_or_404(Refund, refund_id)

    def run():
        action(refund)
        return success(rma=refund.case.number,
                       amount=format_money(refund.amount, refund.currency))
    return commit_or_refuse(run, request.referrer or url_for(".refund_list"))


@bp.post("/refunds/<int:refund_id>/approve")
@permission_required("aftersales.approve")
def refund_approve(refund_id: int):
    """Approve a pending refund."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _decide(refund_id, lambda r: services.approve_refund(r, actor=current_user),
                   lambda **v: _("Refund of %(amount)s for %(rma)s approved.", **v))


@bp.post("/refunds/<int:refund_id>/reject")
@permission_required("aftersales.approve")
def refund_reject(refund_id: int):
    """Reject a pending refund with a reason."""
    form = RejectForm()
    if not form.validate_on_submit():
        get_or_404(Refund, refund_id)
        flash(_("Give the reason for rejecting the refund."), "error")
        return redirect(url_for(".refund_list"))
    return _decide(refund_id, lambda r: services.reject_refund(
        r, reason=form.reason.data, actor=current_user),
        lambda **v: _("Refund of %(amount)s for %(rma)s rejected.", **v))


@bp.route("/cases/<int:case_id>/refunds/new", methods=["GET", "POST"])
@permission_required("aftersales.edit")
def refund_new(case_id: int):
    """Request a refund for a case: the refundable amount is shown, managers may override."""
    case = get_or_404(AfterSalesCase, case_id)
    form = RefundForm()
    approver = has_permission(current_user, "aftersales.approve")
    if request.method == "GET":
        form.amount.data = services.refundable_amount(case)
    if form.validate_on_submit():
        try:
            refund = services.request_refund(
                case, amount=form.amount.data, kind=form.kind.data, note=form.note.data,
                override=bool(form.override.data) and approver, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            money = format_money(refund.amount, refund.currency)
            if refund.state == RefundState.pending:
                flash(_("Refund of %(amount)s for %(rma)s is waiting for a manager's approval.",
                        amount=money, rma=case.number), "success")
            else:
                flash(_("Refund of %(amount)s for %(rma)s approved.", amount=money,
                        rma=case.number), "success")
            return redirect(url_for(".case_detail", case_id=case.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "aftersales/refunds/form.html", form=form, case=case, approver=approver,
        type_label=type_label, machine=CASE_STATES,
        refundable=services.refundable_amount(case), value=services.case_value(case),
        threshold=core_settings.get("refund_approval_threshold"),
        base_currency=core_settings.base_currency(), keep_it=services.can_keep_it(case),
        open_refund=services.can_request_refund(case, current_user)), status


@bp.post("/cases/<int:case_id>/replacement")
@permission_required("aftersales.edit")
def replacement_create(case_id: int):
    """Create the case's replacement order (allocated at once) and link it."""
    case = get_or_404(AfterSalesCase, case_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        order = services.create_replacement(case, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(_("Replacement order %(order)s created for %(case)s (%(state)s).",
                order=order.number, case=case.number, state=ORDER_STATES.label(order.state)),
              "success")
    return redirect(url_for(".case_detail", case_id=case.id))


# --------------------------------------------------------------------------- finance


def _finance_args() -> dict:
    scope = request.args.get("scope") or "unexported"
    if scope == "period":
        return {"date_from": _date_arg("date_from"), "date_to": _date_arg("date_to"),
                "unexported_only": False}
    return {"unexported_only": True}


@bp.get("/refunds/finance")
@permission_required("aftersales.report")
def refund_finance():
    """The export for finance: refunds not exported yet, or approved in a period."""
    args = _finance_args()
    rows = exports.finance_rows(exports.finance_refunds_query(**args))
    unexported = [r["refund_id"] for r in rows]
    totals: dict[str, object] = {}
    for r in rows:
        totals[r["currency"]] = totals.get(r["currency"], 0) + r["amount"]
    form = ConfirmExportForm(ids=",".join(str(i) for i in unexported))
    return render_template("aftersales/refunds/finance.html", rows=rows, totals=totals,
                           scope=request.args.get("scope") or "unexported", form=form,
                           date_from=_date_arg("date_from"), date_to=_date_arg("date_to"))


@bp.get("/refunds/finance.xlsx")
@permission_required("aftersales.report")
def export_refunds_finance():
    """Download the refunds for finance (same scope as the finance page) as Excel."""
    return xlsx_response(exports.export_refunds(**_finance_args()), "refunds-finance")


@bp.post("/refunds/finance/mark-exported")
@permission_required("aftersales.report")
def mark_refunds_exported():
    """Confirm that finance has the file: stamp its refunds as exported."""
    form = ConfirmExportForm()
    if not form.validate_on_submit():
        flash(_("Nothing to mark as exported."), "error")
        return redirect(url_for(".refund_finance"))
    try:
        ids = [int(i) for i in form.ids.data.split(",") if i.strip()]
    except ValueError:
        abort(400)
    count = exports.mark_exported(ids, actor=current_user)
    db.session.commit()
    flash(ngettext("%(num)d refund marked as exported.", "%(num)d refunds marked as exported.",
                   count), "success")
    return redirect(url_for(".refund_finance"))
