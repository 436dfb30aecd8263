"""Warehouse and bin screens: lists, forms, Excel import/export of locations, bin labels."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.core import importing
from erp.core.errors import DomainError
from erp.core.i18n import _, _l, format_number
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, page_arg, pdf_response, xlsx_response
from erp.extensions import db
from erp.warehouse import documents, queries, services
from erp.warehouse import excel as warehouse_excel
from erp.warehouse.forms import BinForm, WarehouseForm
from erp.warehouse.labels import kind_label
from erp.warehouse.models import VIRTUAL_KINDS, Location, LocationKind, Warehouse
from erp.warehouse.views import bp

#: every warehouse template names a bin kind, move kind or reason in the reader's language
bp.add_app_template_global(kind_label, "warehouse_kind")

#: the most labels one PDF holds (100 A4 pages); more must be printed in parts
MAX_LABELS = 2400
BIN_KINDS = [k.value for k in LocationKind if k not in VIRTUAL_KINDS]

LOCATION_IMPORT = importing.Importer(
    name="locations", title=_l("Import bins"), spec=warehouse_excel.LOCATION_SPEC,
    run=warehouse_excel.import_locations, template_endpoint="warehouse.location_import_template",
    report_endpoint="warehouse.location_import_errors", back_endpoint="warehouse.warehouse_list",
    intro=_l("One row per bin. A warehouse code and bin code that exist update that bin "
             "(empty cells keep its values); a new bin code creates the bin. The whole file is "
             "applied, or nothing if any row has an error."))


_MAX_ID = 2**31  # ids are 32-bit; a bigger number in a URL matches nothing


def id_arg(name: str) -> int | None:
    """Return the query argument ``name`` as a record id, or None if absent or out of range."""
    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value < _MAX_ID else None


def location_filters(warehouse_id: int | None = None) -> queries.LocationFilters:
    """Read the bin list's search, filters, sort and ticked bins from the query string."""
    kind = request.args.get("kind") or None
    warehouse_id = warehouse_id or id_arg("warehouse")
    return queries.LocationFilters(
        warehouse_id=warehouse_id, q=(request.args.get("q") or "").strip()[:40] or None,
        kind=kind if kind in BIN_KINDS else None,
        active={"yes": True, "no": False}.get(request.args.get("active", "")),
        sort="code" if request.args.get("sort") == "code" else "sequence",
        ids=tuple(i for i in request.args.getlist("ids", type=int) if 0 < i < _MAX_ID))


# --------------------------------------------------------------------------- warehouses


@bp.get("/warehouses")
@permission_required("warehouse.view")
def warehouse_list():
    """List warehouses with their number of bins."""
    rows = db.session.execute(queries.warehouse_list_query()).all()
    return render_template("warehouse/warehouse_list.html", rows=rows)


@bp.route("/warehouses/new", methods=["GET", "POST"])
@permission_required("warehouse.manage")
def create_warehouse():
    """Create a warehouse."""
    form = WarehouseForm()
    if form.validate_on_submit():
        try:
            warehouse = services.create_warehouse(
                code=form.code.data, name=form.name.data, country=form.country.data,
                address=form.address.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Warehouse %(code)s created; now add its bins.", code=warehouse.code),
                  "success")
            return redirect(url_for(".bin_list", warehouse_id=warehouse.id))
    return render_template("warehouse/warehouse_form.html", form=form, warehouse=None)


@bp.route("/warehouses/<int:warehouse_id>/edit", methods=["GET", "POST"])
@permission_required("warehouse.manage")
def edit_warehouse(warehouse_id: int):
    """Edit a warehouse's name, address, country and active flag (not its code)."""
    warehouse = get_or_404(Warehouse, warehouse_id)
    form = WarehouseForm(obj=warehouse)
    form.code.data = warehouse.code  # shown read-only; labels and scans use it
    form.code.render_kw = {"readonly": True}
    if form.validate_on_submit():
        try:
            services.update_warehouse(warehouse, name=form.name.data, country=form.country.data,
                                      address=form.address.data, active=form.active.data,
                                      actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Warehouse %(code)s saved.", code=warehouse.code), "success")
            return redirect(url_for(".warehouse_list"))
    return render_template("warehouse/warehouse_form.html", form=form, warehouse=warehouse)


# --------------------------------------------------------------------------- bins


@bp.get("/warehouses/<int:warehouse_id>/bins")
@permission_required("warehouse.view")
def bin_list(warehouse_id: int):
    """List a warehouse's bins: search by code, filter by kind and active, walking order."""
    warehouse = get_or_404(Warehouse, warehouse_id)
    filters = location_filters(warehouse.id)
    page = db.paginate(queries.location_list_query(filters), page=page_arg(),
                       per_page=current_app.config["ERP_PAGE_SIZE"], error_out=False)
    return render_template("warehouse/bin_list.html", warehouse=warehouse, page=page,
                           filters=filters, kinds=BIN_KINDS)


@bp.route("/warehouses/<int:warehouse_id>/bins/new", methods=["GET", "POST"])
@permission_required("warehouse.manage")
def create_bin(warehouse_id: int):
    """Add a bin to a warehouse."""
    warehouse = get_or_404(Warehouse, warehouse_id)
    form = BinForm()
    if form.validate_on_submit():
        try:
            location = services.create_location(warehouse, code=form.code.data,
                                                kind=form.kind.data,
                                                pick_sequence=form.pick_sequence.data,
                                                actor=current_user)
            if not form.active.data:
                services.update_location(location, kind=location.kind,
                                         pick_sequence=location.pick_sequence, active=False,
                                         actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Bin %(bin)s created.", bin=location.label), "success")
            return redirect(url_for(".bin_list", warehouse_id=warehouse.id))
    return render_template("warehouse/bin_form.html", form=form, warehouse=warehouse, bin=None)


@bp.route("/bins/<int:location_id>/edit", methods=["GET", "POST"])
@permission_required("warehouse.manage")
def edit_bin(location_id: int):
    """Change a bin's kind, pick sequence or active flag (not its code)."""
    location = get_or_404(Location, location_id)
    if location.warehouse is None:
        flash(_("%(location)s is a virtual location; it has no settings to edit.",
                location=location.label), "error")
        return redirect(url_for(".warehouse_list"))
    form = BinForm(obj=location)
    form.code.data = location.code
    form.code.render_kw = {"readonly": True}
    if request.method == "GET":
        form.kind.data = location.kind.value
    if form.validate_on_submit():
        try:
            services.update_location(location, kind=form.kind.data,
                                     pick_sequence=form.pick_sequence.data,
                                     active=form.active.data, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Bin %(bin)s saved.", bin=location.label), "success")
            return redirect(url_for(".bin_list", warehouse_id=location.warehouse_id))
    return render_template("warehouse/bin_form.html", form=form, warehouse=location.warehouse,
                           bin=location)


@bp.get("/bins/labels.pdf")
@permission_required("warehouse.manage")
def bin_labels():
    """Print labels (A4, 3 x 8, Code 128) for the ticked bins, or for all the filtered ones."""
    filters = location_filters()
    back = url_for(".bin_list", warehouse_id=filters.warehouse_id) if filters.warehouse_id \
        else url_for(".warehouse_list")
    if request.args.get("selected") and not filters.ids:
        flash(_("Tick the bins to print labels for."), "error")
        return redirect(back)
    stmt = queries.location_list_query(filters).limit(MAX_LABELS + 1)
    locations = db.session.scalars(stmt).all()
    if len(locations) > MAX_LABELS:
        flash(_("At most %(most)s labels print at once; narrow the search or the kind.",
                most=format_number(MAX_LABELS)), "error")
        return redirect(back)
    pdf = documents.bin_labels_pdf(locations, queries.bin_barcode_values(locations))
    return pdf_response(pdf, "bin-labels")


# --------------------------------------------------------------------------- Excel


@bp.get("/bins/export.xlsx")
@permission_required("warehouse.view")
def export_locations():
    """Download the bins matching the list's filters (all warehouses without one; importable)."""
    filters = location_filters()
    name = "bins"
    if filters.warehouse_id:
        code = db.session.scalar(select(Warehouse.code).where(
            Warehouse.id == filters.warehouse_id))
        name = f"bins-{(code or 'none').lower()}"
    return xlsx_response(warehouse_excel.export_locations(filters), name)


importing.add_import_routes(
    bp, LOCATION_IMPORT, rule="/bins/import", permission="warehouse.manage",
    view_name="import_locations", doc="bins workbook")
