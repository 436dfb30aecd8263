"""Brand screens: brands with trademarks and logos, specifications and their versions, Excel."""

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

import erp.brands.audit_text  # noqa: F401 - registers the audit log's sentences
from erp.brands import excel as brand_excel
from erp.brands import home as _home  # noqa: F401 - registers the home page's cards
from erp.brands import plans, queries, services
from erp.brands.forms import (
    AttachmentForm,
    BrandForm,
    CheckForm,
    LogoForm,
    PlanForm,
    SpecificationForm,
    TrademarkForm,
)
from erp.brands.models import (
    BRAND_KIND_LABELS,
    CHECK_KIND_LABELS,
    DEFECT_CLASS_LABELS,
    SPECIFICATION_STATES,
    Brand,
    BrandKind,
    Specification,
    SpecificationAttachment,
    SpecificationCheck,
    SpecificationState,
    SpecificationVersion,
    Trademark,
)
from erp.core import importing
from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm
from erp.core.i18n import _, _l
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, page_arg, xlsx_response
from erp.extensions import db

bp = Blueprint("brands", __name__)

BRAND_IMPORT = importing.Importer(
    name="brands", title=_l("Import brands"), spec=brand_excel.BRAND_SPEC,
    run=brand_excel.import_brands, template_endpoint="brands.brand_import_template",
    report_endpoint="brands.brand_import_errors", back_endpoint="brands.brand_list",
    intro=_l("One row per brand. A code that exists updates that brand; a new code creates one. "
             "The whole file is applied, or nothing if any row has an error."))


def _post_form():
    """Refuse a POST button whose form (CSRF token) does not validate."""
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _list_filters() -> dict:
    """Return the brand-list filters from the query string, ignoring unknown values."""
    kind = request.args.get("kind") or None
    active = {"yes": True, "no": False}.get(request.args.get("active", ""))
    return {"q": (request.args.get("q") or "").strip()[:100] or None,
            "kind": kind if kind in BrandKind.__members__ else None, "active": active}


# --------------------------------------------------------------------------- brands


@bp.get("/")
@permission_required("brands.view")
def brand_list():
    """List brands: search by code or name, filter by kind and active."""
    stmt = queries.brand_list_query(**_list_filters())
    page = db.paginate(stmt, page=page_arg(), per_page=current_app.config["ERP_PAGE_SIZE"],
                       error_out=False)
    return render_template("brands/brand_list.html", page=page, kinds=BrandKind)


@bp.get("/export.xlsx")
@permission_required("brands.view")
def export_brands():
    """Download the filtered brand list as an Excel workbook (importable again)."""
    return xlsx_response(brand_excel.export_brands(**_list_filters()), "brands")


@bp.route("/new", methods=["GET", "POST"])
@permission_required("brands.edit")
def create_brand():
    """Create a brand."""
    form = BrandForm()
    if form.validate_on_submit():
        try:
            brand = services.create_brand(code=form.code.data, name=form.name.data,
                                          kind=form.kind.data,
                                          owner_company=form.owner_company.data,
                                          actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Brand %(code)s created.", code=brand.code), "success")
            return redirect(url_for(".brand_detail", brand_id=brand.id))
    return render_template("brands/brand_form.html", form=form, brand=None)


def _brand_page(brand: Brand, trademark_form: TrademarkForm | None = None) -> str:
    specs = db.session.scalars(queries.specification_list_query(brand_id=brand.id)).all()
    return render_template("brands/brand_detail.html", brand=brand, specs=specs,
                           trademark_form=trademark_form or TrademarkForm(), logo_form=LogoForm(),
                           machine=SPECIFICATION_STATES, kind_labels=BRAND_KIND_LABELS)


@bp.get("/<int:brand_id>")
@permission_required("brands.view")
def brand_detail(brand_id: int):
    """Show a brand with its trademarks, logo and specifications."""
    return _brand_page(get_or_404(Brand, brand_id))


@bp.route("/<int:brand_id>/edit", methods=["GET", "POST"])
@permission_required("brands.edit")
def edit_brand(brand_id: int):
    """Edit a brand's code, name, kind and owner company."""
    brand = get_or_404(Brand, brand_id)
    form = BrandForm(obj=brand)
    if form.validate_on_submit():
        try:
            services.update_brand(brand, code=form.code.data, name=form.name.data,
                                  kind=form.kind.data, owner_company=form.owner_company.data,
                                  actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Brand %(code)s saved.", code=brand.code), "success")
            return redirect(url_for(".brand_detail", brand_id=brand.id))
    return render_template("brands/brand_form.html", form=form, brand=brand)


@bp.post("/<int:brand_id>/active")
@permission_required("brands.edit")
def toggle_brand_active(brand_id: int):
    """Deactivate an active brand or reactivate an inactive one."""
    brand = get_or_404(Brand, brand_id)
    _post_form()
    services.set_brand_active(brand, not brand.active, actor=current_user)
    db.session.commit()
    if brand.active:
        flash(_("Brand %(code)s reactivated.", code=brand.code), "success")
    else:
        flash(_("Brand %(code)s deactivated.", code=brand.code), "success")
    return redirect(url_for(".brand_detail", brand_id=brand.id))


@bp.post("/<int:brand_id>/trademarks")
@permission_required("brands.edit")
def add_trademark(brand_id: int):
    """Add a trademark registration to a brand."""
    brand = get_or_404(Brand, brand_id)
    form = TrademarkForm()
    if form.validate_on_submit():
        try:
            services.add_trademark(brand, country=form.country.data, number=form.number.data,
                                   registered_on=form.registered_on.data,
                                   classes=form.classes.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Trademark %(number)s added to %(code)s.", number=form.number.data.strip(),
                    code=brand.code), "success")
            return redirect(url_for(".brand_detail", brand_id=brand.id))
    return _brand_page(brand, trademark_form=form), 422


@bp.post("/trademarks/<int:trademark_id>/delete")
@permission_required("brands.edit")
def remove_trademark(trademark_id: int):
    """Remove a trademark registration from its brand."""
    trademark = get_or_404(Trademark, trademark_id)
    brand = trademark.brand
    _post_form()
    services.remove_trademark(trademark, actor=current_user)
    db.session.commit()
    flash(_("Trademark %(number)s (%(country)s) removed.", number=trademark.number,
            country=trademark.country), "success")
    return redirect(url_for(".brand_detail", brand_id=brand.id))


@bp.post("/<int:brand_id>/logo")
@permission_required("brands.edit")
def upload_brand_logo(brand_id: int):
    """Upload a PNG or JPEG logo for a brand."""
    brand = get_or_404(Brand, brand_id)
    form = LogoForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash("; ".join(str(e) for e in errors), "error")
        return redirect(url_for(".brand_detail", brand_id=brand.id))
    services.set_brand_logo(brand, form.logo.data.read(), actor=current_user)
    db.session.commit()
    flash(_("Logo of %(code)s saved.", code=brand.code), "success")
    return redirect(url_for(".brand_detail", brand_id=brand.id))


@bp.post("/<int:brand_id>/logo/delete")
@permission_required("brands.edit")
def remove_brand_logo(brand_id: int):
    """Remove a brand's logo."""
    brand = get_or_404(Brand, brand_id)
    _post_form()
    services.set_brand_logo(brand, None, actor=current_user)
    db.session.commit()
    flash(_("Logo of %(code)s removed.", code=brand.code), "success")
    return redirect(url_for(".brand_detail", brand_id=brand.id))


@bp.get("/<int:brand_id>/logo")
@permission_required("brands.view")
def brand_logo(brand_id: int):
    """Send a brand's logo image (404 when it has none)."""
    brand = get_or_404(Brand, brand_id)
    if brand.logo_mime is None or not brand.logo:
        abort(404)
    return send_file(io.BytesIO(brand.logo), mimetype=brand.logo_mime,
                     download_name=f"{brand.code.lower()}-logo.{brand.logo_mime.split('/')[1]}")


# --------------------------------------------------------------------------- specifications


def _specification_list(state: str | None, title: str):
    brand_id = request.args.get("brand_id", type=int)
    stmt = queries.specification_list_query(brand_id=brand_id, state=state,
                                            q=(request.args.get("q") or "").strip()[:100])
    page = db.paginate(stmt, page=page_arg(), per_page=current_app.config["ERP_PAGE_SIZE"],
                       error_out=False)
    brands = db.session.execute(select(Brand.id, Brand.code).order_by(Brand.code)).all()
    return render_template("brands/specification_list.html", page=page, brands=brands,
                           state=state, title=title, machine=SPECIFICATION_STATES)


@bp.get("/specifications")
@permission_required("brands.view")
def specification_list():
    """List specifications: search number or title, filter by brand and version state."""
    state = request.args.get("state")
    return _specification_list(state if state in SpecificationState.__members__ else None,
                               _("Specifications"))


@bp.get("/specifications/drafts")
@permission_required("brands.view")
def specification_drafts():
    """List the specifications with a draft version awaiting approval."""
    return _specification_list(SpecificationState.draft.value, _("Awaiting approval"))


@bp.route("/<int:brand_id>/specifications/new", methods=["GET", "POST"])
@permission_required("brands.edit")
def create_specification(brand_id: int):
    """Create a specification of a brand (its version 1 starts as a draft)."""
    brand = get_or_404(Brand, brand_id)
    form = SpecificationForm()
    if form.validate_on_submit():
        try:
            spec = services.create_specification(brand, form.content(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Specification %(number)s created as a draft.", number=spec.number),
                  "success")
            return redirect(url_for(".specification_detail", spec_id=spec.id))
    return render_template("brands/specification_form.html", form=form, brand=brand)


def _specification_page(version: SpecificationVersion,
                        form: SpecificationForm | None = None, *,
                        plan_form: PlanForm | None = None,
                        check_form: CheckForm | None = None) -> str:
    spec = version.specification
    can_edit = services.can_edit_specification_version(version, current_user)
    if form is None and can_edit:
        form = SpecificationForm(obj=version)
    if plan_form is None and can_edit:
        plan_form = PlanForm(data={"sampling_level": version.sampling_level or "",
                                   **{name: plans.aql_text(getattr(version, name))
                                      for name in ("aql_critical", "aql_major", "aql_minor")}})
    return render_template(
        "brands/specification_detail.html", spec=spec, version=version, form=form,
        plan_form=plan_form, check_form=check_form or (CheckForm() if can_edit else None),
        plan_problems=plans.plan_problems(version), check_kinds=CHECK_KIND_LABELS,
        defect_classes=DEFECT_CLASS_LABELS, aql_text=plans.aql_text,
        attachment_form=AttachmentForm(), machine=SPECIFICATION_STATES,
        can_edit=can_edit,
        can_approve=services.can_approve_specification_version(version, current_user),
        can_retire=services.can_retire_specification_version(version, current_user),
        can_start=services.can_start_specification_version(spec, current_user))


@bp.get("/specifications/<int:spec_id>")
@permission_required("brands.view")
def specification_detail(spec_id: int):
    """Show a specification: one version (the latest by default) and the version history."""
    spec = get_or_404(Specification, spec_id)
    wanted = request.args.get("version", type=int)
    return _specification_page(next((v for v in spec.versions if v.version == wanted),
                                    spec.latest))


def _version_url(version: SpecificationVersion) -> str:
    return url_for(".specification_detail", spec_id=version.specification_id,
                   version=version.version)


@bp.post("/specification-versions/<int:version_id>")
@permission_required("brands.edit")
def update_specification_version(version_id: int):
    """Save the content of a draft version."""
    version = get_or_404(SpecificationVersion, version_id)
    form = SpecificationForm()
    if form.validate_on_submit():
        try:
            services.update_specification_version(version, form.content(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Specification %(ref)s saved.", ref=version.label), "success")
            return redirect(_version_url(version))
    return _specification_page(version, form), 422


@bp.post("/specification-versions/<int:version_id>/approve")
@permission_required("brands.approve")
def approve_specification_version(version_id: int):
    """Approve a draft version (the version it replaces is retired)."""
    version = get_or_404(SpecificationVersion, version_id)
    _post_form()
    services.approve_specification_version(version, actor=current_user)
    db.session.commit()
    flash(_("Specification %(ref)s approved.", ref=version.label), "success")
    return redirect(_version_url(version))


@bp.post("/specification-versions/<int:version_id>/retire")
@permission_required("brands.approve")
def retire_specification_version(version_id: int):
    """Retire an approved version."""
    version = get_or_404(SpecificationVersion, version_id)
    _post_form()
    services.retire_specification_version(version, actor=current_user)
    db.session.commit()
    flash(_("Specification %(ref)s retired.", ref=version.label), "success")
    return redirect(_version_url(version))


@bp.post("/specifications/<int:spec_id>/versions")
@permission_required("brands.edit")
def new_specification_version(spec_id: int):
    """Start a new draft version as a copy of the latest one."""
    spec = get_or_404(Specification, spec_id)
    _post_form()
    version = services.new_specification_version(spec, actor=current_user)
    db.session.commit()
    flash(_("Draft %(ref)s started as a copy of version %(version)s.", ref=version.label,
            version=version.version - 1), "success")
    return redirect(_version_url(version))


@bp.post("/specification-versions/<int:version_id>/plan")
@permission_required("brands.edit")
def set_inspection_plan(version_id: int):
    """Set a draft version's inspection level and AQLs."""
    version = get_or_404(SpecificationVersion, version_id)
    form = PlanForm()
    if form.validate_on_submit():
        try:
            plans.set_plan(version, form.values(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Inspection plan of %(ref)s saved.", ref=version.label), "success")
            return redirect(_version_url(version) + "#plan")
    return _specification_page(version, plan_form=form), 422


@bp.post("/specification-versions/<int:version_id>/checks")
@permission_required("brands.edit")
def add_check(version_id: int):
    """Add a check to a draft version's inspection plan."""
    version = get_or_404(SpecificationVersion, version_id)
    form = CheckForm()
    if form.validate_on_submit():
        try:
            check = plans.add_check(version, form.values(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Check “%(check)s” added to %(ref)s.", check=check.description,
                    ref=version.label), "success")
            return redirect(_version_url(version) + "#plan")
    return _specification_page(version, check_form=form), 422


@bp.route("/specification-checks/<int:check_id>/edit", methods=["GET", "POST"])
@permission_required("brands.edit")
def edit_check(check_id: int):
    """Change a check of a draft version's inspection plan."""
    check = get_or_404(SpecificationCheck, check_id)
    version = check.version
    form = CheckForm(obj=check) if request.method == "GET" else CheckForm()
    if form.validate_on_submit():
        try:
            plans.update_check(check, form.values(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Check “%(check)s” of %(ref)s saved.", check=check.description,
                    ref=version.label), "success")
            return redirect(_version_url(version) + "#plan")
    status = 422 if request.method == "POST" else 200
    return render_template("brands/specification_check_form.html", form=form, check=check,
                           version=version), status


@bp.post("/specification-checks/<int:check_id>/delete")
@permission_required("brands.edit")
def remove_check(check_id: int):
    """Remove a check from a draft version's inspection plan."""
    check = get_or_404(SpecificationCheck, check_id)
    version = check.version
    _post_form()
    description = check.description
    plans.remove_check(check, actor=current_user)
    db.session.commit()
    flash(_("Check “%(check)s” removed from %(ref)s.", check=description, ref=version.label),
          "success")
    return redirect(_version_url(version) + "#plan")


@bp.post("/specification-versions/<int:version_id>/attachments")
@permission_required("brands.edit")
def add_attachment(version_id: int):
    """Attach a file to a draft version."""
    version = get_or_404(SpecificationVersion, version_id)
    form = AttachmentForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash("; ".join(str(e) for e in errors), "error")
        return redirect(_version_url(version))
    upload = form.file.data
    attachment = services.add_attachment(version, filename=upload.filename, data=upload.read(),
                                         actor=current_user)
    db.session.commit()
    flash(_("%(file)s attached to %(ref)s.", file=attachment.filename, ref=version.label),
          "success")
    return redirect(_version_url(version))


@bp.get("/attachments/<int:attachment_id>")
@permission_required("brands.view")
def download_attachment(attachment_id: int):
    """Download an attachment (always as a download, never shown inline)."""
    attachment = get_or_404(SpecificationAttachment, attachment_id)
    return send_file(io.BytesIO(attachment.data), mimetype=attachment.mime, as_attachment=True,
                     download_name=attachment.filename)


@bp.post("/attachments/<int:attachment_id>/delete")
@permission_required("brands.edit")
def remove_attachment(attachment_id: int):
    """Remove an attachment from a draft version."""
    attachment = get_or_404(SpecificationAttachment, attachment_id)
    version = attachment.version
    _post_form()
    services.remove_attachment(attachment, actor=current_user)
    db.session.commit()
    flash(_("%(file)s removed from %(ref)s.", file=attachment.filename, ref=version.label),
          "success")
    return redirect(_version_url(version))


# --------------------------------------------------------------------------- Excel import


importing.add_import_routes(
    bp, BRAND_IMPORT, rule="/import", permission="brands.edit",
    view_name="import_brands", doc="brands workbook")
