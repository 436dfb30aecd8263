"""Reason code screens: the list, adding and editing a reason, deactivating one."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional

from erp.aftersales.models import AfterSalesCase, ReasonCode
from erp.aftersales.services import reasons as services
from erp.aftersales.views import bp
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, ngettext
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404
from erp.extensions import db


class ReasonForm(FlaskForm):
    """A reason code: code, name, place in the list, whether it is offered."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=30)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    sort_order = IntegerField(_l("Sort order"), validators=[Optional()])
    active = BooleanField(_l("Offered for new cases"), default=True)


class ConfirmForm(FlaskForm):
    """An empty form that carries the CSRF token."""


@bp.get("/reasons")
@permission_required("aftersales.view")
def reason_list():
    """List the reason codes with how many cases use each."""
    used = dict(db.session.execute(select(AfterSalesCase.reason_id, func.count())
                                   .group_by(AfterSalesCase.reason_id)).all())
    return render_template("aftersales/reasons/list.html", reasons=services.all_reasons(),
                           used=used, confirm=ConfirmForm(),
                           missing=_missing_defaults())


def _missing_defaults() -> list[str]:
    existing = set(db.session.scalars(select(ReasonCode.code)))
    return [code for code, _ in services.DEFAULT_REASONS if code not in existing]


@bp.route("/reasons/new", methods=["GET", "POST"])
@permission_required("aftersales.edit")
def reason_new():
    """Add a reason code."""
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            reason = services.create_reason(code=form.code.data, name=form.name.data,
                                            sort_order=form.sort_order.data,
                                            actor=current_user)
            if not form.active.data:
                services.deactivate_reason(reason, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Reason %(code)s added.", code=reason.code), "success")
            return redirect(url_for(".reason_list"))
    status = 422 if request.method == "POST" else 200
    return render_template("aftersales/reasons/form.html", form=form, reason=None), status


@bp.route("/reasons/<int:reason_id>/edit", methods=["GET", "POST"])
@permission_required("aftersales.edit")
def reason_edit(reason_id: int):
    """Edit a reason code (its cases keep it)."""
    reason = get_or_404(ReasonCode, reason_id)
    form = ReasonForm(obj=reason)
    if form.validate_on_submit():
        try:
            services.update_reason(reason, code=form.code.data, name=form.name.data,
                                   sort_order=form.sort_order.data, active=form.active.data,
                                   actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Reason %(code)s saved.", code=reason.code), "success")
            return redirect(url_for(".reason_list"))
    status = 422 if request.method == "POST" else 200
    return render_template("aftersales/reasons/form.html", form=form, reason=reason), status


@bp.post("/reasons/<int:reason_id>/deactivate")
@permission_required("aftersales.edit")
def reason_deactivate(reason_id: int):
    """Stop offering a reason for new cases."""
    reason = get_or_404(ReasonCode, reason_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.deactivate_reason(reason, actor=current_user)
    db.session.commit()
    flash(_("Reason %(code)s is no longer offered.", code=reason.code), "success")
    return redirect(url_for(".reason_list"))


@bp.post("/reasons/<int:reason_id>/activate")
@permission_required("aftersales.edit")
def reason_activate(reason_id: int):
    """Offer a reason again."""
    reason = get_or_404(ReasonCode, reason_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.activate_reason(reason, actor=current_user)
    db.session.commit()
    flash(_("Reason %(code)s is offered again.", code=reason.code), "success")
    return redirect(url_for(".reason_list"))


@bp.post("/reasons/defaults")
@permission_required("aftersales.edit")
def reason_defaults():
    """Add the standard reasons that are missing."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    added = services.ensure_default_reasons(current_user)
    db.session.commit()
    flash(ngettext("%(num)d standard reason added.", "%(num)d standard reasons added.",
                   len(added)) if added else _("Every standard reason is already there."),
          "success")
    return redirect(url_for(".reason_list"))
