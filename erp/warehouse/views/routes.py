"""Warehouse routes: the table of which warehouses ship to each destination, and its Excel."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from erp.core import importing
from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm
from erp.core.i18n import _, _l
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, xlsx_response
from erp.extensions import db
from erp.warehouse import route_excel
from erp.warehouse.forms import RouteForm
from erp.warehouse.models import Warehouse, WarehouseRoute
from erp.warehouse.services import routes
from erp.warehouse.views import bp

ROUTE_IMPORT = importing.Importer(
    name="warehouse_routes", title=_l("Import warehouse routes"), spec=route_excel.ROUTE_SPEC,
    run=route_excel.import_routes, template_endpoint="warehouse.route_import_template",
    report_endpoint="warehouse.route_import_errors", back_endpoint="warehouse.route_list",
    intro=_l("One row per route, first match first: the sheet becomes the whole table, so "
             "routes not in it are deleted. The whole file is applied, or nothing if any row "
             "has an error."))


def _warehouses() -> list[Warehouse]:
    return list(db.session.scalars(select(Warehouse).where(Warehouse.active.is_(True))
                                   .order_by(Warehouse.id)))


def _post_form() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


@bp.get("/routes")
@permission_required("warehouse.view")
def route_list():
    """List the warehouse routes in priority order (the first matching route wins)."""
    return render_template("warehouse/route_list.html", routes=routes.list_routes(),
                           warehouses=_warehouses())


def _route_form(route: WarehouseRoute | None):
    form = RouteForm(obj=route)
    if route is not None and not form.is_submitted():
        form.warehouses.data = " ".join(w.code for w in route.warehouses)
    if form.validate_on_submit():
        values = {"country": form.country.data, "area": form.area.data,
                  "warehouses": form.warehouses.data, "note": form.note.data}
        try:
            if route is None:
                route = routes.create_route(**values, actor=current_user)
            else:
                routes.update_route(route, **values, actor=current_user)
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Route to %(country)s saved.", country=route.country), "success")
            return redirect(url_for(".route_list"))
    return render_template("warehouse/route_form.html", form=form, route=route,
                           warehouses=_warehouses())


@bp.route("/routes/new", methods=["GET", "POST"])
@permission_required("warehouse.routes")
def create_route():
    """Add a warehouse route at the end of the table."""
    return _route_form(None)


@bp.route("/routes/<int:route_id>/edit", methods=["GET", "POST"])
@permission_required("warehouse.routes")
def edit_route(route_id: int):
    """Edit a route's destination, warehouses and note."""
    return _route_form(get_or_404(WarehouseRoute, route_id))


@bp.post("/routes/<int:route_id>/delete")
@permission_required("warehouse.routes")
def delete_route(route_id: int):
    """Delete a route."""
    route = get_or_404(WarehouseRoute, route_id)
    _post_form()
    routes.delete_route(route, actor=current_user)
    db.session.commit()
    flash(_("Route deleted."), "success")
    return redirect(url_for(".route_list"))


@bp.post("/routes/<int:route_id>/move")
@permission_required("warehouse.routes")
def move_route(route_id: int):
    """Move a route to the position the form names (1 is tried first)."""
    route = get_or_404(WarehouseRoute, route_id)
    _post_form()
    position = request.form.get("position", type=int)
    if position is None:
        abort(400)
    routes.move_route(route, position=position, actor=current_user)
    db.session.commit()
    return redirect(url_for(".route_list"))


@bp.get("/routes/export.xlsx")
@permission_required("warehouse.view")
def export_routes():
    """Download the route table as an Excel workbook (importable again)."""
    return xlsx_response(route_excel.export_routes(), "warehouse-routes")


importing.add_import_routes(
    bp, ROUTE_IMPORT, rule="/routes/import", permission="warehouse.routes",
    view_name="import_routes", doc="warehouse routes workbook")
