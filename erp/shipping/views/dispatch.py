"""Dispatch screens: the batch list, opening a batch, scanning parcels in, closing, downloads."""

from __future__ import annotations

from datetime import date

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from erp.core.excel import Column, Spec, export_workbook
from erp.core.i18n import _, _l
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import (
    commit_or_refuse,
    get_or_404,
    paginate_rows,
    pdf_response,
    xlsx_response,
)
from erp.extensions import db
from erp.shipping import batch_hooks, queries
from erp.shipping.documents.handover import handover_pdf
from erp.shipping.manifest import manifest_xlsx
from erp.shipping.models import (
    CUSTOMS_FORM_LABELS,
    DISPATCH_BATCH_STATES,
    BatchState,
    Carrier,
    DispatchBatch,
    Parcel,
)
from erp.shipping.services import dispatch as services
from erp.shipping.views import bp


class OpenBatchForm(FlaskForm):
    """Open a dispatch batch: the carrier it goes to."""

    carrier_id = SelectField(_l("Carrier"), coerce=int, validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])

    def __init__(self, *args, **kwargs):
        """Offer the active carriers."""
        super().__init__(*args, **kwargs)
        self.carrier_id.choices = [(c.id, f"{c.name} ({c.code})")
                                   for c in queries.carrier_options(active_only=True)]


class ScanForm(FlaskForm):
    """A scanned tracking number (or typed parcel number)."""

    code = StringField(_l("Tracking or parcel number"),
                       validators=[DataRequired(), Length(max=60)])


class ConfirmForm(FlaskForm):
    """An empty form that carries the CSRF token (remove, close)."""


def batch_spec() -> Spec:
    """Return the columns of the batch export, headed in the reader's language."""
    return Spec("dispatch-batches", _("Dispatch batches"), (
        Column("number", _("Batch"), width=18),
        Column("carrier_code", _("Carrier"), width=10),
        Column("carrier_name", _("Carrier name"), width=22),
        Column("state", _("State"), width=10),
        Column("opened_at", _("Opened (UTC)"), type="auto", width=18),
        Column("closed_at", _("Closed (UTC)"), type="auto", width=18),
        Column("opened_by", _("Opened by"), width=14),
        Column("parcels", _("Parcels"), type="int", width=9),
        Column("weight_kg", _("Weight kg"), type="decimal", decimals=3, width=11),
        Column("note", _("Note"), width=30),
    ))


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def batch_filters() -> queries.BatchFilters:
    """Read the batch list's search and filters from the query string."""
    state = request.args.get("state") or None
    return queries.BatchFilters(
        q=(request.args.get("q") or "").strip()[:60] or None,
        carrier_id=request.args.get("carrier_id", type=int) or None,
        state=state if state in BatchState.__members__ else None,
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"))


@bp.get("/batches")
@permission_required("shipping.view")
def batch_list():
    """List dispatch batches: search a batch or tracking number; filter carrier, state, dates."""
    filters = batch_filters()
    page = paginate_rows(queries.batch_list_query(filters),
                         count=queries.batch_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("shipping/dispatch/batch_list.html", page=page, filters=filters,
                           carriers=queries.carrier_options(), machine=DISPATCH_BATCH_STATES,
                           states=list(BatchState))


@bp.get("/batches/export.xlsx")
@permission_required("shipping.view")
def export_batches():
    """Download the batches the list shows (same search and filters) as an Excel workbook."""
    rows = db.session.execute(queries.batch_list_query(batch_filters()))
    data = export_workbook(batch_spec(), ({
        **r._mapping, "state": DISPATCH_BATCH_STATES.label(r.state),
        "weight_kg": r.weight_g / 1000} for r in rows))
    return xlsx_response(data, "dispatch-batches")


@bp.route("/batches/new", methods=["GET", "POST"])
@permission_required("shipping.work")
def open_batch():
    """Open a dispatch batch for a carrier, then scan parcels into it."""
    form = OpenBatchForm()
    if form.validate_on_submit():
        carrier = get_or_404(Carrier, form.carrier_id.data)
        batch = services.open_batch(carrier, actor=current_user, note=form.note.data)
        db.session.commit()
        flash(_("Batch %(batch)s for %(carrier)s is open: scan its parcels.",
                batch=batch.number, carrier=carrier.name), "success")
        return redirect(url_for(".batch_detail", batch_id=batch.id))
    if request.method == "GET" and request.args.get("carrier_id", type=int):
        form.carrier_id.data = request.args.get("carrier_id", type=int)
    status = 422 if request.method == "POST" else 200
    return render_template("shipping/dispatch/batch_form.html", form=form), status


@bp.get("/batches/<int:batch_id>")
@permission_required("shipping.view")
def batch_detail(batch_id: int):
    """Show a batch: the scan field while open, its parcels, totals, downloads and actions."""
    batch = get_or_404(DispatchBatch, batch_id)
    parcels = db.session.execute(queries.batch_parcels_query(batch.id)).all()
    views = current_app.view_functions
    return render_template(
        "shipping/dispatch/batch_detail.html", batch=batch, parcels=parcels,
        totals=queries.batch_totals(batch.id), machine=DISPATCH_BATCH_STATES,
        can_work=has_permission(current_user, "shipping.work") and batch.state == BatchState.open,
        scan_form=ScanForm(formdata=None), confirm=ConfirmForm(),
        waiting=queries.waiting_parcel_count(batch.carrier_id)
        if batch.state == BatchState.open else 0,
        labels_url="shipping.batch_labels_pdf" in views,
        customs_url="shipping.batch_customs_pdf" in views, customs_forms=CUSTOMS_FORM_LABELS,
        panels=batch_hooks.panels(batch))


def _act(batch: DispatchBatch, action):
    """Run ``action()`` (one service call) and commit, or roll back and flash the refusal.

    Either way the user is back on the batch page, its scan field focused for the next parcel.
    """
    # core fills in {err}, the refusal, already in the reader's language
    return commit_or_refuse(action, url_for(".batch_detail", batch_id=batch.id),
                            refused=_("Refused: %(error)s", error="{err}"))


@bp.post("/batches/<int:batch_id>/scan")
@permission_required("shipping.work")
def scan_into_batch(batch_id: int):
    """Add the scanned parcel to the batch; a refusal is shown loudly and the field refocused."""
    batch = get_or_404(DispatchBatch, batch_id)
    form = ScanForm()
    if not form.validate_on_submit():
        flash(_("Scan a parcel's tracking number, or type its parcel number."), "error")
        return redirect(url_for(".batch_detail", batch_id=batch.id))
    def act():
        parcel = services.scan_into_batch(batch, form.code.data, actor=current_user)
        return _("%(parcel)s (%(tracking)s) added to %(batch)s.", parcel=parcel.number,
                 tracking=parcel.tracking_number, batch=batch.number)
    return _act(batch, act)


@bp.post("/batches/<int:batch_id>/add-waiting")
@permission_required("shipping.work")
def add_waiting_parcels(batch_id: int):
    """Put every labelled parcel of the batch's carrier that is in no batch into the batch.

    Parcels of orders on hold or cancelled are left out and named in the message.
    """
    batch = get_or_404(DispatchBatch, batch_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)

    return _act(batch, lambda: str(services.add_waiting_parcels(batch, actor=current_user)))


@bp.post("/batches/<int:batch_id>/parcels/<int:parcel_id>/remove")
@permission_required("shipping.work")
def remove_from_batch(batch_id: int, parcel_id: int):
    """Take a parcel out of an open batch."""
    batch = get_or_404(DispatchBatch, batch_id)
    parcel = get_or_404(Parcel, parcel_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    def act():
        services.remove_from_batch(batch, parcel, actor=current_user)
        return _("%(parcel)s taken out of %(batch)s.", parcel=parcel.number,
                 batch=batch.number)
    return _act(batch, act)


@bp.post("/batches/<int:batch_id>/close")
@permission_required("shipping.work")
def close_batch(batch_id: int):
    """Close the batch: its parcels are dispatched, stock leaves, orders become shipped."""
    batch = get_or_404(DispatchBatch, batch_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _act(batch, lambda: str(services.close_batch(batch, actor=current_user)))


@bp.get("/batches/<int:batch_id>/manifest.xlsx")
@permission_required("shipping.view")
def batch_manifest(batch_id: int):
    """Download the carrier manifest (one row per customs line) as Excel."""
    batch = get_or_404(DispatchBatch, batch_id)
    return xlsx_response(manifest_xlsx(batch), f"manifest-{batch.number}")


@bp.get("/batches/<int:batch_id>/handover.pdf")
@permission_required("shipping.view")
def batch_handover_pdf(batch_id: int):
    """Show the A4 hand-over sheet the driver signs."""
    batch = get_or_404(DispatchBatch, batch_id)
    return pdf_response(handover_pdf(batch), f"handover-{batch.number}")
