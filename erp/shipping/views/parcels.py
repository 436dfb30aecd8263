"""Shipping screens: the parcel list (search by tracking number or order), a parcel, label, void."""

from __future__ import annotations

from datetime import UTC, date, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from erp.core import exports
from erp.core.i18n import _, _l
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import commit_or_refuse, id_url, paginate_rows
from erp.orders.models import ORDER_STATES
from erp.shipping.home import local_time
from erp.shipping.models import (
    CUSTOMS_FORM_LABELS,
    PARCEL_STATES,
    TRACKING_STATES,
    ParcelState,
)
from erp.shipping.services import parcels as services
from erp.shipping.services import tracking_events
from erp.shipping.views import bp


class VoidForm(FlaskForm):
    """Void a parcel: a reason is required."""

    reason = StringField(_l("Reason"), validators=[DataRequired(message=_l("Give a reason.")),
                                                   Length(max=200)])


class ConfirmForm(FlaskForm):
    """Only the CSRF token (label)."""


def _date_arg(name: str) -> date | None:
    try:
        return date.fromisoformat((request.args.get(name) or "").strip())
    except ValueError:
        return None


def parcel_filters() -> services.ParcelFilters:
    """Read the parcel list's search and filters from the query string."""
    state = request.args.get("state") or None
    valid = set(ParcelState.__members__) | set(PARCEL_STATES.groups)
    return services.ParcelFilters(
        q=(request.args.get("q") or "").strip()[:60] or None,
        state=state if state in valid else None,
        service=(request.args.get("service") or "").strip()[:40] or None,
        date_from=_date_arg("date_from"), date_to=_date_arg("date_to"),
        before_cutoff=local_time(datetime.now(UTC)) if request.args.get("cutoff") == "today"
        else None)


@bp.get("/parcels")
@permission_required("shipping.view")
def parcel_list():
    """List parcels: search tracking number, parcel or order number; filter state, service, date.

    A search that finds exactly one parcel by its tracking or parcel number opens it.
    """
    filters = parcel_filters()
    if filters.q and not request.args.get("page"):
        found = services.find_parcel(filters.q)
        if found is not None and not (filters.state or filters.service or filters.date_from
                                      or filters.date_to):
            return redirect(url_for(".parcel_detail", parcel_id=found.id))
    page = paginate_rows(services.parcel_list_query(filters),
                         count=services.parcel_count_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    return render_template("shipping/parcels/parcel_list.html", page=page, filters=filters,
                           machine=PARCEL_STATES, states=list(ParcelState),
                           groups=PARCEL_STATES.groups, services=services.service_options(),
                           customs_forms=CUSTOMS_FORM_LABELS,
                           parcel_url=id_url("shipping.parcel_detail", "parcel_id"),
                           order_url=id_url("orders.order_detail", "order_id"))


@bp.get("/parcels/export.xlsx")
@permission_required("shipping.view")
def parcel_export():
    """Download the parcels the list shows (same search and filters) as an Excel workbook.

    Above ``export_job_rows`` rows it is written by a background job; this goes to its page.
    """
    return exports.respond("parcels", parcel_filters())


@bp.get("/parcels/<int:parcel_id>")
@permission_required("shipping.view")
def parcel_detail(parcel_id: int):
    """Show a parcel: its order, service, customs lines, documents, history; label or void."""
    parcel = services.load_parcel(parcel_id)
    if parcel is None:
        abort(404)
    work = has_permission(current_user, "shipping.work")
    return render_template(
        "shipping/parcels/parcel_detail.html", parcel=parcel, machine=PARCEL_STATES,
        order_machine=ORDER_STATES, history=services.parcel_history(parcel),
        can_label=work and parcel.state == ParcelState.packed,
        can_void=work and services.can_void(parcel),
        docs="shipping.parcel_label_pdf" in current_app.view_functions,
        void_form=VoidForm(formdata=None), confirm=ConfirmForm(),
        customs_forms=CUSTOMS_FORM_LABELS, tracking_machine=TRACKING_STATES,
        tracking_events=tracking_events.events_of([parcel.id]))


def _act(parcel_id: int, form, action):
    """Check the form, run ``action(parcel, form)`` (one service), commit; show refusals."""
    parcel = services.load_parcel(parcel_id)
    if parcel is None:
        abort(404)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "error")
        return redirect(url_for(".parcel_detail", parcel_id=parcel_id))
    return commit_or_refuse(lambda: action(parcel, form),
                            url_for(".parcel_detail", parcel_id=parcel_id))


@bp.post("/parcels/<int:parcel_id>/label")
@permission_required("shipping.work")
def parcel_label(parcel_id: int):
    """Give a packed parcel its tracking number (packed -> labelled)."""
    def act(parcel, form):
        services.label_parcel(parcel, actor=current_user)
        return _("Parcel %(parcel)s labelled: %(tracking)s.", parcel=parcel.number,
                 tracking=parcel.tracking_number)
    return _act(parcel_id, ConfirmForm(), act)


@bp.post("/parcels/<int:parcel_id>/void")
@permission_required("shipping.work")
def parcel_void(parcel_id: int):
    """Void a parcel before dispatch; its goods become unpacked scans of the order again."""
    def act(parcel, form):
        services.void_parcel(parcel, reason=form.reason.data, actor=current_user)
        return _("Parcel %(parcel)s voided; its items wait at the bench to be packed again "
                 "(order %(order)s).", parcel=parcel.number, order=parcel.order.number)
    return _act(parcel_id, VoidForm(), act)
