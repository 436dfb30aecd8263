"""Inspection screens: lots, the lot page, concession and scrap, and switching.

The lot page shows the plan, the checklist with defect counts, photos and the decision; the
switching screen shows the state per supplier, specification and defect class.

Handheld-friendly: the list's search box takes a scanned lot number; the lot page's first count
has the focus and Enter saves the counts.
"""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select

import erp.quality.audit_text  # noqa: F401 - registers the audit log's sentences
from erp.brands.models import CHECK_KIND_LABELS, DEFECT_CLASS_LABELS, Specification
from erp.core import exports as core_exports
from erp.core.errors import DomainError, ValidationError
from erp.core.i18n import _, format_number
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import form_errors, get_or_404, page_arg
from erp.extensions import db
from erp.quality import exports, queries, services
from erp.quality import home as _home  # noqa: F401 - registers the home page's cards
from erp.quality import search as _search  # noqa: F401 - registers the header search's finder
from erp.quality.forms import (
    DecideForm,
    DefectsForm,
    PhotoForm,
    ReducedForm,
    ReleaseForm,
    ResumeForm,
    ScrapForm,
)
from erp.quality.models import (
    INSPECTION_STATES,
    SEVERITY_LABELS,
    Inspection,
    InspectionPhoto,
    InspectionState,
)

bp = Blueprint("quality", __name__)


def inspection_filters() -> exports.InspectionFilters:
    """Return the list's filters from the query string (pending lots by default)."""
    state = request.args.get("state", "open")
    if state not in {"open", "all", *(s.value for s in InspectionState)}:
        state = "open"
    return exports.InspectionFilters(q=(request.args.get("q") or "").strip()[:100] or None,
                                     state=None if state == "all" else state)


@bp.get("/inspections")
@permission_required("quality.view")
def inspection_list():
    """List inspection lots (pending first by default); a scanned lot number opens the lot."""
    filters = inspection_filters()
    if filters.q:
        exact = db.session.scalar(select(Inspection.id).where(
            Inspection.number == filters.q.upper()))
        if exact is not None:
            return redirect(url_for(".inspection_detail", inspection_id=exact))
    page = db.paginate(queries.inspection_list_query(q=filters.q, state=filters.state),
                       page=page_arg(), per_page=current_app.config["ERP_PAGE_SIZE"],
                       error_out=False)
    return render_template("quality/inspection_list.html", page=page, machine=INSPECTION_STATES,
                           states=InspectionState, state=request.args.get("state", "open"))


@bp.get("/inspections/export.xlsx")
@permission_required("quality.view")
def export_inspections():
    """Download the lots the list shows (same filters) as an Excel workbook."""
    return core_exports.respond(exports.LIST_EXPORT.name, inspection_filters())


def _render_detail(inspection: Inspection, *, status: int = 200, release_form=None,
                   scrap_form=None, photo_form=None, focus: str | None = None):
    severities = services.current_severity(inspection.supplier_id,
                                           inspection.spec_version.specification_id)
    defects = {d.check_id: d for d in inspection.defects}
    return render_template(
        "quality/inspection_detail.html", inspection=inspection, machine=INSPECTION_STATES,
        checks=inspection.spec_version.checks, defects=defects,
        found=services.class_counts(inspection), severities=severities,
        severity_labels=SEVERITY_LABELS, class_labels=DEFECT_CLASS_LABELS,
        kind_labels=CHECK_KIND_LABELS, defects_form=DefectsForm(), decide_form=DecideForm(),
        release_form=release_form or ReleaseForm(),
        scrap_form=scrap_form or ScrapForm(quantity=services.remaining_in_quarantine(inspection)),
        photo_form=photo_form or PhotoForm(), focus=focus,
        can_inspect=inspection.is_pending and has_permission(current_user, "quality.inspect"),
        can_release=(inspection.state == InspectionState.rejected
                     and has_permission(current_user, "quality.release"))), status


@bp.get("/inspections/<int:inspection_id>")
@permission_required("quality.view")
def inspection_detail(inspection_id: int):
    """Show a lot: plan per class, the checklist with defect counts, photos, decision."""
    return _render_detail(get_or_404(Inspection, inspection_id))


def _int_or_none(raw: str | None, field: str):
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise ValidationError(_("Enter a whole number of defects; got %(value)s.",
                                value=text), field=field) from None


@bp.post("/inspections/<int:inspection_id>/defects")
@permission_required("quality.inspect")
def record_inspection_defects(inspection_id: int):
    """Save the defect counts, notes and measurements of the lot's checks."""
    inspection = get_or_404(Inspection, inspection_id)
    if not DefectsForm().validate_on_submit():
        abort(400)
    try:
        entries = {}
        for check in inspection.spec_version.checks:
            if f"count-{check.id}" not in request.form:
                continue
            entries[check.id] = services.DefectEntry(
                count=_int_or_none(request.form.get(f"count-{check.id}"), f"count-{check.id}"),
                note=request.form.get(f"note-{check.id}"),
                measurements=request.form.get(f"measurements-{check.id}"))
        changed = services.record_defects(inspection, entries, actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        return _render_detail(inspection, status=422, focus=err.field)
    db.session.commit()
    flash(_("Defects of %(number)s saved (%(count)s checks changed).",
            number=inspection.number, count=format_number(changed)), "success")
    return redirect(url_for(".inspection_detail", inspection_id=inspection.id))


@bp.post("/inspections/<int:inspection_id>/decide")
@permission_required("quality.inspect")
def decide_inspection(inspection_id: int):
    """Accept or reject the lot by its plan; the goods move on accordingly."""
    inspection = get_or_404(Inspection, inspection_id)
    form = DecideForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.decide_inspection(inspection, actor=current_user, note=form.note.data)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        return _render_detail(inspection, status=422)
    db.session.commit()
    if inspection.state == InspectionState.accepted:
        flash(_("%(number)s accepted: %(qty)s units went to %(bin)s for put-away.",
                number=inspection.number, qty=format_number(inspection.lot_size),
                bin=inspection.release_location.label), "success")
    else:
        flash(_("%(number)s rejected: %(qty)s units went to quarantine in %(bin)s.",
                number=inspection.number, qty=format_number(inspection.lot_size),
                bin=inspection.quarantine_location.label), "warning")
    return redirect(url_for(".inspection_detail", inspection_id=inspection.id))


@bp.post("/inspections/<int:inspection_id>/release")
@permission_required("quality.release")
def release_inspection(inspection_id: int):
    """Release a rejected lot as a concession (a reason is required)."""
    inspection = get_or_404(Inspection, inspection_id)
    form = ReleaseForm()
    if form.validate_on_submit():
        try:
            services.release_inspection(inspection, actor=current_user, reason=form.reason.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("%(number)s released as a concession; its goods went to %(bin)s.",
                    number=inspection.number, bin=inspection.release_location.label),
                  "success")
            return redirect(url_for(".inspection_detail", inspection_id=inspection.id))
    return _render_detail(inspection, status=422, release_form=form)


@bp.post("/inspections/<int:inspection_id>/scrap")
@permission_required("quality.release")
def scrap_inspection(inspection_id: int):
    """Scrap units of a rejected lot."""
    inspection = get_or_404(Inspection, inspection_id)
    form = ScrapForm()
    if form.validate_on_submit():
        try:
            services.scrap_inspection(inspection, form.quantity.data, actor=current_user,
                                      reason=form.reason.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("%(qty)s units of %(number)s scrapped.", number=inspection.number,
                    qty=format_number(form.quantity.data)), "success")
            return redirect(url_for(".inspection_detail", inspection_id=inspection.id))
    return _render_detail(inspection, status=422, scrap_form=form)


@bp.post("/inspections/<int:inspection_id>/photos")
@permission_required("quality.inspect")
def add_inspection_photo(inspection_id: int):
    """Upload a photo of the lot (or of one of its defects)."""
    inspection = get_or_404(Inspection, inspection_id)
    form = PhotoForm()
    if form.validate_on_submit():
        upload = form.photo.data
        defect_id = int(form.defect_id.data) if (form.defect_id.data or "").isdigit() else None
        try:
            photo = services.add_photo(inspection, filename=upload.filename, data=upload.read(),
                                       actor=current_user, defect_id=defect_id)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Photo %(file)s added to %(number)s.", file=photo.filename,
                    number=inspection.number), "success")
            return redirect(url_for(".inspection_detail", inspection_id=inspection.id))
    return _render_detail(inspection, status=422, photo_form=form)


@bp.get("/photos/<int:photo_id>")
@permission_required("quality.view")
def inspection_photo(photo_id: int):
    """Show a photo of a lot (an image checked at upload)."""
    photo = get_or_404(InspectionPhoto, photo_id)
    response = send_file(io.BytesIO(photo.data), mimetype=photo.mime,
                         download_name=photo.filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --------------------------------------------------------------------------- switching


def _switching_rows():
    """Group the switching states by supplier and specification for the screen."""
    rows = queries.switching_rows()
    spec_ids = {state.specification_id for state, _policy in rows}
    specs = {s.id: s for s in db.session.scalars(
        select(Specification).where(Specification.id.in_(spec_ids)))} if spec_ids else {}
    names = queries.supplier_names({state.supplier_id for state, _policy in rows})
    groups: dict[tuple[int, int], dict] = {}
    for state, policy in rows:
        key = (state.supplier_id, state.specification_id)
        group = groups.setdefault(key, {
            "supplier_id": state.supplier_id,
            "supplier": names.get(state.supplier_id) or f"#{state.supplier_id}",
            "specification_id": state.specification_id,
            "specification": specs[state.specification_id],
            "reduced_allowed": bool(policy and policy.reduced_allowed), "classes": [],
            "discontinued": False})
        group["classes"].append(state)
        group["discontinued"] = group["discontinued"] or state.discontinued
    return list(groups.values())


@bp.get("/switching")
@permission_required("quality.view")
def switching_list():
    """Show the switching state of each supplier and specification, class by class."""
    return render_template("quality/switching_list.html", groups=_switching_rows(),
                           severity_labels=SEVERITY_LABELS, class_labels=DEFECT_CLASS_LABELS,
                           reduced_form=ReducedForm(), resume_form=ResumeForm(),
                           can_manage=has_permission(current_user, "quality.release"))


def _pair(form) -> tuple[int, int]:
    try:
        return int(form.supplier_id.data), int(form.specification_id.data)
    except (TypeError, ValueError):
        abort(400)


@bp.post("/switching/reduced")
@permission_required("quality.release")
def set_reduced_allowed():
    """Allow or stop reduced inspection for a supplier and specification."""
    form = ReducedForm()
    if not form.validate_on_submit():
        abort(400)
    supplier_id, specification_id = _pair(form)
    get_or_404(Specification, specification_id)
    services.set_reduced_allowed(supplier_id, specification_id, form.allowed.data,
                                 actor=current_user)
    db.session.commit()
    flash(_("Reduced inspection is now allowed.") if form.allowed.data
          else _("Reduced inspection is no longer allowed."), "success")
    return redirect(url_for(".switching_list"))


@bp.post("/switching/resume")
@permission_required("quality.release")
def resume_inspection():
    """Resume a discontinued inspection at tightened."""
    form = ResumeForm()
    if not form.validate_on_submit():
        abort(400)
    supplier_id, specification_id = _pair(form)
    get_or_404(Specification, specification_id)
    try:
        services.resume_inspection(supplier_id, specification_id, actor=current_user,
                                   note=form.note.data)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
    else:
        db.session.commit()
        flash(_("Inspection resumed at tightened."), "success")
    return redirect(url_for(".switching_list"))
