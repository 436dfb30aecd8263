"""Shipping screens: carriers and services (limits, zones, rates, tracking ranges), boxes."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.core import importing
from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm
from erp.core.i18n import _, _l, format_number, ngettext
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, save_form, xlsx_response
from erp.extensions import db
from erp.shipping import excel as shipping_excel
from erp.shipping.carrier_forms import (
    BoxForm,
    CarrierForm,
    RangeForm,
    RateForm,
    ServiceForm,
    ServiceGoodsForm,
    ZonesForm,
)
from erp.shipping.models import (
    CARRIER_KIND_LABELS,
    CELL_ATTRIBUTES,
    CUSTOMS_DOCS_LABELS,
    GOODS_ATTRIBUTE_LABELS,
    TRACKING_KIND_LABELS,
    Box,
    Carrier,
    GoodsAttribute,
    ServiceRate,
    ShippingService,
    TrackingRange,
)
from erp.shipping.services import boxes, carriers, goods, service_warehouses, tracking
from erp.shipping.views import bp
from erp.warehouse.models import Warehouse

RATE_IMPORT = importing.Importer(
    name="shipping-rates", title=_l("Import shipping rates"), spec=shipping_excel.RATE_SPEC,
    run=shipping_excel.import_rates, template_endpoint="shipping.rate_template",
    report_endpoint="shipping.rate_import_errors", back_endpoint="shipping.carrier_list",
    intro=_l("One row per service code, zone and weight band (the largest chargeable weight in "
             "grams the price covers). A band the service has is updated, a new one added; "
             "bands not in the file are kept. Import the zones (countries per zone) first. The "
             "whole file is applied, or nothing if any row has an error."))
ZONE_IMPORT = importing.Importer(
    name="shipping-zones", title=_l("Import shipping zones"), spec=shipping_excel.ZONE_SPEC,
    run=shipping_excel.import_zones, template_endpoint="shipping.zone_template",
    report_endpoint="shipping.zone_import_errors", back_endpoint="shipping.carrier_list",
    intro=_l("One row per service code and destination country with its rate zone. A country "
             "the service serves is moved to the zone given, a new one added; countries not in "
             "the file are kept. The whole file is applied, or nothing if any row has an "
             "error."))


def _post_form():
    """Refuse a POST button whose form (CSRF token) does not validate."""
    if not ConfirmForm().validate_on_submit():
        abort(400)


# --------------------------------------------------------------------------- carriers


@bp.get("/carriers")
@permission_required("shipping.view")
def carrier_list():
    """List carriers with their services, and the tracking ranges running low."""
    rows = db.session.scalars(select(Carrier).order_by(Carrier.active.desc(),
                                                       Carrier.code)).all()
    ranges = db.session.scalars(select(TrackingRange).where(TrackingRange.active.is_(True))).all()
    remaining: dict[int, int] = {}
    for rng in ranges:
        remaining[rng.service_id] = remaining.get(rng.service_id, 0) + rng.remaining
    return render_template("shipping/carriers/list.html", carriers=rows, remaining=remaining,
                           low=tracking.ranges_running_low(), kinds=CARRIER_KIND_LABELS,
                           tracking_kinds=TRACKING_KIND_LABELS, customs_docs=CUSTOMS_DOCS_LABELS)


def _carrier_form(carrier: Carrier | None):
    return save_form(
        CarrierForm(obj=carrier), carrier,
        create=lambda **v: carriers.create_carrier(actor=current_user, **v),
        update=lambda c, **v: carriers.update_carrier(c, actor=current_user, **v),
        # the service names the carrier after saving: core fills in {obj.code}
        saved=_("Carrier %(code)s saved.", code="{obj.code}"), next_url=url_for(".carrier_list"),
        template="shipping/carriers/carrier_form.html", carrier=carrier,
        token_hint=carriers.mask_token(carrier.api_token) if carrier else "")


@bp.route("/carriers/new", methods=["GET", "POST"])
@permission_required("shipping.manage")
def create_carrier():
    """Create a carrier."""
    return _carrier_form(None)


@bp.route("/carriers/<int:carrier_id>/edit", methods=["GET", "POST"])
@permission_required("shipping.manage")
def edit_carrier(carrier_id: int):
    """Edit a carrier's code, name, kind, account number or status."""
    return _carrier_form(get_or_404(Carrier, carrier_id))


# --------------------------------------------------------------------------- services


def _service_form(carrier: Carrier, service: ShippingService | None):
    form = ServiceForm(obj=service)
    if service is not None and request.method == "GET":
        form.tracking_kind.data = service.tracking_kind.value
        form.customs_docs.data = service.customs_docs.value
    if form.validate_on_submit():
        values = form.values()
        try:
            if service is None:
                values.pop("active", None)
                service = carriers.create_service(carrier, actor=current_user, **values)
            else:
                carriers.update_service(service, actor=current_user, **values)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Service %(code)s saved.", code=service.code), "success")
            return redirect(url_for(".service_detail", service_id=service.id))
    return render_template("shipping/carriers/service_form.html", form=form, carrier=carrier,
                           service=service)


@bp.route("/carriers/<int:carrier_id>/services/new", methods=["GET", "POST"])
@permission_required("shipping.manage")
def create_service(carrier_id: int):
    """Add a service to a carrier."""
    return _service_form(get_or_404(Carrier, carrier_id), None)


@bp.route("/services/<int:service_id>/edit", methods=["GET", "POST"])
@permission_required("shipping.manage")
def edit_service(service_id: int):
    """Edit a service's code, name, documents, limits, cut-off or status."""
    service = get_or_404(ShippingService, service_id)
    return _service_form(service.carrier, service)


def _goods_form(formdata=None) -> ServiceGoodsForm:
    form = ServiceGoodsForm(formdata=formdata) if formdata is not None \
        else ServiceGoodsForm(formdata=None)
    form.warehouses.choices = [(w.id, f"{w.code} · {w.name}") for w in db.session.scalars(
        select(Warehouse).order_by(Warehouse.code))]
    return form


def _service_page(service: ShippingService, *, zones_form=None, rate_form=None, range_form=None,
                  goods_form=None, status: int = 200):
    ranges = tracking.service_ranges(service)
    if goods_form is None:
        goods_form = _goods_form()
        goods_form.warehouses.data = [w.id for w in service.warehouses]
        limits = {g.attribute.value if hasattr(g.attribute, "value") else str(g.attribute):
                  g.max_per_parcel for g in service.goods_limits}
        for attribute in GoodsAttribute:
            if attribute.value in limits:
                getattr(goods_form, f"limit_{attribute.value}").data = \
                    str(limits[attribute.value])
    low = {r.id for r in tracking.ranges_running_low() if r.service_id == service.id}
    if zones_form is None:
        zones_form = ZonesForm(formdata=None)
        zones_form.zones.data = "\n".join(f"{z.country} {z.zone}" for z in service.zones)
    if range_form is None:
        range_form = RangeForm(formdata=None)
        if ranges:
            range_form.prefix.data, range_form.suffix.data = ranges[-1].prefix, ranges[-1].suffix
            range_form.width.data = "" if service.tracking_kind == "s10" else ranges[-1].width
    return render_template(
        "shipping/carriers/service_detail.html", service=service, ranges=ranges, low=low,
        remaining=sum(r.remaining for r in ranges if r.active),
        zones_form=zones_form, rate_form=rate_form or RateForm(formdata=None),
        range_form=range_form, kinds=CARRIER_KIND_LABELS, tracking_kinds=TRACKING_KIND_LABELS,
        customs_docs=CUSTOMS_DOCS_LABELS, goods_form=goods_form,
        goods_attributes=list(GoodsAttribute), goods_labels=GOODS_ATTRIBUTE_LABELS,
        cell_attributes=CELL_ATTRIBUTES), status


@bp.get("/services/<int:service_id>")
@permission_required("shipping.view")
def service_detail(service_id: int):
    """Show a service: limits, countries and zones, rate table and tracking ranges."""
    return _service_page(get_or_404(ShippingService, service_id))


@bp.post("/services/<int:service_id>/zones")
@permission_required("shipping.manage")
def set_service_zones(service_id: int):
    """Replace the countries a service serves (one "country zone" per line)."""
    service = get_or_404(ShippingService, service_id)
    form = ZonesForm()
    if form.validate_on_submit():
        try:
            carriers.set_zones(service, carriers.parse_zone_lines(form.zones.data),
                               actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Countries of %(code)s saved.", code=service.code), "success")
            return redirect(url_for(".service_detail", service_id=service.id))
    return _service_page(service, zones_form=form, status=422)


@bp.post("/services/<int:service_id>/goods")
@permission_required("shipping.manage")
def set_service_goods(service_id: int):
    """Set the warehouses a service ships from and the goods attributes it accepts."""
    service = get_or_404(ShippingService, service_id)
    form = _goods_form(request.form)
    if form.validate_on_submit():
        try:
            service_warehouses.set_service_warehouses(service, form.warehouses.data or [],
                                                      actor=current_user)
            goods.set_goods_limits(service, form.limits(), actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Warehouses and goods of %(code)s saved.", code=service.code), "success")
            return redirect(url_for(".service_detail", service_id=service.id))
    return _service_page(service, goods_form=form, status=422)


@bp.post("/services/<int:service_id>/rates")
@permission_required("shipping.manage")
def add_rate(service_id: int):
    """Add a rate band to a service, or change the price of the band it has."""
    service = get_or_404(ShippingService, service_id)
    form = RateForm()
    if form.validate_on_submit():
        try:
            carriers.set_rate(service, zone=form.zone.data, max_weight_g=form.max_weight_g.data,
                              price=form.price.data, currency=form.currency.data,
                              actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Rate of %(code)s saved.", code=service.code), "success")
            return redirect(url_for(".service_detail", service_id=service.id))
    return _service_page(service, rate_form=form, status=422)


@bp.post("/rates/<int:rate_id>/delete")
@permission_required("shipping.manage")
def remove_rate(rate_id: int):
    """Remove a rate band."""
    rate = get_or_404(ServiceRate, rate_id)
    service_id = rate.service_id
    _post_form()
    carriers.remove_rate(rate, actor=current_user)
    db.session.commit()
    flash(_("Rate band removed."), "success")
    return redirect(url_for(".service_detail", service_id=service_id))


@bp.post("/services/<int:service_id>/ranges")
@permission_required("shipping.manage")
def add_tracking_range(service_id: int):
    """Load a range of tracking numbers the carrier allocated."""
    service = get_or_404(ShippingService, service_id)
    form = RangeForm()
    if form.validate_on_submit():
        try:
            rng = tracking.add_range(
                service, prefix=form.prefix.data, first_serial=form.first_serial.data,
                last_serial=form.last_serial.data, suffix=form.suffix.data,
                width=form.width.data or None, warn_below=form.warn_below.data,
                actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(ngettext("%(count)s tracking number loaded for %(code)s.",
                           "%(count)s tracking numbers loaded for %(code)s.", rng.remaining,
                           count=format_number(rng.remaining), code=service.code), "success")
            return redirect(url_for(".service_detail", service_id=service.id))
    return _service_page(service, range_form=form, status=422)


@bp.post("/ranges/<int:range_id>/active")
@permission_required("shipping.manage")
def toggle_range_active(range_id: int):
    """Stop drawing from a tracking range, or draw from it again."""
    rng = get_or_404(TrackingRange, range_id)
    _post_form()
    tracking.set_range_active(rng, not rng.active, actor=current_user)
    db.session.commit()
    flash(_("Range reactivated.") if rng.active else _("Range deactivated."), "success")
    return redirect(url_for(".service_detail", service_id=rng.service_id))


# ---------------------------------------------------------------- rates and zones (Excel)


@bp.get("/rates/export.xlsx")
@permission_required("shipping.view")
def export_rates():
    """Download the rate tables (one service's with ``service``) as a workbook."""
    service_id = request.args.get("service", type=int)
    return xlsx_response(shipping_excel.export_rates(service_id), "shipping-rates")


@bp.get("/zones/export.xlsx")
@permission_required("shipping.view")
def export_zones():
    """Download the countries and zones (one service's with ``service``) as a workbook."""
    service_id = request.args.get("service", type=int)
    return xlsx_response(shipping_excel.export_zones(service_id), "shipping-zones")


importing.add_import_routes(bp, RATE_IMPORT, rule="/rates/import", permission="shipping.manage",
                            view_name="import_rates", doc="shipping rates workbook")
importing.add_import_routes(bp, ZONE_IMPORT, rule="/zones/import", permission="shipping.manage",
                            view_name="import_zones", doc="shipping zones workbook")


# --------------------------------------------------------------------------- boxes


@bp.get("/boxes")
@permission_required("shipping.view")
def box_list():
    """List the box sizes the packing station offers."""
    rows = db.session.scalars(select(Box).order_by(Box.active.desc(), Box.code)).all()
    return render_template("shipping/carriers/box_list.html", boxes=rows)


def _box_form(box: Box | None):
    return save_form(
        BoxForm(obj=box), box,
        create=lambda **v: boxes.create_box(actor=current_user, **v),
        update=lambda b, **v: boxes.update_box(b, actor=current_user, **v),
        saved=_("Box %(code)s saved.", code="{obj.code}"), next_url=url_for(".box_list"),
        template="shipping/carriers/box_form.html", box=box)


@bp.route("/boxes/new", methods=["GET", "POST"])
@permission_required("shipping.manage")
def create_box():
    """Add a box size."""
    return _box_form(None)


@bp.route("/boxes/<int:box_id>/edit", methods=["GET", "POST"])
@permission_required("shipping.manage")
def edit_box(box_id: int):
    """Edit a box size (parcels packed keep their own dimensions)."""
    return _box_form(get_or_404(Box, box_id))
