"""Webhook screens for admins: endpoints, deliveries and their attempts, replay.

An endpoint's secret is shown once, when it is made or rotated.
The routes hang on the core blueprint (``core.webhook_*``); the work is in
:mod:`erp.core.webhooks`.
"""

from __future__ import annotations

from datetime import UTC

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, DateTimeLocalField, StringField
from wtforms.validators import DataRequired, Length

from erp.core import events, excel, exports, webhooks
from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm, MultiCheckboxField
from erp.core.i18n import _, _l, format_datetime, ngettext
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, paginate_rows
from erp.core.views import bp
from erp.core.webhooks import (
    STATE_LABELS,
    DeliveryFilters,
    DeliveryState,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from erp.extensions import db

PERMISSION = "webhooks.manage"


def _type_choices():
    return [(name, f"{name}: {description}") for name, description in events.EVENT_TYPES.items()]


class EndpointForm(FlaskForm):
    """An endpoint's name, address, event types and active flag."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    url = StringField(_l("URL"), validators=[DataRequired(), Length(max=2000)])
    event_types = MultiCheckboxField(_l("Event types"), choices=[], validate_choice=False)
    active = BooleanField(_l("Active"), default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.event_types.choices = _type_choices()


class ReplayForm(FlaskForm):
    """A period (UTC) whose events are sent to the endpoint again."""

    since = DateTimeLocalField(_l("From (UTC)"), format="%Y-%m-%dT%H:%M",
                               validators=[DataRequired()])
    until = DateTimeLocalField(_l("To (UTC)"), format="%Y-%m-%dT%H:%M",
                               validators=[DataRequired()])


# --------------------------------------------------------------------------- endpoints


@bp.get("/admin/webhooks")
@permission_required(PERMISSION)
def webhook_list():
    """List the webhook endpoints with their pending and dead deliveries."""
    endpoints = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)).all()
    counts = {}
    for endpoint_id, state, count in db.session.execute(
            select(WebhookDelivery.endpoint_id, WebhookDelivery.state, func.count())
            .where(WebhookDelivery.state != DeliveryState.delivered)
            .group_by(WebhookDelivery.endpoint_id, WebhookDelivery.state)):
        counts[(endpoint_id, state)] = count
    return render_template("webhooks/endpoint_list.html", endpoints=endpoints, counts=counts,
                           DeliveryState=DeliveryState)


@bp.route("/admin/webhooks/new", methods=["GET", "POST"])
@permission_required(PERMISSION)
def webhook_new():
    """Register an endpoint; its secret is shown this once."""
    form = EndpointForm()
    if form.validate_on_submit():
        try:
            endpoint, secret = webhooks.create_endpoint(
                name=form.name.data, url=form.url.data, event_types=form.event_types.data,
                active=form.active.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            return render_template("webhooks/secret.html", endpoint=endpoint, secret=secret,
                                   created=True)
    return render_template("webhooks/endpoint_form.html", form=form, endpoint=None), \
        422 if request.method == "POST" else 200


@bp.route("/admin/webhooks/<int:endpoint_id>/edit", methods=["GET", "POST"])
@permission_required(PERMISSION)
def webhook_edit(endpoint_id: int):
    """Change an endpoint's name, address, event types or active flag."""
    endpoint = get_or_404(WebhookEndpoint, endpoint_id)
    form = EndpointForm(obj=endpoint)
    if form.validate_on_submit():
        try:
            changes = webhooks.update_endpoint(
                endpoint, name=form.name.data, url=form.url.data,
                event_types=form.event_types.data, active=form.active.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Webhook endpoint %(name)s saved.", name=endpoint.name) if changes
                  else _("Nothing changed."), "success")
            return redirect(url_for("core.webhook_detail", endpoint_id=endpoint.id))
    return render_template("webhooks/endpoint_form.html", form=form, endpoint=endpoint), \
        422 if request.method == "POST" else 200


@bp.get("/admin/webhooks/<int:endpoint_id>")
@permission_required(PERMISSION)
def webhook_detail(endpoint_id: int):
    """Show an endpoint: its success rate, last failure, and the replay of a period."""
    endpoint = get_or_404(WebhookEndpoint, endpoint_id)
    return render_template("webhooks/endpoint_detail.html", endpoint=endpoint,
                           stats=webhooks.endpoint_stats(endpoint.id), replay=ReplayForm(),
                           confirm=ConfirmForm(), labels=events.EVENT_TYPES)


@bp.post("/admin/webhooks/<int:endpoint_id>/rotate")
@permission_required(PERMISSION)
def webhook_rotate(endpoint_id: int):
    """Give the endpoint a new secret and show it this once."""
    endpoint = get_or_404(WebhookEndpoint, endpoint_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    secret = webhooks.rotate_secret(endpoint, actor=current_user)
    db.session.commit()
    return render_template("webhooks/secret.html", endpoint=endpoint, secret=secret,
                           created=False)


@bp.post("/admin/webhooks/<int:endpoint_id>/replay")
@permission_required(PERMISSION)
def webhook_replay(endpoint_id: int):
    """Send the endpoint's events of a period again."""
    endpoint = get_or_404(WebhookEndpoint, endpoint_id)
    form = ReplayForm()
    if not form.validate_on_submit():
        flash(_("Give the start and the end of the period to replay."), "error")
        return redirect(url_for("core.webhook_detail", endpoint_id=endpoint.id))
    try:
        count = webhooks.replay_events(
            endpoint, since=form.since.data.replace(tzinfo=UTC),
            until=form.until.data.replace(tzinfo=UTC), actor=current_user)
    except DomainError as err:
        db.session.rollback()
        flash(str(err), "error")
        return redirect(url_for("core.webhook_detail", endpoint_id=endpoint.id))
    db.session.commit()
    flash(ngettext("%(num)s event will be sent again.", "%(num)s events will be sent again.",
                   count), "success")
    return redirect(url_for("core.webhook_deliveries", endpoint_id=endpoint.id,
                            state="pending"))


# --------------------------------------------------------------------------- deliveries


def delivery_filters() -> DeliveryFilters:
    """Read the delivery list's filters from the query string."""
    endpoint = request.args.get("endpoint_id", "")
    return DeliveryFilters(
        endpoint_id=int(endpoint) if endpoint.isdigit() else None,
        state=request.args.get("state") or None, type=request.args.get("type") or None,
        event_id=(request.args.get("event_id") or "").strip() or None)


def _delivery_rows(filters: DeliveryFilters):
    for delivery, event_id, endpoint_name in db.session.execute(
            webhooks.delivery_query(filters).execution_options(yield_per=2000)):
        yield {"id": delivery.id, "endpoint": endpoint_name, "event_id": event_id,
               "type": delivery.event_type, "key": delivery.event_key or "",
               "sequence": delivery.seq, "state": str(STATE_LABELS[delivery.state]),
               "replay": _("yes") if delivery.replay else "", "attempts": delivery.attempts,
               "last_status": delivery.last_status, "last_error": delivery.last_error or "",
               "created": format_datetime(delivery.created_at, "%H:%S"),
               "next_attempt": format_datetime(delivery.next_attempt_at, "%H:%S")
               if delivery.state == DeliveryState.pending else "",
               "delivered": format_datetime(delivery.delivered_at, "%H:%S")}


DELIVERY_COLUMNS = [
    excel.Column("id", _l("Delivery"), type="int", width=10),
    excel.Column("endpoint", _l("Endpoint"), width=20),
    excel.Column("event_id", _l("Event id"), width=38),
    excel.Column("type", _l("Event type"), width=18),
    excel.Column("key", _l("Key"), width=18),
    excel.Column("sequence", _l("Sequence"), type="int", width=10),
    excel.Column("state", _l("State"), width=12),
    excel.Column("replay", _l("Replay"), width=8),
    excel.Column("attempts", _l("Attempts"), type="int", width=9),
    excel.Column("last_status", _l("Last status"), type="int", width=10),
    excel.Column("last_error", _l("Last error"), width=40),
    excel.Column("created", _l("Created"), width=22),
    excel.Column("next_attempt", _l("Next attempt"), width=22),
    excel.Column("delivered", _l("Delivered"), width=22),
]


def _export(filters: DeliveryFilters, *, user, progress) -> bytes:
    return excel.export_workbook(DELIVERY_COLUMNS,
                                 exports.counted(_delivery_rows(filters), progress),
                                 title=_("Webhook deliveries"))


EXPORT = exports.register(exports.ListExport(
    "webhook_deliveries", _l("Webhook deliveries"), PERMISSION, DeliveryFilters,
    count=lambda f: db.session.scalar(select(func.count()).select_from(
        webhooks.delivery_query(f).order_by(None).subquery())),
    build=_export, filename="webhook-deliveries"))


@bp.get("/admin/webhooks/deliveries")
@permission_required(PERMISSION)
def webhook_deliveries():
    """List deliveries by endpoint, state, event type or event id."""
    filters = delivery_filters()
    page = paginate_rows(webhooks.delivery_query(filters),
                         per_page=current_app.config["ERP_PAGE_SIZE"])
    endpoints = db.session.execute(select(WebhookEndpoint.id, WebhookEndpoint.name)
                                   .order_by(WebhookEndpoint.name)).all()
    return render_template("webhooks/delivery_list.html", page=page, filters=filters,
                           endpoints=endpoints, states=list(DeliveryState),
                           labels=STATE_LABELS, types=list(events.EVENT_TYPES))


@bp.get("/admin/webhooks/deliveries/export.xlsx")
@permission_required(PERMISSION)
def webhook_deliveries_export():
    """Download the filtered deliveries as an Excel workbook."""
    return exports.respond(EXPORT.name, delivery_filters())


@bp.get("/admin/webhooks/deliveries/<int:delivery_id>")
@permission_required(PERMISSION)
def webhook_delivery(delivery_id: int):
    """Show a delivery: its event, every attempt and what the endpoint answered."""
    delivery = get_or_404(WebhookDelivery, delivery_id)
    attempts = db.session.scalars(select(WebhookAttempt).where(
        WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.id)).all()
    body = webhooks.body_of(events.envelope(delivery.event)).decode("utf-8")
    return render_template("webhooks/delivery_detail.html", delivery=delivery,
                           attempts=attempts, body=body, labels=STATE_LABELS,
                           confirm=ConfirmForm())


@bp.post("/admin/webhooks/deliveries/<int:delivery_id>/replay")
@permission_required(PERMISSION)
def webhook_delivery_replay(delivery_id: int):
    """Send a delivery's event to its endpoint again."""
    delivery = get_or_404(WebhookDelivery, delivery_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    webhooks.replay_delivery(delivery, actor=current_user)
    db.session.commit()
    flash(_("Event %(event)s will be sent again to %(endpoint)s.",
            event=delivery.event.event_id, endpoint=delivery.endpoint.name), "success")
    return redirect(url_for("core.webhook_deliveries", endpoint_id=delivery.endpoint_id,
                            event_id=delivery.event.event_id))
