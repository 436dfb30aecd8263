"""Packing stations and the single-item lane.

The packer chooses a station (kept in the session). At a single-item wave's lane the packer
scans items only: each scan packs and labels the wave's oldest waiting order for that SKU, and
the page opens the label to print. The scan form carries a one-time key, so a scanner's repeat
of a scan is answered without packing a second order.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number
from erp.core.permissions import has_permission, permission_required
from erp.core.viewhelpers import form_errors, get_or_404, pdf_response
from erp.extensions import db
from erp.shipping.documents.labels import label_pdf, load_parcels
from erp.shipping.models import (
    WAVE_KIND_LABELS,
    WAVE_STATES,
    PackingStation,
    Parcel,
    PickWave,
    PickWaveOrder,
    SkuPacking,
    WaveKind,
)
from erp.shipping.services import boxes, lane
from erp.shipping.views import bp
from erp.warehouse.models import Warehouse
from erp.warehouse.services import find_sku

#: the session keys of the packer's station and of the parcel whose label to print next
STATION_KEY = "packing_station_id"
PRINT_KEY = "packing_print_parcel"


def current_station() -> PackingStation | None:
    """Return the station the packer chose (kept in the session), or None."""
    ident = session.get(STATION_KEY)
    station = db.session.get(PackingStation, ident) if isinstance(ident, int) else None
    return station if station is not None and station.active else None


def print_next(parcel: Parcel | int) -> None:
    """Have the next page the packer sees open the parcel's label for printing (or its id's)."""
    session[PRINT_KEY] = parcel if isinstance(parcel, int) else parcel.id


def to_print() -> Parcel | None:
    """Return (once) the parcel whose label the page should open for printing."""
    ident = session.pop(PRINT_KEY, None)
    return db.session.get(Parcel, ident) if isinstance(ident, int) else None


class LaneScanForm(FlaskForm):
    """Scan an item at the lane; the scale's weight is optional."""

    code = StringField(_l("Scan item"), validators=[DataRequired(message=_l("Scan an item.")),
                                                    Length(max=64)])
    weight_g = IntegerField(_l("Weighed (g)"), validators=[Optional(),
                                                           NumberRange(min=1, max=1_000_000)])
    confirm_weight = BooleanField(_l("The weight is right: pack despite the difference"))


class ChooseStationForm(FlaskForm):
    """Choose the station the packer works at."""

    station = SelectField(_l("Packing station"), coerce=int)


class StationForm(FlaskForm):
    """A new packing station."""

    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    warehouse = SelectField(_l("Warehouse"), coerce=int)
    close_on_last_item = BooleanField(_l("Close the parcel and print the label at the scan of "
                                         "the last item"))


class SkuBoxForm(FlaskForm):
    """A SKU's default box for the single-item lane."""

    sku = StringField(_l("SKU code or barcode"), validators=[DataRequired(), Length(max=64)])
    box = StringField(_l("Box code"), validators=[DataRequired(), Length(max=20)])
    packed_weight_g = IntegerField(_l("Packed weight (g)"), validators=[
        Optional(), NumberRange(min=1, max=1_000_000)])


class ConfirmForm(FlaskForm):
    """Only the CSRF token."""


def _stations_page(status: int = 200, **forms):
    manage = has_permission(current_user, "shipping.manage")
    stations = list(db.session.scalars(select(PackingStation).order_by(PackingStation.code)
                                       .options(selectinload(PackingStation.warehouse))))
    choose = forms.get("choose") or ChooseStationForm(formdata=None)
    choose.station.choices = [(s.id, f"{s.code} · {s.name}") for s in stations if s.active]
    station_form = forms.get("station_form") or StationForm(formdata=None)
    station_form.warehouse.choices = [(w.id, f"{w.code} · {w.name}") for w in db.session.scalars(
        select(Warehouse).order_by(Warehouse.code))]
    defaults = list(db.session.scalars(select(SkuPacking).options(
        selectinload(SkuPacking.sku), selectinload(SkuPacking.box)).order_by(SkuPacking.sku_id)
        .limit(500)))
    waves = list(db.session.scalars(select(PickWave).where(
        PickWave.kind == WaveKind.single_item, PickWave.state != "done")
        .order_by(PickWave.id.desc()).limit(20)))
    return render_template(
        "shipping/packing/stations.html", stations=stations, current=current_station(),
        choose=choose, station_form=station_form, manage=manage, defaults=defaults,
        sku_box_form=forms.get("sku_box_form") or SkuBoxForm(formdata=None),
        confirm=ConfirmForm(), lane_waves=waves, wave_machine=WAVE_STATES), status


def _station_choices(form: ChooseStationForm) -> None:
    form.station.choices = [(s.id, s.code) for s in lane.active_stations()]


@bp.get("/packing/stations")
@permission_required("shipping.work")
def packing_stations():
    """Choose a packing station; the stations, default boxes and single-item waves."""
    return _stations_page()


@bp.post("/packing/stations/choose")
@permission_required("shipping.work")
def packing_station_choose():
    """Work at the chosen station (kept in the session)."""
    form = ChooseStationForm()
    _station_choices(form)
    if not form.validate_on_submit():
        return _stations_page(422, choose=form)
    station = db.session.get(PackingStation, form.station.data)
    session[STATION_KEY] = station.id
    flash(_("You are packing at station %(station)s.", station=station.code), "success")
    return redirect(request.args.get("next") or url_for(".packing_station"))


@bp.post("/packing/stations/new")
@permission_required("shipping.manage")
def packing_station_new():
    """Create a packing station."""
    form = StationForm()
    form.warehouse.choices = [(w.id, w.code) for w in db.session.scalars(select(Warehouse))]
    if not form.validate_on_submit():
        return _stations_page(422, station_form=form)
    try:
        station = lane.create_station(code=form.code.data, name=form.name.data,
                                      warehouse=db.session.get(Warehouse, form.warehouse.data),
                                      close_on_last_item=form.close_on_last_item.data,
                                      actor=current_user)
    except DomainError as err:
        db.session.rollback()
        form_errors(form, err)
        return _stations_page(422, station_form=form)
    db.session.commit()
    flash(_("Packing station %(station)s created.", station=station.code), "success")
    return redirect(url_for(".packing_stations"))


@bp.post("/packing/stations/<int:station_id>/close-on-last-item")
@permission_required("shipping.manage")
def packing_station_toggle(station_id: int):
    """Turn the station's "close on the last item" setting on or off (the value posted).

    The form posts the value to set rather than "change it", so a repeat sets the same.
    """
    station = get_or_404(PackingStation, station_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for(".packing_stations"))
    lane.set_close_on_last_item(station, request.form.get("close_on_last_item") == "1",
                                actor=current_user)
    db.session.commit()
    if station.close_on_last_item:
        flash(_("Station %(station)s closes the parcel at the scan of the last item.",
                station=station.code), "success")
    else:
        flash(_("Station %(station)s leaves closing the parcel to the packer.",
                station=station.code), "success")
    return redirect(url_for(".packing_stations"))


@bp.post("/packing/default-boxes")
@permission_required("shipping.manage")
def packing_default_box():
    """Set the box a SKU packs alone in at the single-item lane."""
    form = SkuBoxForm()
    if not form.validate_on_submit():
        return _stations_page(422, sku_box_form=form)
    try:
        sku = find_sku(form.sku.data, field="sku")
        box = boxes.box_by_code(form.box.data)
        if box is None:
            form.box.errors = [_('No box has the code "%(code)s".', code=form.box.data.strip())]
            return _stations_page(422, sku_box_form=form)
        lane.set_sku_packing(sku, box, packed_weight_g=form.packed_weight_g.data,
                             actor=current_user)
    except DomainError as err:
        db.session.rollback()
        form_errors(form, err)
        return _stations_page(422, sku_box_form=form)
    db.session.commit()
    flash(_("SKU %(sku)s packs alone in box %(box)s.", sku=sku.code, box=box.code), "success")
    return redirect(url_for(".packing_stations"))


# --------------------------------------------------------------------------- the lane


def _lane_page(wave: PickWave, *, form: LaneScanForm | None = None, refusal: str | None = None,
               status: int = 200):
    printing = to_print() if status == 200 else None
    last = list(db.session.scalars(
        select(Parcel).join(PickWaveOrder, PickWaveOrder.order_id == Parcel.order_id)
        .where(PickWaveOrder.wave_id == wave.id).order_by(Parcel.id.desc()).limit(5)
        .options(selectinload(Parcel.order))))
    return render_template(
        "shipping/packing/lane.html", wave=wave, form=form or LaneScanForm(formdata=None),
        refusal=refusal, waiting=lane.lane_waiting(wave), printing=printing, last=last,
        station=current_station(), kinds=WAVE_KIND_LABELS, machine=WAVE_STATES), status


@bp.get("/packing/parcels/<int:parcel_id>/label.pdf")
@permission_required("shipping.view")
def packing_label_frame(parcel_id: int):
    """A parcel's label, which the lane and the bench show in a frame to print it at once."""
    parcel = get_or_404(Parcel, parcel_id)
    response = pdf_response(label_pdf(load_parcels([parcel.id])),
                            f"label-{parcel.tracking_number or parcel.number}")
    # the lane page (same origin) frames it; every other page keeps refusing frames
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
    return response


@bp.get("/waves/<int:wave_id>/lane")
@permission_required("shipping.work")
def wave_lane(wave_id: int):
    """The single-item lane of a wave: scan an item, its order's label prints."""
    return _lane_page(get_or_404(PickWave, wave_id))


@bp.post("/waves/<int:wave_id>/lane")
@permission_required("shipping.work")
def wave_lane_scan(wave_id: int):
    """Pack and label the oldest waiting order of the wave for the scanned item."""
    wave = get_or_404(PickWave, wave_id)
    form = LaneScanForm()
    if not form.validate_on_submit():
        message = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _lane_page(wave, form=form, refusal=message or _("Scan an item."), status=422)
    try:
        parcel = lane.lane_scan(wave, form.code.data, weight_g=form.weight_g.data,
                                override=form.confirm_weight.data, station=current_station(),
                                actor=current_user)
    except DomainError as err:
        db.session.rollback()
        wave = get_or_404(PickWave, wave_id)
        form.confirm_weight.data = False
        return _lane_page(wave, form=form, refusal=str(err), status=422)
    notice = getattr(parcel, "routing_notice", None)  # the rules chose another service
    db.session.commit()
    print_next(parcel)
    if notice:
        flash(notice, "warning")
    flash(_("%(sku)s: order %(order)s packed in parcel %(parcel)s, %(weight)s g, tracking "
            "%(tracking)s. The label is printing.", sku=form.code.data.strip(),
            order=parcel.order.number, parcel=parcel.number,
            weight=format_number(parcel.weight_g), tracking=parcel.tracking_number), "success")
    return redirect(url_for(".wave_lane", wave_id=wave.id))


__all__ = ["current_station", "print_next", "to_print"]
