"""Supplier screens: the supplier list and detail, price lists (items, Excel), performance."""

from __future__ import annotations

from datetime import date, timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from erp.core import importing
from erp.core.errors import DomainError
from erp.core.forms import ConfirmForm
from erp.core.i18n import _, _l
from erp.core.models import utcnow
from erp.core.permissions import permission_required
from erp.core.viewhelpers import form_errors, get_or_404, page_arg, xlsx_response
from erp.extensions import db
from erp.procurement import excel as procurement_excel
from erp.procurement import return_queries, services
from erp.procurement import supplier_queries as queries
from erp.procurement.models import PURCHASE_ORDER_STATES, Supplier, SupplierItem
from erp.procurement.supplier_forms import DateRangeForm, SupplierForm, SupplierItemForm
from erp.procurement.views import bp
from erp.warehouse.services import find_sku

#: the performance range when none is asked for: the last 90 days (a year on a supplier's page)
DEFAULT_PERFORMANCE_DAYS = 90
DEFAULT_DETAIL_DAYS = 365
RECENT_ORDERS = 10

PRICE_IMPORT = importing.Importer(
    name="supplier-prices", title=_l("Import supplier prices"),
    spec=procurement_excel.SUPPLIER_PRICE_SPEC, run=procurement_excel.import_supplier_prices,
    template_endpoint="procurement.supplier_price_template",
    report_endpoint="procurement.supplier_price_import_errors",
    back_endpoint="procurement.supplier_list",
    intro=_l("One row per supplier and SKU. A pair the price list already has updates that "
             "item; a new pair adds the SKU to the supplier's price list. The whole file is "
             "applied, or nothing if any row has an error."))


def _post_form():
    """Refuse a POST button whose form (CSRF token) does not validate."""
    if not ConfirmForm().validate_on_submit():
        abort(400)


def supplier_filters() -> queries.SupplierFilters:
    """Read the supplier list's search and filters from the query string."""
    return queries.SupplierFilters(
        q=(request.args.get("q") or "").strip()[:100] or None,
        country=(request.args.get("country") or "").strip().upper()[:2] or None,
        active={"yes": True, "no": False}.get(request.args.get("active", "")))


def date_range(days: int) -> tuple[DateRangeForm, date, date]:
    """Read a performance date range; by default the last ``days`` days up to today."""
    form = DateRangeForm(request.args)
    form.validate()
    today = utcnow().date()
    date_to = form.date_to.data if form.date_to.data and not form.date_to.errors else today
    date_from = (form.date_from.data if form.date_from.data and not form.date_from.errors
                 else date_to - timedelta(days=days - 1))
    if date_from > date_to:
        form.date_from.errors = [*form.date_from.errors, _("must be on or before the end date")]
        date_from, date_to = today - timedelta(days=days - 1), today
    return form, date_from, date_to


# --------------------------------------------------------------------------- suppliers


@bp.get("/suppliers")
@permission_required("procurement.view")
def supplier_list():
    """List suppliers: search code, name or contact; filter by country and status."""
    filters = supplier_filters()
    page = db.paginate(queries.supplier_list_query(filters), page=page_arg(),
                       per_page=current_app.config["ERP_PAGE_SIZE"], error_out=False)
    return render_template("procurement/supplier_list.html", page=page, filters=filters,
                           countries=queries.supplier_countries(),
                           item_counts=queries.supplier_item_counts([s.id for s in page.items]))


@bp.get("/suppliers/export.xlsx")
@permission_required("procurement.view")
def export_suppliers():
    """Download the filtered supplier list as an Excel workbook."""
    return xlsx_response(procurement_excel.export_suppliers(supplier_filters()), "suppliers")


@bp.route("/suppliers/new", methods=["GET", "POST"])
@permission_required("procurement.edit")
def create_supplier():
    """Create a supplier."""
    form = SupplierForm()
    if form.validate_on_submit():
        try:
            supplier = services.create_supplier(actor=current_user, **form.supplier_values())
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Supplier %(code)s created.", code=supplier.code), "success")
            return redirect(url_for(".supplier_detail", supplier_id=supplier.id))
    return render_template("procurement/supplier_form.html", form=form, supplier=None)


def _supplier_page(supplier: Supplier, item_form: SupplierItemForm | None = None):
    form, date_from, date_to = date_range(DEFAULT_DETAIL_DAYS)
    return render_template(
        "procurement/supplier_detail.html", supplier=supplier,
        items=db.session.scalars(queries.supplier_items_query(supplier.id)).all(),
        item_form=item_form or SupplierItemForm(formdata=None),
        performance=queries.supplier_performance_of(supplier, date_from, date_to),
        range_form=form, date_from=date_from, date_to=date_to,
        orders=queries.recent_purchase_orders(supplier.id, RECENT_ORDERS),
        po_states=PURCHASE_ORDER_STATES,
        account=return_queries.supplier_account(supplier, utcnow().date()))


@bp.get("/suppliers/<int:supplier_id>")
@permission_required("procurement.view")
def supplier_detail(supplier_id: int):
    """Show a supplier: contact data, price list, performance and recent purchase orders."""
    return _supplier_page(get_or_404(Supplier, supplier_id))


@bp.route("/suppliers/<int:supplier_id>/edit", methods=["GET", "POST"])
@permission_required("procurement.edit")
def edit_supplier(supplier_id: int):
    """Edit a supplier's code, name, contact data, terms and lead time."""
    supplier = get_or_404(Supplier, supplier_id)
    form = SupplierForm(obj=supplier)
    if form.validate_on_submit():
        try:
            services.update_supplier(supplier, actor=current_user, **form.supplier_values())
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("Supplier %(code)s saved.", code=supplier.code), "success")
            return redirect(url_for(".supplier_detail", supplier_id=supplier.id))
    return render_template("procurement/supplier_form.html", form=form, supplier=supplier)


@bp.post("/suppliers/<int:supplier_id>/active")
@permission_required("procurement.edit")
def toggle_supplier_active(supplier_id: int):
    """Deactivate an active supplier or reactivate an inactive one."""
    supplier = get_or_404(Supplier, supplier_id)
    _post_form()
    services.set_supplier_active(supplier, not supplier.active, actor=current_user)
    db.session.commit()
    if supplier.active:
        flash(_("Supplier %(code)s reactivated.", code=supplier.code), "success")
    else:
        flash(_("Supplier %(code)s deactivated.", code=supplier.code), "success")
    return redirect(url_for(".supplier_detail", supplier_id=supplier.id))


# --------------------------------------------------------------------------- supplier items


@bp.post("/suppliers/<int:supplier_id>/items")
@permission_required("procurement.edit")
def add_supplier_item(supplier_id: int):
    """Add a SKU to the supplier's price list (or update its item if it is listed)."""
    supplier = get_or_404(Supplier, supplier_id)
    form = SupplierItemForm()
    if form.validate_on_submit():
        try:
            item = services.set_supplier_item(supplier, find_sku(form.sku.data),
                                              actor=current_user, **form.item_values())
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("%(sku)s saved in the price list of %(supplier)s.", sku=item.sku.code,
                    supplier=supplier.code), "success")
            return redirect(url_for(".supplier_detail", supplier_id=supplier.id))
    return _supplier_page(supplier, item_form=form), 422


@bp.route("/supplier-items/<int:item_id>/edit", methods=["GET", "POST"])
@permission_required("procurement.edit")
def edit_supplier_item(item_id: int):
    """Change a supplier item's code, price, currency, MOQ, pack, lead time or preference."""
    item = get_or_404(SupplierItem, item_id)
    form = SupplierItemForm(obj=item)
    form.sku.render_kw = {"readonly": True}
    if request.method == "GET":
        form.sku.data = item.sku.code  # the item's attribute is the Sku itself
    if form.validate_on_submit():
        try:
            services.set_supplier_item(item.supplier, item.sku, actor=current_user,
                                       **form.item_values())
        except DomainError as err:
            db.session.rollback()
            form_errors(form, err)
        else:
            db.session.commit()
            flash(_("%(sku)s saved in the price list of %(supplier)s.", sku=item.sku.code,
                    supplier=item.supplier.code), "success")
            return redirect(url_for(".supplier_detail", supplier_id=item.supplier_id))
    return render_template("procurement/supplier_item_form.html", form=form, item=item)


@bp.post("/supplier-items/<int:item_id>/delete")
@permission_required("procurement.edit")
def remove_supplier_item(item_id: int):
    """Remove a SKU from a supplier's price list."""
    item = get_or_404(SupplierItem, item_id)
    supplier_id, sku_code, supplier_code = item.supplier_id, item.sku.code, item.supplier.code
    _post_form()
    services.remove_supplier_item(item, actor=current_user)
    db.session.commit()
    flash(_("%(sku)s removed from the price list of %(supplier)s.", sku=sku_code,
            supplier=supplier_code), "success")
    return redirect(url_for(".supplier_detail", supplier_id=supplier_id))


# --------------------------------------------------------------------------- price lists (Excel)


@bp.get("/suppliers/prices/export.xlsx")
@permission_required("procurement.view")
def export_supplier_prices():
    """Download price lists (one supplier's with ``supplier``) as a workbook that imports again."""
    supplier_id = request.args.get("supplier", type=int)
    filters = queries.PriceListFilters(
        supplier_id=supplier_id if supplier_id and supplier_id > 0 else None,
        q=(request.args.get("q") or "").strip()[:100] or None,
        active={"yes": True, "no": False}.get(request.args.get("active", "")))
    return xlsx_response(procurement_excel.export_supplier_prices(filters), "supplier-prices")


importing.add_import_routes(
    bp, PRICE_IMPORT, rule="/suppliers/prices/import", permission="procurement.edit",
    view_name="import_supplier_prices", doc="price-list workbook")


# --------------------------------------------------------------------------- performance


@bp.get("/suppliers/performance")
@permission_required("procurement.view")
def supplier_performance():
    """Compare suppliers over a date range: on-time rate, lead time seen, fill rate."""
    form, date_from, date_to = date_range(DEFAULT_PERFORMANCE_DAYS)
    return render_template("procurement/supplier_performance.html", form=form,
                           rows=queries.supplier_performance(date_from, date_to),
                           date_from=date_from, date_to=date_to)


@bp.get("/suppliers/performance/export.xlsx")
@permission_required("procurement.view")
def export_supplier_performance():
    """Download supplier performance over the date range as an Excel workbook."""
    _, date_from, date_to = date_range(DEFAULT_PERFORMANCE_DAYS)
    return xlsx_response(procurement_excel.export_supplier_performance(
        queries.supplier_performance(date_from, date_to)),
        f"supplier-performance-{date_from.isoformat()}-{date_to.isoformat()}")
