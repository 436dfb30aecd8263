"""The personal-data screen: look up an e-mail, export its data, anonymise it.

E-mails travel in POST bodies only, never in URLs, so they stay out of access logs and history.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, send_file, url_for
from flask_login import current_user

import erp.privacy.audit_text  # noqa: F401 - registers the audit log's sentences
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, xlsx_response
from erp.extensions import db
from erp.privacy import services
from erp.privacy.forms import AnonymiseForm, ExportForm, SearchForm

bp = Blueprint("privacy", __name__)


def _page(search: SearchForm, summary: services.SubjectSummary | None,
          anonymise: AnonymiseForm | None = None, status: int = 200):
    email = summary.email if summary else None
    export = ExportForm(formdata=None, email=email)
    anonymise = anonymise or AnonymiseForm(formdata=None, email=email)
    return render_template("privacy/subject.html", form=search, summary=summary,
                           export_form=export, anonymise_form=anonymise,
                           kinds=services.KINDS), status


@bp.route("/", methods=["GET", "POST"])
@permission_required("privacy.export")
def subject_page():
    """Search an e-mail and show what is held about it."""
    form = SearchForm()
    summary = None
    if form.validate_on_submit():
        try:
            summary = services.find_subject(form.email.data)
        except ValidationError as err:
            form_errors(form, err)
    return _page(form, summary)


@bp.post("/export")
@permission_required("privacy.export")
def export_subject():
    """Download everything held about an e-mail, as Excel or JSON (audited)."""
    form = ExportForm()
    if not form.validate_on_submit():
        flash(_("To export personal data, search the customer's e-mail first."), "error")
        return redirect(url_for(".subject_page"))
    summary = services.find_subject(form.email.data)  # a bad e-mail: DomainError handler
    if not summary.found:
        flash(summary.message, "info")
        return redirect(url_for(".subject_page"))
    name = f"personal-data-{services.subject_hash(summary.email)[:10]}"
    if form.format.data == "json":
        data = services.export_subject_json(summary.email)
    else:
        data = services.export_subject_xlsx(summary.email)
    services.log_export(summary.email, actor=current_user, fmt=form.format.data,
                        counts=summary.counts)
    db.session.commit()
    if form.format.data == "json":
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
        return send_file(io.BytesIO(data), as_attachment=True, mimetype="application/json",
                         download_name=f"{name}-{stamp}.json")
    return xlsx_response(data, name)


@bp.post("/anonymise")
@permission_required("privacy.anonymise")
def anonymise_subject():
    """Anonymise everything held about an e-mail once it is typed again and a reason given."""
    form = AnonymiseForm()
    search = SearchForm(formdata=None, email=form.email.data)
    if form.validate_on_submit():
        try:
            if services.normalise_email(form.confirm_email.data) != \
                    services.normalise_email(form.email.data):
                raise ValidationError(_("To anonymise personal data, you must type the same "
                                        "e-mail again."), field="confirm_email")
            result = services.anonymise_subject(form.email.data, actor=current_user,
                                                reason=form.reason.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(result.message, "success" if result.found else "info")
            return redirect(url_for(".subject_page"))
    try:
        summary = services.find_subject(form.email.data)
    except ValidationError:
        summary = None
    return _page(search, summary, anonymise=form, status=422)
