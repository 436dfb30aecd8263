"""Case screens: the queue, opening a case from an order, the case page and its actions."""

from __future__ import annotations

import io
from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from sqlalchemy import func, select
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from erp.aftersales import documents, queries
from erp.aftersales.models import (
    CASE_STATES,
    CASE_TYPE_LABELS,
    REFUND_STATES,
    AfterSalesCase,
    CaseAttachment,
    CaseState,
    CaseType,
    NoteVisibility,
)
from erp.aftersales.services import cases as services
from erp.aftersales.services import resolution, returns, supplier_returns
from erp.aftersales.services.reasons import active_reasons, all_reasons
from erp.aftersales.views import bp
from erp.core.errors import DomainError
from erp.core.i18n import _, _l
from erp.core.models import User, utcnow
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import (
    commit_or_refuse,
    form_errors,
    get_or_404,
    paginate_rows,
    pdf_response,
    xlsx_response,
)
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder
from erp.shipping import queries as shipping_queries
from erp.shipping.models import PARCEL_STATES, ParcelState
from erp.warehouse.models import Warehouse

TYPE_CHOICES = [(t.value, CASE_TYPE_LABELS[t]) for t in CaseType]


class NewCaseForm(FlaskForm):
    """Open a case: type, reason, contact, parcel, note (line quantities are ``qty-<id>``)."""

    case_type = SelectField(_l("Type"), choices=TYPE_CHOICES, validators=[DataRequired()])
    reason_id = SelectField(_l("Reason"), coerce=int, validators=[DataRequired()])
    parcel_id = SelectField(_l("Parcel (lost or damaged)"), coerce=int,
                            validators=[Optional()])
    contact_name = StringField(_l("Contact name"), validators=[Optional(), Length(max=120)])
    contact_email = StringField(_l("Contact e-mail"), validators=[Optional(), Length(max=254)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    note = TextAreaField(_l("Note (internal)"), validators=[Optional(), Length(max=5000)])
    window_override_note = StringField(_l("Return window override (managers)"),
                                       validators=[Optional(), Length(max=200)])


class NoteForm(FlaskForm):
    """Add a timeline entry."""

    body = TextAreaField(_l("Note"), validators=[DataRequired(), Length(max=5000)])
    visibility = SelectField(_l("Visibility"), choices=[
        (NoteVisibility.internal.value, _l("Internal")),
        (NoteVisibility.customer.value, _l("Told the customer"))])


class AttachmentForm(FlaskForm):
    """Upload a photo or PDF."""

    file = FileField(_l("Photo or PDF (at most 5 MB)"), validators=[FileRequired()])


class AssignForm(FlaskForm):
    """Give the case to an agent (empty: unassigned)."""

    user_id = SelectField(_l("Agent"), coerce=int)


class AuthoriseForm(FlaskForm):
    """Authorise the return, with the customer's return tracking if known."""

    return_tracking = StringField(_l("Return tracking (optional)"),
                                  validators=[Optional(), Length(max=40)])


class ReturnWarehouseForm(FlaskForm):
    """Choose the warehouse the goods come back to (empty: the default by address)."""

    warehouse_id = SelectField(_l("Goods come back to"), choices=[], validators=[Optional()])


def _return_warehouse_form(case: AfterSalesCase, formdata=None) -> ReturnWarehouseForm:
    form = ReturnWarehouseForm(formdata=formdata)
    default = returns.default_return_warehouse(case)
    form.warehouse_id.choices = [("", _("Default by address (%(code)s)",
                                       code=default.code if default else "—"))] + [
        (str(w.id), f"{w.code} · {w.name}") for w in db.session.scalars(
            select(Warehouse).where(Warehouse.active.is_(True)).order_by(Warehouse.code))]
    if formdata is None:
        form.warehouse_id.data = str(case.return_warehouse_id or "")
    return form


class TrackingForm(FlaskForm):
    """Record the customer's return tracking number."""

    return_tracking = StringField(_l("Return tracking"),
                                  validators=[Optional(), Length(max=40)])


class RejectForm(FlaskForm):
    """Reject the case with a reason."""

    reason = StringField(_l("Why it is rejected"),
                         validators=[DataRequired(), Length(max=200)])


class ContactForm(FlaskForm):
    """Change the customer contact."""

    contact_name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    contact_email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])
    contact_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])


class ConfirmForm(FlaskForm):
    """An empty form that carries the CSRF token (close)."""


# --------------------------------------------------------------------------- queue


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def case_filters() -> queries.CaseFilters:
    """Read the queue's search and filters from the query string."""
    state = request.args.get("state") or None
    case_type = request.args.get("type") or None
    agent = (request.args.get("agent") or "").strip() or None
    return queries.CaseFilters(
        q=(request.args.get("q") or "").strip()[:80] or None,
        state=state if state in CaseState.__members__ or state in queries.STATE_GROUPS
        else None,
        agent=agent if agent in ("mine", "unassigned") or (agent or "").isdigit() else None,
        me=current_user.id, case_type=case_type if case_type in CaseType.__members__ else None,
        reason_id=request.args.get("reason_id", type=int) or None,
        overdue=request.args.get("overdue") == "1", due_today=request.args.get("due") == "today",
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"))


@bp.get("/cases")
@permission_required("aftersales.view")
def case_list():
    """List cases, the soonest due first: search RMA, order, tracking, e-mail or name; filter."""
    filters = case_filters()
    if filters.q and len(request.args) == 1:  # a scanned RMA number opens the case at once
        found = db.session.scalar(select(AfterSalesCase.id).where(
            func.upper(AfterSalesCase.number) == filters.q.upper()))
        if found:
            return redirect(url_for(".case_detail", case_id=found))
    page = paginate_rows(queries.case_list_query(filters),
                         count=queries.case_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template(
        "aftersales/cases/list.html", page=page, filters=filters, machine=CASE_STATES,
        states=list(CaseState), types=TYPE_CHOICES, reasons=all_reasons(),
        agents=queries.agent_options(), type_label=queries.type_label)


@bp.get("/cases/export.xlsx")
@permission_required("aftersales.view")
def export_cases():
    """Download the cases the queue shows (same search and filters) as an Excel workbook."""
    return xlsx_response(queries.cases_xlsx(case_filters()), "aftersales-cases")


# --------------------------------------------------------------------------- opening


def _order_lines(order: CustomerOrder) -> list[dict]:
    shipped = shipping_queries.shipped_quantities([order.id])
    remaining = services.remaining_quantities(order)
    return [{"line": line, "shipped": shipped.get(line.id, 0),
             "remaining": remaining.get(line.id, 0)}
            for line in order.lines if shipped.get(line.id)]


@bp.route("/cases/new", methods=["GET", "POST"])
@permission_required("aftersales.edit")
def case_new():
    """Open a case on a shipped order, found by its number, a parcel's tracking or an e-mail.

    ``?order=`` is what the customer gave: one matching order opens the case form, several
    are listed to choose from.
    """
    search = queries.find_orders_for_case((request.args.get("order") or "")[:254])
    if len(search.orders) != 1:
        return render_template("aftersales/cases/find_order.html", search=search,
                               order_machine=ORDER_STATES)
    order = search.orders[0]
    form = NewCaseForm()
    reasons = active_reasons()
    form.reason_id.choices = [(r.id, r.name) for r in reasons]
    parcels = [p for p in shipping_queries.order_parcels(order.id)
               if p.state == ParcelState.dispatched]
    form.parcel_id.choices = [(0, "-")] + [
        (p.id, f"{p.number} {p.tracking_number or ''}".strip()) for p in parcels]
    lines = _order_lines(order)
    quantities: dict[int, int] = {}
    bad_quantity = None
    if request.method == "POST":
        for row in lines:
            raw = (request.form.get(f"qty-{row['line'].id}") or "").strip()
            row["value"] = raw
            if raw:
                try:
                    quantities[row["line"].id] = int(raw)
                except ValueError:
                    bad_quantity = _("%(sku)s: the quantity must be a whole number, got "
                                     "%(value)s.", sku=row["line"].sku.code,
                                     value=repr(raw[:20]))
    if form.validate_on_submit() and bad_quantity:
        flash(bad_quantity, "error")
    elif form.validate_on_submit():
        try:
            case = services.open_case(
                order, case_type=form.case_type.data, reason=form.reason_id.data,
                lines=quantities, actor=current_user, contact_name=form.contact_name.data,
                contact_email=form.contact_email.data, contact_phone=form.contact_phone.data,
                parcel=form.parcel_id.data or None, note=form.note.data,
                window_override_note=form.window_override_note.data)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Case %(case)s is open for order %(order)s.", case=case.number,
                    order=order.number), "success")
            return redirect(url_for(".case_detail", case_id=case.id))
    elif request.method == "GET":
        form.contact_name.data = order.customer_name
        form.contact_email.data = order.email
        form.contact_phone.data = order.phone
    window_end = services.return_window_ends(order)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "aftersales/cases/new.html", form=form, order=order, lines=lines, parcels=parcels,
        window_end=window_end, window_closed=window_end is not None and window_end < utcnow(),
        can_override=has_permission(current_user, "aftersales.approve"),
        shipped=shipping_queries.shipped_at(order.id)), status


# --------------------------------------------------------------------------- the case page


@bp.get("/cases/<int:case_id>")
@permission_required("aftersales.view")
def case_detail(case_id: int):
    """Show a case: order and parcels, lines, timeline, attachments, returns, refunds, actions."""
    case = get_or_404(AfterSalesCase, case_id)
    can_edit = has_permission(current_user, "aftersales.edit")
    views = current_app.view_functions
    assign = AssignForm(formdata=None)
    assign.user_id.choices = [(0, _("Unassigned"))] + [
        (u.id, f"{u.full_name} ({u.username})") for u in queries.agent_options()]
    assign.user_id.data = case.assigned_to_id or 0
    contact = ContactForm(formdata=None, obj=case)
    tracking = TrackingForm(formdata=None, obj=case)
    state = CaseState(case.state)
    return render_template(
        "aftersales/cases/detail.html", case=case, machine=CASE_STATES,
        refund_machine=REFUND_STATES, parcel_machine=PARCEL_STATES,
        type_label=queries.type_label,
        overdue=services.is_overdue(case), can_edit=can_edit,
        parcels=shipping_queries.order_parcels(case.order_id),
        history=queries.case_history(case.id), note_form=NoteForm(formdata=None),
        attach_form=AttachmentForm(formdata=None), assign_form=assign,
        authorise_form=AuthoriseForm(formdata=None), reject_form=RejectForm(formdata=None),
        contact_form=contact, tracking_form=tracking, confirm=ConfirmForm(),
        return_warehouse=returns.receiving_warehouse(case) if case.expects_return else None,
        return_warehouse_form=_return_warehouse_form(case)
        if can_edit and case.expects_return and state in (CaseState.open,
                                                          CaseState.awaiting_return) else None,
        can_authorise=can_edit and case.expects_return and state == CaseState.open,
        can_reject=can_edit and state in (CaseState.open, CaseState.awaiting_return),
        can_close=can_edit and state in (CaseState.resolved, CaseState.rejected),
        has_documents=case.expects_return and state not in (CaseState.open,
                                                            CaseState.rejected)
        and not case.rejection_reason,
        refund_new="aftersales.refund_new" in views and can_edit,
        can_replace=can_edit and resolution.can_create_replacement(case),
        refund_detail="aftersales.refund_detail" in views,
        user_names=_user_names(case), to_supplier=supplier_returns.can_send_to_supplier)


def _user_names(case: AfterSalesCase) -> dict[int, str]:
    ids = {n.author_id for n in case.notes} | {a.uploaded_by_id for a in case.attachments} | {
        i.received_by_id for i in case.items} | {i.inspected_by_id for i in case.items} | {
        r.requested_by_id for r in case.refunds} | {r.decided_by_id for r in case.refunds}
    ids.discard(None)
    if not ids:
        return {}
    return dict(db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all())


def _act(case: AfterSalesCase, action, success: str):
    """Run ``action()`` (a service call) and commit, or roll back and flash the refusal."""
    def run():
        action()
        return success
    return commit_or_refuse(run, url_for(".case_detail", case_id=case.id))


def _invalid(form, case: AfterSalesCase):
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")
    return redirect(url_for(".case_detail", case_id=case.id))


@bp.post("/cases/<int:case_id>/assign")
@permission_required("aftersales.edit")
def case_assign(case_id: int):
    """Give the case to an agent, or leave it unassigned."""
    case = get_or_404(AfterSalesCase, case_id)
    user_id = request.form.get("user_id", type=int) or 0
    user = get_or_404(User, user_id) if user_id else None
    success = (_("%(case)s is now assigned to %(user)s.", case=case.number, user=user.username)
               if user else _("%(case)s is now unassigned.", case=case.number))
    return _act(case, lambda: services.assign_case(case, user, actor=current_user), success)


@bp.post("/cases/<int:case_id>/take")
@permission_required("aftersales.edit")
def case_take(case_id: int):
    """Assign the case to oneself."""
    case = get_or_404(AfterSalesCase, case_id)
    return _act(case, lambda: services.assign_case(case, current_user, actor=current_user),
                _("%(case)s is now yours.", case=case.number))


@bp.post("/cases/<int:case_id>/authorise")
@permission_required("aftersales.edit")
def case_authorise(case_id: int):
    """Authorise the return: the RMA papers can then be printed."""
    case = get_or_404(AfterSalesCase, case_id)
    form = AuthoriseForm()
    if not form.validate_on_submit():
        return _invalid(form, case)
    return _act(case, lambda: services.authorise_return(
        case, actor=current_user, return_tracking=form.return_tracking.data),
        _("Return authorised for %(case)s: print the authorisation and label.",
          case=case.number))


@bp.post("/cases/<int:case_id>/tracking")
@permission_required("aftersales.edit")
def case_tracking(case_id: int):
    """Record the tracking number of the customer's return parcel."""
    case = get_or_404(AfterSalesCase, case_id)
    form = TrackingForm()
    if not form.validate_on_submit():
        return _invalid(form, case)
    return _act(case, lambda: services.set_return_tracking(
        case, form.return_tracking.data, actor=current_user),
        _("Return tracking of %(case)s saved.", case=case.number))


@bp.post("/cases/<int:case_id>/return-warehouse")
@permission_required("aftersales.edit")
def case_return_warehouse(case_id: int):
    """Choose the warehouse the case's goods come back to."""
    case = get_or_404(AfterSalesCase, case_id)
    form = _return_warehouse_form(case, request.form)
    if not form.validate_on_submit():
        return _invalid(form, case)
    chosen = form.warehouse_id.data
    return _act(case, lambda: returns.set_return_warehouse(
        case, int(chosen) if chosen else None, actor=current_user),
        _("Where the goods of %(case)s come back to is saved.", case=case.number))


@bp.post("/cases/<int:case_id>/reject")
@permission_required("aftersales.edit")
def case_reject(case_id: int):
    """Reject the case with a reason."""
    case = get_or_404(AfterSalesCase, case_id)
    form = RejectForm()
    if not form.validate_on_submit():
        return _invalid(form, case)
    return _act(case, lambda: services.reject_case(case, reason=form.reason.data,
                                                   actor=current_user),
                _("%(case)s is rejected.", case=case.number))


@bp.post("/cases/<int:case_id>/close")
@permission_required("aftersales.edit")
def case_close(case_id: int):
    """Close a resolved or rejected case."""
    case = get_or_404(AfterSalesCase, case_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    return _act(case, lambda: services.close_case(case, actor=current_user),
                _("%(case)s is closed.", case=case.number))


@bp.post("/cases/<int:case_id>/contact")
@permission_required("aftersales.edit")
def case_contact(case_id: int):
    """Change the customer contact of the case."""
    case = get_or_404(AfterSalesCase, case_id)
    form = ContactForm()
    if not form.validate_on_submit():
        return _invalid(form, case)
    return _act(case, lambda: services.update_contact(
        case, name=form.contact_name.data, email=form.contact_email.data,
        phone=form.contact_phone.data, actor=current_user), _("Contact saved."))


@bp.post("/cases/<int:case_id>/notes")
@permission_required("aftersales.edit")
def case_note(case_id: int):
    """Add a note to the timeline."""
    case = get_or_404(AfterSalesCase, case_id)
    form = NoteForm()
    if not form.validate_on_submit():
        return _invalid(form, case)
    return _act(case, lambda: services.add_note(case, form.body.data,
                                                visibility=form.visibility.data,
                                                actor=current_user), _("Note added."))


@bp.post("/cases/<int:case_id>/attachments")
@permission_required("aftersales.edit")
def case_attach(case_id: int):
    """Upload a photo or PDF to the case."""
    case = get_or_404(AfterSalesCase, case_id)
    form = AttachmentForm()
    if not form.validate_on_submit():
        return _invalid(form, case)
    upload = form.file.data
    data = upload.read(services.MAX_ATTACHMENT_BYTES + 1)
    return _act(case, lambda: services.add_attachment(
        case, upload.filename or "", upload.mimetype or "", data, actor=current_user),
        _("%(file)s attached.", file=upload.filename))


@bp.get("/cases/<int:case_id>/attachments/<int:attachment_id>")
@permission_required("aftersales.view")
def case_attachment(case_id: int, attachment_id: int):
    """Download an attachment of the case."""
    attachment = get_or_404(CaseAttachment, attachment_id)
    if attachment.case_id != case_id:
        abort(404)
    return send_file(io.BytesIO(attachment.data), mimetype=attachment.mime,
                     as_attachment=True, download_name=attachment.filename)


def _document(case_id: int, build, name: str):
    case = get_or_404(AfterSalesCase, case_id)
    if CaseState(case.state) == CaseState.open:
        flash(_("Authorise the return of %(case)s first.", case=case.number), "error")
        return redirect(url_for(".case_detail", case_id=case.id))
    try:
        data = build(case)
    except DomainError as err:
        flash(str(err), "error")
        return redirect(url_for(".case_detail", case_id=case.id))
    return pdf_response(data, f"{name}-{case.number}")


@bp.get("/cases/<int:case_id>/authorisation.pdf")
@permission_required("aftersales.view")
def case_authorisation_pdf(case_id: int):
    """Download the A4 return authorisation (RMA barcode, return address, instructions)."""
    return _document(case_id, documents.return_authorisation_pdf, "return-authorisation")


@bp.get("/cases/<int:case_id>/label.pdf")
@permission_required("aftersales.view")
def case_label_pdf(case_id: int):
    """Download the 100 x 150 mm return label."""
    return _document(case_id, documents.return_label_pdf, "return-label")
