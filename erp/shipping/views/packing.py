"""Shipping screens: the packing station, made for a scanner.

Scan the order (or its tote, ``WAVE-…/slot``), then each item; a wrong or extra item is refused
loudly. Pick a box and enter the weight to close a parcel (close with part of the items to
split the order), then label the parcels and print their documents.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.catalog.models import Sku
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.permissions import permission_required
from erp.extensions import db
from erp.orders.models import ORDER_STATES, CustomerOrder, CustomerOrderLine
from erp.shipping.models import (
    CUSTOMS_FORM_LABELS,
    PARCEL_STATES,
    Box,
    ParcelState,
    PickWave,
    PickWaveOrder,
)
from erp.shipping.services import boxes, lane, pack_checks, packing, parcels, routing
from erp.shipping.services.carriers import service_by_code
from erp.shipping.views import bp
from erp.shipping.views.lane import current_station, print_next, to_print


class FindOrderForm(FlaskForm):
    """Scan an order number or a tote (a GET form: finding changes nothing)."""

    class Meta:
        """No CSRF on a search."""

        csrf = False

    q = StringField(_l("Order or tote"), validators=[Optional(), Length(max=60)])


class ScanForm(FlaskForm):
    """Scan one item (SKU code or barcode)."""

    code = StringField(_l("Scan item"), validators=[DataRequired(message=_l("Scan an item.")),
                                                    Length(max=64)])
    quantity = IntegerField(_l("Quantity"), default=1,
                            validators=[Optional(), NumberRange(min=1, max=9999)])
    # a station closing on the last item (issue 18): the box and weight to close with
    box = StringField(_l("Box (code)"), validators=[Optional(), Length(max=20)])
    weight_g = IntegerField(_l("Weighed (g)"), validators=[Optional(),
                                                           NumberRange(min=1, max=1_000_000)])
    confirm_weight = BooleanField(_l("The weight is right: pack despite the difference"))


class ParcelForm(FlaskForm):
    """Close the scanned items into a parcel: box or dimensions, weight, service."""

    box = SelectField(_l("Box"), coerce=str, validators=[Optional()])
    weight_g = IntegerField(_l("Weight (g)"), validators=[
        DataRequired(message=_l("Weigh the parcel and enter its weight in grams.")),
        NumberRange(min=1, max=1_000_000)])
    length_mm = IntegerField(_l("Length (mm)"), validators=[Optional(), NumberRange(min=1)])
    width_mm = IntegerField(_l("Width (mm)"), validators=[Optional(), NumberRange(min=1)])
    height_mm = IntegerField(_l("Height (mm)"), validators=[Optional(), NumberRange(min=1)])
    service = SelectField(_l("Service"), coerce=str, validators=[Optional()])
    confirm_weight = BooleanField(_l("The weight is right: pack despite the difference"))


class ConfirmForm(FlaskForm):
    """Only the CSRF token (clear scans, label)."""


def _docs_available() -> bool:
    return "shipping.parcel_label_pdf" in current_app.view_functions


def _load(order_id: int) -> CustomerOrder:
    # the lines' SKUs and products joined to the lines: 2 queries, not 4 (as the order page)
    order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.id == order_id).options(
        selectinload(CustomerOrder.lines).joinedload(CustomerOrderLine.sku)
        .joinedload(Sku.product)))
    if order is None:
        abort(404)
    return order


def _parcel_form(order: CustomerOrder, **kwargs) -> ParcelForm:
    form = ParcelForm(**kwargs)
    form.box.choices = [("", _("— enter the dimensions —"))] + [
        (b.code, f"{b.code} · {b.name} ({b.length_mm}×{b.width_mm}×{b.height_mm} mm)")
        for b in boxes.active_boxes()]
    service = order.shipping_service or _("none")
    default = (_("By the shipping rules, with the weight and box (now %(service)s)",
                 service=service) if routing.active_version() is not None
               else _("As ordered (%(service)s)", service=service))
    form.service.choices = [("", default)] + [
        (code, f"{code} · {name}") for code, name in parcels.service_options()]
    return form


def _unscan_form(**kwargs) -> ScanForm:
    form = ScanForm(prefix="unscan", **kwargs)
    form.code.label.text = _("Item to take back")
    return form


def _tote(order: CustomerOrder) -> str | None:
    row = db.session.execute(
        select(PickWave.number, PickWaveOrder.slot)
        .join(PickWaveOrder, PickWaveOrder.wave_id == PickWave.id)
        .where(PickWaveOrder.order_id == order.id).order_by(PickWave.id.desc()).limit(1)).first()
    return f"{row.number}/{row.slot}" if row else None


def _station(order: CustomerOrder | None = None, *, refusal: str | None = None,
             scan_form: ScanForm | None = None, parcel_form: ParcelForm | None = None,
             status: int = 200):
    context = {"find_form": FindOrderForm(request.args), "order": order, "refusal": refusal,
               "docs": _docs_available(), "order_machine": ORDER_STATES,
               "parcel_machine": PARCEL_STATES, "confirm": ConfirmForm(),
               "customs_forms": CUSTOMS_FORM_LABELS, "station": current_station(),
               "printing": to_print() if status == 200 else None}
    if order is not None:
        group = packing.packing_group(order)  # once for the lines and the scanned weight
        rows = packing.packing_status(order, group=group)
        order_parcels = packing.order_parcels(order)
        context.update(
            rows=rows, parcels=order_parcels, tote=_tote(order),
            blocked=packing.packing_refusal(order),
            scan_form=scan_form or ScanForm(formdata=None),
            unscan_form=_unscan_form(formdata=None),
            parcel_form=parcel_form or _parcel_form(order, formdata=None),
            scanned=sum(r["scanned"] for r in rows),
            to_scan=sum(r["to_scan"] for r in rows),
            to_label=[p for p in order_parcels if p.state == ParcelState.packed],
            expected_g=lane.scanned_weight_g(order, None, group=group),
            customs_review=pack_checks.customs_review_warning_of(r["sku"] for r in rows))
    return render_template("shipping/packing/station.html", **context), status


@bp.get("/packing")
@permission_required("shipping.work")
def packing_station():
    """The packing station: scan an order number or a tote to start."""
    text = (request.args.get("q") or "").strip()
    if not text:
        return _station()
    try:
        order = packing.find_order_for_packing(text)
    except DomainError as err:
        db.session.rollback()
        # a refused order's panel is shown too (its lines and parcels), without a scan field
        order = db.session.scalar(select(CustomerOrder).where(CustomerOrder.number == text))
        return _station(_load(order.id) if order else None, refusal=str(err), status=422)
    return redirect(url_for(".packing_order", order_id=order.id))


@bp.get("/packing/<int:order_id>")
@permission_required("shipping.work")
def packing_order(order_id: int):
    """The station with an order: its lines (ordered, picked, scanned, packed) and parcels."""
    return _station(_load(order_id))


def _refused(order: CustomerOrder, err: DomainError, **forms):
    db.session.rollback()
    return _station(_load(order.id), refusal=str(err), status=422, **forms)


@bp.post("/packing/<int:order_id>/scan")
@permission_required("shipping.work")
def packing_scan(order_id: int):
    """Scan an item into the order; a wrong, extra or unpicked item is refused loudly."""
    order = _load(order_id)
    form = ScanForm()
    if not form.validate_on_submit():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _station(order, refusal=message or _("Scan an item."), status=422)
    try:
        scan = packing.scan_item(order, form.code.data, quantity=form.quantity.data or 1,
                                 actor=current_user)
        parcel = lane.close_if_complete(  # a station closing on the last item
            order, station=current_station(), box_code=form.box.data,
            weight_g=form.weight_g.data, override=form.confirm_weight.data, actor=current_user)
    except DomainError as err:
        return _refused(order, err, scan_form=form)
    # the message is written before the commit, which expires every object: read after it,
    # the order, its lines and the scan would each be loaded again
    if parcel is not None:
        parcel_id = parcel.id
        message = _("Last item scanned: parcel %(parcel)s closed (%(weight)s g) and labelled "
                    "%(tracking)s. The label is printing.", parcel=parcel.number,
                    weight=format_number(parcel.weight_g), tracking=parcel.tracking_number)
    else:
        row = next(r for r in packing.packing_status(order)
                   if r["line"].id == scan.order_line_id)
        message = _("%(sku)s: %(done)s of %(ordered)s scanned.", sku=scan.sku.code,
                    done=row["scanned"] + row["packed"], ordered=row["ordered"])
    db.session.commit()
    if parcel is not None:
        print_next(parcel_id)
    flash(message, "success")
    return redirect(url_for(".packing_order", order_id=order_id))


@bp.post("/packing/<int:order_id>/unscan")
@permission_required("shipping.work")
def packing_unscan(order_id: int):
    """Take back a scanned item not yet in a parcel (a scanning mistake)."""
    order = _load(order_id)
    form = _unscan_form()
    if not form.validate_on_submit():
        return _station(order, refusal=_("Scan the item to take back."), status=422)
    try:
        qty = packing.unscan_item(order, form.code.data, quantity=form.quantity.data or 1,
                                  actor=current_user)
    except DomainError as err:
        return _refused(order, err)
    db.session.commit()
    flash(_("%(qty)s × %(code)s taken back; it is no longer scanned.", qty=qty,
            code=form.code.data.strip()), "success")
    return redirect(url_for(".packing_order", order_id=order_id))


@bp.post("/packing/<int:order_id>/clear")
@permission_required("shipping.work")
def packing_clear(order_id: int):
    """Drop every scan of the order not yet in a parcel (start the parcel again)."""
    order = _load(order_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    units = packing.clear_scans(order, actor=current_user)
    db.session.commit()
    flash(ngettext("%(count)s scanned unit cleared; scan the items again.",
                   "%(count)s scanned units cleared; scan the items again.", units,
                   count=format_number(units)), "success")
    return redirect(url_for(".packing_order", order_id=order_id))


@bp.post("/packing/<int:order_id>/close")
@permission_required("shipping.work")
def packing_close(order_id: int):
    """Close the scanned items into a parcel (the rest can go in the next one: a split)."""
    order = _load(order_id)
    form = _parcel_form(order)
    if not form.validate_on_submit():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _station(order, refusal=message, parcel_form=form, status=422)
    box = db.session.scalar(select(Box).where(Box.code == form.box.data)) \
        if form.box.data else None
    service = service_by_code(form.service.data) if form.service.data else None
    try:
        parcel = lane.close_checked(  # the weight checked against the expected one
            order, weight_g=form.weight_g.data, box=box, length_mm=form.length_mm.data,
            width_mm=form.width_mm.data, height_mm=form.height_mm.data, service=service,
            override=form.confirm_weight.data, station=current_station(), actor=current_user)
    except DomainError as err:
        return _refused(order, err, parcel_form=form)
    notice = getattr(parcel, "routing_notice", None)  # the shipping rules chose another service
    # written before the commit, which expires the parcel and the order (read after it, they
    # and the order's lines would be loaded again)
    names = {"parcel": parcel.number, "form": CUSTOMS_FORM_LABELS[parcel.customs_form],
             "weight": format_number(parcel.weight_g)}
    if order.state == "packed":
        message = _("Parcel %(parcel)s closed (%(form)s, %(weight)s g). The order is packed: "
                    "label it.", **names)
    else:
        message = _("Parcel %(parcel)s closed (%(form)s, %(weight)s g). Scan the items of the "
                    "next parcel.", **names)
    db.session.commit()
    if notice:
        flash(notice, "warning")
    flash(message, "success")
    return redirect(url_for(".packing_order", order_id=order_id))


@bp.post("/packing/<int:order_id>/label")
@permission_required("shipping.work")
def packing_label(order_id: int):
    """Label the order's packed parcels (draw their tracking numbers)."""
    order = _load(order_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    todo = [p for p in packing.order_parcels(order) if p.state == ParcelState.packed]
    if not todo:
        flash(_("Order %(order)s has no packed parcel waiting for a label.",
                order=order.number), "error")
        return redirect(url_for(".packing_order", order_id=order.id))
    try:
        parcels.label_parcels(todo, actor=current_user)
    except DomainError as err:
        return _refused(order, err)
    # written before the commit, which expires the parcels (read after it, each is loaded again)
    message = _("Labelled: %(list)s. Print the labels below.",
                list=_(", ").join(f"{p.number} → {p.tracking_number}" for p in todo))
    db.session.commit()
    flash(message, "success")
    return redirect(url_for(".packing_order", order_id=order_id))
